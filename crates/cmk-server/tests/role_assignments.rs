//! `Microsoft.Authorization` over HTTPS: role definitions, role assignments and custom roles in Azure's shapes,
//! every refusal with Azure's status and code (and nothing written by a refused request), deleted principals
//! refused at once, the permission model of vaults, and what a store from before role-based access control
//! grants when it is upgraded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Audience, TestServer, arm_code, claims, roles};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const API: &str = "api-version=2022-04-01";

fn subscription_scope(server: &TestServer) -> String {
    format!("/subscriptions/{}", server.creds.subscription_id)
}

fn group_scope(server: &TestServer) -> String {
    format!(
        "{}/resourceGroups/{}",
        subscription_scope(server),
        server.creds.resource_group
    )
}

fn role_id(server: &TestServer, role: &str) -> String {
    format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}",
        server.creds.subscription_id
    )
}

fn new_name() -> String {
    cmk_crypto::random::random_uuid().unwrap().to_string()
}

async fn put_assignment(
    server: &TestServer,
    token: &str,
    scope: &str,
    name: &str,
    properties: Value,
) -> (StatusCode, Value) {
    server
        .call(
            Method::PUT,
            &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}"),
            Some(token),
            Some(&json!({ "properties": properties }).to_string()),
        )
        .await
}

