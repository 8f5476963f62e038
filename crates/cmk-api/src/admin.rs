//! The admin API of the deployment (`/cmk/admin/...`): tenants, subscriptions, principals, audit, the clock.
