//! The key engine against a vault that can be made to refuse or to go silent, to check what the end-to-end
//! tests cannot arrange: a vault that does not answer is not a revocation while the data key's time in memory
//! lasts, and the account fails closed once it is up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cmk_account::accounts::{AccountPatch, AccountSpec, EncryptionSpec, IdentityType};
use cmk_account::model::{CustomerKeySpec, InaccessibleReason, KeyAccess};
use cmk_account::vault_client::{IdentityRef, KeyFacts, KeyVaultClient, VaultCallError, VaultFacts};
use cmk_account::{AccountError, Accounts, AccountsConfig};
use cmk_core::ShiftableClock;
use cmk_crypto::rsa::{RsaEncryptionAlgorithm, RsaPrivateKey};
use cmk_crypto::{RootKey, SecretBytes};
use cmk_directory::subscriptions::AuthorizedSubscription;
use cmk_directory::tokens::TenantRule;
use cmk_directory::{Audience, Directory, DirectoryConfig, Plane, TokenRequest};

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Answer,
    Silent,
    Refuse,
}

/// A vault of one RSA-2048 key, in the directory's tenant and the account's region.
struct OneKeyVault {
    key: RsaPrivateKey,
    tenant: String,
    behaviour: Mutex<Behaviour>,
}

const KID: &str = "https://kv1.vault.localhost:1/keys/k1/0123456789abcdef0123456789abcdef";

impl OneKeyVault {
    fn check(&self) -> Result<(), VaultCallError> {
        match *self.behaviour.lock().unwrap() {
            Behaviour::Answer => Ok(()),
            Behaviour::Silent => Err(VaultCallError::Unreachable("connection refused".into())),
            Behaviour::Refuse => Err(VaultCallError::Forbidden("no unwrapKey permission".into())),
        }
    }
}

#[async_trait]
impl KeyVaultClient for OneKeyVault {
    async fn vault_facts(&self, _vault_uri: &str) -> Result<VaultFacts, VaultCallError> {
        Ok(VaultFacts {
            tenant_id: self.tenant.clone(),
            region: Some("westus2".into()),
        })
    }

    async fn get_key(&self, _: IdentityRef, _: &str, _: &str, _: Option<&str>) -> Result<KeyFacts, VaultCallError> {
        self.check()?;
        Ok(KeyFacts {
            kid: KID.into(),
            kty: "RSA".into(),
            bits: self.key.public_key().bits(),
            enabled: true,
            recovery_level: "Recoverable".into(),
        })
    }

    async fn wrap_key(&self, _: IdentityRef, _: &str, key: &[u8]) -> Result<Vec<u8>, VaultCallError> {
        self.check()?;
        Ok(self
            .key
            .public_key()
            .encrypt(RsaEncryptionAlgorithm::RsaOaep256, key)
            .unwrap())
    }

    async fn unwrap_key(&self, _: IdentityRef, _: &str, wrapped: &[u8]) -> Result<SecretBytes, VaultCallError> {
        self.check()?;
        Ok(self.key.decrypt(RsaEncryptionAlgorithm::RsaOaep256, wrapped).unwrap())
    }

    fn forget_identity(&self, _: IdentityRef) {}
}

struct Fixture {
    accounts: Accounts,
    vault: Arc<OneKeyVault>,
    subscription: AuthorizedSubscription,
    group: String,
    _dir: tempfile::TempDir,
}

async fn fixture(key_cache: Duration) -> Fixture {
    fixture_with(AccountsConfig {
        key_cache,
        ..AccountsConfig::default()
    })
    .await
}

