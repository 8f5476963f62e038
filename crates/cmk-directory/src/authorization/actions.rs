//! Actions: the names Azure gives operations (`Microsoft.KeyVault/vaults/write`), and the patterns roles grant
//! them with (`Microsoft.KeyVault/*`, `*/read`).
//!
//! Each domain names its own operations (the vault service its `Microsoft.KeyVault` actions, the account
//! service its `Microsoft.CognitiveServices` ones); this module holds the matching rule and the actions of the
//! resource hierarchy and of authorization itself.

/// Whether `pattern` grants `action`, as Azure matches them: without regard to case, with `*` standing for any
/// run of characters (`/` included), so `*/read` grants every read and `Microsoft.KeyVault/*` everything of
/// that provider.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let pattern = pattern.as_bytes();
    let action = action.as_bytes();
    // Classic wildcard matching with backtracking to the last `*`: linear in practice for these short names.
    let (mut p, mut a) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while a < action.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, a));
                p += 1;
            }
            Some(c) if c.eq_ignore_ascii_case(&action[a]) => {
                p += 1;
                a += 1;
            }
            _ => match star {
                Some((star_p, star_a)) => {
                    p = star_p + 1;
                    a = star_a + 1;
                    star = Some((star_p, star_a + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Why a pattern cannot be part of a custom role.
pub fn validate_action_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.len() > 256 {
        return Err(format!("the action '{pattern}' must be 1 to 256 characters long"));
    }
    if !pattern
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '*' | '-' | '_'))
    {
        return Err(format!(
            "the action '{pattern}' may hold only letters, digits, '.', '/', '*', '-' and '_'"
        ));
    }
    if pattern != "*" && !pattern.contains('/') {
        return Err(format!(
            "the action '{pattern}' must have the form '{{Provider}}/{{resourceType}}/{{operation}}', or be '*'"
        ));
    }
    Ok(())
}

/// The resource hierarchy (`Microsoft.Resources`).
pub mod resources {
    pub const SUBSCRIPTION_READ: &str = "Microsoft.Resources/subscriptions/read";
    pub const RESOURCE_GROUP_READ: &str = "Microsoft.Resources/subscriptions/resourceGroups/read";
    pub const RESOURCE_GROUP_WRITE: &str = "Microsoft.Resources/subscriptions/resourceGroups/write";
    pub const RESOURCE_GROUP_DELETE: &str = "Microsoft.Resources/subscriptions/resourceGroups/delete";
    pub const RESOURCES_READ: &str = "Microsoft.Resources/subscriptions/resources/read";
}

/// Authorization itself (`Microsoft.Authorization`).
pub mod authorization {
    pub const ROLE_ASSIGNMENT_READ: &str = "Microsoft.Authorization/roleAssignments/read";
    pub const ROLE_ASSIGNMENT_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
    pub const ROLE_ASSIGNMENT_DELETE: &str = "Microsoft.Authorization/roleAssignments/delete";
    pub const ROLE_DEFINITION_READ: &str = "Microsoft.Authorization/roleDefinitions/read";
    pub const ROLE_DEFINITION_WRITE: &str = "Microsoft.Authorization/roleDefinitions/write";
    pub const ROLE_DEFINITION_DELETE: &str = "Microsoft.Authorization/roleDefinitions/delete";
    pub const PERMISSIONS_READ: &str = "Microsoft.Authorization/permissions/read";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_azure() {
        let read = "Microsoft.KeyVault/vaults/read";
        assert!(action_matches("*", read));
        assert!(action_matches("*/read", read));
        assert!(action_matches("microsoft.keyvault/*", read));
        assert!(action_matches("Microsoft.KeyVault/vaults/READ", read));
        assert!(action_matches("Microsoft.KeyVault/*/read", read));
        assert!(!action_matches("*/write", read));
        assert!(!action_matches("Microsoft.KeyVault/vaults/re", read));
        assert!(!action_matches("Microsoft.KeyVault/vaults/readx", read));
        assert!(action_matches(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(action_matches(
            "Microsoft.KeyVault/vaults/keys/*",
            "Microsoft.KeyVault/vaults/keys/unwrap/action"
        ));
        assert!(!action_matches(
            "Microsoft.KeyVault/vaults/keys/*",
            "Microsoft.KeyVault/vaults/keyrotationpolicies/read"
        ));
        assert!(action_matches("a*b*c", "axxbyyc") && !action_matches("a*b*c", "axxbyy"));
        assert!(action_matches("**", "") && action_matches("*", ""));
    }

    #[test]
    fn custom_role_patterns_are_checked() {
        assert!(validate_action_pattern("Microsoft.KeyVault/vaults/keys/*").is_ok());
        assert!(validate_action_pattern("*").is_ok());
        assert!(validate_action_pattern("").is_err());
        assert!(validate_action_pattern("read").is_err());
        assert!(validate_action_pattern("Microsoft.KeyVault/vaults keys").is_err());
    }
}
