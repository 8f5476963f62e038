//! Scopes: the ARM ids that role assignments attach to, and the containment that makes them inherit downwards.
//!
//! A scope is a subscription, a resource group, or a resource (with child resources such as a vault's key):
//!
//! ```text
//! /subscriptions/{s}
//! /subscriptions/{s}/resourceGroups/{rg}
//! /subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}[/{type}/{name}]...
//! /subscriptions/{s}/providers/{namespace}/{type}/{name}[/{type}/{name}]...
//! ```
//!
//! Scopes compare without regard to case, as ARM's ids do; they print with ARM's spelling of the fixed words
//! and the caller's spelling of names.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::SubscriptionId;

/// A parsed scope.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope {
    text: String,
    /// `text` in lower case: what comparisons use.
    lower: String,
    subscription: SubscriptionId,
    resource_group: Option<String>,
}

/// Why a text is not a scope; the message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the scope '{scope}' is not valid: {reason}")]
pub struct ScopeError {
    pub scope: String,
    pub reason: &'static str,
}

/// The longest scope accepted, in bytes (ARM's resource ids are at most a few hundred characters).
const MAX_SCOPE_LEN: usize = 2048;

/// ARM's spelling of the namespaces and resource types cmk serves, so a scope reached through a path that was
/// matched without regard to case prints as Azure prints it.
const KNOWN_WORDS: [&str; 13] = [
    "Microsoft.KeyVault",
    "Microsoft.CognitiveServices",
    "Microsoft.ManagedIdentity",
    "Microsoft.Resources",
    "Microsoft.Authorization",
    "vaults",
    "keys",
    "accounts",
    "locations",
    "deletedVaults",
    "deletedAccounts",
    "resourceGroups",
    "userAssignedIdentities",
];

fn canonical_word(word: &str) -> &str {
    KNOWN_WORDS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(word))
        .copied()
        .unwrap_or(word)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 260
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '?' | '#' | '%'))
}

