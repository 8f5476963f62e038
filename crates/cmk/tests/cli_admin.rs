//! `cmk admin ...` end to end: tenants, subscriptions and their moves, service principals, the development
//! clock and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOT_FOUND, REFUSED, USAGE, logged_in};

#[test]
fn admin_commands_work_end_to_end() {
    let temp = tempfile::tempdir().unwrap();
    let (server, cli) = logged_in(temp.path());
    let creds = server.credentials();

    let tenant = cli.ok(&["admin", "tenant", "create", "--display-name", "contoso"]);
    let tenant_id = tenant["tenantId"].as_str().unwrap().to_owned();
    assert_eq!(tenant["displayName"], "contoso");
    let tenants = cli.ok(&["admin", "tenant", "list", "--query", "[].displayName"]);
    assert!(tenants.as_array().unwrap().iter().any(|t| t == "contoso"), "{tenants}");

    let subscription = cli.ok(&[
        "admin",
        "subscription",
        "create",
        "--tenant",
        &tenant_id,
        "--display-name",
        "production",
    ]);
    let subscription_id = subscription["subscriptionId"].as_str().unwrap().to_owned();
    assert_eq!(subscription["tenantId"], tenant_id.as_str());

    let principal = cli.ok(&["admin", "sp", "create", "--tenant", &tenant_id, "--display-name", "ci"]);
    assert!(
        principal["clientSecret"].as_str().is_some_and(|s| s.len() > 20),
        "{principal}"
    );

    // Moving the subscription to the development tenant and back.
    let home = creds["tenant_id"].as_str().unwrap();
    let moved = cli.ok(&[
        "admin",
        "subscription",
        "move",
        "--subscription",
        &subscription_id,
        "--tenant",
        home,
    ]);
    assert_eq!(moved["tenantId"], home);
    let refused = cli.fails(
        NOT_FOUND,
        &[
            "admin",
            "subscription",
            "move",
            "--subscription",
            &subscription_id,
            "--tenant",
            "00000000-0000-0000-0000-000000000001",
        ],
    );
    assert!(refused.contains("(TenantNotFound)"), "{refused}");

    let before = cli.ok(&["admin", "clock", "show"]);
    let after = cli.ok(&["admin", "clock", "advance", "--days", "1"]);
    assert_eq!(
        after["nowUnix"].as_i64().unwrap() - before["nowUnix"].as_i64().unwrap(),
        86_400,
        "{before} {after}"
    );
    cli.fails(USAGE, &["admin", "clock", "advance"]);

    // The audit log of a vault the client made.
    cli.ok(&["keyvault", "create", "--name", "kv-audit", "--location", "westus2"]);
    cli.ok(&["keyvault", "key", "create", "--vault-name", "kv-audit", "--name", "k1"]);
    // Audit records are written in batches every 100 ms.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let audit = cli.ok(&["admin", "audit", "--vault", "kv-audit"]);
    assert!(
        audit.as_array().unwrap().iter().any(|r| r["operation"]
            .as_str()
            .is_some_and(|o| o.starts_with("POST /keys/") && o.ends_with("/create"))
            && r["key"] == "k1"
            && r["status"] == 200),
        "{audit}"
    );
    let refused = cli.fails(REFUSED, &["admin", "tenant", "create", "--display-name", ""]);
    assert!(refused.contains("ERROR: ("), "{refused}");
}
