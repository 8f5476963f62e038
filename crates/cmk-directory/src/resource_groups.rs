//! Resource groups, inside a subscription. Names compare case-insensitively and keep the creator's spelling.

use std::collections::BTreeMap;

use crate::authorization::Scope;
use crate::authorization::actions::resources::{RESOURCE_GROUP_DELETE, RESOURCE_GROUP_READ, RESOURCE_GROUP_WRITE};
use crate::model::{ResourceGroup, SubscriptionId, keys};
use crate::subscriptions::AuthorizedSubscription;
use crate::{Directory, DirectoryError, records};

/// What a PUT of a resource group asks for.
#[derive(Debug, Clone, Default)]
pub struct ResourceGroupSpec {
    pub location: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub managed_by: Option<String>,
}

const MAX_TAGS: usize = 50;

/// ARM's rule: 1 to 90 characters of letters, digits, `_`, `-`, `.`, `(` and `)`, not ending with `.`.
pub fn validate_resource_group_name(name: &str) -> Result<(), DirectoryError> {
    let invalid = |reason| DirectoryError::InvalidResourceGroupName {
        name: name.to_owned(),
        reason,
    };
    let length = name.chars().count();
    if length == 0 || length > 90 {
        return Err(invalid("the name must be 1 to 90 characters long"));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'))
    {
        return Err(invalid("only letters, digits, '_', '-', '.', '(' and ')' are allowed"));
    }
    if name.ends_with('.') {
        return Err(invalid("the name cannot end with a period"));
    }
    Ok(())
}

/// Locations are compared and stored as ARM normalizes them: lower case, without spaces (`West US 2` is
/// `westus2`).
pub fn normalize_location(location: &str) -> Result<String, DirectoryError> {
    let normalized: String = location
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    if normalized.is_empty() {
        return Err(DirectoryError::LocationRequired);
    }
    if normalized.len() > 64 || !normalized.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(DirectoryError::InvalidArgument {
            field: "location",
            reason: format!("'{location}' is not a valid location name: use letters and digits, like 'westus2'"),
        });
    }
    Ok(normalized)
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), DirectoryError> {
    let invalid = |reason: String| DirectoryError::InvalidArgument { field: "tags", reason };
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!(
            "at most {MAX_TAGS} tags are allowed, got {}",
            tags.len()
        )));
    }
    for (name, value) in tags {
        if name.is_empty() || name.chars().count() > 512 || name.contains(['<', '>', '%', '&', '\\', '?', '/']) {
            return Err(invalid(format!(
                "tag name '{name}' must be 1 to 512 characters without < > % & \\ ? /"
            )));
        }
        if value.chars().count() > 256 {
            return Err(invalid(format!(
                "the value of tag '{name}' is longer than 256 characters"
            )));
        }
    }
    Ok(())
}

impl Directory {
    /// Creates or updates a resource group; returns it and whether it was created. The location of an existing
    /// group cannot change.
    pub async fn put_resource_group(
        &self,
        subscription: &AuthorizedSubscription,
        name: &str,
        spec: ResourceGroupSpec,
    ) -> Result<(ResourceGroup, bool), DirectoryError> {
        subscription.require(RESOURCE_GROUP_WRITE, &Scope::resource_group(subscription.id(), name))?;
        validate_resource_group_name(name)?;
        let location = normalize_location(spec.location.as_deref().unwrap_or(""))?;
        validate_tags(&spec.tags)?;
        let key = keys::resource_group(&subscription.id(), name);
        match records::get::<ResourceGroup>(self.store(), &key).await? {
            Some(existing) => {
                let mut group = existing.value;
                if group.location != location {
                    return Err(DirectoryError::ResourceGroupLocationConflict {
                        requested: location,
                        existing: group.location,
                    });
                }
                group.tags = spec.tags;
                group.managed_by = spec.managed_by;
                self.store()
                    .commit(vec![records::replace(key, &group, existing.revision)?])
                    .await?;
                Ok((group, false))
            }
            None => {
                let group = ResourceGroup {
                    subscription_id: subscription.id(),
                    name: name.to_owned(),
                    location,
                    tags: spec.tags,
                    managed_by: spec.managed_by,
                    created: self.clock().now(),
                };
                self.store().commit(vec![records::create(key, &group)?]).await?;
                Ok((group, true))
            }
        }
    }

    pub async fn get_resource_group(
        &self,
        subscription: &AuthorizedSubscription,
        name: &str,
    ) -> Result<ResourceGroup, DirectoryError> {
        subscription.require(RESOURCE_GROUP_READ, &Scope::resource_group(subscription.id(), name))?;
        self.find_resource_group(&subscription.id(), name).await
    }

    /// A resource group that another authorized operation needs (a vault's, a role assignment scope's).
    pub async fn find_resource_group(
        &self,
        subscription: &SubscriptionId,
        name: &str,
    ) -> Result<ResourceGroup, DirectoryError> {
        validate_resource_group_name(name).map_err(|_| DirectoryError::ResourceGroupNotFound(name.to_owned()))?;
        records::get::<ResourceGroup>(self.store(), &keys::resource_group(subscription, name))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| DirectoryError::ResourceGroupNotFound(name.to_owned()))
    }

    pub async fn delete_resource_group(
        &self,
        subscription: &AuthorizedSubscription,
        name: &str,
    ) -> Result<(), DirectoryError> {
        subscription.require(RESOURCE_GROUP_DELETE, &Scope::resource_group(subscription.id(), name))?;
        validate_resource_group_name(name).map_err(|_| DirectoryError::ResourceGroupNotFound(name.to_owned()))?;
        let key = keys::resource_group(&subscription.id(), name);
        let existing = records::get::<ResourceGroup>(self.store(), &key)
            .await?
            .ok_or_else(|| DirectoryError::ResourceGroupNotFound(name.to_owned()))?;
        self.store()
            .commit(vec![cmk_store::Write::Delete {
                key,
                expect: cmk_store::Expect::Revision(existing.revision),
            }])
            .await?;
        Ok(())
    }

    pub async fn list_resource_groups(
        &self,
        subscription: &AuthorizedSubscription,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ResourceGroup>, Option<String>), DirectoryError> {
        let (groups, next): (Vec<ResourceGroup>, _) = records::list(
            self.store(),
            &keys::resource_groups(&subscription.id()),
            start_after,
            limit,
        )
        .await?;
        // A page keeps only what the caller may read; it may come out shorter than `limit`.
        let readable = groups
            .into_iter()
            .filter(|g| subscription.can(RESOURCE_GROUP_READ, &Scope::resource_group(g.subscription_id, &g.name)))
            .collect();
        Ok((readable, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_group_names_follow_arm_rules() {
        for ok in ["rg", "My-RG_1.(x)", "Ünïcode", &"a".repeat(90)] {
            assert!(validate_resource_group_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ends.", "has space", "slash/", &"a".repeat(91), "pct%"] {
            assert!(validate_resource_group_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locations_normalize_like_arm() {
        assert_eq!(normalize_location("West US 2").ok().as_deref(), Some("westus2"));
        assert!(matches!(normalize_location(" "), Err(DirectoryError::LocationRequired)));
        assert!(normalize_location("west-us").is_err());
    }
}