impl Scope {
    /// Parses a scope, as the path of a request or a `scope` property gives it (a trailing slash is ignored).
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        let invalid = |reason| ScopeError {
            scope: text.to_owned(),
            reason,
        };
        if text.len() > MAX_SCOPE_LEN {
            return Err(invalid("it is longer than 2048 characters"));
        }
        let trimmed = text.strip_suffix('/').unwrap_or(text);
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(invalid("a scope starts with '/subscriptions/{subscriptionId}'"));
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let [first, subscription, tail @ ..] = segments.as_slice() else {
            return Err(invalid("a scope starts with '/subscriptions/{subscriptionId}'"));
        };
        if !first.eq_ignore_ascii_case("subscriptions") {
            return Err(invalid(
                "a scope starts with '/subscriptions/{subscriptionId}'; management groups and the root are not scopes here",
            ));
        }
        let subscription_id =
            SubscriptionId::parse(subscription).ok_or_else(|| invalid("the subscription id is not a GUID"))?;
        let mut canonical = format!("/subscriptions/{subscription_id}");
        let mut resource_group = None;
        let mut tail = tail;
        if let [word, group, more @ ..] = tail
            && word.eq_ignore_ascii_case("resourceGroups")
        {
            if !valid_name(group) {
                return Err(invalid(
                    "the resource group name is empty or holds characters a name cannot have",
                ));
            }
            canonical.push_str("/resourceGroups/");
            canonical.push_str(group);
            resource_group = Some((*group).to_owned());
            tail = more;
        }
        match tail {
            [] => {}
            [word, namespace, pairs @ ..] if word.eq_ignore_ascii_case("providers") => {
                if !valid_name(namespace) || !namespace.contains('.') {
                    return Err(invalid(
                        "the resource provider namespace is not valid (like 'Microsoft.KeyVault')",
                    ));
                }
                if pairs.is_empty() || pairs.len() % 2 != 0 {
                    return Err(invalid(
                        "a resource is named by pairs of a type and a name after the namespace",
                    ));
                }
                if pairs.iter().any(|p| !valid_name(p)) {
                    return Err(invalid(
                        "a resource type or name is empty or holds characters a name cannot have",
                    ));
                }
                if pairs.iter().step_by(2).any(|t| t.eq_ignore_ascii_case("providers")) {
                    return Err(invalid(
                        "extension resources (a second '/providers/') are not scopes here",
                    ));
                }
                canonical.push_str("/providers/");
                canonical.push_str(canonical_word(namespace));
                for (i, part) in pairs.iter().enumerate() {
                    canonical.push('/');
                    // Types (even positions) take ARM's spelling; names keep the caller's.
                    canonical.push_str(if i % 2 == 0 { canonical_word(part) } else { part });
                }
            }
            _ => {
                return Err(invalid(
                    "after the subscription or resource group, only '/providers/...' may follow",
                ));
            }
        }
        Ok(Scope {
            lower: canonical.to_ascii_lowercase(),
            text: canonical,
            subscription: subscription_id,
            resource_group,
        })
    }

    pub fn subscription(id: SubscriptionId) -> Scope {
        let text = format!("/subscriptions/{id}");
        Scope {
            lower: text.to_ascii_lowercase(),
            text,
            subscription: id,
            resource_group: None,
        }
    }

    /// The scope of a resource group. The name is the caller's; names that cannot be part of an id still make a
    /// scope (it matches no assignment but the subscription's), so a refusal can name it.
    pub fn resource_group(subscription: SubscriptionId, name: &str) -> Scope {
        let text = format!("/subscriptions/{subscription}/resourceGroups/{name}");
        Scope {
            lower: text.to_ascii_lowercase(),
            text,
            subscription,
            resource_group: Some(name.to_owned()),
        }
    }

    /// The scope of a resource in a resource group: `namespace` like `Microsoft.KeyVault`, then the types and
    /// names from the top resource down (`[("vaults", "kv1"), ("keys", "k1")]`).
    pub fn resource(
        subscription: SubscriptionId,
        resource_group: &str,
        namespace: &str,
        path: &[(&str, &str)],
    ) -> Scope {
        let mut scope = Scope::resource_group(subscription, resource_group);
        scope.push_provider(namespace, path);
        scope
    }

    /// The scope of a resource that belongs to the subscription itself (a location's deleted vaults).
    pub fn subscription_resource(subscription: SubscriptionId, namespace: &str, path: &[(&str, &str)]) -> Scope {
        let mut scope = Scope::subscription(subscription);
        scope.push_provider(namespace, path);
        scope
    }

    fn push_provider(&mut self, namespace: &str, path: &[(&str, &str)]) {
        self.text.push_str("/providers/");
        self.text.push_str(namespace);
        for (kind, name) in path {
            self.text.push('/');
            self.text.push_str(kind);
            self.text.push('/');
            self.text.push_str(name);
        }
        self.lower = self.text.to_ascii_lowercase();
    }

    /// A child resource of this resource scope (a vault's key: `child("keys", "k1")`).
    pub fn child(&self, kind: &str, name: &str) -> Scope {
        let text = format!("{}/{kind}/{name}", self.text);
        Scope {
            lower: text.to_ascii_lowercase(),
            text,
            subscription: self.subscription,
            resource_group: self.resource_group.clone(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn subscription_id(&self) -> SubscriptionId {
        self.subscription
    }

    pub fn resource_group_name(&self) -> Option<&str> {
        self.resource_group.as_deref()
    }

    /// The resource a resource scope names: its namespace and its types and names from the top down
    /// (`("Microsoft.KeyVault", [("vaults", "kv1"), ("keys", "k1")])`); `None` for a subscription or group.
    pub fn provider(&self) -> Option<(&str, Vec<(&str, &str)>)> {
        let (_, rest) = self.text.split_once("/providers/")?;
        let mut parts = rest.split('/');
        let namespace = parts.next()?;
        let segments: Vec<&str> = parts.collect();
        let pairs = segments
            .chunks(2)
            .filter_map(|c| Some((*c.first()?, *c.get(1)?)))
            .collect();
        Some((namespace, pairs))
    }

    /// Whether this is the scope of a subscription itself.
    pub fn is_subscription(&self) -> bool {
        self.lower.matches('/').count() == 2
    }

    /// Whether an assignment at this scope applies at `other`: the same scope or one below it.
    pub fn contains(&self, other: &Scope) -> bool {
        other.lower == self.lower
            || (other.lower.starts_with(&self.lower) && other.lower.as_bytes().get(self.lower.len()) == Some(&b'/'))
    }

    /// Whether one of the two scopes contains the other (an assignment at one matters for a listing at the other).
    pub fn related(&self, other: &Scope) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.lower == other.lower
    }
}

impl Eq for Scope {}

impl std::hash::Hash for Scope {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.lower.hash(state);
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({})", self.text)
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Scope::parse(&text)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-00000000000a";

    fn scope(text: &str) -> Scope {
        Scope::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn scopes_parse_with_arm_spelling_and_keep_names() {
        let s = scope(&format!(
            "/SUBSCRIPTIONS/{SUB}/resourcegroups/My-RG/PROVIDERS/Microsoft.KeyVault/vaults/KV1/keys/k1/"
        ));
        assert_eq!(
            s.as_str(),
            format!("/subscriptions/{SUB}/resourceGroups/My-RG/providers/Microsoft.KeyVault/vaults/KV1/keys/k1")
        );
        assert_eq!(s.resource_group_name(), Some("My-RG"));
        assert!(scope(&format!("/subscriptions/{SUB}")).is_subscription());
        assert!(!s.is_subscription());
        scope(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/westus2/deletedVaults/kv1"
        ));
        let lowered = scope(&format!(
            "/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.keyvault/vaults/Keys"
        ));
        assert_eq!(
            lowered.as_str(),
            format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/Keys")
        );
        assert_eq!(
            lowered.provider(),
            Some(("Microsoft.KeyVault", vec![("vaults", "Keys")]))
        );
        assert_eq!(
            scope(&format!("/subscriptions/{SUB}/resourceGroups/rg")).provider(),
            None
        );
    }

    #[test]
    fn malformed_scopes_are_refused_with_a_reason() {
        for bad in [
            "",
            "/",
            "subscriptions/x",
            "/subscriptions",
            "/subscriptions/not-a-guid",
            "/providers/Microsoft.Management/managementGroups/mg1",
            &format!("/subscriptions/{SUB}/resourceGroups"),
            &format!("/subscriptions/{SUB}/resourceGroups//providers/A.B/c/d"),
            &format!("/subscriptions/{SUB}/resourceGroups/rg/vaults/kv"),
            &format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault"),
            &format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults"),
            &format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/x"),
            &format!("/subscriptions/{SUB}/resourceGroups/rg/providers/NoDot/vaults/kv"),
            &format!("/subscriptions/{SUB}/resourceGroups/r%20g"),
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
        assert!(Scope::parse(&format!("/subscriptions/{SUB}/{}", "a/".repeat(1100))).is_err());
    }

    #[test]
    fn scopes_contain_what_lies_below_them_only() {
        let sub = scope(&format!("/subscriptions/{SUB}"));
        let rg1 = scope(&format!("/subscriptions/{SUB}/resourceGroups/rg1"));
        let rg10 = scope(&format!("/subscriptions/{SUB}/resourceGroups/RG10"));
        let vault = scope(&format!(
            "/subscriptions/{SUB}/resourceGroups/RG1/providers/Microsoft.KeyVault/vaults/kv"
        ));
        let key = vault.child("keys", "k1");
        assert!(sub.contains(&rg1) && sub.contains(&key) && rg1.contains(&vault) && vault.contains(&key));
        assert!(rg1.contains(&rg1));
        assert!(!rg1.contains(&rg10), "a prefix of a name is not a parent");
        assert!(!key.contains(&vault) && !vault.contains(&rg1));
        assert!(key.related(&sub) && sub.related(&key) && !rg10.related(&vault));
        assert_eq!(
            Scope::resource(
                SubscriptionId::parse(SUB).unwrap_or_else(|| unreachable!()),
                "rg1",
                "Microsoft.KeyVault",
                &[("vaults", "KV")]
            ),
            vault
        );
    }
}