async fn list_assignments(server: &TestServer, scope: &str, filter: Option<&str>) -> Vec<Value> {
    let query = match filter {
        Some(filter) => format!("{API}&{}", serde_urlencoded::to_string([("$filter", filter)]).unwrap()),
        None => API.to_owned(),
    };
    let (status, body) = server
        .arm(
            Method::GET,
            &format!("{scope}/providers/Microsoft.Authorization/roleAssignments?{query}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"].as_array().unwrap().clone()
}

fn names(assignments: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = assignments
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn role_definitions_are_azures_built_in_roles_and_resolve_by_name() {
    let server = TestServer::start().await;
    let scope = group_scope(&server);
    let (status, body) = server
        .arm(
            Method::GET,
            &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-05-01-preview"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = body["value"].as_array().unwrap();
    for (name, id) in [
        ("Owner", roles::OWNER),
        ("Contributor", roles::CONTRIBUTOR),
        ("Reader", roles::READER),
        ("Key Vault Crypto Officer", roles::KEY_VAULT_CRYPTO_OFFICER),
        (
            "Key Vault Crypto Service Encryption User",
            roles::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
        ),
        ("Cognitive Services User", roles::COGNITIVE_SERVICES_USER),
        ("User Access Administrator", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"),
        ("Key Vault Crypto User", "12338af0-0e69-4776-bea7-57ae8d297424"),
        ("Key Vault Administrator", "00482a5a-887f-4fb3-b363-3b7fe8e74483"),
        ("Key Vault Reader", "21090545-7ca7-4776-b22c-e363652d74d2"),
        (
            "Role Based Access Control Administrator",
            "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        ),
        ("Cognitive Services Contributor", "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68"),
        ("Cognitive Services Data Reader", "b59867f0-fa02-499b-be73-45a86b5b3e1c"),
    ] {
        let role = all
            .iter()
            .find(|r| r["properties"]["roleName"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"));
        assert_eq!(role["name"], id, "{name}");
        // The id is in the subscription's form wherever it is read (az matches it byte for byte).
        assert_eq!(role["id"], role_id(&server, id), "{name}");
        assert_eq!(role["type"], "Microsoft.Authorization/roleDefinitions");
        assert_eq!(role["properties"]["type"], "BuiltInRole");
        assert_eq!(role["properties"]["assignableScopes"], json!(["/"]));
    }
    let encryption_user = all
        .iter()
        .find(|r| r["name"] == roles::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER)
        .unwrap();
    assert_eq!(
        encryption_user["properties"]["permissions"][0]["dataActions"],
        json!([
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action"
        ])
    );

    // As az resolves a role name: one match at the assignment's scope.
    let (status, body) = server
        .arm(
            Method::GET,
            &format!(
                "{scope}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-05-01-preview&$filter=roleName%20eq%20%27Key%20Vault%20Crypto%20User%27"
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["value"][0]["name"], "12338af0-0e69-4776-bea7-57ae8d297424");
    let (_, custom) = server
        .arm(
            Method::GET,
            &format!(
                "{scope}/providers/Microsoft.Authorization/roleDefinitions?{API}&$filter=type%20eq%20%27CustomRole%27"
            ),
            None,
        )
        .await;
    assert_eq!(custom["value"], json!([]), "no custom role yet");

    // By id, at a scope and at the root (`az role definition show --id`, with the SDK's extra parameter).
    let (status, body) = server
        .arm(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Authorization/roleDefinitions/{}?{API}",
                subscription_scope(&server),
                roles::OWNER
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, body["properties"]["roleName"].as_str()),
        (StatusCode::OK, Some("Owner"))
    );
    let (status, body) = server
        .arm(
            Method::GET,
            &format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{}?{API}&disambiguation_dummy=",
                roles::READER
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["id"],
        format!("/providers/Microsoft.Authorization/roleDefinitions/{}", roles::READER)
    );
    for (id, status, code) in [
        (
            "00000000-0000-0000-0000-000000000001",
            StatusCode::NOT_FOUND,
            "RoleDefinitionDoesNotExist",
        ),
        ("not-a-guid", StatusCode::BAD_REQUEST, "InvalidRoleDefinitionId"),
    ] {
        let (got, body) = server
            .arm(
                Method::GET,
                &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{id}?{API}"),
                None,
            )
            .await;
        assert_eq!((got, arm_code(&body)), (status, code), "{body}");
    }
    let (status, body) = server
        .arm(
            Method::GET,
            &format!(
                "{scope}/providers/Microsoft.Authorization/roleDefinitions?{API}&$filter=permissions%20eq%20%27x%27"
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "UnsupportedFilter"),
        "{body}"
    );
}

#[tokio::test]
async fn assignments_are_created_read_listed_by_scope_and_principal_and_deleted() {
    let server = TestServer::start().await;
    let operator = server.operator_token().await;
    let someone = server.principal("someone").await;
    let group = group_scope(&server);
    let subscription = subscription_scope(&server);
    let name = new_name();
    let properties = json!({
        "roleDefinitionId": role_id(&server, roles::READER),
        "principalId": someone.object_id,
        "principalType": "ServicePrincipal",
        "description": "reads the group",
    });
    let (status, created) = put_assignment(&server, &operator, &group, &name, properties.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["id"],
        format!("{group}/providers/Microsoft.Authorization/roleAssignments/{name}")
    );
    assert_eq!(created["name"], name.as_str());
    assert_eq!(created["type"], "Microsoft.Authorization/roleAssignments");
    let p = &created["properties"];
    assert_eq!(p["scope"], group.as_str());
    assert_eq!(p["roleDefinitionId"], role_id(&server, roles::READER));
    assert_eq!(p["principalId"], someone.object_id.as_str());
    assert_eq!(p["principalType"], "ServicePrincipal");
    assert_eq!(p["description"], "reads the group");
    assert_eq!(p["createdBy"], claims(&operator)["oid"]);
    assert!(p["createdOn"].as_str().unwrap().ends_with('Z'));
    assert!(
        p.as_object().unwrap().contains_key("condition"),
        "null fields are present, as in Azure"
    );

    // The same PUT again changes nothing (200); another description is an update.
    let (status, again) = put_assignment(&server, &operator, &group, &name, properties.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let mut renamed = properties.clone();
    renamed["description"] = json!("still reads the group");
    let (status, updated) = put_assignment(&server, &operator, &group, &name, renamed).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["properties"]["description"], "still reads the group");

    let (status, read) = server
        .arm(
            Method::GET,
            &format!("{group}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["properties"]["principalId"], someone.object_id.as_str());
    // By id, at another scope: not there.
    let (status, body) = server
        .arm(
            Method::GET,
            &format!("{subscription}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}"),
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::NOT_FOUND, "RoleAssignmentNotFound"),
        "{body}"
    );

    // Listings: atScope() is what applies at a scope (at it or above); without it, below too.
    let owner = list_assignments(&server, &subscription, Some("atScope()")).await;
    assert_eq!(owner.len(), 1, "the operator's Owner at the subscription: {owner:?}");
    let owner_name = owner[0]["name"].as_str().unwrap().to_owned();
    let mut both = vec![owner_name.clone(), name.clone()];
    both.sort();
    assert_eq!(names(&list_assignments(&server, &group, Some("atScope()")).await), both);
    assert_eq!(names(&list_assignments(&server, &subscription, None).await), both);
    assert_eq!(
        names(
            &list_assignments(
                &server,
                &subscription,
                Some(&format!("principalId eq '{}'", someone.object_id))
            )
            .await
        ),
        vec![name.clone()]
    );
    assert_eq!(
        names(
            &list_assignments(
                &server,
                &group,
                Some(&format!("atScope() and assignedTo('{}')", someone.object_id))
            )
            .await
        ),
        vec![name.clone()]
    );
    let (status, body) = server
        .arm(
            Method::GET,
            &format!("{group}/providers/Microsoft.Authorization/roleAssignments?{API}&$filter=roleName%20eq%20%27x%27"),
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "UnsupportedFilter"),
        "{body}"
    );

    // The principal now reads the group, and nothing else.
    let management = server.token_of(&someone, Audience::Management).await;
    let (status, body) = server
        .call(
            Method::GET,
            &format!("{group}?api-version=2021-04-01"),
            Some(&management),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("{group}?api-version=2021-04-01"),
            Some(&management),
            Some(r#"{"location":"westus2"}"#),
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::FORBIDDEN, "AuthorizationFailed"),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&format!(
            "'Microsoft.Resources/subscriptions/resourceGroups/write' over scope '{group}'"
        )),
        "{body}"
    );
    let (status, listed) = server
        .call(
            Method::GET,
            "/subscriptions?api-version=2022-12-01",
            Some(&management),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["value"].as_array().unwrap().len(),
        1,
        "a role in a group shows its subscription"
    );

    // Delete: 200 with the assignment, then 204; the principal's access ends with the next request.
    let path = format!("{group}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}");
    let (status, deleted) = server.arm(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["name"], name.as_str());
    let (status, _) = server.arm(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server
        .call(
            Method::GET,
            &format!("{group}?api-version=2021-04-01"),
            Some(&management),
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::FORBIDDEN, "AuthorizationFailed"),
        "{body}"
    );
    assert_eq!(
        names(&list_assignments(&server, &subscription, None).await),
        vec![owner_name]
    );
}

#[tokio::test]
async fn bad_assignments_are_refused_with_azures_codes_and_nothing_is_written() {
    let server = TestServer::start().await;
    let operator = server.operator_token().await;
    let someone = server.principal("someone").await;
    let group = group_scope(&server);
    let reader = |principal: &str| json!({"roleDefinitionId": role_id(&server, roles::READER), "principalId": principal, "principalType": "ServicePrincipal"});
    let (tenant_b, subscription_b, _, _) = server.second_customer().await;
    let _ = tenant_b;
    let vault_scope = format!("{group}/providers/Microsoft.KeyVault/vaults/kv-missing");
    let cases: Vec<(&str, String, String, Value, StatusCode, &str)> = vec![
        (
            "unknown role",
            group.clone(),
            new_name(),
            json!({"roleDefinitionId": role_id(&server, "00000000-0000-0000-0000-000000000001"), "principalId": someone.object_id, "principalType": "ServicePrincipal"}),
            StatusCode::BAD_REQUEST,
            "RoleDefinitionDoesNotExist",
        ),
        (
            "malformed role id",
            group.clone(),
            new_name(),
            json!({"roleDefinitionId": "/providers/Microsoft.Authorization/roles/x", "principalId": someone.object_id}),
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinitionId",
        ),
        (
            "unknown principal",
            group.clone(),
            new_name(),
            reader("00000000-0000-0000-0000-0000000000aa"),
            StatusCode::BAD_REQUEST,
            "PrincipalNotFound",
        ),
        (
            "malformed principal",
            group.clone(),
            new_name(),
            reader("someone"),
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalId",
        ),
        (
            "wrong principal type",
            group.clone(),
            new_name(),
            json!({"roleDefinitionId": role_id(&server, roles::READER), "principalId": someone.object_id, "principalType": "User"}),
            StatusCode::BAD_REQUEST,
            "UnmatchedPrincipalType",
        ),
        (
            "malformed name",
            group.clone(),
            "not-a-guid".into(),
            reader(&someone.object_id),
            StatusCode::BAD_REQUEST,
            "InvalidRoleAssignmentId",
        ),
        (
            "a condition",
            group.clone(),
            new_name(),
            json!({"roleDefinitionId": role_id(&server, roles::READER), "principalId": someone.object_id, "principalType": "ServicePrincipal", "condition": "@Resource[x] StringEquals 'y'", "conditionVersion": "2.0"}),
            StatusCode::BAD_REQUEST,
            "RoleAssignmentConditionNotSupported",
        ),
        (
            "missing properties",
            group.clone(),
            new_name(),
            json!({"principalId": someone.object_id}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
        ),
        (
            "malformed scope",
            "/subscriptions/not-a-guid".into(),
            new_name(),
            reader(&someone.object_id),
            StatusCode::BAD_REQUEST,
            "InvalidScope",
        ),
        (
            "a missing vault",
            vault_scope,
            new_name(),
            reader(&someone.object_id),
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
        ),
        (
            "an unsupported resource",
            format!("{group}/providers/Microsoft.Compute/virtualMachines/vm1"),
            new_name(),
            reader(&someone.object_id),
            StatusCode::BAD_REQUEST,
            "InvalidScope",
        ),
        (
            "a missing group",
            format!("{}/resourceGroups/nope", subscription_scope(&server)),
            new_name(),
            reader(&someone.object_id),
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
        ),
        (
            "another tenant's subscription",
            format!("/subscriptions/{subscription_b}"),
            new_name(),
            reader(&someone.object_id),
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenTenant",
        ),
        (
            "a subscription that does not exist",
            "/subscriptions/00000000-0000-0000-0000-0000000000ff".into(),
            new_name(),
            reader(&someone.object_id),
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
        ),
    ];
    for (what, scope, name, properties, status, code) in cases {
        let (got, body) = put_assignment(&server, &operator, &scope, &name, properties).await;
        assert_eq!((got, arm_code(&body)), (status, code), "{what}: {body}");
    }
    let (got, body) = server
        .call(
            Method::PUT,
            &format!(
                "{group}/providers/Microsoft.Authorization/roleAssignments/{}?{API}",
                new_name()
            ),
            Some(&operator),
            Some("{\"properties\": "),
        )
        .await;
    assert_eq!(
        (got, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidRequestContent"),
        "{body}"
    );
    assert_eq!(
        list_assignments(&server, &subscription_scope(&server), None)
            .await
            .len(),
        1,
        "only the operator's Owner"
    );

    // A duplicate (same principal, role and scope) under another name; the same name for another principal.
    let name = new_name();
    let (status, _) = put_assignment(&server, &operator, &group, &name, reader(&someone.object_id)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = put_assignment(&server, &operator, &group, &new_name(), reader(&someone.object_id)).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::CONFLICT, "RoleAssignmentExists"),
        "{body}"
    );
    let other = server.principal("other").await;
    let (status, body) = put_assignment(&server, &operator, &group, &name, reader(&other.object_id)).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "RoleAssignmentUpdateNotPermitted"),
        "{body}"
    );
    let (status, body) = put_assignment(
        &server,
        &operator,
        &subscription_scope(&server),
        &name,
        reader(&someone.object_id),
    )
    .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "RoleAssignmentUpdateNotPermitted"),
        "names are unique in the deployment: {body}"
    );

    // A principal that may read (Reader) or manage (Contributor) but not grant cannot make itself Owner.
    for (role, label) in [(roles::READER, "reader"), (roles::CONTRIBUTOR, "contributor")] {
        let climber = server.principal(label).await;
        server.assign_role(&group, role, &climber.object_id).await;
        let token = server.token_of(&climber, Audience::Management).await;
        let (status, body) = put_assignment(
            &server,
            &token,
            &group,
            &new_name(),
            json!({"roleDefinitionId": role_id(&server, roles::OWNER), "principalId": climber.object_id, "principalType": "ServicePrincipal"}),
        )
        .await;
        assert_eq!(
            (status, arm_code(&body)),
            (StatusCode::FORBIDDEN, "AuthorizationFailed"),
            "{label}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Microsoft.Authorization/roleAssignments/write")
        );
        let (status, body) = server
            .call(
                Method::DELETE,
                &format!("{group}/providers/Microsoft.Authorization/roleAssignments/{name}?{API}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(
            (status, arm_code(&body)),
            (StatusCode::FORBIDDEN, "AuthorizationFailed"),
            "{label}: {body}"
        );
        let held: Vec<Value> = list_assignments(
            &server,
            &group,
            Some(&format!("principalId eq '{}'", climber.object_id)),
        )
        .await;
        assert_eq!(held.len(), 1, "{label} holds only what it was given: {held:?}");
    }
}

#[tokio::test]
async fn custom_roles_grant_what_they_say_and_changes_apply_at_once() {
    let server = TestServer::start().await;
    let operator = server.operator_token().await;
    let subscription = subscription_scope(&server);
    let id = new_name();
    let path = format!("{subscription}/providers/Microsoft.Authorization/roleDefinitions/{id}?{API}");
    let definition = |actions: Value| {
        json!({"properties": {"roleName": "Group reader", "description": "reads groups",
            "permissions": [{"actions": actions}], "assignableScopes": [subscription.clone()]}})
        .to_string()
    };
    let (status, created) = server
        .call(
            Method::PUT,
            &path,
            Some(&operator),
            Some(&definition(json!([
                "Microsoft.Resources/subscriptions/resourceGroups/read"
            ]))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["properties"]["type"], "CustomRole");
    assert_eq!(created["properties"]["roleName"], "Group reader");
    let (_, listed) = server
        .arm(
            Method::GET,
            &format!("{subscription}/providers/Microsoft.Authorization/roleDefinitions?{API}&$filter=type%20eq%20%27CustomRole%27"),
            None,
        )
        .await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1, "{listed}");

    let someone = server.principal("custom").await;
    let assignment = server.assign_role(&subscription, &id, &someone.object_id).await;
    let token = server.token_of(&someone, Audience::Management).await;
    let group = format!("{}?api-version=2021-04-01", group_scope(&server));
    let (status, body) = server.call(Method::GET, &group, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Narrowed, the role stops granting with the very next request.
    let (status, body) = server
        .call(
            Method::PUT,
            &path,
            Some(&operator),
            Some(&definition(json!(["Microsoft.KeyVault/vaults/read"]))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server.call(Method::GET, &group, Some(&token), None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::FORBIDDEN, "AuthorizationFailed"),
        "{body}"
    );

    // Refusals: a built-in role, a taken name, a bad action, a scope the caller cannot write, an assigned role.
    let built_in = format!(
        "{subscription}/providers/Microsoft.Authorization/roleDefinitions/{}?{API}",
        roles::READER
    );
    let (status, body) = server
        .call(
            Method::PUT,
            &built_in,
            Some(&operator),
            Some(&definition(json!(["*/read"]))),
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "RoleDefinitionUpdateNotAllowed"),
        "{body}"
    );
    let other = format!(
        "{subscription}/providers/Microsoft.Authorization/roleDefinitions/{}?{API}",
        new_name()
    );
    let (status, body) = server
        .call(
            Method::PUT,
            &other,
            Some(&operator),
            Some(&definition(json!(["*/read"]))),
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::CONFLICT, "RoleDefinitionWithSameNameExists"),
        "{body}"
    );
    let bad = json!({"properties": {"roleName": "Bad", "permissions": [{"actions": ["read everything"]}], "assignableScopes": [subscription.clone()]}});
    let (status, body) = server
        .call(Method::PUT, &other, Some(&operator), Some(&bad.to_string()))
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidRoleDefinition"),
        "{body}"
    );
    let (_, subscription_b, _, _) = server.second_customer().await;
    let foreign = json!({"properties": {"roleName": "Foreign", "permissions": [{"actions": ["*/read"]}], "assignableScopes": [format!("/subscriptions/{subscription_b}")]}});
    let (status, body) = server
        .call(Method::PUT, &other, Some(&operator), Some(&foreign.to_string()))
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationTokenTenant"),
        "{body}"
    );
    let (status, body) = server.call(Method::DELETE, &path, Some(&operator), None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::CONFLICT, "RoleDefinitionHasAssignments"),
        "{body}"
    );

    let (status, _) = server
        .call(Method::DELETE, &format!("{assignment}?{API}"), Some(&operator), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call(Method::DELETE, &path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server.call(Method::DELETE, &path, Some(&operator), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_deleted_principals_tokens_are_refused_at_once_on_every_plane() {
    let server = TestServer::start().await;
    let leaver = server.principal("leaver").await;
    let subscription = subscription_scope(&server);
    server.assign_role(&subscription, roles::OWNER, &leaver.object_id).await;
    let management = server.token_of(&leaver, Audience::Management).await;
    let vault = server.token_of(&leaver, Audience::Vault).await;
    let content = server.token_of(&leaver, Audience::CognitiveServices).await;
    let group = format!("{}?api-version=2021-04-01", group_scope(&server));
    let (status, _) = server.call(Method::GET, &group, Some(&management), None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = server
        .arm(
            Method::DELETE,
            &format!(
                "/cmk/admin/tenants/{}/servicePrincipals/{}",
                server.creds.tenant_id, leaver.client_id
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = server.call(Method::GET, &group, Some(&management), None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("no longer exists"),
        "{body}"
    );
    // A vault and an account of the operator: the deleted principal's tokens are refused before anything else.
    let vault_base = format!("https://kv-anything.vault.localhost:{}", server.addr.port());
    let c = &server.creds;
    let operator = server.operator_token().await;
    let (status, _) = server
        .call(
            Method::PUT,
            &format!("{subscription}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/kv-anything?api-version=2026-05-15", c.resource_group),
            Some(&operator),
            Some(&json!({"location": "westus2", "properties": {"tenantId": c.tenant_id, "sku": {"family": "A", "name": "standard"}}}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = server
        .client
        .get(format!("{vault_base}/keys?api-version=7.6"))
        .bearer_auth(&vault)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    let (status, _) = server
        .call(
            Method::PUT,
            &format!("{subscription}/resourceGroups/{}/providers/Microsoft.CognitiveServices/accounts/acct-anything?api-version=2024-10-01", c.resource_group),
            Some(&operator),
            Some(r#"{"location":"westus2","kind":"TextAnalytics","sku":{"name":"S0"},"properties":{"customSubDomainName":"acct-anything"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = server
        .client
        .get(format!(
            "https://acct-anything.cognitiveservices.localhost:{}/content",
            server.addr.port()
        ))
        .bearer_auth(&content)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Its role assignments went with it.
    let held = list_assignments(
        &server,
        &subscription,
        Some(&format!("principalId eq '{}'", leaver.object_id)),
    )
    .await;
    assert_eq!(held, Vec::<Value>::new());

    // The last operator stays.
    let (status, body) = server
        .arm(
            Method::DELETE,
            &format!("/cmk/admin/tenants/{}/servicePrincipals/{}", c.tenant_id, c.client_id),
            None,
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::CONFLICT, "LastOperator"),
        "{body}"
    );
}

fn vault_body(server: &TestServer, rbac: Option<bool>) -> String {
    let mut properties = json!({"tenantId": server.creds.tenant_id, "sku": {"family": "A", "name": "standard"}});
    if let Some(rbac) = rbac {
        properties["enableRbacAuthorization"] = json!(rbac);
    }
    json!({"location": "westus2", "properties": properties}).to_string()
}

#[tokio::test]
async fn the_permission_model_follows_the_api_version_and_only_an_owner_switches_it() {
    let server = TestServer::start().await;
    let vault = |name: &str| format!("{}/providers/Microsoft.KeyVault/vaults/{name}", group_scope(&server));
    for (name, api, expected) in [
        ("kv-old-api", "2023-07-01", false),
        ("kv-new-api", "2026-02-01", true),
        ("kv-newer-api", "2026-05-15", true),
    ] {
        let (status, body) = server
            .arm(
                Method::PUT,
                &format!("{}?api-version={api}", vault(name)),
                Some(&vault_body(&server, None)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["properties"]["enableRbacAuthorization"], expected, "{api}: {body}");
    }

    // A Contributor may change a vault, but not who can use its keys.
    let contributor = server.principal("contributor").await;
    server
        .assign_role(&group_scope(&server), roles::CONTRIBUTOR, &contributor.object_id)
        .await;
    let token = server.token_of(&contributor, Audience::Management).await;
    let url = format!("{}?api-version=2026-05-15", vault("kv-new-api"));
    let (status, body) = server
        .call(Method::PATCH, &url, Some(&token), Some(r#"{"tags":{"team":"a"}}"#))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .call(
            Method::PATCH,
            &url,
            Some(&token),
            Some(r#"{"properties":{"enableRbacAuthorization":false}}"#),
        )
        .await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::FORBIDDEN, "AuthorizationFailed"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("roleAssignments/write"),
        "{body}"
    );
    let (status, body) = server.arm(Method::GET, &url, None).await;
    assert_eq!(
        (status, &body["properties"]["enableRbacAuthorization"]),
        (StatusCode::OK, &json!(true))
    );
    // The Owner may.
    let (status, body) = server
        .arm(
            Method::PATCH,
            &url,
            Some(r#"{"properties":{"enableRbacAuthorization":false}}"#),
        )
        .await;
    assert_eq!(
        (status, &body["properties"]["enableRbacAuthorization"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );
}

#[tokio::test]
async fn the_permissions_call_tells_the_caller_what_its_roles_grant_at_a_scope() {
    let server = TestServer::start().await;
    let someone = server.principal("asker").await;
    server
        .assign_role(&group_scope(&server), roles::READER, &someone.object_id)
        .await;
    let token = server.token_of(&someone, Audience::Management).await;
    let (status, body) = server
        .call(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Authorization/permissions?{API}",
                group_scope(&server)
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["value"],
        json!([{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}])
    );
    let (status, body) = server
        .call(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Authorization/permissions?{API}",
                subscription_scope(&server)
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], json!([]), "nothing applies at the subscription itself");
}

#[tokio::test]
async fn a_disabled_identitys_tokens_are_refused_at_once() {
    let server = TestServer::start().await;
    let c = &server.creds;
    let account_path = format!(
        "{}/providers/Microsoft.CognitiveServices/accounts/acct-identity",
        group_scope(&server)
    );
    let (status, body) = server
        .arm(
            Method::PUT,
            &format!("{account_path}?api-version=2024-10-01"),
            Some(r#"{"location":"westus2","kind":"TextAnalytics","sku":{"name":"S0"},"identity":{"type":"SystemAssigned"},"properties":{"customSubDomainName":"acct-identity"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let identity = body["identity"]["principalId"].as_str().unwrap().to_owned();
    server
        .assign_role(&subscription_scope(&server), roles::READER, &identity)
        .await;
    let query = serde_urlencoded::to_string([("resourceId", account_path.as_str())]).unwrap();
    let (status, endpoint) = server
        .arm(Method::GET, &format!("/cmk/admin/managedIdentities?{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    let response = server
        .client
        .get(format!(
            "{}?api-version=2019-08-01&resource={}",
            endpoint["identityEndpoint"].as_str().unwrap(),
            c.management_scope.trim_end_matches("/.default")
        ))
        .header("X-IDENTITY-HEADER", endpoint["identityHeader"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = format!("{}?api-version=2021-04-01", group_scope(&server));
    let (status, body) = server.call(Method::GET, &group, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "the identity reads with its role: {body}");

    let (status, body) = server
        .arm(
            Method::PATCH,
            &format!("{account_path}?api-version=2024-10-01"),
            Some(r#"{"identity":{"type":"None"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.call(Method::GET, &group, Some(&token), None).await;
    assert_eq!(
        (status, arm_code(&body)),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
        "{body}"
    );
}

#[tokio::test]
async fn a_store_from_before_role_based_access_control_keeps_every_principal_in_charge_but_identities() {
    let server = TestServer::start().await;
    let colleague = server.principal("colleague").await;
    let (status, body) = server
        .arm(
            Method::PUT,
            &format!(
                "{}/providers/Microsoft.CognitiveServices/accounts/acct-old?api-version=2024-10-01",
                group_scope(&server)
            ),
            Some(r#"{"location":"westus2","kind":"TextAnalytics","sku":{"name":"S0"},"identity":{"type":"SystemAssigned"},"properties":{"customSubDomainName":"acct-old"}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let identity = body["identity"]["principalId"].as_str().unwrap().to_owned();
    let dir = server.stop().await;

    // What an older version left: the same records, but no authorization records at all.
    let store = cmk_store_sqlite::SqliteStore::open(&dir.path().join("cmk.db"))
        .await
        .unwrap();
    let entries = cmk_store::Store::list(&store, "authz/", None, 10_000).await.unwrap();
    assert!(!entries.is_empty());
    let deletes = entries
        .into_iter()
        .map(|e| cmk_store::Write::Delete {
            key: e.key,
            expect: cmk_store::Expect::Any,
        })
        .collect();
    cmk_store::Store::commit(&store, deletes).await.unwrap();
    drop(store);

    let server = TestServer::start_in(dir).await;
    let subscription = subscription_scope(&server);
    let owners = list_assignments(&server, &subscription, Some("atScope()")).await;
    let mut principals: Vec<&str> = owners
        .iter()
        .map(|a| a["properties"]["principalId"].as_str().unwrap())
        .collect();
    principals.sort();
    let operator = claims(&server.operator_token().await)["oid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut expected = vec![operator.as_str(), colleague.object_id.as_str()];
    expected.sort();
    assert_eq!(
        principals, expected,
        "every service principal, but no managed identity, owns the subscription"
    );
    assert!(
        owners
            .iter()
            .all(|a| a["properties"]["roleDefinitionId"] == role_id(&server, roles::OWNER))
    );
    assert!(!principals.contains(&identity.as_str()));
    let token = server.token_of(&colleague, Audience::Management).await;
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("{}?api-version=2021-04-01", group_scope(&server)),
            Some(&token),
            Some(r#"{"location":"westus2"}"#),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the colleague still manages the subscription: {body}"
    );

    // Once upgraded, never again: a removed Owner stays removed across restarts.
    let mine = owners
        .iter()
        .find(|a| a["properties"]["principalId"] == colleague.object_id.as_str())
        .unwrap();
    let (status, _) = server
        .arm(Method::DELETE, &format!("{}?{API}", mine["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let dir = server.stop().await;
    let server = TestServer::start_in(dir).await;
    assert_eq!(
        list_assignments(&server, &subscription, Some("atScope()")).await.len(),
        1
    );
}