async fn fixture_with(accounts_config: AccountsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn cmk_store::Store> = Arc::new(
        cmk_store_sqlite::SqliteStore::open(&dir.path().join("db"))
            .await
            .unwrap(),
    );
    let root_key = Arc::new(RootKey::generate().unwrap());
    let config = DirectoryConfig {
        authority: "https://localhost:1".into(),
        audiences: vec![Audience {
            plane: Plane::Management,
            resource_id: "https://localhost:1/".into(),
        }],
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
    let request = TokenRequest {
        grant_type: Some("client_credentials".into()),
        client_id: Some(defaults.client_id.to_string()),
        client_secret: bootstrap.new_secret,
        scope: Some("https://localhost:1/.default".into()),
        resource: None,
    };
    let issued = directory
        .issue_client_credentials_token(&defaults.tenant_id.to_string(), &request)
        .await
        .unwrap();
    let token = directory
        .validate_token(issued.access_token.expose(), Plane::Management, TenantRule::Any)
        .unwrap();
    let subscription = directory
        .authorize(
            &token,
            cmk_account::actions::ACCOUNT_WRITE,
            &cmk_directory::authorization::Scope::subscription(defaults.subscription_id),
        )
        .await
        .unwrap();
    let vault = Arc::new(OneKeyVault {
        key: RsaPrivateKey::generate(2048).unwrap(),
        tenant: defaults.tenant_id.to_string(),
        behaviour: Mutex::new(Behaviour::Answer),
    });
    let accounts = Accounts::new(store, directory, root_key, vault.clone(), accounts_config);
    Fixture {
        accounts,
        vault,
        subscription,
        group: defaults.resource_group,
        _dir: dir,
    }
}

impl Fixture {
    fn set(&self, behaviour: Behaviour) {
        *self.vault.behaviour.lock().unwrap() = behaviour;
    }

    /// An E0 account with its identity, switched to the customer key, holding one object.
    async fn account_with_customer_key(&self) -> cmk_account::model::Account {
        let spec = AccountSpec {
            location: "westus2".into(),
            kind: "TextAnalytics".into(),
            sku: "E0".into(),
            identity: Some(IdentityType::SystemAssigned),
            ..AccountSpec::default()
        };
        self.accounts
            .create_or_replace(&self.subscription, &self.group, "engine1", spec)
            .await
            .unwrap();
        let patch = AccountPatch {
            encryption: Some(EncryptionSpec::Customer(CustomerKeySpec {
                vault_uri: "https://kv1.vault.localhost:1/".into(),
                key_name: "k1".into(),
                key_version: Some("0123456789abcdef0123456789abcdef".into()),
                identity_client_id: None,
            })),
            ..AccountPatch::default()
        };
        let account = self
            .accounts
            .update(&self.subscription, &self.group, "engine1", patch)
            .await
            .unwrap();
        let access = self.accounts.open_content(account.clone()).await.unwrap();
        let mut upload = self.accounts.begin_upload(&access, "doc", "text/plain").await.unwrap();
        upload.write(b"customer content").await.unwrap();
        upload.finish().await.unwrap();
        account
    }

    async fn read(&self) -> Result<Vec<u8>, AccountError> {
        let account = self.accounts.get(&self.subscription, &self.group, "engine1").await?;
        let access = self.accounts.open_content(account).await?;
        let mut download = self.accounts.download(&access, "doc").await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = download.next_chunk().await? {
            bytes.extend(chunk);
        }
        Ok(bytes)
    }
}

#[tokio::test]
async fn a_silent_vault_is_not_a_revocation_while_the_key_may_stay_in_memory() {
    let f = fixture(Duration::from_secs(300)).await;
    let account = f.account_with_customer_key().await;
    assert_eq!(f.read().await.unwrap(), b"customer content");

    f.set(Behaviour::Silent);
    let access = f.accounts.recheck(&account).await.unwrap();
    assert_eq!(access, Some(KeyAccess::Accessible));
    assert_eq!(
        f.read().await.unwrap(),
        b"customer content",
        "served with the key held in memory"
    );
}

#[tokio::test]
async fn a_silent_vault_fails_closed_once_the_key_time_in_memory_is_up() {
    let f = fixture(Duration::ZERO).await;
    let account = f.account_with_customer_key().await;
    f.set(Behaviour::Silent);
    let access = f.accounts.recheck(&account).await.unwrap();
    assert!(
        matches!(
            access,
            Some(KeyAccess::Inaccessible {
                reason: InaccessibleReason::VaultUnreachable,
                ..
            })
        ),
        "{access:?}"
    );
    assert!(matches!(f.read().await, Err(AccountError::KeyInaccessible { .. })));

    // The vault answers again: the next check restores access, and nothing was lost.
    f.set(Behaviour::Answer);
    let stored = f.accounts.get(&f.subscription, &f.group, "engine1").await.unwrap();
    assert_eq!(f.accounts.recheck(&stored).await.unwrap(), Some(KeyAccess::Accessible));
    assert_eq!(f.read().await.unwrap(), b"customer content");
}

#[tokio::test]
async fn a_refusal_drops_the_key_at_once_even_with_time_left_in_memory() {
    let f = fixture(Duration::from_secs(300)).await;
    let account = f.account_with_customer_key().await;
    assert_eq!(f.read().await.unwrap(), b"customer content");
    f.set(Behaviour::Refuse);
    let access = f.accounts.recheck(&account).await.unwrap();
    assert!(
        matches!(
            access,
            Some(KeyAccess::Inaccessible {
                reason: InaccessibleReason::AccessDenied,
                ..
            })
        ),
        "{access:?}"
    );
    match f.read().await {
        Err(AccountError::KeyInaccessible { reason, .. }) => assert_eq!(reason, InaccessibleReason::AccessDenied),
        other => panic!("expected the account to be inaccessible, got {other:?}"),
    }
}

#[tokio::test]
async fn an_object_over_the_size_limit_is_refused_and_leaves_nothing_behind() {
    let f = fixture_with(AccountsConfig {
        max_object_bytes: 20,
        ..AccountsConfig::default()
    })
    .await;
    let account = f.account_with_customer_key().await;
    let access = f.accounts.open_content(account).await.unwrap();
    let mut upload = f.accounts.begin_upload(&access, "too-big", "text/plain").await.unwrap();
    upload.write(b"0123456789").await.unwrap();
    match upload.write(b"0123456789012").await {
        Err(AccountError::ContentTooLarge { limit }) => assert_eq!(limit, 20),
        other => panic!("expected ContentTooLarge, got {other:?}"),
    }
    upload.abort().await.unwrap();
    let (objects, _) = f.accounts.list_objects(&access, "", None, 10).await.unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["doc"]);
}

