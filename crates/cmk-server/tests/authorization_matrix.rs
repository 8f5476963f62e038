//! The authorization matrix: Azure's built-in roles, each assigned at each scope (the subscription, the resource
//! group, the vault, the account, one key of the vault) to a principal of its own, against the operations of
//! both planes, over HTTPS. What each role grants is written down here by hand from Azure's role definitions; the
//! test asserts the status and code of every call, and that a listing shows only what may be read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{Audience, Principal, TestServer, arm_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const GROUP: &str = "rg-matrix";
const VAULT: &str = "kv-matrix";
const ACCOUNT: &str = "acct-matrix";
const VAULTS_API: &str = "api-version=2026-05-15";
const ACCOUNTS_API: &str = "api-version=2024-10-01";
const KEYS_API: &str = "api-version=7.6";
const AUTHZ_API: &str = "api-version=2022-04-01";

/// Where an operation acts (and where a role must apply for it to be allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Group,
    Vault,
    Account,
    /// The key the key-scope assignments name.
    Key1,
    /// Another key of the same vault.
    Key2,
}

/// Where a role is assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Subscription,
    Group,
    Vault,
    Account,
    Key1,
}

impl At {
    const ALL: [At; 5] = [At::Subscription, At::Group, At::Vault, At::Account, At::Key1];

    /// Whether an assignment here applies to an operation on `target`: the same scope or one above it.
    fn covers(self, target: Target) -> bool {
        match self {
            At::Subscription | At::Group => true,
            At::Vault => matches!(target, Target::Vault | Target::Key1 | Target::Key2),
            At::Account => target == Target::Account,
            At::Key1 => target == Target::Key1,
        }
    }
}

/// The operations of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    GroupRead,
    GroupWrite,
    VaultRead,
    VaultWrite,
    AccessPolicyWrite,
    /// Assigning Reader on the vault to another principal.
    AssignReader,
    /// Assigning Key Vault Reader on the vault to another principal.
    AssignKeyVaultReader,
    AccountRead,
    AccountWrite,
    ListKeys,
    /// Listing the group's vaults shows this vault.
    VaultListed,
    KeyGet,
    OtherKeyGet,
    KeyList,
    KeyCreate,
    Wrap,
    Unwrap,
    Sign,
    ContentRead,
    ContentWrite,
}

impl Op {
    const ALL: [Op; 20] = [
        Op::GroupRead,
        Op::GroupWrite,
        Op::VaultRead,
        Op::VaultWrite,
        Op::AccessPolicyWrite,
        Op::AssignReader,
        Op::AssignKeyVaultReader,
        Op::AccountRead,
        Op::AccountWrite,
        Op::ListKeys,
        Op::VaultListed,
        Op::KeyGet,
        Op::OtherKeyGet,
        Op::KeyList,
        Op::KeyCreate,
        Op::Wrap,
        Op::Unwrap,
        Op::Sign,
        Op::ContentRead,
        Op::ContentWrite,
    ];

    fn target(self) -> Target {
        match self {
            Op::GroupRead | Op::GroupWrite => Target::Group,
            Op::VaultRead
            | Op::VaultWrite
            | Op::AccessPolicyWrite
            | Op::AssignReader
            | Op::AssignKeyVaultReader
            | Op::VaultListed
            | Op::KeyList
            | Op::KeyCreate => Target::Vault,
            Op::AccountRead | Op::AccountWrite | Op::ListKeys | Op::ContentRead | Op::ContentWrite => Target::Account,
            Op::KeyGet | Op::Wrap | Op::Unwrap | Op::Sign => Target::Key1,
            Op::OtherKeyGet => Target::Key2,
        }
    }
}

use Op::*;

