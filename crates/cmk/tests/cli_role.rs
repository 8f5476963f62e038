//! `cmk role ...` and the RBAC side of `cmk keyvault` and `cmk admin` end to end, against a server process: role
//! definitions, role assignments made, listed and deleted the ways az offers, an RBAC vault whose creator gets
//! Key Vault Crypto Officer, and the operators' owner and principal commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOT_FOUND, REFUSED, USAGE, logged_in};
use serde_json::Value;

const CRYPTO_USER: &str = "12338af0-0e69-4776-bea7-57ae8d297424";

#[test]
fn role_commands_work_end_to_end() {
    let temp = tempfile::tempdir().unwrap();
    let (server, cli) = logged_in(temp.path());
    let creds = server.credentials();
    let tenant = creds["tenant_id"].as_str().unwrap();
    let me = cli.ok(&["account", "show", "--query", "user.objectId"]);
    let me = me.as_str().unwrap().to_owned();

    // Definitions, by name as az resolves them.
    let names = cli.ok(&["role", "definition", "list", "--query", "[].roleName"]);
    for name in ["Owner", "Key Vault Crypto Officer", "Cognitive Services User"] {
        assert!(names.as_array().unwrap().iter().any(|n| n == name), "{name}: {names}");
    }
    let user = cli.ok(&["role", "definition", "list", "--name", "Key Vault Crypto User"]);
    assert_eq!(user[0]["name"], CRYPTO_USER, "{user}");
    assert_eq!(user[0]["roleType"], "BuiltInRole");
    assert_eq!(
        cli.ok(&["role", "definition", "list", "--custom-role-only"]),
        Value::Array(vec![])
    );

    // An RBAC vault: its creator can make keys at once (it got Key Vault Crypto Officer on it).
    let vault = cli.ok(&[
        "keyvault",
        "create",
        "--name",
        "kv-cli-rbac",
        "--location",
        "westus2",
        "--enable-rbac-authorization",
    ]);
    assert_eq!(vault["properties"]["enableRbacAuthorization"], true, "{vault}");
    assert_eq!(vault["properties"]["accessPolicies"], Value::Array(vec![]));
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    let mine = cli.ok(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &vault_id,
        "--assignee-object-id",
        &me,
    ]);
    assert_eq!(mine[0]["roleDefinitionName"], "Key Vault Crypto Officer", "{mine}");
    cli.ok(&[
        "keyvault",
        "key",
        "create",
        "--vault-name",
        "kv-cli-rbac",
        "--name",
        "k1",
        "-o",
        "none",
    ]);

    // Another principal gets a role on one key, by name; inherited assignments show with --include-inherited.
    let other = cli.ok(&[
        "admin",
        "sp",
        "create",
        "--tenant",
        tenant,
        "--display-name",
        "colleague",
    ]);
    let other_oid = other["objectId"].as_str().unwrap().to_owned();
    let key_scope = format!("{vault_id}/keys/k1");
    let created = cli.ok(&[
        "role",
        "assignment",
        "create",
        "--role",
        "Key Vault Crypto User",
        "--assignee-object-id",
        &other_oid,
        "--scope",
        &key_scope,
        "--description",
        "uses k1",
    ]);
    assert_eq!(created["principalId"], other_oid.as_str(), "{created}");
    assert_eq!(
        created["scope"].as_str().unwrap().to_lowercase(),
        key_scope.to_lowercase()
    );
    assert_eq!(created["roleDefinitionName"], "Key Vault Crypto User");
    assert_eq!(created["description"], "uses k1");
    let at_key = cli.ok(&["role", "assignment", "list", "--scope", &key_scope]);
    assert_eq!(
        at_key.as_array().unwrap().len(),
        1,
        "only what is at the key itself: {at_key}"
    );
    let inherited = cli.ok(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &key_scope,
        "--include-inherited",
    ]);
    let roles: Vec<&str> = inherited
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["roleDefinitionName"].as_str().unwrap())
        .collect();
    for role in ["Owner", "Key Vault Crypto Officer", "Key Vault Crypto User"] {
        assert!(roles.contains(&role), "{role}: {inherited}");
    }
    let everywhere = cli.ok(&[
        "role",
        "assignment",
        "list",
        "--all",
        "--assignee-object-id",
        &other_oid,
    ]);
    assert_eq!(everywhere.as_array().unwrap().len(), 1, "{everywhere}");
    let tsv = cli.run(&[
        "role",
        "assignment",
        "list",
        "--all",
        "--query",
        "[].roleDefinitionName",
        "-o",
        "tsv",
    ]);
    assert!(tsv.stdout.lines().any(|l| l == "Owner"), "{tsv:?}");

    // Refusals: an unknown role name is a usage error, a duplicate the server's conflict, a role nobody holds
    // there nothing to delete.
    let stderr = cli.fails(
        USAGE,
        &[
            "role",
            "assignment",
            "create",
            "--role",
            "Vault God",
            "--assignee-object-id",
            &other_oid,
            "--scope",
            &key_scope,
        ],
    );
    assert!(stderr.contains("Role 'Vault God' doesn't exist."), "{stderr}");
    let stderr = cli.fails(
        REFUSED,
        &[
            "role",
            "assignment",
            "create",
            "--role",
            CRYPTO_USER,
            "--assignee-object-id",
            &other_oid,
            "--scope",
            &key_scope,
        ],
    );
    assert!(stderr.contains("(RoleAssignmentExists)"), "{stderr}");
    let stderr = cli.fails(
        NOT_FOUND,
        &[
            "role",
            "assignment",
            "delete",
            "--assignee-object-id",
            &other_oid,
            "--role",
            "Reader",
            "--scope",
            &key_scope,
        ],
    );
    assert!(stderr.contains("No matched assignments"), "{stderr}");
    let stderr = cli.fails(USAGE, &["role", "assignment", "list", "--scope", "subscriptions/x"]);
    assert!(stderr.contains("not a scope"), "{stderr}");

    // Delete by what it grants, then by id.
    cli.ok(&[
        "role",
        "assignment",
        "delete",
        "--assignee-object-id",
        &other_oid,
        "--role",
        "Key Vault Crypto User",
        "--scope",
        &key_scope,
    ]);
    assert_eq!(
        cli.ok(&["role", "assignment", "list", "--scope", &key_scope]),
        Value::Array(vec![])
    );
    let reader = cli.ok(&[
        "role",
        "assignment",
        "create",
        "--role",
        "Reader",
        "--assignee-object-id",
        &other_oid,
        "--resource-group",
        "cmk-dev",
    ]);
    let id = reader["id"].as_str().unwrap();
    cli.ok(&["role", "assignment", "delete", "--ids", id]);
    assert_eq!(
        cli.ok(&[
            "role",
            "assignment",
            "list",
            "--all",
            "--assignee-object-id",
            &other_oid
        ]),
        Value::Array(vec![])
    );

    // The operators' side: a subscription owned from the start, an owner added later, a principal deleted.
    let owned = cli.ok(&[
        "admin",
        "subscription",
        "create",
        "--tenant",
        tenant,
        "--display-name",
        "team",
        "--owner-object-id",
        &other_oid,
    ]);
    let team = owned["subscriptionId"].as_str().unwrap().to_owned();
    let added = cli.ok(&[
        "admin",
        "subscription",
        "add-owner",
        "--subscription",
        &team,
        "--principal-id",
        &me,
    ]);
    assert_eq!(added["scope"], format!("/subscriptions/{team}"), "{added}");
    let stderr = cli.fails(
        REFUSED,
        &[
            "admin",
            "subscription",
            "add-owner",
            "--subscription",
            &team,
            "--principal-id",
            &me,
        ],
    );
    assert!(stderr.contains("(RoleAssignmentExists)"), "{stderr}");
    let deleted = cli.ok(&[
        "admin",
        "sp",
        "delete",
        "--tenant",
        tenant,
        "--client-id",
        other["clientId"].as_str().unwrap(),
    ]);
    assert_eq!(deleted["objectId"], other_oid.as_str());
    let owners = cli.ok(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &format!("/subscriptions/{team}"),
    ]);
    let principals: Vec<&str> = owners
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["principalId"].as_str().unwrap())
        .collect();
    assert_eq!(
        principals,
        vec![me.as_str()],
        "the deleted principal's Owner went with it: {owners}"
    );
}
