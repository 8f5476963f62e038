//! Change events, seen by a subscriber as a consumer of keys (the CMK engine) will see them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use cmk_core::ShiftableClock;
use cmk_crypto::{RootKey, SecretString};
use cmk_directory::tokens::TenantRule;
use cmk_directory::{Audience, Directory, DirectoryConfig, Plane, TokenRequest};
use cmk_vault::Vaults;
use cmk_vault::access::KeyAction;
use cmk_vault::events::VaultEvent;
use cmk_vault::keys::{AttributeChanges, KeySpec, KeyType, KeyUpdate};
use cmk_vault::model::{AccessPolicy, KeyPermission, Permissions};
use cmk_vault::vaults::{AccessPolicyUpdate, VaultDefinition, VaultProperties};

#[tokio::test]
async fn changes_that_affect_consumers_are_published_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn cmk_store::Store> = Arc::new(
        cmk_store_sqlite::SqliteStore::open(&dir.path().join("db"))
            .await
            .unwrap(),
    );
    let root_key = Arc::new(RootKey::generate().unwrap());
    let config = DirectoryConfig {
        authority: "https://localhost:1".into(),
        audiences: vec![
            Audience {
                plane: Plane::Management,
                resource_id: "https://localhost:1/".into(),
            },
            Audience {
                plane: Plane::Vault,
                resource_id: "https://vault.localhost:1".into(),
            },
        ],
        token_lifetime_seconds: 3600,
        clock_skew_seconds: 300,
        domain_suffix: "localhost".into(),
    };
    let directory = Directory::open(
        store.clone(),
        Arc::new(ShiftableClock::default()),
        root_key.clone(),
        config,
    )
    .await
    .unwrap();
    let bootstrap = directory.ensure_dev_defaults(None).await.unwrap();
    let defaults = bootstrap.defaults;
    let secret: SecretString = bootstrap.new_secret.unwrap();
    let token = |resource: &str| TokenRequest {
        grant_type: Some("client_credentials".into()),
        client_id: Some(defaults.client_id.to_string()),
        client_secret: Some(secret.clone()),
        scope: Some(format!("{resource}/.default")),
        resource: None,
    };
    let tenant = defaults.tenant_id.to_string();
    let issued = directory
        .issue_client_credentials_token(&tenant, &token("https://localhost:1"))
        .await
        .unwrap();
    let management = directory
        .validate_token(issued.access_token.expose(), Plane::Management, TenantRule::Any)
        .unwrap();
    let issued = directory
        .issue_client_credentials_token(&tenant, &token("https://vault.localhost:1"))
        .await
        .unwrap();
    let caller = directory
        .validate_token(issued.access_token.expose(), Plane::Vault, TenantRule::Any)
        .unwrap();
    let subscription = directory
        .authorize(
            &management,
            cmk_vault::actions::VAULT_WRITE,
            &cmk_directory::authorization::Scope::subscription(defaults.subscription_id),
        )
        .await
        .unwrap();

    let vaults = Vaults::new(store, directory.clone(), root_key);
    let policy = AccessPolicy {
        tenant_id: defaults.tenant_id,
        object_id: defaults.object_id.to_string(),
        application_id: None,
        permissions: Permissions {
            keys: [KeyPermission::All].into(),
            ..Default::default()
        },
    };
    let definition = VaultDefinition {
        location: "westus2".into(),
        properties: VaultProperties {
            tenant_id: Some(defaults.tenant_id),
            sku: Some(cmk_vault::model::SkuName::Standard),
            access_policies: Some(vec![policy.clone()]),
            ..Default::default()
        },
        ..Default::default()
    };
    vaults
        .create_or_update(&subscription, &defaults.resource_group, "kv-events", definition)
        .await
        .unwrap();

    let mut events = vaults.subscribe();
    let vault = vaults.data_plane_vault("kv-events").await.unwrap();
    let spec = KeySpec {
        kty: KeyType::Rsa,
        key_size: None,
        curve: None,
        public_exponent: None,
        key_ops: None,
        attributes: AttributeChanges::default(),
        tags: Default::default(),
    };
    let created = vaults
        .create_key(
            &vaults
                .authorize(vault.clone(), &caller, KeyAction::Create, Some("cmk"))
                .await
                .unwrap(),
            "cmk",
            spec,
        )
        .await
        .unwrap();
    let disable = KeyUpdate {
        attributes: AttributeChanges {
            enabled: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    vaults
        .update_key(
            &vaults
                .authorize(vault.clone(), &caller, KeyAction::Update, Some("cmk"))
                .await
                .unwrap(),
            "cmk",
            None,
            disable,
        )
        .await
        .unwrap();
    vaults
        .delete_key(
            &vaults
                .authorize(vault.clone(), &caller, KeyAction::Delete, Some("cmk"))
                .await
                .unwrap(),
            "cmk",
        )
        .await
        .unwrap();
    vaults
        .recover_deleted_key(
            &vaults
                .authorize(vault.clone(), &caller, KeyAction::Recover, Some("cmk"))
                .await
                .unwrap(),
            "cmk",
        )
        .await
        .unwrap();
    vaults
        .update_access_policies(
            &subscription,
            &defaults.resource_group,
            "kv-events",
            AccessPolicyUpdate::Remove,
            vec![policy],
        )
        .await
        .unwrap();

    let vault_name = "kv-events".to_owned();
    let key = "cmk".to_owned();
    let expected = vec![
        VaultEvent::KeyVersionCreated {
            vault: vault_name.clone(),
            key: key.clone(),
            version: created.version.clone(),
        },
        VaultEvent::KeyUpdated {
            vault: vault_name.clone(),
            key: key.clone(),
            version: created.version.clone(),
        },
        VaultEvent::KeyDeleted {
            vault: vault_name.clone(),
            key: key.clone(),
        },
        VaultEvent::KeyRecovered {
            vault: vault_name.clone(),
            key,
        },
        VaultEvent::VaultUpdated { vault: vault_name },
    ];
    for want in expected {
        assert_eq!(events.try_recv().unwrap(), want);
    }
    assert!(events.try_recv().is_err(), "nothing else was published");
}