/// What each built-in role grants, as Azure defines it, whatever the scope.
fn grants(role: &str) -> &'static [Op] {
    const MANAGEMENT_ALL: &[Op] = &[
        GroupRead,
        GroupWrite,
        VaultRead,
        VaultWrite,
        AccessPolicyWrite,
        AssignReader,
        AssignKeyVaultReader,
        AccountRead,
        AccountWrite,
        ListKeys,
        VaultListed,
    ];
    match role {
        "Owner" => MANAGEMENT_ALL,
        "Contributor" => &[
            GroupRead,
            GroupWrite,
            VaultRead,
            VaultWrite,
            AccessPolicyWrite,
            AccountRead,
            AccountWrite,
            ListKeys,
            VaultListed,
        ],
        "Reader" => &[GroupRead, VaultRead, AccountRead, VaultListed],
        "User Access Administrator" | "Role Based Access Control Administrator" => &[
            GroupRead,
            VaultRead,
            AccountRead,
            VaultListed,
            AssignReader,
            AssignKeyVaultReader,
        ],
        // The Key Vault data roles carry `vaults/*/read`, which is not `vaults/read`: they read the resource
        // group but not the vault resource itself.
        "Key Vault Administrator" | "Key Vault Crypto Officer" => {
            &[GroupRead, KeyGet, OtherKeyGet, KeyList, KeyCreate, Wrap, Unwrap, Sign]
        }
        "Key Vault Crypto User" => &[KeyGet, OtherKeyGet, KeyList, Wrap, Unwrap, Sign],
        "Key Vault Crypto Service Encryption User" => &[KeyGet, OtherKeyGet, KeyList, Wrap, Unwrap],
        "Key Vault Reader" => &[GroupRead, KeyGet, OtherKeyGet, KeyList],
        "Key Vault Contributor" => &[GroupRead, VaultRead, VaultWrite, AccessPolicyWrite, VaultListed],
        "Key Vault Data Access Administrator" => &[GroupRead, AssignKeyVaultReader],
        "Cognitive Services Contributor" => &[GroupRead, AccountRead, AccountWrite, ListKeys],
        "Cognitive Services User" => &[GroupRead, AccountRead, ListKeys, ContentRead, ContentWrite],
        "Cognitive Services Data Reader" => &[ContentRead],
        other => panic!("no expectations for {other}"),
    }
}

const ROLES: [&str; 15] = [
    "Owner",
    "Contributor",
    "Reader",
    "User Access Administrator",
    "Role Based Access Control Administrator",
    "Key Vault Administrator",
    "Key Vault Crypto Officer",
    "Key Vault Crypto User",
    "Key Vault Crypto Service Encryption User",
    "Key Vault Reader",
    "Key Vault Contributor",
    "Key Vault Data Access Administrator",
    "Cognitive Services Contributor",
    "Cognitive Services User",
    "Cognitive Services Data Reader",
];

/// The resources of the matrix, made by the operator.
struct World {
    subscription: String,
    vault_id: String,
    account_id: String,
    vault_base: String,
    content_base: String,
    /// A value wrapped by key k1, for the unwrap operation.
    wrapped: String,
    /// A principal the role-assignment operations name.
    bystander: String,
}

impl World {
    fn scope(&self, at: At) -> String {
        match at {
            At::Subscription => format!("/subscriptions/{}", self.subscription),
            At::Group => format!("/subscriptions/{}/resourceGroups/{GROUP}", self.subscription),
            At::Vault => self.vault_id.clone(),
            At::Account => self.account_id.clone(),
            At::Key1 => format!("{}/keys/k1", self.vault_id),
        }
    }
}

