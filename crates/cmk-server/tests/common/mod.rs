//! A real server on a free port, over HTTPS, and a client that trusts its development CA.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use cmk_server::{DevCredentials, RunningServer, Settings};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub creds: DevCredentials,
    pub base: String,
    pub client: Client,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// Resolves `localhost` and every `*.localhost` name to the test server, as libnss-myhostname would, so tests
/// need nothing from the machine's resolver.
struct LocalhostResolver(SocketAddr);

impl reqwest::dns::Resolve for LocalhostResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        let local = name.as_str() == "localhost" || name.as_str().ends_with(".localhost");
        Box::pin(async move {
            if local {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(addr));
                Ok(addrs)
            } else {
                Err(format!("{} is not a local name", name.as_str()).into())
            }
        })
    }
}

pub fn client_trusting(ca_file: &str, addr: SocketAddr) -> Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file).unwrap()).unwrap();
    Client::builder()
        .tls_certs_only([ca])
        .dns_resolver(std::sync::Arc::new(LocalhostResolver(addr)))
        .build()
        .unwrap()
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir).await
    }

    pub async fn start_in(dir: tempfile::TempDir) -> Self {
        let mut settings = Settings::new(dir.path().to_owned());
        settings.dev = true;
        settings.listen = "127.0.0.1:0".parse().unwrap();
        let server = cmk_server::start(settings).await.unwrap();
        let creds = server.dev_credentials.clone().unwrap();
        let addr = server.local_addr;
        let client = client_trusting(&creds.ca_file, addr);
        Self {
            base: creds.authority.clone(),
            creds,
            client,
            addr,
            server: Some(server),
            dir,
        }
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        self.server.take().unwrap().shutdown().await.unwrap();
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a form to the v2.0 token endpoint of `tenant`.
    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn token_for(&self, tenant: &str, client_id: &str, secret: &str, scope: &str) -> String {
        let response = self
            .token_request(
                tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A management-plane token of the development operator.
    pub async fn operator_token(&self) -> String {
        let c = &self.creds;
        self.token_for(&c.tenant_id, &c.client_id, &c.client_secret, &c.management_scope)
            .await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// An ARM call with the operator's token.
    pub async fn arm(&self, method: Method, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let token = self.operator_token().await;
        self.call(method, path, Some(&token), body).await
    }

    /// Creates a tenant, a (non-operator) service principal in it and a subscription it owns; returns
    /// (tenant, subscription, client id, secret).
    pub async fn second_customer(&self) -> (String, String, String, String) {
        let (status, tenant) = self
            .arm(
                Method::POST,
                "/cmk/admin/tenants",
                Some(r#"{"displayName":"second customer"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{tenant}");
        let tenant_id = tenant["tenantId"].as_str().unwrap().to_owned();
        let (status, principal) = self
            .arm(
                Method::POST,
                &format!("/cmk/admin/tenants/{tenant_id}/servicePrincipals"),
                Some(r#"{"displayName":"app b"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{principal}");
        let owner = principal["objectId"].as_str().unwrap();
        let (status, subscription) = self
            .arm(
                Method::POST,
                &format!("/cmk/admin/tenants/{tenant_id}/subscriptions"),
                Some(&format!(r#"{{"displayName":"sub b","ownerObjectId":"{owner}"}}"#)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{subscription}");
        (
            tenant_id,
            subscription["subscriptionId"].as_str().unwrap().to_owned(),
            principal["clientId"].as_str().unwrap().to_owned(),
            principal["clientSecret"].as_str().unwrap().to_owned(),
        )
    }
}

/// A service principal of the development tenant, made by the operator.
pub struct Principal {
    pub client_id: String,
    pub secret: String,
    pub object_id: String,
}

/// The token audiences of the planes, for [`TestServer::token_of`].
#[derive(Clone, Copy)]
pub enum Audience {
    Management,
    Vault,
    CognitiveServices,
}

impl TestServer {
    /// A new (non-operator) service principal of the development tenant, holding no role.
    pub async fn principal(&self, name: &str) -> Principal {
        let (status, created) = self
            .arm(
                Method::POST,
                &format!("/cmk/admin/tenants/{}/servicePrincipals", self.creds.tenant_id),
                Some(&serde_json::json!({ "displayName": name }).to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        Principal {
            client_id: created["clientId"].as_str().unwrap().to_owned(),
            secret: created["clientSecret"].as_str().unwrap().to_owned(),
            object_id: created["objectId"].as_str().unwrap().to_owned(),
        }
    }

    /// A token of `principal` (of the development tenant) for one plane.
    pub async fn token_of(&self, principal: &Principal, audience: Audience) -> String {
        let port = self.addr.port();
        let scope = match audience {
            Audience::Management => self.creds.management_scope.clone(),
            Audience::Vault => format!("https://vault.localhost:{port}/.default"),
            Audience::CognitiveServices => format!("https://cognitiveservices.localhost:{port}/.default"),
        };
        self.token_for(&self.creds.tenant_id, &principal.client_id, &principal.secret, &scope)
            .await
    }
}

/// Role definition ids of the built-in roles the tests assign.
pub mod roles {
    pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    pub const KEY_VAULT_CRYPTO_OFFICER: &str = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603";
    pub const KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: &str = "e147488a-f6f5-4113-8e2d-b22465e65bf6";
    pub const COGNITIVE_SERVICES_USER: &str = "a97b65f3-24c7-4388-baec-2e87135dc908";
}

impl TestServer {
    /// Assigns `role` (a role definition GUID) to `principal` at `scope` as the operator (Owner of the
    /// development subscription); returns the assignment's id.
    pub async fn assign_role(&self, scope: &str, role: &str, principal: &str) -> String {
        let token = self.operator_token().await;
        self.assign_role_as(&token, scope, role, principal).await
    }

    pub async fn assign_role_as(&self, token: &str, scope: &str, role: &str, principal: &str) -> String {
        let name = cmk_crypto::random::random_uuid().unwrap();
        let subscription = scope.split('/').nth(2).unwrap();
        let body = serde_json::json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }});
        let (status, created) = self
            .call(
                Method::PUT,
                &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
                Some(token),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "assigning {role} at {scope}: {created}");
        created["id"].as_str().unwrap().to_owned()
    }
}

/// The error code of an ARM-shaped error body.
pub fn arm_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// The claims of a JWT, without checking anything.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&cmk_crypto::encoding::b64url_decode(payload).unwrap()).unwrap()
}
pub mod vault;
