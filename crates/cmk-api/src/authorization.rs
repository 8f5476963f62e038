//! Azure RBAC (`Microsoft.Authorization`): role definitions, role assignments and permissions.