async fn role_id(server: &TestServer, name: &str) -> String {
    let token = server.operator_token().await;
    let filter = serde_urlencoded::to_string([("$filter", format!("roleName eq '{name}'"))]).unwrap();
    let (status, found) = server
        .call(
            Method::GET,
            &format!(
                "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions?{AUTHZ_API}&{filter}",
                server.creds.subscription_id
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let roles = found["value"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "one built-in role is named {name}: {found}");
    roles[0]["name"].as_str().unwrap().to_owned()
}

async fn build_world(server: &TestServer) -> World {
    let c = &server.creds;
    let operator = server.operator_token().await;
    let subscription = c.subscription_id.clone();
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/subscriptions/{subscription}/resourcegroups/{GROUP}?api-version=2021-04-01"),
            Some(&operator),
            Some(r#"{"location":"westus2"}"#),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let vault_path =
        format!("/subscriptions/{subscription}/resourceGroups/{GROUP}/providers/Microsoft.KeyVault/vaults/{VAULT}");
    let (status, vault) = server
        .call(
            Method::PUT,
            &format!("{vault_path}?{VAULTS_API}"),
            Some(&operator),
            Some(
                &json!({"location": "westus2", "properties": {
                    "tenantId": c.tenant_id, "sku": {"family": "A", "name": "standard"},
                    "enableRbacAuthorization": true, "enablePurgeProtection": true, "softDeleteRetentionInDays": 7,
                }})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{vault}");
    assert_eq!(vault["properties"]["enableRbacAuthorization"], true, "{vault}");
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    let account_path = format!(
        "/subscriptions/{subscription}/resourceGroups/{GROUP}/providers/Microsoft.CognitiveServices/accounts/{ACCOUNT}"
    );
    let (status, account) = server
        .call(
            Method::PUT,
            &format!("{account_path}?{ACCOUNTS_API}"),
            Some(&operator),
            Some(
                &json!({"location": "westus2", "kind": "TextAnalytics", "sku": {"name": "E0"},
                    "properties": {"customSubDomainName": ACCOUNT}})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let world_operator = operator_principal(server).await;

    // The operator owns the subscription, which grants no data access: it takes data roles like anyone.
    let admin = role_id(server, "Key Vault Administrator").await;
    let content_user = role_id(server, "Cognitive Services User").await;
    server.assign_role(&vault_id, &admin, &world_operator).await;
    server
        .assign_role(account["id"].as_str().unwrap(), &content_user, &world_operator)
        .await;
    let vault_base = format!("https://{VAULT}.vault.localhost:{}", server.addr.port());
    let vault_token = server
        .token_for(
            &c.tenant_id,
            &c.client_id,
            &c.client_secret,
            &format!("https://vault.localhost:{}/.default", server.addr.port()),
        )
        .await;
    for key in ["k1", "k2"] {
        let (status, body) = vault_call(
            server,
            &vault_base,
            &vault_token,
            Method::POST,
            &format!("/keys/{key}/create"),
            Some(json!({"kty": "RSA"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, wrapped) = vault_call(
        server,
        &vault_base,
        &vault_token,
        Method::POST,
        "/keys/k1//wrapkey",
        Some(json!({"alg": "RSA-OAEP-256", "value": "AAECAwQFBgcICQoLDA0ODw"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{wrapped}");
    let content_base = format!("https://{ACCOUNT}.cognitiveservices.localhost:{}", server.addr.port());
    let content_token = server
        .token_for(
            &c.tenant_id,
            &c.client_id,
            &c.client_secret,
            &format!("https://cognitiveservices.localhost:{}/.default", server.addr.port()),
        )
        .await;
    let response = server
        .client
        .put(format!("{content_base}/content/seed.txt"))
        .bearer_auth(&content_token)
        .body("seed")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    World {
        subscription,
        vault_id,
        account_id: account["id"].as_str().unwrap().to_owned(),
        vault_base,
        content_base,
        wrapped: wrapped["value"].as_str().unwrap().to_owned(),
        bystander: server.principal("matrix bystander").await.object_id,
    }
}

async fn operator_principal(server: &TestServer) -> String {
    common::claims(&server.operator_token().await)["oid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn vault_call(
    server: &TestServer,
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .request(method, format!("{base}{path}?{KEYS_API}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The tokens of one principal.
struct Caller {
    management: String,
    vault: String,
    content: String,
}

/// Runs `op` as `caller`; returns whether it was allowed, after checking that a refusal has the right shape.
async fn attempt(server: &TestServer, world: &World, caller: &Caller, op: Op, label: &str) -> bool {
    let s = &world.subscription;
    let group = format!("/subscriptions/{s}/resourcegroups/{GROUP}");
    let tag = json!({"tags": {"touched": label}}).to_string();
    let (status, body) = match op {
        GroupRead => {
            server
                .call(
                    Method::GET,
                    &format!("{group}?api-version=2021-04-01"),
                    Some(&caller.management),
                    None,
                )
                .await
        }
        GroupWrite => {
            server
                .call(
                    Method::PUT,
                    &format!("{group}?api-version=2021-04-01"),
                    Some(&caller.management),
                    Some(r#"{"location":"westus2","tags":{"matrix":"yes"}}"#),
                )
                .await
        }
        VaultRead => {
            server
                .call(
                    Method::GET,
                    &format!("{}?{VAULTS_API}", world.vault_id),
                    Some(&caller.management),
                    None,
                )
                .await
        }
        VaultWrite => {
            server
                .call(
                    Method::PATCH,
                    &format!("{}?{VAULTS_API}", world.vault_id),
                    Some(&caller.management),
                    Some(&tag),
                )
                .await
        }
        AccessPolicyWrite => {
            let body = json!({"properties": {"accessPolicies": [{"tenantId": server.creds.tenant_id, "objectId": world.bystander, "permissions": {"keys": ["get"]}}]}});
            server
                .call(
                    Method::PUT,
                    &format!("{}/accessPolicies/add?{VAULTS_API}", world.vault_id),
                    Some(&caller.management),
                    Some(&body.to_string()),
                )
                .await
        }
        AssignReader | AssignKeyVaultReader => {
            let role = if op == AssignReader {
                "acdd72a7-3385-48ef-bd42-f606fba81ae7"
            } else {
                "21090545-7ca7-4776-b22c-e363652d74d2"
            };
            let name = cmk_crypto::random::random_uuid().unwrap();
            let body = json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                "principalId": world.bystander, "principalType": "ServicePrincipal"}});
            let (status, body) = server
                .call(
                    Method::PUT,
                    &format!(
                        "{}/providers/Microsoft.Authorization/roleAssignments/{name}?{AUTHZ_API}",
                        world.vault_id
                    ),
                    Some(&caller.management),
                    Some(&body.to_string()),
                )
                .await;
            // Leave no trace: the next principal may assign the same role again.
            if status == StatusCode::CREATED {
                let (deleted, _) = server
                    .call(
                        Method::DELETE,
                        &format!("{}?{AUTHZ_API}", body["id"].as_str().unwrap()),
                        Some(&caller.management),
                        None,
                    )
                    .await;
                assert_eq!(
                    deleted,
                    StatusCode::OK,
                    "{label}: the assigner deletes what it assigned"
                );
            }
            (status, body)
        }
        AccountRead => {
            server
                .call(
                    Method::GET,
                    &format!("{}?{ACCOUNTS_API}", world.account_id),
                    Some(&caller.management),
                    None,
                )
                .await
        }
        AccountWrite => {
            server
                .call(
                    Method::PATCH,
                    &format!("{}?{ACCOUNTS_API}", world.account_id),
                    Some(&caller.management),
                    Some(&tag),
                )
                .await
        }
        ListKeys => {
            server
                .call(
                    Method::POST,
                    &format!("{}/listKeys?{ACCOUNTS_API}", world.account_id),
                    Some(&caller.management),
                    None,
                )
                .await
        }
        VaultListed => {
            let (status, body) = server
                .call(
                    Method::GET,
                    &format!("{group}/providers/Microsoft.KeyVault/vaults?{VAULTS_API}"),
                    Some(&caller.management),
                    None,
                )
                .await;
            assert!(
                status == StatusCode::OK
                    || (status == StatusCode::FORBIDDEN && arm_code(&body) == "AuthorizationFailed"),
                "{label}: a listing answers 200 with what the caller may read, or 403: {status} {body}"
            );
            let listed = body["value"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x["name"] == VAULT));
            if status == StatusCode::OK {
                let names: BTreeSet<&str> = body["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|v| v["name"].as_str())
                    .collect();
                assert!(names.is_subset(&BTreeSet::from([VAULT])), "{label}: {names:?}");
            }
            return listed;
        }
        KeyGet => vault_call(server, &world.vault_base, &caller.vault, Method::GET, "/keys/k1", None).await,
        OtherKeyGet => vault_call(server, &world.vault_base, &caller.vault, Method::GET, "/keys/k2", None).await,
        KeyList => vault_call(server, &world.vault_base, &caller.vault, Method::GET, "/keys", None).await,
        KeyCreate => {
            let name = format!("made-{}", cmk_crypto::random::random_uuid().unwrap().simple());
            vault_call(
                server,
                &world.vault_base,
                &caller.vault,
                Method::POST,
                &format!("/keys/{name}/create"),
                Some(json!({"kty": "RSA"})),
            )
            .await
        }
        Wrap => {
            vault_call(
                server,
                &world.vault_base,
                &caller.vault,
                Method::POST,
                "/keys/k1//wrapkey",
                Some(json!({"alg": "RSA-OAEP-256", "value": "AAECAwQFBgcICQoLDA0ODw"})),
            )
            .await
        }
        Unwrap => {
            vault_call(
                server,
                &world.vault_base,
                &caller.vault,
                Method::POST,
                "/keys/k1//unwrapkey",
                Some(json!({"alg": "RSA-OAEP-256", "value": world.wrapped})),
            )
            .await
        }
        Sign => {
            vault_call(
                server,
                &world.vault_base,
                &caller.vault,
                Method::POST,
                "/keys/k1//sign",
                Some(json!({"alg": "RS256", "value": "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"})),
            )
            .await
        }
        ContentRead | ContentWrite => {
            let request = if op == ContentRead {
                server.client.get(format!("{}/content/seed.txt", world.content_base))
            } else {
                server
                    .client
                    .put(format!(
                        "{}/content/by-{}.txt",
                        world.content_base,
                        label.replace(' ', "-")
                    ))
                    .body("written")
            };
            let response = request.bearer_auth(&caller.content).send().await.unwrap();
            let status = response.status();
            (status, response.json().await.unwrap_or(Value::Null))
        }
    };
    if status.is_success() {
        return true;
    }
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{label} {op:?}: a refusal is 403: {body}"
    );
    let (code, inner) = (arm_code(&body), body["error"]["innererror"]["code"].as_str());
    match op.target() {
        _ if matches!(op, KeyGet | OtherKeyGet | KeyList | KeyCreate | Wrap | Unwrap | Sign) => {
            assert_eq!(
                (code, inner),
                ("Forbidden", Some("ForbiddenByRbac")),
                "{label} {op:?}: {body}"
            );
        }
        _ if matches!(op, ContentRead | ContentWrite) => assert_eq!(code, "PermissionDenied", "{label} {op:?}: {body}"),
        _ => assert_eq!(code, "AuthorizationFailed", "{label} {op:?}: {body}"),
    }
    false
}

#[tokio::test]
async fn each_built_in_role_at_each_scope_allows_what_azure_says_and_nothing_else() {
    let server = TestServer::start().await;
    let world = build_world(&server).await;
    let mut failures = Vec::new();
    for role in ROLES {
        let id = role_id(&server, role).await;
        for at in At::ALL {
            let label = format!("{role} at {at:?}");
            let principal: Principal = server.principal(&label).await;
            server.assign_role(&world.scope(at), &id, &principal.object_id).await;
            let caller = Caller {
                management: server.token_of(&principal, Audience::Management).await,
                vault: server.token_of(&principal, Audience::Vault).await,
                content: server.token_of(&principal, Audience::CognitiveServices).await,
            };
            for op in Op::ALL {
                let expected = grants(role).contains(&op) && at.covers(op.target());
                let allowed = attempt(&server, &world, &caller, op, &label).await;
                if allowed != expected {
                    failures.push(format!(
                        "{label}: {op:?} was {}",
                        if allowed { "allowed" } else { "refused" }
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_principal_with_no_role_and_a_managed_identity_can_do_nothing_until_granted() {
    let server = TestServer::start().await;
    let world = build_world(&server).await;

    let nobody = server.principal("nobody").await;
    let caller = Caller {
        management: server.token_of(&nobody, Audience::Management).await,
        vault: server.token_of(&nobody, Audience::Vault).await,
        content: server.token_of(&nobody, Audience::CognitiveServices).await,
    };
    for op in Op::ALL {
        assert!(
            !attempt(&server, &world, &caller, op, "nobody").await,
            "a principal without roles: {op:?}"
        );
    }
    let (status, body) = server
        .call(
            Method::GET,
            "/subscriptions?api-version=2022-12-01",
            Some(&caller.management),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["value"],
        json!([]),
        "a principal without roles sees no subscription"
    );

    // The account's managed identity, with a token from the identity endpoint as its workloads get one.
    let operator = server.operator_token().await;
    let (status, body) = server
        .call(
            Method::PATCH,
            &format!("{}?{ACCOUNTS_API}", world.account_id),
            Some(&operator),
            Some(r#"{"identity":{"type":"SystemAssigned"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let identity = body["identity"]["principalId"].as_str().unwrap().to_owned();
    let encoded: String = serde_urlencoded::to_string([("resourceId", world.account_id.as_str())]).unwrap();
    let (status, endpoint) = server
        .call(
            Method::GET,
            &format!("/cmk/admin/managedIdentities?{encoded}"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    let secret = endpoint["identityHeader"].as_str().unwrap();
    let mut tokens = Vec::new();
    for resource in [
        server.creds.management_scope.trim_end_matches("/.default").to_owned(),
        format!("https://vault.localhost:{}", server.addr.port()),
        format!("https://cognitiveservices.localhost:{}", server.addr.port()),
    ] {
        let response = server
            .client
            .get(format!(
                "{}?api-version=2019-08-01&resource={resource}",
                endpoint["identityEndpoint"].as_str().unwrap()
            ))
            .header("X-IDENTITY-HEADER", secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        tokens.push(
            response.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let identity_caller = Caller {
        content: tokens.pop().unwrap(),
        vault: tokens.pop().unwrap(),
        management: tokens.pop().unwrap(),
    };
    for op in Op::ALL {
        assert!(
            !attempt(&server, &world, &identity_caller, op, "managed identity").await,
            "a managed identity gets nothing by default: {op:?}"
        );
    }
    // Granted a role, it holds exactly that.
    let encryption_user = role_id(&server, "Key Vault Crypto Service Encryption User").await;
    server
        .assign_role(&format!("{}/keys/k1", world.vault_id), &encryption_user, &identity)
        .await;
    for op in Op::ALL {
        let expected = matches!(op, KeyGet | Wrap | Unwrap);
        assert_eq!(
            attempt(&server, &world, &identity_caller, op, "granted identity").await,
            expected,
            "a managed identity with the encryption role on k1: {op:?}"
        );
    }
}

#[tokio::test]
async fn an_owner_of_one_subscription_cannot_touch_another() {
    let server = TestServer::start().await;
    let world = build_world(&server).await;
    let owner = server.principal("owner of b").await;
    let (status, created) = server
        .arm(
            Method::POST,
            &format!("/cmk/admin/tenants/{}/subscriptions", server.creds.tenant_id),
            Some(&json!({"displayName": "b", "ownerObjectId": owner.object_id}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let subscription_b = created["subscriptionId"].as_str().unwrap().to_owned();
    let caller = Caller {
        management: server.token_of(&owner, Audience::Management).await,
        vault: server.token_of(&owner, Audience::Vault).await,
        content: server.token_of(&owner, Audience::CognitiveServices).await,
    };
    // In its own subscription it can do anything.
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/subscriptions/{subscription_b}/resourcegroups/mine?api-version=2021-04-01"),
            Some(&caller.management),
            Some(r#"{"location":"westus2"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // In the other one, nothing, and it sees only its own subscription.
    for op in Op::ALL {
        assert!(
            !attempt(&server, &world, &caller, op, "owner of b").await,
            "{op:?} in subscription a"
        );
    }
    let (status, body) = server
        .call(
            Method::GET,
            "/subscriptions?api-version=2022-12-01",
            Some(&caller.management),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscriptionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![subscription_b.as_str()]);
    let (status, body) = server
        .call(
            Method::GET,
            &format!("/subscriptions/{}?api-version=2022-12-01", world.subscription),
            Some(&caller.management),
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::FORBIDDEN, "AuthorizationFailed"),
        "{body}"
    );
}
