//! Rotation policies (`/keys/{name}/rotationpolicy`) and the rotation they schedule.
//!
//! A policy says when a key gets a new version (`timeAfterCreate` of the current version, or `timeBeforeExpiry`)
//! and how long new versions live (`expiryTime`). [`Vaults::rotate_due_keys`] carries them out; the server calls
//! it on a timer, and the development clock drives it like real time.

use cmk_core::Timestamp;
use cmk_store::Write;
use cmk_store::records;
use serde::{Deserialize, Serialize};

use crate::access::{KeyAction, VaultAccess};
use crate::model::{VaultRecord, VaultState};
use crate::{VaultError, Vaults};

const DAY: i64 = 86_400;

/// An ISO 8601 duration of whole days, months and years (`P90D`, `P1Y6M`), the forms Key Vault accepts.
/// Months count as 30 days and years as 365, as a fixed interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDuration {
    pub text: String,
    pub seconds: i64,
}

impl PolicyDuration {
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let invalid = || {
            VaultError::BadParameter(format!(
                "'{text}' is not a supported ISO 8601 duration: use days, months or years, like P90D or P1Y."
            ))
        };
        let body = text.strip_prefix('P').ok_or_else(invalid)?;
        if body.is_empty() {
            return Err(invalid());
        }
        let mut seconds: i64 = 0;
        let mut number = String::new();
        let mut last_unit = 0;
        for c in body.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (rank, unit) = match c {
                'Y' => (1, 365 * DAY),
                'M' => (2, 30 * DAY),
                'D' => (3, DAY),
                _ => return Err(invalid()),
            };
            if number.is_empty() || rank <= last_unit {
                return Err(invalid());
            }
            let n: i64 = number.parse().map_err(|_| invalid())?;
            seconds = n
                .checked_mul(unit)
                .and_then(|s| s.checked_add(seconds))
                .ok_or_else(invalid)?;
            number.clear();
            last_unit = rank;
        }
        if !number.is_empty() || seconds > 100 * 365 * DAY {
            return Err(invalid());
        }
        Ok(Self {
            text: text.to_owned(),
            seconds,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifetimeActionType {
    Rotate,
    Notify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    TimeAfterCreate(PolicyDuration),
    TimeBeforeExpiry(PolicyDuration),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeAction {
    pub trigger: Trigger,
    pub action: LifetimeActionType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicy {
    pub lifetime_actions: Vec<LifetimeAction>,
    pub expiry_time: Option<PolicyDuration>,
    pub created: Option<Timestamp>,
    pub updated: Option<Timestamp>,
}

/// A policy as stored, with the key it belongs to (so the scheduler can find it without scanning every key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredPolicy {
    vault: String,
    key: String,
    policy: RotationPolicy,
}

fn policy_key(vault: &str, key: &str) -> String {
    format!(
        "vault/rotation-policies/{}/{}",
        vault.to_ascii_lowercase(),
        key.to_ascii_lowercase()
    )
}

const POLICIES: &str = "vault/rotation-policies/";

/// Key Vault's rules: expiry at least 28 days; a rotation at least 7 days after creation and at least 7 days
/// before expiry; one action of each kind; a Notify 30 days before expiry added when none is given.
fn validate(mut policy: RotationPolicy) -> Result<RotationPolicy, VaultError> {
    let bad = |m: &str| VaultError::BadParameter(m.to_owned());
    if let Some(expiry) = &policy.expiry_time
        && expiry.seconds < 28 * DAY
    {
        return Err(bad("The policy's expiryTime must be at least 28 days (P28D)."));
    }
    for kind in [LifetimeActionType::Rotate, LifetimeActionType::Notify] {
        if policy.lifetime_actions.iter().filter(|a| a.action == kind).count() > 1 {
            return Err(bad("A policy can have at most one Rotate and one Notify action."));
        }
    }
    for action in &policy.lifetime_actions {
        match &action.trigger {
            Trigger::TimeAfterCreate(d) if d.seconds < 7 * DAY => {
                return Err(bad("timeAfterCreate must be at least 7 days (P7D)."));
            }
            Trigger::TimeBeforeExpiry(d) => {
                if d.seconds < 7 * DAY {
                    return Err(bad("timeBeforeExpiry must be at least 7 days (P7D)."));
                }
                match &policy.expiry_time {
                    None => return Err(bad("timeBeforeExpiry needs the policy's expiryTime.")),
                    Some(expiry) if expiry.seconds - d.seconds < 7 * DAY => {
                        return Err(bad("timeBeforeExpiry must leave at least 7 days after creation."));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if let Some(expiry) = &policy.expiry_time
        && let Some(Trigger::TimeAfterCreate(after)) = policy
            .lifetime_actions
            .iter()
            .find(|a| a.action == LifetimeActionType::Rotate)
            .map(|a| &a.trigger)
        && expiry.seconds - after.seconds < 7 * DAY
    {
        return Err(bad("A rotation must happen at least 7 days before the key expires."));
    }
    let has_notify = policy
        .lifetime_actions
        .iter()
        .any(|a| a.action == LifetimeActionType::Notify);
    if !has_notify && policy.expiry_time.is_some() {
        policy.lifetime_actions.push(LifetimeAction {
            trigger: Trigger::TimeBeforeExpiry(PolicyDuration {
                text: "P30D".into(),
                seconds: 30 * DAY,
            }),
            action: LifetimeActionType::Notify,
        });
    }
    Ok(policy)
}

impl Vaults {
    pub async fn get_rotation_policy(&self, access: &VaultAccess, name: &str) -> Result<RotationPolicy, VaultError> {
        let vault = access.require(KeyAction::GetRotationPolicy, Some(name))?;
        let key = self.key_name(vault, name).await?;
        Ok(
            records::get::<StoredPolicy>(self.store(), &policy_key(&vault.name, &key))
                .await?
                .map(|p| p.value.policy)
                .unwrap_or(RotationPolicy {
                    lifetime_actions: Vec::new(),
                    expiry_time: None,
                    created: None,
                    updated: None,
                }),
        )
    }

    pub async fn set_rotation_policy(
        &self,
        access: &VaultAccess,
        name: &str,
        policy: RotationPolicy,
    ) -> Result<RotationPolicy, VaultError> {
        let vault = access.require(KeyAction::SetRotationPolicy, Some(name))?;
        let key = self.key_name(vault, name).await?;
        let mut policy = validate(policy)?;
        let now = self.clock().now();
        let previous = records::get::<StoredPolicy>(self.store(), &policy_key(&vault.name, &key)).await?;
        policy.created = previous.as_ref().and_then(|p| p.value.policy.created).or(Some(now));
        policy.updated = Some(now);
        let stored = StoredPolicy {
            vault: vault.name.clone(),
            key,
            policy: policy.clone(),
        };
        self.store()
            .commit(vec![records::upsert(policy_key(&vault.name, &stored.key), &stored)?])
            .await?;
        Ok(policy)
    }

    /// Rotates every key whose policy's Rotate action is due at the clock's current time, and returns how
    /// many it rotated. A key that is deleted, or in a vault that is gone, is skipped (and a purged one
    /// forgets its policy).
    pub async fn rotate_due_keys(&self) -> Result<usize, VaultError> {
        let policies = records::scan::<StoredPolicy>(self.store(), POLICIES, |_| true).await?;
        let now = self.clock().now();
        let mut rotated = 0;
        for stored in policies {
            let Some(rotate) = stored
                .policy
                .lifetime_actions
                .iter()
                .find(|a| a.action == LifetimeActionType::Rotate)
            else {
                continue;
            };
            let vault =
                match records::get::<VaultRecord>(self.store(), &crate::model::keys::vault(&stored.vault)).await? {
                    Some(v) if matches!(v.value.state, VaultState::Active) => v.value.vault,
                    Some(_) => continue,
                    None => {
                        self.store()
                            .commit(vec![Write::Delete {
                                key: policy_key(&stored.vault, &stored.key),
                                expect: cmk_store::Expect::Any,
                            }])
                            .await?;
                        continue;
                    }
                };
            let Some((created, expires)) = self.current_version_times(&vault, &stored.key).await? else {
                continue;
            };
            let due = match &rotate.trigger {
                Trigger::TimeAfterCreate(after) => created.plus_seconds(after.seconds) <= now,
                Trigger::TimeBeforeExpiry(before) => {
                    expires.is_some_and(|exp| exp.plus_seconds(-before.seconds) <= now)
                }
            };
            if due {
                let expires = stored.policy.expiry_time.as_ref().map(|e| now.plus_seconds(e.seconds));
                self.rotate_for_policy(&vault, &stored.key, expires).await?;
                tracing::info!(vault = %vault.name, key = %stored.key, "rotated key by its rotation policy");
                rotated += 1;
            }
        }
        Ok(rotated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_days_months_years() {
        assert_eq!(PolicyDuration::parse("P90D").map(|d| d.seconds).ok(), Some(90 * DAY));
        assert_eq!(
            PolicyDuration::parse("P1Y6M").map(|d| d.seconds).ok(),
            Some((365 + 180) * DAY)
        );
        for bad in [
            "90D",
            "P",
            "PD",
            "P1H",
            "PT1H",
            "P1D1Y",
            "P-1D",
            "P99999999999999999999D",
        ] {
            assert!(PolicyDuration::parse(bad).is_err(), "{bad}");
        }
    }

    fn rotate_after(days: &str, expiry: Option<&str>) -> RotationPolicy {
        RotationPolicy {
            lifetime_actions: vec![LifetimeAction {
                trigger: Trigger::TimeAfterCreate(PolicyDuration::parse(days).unwrap_or_else(|_| unreachable!())),
                action: LifetimeActionType::Rotate,
            }],
            expiry_time: expiry.map(|e| PolicyDuration::parse(e).unwrap_or_else(|_| unreachable!())),
            created: None,
            updated: None,
        }
    }

    #[test]
    fn policies_follow_key_vault_rules_and_get_a_default_notify() {
        let valid = validate(rotate_after("P90D", Some("P2Y"))).ok();
        assert_eq!(
            valid.map(|p| p.lifetime_actions.len()),
            Some(2),
            "a Notify 30 days before expiry is added"
        );
        assert!(
            validate(rotate_after("P6D", None)).is_err(),
            "rotation at least 7 days after creation"
        );
        assert!(
            validate(rotate_after("P30D", Some("P27D"))).is_err(),
            "expiry at least 28 days"
        );
        assert!(
            validate(rotate_after("P25D", Some("P30D"))).is_err(),
            "rotation at least 7 days before expiry"
        );
    }
}
