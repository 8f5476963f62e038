//! The key vault resource of ARM (`Microsoft.KeyVault/vaults`): the resource, its properties and access policies.
