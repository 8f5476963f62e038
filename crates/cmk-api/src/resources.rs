//! Subscriptions, tenants and resource groups of ARM.
