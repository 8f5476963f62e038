//! `Microsoft.CognitiveServices/accounts` end to end over HTTPS (docs/accounts.md): content that is always
//! encrypted at rest, under Microsoft-managed keys or under the customer's key in a vault, with identity,
//! rotation, revocation and recovery. Every seed rule S1–S11 has a test that names it.
//!
//! Raw storage is read with the same SQLite backend the server uses, opened on the server's data folder: after
//! the server stopped (S1), or next to the running server, read only (S10, S11).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use cmk_crypto::RootKey;
use cmk_crypto::data_key::DataKey;
use cmk_crypto::encoding::{b64url_decode, b64url_encode};
use cmk_store::Store;
use cmk_store_sqlite::SqliteStore;
use common::{TestServer, arm_code, claims, roles};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ACCOUNTS_API: &str = "api-version=2024-10-01";
const VAULTS_API: &str = "api-version=2026-05-15";
const KEYS_API: &str = "api-version=7.6";
const LOCATION: &str = "westus2";
const OTHER_LOCATION: &str = "eastus";
const MIB: usize = 1 << 20;
const PLATFORM_KEYS: &str = "Microsoft.CognitiveServices";
const CUSTOMER_KEYS: &str = "Microsoft.KeyVault";
const INACCESSIBLE: &str = "CustomerManagedKeyInaccessible";
/// What the account's identity needs on the vault.
const IDENTITY_PERMISSIONS: [&str; 3] = ["get", "wrapKey", "unwrapKey"];
/// A revocation must show on the data plane within this time of the revoking call returning.
const REVOCATION_LIMIT: Duration = Duration::from_secs(1);
const REVOCATION_POLL: Duration = Duration::from_millis(20);
/// How long to keep watching a revocation that missed its limit, to report the real latency.
const OBSERVE_LIMIT: Duration = Duration::from_secs(10);
/// Once access returns, the account must recover by itself within this time.
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);
const RECOVERY_POLL: Duration = Duration::from_millis(100);
/// The ARM view may trail the data plane by this much.
const ARM_GRACE: Duration = Duration::from_secs(2);

type Objects = BTreeMap<String, (Vec<u8>, String)>;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    cmk_crypto::random::fill(&mut bytes).unwrap();
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("<no error message>")
}

/// A refusal: its status, its error code and a distinctive part of its message.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str, fragment: &str) {
    assert_eq!(status, expected, "expected {expected} {code}: {body}");
    assert_eq!(arm_code(body), code, "{body}");
    assert!(
        message(body).contains(fragment),
        "the message of {code} should contain {fragment:?}: {body}"
    );
}

// ---- management plane: accounts ---------------------------------------------------------------------------

#[derive(Clone)]
struct Account {
    /// The ARM path, without the api-version.
    path: String,
    id: String,
    /// `https://{subdomain}.cognitiveservices.localhost:{port}`, without the trailing slash.
    endpoint: String,
    /// key1 of listKeys.
    key: String,
}

impl Account {
    fn arm(&self) -> String {
        format!("{}?{ACCOUNTS_API}", self.path)
    }

    fn content_url(&self, name: &str) -> String {
        format!("{}/content/{name}", self.endpoint)
    }
}

fn account_path(subscription: &str, group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts/{name}"
    )
}

fn account_definition(name: &str, sku: &str) -> Value {
    json!({
        "location": LOCATION,
        "kind": "TextAnalytics",
        "sku": {"name": sku},
        "properties": {"customSubDomainName": name},
    })
}

