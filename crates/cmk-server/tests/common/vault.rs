//! A key vault on the test server, created through ARM with an access policy granting the operator every key
//! permission, and calls to its data plane with a vault token.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{TestServer, claims};

const API: &str = "api-version=7.6";

pub struct Vault<'a> {
    pub server: &'a TestServer,
    pub base: String,
    pub token: String,
}

pub async fn vault<'a>(server: &'a TestServer, name: &str, purge_protection: bool) -> Vault<'a> {
    let oid = claims(&server.operator_token().await)["oid"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant = &server.creds.tenant_id;
    let mut properties = json!({
        "tenantId": tenant, "sku": {"family": "A", "name": "standard"}, "softDeleteRetentionInDays": 7,
        "enableRbacAuthorization": false,
        "accessPolicies": [{"tenantId": tenant, "objectId": oid, "permissions": {"keys": ["all"]}}]
    });
    if purge_protection {
        properties["enablePurgeProtection"] = json!(true);
    }
    let path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{name}?api-version=2026-05-15",
        server.creds.subscription_id, server.creds.resource_group
    );
    let (status, body) = server
        .arm(
            Method::PUT,
            &path,
            Some(&json!({"location": "westus2", "properties": properties}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let scope = format!("https://vault.localhost:{}/.default", server.addr.port());
    let c = &server.creds;
    let token = server
        .token_for(&c.tenant_id, &c.client_id, &c.client_secret, &scope)
        .await;
    Vault {
        server,
        base: body["properties"]["vaultUri"]
            .as_str()
            .unwrap()
            .trim_end_matches('/')
            .to_owned(),
        token,
    }
}

impl Vault<'_> {
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut request = self
            .server
            .client
            .request(method, format!("{}{path}{separator}{API}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(Some(&self.token), method, path, body).await
    }

    pub async fn create(&self, name: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/keys/{name}/create"),
                Some(json!({"kty": "RSA", "key_size": 2048})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

pub fn version_of(bundle: &Value) -> String {
    bundle["key"]["kid"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}