#[tokio::test]
async fn a_stopped_reencryption_holds_the_key_settings_until_it_is_resumed_and_done() {
    use cmk_account::reencryption::JobState;
    let f = fixture(Duration::ZERO).await;
    f.account_with_customer_key().await;
    f.accounts
        .start_reencryption(&f.subscription, &f.group, "engine1")
        .await
        .unwrap();
    // The job runs once this test yields; by then the vault has gone silent.
    f.set(Behaviour::Silent);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = f
        .accounts
        .reencryption_status(&f.subscription, &f.group, "engine1")
        .await
        .unwrap();
    assert!(matches!(job.state, JobState::Failed { .. }), "{job:?}");

    f.set(Behaviour::Answer);
    let stored = f.accounts.get(&f.subscription, &f.group, "engine1").await.unwrap();
    assert_eq!(f.accounts.recheck(&stored).await.unwrap(), Some(KeyAccess::Accessible));
    let back_to_platform = || AccountPatch {
        encryption: Some(EncryptionSpec::Platform),
        ..AccountPatch::default()
    };
    match f
        .accounts
        .update(&f.subscription, &f.group, "engine1", back_to_platform())
        .await
    {
        Err(AccountError::ReencryptionInProgress(name)) => assert_eq!(name, "engine1"),
        other => panic!("expected ReencryptionInProgress, got {other:?}"),
    }

    // Started again, the job resumes with the same new data key and finishes; then the settings may change.
    let resumed = f
        .accounts
        .start_reencryption(&f.subscription, &f.group, "engine1")
        .await
        .unwrap();
    assert_eq!(resumed.target_version, job.target_version);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = f
        .accounts
        .reencryption_status(&f.subscription, &f.group, "engine1")
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    f.accounts
        .update(&f.subscription, &f.group, "engine1", back_to_platform())
        .await
        .unwrap();
    assert_eq!(f.read().await.unwrap(), b"customer content");
}