async fn list_keys(server: &TestServer, path: &str) -> Value {
    let (status, keys) = server
        .arm(Method::POST, &format!("{path}/listKeys?{ACCOUNTS_API}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    keys
}

/// A new account; it must start with Microsoft-managed keys (S1).
async fn create_account_from(server: &TestServer, subscription: &str, group: &str, name: &str, body: Value) -> Account {
    let path = account_path(subscription, group, name);
    let (status, created) = server
        .arm(Method::PUT, &format!("{path}?{ACCOUNTS_API}"), Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        created["properties"]["encryption"],
        json!({"keySource": PLATFORM_KEYS}),
        "S1: a new account uses Microsoft-managed keys"
    );
    let endpoint = created["properties"]["endpoint"].as_str().unwrap().to_owned();
    assert_eq!(
        endpoint,
        format!("https://{name}.cognitiveservices.localhost:{}/", server.addr.port())
    );
    let keys = list_keys(server, &path).await;
    Account {
        id: created["id"].as_str().unwrap().to_owned(),
        path,
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        key: keys["key1"].as_str().unwrap().to_owned(),
    }
}

async fn create_account(server: &TestServer, name: &str, sku: &str) -> Account {
    let c = &server.creds;
    create_account_from(
        server,
        &c.subscription_id,
        &c.resource_group,
        name,
        account_definition(name, sku),
    )
    .await
}

async fn read_account(server: &TestServer, account: &Account) -> Value {
    let (status, body) = server.arm(Method::GET, &account.arm(), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn patch_account(server: &TestServer, account: &Account, body: Value) -> (StatusCode, Value) {
    server.arm(Method::PATCH, &account.arm(), Some(&body.to_string())).await
}

/// Enables the system-assigned identity; returns its principal id.
async fn enable_identity(server: &TestServer, account: &Account) -> String {
    let (status, body) = patch_account(server, account, json!({"identity": {"type": "SystemAssigned"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["identity"]["type"], "SystemAssigned", "{body}");
    assert_eq!(
        body["identity"]["tenantId"], server.creds.tenant_id,
        "the identity is registered in the subscription's tenant"
    );
    let principal = body["identity"]["principalId"].as_str().unwrap().to_owned();
    assert!(!principal.is_empty());
    principal
}

/// The PATCH that switches customer-managed keys on (or changes the key).
async fn use_customer_key(
    server: &TestServer,
    account: &Account,
    vault_uri: &str,
    key_name: &str,
    version: &str,
) -> (StatusCode, Value) {
    patch_account(
        server,
        account,
        json!({"properties": {"encryption": {
            "keySource": CUSTOMER_KEYS,
            "keyVaultProperties": {"keyName": key_name, "keyVersion": version, "keyVaultUri": vault_uri},
        }}}),
    )
    .await
}

/// Switching customer-managed keys on is refused with 400 `code`, and the account keeps Microsoft-managed keys.
async fn assert_customer_key_refused(
    server: &TestServer,
    account: &Account,
    (vault_uri, key_name, version): (&str, &str, &str),
    code: &str,
    fragment: &str,
) {
    let (status, body) = use_customer_key(server, account, vault_uri, key_name, version).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, code, fragment);
    assert_eq!(
        read_account(server, account).await["properties"]["encryption"],
        json!({"keySource": PLATFORM_KEYS}),
        "after a refused switch ({code}) the account keeps Microsoft-managed keys"
    );
}

// ---- management plane: vaults and keys --------------------------------------------------------------------

struct Vault {
    /// The ARM path, without the api-version.
    path: String,
    /// `vaultUri`, with its trailing slash.
    uri: String,
}

impl Vault {
    fn base(&self) -> &str {
        self.uri.trim_end_matches('/')
    }
}

/// Who creates a vault and gets every key permission on it.
struct Owner {
    tenant: String,
    object_id: String,
    management_token: String,
    vault_token: String,
}

fn vault_scope(server: &TestServer) -> String {
    format!("https://vault.localhost:{}/.default", server.addr.port())
}

async fn operator(server: &TestServer) -> Owner {
    let c = &server.creds;
    let management_token = server.operator_token().await;
    Owner {
        tenant: c.tenant_id.clone(),
        object_id: claims(&management_token)["oid"].as_str().unwrap().to_owned(),
        vault_token: server
            .token_for(&c.tenant_id, &c.client_id, &c.client_secret, &vault_scope(server))
            .await,
        management_token,
    }
}

async fn create_vault_as(
    server: &TestServer,
    owner: &Owner,
    subscription: &str,
    group: &str,
    name: &str,
    location: &str,
    purge_protection: bool,
) -> Vault {
    let mut properties = json!({
        "tenantId": owner.tenant,
        "sku": {"family": "A", "name": "standard"},
        "enableSoftDelete": true,
        "softDeleteRetentionInDays": 7,
        "enableRbacAuthorization": false,
        "accessPolicies": [{"tenantId": owner.tenant, "objectId": owner.object_id, "permissions": {"keys": ["all"]}}],
    });
    if purge_protection {
        properties["enablePurgeProtection"] = json!(true);
    }
    let path =
        format!("/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}");
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("{path}?{VAULTS_API}"),
            Some(&owner.management_token),
            Some(&json!({"location": location, "properties": properties}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Vault {
        path,
        uri: body["properties"]["vaultUri"].as_str().unwrap().to_owned(),
    }
}

/// A vault of the operator in the default subscription and resource group.
async fn create_vault(server: &TestServer, name: &str, location: &str, purge_protection: bool) -> Vault {
    let c = &server.creds;
    create_vault_as(
        server,
        &operator(server).await,
        &c.subscription_id,
        &c.resource_group,
        name,
        location,
        purge_protection,
    )
    .await
}

async fn vault_call(
    server: &TestServer,
    vault: &Vault,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .request(method, format!("{}{path}?{KEYS_API}", vault.base()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A vault data-plane call as the operator, with a fresh token (the dev clock may have moved).
async fn kv(
    server: &TestServer,
    vault: &Vault,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let token = operator(server).await.vault_token;
    vault_call(server, vault, &token, method, path, body).await
}

async fn create_key(server: &TestServer, vault: &Vault, name: &str, kty: &str, size: u32) -> Value {
    let (status, bundle) = kv(
        server,
        vault,
        Method::POST,
        &format!("/keys/{name}/create"),
        Some(json!({"kty": kty, "key_size": size})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    bundle
}

fn kid(bundle: &Value) -> String {
    bundle["key"]["kid"].as_str().unwrap().to_owned()
}

fn version(bundle: &Value) -> String {
    kid(bundle).rsplit('/').next().unwrap().to_owned()
}

/// Changes one principal's key permissions on a vault (`add`, `remove` or `replace`); returns the vault.
async fn set_key_access(
    server: &TestServer,
    vault: &Vault,
    kind: &str,
    object_id: &str,
    permissions: &[&str],
) -> Value {
    let body = json!({"properties": {"accessPolicies": [{
        "tenantId": server.creds.tenant_id, "objectId": object_id, "permissions": {"keys": permissions},
    }]}});
    let (status, vault) = server
        .arm(
            Method::PUT,
            &format!("{}/accessPolicies/{kind}?{VAULTS_API}", vault.path),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{vault}");
    vault
}

// ---- directory --------------------------------------------------------------------------------------------

/// A new subscription of the development tenant that the operator owns, with a resource group `group`.
async fn new_subscription(server: &TestServer, group: &str) -> String {
    let owner = operator(server).await.object_id;
    let (status, subscription) = server
        .arm(
            Method::POST,
            &format!("/cmk/admin/tenants/{}/subscriptions", server.creds.tenant_id),
            Some(&json!({"displayName": "another subscription", "ownerObjectId": owner}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{subscription}");
    let subscription = subscription["subscriptionId"].as_str().unwrap().to_owned();
    create_group(server, &server.operator_token().await, &subscription, group).await;
    subscription
}

/// An operator makes `principal` Owner of `subscription`.
async fn add_owner(server: &TestServer, subscription: &str, principal: &str) {
    let (status, body) = server
        .arm(
            Method::POST,
            &format!("/cmk/admin/subscriptions/{subscription}/owners"),
            Some(&json!({"principalId": principal}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn create_group(server: &TestServer, token: &str, subscription: &str, group: &str) {
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/subscriptions/{subscription}/resourcegroups/{group}?api-version=2021-04-01"),
            Some(token),
            Some(&json!({"location": LOCATION}).to_string()),
        )
        .await;
    assert!(status.is_success(), "creating resource group {group}: {status} {body}");
}

async fn advance_clock(server: &TestServer, seconds: i64) {
    let (status, body) = server
        .arm(
            Method::POST,
            "/cmk/admin/clock/advance",
            Some(&json!({"seconds": seconds}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// ---- data plane -------------------------------------------------------------------------------------------

enum Auth<'a> {
    Key(&'a str),
    Bearer(&'a str),
    Anonymous,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn describe(&self) -> String {
        if self.body.len() < 2000 {
            format!("{} {}", self.status, String::from_utf8_lossy(&self.body))
        } else {
            format!("{} <{} bytes>", self.status, self.body.len())
        }
    }
}

async fn send(server: &TestServer, method: Method, url: &str, auth: Auth<'_>, body: Option<(&[u8], &str)>) -> Reply {
    let mut request = server.client.request(method, url);
    request = match auth {
        Auth::Key(key) => request.header("Ocp-Apim-Subscription-Key", key),
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Anonymous => request,
    };
    if let Some((data, content_type)) = body {
        request = request.header("content-type", content_type).body(data.to_vec());
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

async fn put(server: &TestServer, account: &Account, name: &str, data: &[u8], content_type: &str) -> Reply {
    send(
        server,
        Method::PUT,
        &account.content_url(name),
        Auth::Key(&account.key),
        Some((data, content_type)),
    )
    .await
}

async fn get(server: &TestServer, account: &Account, name: &str) -> Reply {
    send(
        server,
        Method::GET,
        &account.content_url(name),
        Auth::Key(&account.key),
        None,
    )
    .await
}

async fn list(server: &TestServer, account: &Account, query: &str) -> Reply {
    send(
        server,
        Method::GET,
        &format!("{}/content?{query}", account.endpoint),
        Auth::Key(&account.key),
        None,
    )
    .await
}

/// Stores every object (each one new) and checks what the service answers.
async fn store_objects(server: &TestServer, account: &Account, objects: &Objects) {
    for (name, (data, content_type)) in objects {
        let reply = put(server, account, name, data, content_type).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "storing {name}: {}",
            reply.describe()
        );
        let body = reply.json();
        assert_eq!(body["name"], name.as_str());
        assert_eq!(body["size"], data.len());
        assert_eq!(body["contentType"], content_type.as_str());
        assert!(body["etag"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
}

async fn assert_readable(
    server: &TestServer,
    account: &Account,
    name: &str,
    data: &[u8],
    content_type: &str,
    context: &str,
) {
    let reply = get(server, account, name).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{context}: reading {name}: {}",
        reply.describe()
    );
    assert!(
        reply.body == data,
        "{context}: {name} read back {} bytes that differ from the {} stored",
        reply.body.len(),
        data.len()
    );
    assert_eq!(reply.header("content-type"), Some(content_type), "{context}: {name}");
    assert_eq!(
        reply.header("content-length"),
        Some(data.len().to_string().as_str()),
        "{context}: {name}"
    );
}

async fn assert_all_readable(server: &TestServer, account: &Account, objects: &Objects, context: &str) {
    for (name, (data, content_type)) in objects {
        assert_readable(server, account, name, data, content_type, context).await;
    }
}

// ---- customer-managed keys --------------------------------------------------------------------------------

/// An E0 account whose content is under an RSA-2048 key (version pinned) in a purge-protected vault of the
/// same tenant and region, its identity granted get, wrapKey and unwrapKey; content stored before and after
/// the switch.
struct CmkAccount {
    account: Account,
    vault: Vault,
    key: Value,
    principal: String,
    objects: Objects,
}

async fn cmk_account(server: &TestServer, tag: &str) -> CmkAccount {
    let vault = create_vault(server, &format!("kv-{tag}"), LOCATION, true).await;
    let key = create_key(server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account(server, &format!("acct-{tag}"), "E0").await;
    let mut objects = Objects::new();
    objects.insert(
        "docs/hello.txt".into(),
        (b"stored under Microsoft-managed keys\n".to_vec(), "text/plain".into()),
    );
    store_objects(server, &account, &objects).await;

    let principal = enable_identity(server, &account).await;
    set_key_access(server, &vault, "add", &principal, &IDENTITY_PERMISSIONS).await;
    let (status, body) = use_customer_key(server, &account, &vault.uri, "cmk", &version(&key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let encryption = &body["properties"]["encryption"];
    assert_eq!(encryption["keySource"], CUSTOMER_KEYS, "{body}");
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&key)
    );
    assert_eq!(encryption["keyAccess"]["state"], "Accessible", "{body}");

    let after: Objects = [
        (
            "data/two-chunks.bin".to_owned(),
            (random_bytes(MIB + 17), "application/octet-stream".to_owned()),
        ),
        ("empty".to_owned(), (Vec::new(), "application/octet-stream".to_owned())),
    ]
    .into_iter()
    .collect();
    store_objects(server, &account, &after).await;
    objects.extend(after);
    assert_all_readable(server, &account, &objects, "under the customer's key").await;
    CmkAccount {
        account,
        vault,
        key,
        principal,
        objects,
    }
}

const PROBE: &str = "docs/hello.txt";

/// After a revocation whose call returned at `since`: the data plane refuses within [`REVOCATION_LIMIT`]
/// (polling every 20 ms); until then the content still reads back intact.
async fn await_refused(server: &TestServer, account: &Account, objects: &Objects, since: Instant, what: &str) {
    let expected = &objects[PROBE].0;
    let elapsed = loop {
        let reply = get(server, account, PROBE).await;
        let elapsed = since.elapsed();
        if reply.status == StatusCode::FORBIDDEN {
            assert_eq!(
                arm_code(&reply.json()),
                INACCESSIBLE,
                "after {what}: {}",
                reply.describe()
            );
            break elapsed;
        }
        assert!(
            reply.status == StatusCode::OK && reply.body == *expected,
            "after {what}: until the revocation is seen, {PROBE} reads back intact; got {}",
            reply.describe()
        );
        assert!(
            elapsed < OBSERVE_LIMIT,
            "after {what}: {PROBE} was still readable {elapsed:?} later"
        );
        tokio::time::sleep(REVOCATION_POLL).await;
    };
    eprintln!("[accounts] refused {elapsed:?} after {what}");
    assert!(
        elapsed <= REVOCATION_LIMIT,
        "after {what}: the data plane took {elapsed:?} to refuse access (limit {REVOCATION_LIMIT:?})"
    );
}

/// While inaccessible: every data-plane call answers 403 CustomerManagedKeyInaccessible naming `reason`, nothing
/// is written, and ARM shows keyAccess Inaccessible with `reason` while keeping the key configuration. Returns
/// the name of a refused upload, which must never appear.
async fn assert_inaccessible(
    server: &TestServer,
    account: &Account,
    objects: &Objects,
    what: &str,
    reason: &str,
) -> String {
    let expect_refused = |reply: &Reply, call: &str| {
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "after {what}: {call}: {}",
            reply.describe()
        );
        assert_error(
            reply.status,
            &reply.json(),
            StatusCode::FORBIDDEN,
            INACCESSIBLE,
            &format!("inaccessible ({reason})"),
        );
    };
    for name in objects.keys() {
        expect_refused(&get(server, account, name).await, "GET");
    }
    let head = send(
        server,
        Method::HEAD,
        &account.content_url(PROBE),
        Auth::Key(&account.key),
        None,
    )
    .await;
    // A HEAD answer has no body to carry the code; its status is the refusal.
    assert_eq!(head.status, StatusCode::FORBIDDEN, "after {what}: HEAD");
    let refused = format!("refused/{}.txt", what.replace(' ', "-"));
    expect_refused(
        &put(server, account, &refused, b"must not be stored", "text/plain").await,
        "PUT",
    );
    let delete = send(
        server,
        Method::DELETE,
        &account.content_url(PROBE),
        Auth::Key(&account.key),
        None,
    )
    .await;
    expect_refused(&delete, "DELETE");
    expect_refused(&list(server, account, "").await, "list");

    let deadline = Instant::now() + ARM_GRACE;
    let encryption = loop {
        let encryption = read_account(server, account).await["properties"]["encryption"].clone();
        if encryption["keyAccess"]["state"] == "Inaccessible" || Instant::now() > deadline {
            break encryption;
        }
        tokio::time::sleep(RECOVERY_POLL).await;
    };
    let access = &encryption["keyAccess"];
    assert_eq!(access["state"], "Inaccessible", "after {what}: {encryption}");
    assert_eq!(access["reason"], reason, "after {what}: {encryption}");
    assert!(
        access["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{encryption}"
    );
    assert!(access["since"].is_string(), "{encryption}");
    assert_eq!(
        encryption["keySource"], CUSTOMER_KEYS,
        "after {what}: the account keeps its key configuration"
    );
    refused
}

/// After access came back at `since`: within [`RECOVERY_LIMIT`] every object reads back byte-identical, the
/// uploads refused meanwhile do not exist, and ARM shows keyAccess Accessible.
async fn await_readable(
    server: &TestServer,
    account: &Account,
    objects: &Objects,
    refused: &[String],
    since: Instant,
    what: &str,
) -> Duration {
    let elapsed = loop {
        let reply = get(server, account, PROBE).await;
        if reply.status == StatusCode::OK {
            break since.elapsed();
        }
        assert_eq!(
            (reply.status, arm_code(&reply.json())),
            (StatusCode::FORBIDDEN, INACCESSIBLE),
            "after {what}: while recovering: {}",
            reply.describe()
        );
        assert!(
            since.elapsed() < RECOVERY_LIMIT,
            "after {what}: not readable again within {RECOVERY_LIMIT:?}; ARM says {}",
            read_account(server, account).await["properties"]["encryption"]
        );
        tokio::time::sleep(RECOVERY_POLL).await;
    };
    eprintln!("[accounts] readable again {elapsed:?} after restoring access ({what})");
    assert_all_readable(server, account, objects, &format!("after {what}")).await;
    for name in refused {
        let reply = get(server, account, name).await;
        assert_error(
            reply.status,
            &reply.json(),
            StatusCode::NOT_FOUND,
            "ContentNotFound",
            name,
        );
    }
    let deadline = Instant::now() + ARM_GRACE;
    loop {
        let encryption = read_account(server, account).await["properties"]["encryption"].clone();
        if encryption["keyAccess"] == json!({"state": "Accessible"}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {what}: keyAccess should be Accessible again: {encryption}"
        );
        tokio::time::sleep(RECOVERY_POLL).await;
    }
    elapsed
}

// ---- raw storage ------------------------------------------------------------------------------------------

async fn open_store(data_dir: &Path) -> SqliteStore {
    SqliteStore::open(&data_dir.join("cmk.db")).await.unwrap()
}

async fn all_entries(store: &dyn Store, prefix: &str) -> Vec<cmk_store::Entry> {
    const PAGE: usize = 8;
    let mut entries: Vec<cmk_store::Entry> = Vec::new();
    loop {
        let after = entries.last().map(|e| e.key.clone());
        let page = store.list(prefix, after.as_deref(), PAGE).await.unwrap();
        let done = page.len() < PAGE;
        entries.extend(page);
        if done {
            return entries;
        }
    }
}

/// The stored account record (`accounts/records/...`) of the account named `name`.
async fn account_record(store: &dyn Store, name: &str) -> Value {
    all_entries(store, "accounts/records/")
        .await
        .iter()
        .map(|e| serde_json::from_slice::<Value>(&e.value).unwrap())
        .find(|record| record["name"] == name)
        .unwrap_or_else(|| panic!("no stored record of account {name}"))
}

/// Every stored entry of an account's content (object records and chunks), by key.
async fn content_snapshot(store: &dyn Store, internal_id: &str) -> BTreeMap<String, Vec<u8>> {
    all_entries(store, &format!("content/{internal_id}/"))
        .await
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect()
}

/// The authenticated data of a chunk (crates/cmk-account/src/content.rs, `chunk_aad`).
fn chunk_aad(internal_id: &str, object_id: &str, data_key_version: u64, index: u64, last: bool) -> Vec<u8> {
    format!(
        "cmk content v1:{internal_id}:{object_id}:{data_key_version}:{index}:{}",
        u8::from(last)
    )
    .into_bytes()
}

/// An object's stored record and its chunks, in order.
async fn stored_object(store: &dyn Store, internal_id: &str, name: &str) -> (Value, Vec<Vec<u8>>) {
    let record = store
        .get(&format!("content/{internal_id}/o/{name}"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no stored record of object {name}"));
    let object: Value = serde_json::from_slice(&record.value).unwrap();
    let object_id = object["objectId"].as_str().unwrap();
    let chunks: Vec<Vec<u8>> = all_entries(store, &format!("content/{internal_id}/c/{object_id}/"))
        .await
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(chunks.len() as u64, object["chunkCount"].as_u64().unwrap(), "{object}");
    (object, chunks)
}

/// Opens every chunk of a stored object with `data_key` and joins the plaintext.
fn decrypt_object(data_key: &DataKey, internal_id: &str, object: &Value, chunks: &[Vec<u8>]) -> Vec<u8> {
    let object_id = object["objectId"].as_str().unwrap();
    let version = object["dataKeyVersion"].as_u64().unwrap();
    let mut plain = Vec::new();
    for (index, chunk) in chunks.iter().enumerate() {
        let last = index + 1 == chunks.len();
        let aad = chunk_aad(internal_id, object_id, version, index as u64, last);
        plain.extend(data_key.open(&aad, chunk.clone()).unwrap());
    }
    plain
}

// ---- S1: always encrypted at rest; the data plane ----------------------------------------------------------

#[tokio::test]
async fn s1_content_and_data_key_are_never_stored_in_plaintext() {
    let server = TestServer::start().await;
    let account = create_account(&server, "plain", "S0").await;
    let encryption = &read_account(&server, &account).await["properties"]["encryption"];
    assert_eq!(*encryption, json!({"keySource": PLATFORM_KEYS}));

    let canary = b"S1 canary: this sentence is customer content and is never stored in the clear. ";
    let large: Vec<u8> = canary.iter().copied().cycle().take(2 * MIB + MIB / 2).collect();
    let small = b"S1 small canary 7f3a9c: top secret".to_vec();
    let objects: Objects = [
        ("docs/large.txt".to_owned(), (large.clone(), "text/plain".to_owned())),
        ("docs/small.txt".to_owned(), (small.clone(), "text/plain".to_owned())),
    ]
    .into_iter()
    .collect();
    store_objects(&server, &account, &objects).await;
    assert_all_readable(&server, &account, &objects, "under Microsoft-managed keys").await;

    let dir = server.stop().await;
    // The WAL first: a checkpoint moves its pages into the main file, never the other way.
    let mut files = Vec::new();
    for file in ["cmk.db-wal", "cmk.db"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            files.push((file, bytes));
        }
    }
    assert!(files.iter().any(|(file, _)| *file == "cmk.db"));

    // (a) No plaintext of the content, anywhere in the database files.
    for (file, bytes) in &files {
        assert!(!contains(bytes, &canary[..40]), "the content's plaintext is in {file}");
        assert!(
            !contains(bytes, b"S1 small canary 7f3a9c"),
            "the content's plaintext is in {file}"
        );
    }

    // (b) The data key is stored only sealed under the root key, and it opens the stored chunks.
    let store = open_store(dir.path()).await;
    let record = account_record(&store, "plain").await;
    assert_eq!(record["dataKey"]["by"], "platform", "{}", record["dataKey"]);
    let internal_id = record["internalId"].as_str().unwrap();
    let data_key_version = record["dataKeyVersion"].as_u64().unwrap();
    let (root_key, created) = RootKey::load_or_create(&dir.path().join("root.key")).unwrap();
    assert!(!created, "the server's root key is in the data folder");
    let sealed = b64url_decode(record["dataKey"]["sealed"].as_str().unwrap()).unwrap();
    let data_key_bytes = root_key
        .unseal(&format!("account data key:{internal_id}:{data_key_version}"), &sealed)
        .unwrap();
    assert_eq!(data_key_bytes.len(), 32);
    for (file, bytes) in &files {
        assert!(
            !contains(bytes, data_key_bytes.expose()),
            "the data key is in {file} in the clear"
        );
        assert!(
            !contains(bytes, b64url_encode(data_key_bytes.expose()).as_bytes()),
            "the data key is in {file}, base64url-encoded"
        );
    }
    let data_key = DataKey::from_bytes(data_key_bytes.expose()).unwrap();

    let (object, chunks) = stored_object(&store, internal_id, "docs/large.txt").await;
    assert_eq!(chunks.len(), 3, "2.5 MiB are stored in 1 MiB chunks");
    assert_eq!(chunks[0].len(), MIB + 28, "a chunk is its plaintext, a nonce and a tag");
    assert!(decrypt_object(&data_key, internal_id, &object, &chunks) == large);
    let object_id = object["objectId"].as_str().unwrap();
    let first = data_key
        .open(
            &chunk_aad(internal_id, object_id, data_key_version, 0, false),
            chunks[0].clone(),
        )
        .unwrap();
    assert!(first == large[..MIB], "chunk 0 opens with the data key");
    assert!(
        data_key
            .open(
                &chunk_aad(internal_id, object_id, data_key_version, 1, false),
                chunks[0].clone()
            )
            .is_err(),
        "the authenticated data binds a chunk to its place: chunk 0 does not open as chunk 1"
    );

    // The scan above did see stored data: the small object's sealed chunk is in the files as stored.
    let (object, chunks) = stored_object(&store, internal_id, "docs/small.txt").await;
    assert!(decrypt_object(&data_key, internal_id, &object, &chunks) == small);
    assert!(files.iter().any(|(_, bytes)| contains(bytes, &chunks[0])));
    store.close().await;
}

#[tokio::test]
async fn s1_the_data_plane_stores_reads_lists_and_deletes_encrypted_content() {
    let server = TestServer::start().await;
    let account = create_account(&server, "data", "S0").await;

    let reply = put(&server, &account, "empty", b"", "application/octet-stream").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.describe());
    assert_eq!(reply.json()["size"], 0);
    let reply = get(&server, &account, "empty").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.describe());
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("content-length"), Some("0"));

    let first = put(&server, &account, "docs/a.txt", b"first\n", "text/plain").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let replaced = put(&server, &account, "docs/a.txt", b"second, longer\n", "text/plain").await;
    assert_eq!(
        replaced.status,
        StatusCode::OK,
        "replacing answers 200: {}",
        replaced.describe()
    );
    let replaced = replaced.json();
    assert_ne!(replaced["etag"], first.json()["etag"]);
    assert!(replaced["lastModified"].is_string());
    for (name, data, content_type) in [
        ("docs/b.json", &b"{\"b\": 1}"[..], "application/json"),
        ("docs/c.txt", b"c", "text/plain"),
        ("docs/d.bin", b"\x00\x01\x02", "application/octet-stream"),
        ("other/x.txt", b"x", "text/plain"),
        ("names/with space.txt", b"spaced", "text/plain"),
    ] {
        let reply = put(&server, &account, name, data, content_type).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{name}: {}", reply.describe());
    }

    let reply = get(&server, &account, "docs/a.txt").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, b"second, longer\n");
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.header("etag"), replaced["etag"].as_str());
    assert_readable(
        &server,
        &account,
        "names/with space.txt",
        b"spaced",
        "text/plain",
        "spaces",
    )
    .await;

    let head = send(
        &server,
        Method::HEAD,
        &account.content_url("docs/b.json"),
        Auth::Key(&account.key),
        None,
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), Some("8"));
    assert_eq!(head.header("content-type"), Some("application/json"));
    assert!(head.header("etag").is_some());

    // Listing: a prefix, pages of two, and the nextLink that continues.
    let names = |page: &Value| -> Vec<String> {
        page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = list(&server, &account, "prefix=docs/&top=2").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    let page = page.json();
    assert_eq!(names(&page), ["docs/a.txt", "docs/b.json"]);
    assert_eq!(page["value"][0]["size"], 15);
    let next = page["nextLink"].as_str().expect("a first page of two has a nextLink");
    assert!(next.starts_with(&format!("{}/content?", account.endpoint)), "{next}");
    let rest = send(&server, Method::GET, next, Auth::Key(&account.key), None).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.describe());
    let rest = rest.json();
    assert_eq!(names(&rest), ["docs/c.txt", "docs/d.bin"]);
    assert!(rest.get("nextLink").is_none(), "the last page has no nextLink: {rest}");
    let other = list(&server, &account, "prefix=other/").await.json();
    assert_eq!(names(&other), ["other/x.txt"]);
    assert_eq!(names(&list(&server, &account, "").await.json()).len(), 7);
    let reply = list(&server, &account, "top=0").await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        "whole number from 1 to 1000",
    );

    let reply = get(&server, &account, "docs/missing").await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::NOT_FOUND,
        "ContentNotFound",
        "'docs/missing' was not found",
    );
    let delete = send(
        &server,
        Method::DELETE,
        &account.content_url("docs/b.json"),
        Auth::Key(&account.key),
        None,
    )
    .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.describe());
    let reply = get(&server, &account, "docs/b.json").await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::NOT_FOUND,
        "ContentNotFound",
        "docs/b.json",
    );
    let again = send(
        &server,
        Method::DELETE,
        &account.content_url("docs/b.json"),
        Auth::Key(&account.key),
        None,
    )
    .await;
    assert_error(
        again.status,
        &again.json(),
        StatusCode::NOT_FOUND,
        "ContentNotFound",
        "docs/b.json",
    );
    assert_eq!(
        names(&list(&server, &account, "prefix=docs/").await.json()),
        ["docs/a.txt", "docs/c.txt", "docs/d.bin"]
    );
}

#[tokio::test]
async fn s1_the_data_plane_needs_an_account_key_or_a_token_of_the_accounts_tenant() {
    let server = TestServer::start().await;
    let account = create_account(&server, "auth", "S0").await;
    let reply = put(&server, &account, "secret.txt", b"for callers with a key", "text/plain").await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let url = account.content_url("secret.txt");

    let anonymous = send(&server, Method::GET, &url, Auth::Anonymous, None).await;
    assert_error(
        anonymous.status,
        &anonymous.json(),
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "missing subscription key or bearer token",
    );
    let wrong = send(&server, Method::GET, &url, Auth::Key(&"0".repeat(32)), None).await;
    assert_error(
        wrong.status,
        &wrong.json(),
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "invalid subscription key",
    );
    let key2 = list_keys(&server, &account.path).await["key2"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = send(&server, Method::GET, &url, Auth::Key(&key2), None).await;
    assert_eq!(reply.status, StatusCode::OK, "key2 works too");

    // A bearer token for the cognitive-services audience, from a principal of the account's tenant: it needs a
    // data role on the account (owning the subscription grants no data access), then it reads.
    let c = &server.creds;
    let scope = format!("https://cognitiveservices.localhost:{}/.default", server.addr.port());
    let token = server
        .token_for(&c.tenant_id, &c.client_id, &c.client_secret, &scope)
        .await;
    let reply = send(&server, Method::GET, &url, Auth::Bearer(&token), None).await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::FORBIDDEN,
        "PermissionDenied",
        "Microsoft.CognitiveServices/accounts/OpenAI/files/read",
    );
    let operator_oid = operator(&server).await.object_id;
    server
        .assign_role(&account.path, roles::COGNITIVE_SERVICES_USER, &operator_oid)
        .await;
    let reply = send(&server, Method::GET, &url, Auth::Bearer(&token), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.describe());
    assert_eq!(reply.body, b"for callers with a key");

    // A token for another audience, or from another tenant, is refused.
    let management = server.operator_token().await;
    let reply = send(&server, Method::GET, &url, Auth::Bearer(&management), None).await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "The access token is invalid",
    );
    let (tenant_b, _, client_b, secret_b) = server.second_customer().await;
    let foreign = server.token_for(&tenant_b, &client_b, &secret_b, &scope).await;
    let reply = send(&server, Method::GET, &url, Auth::Bearer(&foreign), None).await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "The access token is invalid",
    );

    // A regenerated key replaces the old one.
    let (status, keys) = server
        .arm(
            Method::POST,
            &format!("{}/regenerateKey?{ACCOUNTS_API}", account.path),
            Some(r#"{"keyName":"Key1"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_ne!(keys["key1"], account.key.as_str());
    let old = send(&server, Method::GET, &url, Auth::Key(&account.key), None).await;
    assert_error(
        old.status,
        &old.json(),
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "invalid subscription key",
    );
    let new = send(
        &server,
        Method::GET,
        &url,
        Auth::Key(keys["key1"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test]
async fn s1_a_deleted_account_keeps_its_encrypted_content_until_restored_or_purged() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let account = create_account(&server, "gone", "S0").await;
    let objects: Objects = [
        (
            "keep.txt".to_owned(),
            (b"kept while deleted".to_vec(), "text/plain".to_owned()),
        ),
        (
            "big.bin".to_owned(),
            (random_bytes(MIB + 3), "application/octet-stream".to_owned()),
        ),
    ]
    .into_iter()
    .collect();
    store_objects(&server, &account, &objects).await;

    let (status, _) = server.arm(Method::DELETE, &account.arm(), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.arm(Method::GET, &account.arm(), None).await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "accounts/gone",
    );
    let (status, _) = server.arm(Method::DELETE, &account.arm(), None).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "deleting a missing account is not an error"
    );
    let reply = get(&server, &account, "keep.txt").await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "No account answers at the subdomain 'gone'",
    );

    let deleted_list = format!(
        "/subscriptions/{}/providers/Microsoft.CognitiveServices/deletedAccounts?{ACCOUNTS_API}",
        c.subscription_id
    );
    let (status, listed) = server.arm(Method::GET, &deleted_list, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["value"][0]["name"], "gone", "{listed}");
    let deleted = format!(
        "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{LOCATION}/resourceGroups/{}/deletedAccounts/gone?{ACCOUNTS_API}",
        c.subscription_id, c.resource_group
    );
    let (status, body) = server.arm(Method::GET, &deleted, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["id"].as_str().unwrap().ends_with("/deletedAccounts/gone"),
        "{body}"
    );
    assert!(body["properties"]["deletionDate"].is_string(), "{body}");
    assert!(body["properties"]["scheduledPurgeDate"].is_string(), "{body}");

    // The name stays taken until the account is restored or purged.
    let definition = account_definition("gone", "S0");
    let (status, body) = server
        .arm(Method::PUT, &account.arm(), Some(&definition.to_string()))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "FlagMustBeSetForRestore",
        "you must specify 'restore' to be 'true'",
    );
    let mut restore = definition.clone();
    restore["properties"]["restore"] = json!(true);
    let (status, body) = server
        .arm(Method::PUT, &account.arm(), Some(&restore.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], account.id.as_str());
    assert_all_readable(&server, &account, &objects, "after the restore").await;

    // Purged, the name is free, and the new account starts empty.
    server.arm(Method::DELETE, &account.arm(), None).await;
    let (status, body) = server.arm(Method::DELETE, &deleted, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.arm(Method::GET, &deleted, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound", "gone");
    let (status, listed) = server.arm(Method::GET, &deleted_list, None).await;
    assert_eq!((status, listed["value"].clone()), (StatusCode::OK, json!([])));
    let reborn = create_account(&server, "gone", "S0").await;
    let reply = list(&server, &reborn, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["value"], json!([]), "a purged account's content is gone");
    let reply = get(&server, &reborn, "keep.txt").await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::NOT_FOUND,
        "ContentNotFound",
        "keep.txt",
    );
}

// ---- S2–S6: the rules of switching customer-managed keys on ------------------------------------------------

#[tokio::test]
async fn s2_customer_keys_are_refused_on_creation_and_switched_on_by_an_update() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let vault = create_vault(&server, "kv-create", LOCATION, true).await;
    let key = create_key(&server, &vault, "cmk", "RSA", 2048).await;

    let mut definition = account_definition("early", "E0");
    definition["identity"] = json!({"type": "SystemAssigned"});
    definition["properties"]["encryption"] = json!({
        "keySource": CUSTOMER_KEYS,
        "keyVaultProperties": {"keyName": "cmk", "keyVersion": version(&key), "keyVaultUri": vault.uri},
    });
    let path = account_path(&c.subscription_id, &c.resource_group, "early");
    let (status, body) = server
        .arm(
            Method::PUT,
            &format!("{path}?{ACCOUNTS_API}"),
            Some(&definition.to_string()),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "CustomerManagedKeyNotAllowedOnCreate",
        "cannot be set when an account is created",
    );
    let (status, body) = server.arm(Method::GET, &format!("{path}?{ACCOUNTS_API}"), None).await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "accounts/early",
    );

    // Created with Microsoft-managed keys (the identity may come with it), then switched on by an update.
    definition["properties"]["encryption"] = json!({"keySource": PLATFORM_KEYS});
    let account = create_account_from(&server, &c.subscription_id, &c.resource_group, "early", definition).await;
    let created = read_account(&server, &account).await;
    let principal = created["identity"]["principalId"].as_str().unwrap().to_owned();
    set_key_access(&server, &vault, "add", &principal, &IDENTITY_PERMISSIONS).await;
    let (status, body) = use_customer_key(&server, &account, &vault.uri, "cmk", &version(&key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let encryption = &read_account(&server, &account).await["properties"]["encryption"];
    assert_eq!(encryption["keySource"], CUSTOMER_KEYS, "{encryption}");
    assert_eq!(encryption["keyVaultProperties"]["keyName"], "cmk");
    assert_eq!(encryption["keyVaultProperties"]["keyVersion"], version(&key));
    assert_eq!(encryption["keyVaultProperties"]["keyVaultUri"], vault.uri);
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&key)
    );
    assert_eq!(encryption["keyAccess"], json!({"state": "Accessible"}));
}

#[tokio::test]
async fn s3_customer_keys_need_the_e0_sku() {
    let server = TestServer::start().await;
    let vault = create_vault(&server, "kv-sku", LOCATION, true).await;
    let key = create_key(&server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account(&server, "standard", "S0").await;
    let principal = enable_identity(&server, &account).await;
    set_key_access(&server, &vault, "add", &principal, &IDENTITY_PERMISSIONS).await;
    let key_version = version(&key);
    let target = (vault.uri.as_str(), "cmk", key_version.as_str());

    assert_customer_key_refused(
        &server,
        &account,
        target,
        "CustomerManagedKeyRequiresE0Sku",
        "need the E0 pricing tier, and the account's SKU is 'S0'",
    )
    .await;

    let (status, body) = patch_account(&server, &account, json!({"sku": {"name": "E0"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = use_customer_key(&server, &account, target.0, target.1, target.2).await;
    assert_eq!(status, StatusCode::OK, "with sku E0 the same key is accepted: {body}");
    assert_eq!(body["properties"]["encryption"]["keySource"], CUSTOMER_KEYS);

    // And an account on a customer key cannot leave E0.
    let (status, body) = patch_account(&server, &account, json!({"sku": {"name": "S0"}})).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "needs the E0 pricing tier",
    );
}

#[tokio::test]
async fn s4_vaults_in_another_region_or_tenant_are_refused() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let account = create_account(&server, "placed", "E0").await;
    let principal = enable_identity(&server, &account).await;

    // Another region.
    let east = create_vault(&server, "kv-east", OTHER_LOCATION, true).await;
    let east_key = create_key(&server, &east, "cmk", "RSA", 2048).await;
    set_key_access(&server, &east, "add", &principal, &IDENTITY_PERMISSIONS).await;
    assert_customer_key_refused(
        &server,
        &account,
        (&east.uri, "cmk", &version(&east_key)),
        "KeyVaultInOtherRegion",
        "is in region 'eastus', but the account is in 'westus2'",
    )
    .await;

    // Another tenant: its own subscription, principal and vault.
    let (tenant_b, subscription_b, client_b, secret_b) = server.second_customer().await;
    let management_b = server
        .token_for(&tenant_b, &client_b, &secret_b, &c.management_scope)
        .await;
    let owner_b = Owner {
        tenant: tenant_b.clone(),
        object_id: claims(&management_b)["oid"].as_str().unwrap().to_owned(),
        vault_token: server
            .token_for(&tenant_b, &client_b, &secret_b, &vault_scope(&server))
            .await,
        management_token: management_b,
    };
    create_group(&server, &owner_b.management_token, &subscription_b, "rg-b").await;
    let foreign = create_vault_as(&server, &owner_b, &subscription_b, "rg-b", "kv-foreign", LOCATION, true).await;
    let (status, foreign_key) = vault_call(
        &server,
        &foreign,
        &owner_b.vault_token,
        Method::POST,
        "/keys/cmk/create",
        Some(json!({"kty": "RSA", "key_size": 2048})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{foreign_key}");
    assert_customer_key_refused(
        &server,
        &account,
        (&foreign.uri, "cmk", &version(&foreign_key)),
        "KeyVaultInOtherTenant",
        &format!(
            "belongs to tenant '{tenant_b}', but the account belongs to tenant '{}'",
            c.tenant_id
        ),
    )
    .await;
}

#[tokio::test]
async fn s4_a_vault_in_another_subscription_of_the_same_tenant_is_accepted() {
    let server = TestServer::start().await;
    let subscription = new_subscription(&server, "rg-keys").await;
    assert_ne!(subscription, server.creds.subscription_id);
    let vault = create_vault_as(
        &server,
        &operator(&server).await,
        &subscription,
        "rg-keys",
        "kv-elsewhere",
        LOCATION,
        true,
    )
    .await;
    let key = create_key(&server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account(&server, "nearby", "E0").await;
    let objects: Objects = [(
        "a.txt".to_owned(),
        (b"across subscriptions".to_vec(), "text/plain".to_owned()),
    )]
    .into_iter()
    .collect();
    store_objects(&server, &account, &objects).await;
    let principal = enable_identity(&server, &account).await;
    set_key_access(&server, &vault, "add", &principal, &IDENTITY_PERMISSIONS).await;

    let (status, body) = use_customer_key(&server, &account, &vault.uri, "cmk", &version(&key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let encryption = &body["properties"]["encryption"];
    assert_eq!(encryption["keySource"], CUSTOMER_KEYS);
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&key)
    );
    assert_all_readable(&server, &account, &objects, "under a key of another subscription").await;
}

#[tokio::test]
async fn s5_vaults_without_purge_protection_are_refused() {
    let server = TestServer::start().await;
    let unprotected = create_vault(&server, "kv-nopurge", LOCATION, false).await;
    let key = create_key(&server, &unprotected, "cmk", "RSA", 2048).await;
    assert_eq!(key["attributes"]["recoveryLevel"], "CustomizedRecoverable+Purgeable");
    let account = create_account(&server, "guarded", "E0").await;
    let principal = enable_identity(&server, &account).await;
    // Purge protection shows in the key's recovery level, which the identity reads once it may get the key.
    set_key_access(&server, &unprotected, "add", &principal, &IDENTITY_PERMISSIONS).await;
    assert_customer_key_refused(
        &server,
        &account,
        (&unprotected.uri, "cmk", &version(&key)),
        "KeyVaultPurgeProtectionRequired",
        "must have soft delete and purge protection enabled (its keys' recovery level is 'CustomizedRecoverable+Purgeable')",
    )
    .await;

    let protected = create_vault(&server, "kv-purgeproof", LOCATION, true).await;
    let key = create_key(&server, &protected, "cmk", "RSA", 2048).await;
    assert_eq!(key["attributes"]["recoveryLevel"], "CustomizedRecoverable");
    set_key_access(&server, &protected, "add", &principal, &IDENTITY_PERMISSIONS).await;
    let (status, body) = use_customer_key(&server, &account, &protected.uri, "cmk", &version(&key)).await;
    assert_eq!(status, StatusCode::OK, "a purge-protected vault is accepted: {body}");
}

#[tokio::test]
async fn s6_only_rsa_2048_keys_are_accepted_so_rsa_hsm_2048_is_and_ec_is_not() {
    let server = TestServer::start().await;
    let vault = create_vault(&server, "kv-sizes", LOCATION, true).await;
    let rsa3072 = create_key(&server, &vault, "rsa3072", "RSA", 3072).await;
    let ec256 = create_key(&server, &vault, "ec256", "EC", 256).await;
    let hsm2048 = create_key(&server, &vault, "hsm2048", "RSA-HSM", 2048).await;
    assert_eq!(hsm2048["key"]["kty"], "RSA-HSM");
    let account = create_account(&server, "sized", "E0").await;
    let objects: Objects = [(
        "a.txt".to_owned(),
        (b"under an HSM key".to_vec(), "text/plain".to_owned()),
    )]
    .into_iter()
    .collect();
    store_objects(&server, &account, &objects).await;
    let principal = enable_identity(&server, &account).await;
    set_key_access(&server, &vault, "add", &principal, &IDENTITY_PERMISSIONS).await;

    assert_customer_key_refused(
        &server,
        &account,
        (&vault.uri, "rsa3072", &version(&rsa3072)),
        "UnsupportedKeySize",
        "has 3072 bits; customer-managed keys must be RSA keys of size 2048",
    )
    .await;

    assert_customer_key_refused(
        &server,
        &account,
        (&vault.uri, "ec256", &version(&ec256)),
        "UnsupportedKeyType",
        "has type 'EC'; customer-managed keys must be RSA or RSA-HSM keys of size 2048",
    )
    .await;

    let (status, body) = use_customer_key(&server, &account, &vault.uri, "hsm2048", &version(&hsm2048)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["properties"]["encryption"]["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&hsm2048)
    );
    assert_all_readable(&server, &account, &objects, "under the RSA-HSM key").await;
}

// ---- S7: the identity and its permissions ------------------------------------------------------------------

#[tokio::test]
async fn s7_switching_on_needs_the_identity_with_get_wrap_key_and_unwrap_key() {
    let server = TestServer::start().await;
    let vault = create_vault(&server, "kv-perms", LOCATION, true).await;
    let key = create_key(&server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account(&server, "permitted", "E0").await;
    let key_version = version(&key);
    let target = (vault.uri.as_str(), "cmk", key_version.as_str());

    assert_customer_key_refused(
        &server,
        &account,
        target,
        "IdentityNotEnabled",
        "need the account's system-assigned managed identity",
    )
    .await;

    let principal = enable_identity(&server, &account).await;
    let (status, info) = server
        .arm(
            Method::GET,
            &format!("/cmk/admin/managedIdentities?resourceId={}", account.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(
        info["principalId"],
        principal.as_str(),
        "the identity is registered in the directory"
    );

    for (granted, missing) in [
        (&[][..], "get"),
        (&["get"][..], "wrapKey"),
        (&["wrapKey"][..], "unwrapKey"),
    ] {
        if !granted.is_empty() {
            set_key_access(&server, &vault, "add", &principal, granted).await;
        }
        assert_customer_key_refused(
            &server,
            &account,
            target,
            "KeyVaultAccessDenied",
            &format!("does not have keys {missing} permission"),
        )
        .await;
        let (_, body) = use_customer_key(&server, &account, target.0, target.1, target.2).await;
        assert!(
            message(&body).contains(&principal),
            "the refusal names the identity: {body}"
        );
        assert!(
            message(&body).contains("grant the identity the key permissions get, wrapKey and unwrapKey"),
            "{body}"
        );
    }

    set_key_access(&server, &vault, "add", &principal, &["unwrapKey"]).await;
    let (status, body) = use_customer_key(&server, &account, target.0, target.1, target.2).await;
    assert_eq!(status, StatusCode::OK, "with get, wrapKey and unwrapKey: {body}");
    assert_eq!(body["properties"]["encryption"]["keySource"], CUSTOMER_KEYS);
}

#[tokio::test]
async fn s7_the_portal_call_enables_the_identity_grants_access_and_switches_the_key_on() {
    let server = TestServer::start().await;
    let vault = create_vault(&server, "kv-portal", LOCATION, true).await;
    let key = create_key(&server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account(&server, "portal", "E0").await;
    let objects: Objects = [("a.txt".to_owned(), (b"one step".to_vec(), "text/plain".to_owned()))]
        .into_iter()
        .collect();
    store_objects(&server, &account, &objects).await;
    assert_eq!(
        read_account(&server, &account).await["identity"],
        json!({"type": "None"})
    );

    let (status, body) = server
        .arm(
            Method::POST,
            "/cmk/admin/configureCustomerManagedKey",
            Some(&json!({"accountId": account.id, "keyVaultUri": vault.uri, "keyName": "cmk"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["identity"]["type"], "SystemAssigned", "{body}");
    let principal = body["identity"]["principalId"].as_str().unwrap().to_owned();
    let encryption = &body["properties"]["encryption"];
    assert_eq!(encryption["keySource"], CUSTOMER_KEYS, "{body}");
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&key)
    );
    assert_eq!(encryption["keyAccess"], json!({"state": "Accessible"}));

    let (status, vault_now) = server
        .arm(Method::GET, &format!("{}?{VAULTS_API}", vault.path), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let granted: BTreeSet<String> = vault_now["properties"]["accessPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["objectId"] == principal.as_str())
        .unwrap_or_else(|| panic!("no access policy for the identity {principal}: {vault_now}"))["permissions"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(granted, IDENTITY_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect());
    assert_all_readable(&server, &account, &objects, "after the portal call").await;
}

#[tokio::test]
async fn s7_the_accounts_identity_gets_tokens_the_way_azure_compute_does() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let mut definition = account_definition("workload", "S0");
    definition["identity"] = json!({"type": "SystemAssigned"});
    let account = create_account_from(&server, &c.subscription_id, &c.resource_group, "workload", definition).await;
    let principal = read_account(&server, &account).await["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, info) = server
        .arm(
            Method::GET,
            &format!("/cmk/admin/managedIdentities?resourceId={}", account.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["principalId"], principal.as_str());
    assert_eq!(info["tenantId"], c.tenant_id.as_str());
    assert_eq!(info["resourceId"], account.id.as_str());
    assert_eq!(info["identityEndpoint"], format!("{}/msi/token", c.authority));
    let secret = info["identityHeader"].as_str().unwrap().to_owned();
    assert_eq!(info["imdsAuthorityHost"], format!("{}/msi/{secret}", c.authority));
    let client_id = info["clientId"].as_str().unwrap().to_owned();
    let vault_resource = format!("https://vault.localhost:{}", server.addr.port());
    let check_token = |token: &str| {
        let claims = claims(token);
        assert_eq!(claims["xms_mirid"], account.id.as_str(), "{claims}");
        assert_eq!(
            claims["appidacr"], "2",
            "a managed identity authenticates with a certificate: {claims}"
        );
        assert_eq!(claims["oid"], principal.as_str(), "{claims}");
        assert_eq!(claims["tid"], c.tenant_id.as_str(), "{claims}");
        assert_eq!(claims["aud"], vault_resource.as_str(), "{claims}");
    };

    // App Service protocol.
    let app_service = format!(
        "{}?api-version=2019-08-01&resource={vault_resource}",
        info["identityEndpoint"].as_str().unwrap()
    );
    let response = server
        .client
        .get(&app_service)
        .header("X-IDENTITY-HEADER", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["expires_on"].as_str().is_some_and(|t| t.parse::<i64>().is_ok()),
        "expires_on is a string of Unix seconds: {body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], vault_resource.as_str());
    assert_eq!(body["client_id"], client_id.as_str());
    let token = body["access_token"].as_str().unwrap().to_owned();
    check_token(&token);
    let response = server
        .client
        .get(&app_service)
        .header("X-IDENTITY-HEADER", "not-the-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 401);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("identity secret is missing or not valid"),
        "{body}"
    );

    // IMDS protocol.
    let imds = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={vault_resource}",
        info["imdsAuthorityHost"].as_str().unwrap()
    );
    let response = server
        .client
        .get(&imds)
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    for field in ["expires_in", "expires_on", "not_before"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    check_token(body["access_token"].as_str().unwrap());
    let response = server.client.get(&imds).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], "Required metadata header not specified");
    let wrong = imds.replace(&secret, "not-the-secret");
    let response = server
        .client
        .get(&wrong)
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("identity secret is missing or not valid"),
        "{body}"
    );

    // The vault knows the identity (its token authenticates) but grants it nothing without an access policy.
    let vault = create_vault(&server, "kv-identity", LOCATION, true).await;
    let (status, body) = vault_call(&server, &vault, &token, Method::GET, "/keys", None).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "Forbidden",
        "does not have keys list permission",
    );
    assert!(message(&body).contains(&principal), "{body}");

    // Disabled, the identity gets no more tokens.
    let (status, body) = patch_account(&server, &account, json!({"identity": {"type": "None"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = server
        .client
        .get(&app_service)
        .header("X-IDENTITY-HEADER", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Identity not found: the managed identity was disabled"),
        "{body}"
    );
}

// ---- S8–S11: losing and regaining access -------------------------------------------------------------------

#[tokio::test]
async fn s8_disabling_the_identity_makes_the_data_inaccessible_until_a_new_identity_is_granted() {
    let server = TestServer::start().await;
    let cmk = cmk_account(&server, "identity").await;
    let account = &cmk.account;

    let (status, body) = patch_account(&server, account, json!({"identity": {"type": "None"}})).await;
    let disabled = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["identity"], json!({"type": "None"}));
    await_refused(&server, account, &cmk.objects, disabled, "identity disable").await;
    let refused = assert_inaccessible(&server, account, &cmk.objects, "identity disable", "IdentityDisabled").await;
    let encryption = &read_account(&server, account).await["properties"]["encryption"];
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&cmk.key),
        "nothing about the key is forgotten: {encryption}"
    );
    let (status, body) = server
        .arm(
            Method::GET,
            &format!("/cmk/admin/managedIdentities?resourceId={}", account.id),
            None,
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "IdentityNotEnabled",
        "has no managed identity",
    );

    // A new identity is a new principal, without access until it is granted.
    let principal = enable_identity(&server, account).await;
    assert_ne!(principal, cmk.principal, "a re-enabled identity is a new principal");
    let reply = get(&server, account, PROBE).await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::FORBIDDEN,
        INACCESSIBLE,
        "inaccessible (IdentityDisabled)",
    );
    set_key_access(&server, &cmk.vault, "add", &principal, &IDENTITY_PERMISSIONS).await;
    await_readable(
        &server,
        account,
        &cmk.objects,
        &[refused],
        Instant::now(),
        "identity disable",
    )
    .await;
}

#[tokio::test]
async fn s9_moving_the_subscription_to_another_tenant_stops_the_customer_key_until_it_moves_back() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let subscription = new_subscription(&server, "rg-moving").await;
    let vault = create_vault(&server, "kv-move", LOCATION, true).await;
    let key = create_key(&server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account_from(
        &server,
        &subscription,
        "rg-moving",
        "mover",
        account_definition("mover", "E0"),
    )
    .await;
    let objects: Objects = [
        (
            "a.txt".to_owned(),
            (b"before the move".to_vec(), "text/plain".to_owned()),
        ),
        (
            "b.bin".to_owned(),
            (random_bytes(MIB + 1), "application/octet-stream".to_owned()),
        ),
    ]
    .into_iter()
    .collect();
    let principal = enable_identity(&server, &account).await;
    set_key_access(&server, &vault, "add", &principal, &IDENTITY_PERMISSIONS).await;
    let (status, body) = use_customer_key(&server, &account, &vault.uri, "cmk", &version(&key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    store_objects(&server, &account, &objects).await;
    let (status, identity) = server
        .arm(
            Method::GET,
            &format!("/cmk/admin/managedIdentities?resourceId={}", account.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{identity}");
    let identity_token_url = format!(
        "{}?api-version=2019-08-01&resource=https://vault.localhost:{}",
        identity["identityEndpoint"].as_str().unwrap(),
        server.addr.port()
    );
    let identity_secret = identity["identityHeader"].as_str().unwrap().to_owned();

    let (tenant_b, _, client_b, secret_b) = server.second_customer().await;
    let (status, moved) = server
        .arm(
            Method::POST,
            &format!("/cmk/admin/subscriptions/{subscription}/move"),
            Some(&json!({"tenantId": tenant_b}).to_string()),
        )
        .await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["tenantId"], tenant_b.as_str());
    assert_eq!(moved["subscriptionId"], subscription.as_str());

    let reply = loop {
        let reply = get(&server, &account, "a.txt").await;
        if reply.status != StatusCode::OK || since.elapsed() > OBSERVE_LIMIT {
            break reply;
        }
        tokio::time::sleep(REVOCATION_POLL).await;
    };
    assert!(
        since.elapsed() <= REVOCATION_LIMIT,
        "the move took {:?} to show",
        since.elapsed()
    );
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::FORBIDDEN,
        INACCESSIBLE,
        "inaccessible (IdentityInOtherTenant)",
    );
    let reply = get(&server, &account, "b.bin").await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::FORBIDDEN,
        INACCESSIBLE,
        "inaccessible (IdentityInOtherTenant)",
    );

    // The account now answers to the other tenant's principals, and tells why its key is out of reach; the
    // identity stayed in the tenant it was registered in.
    let (status, body) = server.arm(Method::GET, &account.arm(), None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationTokenTenant",
        &format!("must match the tenant '{tenant_b}'"),
    );
    // Role assignments do not move with a subscription (as in Azure): the new tenant's principal can do nothing
    // there until an operator names it Owner.
    let token_b = server
        .token_for(&tenant_b, &client_b, &secret_b, &c.management_scope)
        .await;
    let (status, body) = server.call(Method::GET, &account.arm(), Some(&token_b), None).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        "accounts/read",
    );
    let oid_b = claims(&token_b)["oid"].as_str().unwrap().to_owned();
    add_owner(&server, &subscription, &oid_b).await;
    let (status, body) = server.call(Method::GET, &account.arm(), Some(&token_b), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = &body["properties"]["encryption"]["keyAccess"];
    assert_eq!(access["state"], "Inaccessible", "{body}");
    assert_eq!(access["reason"], "IdentityInOtherTenant", "{body}");
    assert_eq!(body["identity"]["tenantId"], c.tenant_id.as_str(), "{body}");
    // The identity itself gets no token any more: its resource's subscription left its tenant.
    let response = server
        .client
        .get(&identity_token_url)
        .header("X-IDENTITY-HEADER", &identity_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let refused: Value = response.json().await.unwrap();
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("moved to tenant '{tenant_b}'"))),
        "{refused}"
    );

    let (status, back) = server
        .arm(
            Method::POST,
            &format!("/cmk/admin/subscriptions/{subscription}/move"),
            Some(&json!({"tenantId": c.tenant_id}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["tenantId"], c.tenant_id.as_str());
    add_owner(&server, &subscription, &operator(&server).await.object_id).await;
    let since = Instant::now();
    loop {
        let reply = get(&server, &account, "a.txt").await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert!(
            since.elapsed() < RECOVERY_LIMIT,
            "not readable within {RECOVERY_LIMIT:?} of moving back: {}",
            reply.describe()
        );
        tokio::time::sleep(RECOVERY_POLL).await;
    }
    assert_all_readable(&server, &account, &objects, "after moving back").await;
    assert_eq!(
        read_account(&server, &account).await["properties"]["encryption"]["keyAccess"],
        json!({"state": "Accessible"})
    );
}

#[tokio::test]
async fn s10_rotation_rewraps_the_data_key_and_reencrypts_nothing() {
    let server = TestServer::start().await;
    let mut cmk = cmk_account(&server, "rotate").await;
    let account = cmk.account.clone();
    let big: Objects = [(
        "data/three-chunks.bin".to_owned(),
        (random_bytes(2 * MIB + 333), "application/octet-stream".to_owned()),
    )]
    .into_iter()
    .collect();
    store_objects(&server, &account, &big).await;
    cmk.objects.extend(big);
    let v1 = cmk.key.clone();

    // Read next to the running server; nothing is written through this handle.
    let store = open_store(server.dir.path()).await;
    let before = account_record(&store, "acct-rotate").await;
    let internal_id = before["internalId"].as_str().unwrap().to_owned();
    assert_eq!(before["dataKey"]["by"], "customer");
    assert_eq!(before["dataKey"]["kid"], kid(&v1));
    let content_before = content_snapshot(&store, &internal_id).await;
    let (_, chunks) = stored_object(&store, &internal_id, "data/three-chunks.bin").await;
    assert_eq!(chunks.len(), 3);
    let (_, chunks) = stored_object(&store, &internal_id, "data/two-chunks.bin").await;
    assert_eq!(chunks.len(), 2);

    let (status, v2) = kv(&server, &cmk.vault, Method::POST, "/keys/cmk/rotate", None).await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_ne!(kid(&v2), kid(&v1));
    let encryption = &read_account(&server, &account).await["properties"]["encryption"];
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&v1),
        "an account pinned to a version stays on it until it is updated"
    );

    let (status, body) = use_customer_key(&server, &account, &cmk.vault.uri, "cmk", &version(&v2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let encryption = &read_account(&server, &account).await["properties"]["encryption"];
    assert_eq!(encryption["keyVaultProperties"]["keyVersion"], version(&v2));
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&v2)
    );
    assert_eq!(encryption["keyAccess"], json!({"state": "Accessible"}));
    assert_all_readable(&server, &account, &cmk.objects, "after the rotation").await;

    // Only the wrapped data key changed: every stored object record and chunk is byte for byte the same.
    let after = account_record(&store, "acct-rotate").await;
    assert_eq!(after["dataKey"]["kid"], kid(&v2));
    assert_ne!(after["dataKey"]["wrapped"], before["dataKey"]["wrapped"]);
    assert_eq!(
        after["dataKeyVersion"], before["dataKeyVersion"],
        "the data key itself did not change"
    );
    let content_after = content_snapshot(&store, &internal_id).await;
    assert_eq!(
        content_after.keys().collect::<Vec<_>>(),
        content_before.keys().collect::<Vec<_>>()
    );
    for (key, value) in &content_before {
        assert!(content_after[key] == *value, "{key} was rewritten by the rotation");
    }

    // The old version still unwraps the old wrapped data key, to the same key the new version unwraps.
    let unwrap = |bundle: &Value, wrapped: &Value| {
        let path = format!("/keys/cmk/{}/unwrapkey", version(bundle));
        let body = json!({"alg": "RSA-OAEP-256", "value": wrapped});
        let server = &server;
        let vault = &cmk.vault;
        async move {
            let (status, body) = kv(server, vault, Method::POST, &path, Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            b64url_decode(body["value"].as_str().unwrap()).unwrap()
        }
    };
    let old = unwrap(&v1, &before["dataKey"]["wrapped"]).await;
    let new = unwrap(&v2, &after["dataKey"]["wrapped"]).await;
    assert_eq!(old.len(), 32);
    assert!(old == new, "the rotation re-wrapped the same data key");
    let data_key = DataKey::from_bytes(&old).unwrap();
    let (object, chunks) = stored_object(&store, &internal_id, "data/three-chunks.bin").await;
    assert!(
        decrypt_object(&data_key, &internal_id, &object, &chunks) == cmk.objects["data/three-chunks.bin"].0,
        "the chunks stored before the rotation open with the unchanged data key"
    );
    store.close().await;

    let reply = put(&server, &account, "after/rotation.txt", b"new content", "text/plain").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.describe());
}

#[tokio::test]
async fn s10_an_account_following_the_latest_version_rewraps_by_itself_after_a_rotation() {
    let server = TestServer::start().await;
    let cmk = cmk_account(&server, "latest").await;
    let account = &cmk.account;
    let (status, body) = use_customer_key(&server, account, &cmk.vault.uri, "cmk", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let properties = &body["properties"]["encryption"]["keyVaultProperties"];
    assert_eq!(properties["keyVersion"], "", "{body}");
    assert_eq!(properties["currentVersionedKeyIdentifier"], kid(&cmk.key));

    for round in 0..2 {
        let (status, rotated) = kv(&server, &cmk.vault, Method::POST, "/keys/cmk/rotate", None).await;
        let since = Instant::now();
        assert_eq!(status, StatusCode::OK, "{rotated}");
        loop {
            let encryption = read_account(&server, account).await["properties"]["encryption"].clone();
            if encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"] == kid(&rotated) {
                assert_eq!(encryption["keyVaultProperties"]["keyVersion"], "");
                assert_eq!(encryption["keyAccess"], json!({"state": "Accessible"}));
                break;
            }
            assert!(
                since.elapsed() < RECOVERY_LIMIT,
                "rotation {round}: the account did not re-wrap under {} within {RECOVERY_LIMIT:?}: {encryption}",
                kid(&rotated)
            );
            tokio::time::sleep(RECOVERY_POLL).await;
        }
        assert_all_readable(&server, account, &cmk.objects, "after following the rotation").await;
    }
}

#[tokio::test]
async fn s11_removing_the_access_policy_blocks_all_data_until_access_is_granted_again() {
    let server = TestServer::start().await;
    let cmk = cmk_account(&server, "policy").await;
    let account = &cmk.account;
    set_key_access(&server, &cmk.vault, "remove", &cmk.principal, &IDENTITY_PERMISSIONS).await;
    await_refused(&server, account, &cmk.objects, Instant::now(), "access policy removal").await;
    let refused = assert_inaccessible(&server, account, &cmk.objects, "access policy removal", "AccessDenied").await;
    set_key_access(&server, &cmk.vault, "add", &cmk.principal, &IDENTITY_PERMISSIONS).await;
    await_readable(
        &server,
        account,
        &cmk.objects,
        &[refused],
        Instant::now(),
        "access policy removal",
    )
    .await;
}

#[tokio::test]
async fn s11_disabling_the_key_blocks_all_data_until_it_is_enabled_again() {
    let server = TestServer::start().await;
    let cmk = cmk_account(&server, "disable").await;
    let account = &cmk.account;
    let path = format!("/keys/cmk/{}", version(&cmk.key));
    let (status, body) = kv(
        &server,
        &cmk.vault,
        Method::PATCH,
        &path,
        Some(json!({"attributes": {"enabled": false}})),
    )
    .await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    await_refused(&server, account, &cmk.objects, since, "key disable").await;
    let refused = assert_inaccessible(&server, account, &cmk.objects, "key disable", "KeyDisabled").await;
    let (status, body) = kv(
        &server,
        &cmk.vault,
        Method::PATCH,
        &path,
        Some(json!({"attributes": {"enabled": true}})),
    )
    .await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    await_readable(&server, account, &cmk.objects, &[refused], since, "key disable").await;
}

#[tokio::test]
async fn s11_deleting_the_key_blocks_all_data_until_it_is_recovered() {
    let server = TestServer::start().await;
    let cmk = cmk_account(&server, "delete").await;
    let account = &cmk.account;
    let (status, body) = kv(&server, &cmk.vault, Method::DELETE, "/keys/cmk", None).await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    await_refused(&server, account, &cmk.objects, since, "key delete").await;
    let refused = assert_inaccessible(&server, account, &cmk.objects, "key delete", "KeyNotFound").await;
    let (status, body) = kv(&server, &cmk.vault, Method::POST, "/deletedkeys/cmk/recover", None).await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    await_readable(&server, account, &cmk.objects, &[refused], since, "key delete").await;
}

#[tokio::test]
async fn s11_a_key_purged_after_its_retention_leaves_the_data_inaccessible_but_nothing_is_deleted() {
    let server = TestServer::start().await;
    let cmk = cmk_account(&server, "purged").await;
    let account = &cmk.account;
    let store = open_store(server.dir.path()).await;
    let internal_id = account_record(&store, "acct-purged").await["internalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let content_before = content_snapshot(&store, &internal_id).await;

    let (status, body) = kv(&server, &cmk.vault, Method::DELETE, "/keys/cmk", None).await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    await_refused(&server, account, &cmk.objects, since, "key delete").await;
    assert_inaccessible(&server, account, &cmk.objects, "key delete", "KeyNotFound").await;
    // Purge protection: nobody may purge the key before its retention ends...
    let (status, body) = kv(&server, &cmk.vault, Method::DELETE, "/deletedkeys/cmk", None).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "Forbidden",
        "not allowed because purge protection is enabled",
    );

    // ...but the service purges it when the retention ends (seven days, on the development clock).
    advance_clock(&server, 8 * 86_400).await;
    let since = Instant::now();
    loop {
        let (status, body) = kv(&server, &cmk.vault, Method::GET, "/deletedkeys/cmk", None).await;
        if status == StatusCode::NOT_FOUND {
            assert_eq!(arm_code(&body), "KeyNotFound", "{body}");
            break;
        }
        assert!(
            since.elapsed() < RECOVERY_LIMIT,
            "the deleted key was not purged: {status} {body}"
        );
        tokio::time::sleep(RECOVERY_POLL).await;
    }
    let (status, body) = kv(&server, &cmk.vault, Method::POST, "/deletedkeys/cmk/recover", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "KeyNotFound", "cmk");

    // A new key of the same name is another key: it cannot unwrap the data key, so access stays lost, through
    // the vault's change events and the next poll.
    create_key(&server, &cmk.vault, "cmk", "RSA", 2048).await;
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    assert_inaccessible(&server, account, &cmk.objects, "key purge", "KeyNotFound").await;

    // Nothing of the account was deleted: its record, its key configuration and every stored byte remain.
    let encryption = &read_account(&server, account).await["properties"]["encryption"];
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid(&cmk.key)
    );
    let content_after = content_snapshot(&store, &internal_id).await;
    assert_eq!(
        content_after.keys().collect::<Vec<_>>(),
        content_before.keys().collect::<Vec<_>>(),
        "no stored object or chunk was deleted"
    );
    assert!(content_after == content_before, "no stored object or chunk changed");
    store.close().await;
}

#[tokio::test]
async fn subdomains_are_unique_and_names_and_ids_are_checked() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let first = create_account(&server, "shared-sub", "S0").await;

    // Another account cannot take a subdomain in use.
    let path = account_path(&c.subscription_id, &c.resource_group, "second-account");
    let (status, body) = server
        .arm(
            Method::PUT,
            &format!("{path}?{ACCOUNTS_API}"),
            Some(&account_definition("shared-sub", "S0").to_string()),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "CustomDomainInUse",
        "'shared-sub' is already in use",
    );

    // Object names: at most 256 characters.
    let reply = put(&server, &first, &"n".repeat(257), b"x", "text/plain").await;
    assert_error(
        reply.status,
        &reply.json(),
        StatusCode::BAD_REQUEST,
        "InvalidContentName",
        "1 to 256 characters",
    );

    // The identity secret is asked for by account id.
    let (status, body) = server
        .arm(
            Method::GET,
            "/cmk/admin/managedIdentities?resourceId=/subscriptions/x",
            None,
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "InvalidResourceId",
        "is not an account id",
    );
}

// ---- customer-managed keys in a vault that uses Azure RBAC ------------------------------------------------

/// A vault with Azure RBAC and purge protection; the operator holds Key Vault Crypto Officer on it (owning the
/// subscription grants no data access).
async fn create_rbac_vault(server: &TestServer, name: &str) -> Vault {
    let c = &server.creds;
    let path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{name}",
        c.subscription_id, c.resource_group
    );
    let properties = json!({
        "tenantId": c.tenant_id, "sku": {"family": "A", "name": "standard"},
        "enableRbacAuthorization": true, "enablePurgeProtection": true, "softDeleteRetentionInDays": 7,
    });
    let (status, body) = server
        .arm(
            Method::PUT,
            &format!("{path}?{VAULTS_API}"),
            Some(&json!({"location": LOCATION, "properties": properties}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["properties"]["enableRbacAuthorization"], true);
    server
        .assign_role(
            &path,
            roles::KEY_VAULT_CRYPTO_OFFICER,
            &operator(server).await.object_id,
        )
        .await;
    Vault {
        path,
        uri: body["properties"]["vaultUri"].as_str().unwrap().to_owned(),
    }
}

/// An E0 account with content under a key of an RBAC vault, its identity holding Key Vault Crypto Service
/// Encryption User on the key; returns it and the role assignment's id.
async fn rbac_cmk_account(server: &TestServer, tag: &str) -> (CmkAccount, String) {
    let vault = create_rbac_vault(server, &format!("kv-{tag}")).await;
    let key = create_key(server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account(server, &format!("acct-{tag}"), "E0").await;
    let principal = enable_identity(server, &account).await;
    let key_scope = format!("{}/keys/cmk", vault.path);

    // S7 in this model: without the role the switch is refused and says which role is missing.
    let (status, body) = use_customer_key(server, &account, &vault.uri, "cmk", "").await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "KeyVaultAccessDenied",
        "DeniedWithNoValidRBAC",
    );
    assert!(
        message(&body).contains("assign the identity the role Key Vault Crypto Service Encryption User"),
        "{body}"
    );
    assert!(message(&body).contains("Microsoft.KeyVault/vaults/keys/read"), "{body}");

    let assignment = server
        .assign_role(&key_scope, roles::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, &principal)
        .await;
    let (status, body) = use_customer_key(server, &account, &vault.uri, "cmk", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["properties"]["encryption"]["keyAccess"]["state"], "Accessible",
        "{body}"
    );
    let objects: Objects = [
        (
            "docs/hello.txt".to_owned(),
            (b"under a key of an RBAC vault\n".to_vec(), "text/plain".to_owned()),
        ),
        (
            "data/big.bin".to_owned(),
            (random_bytes(MIB + 5), "application/octet-stream".to_owned()),
        ),
    ]
    .into_iter()
    .collect();
    store_objects(server, &account, &objects).await;
    assert_all_readable(server, &account, &objects, "under the RBAC vault's key").await;
    (
        CmkAccount {
            account,
            vault,
            key,
            principal,
            objects,
        },
        assignment,
    )
}

#[tokio::test]
async fn s11_deleting_the_identitys_role_assignment_blocks_all_data_until_a_role_is_granted_again() {
    let server = TestServer::start().await;
    let (cmk, assignment) = rbac_cmk_account(&server, "rbac-revoke").await;
    let account = &cmk.account;
    let (status, body) = server
        .arm(Method::DELETE, &format!("{assignment}?api-version=2022-04-01"), None)
        .await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    await_refused(&server, account, &cmk.objects, since, "role assignment deletion").await;
    let refused = assert_inaccessible(
        &server,
        account,
        &cmk.objects,
        "role assignment deletion",
        "AccessDenied",
    )
    .await;

    // Any role that grants wrap and unwrap restores access; here Key Vault Crypto User on the whole vault.
    server
        .assign_role(&cmk.vault.path, "12338af0-0e69-4776-bea7-57ae8d297424", &cmk.principal)
        .await;
    await_readable(
        &server,
        account,
        &cmk.objects,
        &[refused],
        Instant::now(),
        "role assignment deletion",
    )
    .await;
}

#[tokio::test]
async fn s8_disabling_the_identity_of_an_rbac_vault_account_blocks_its_data_and_removes_its_roles() {
    let server = TestServer::start().await;
    let (cmk, _) = rbac_cmk_account(&server, "rbac-identity").await;
    let (status, body) = patch_account(&server, &cmk.account, json!({"identity": {"type": "None"}})).await;
    let since = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    await_refused(&server, &cmk.account, &cmk.objects, since, "identity disabled").await;
    let (status, listed) = server
        .arm(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId%20eq%20%27{}%27",
                cmk.vault.path, cmk.principal
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed["value"],
        json!([]),
        "the deleted identity's role assignments went with it"
    );
}

#[tokio::test]
async fn s7_the_portal_call_assigns_the_encryption_role_on_an_rbac_vault() {
    let server = TestServer::start().await;
    let vault = create_rbac_vault(&server, "kv-portal-rbac").await;
    create_key(&server, &vault, "cmk", "RSA", 2048).await;
    let account = create_account(&server, "portal-rbac", "E0").await;
    let (status, body) = server
        .arm(
            Method::POST,
            "/cmk/admin/configureCustomerManagedKey",
            Some(&json!({"accountId": account.id, "keyVaultUri": vault.uri, "keyName": "cmk"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["properties"]["encryption"]["keyAccess"]["state"], "Accessible",
        "{body}"
    );
    let principal = body["identity"]["principalId"].as_str().unwrap();
    let (status, listed) = server
        .arm(
            Method::GET,
            &format!(
                "{}/keys/cmk/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()",
                vault.path
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let granted: Vec<&Value> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["properties"]["principalId"] == principal)
        .collect();
    assert_eq!(granted.len(), 1, "{listed}");
    assert!(
        granted[0]["properties"]["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with(roles::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER)
    );
    assert_eq!(granted[0]["properties"]["scope"], format!("{}/keys/cmk", vault.path));
}
