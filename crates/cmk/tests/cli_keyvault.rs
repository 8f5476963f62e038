//! `cmk keyvault ...` end to end: a development server as a process, and the client binary run command by
//! command with its own config folder, checking answers and exit statuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

mod common;

use common::{Client, NOT_FOUND, NOT_LOGGED_IN, OK, REFUSED, USAGE, start};

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn version_of(bundle: &Value) -> String {
    bundle["key"]["kid"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn keyvault_commands_work_end_to_end() {
    let temp = tempfile::tempdir().unwrap();
    let server = start(&temp.path().join("data"));
    let creds: Value =
        serde_json::from_slice(&std::fs::read(server.data_dir.join("dev-credentials.json")).unwrap()).unwrap();
    let group = creds["resource_group"].as_str().unwrap();
    let tenant = creds["tenant_id"].as_str().unwrap();
    let cli = Client {
        config: temp.path().join("config"),
    };

    // Before a login there is nothing to talk to.
    cli.fails(NOT_LOGGED_IN, &["keyvault", "list"]);
    let data_dir = server.data_dir.to_str().unwrap();
    let login = cli.ok(&["login", "--data-dir", data_dir]);
    assert_eq!(login[0]["isDefault"], json!(true), "{login}");

    // ---- vaults ----
    let vault = cli.ok(&["keyvault", "create", "--name", "kvcli1", "--location", "westus2"]);
    assert_eq!(vault["name"], "kvcli1");
    assert_eq!(vault["resourceGroup"], group);
    assert_eq!(vault["properties"]["tenantId"], tenant);
    assert_eq!(vault["properties"]["sku"]["name"], "standard");
    assert_eq!(vault["properties"]["softDeleteRetentionInDays"], 90);
    assert!(vault["properties"].get("enablePurgeProtection").is_none());
    let policies = vault["properties"]["accessPolicies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{vault}");
    assert_eq!(policies[0]["permissions"]["keys"], json!(["all"]));
    let my_object_id = policies[0]["objectId"].as_str().unwrap().to_owned();
    // A create never overwrites a vault.
    let refused = cli.fails(REFUSED, &["keyvault", "create", "-n", "kvcli1", "-l", "westus2"]);
    assert!(refused.contains("(VaultAlreadyExists)"), "{refused}");

    let protected = cli.ok(&[
        "keyvault",
        "create",
        "-n",
        "kvcli2",
        "-g",
        group,
        "-l",
        "westus2",
        "--enable-purge-protection",
        "--retention-days",
        "7",
        "--tags",
        "env=test",
        "team=keys",
    ]);
    assert_eq!(protected["properties"]["enablePurgeProtection"], true);
    assert_eq!(protected["properties"]["softDeleteRetentionInDays"], 7);
    assert_eq!(protected["tags"], json!({"env": "test", "team": "keys"}));
    cli.fails(
        REFUSED,
        &[
            "keyvault",
            "create",
            "-n",
            "kvcli3",
            "-l",
            "westus2",
            "--retention-days",
            "3",
        ],
    );
    cli.fails(USAGE, &["keyvault", "create", "-n", "kvcli3"]);
    cli.fails(USAGE, &["keyvault", "create", "-n", "kv/../x", "-l", "westus2"]);

    let shown = cli.ok(&["keyvault", "show", "--name", "kvcli1"]);
    assert!(
        shown["properties"]["vaultUri"]
            .as_str()
            .unwrap()
            .starts_with("https://kvcli1.vault."),
        "{shown}"
    );
    let uri = cli.run(&[
        "keyvault",
        "show",
        "-n",
        "kvcli1",
        "-g",
        group,
        "--query",
        "properties.vaultUri",
        "-o",
        "tsv",
    ]);
    assert_eq!(uri.status, OK);
    assert_eq!(uri.stdout.trim(), shown["properties"]["vaultUri"].as_str().unwrap());
    let missing = cli.fails(NOT_FOUND, &["keyvault", "show", "-n", "kvnothere"]);
    assert!(missing.contains("(ResourceNotFound)"), "{missing}");
    cli.fails(NOT_FOUND, &["keyvault", "show", "-n", "kvcli1", "-g", "no-such-group"]);

    assert_eq!(names(&cli.ok(&["keyvault", "list"])), ["kvcli1", "kvcli2"]);
    assert_eq!(names(&cli.ok(&["keyvault", "list", "-g", group])), ["kvcli1", "kvcli2"]);
    let table = cli.run(&["keyvault", "list", "-o", "table"]);
    assert!(table.stdout.starts_with("Name "), "{table:?}");

    // ---- access policies ----
    let other = "3f1c4a2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
    let granted = cli.ok(&[
        "keyvault",
        "set-policy",
        "-n",
        "kvcli1",
        "--object-id",
        other,
        "--key-permissions",
        "get",
        "WRAPKEY",
        "unwrapKey",
    ]);
    let entry = |vault: &Value| {
        vault["properties"]["accessPolicies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["objectId"] == other)
            .cloned()
    };
    let mut keys = entry(&granted).unwrap()["permissions"]["keys"]
        .as_array()
        .unwrap()
        .clone();
    keys.sort_by_key(|k| k.as_str().unwrap().to_owned());
    assert_eq!(keys, [json!("get"), json!("unwrapKey"), json!("wrapKey")]);
    let added = cli.ok(&[
        "keyvault",
        "set-policy",
        "-n",
        "kvcli1",
        "--object-id",
        other,
        "--key-permissions",
        "list",
        "--secret-permissions",
        "get",
    ]);
    assert_eq!(
        entry(&added).unwrap()["permissions"]["keys"].as_array().unwrap().len(),
        4
    );
    assert_eq!(entry(&added).unwrap()["permissions"]["secrets"], json!(["get"]));
    cli.fails(USAGE, &["keyvault", "set-policy", "-n", "kvcli1", "--object-id", other]);
    cli.fails(
        USAGE,
        &[
            "keyvault",
            "set-policy",
            "-n",
            "kvcli1",
            "--object-id",
            other,
            "--key-permissions",
            "fly",
        ],
    );
    cli.fails(
        REFUSED,
        &[
            "keyvault",
            "set-policy",
            "-n",
            "kvcli1",
            "--object-id",
            "not-a-guid",
            "--key-permissions",
            "get",
        ],
    );
    let removed = cli.ok(&["keyvault", "delete-policy", "-n", "kvcli1", "--object-id", other]);
    assert!(entry(&removed).is_none(), "{removed}");
    assert_eq!(removed["properties"]["accessPolicies"].as_array().unwrap().len(), 1);
    assert_eq!(
        removed["properties"]["accessPolicies"][0]["objectId"],
        my_object_id.as_str()
    );
    cli.fails(
        NOT_FOUND,
        &["keyvault", "delete-policy", "-n", "kvcli1", "--object-id", other],
    );

    // ---- keys ----
    let kv = ["--vault-name", "kvcli1"];
    let key = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["keyvault".to_owned(), "key".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        all.extend(kv.iter().map(|a| (*a).to_owned()));
        all
    };
    let run_key = |args: &[&str]| cli.ok(&key(args).iter().map(String::as_str).collect::<Vec<_>>());
    let fail_key =
        |status: i32, args: &[&str]| cli.fails(status, &key(args).iter().map(String::as_str).collect::<Vec<_>>());

    let k1 = run_key(&["create", "--name", "k1"]);
    assert_eq!(k1["key"]["kty"], "RSA");
    assert_eq!(k1["attributes"]["enabled"], true);
    assert_eq!(k1["attributes"]["recoverableDays"], 90);
    let k1_first = version_of(&k1);
    let k2 = run_key(&[
        "create",
        "-n",
        "k2",
        "--kty",
        "RSA-HSM",
        "--size",
        "3072",
        "--ops",
        "wrapKey",
        "unwrapkey",
        "--disabled",
        "--tags",
        "purpose=cmk",
    ]);
    assert_eq!(k2["key"]["kty"], "RSA-HSM");
    assert_eq!(k2["key"]["key_ops"], json!(["wrapKey", "unwrapKey"]));
    assert_eq!(k2["attributes"]["enabled"], false);
    assert_eq!(k2["tags"], json!({"purpose": "cmk"}));
    run_key(&["create", "-n", "k3", "--expires", "2099-01-01T00:00:00Z"]);
    let refused = fail_key(REFUSED, &["create", "-n", "k4", "--kty", "EC", "--size", "2048"]);
    assert!(
        refused.contains("(BadParameter)") && refused.contains("not supported for EC keys"),
        "{refused}"
    );
    fail_key(USAGE, &["create", "-n", "k4", "--kty", "DSA"]);
    fail_key(USAGE, &["create", "-n", "k4", "--expires", "next week"]);

    // Lists follow nextLink: pages of two.
    let listed = run_key(&["list", "--maxresults", "2"]);
    assert_eq!(names(&listed), ["k1", "k2", "k3"]);
    assert!(listed[0]["kid"].as_str().unwrap().contains("/keys/k1"), "{listed}");
    assert_eq!(names(&run_key(&["list"])), ["k1", "k2", "k3"]);
    fail_key(USAGE, &["list", "--maxresults", "26"]);

    let shown = run_key(&["show", "-n", "k1"]);
    assert_eq!(shown["key"]["kid"], k1["key"]["kid"]);
    let rotated = run_key(&["rotate", "-n", "k1"]);
    let k1_second = version_of(&rotated);
    assert_ne!(k1_first, k1_second);
    assert_eq!(version_of(&run_key(&["show", "-n", "k1"])), k1_second);
    assert_eq!(
        version_of(&run_key(&["show", "-n", "k1", "--version", &k1_first])),
        k1_first
    );
    let versions = run_key(&["list-versions", "-n", "k1", "--maxresults", "1"]);
    let mut listed_versions: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    listed_versions.sort_unstable();
    let mut expected = vec![k1_first.as_str(), k1_second.as_str()];
    expected.sort_unstable();
    assert_eq!(listed_versions, expected);
    let missing = fail_key(NOT_FOUND, &["show", "-n", "nokey"]);
    assert!(missing.contains("(KeyNotFound)"), "{missing}");
    fail_key(
        NOT_FOUND,
        &["show", "-n", "k1", "--version", "0123456789abcdef0123456789abcdef"],
    );
    cli.fails(
        NOT_FOUND,
        &["keyvault", "key", "show", "--vault-name", "kvnothere", "-n", "k1"],
    );

    let updated = run_key(&["set-attributes", "-n", "k2", "--enabled", "true", "--tags", "owner=ops"]);
    assert_eq!(updated["attributes"]["enabled"], true);
    assert_eq!(updated["tags"], json!({"owner": "ops"}));
    let updated = run_key(&[
        "set-attributes",
        "-n",
        "k1",
        "--version",
        &k1_first,
        "--ops",
        "encrypt",
        "decrypt",
        "wrapKey",
        "unwrapKey",
        "sign",
        "verify",
        "--expires",
        "2099-01-01T00:00:00Z",
    ]);
    assert_eq!(version_of(&updated), k1_first);
    assert_eq!(updated["attributes"]["exp"], 4_070_908_800_i64);
    let cleared = run_key(&["set-attributes", "-n", "k2", "--tags"]);
    assert_eq!(cleared["tags"], json!({}));

    // ---- cryptography: standard base64 in and out ----
    let data_key: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(250)).collect();
    let data_key_b64 = STANDARD.encode(&data_key);
    let wrapped = run_key(&[
        "wrap",
        "-n",
        "k1",
        "--algorithm",
        "RSA-OAEP-256",
        "--value",
        &data_key_b64,
    ]);
    assert_eq!(wrapped["kid"], rotated["key"]["kid"]);
    assert_eq!(wrapped["algorithm"], "RSA-OAEP-256");
    let wrapped_value = wrapped["result"].as_str().unwrap();
    assert_eq!(STANDARD.decode(wrapped_value).unwrap().len(), 256);
    let unwrapped = run_key(&[
        "unwrap",
        "-n",
        "k1",
        "--version",
        &k1_second,
        "-a",
        "RSA-OAEP-256",
        "--value",
        wrapped_value,
    ]);
    assert_eq!(unwrapped["result"], data_key_b64.as_str());
    // Another version's private key does not unwrap it.
    fail_key(
        REFUSED,
        &[
            "unwrap",
            "-n",
            "k1",
            "--version",
            &k1_first,
            "-a",
            "RSA-OAEP-256",
            "--value",
            wrapped_value,
        ],
    );

    let encrypted = run_key(&[
        "encrypt",
        "-n",
        "k1",
        "-a",
        "RSA-OAEP",
        "--value",
        "hello",
        "--data-type",
        "plaintext",
    ]);
    let ciphertext = encrypted["result"].as_str().unwrap();
    let decrypted = run_key(&["decrypt", "-n", "k1", "-a", "RSA-OAEP", "--value", ciphertext]);
    assert_eq!(decrypted["result"], STANDARD.encode("hello"));
    let decrypted = run_key(&[
        "decrypt",
        "-n",
        "k1",
        "-a",
        "RSA-OAEP",
        "--value",
        ciphertext,
        "--data-type",
        "plaintext",
    ]);
    assert_eq!(decrypted["result"], "hello");
    let text = cli.run(&[
        "keyvault",
        "key",
        "decrypt",
        "--vault-name",
        "kvcli1",
        "-n",
        "k1",
        "-a",
        "RSA-OAEP",
        "--value",
        ciphertext,
        "--data-type",
        "plaintext",
        "--query",
        "result",
        "-o",
        "tsv",
    ]);
    assert_eq!(text.stdout, "hello\n", "{text:?}");
    // k2 permits wrapKey and unwrapKey only.
    fail_key(
        REFUSED,
        &["encrypt", "-n", "k2", "-a", "RSA-OAEP", "--value", &data_key_b64],
    );
    fail_key(USAGE, &["wrap", "-n", "k1", "-a", "RSA-OAEP", "--value", "not base64!"]);
    fail_key(USAGE, &["wrap", "-n", "k1", "-a", "A256KW", "--value", &data_key_b64]);

    let digest = STANDARD.encode([9u8; 32]);
    let signed = run_key(&["sign", "-n", "k1", "-a", "PS256", "--digest", &digest]);
    let signature = signed["signature"].as_str().unwrap();
    let verified = run_key(&[
        "verify",
        "-n",
        "k1",
        "-a",
        "PS256",
        "--digest",
        &digest,
        "--signature",
        signature,
    ]);
    assert_eq!(verified["isValid"], true);
    let other_digest = STANDARD.encode([8u8; 32]);
    let verified = run_key(&[
        "verify",
        "-n",
        "k1",
        "-a",
        "PS256",
        "--digest",
        &other_digest,
        "--signature",
        signature,
    ]);
    assert_eq!(verified["isValid"], false);

    // An EC key on P-384 signs with ES384, and its signature verifies.
    let ec = run_key(&["create", "-n", "ec1", "--kty", "EC", "--curve", "P-384"]);
    assert_eq!(
        (ec["key"]["kty"].as_str(), ec["key"]["crv"].as_str()),
        (Some("EC"), Some("P-384"))
    );
    let digest = STANDARD.encode([7u8; 48]);
    let signed = run_key(&["sign", "-n", "ec1", "-a", "ES384", "--digest", &digest]);
    let signature = signed["signature"].as_str().unwrap();
    assert_eq!(STANDARD.decode(signature).unwrap().len(), 96, "r || s on P-384");
    let verified = run_key(&[
        "verify",
        "-n",
        "ec1",
        "-a",
        "ES384",
        "--digest",
        &digest,
        "--signature",
        signature,
    ]);
    assert_eq!(verified["isValid"], true);
    fail_key(USAGE, &["create", "-n", "ec2", "--kty", "EC", "--curve", "P-999"]);

    // ---- rotation policies ----
    let policy = run_key(&[
        "rotation-policy",
        "update",
        "-n",
        "k1",
        "--value",
        r#"{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D","timeBeforeExpiry":null},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P2Y"}}"#,
    ]);
    assert_eq!(policy["lifetimeActions"][0]["trigger"]["timeAfterCreate"], "P90D");
    assert_eq!(policy["attributes"]["expiryTime"], "P2Y");
    let policy_file = temp.path().join("policy.json");
    std::fs::write(
        &policy_file,
        r#"{"lifetime_actions":[{"trigger":{"time_before_expiry":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiry_time":"P1Y"}}"#,
    )
    .unwrap();
    let at_file = format!("@{}", policy_file.display());
    run_key(&["rotation-policy", "update", "-n", "k1", "--value", &at_file]);
    let policy = run_key(&["rotation-policy", "show", "-n", "k1"]);
    assert_eq!(policy["lifetimeActions"][0]["trigger"]["timeBeforeExpiry"], "P30D");
    assert_eq!(policy["attributes"]["expiryTime"], "P1Y");
    fail_key(
        USAGE,
        &["rotation-policy", "update", "-n", "k1", "--value", "{not json"],
    );
    fail_key(
        REFUSED,
        &[
            "rotation-policy",
            "update",
            "-n",
            "k1",
            "--value",
            r#"{"lifetimeActions":[{"trigger":{"timeAfterCreate":"soon"},"action":{"type":"Rotate"}}]}"#,
        ],
    );

    // ---- backup, delete, recover, purge, restore ----
    let backup = temp.path().join("k1.backup");
    let answer = cli.run(
        &key(&["backup", "-n", "k1", "--file", backup.to_str().unwrap()])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(answer.status, OK, "{answer:?}");
    assert!(answer.stdout.is_empty());
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);

    let deleted = run_key(&["delete", "-n", "k1"]);
    assert!(
        deleted["recoveryId"].as_str().unwrap().ends_with("/deletedkeys/k1"),
        "{deleted}"
    );
    fail_key(NOT_FOUND, &["show", "-n", "k1"]);
    assert_eq!(names(&run_key(&["list-deleted"])), ["k1"]);
    assert_eq!(
        run_key(&["show-deleted", "-n", "k1"])["recoveryId"],
        deleted["recoveryId"]
    );
    fail_key(REFUSED, &["create", "-n", "k1"]);
    let recovered = run_key(&["recover", "-n", "k1"]);
    assert_eq!(version_of(&recovered), k1_second);
    run_key(&["show", "-n", "k1"]);
    fail_key(NOT_FOUND, &["show-deleted", "-n", "k1"]);
    fail_key(NOT_FOUND, &["recover", "-n", "k1"]);

    run_key(&["delete", "-n", "k1"]);
    let answer = cli.run(
        &key(&["purge", "-n", "k1"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(answer.status, OK, "{answer:?}");
    assert!(answer.stdout.is_empty());
    fail_key(NOT_FOUND, &["show-deleted", "-n", "k1"]);
    fail_key(NOT_FOUND, &["purge", "-n", "k1"]);
    let restored = run_key(&["restore", "--file", backup.to_str().unwrap()]);
    assert_eq!(restored["key"]["kid"], rotated["key"]["kid"]);
    assert_eq!(run_key(&["list-versions", "-n", "k1"]).as_array().unwrap().len(), 2);
    // The old version unwraps what it wrapped before the backup.
    let unwrapped = run_key(&[
        "unwrap",
        "-n",
        "k1",
        "--version",
        &k1_second,
        "-a",
        "RSA-OAEP-256",
        "--value",
        wrapped_value,
    ]);
    assert_eq!(unwrapped["result"], data_key_b64.as_str());
    fail_key(REFUSED, &["restore", "--file", backup.to_str().unwrap()]);
    fail_key(
        REFUSED,
        &["restore", "--file", temp.path().join("no-such-file").to_str().unwrap()],
    );

    // Purge protection: keys and the vault itself wait for their retention to end.
    let protected_key = ["keyvault", "key", "create", "--vault-name", "kvcli2", "-n", "pk"];
    cli.ok(&protected_key);
    cli.ok(&["keyvault", "key", "delete", "--vault-name", "kvcli2", "-n", "pk"]);
    let refused = cli.fails(
        REFUSED,
        &["keyvault", "key", "purge", "--vault-name", "kvcli2", "-n", "pk"],
    );
    assert!(refused.contains("(Forbidden)"), "{refused}");

    // ---- deleting, recovering and purging vaults ----
    let answer = cli.run(&["keyvault", "delete", "-n", "kvcli1"]);
    assert_eq!(answer.status, OK, "{answer:?}");
    assert!(answer.stdout.is_empty());
    cli.fails(NOT_FOUND, &["keyvault", "show", "-n", "kvcli1"]);
    cli.fails(NOT_FOUND, &["keyvault", "delete", "-n", "kvcli1"]);
    cli.fails(NOT_FOUND, &["keyvault", "key", "list", "--vault-name", "kvcli1"]);
    let deleted = cli.ok(&["keyvault", "list-deleted"]);
    assert_eq!(names(&deleted), ["kvcli1"]);
    assert_eq!(deleted[0]["properties"]["location"], "westus2");
    let shown = cli.ok(&["keyvault", "show-deleted", "-n", "kvcli1"]);
    assert_eq!(shown["properties"]["purgeProtectionEnabled"], false);
    cli.ok(&["keyvault", "show-deleted", "-n", "kvcli1", "--location", "West US 2"]);
    cli.fails(
        NOT_FOUND,
        &["keyvault", "show-deleted", "-n", "kvcli1", "--location", "eastus"],
    );
    cli.fails(REFUSED, &["keyvault", "create", "-n", "kvcli1", "-l", "westus2"]);

    let recovered = cli.ok(&["keyvault", "recover", "-n", "kvcli1"]);
    assert_eq!(recovered["name"], "kvcli1");
    assert_eq!(recovered["resourceGroup"], group);
    assert_eq!(
        recovered["properties"]["accessPolicies"][0]["objectId"],
        my_object_id.as_str()
    );
    // Its keys come back with it.
    assert_eq!(names(&run_key(&["list"])), ["ec1", "k1", "k2", "k3"]);
    cli.fails(NOT_FOUND, &["keyvault", "recover", "-n", "kvcli1"]);

    cli.ok(&["keyvault", "delete", "-n", "kvcli1", "-g", group]);
    let answer = cli.run(&["keyvault", "purge", "-n", "kvcli1"]);
    assert_eq!(answer.status, OK, "{answer:?}");
    assert!(answer.stdout.is_empty());
    cli.fails(NOT_FOUND, &["keyvault", "show-deleted", "-n", "kvcli1"]);
    cli.fails(NOT_FOUND, &["keyvault", "purge", "-n", "kvcli1"]);
    assert_eq!(cli.ok(&["keyvault", "list-deleted"]), json!([]));
    // The name is free again.
    cli.ok(&["keyvault", "create", "-n", "kvcli1", "-l", "westus2", "--no-self-perms"]);
    assert_eq!(
        cli.ok(&["keyvault", "show", "-n", "kvcli1"])["properties"]["accessPolicies"],
        json!([])
    );
    // Without an access policy the keys stay closed.
    let denied = cli.fails(REFUSED, &["keyvault", "key", "list", "--vault-name", "kvcli1"]);
    assert!(denied.contains("(Forbidden)"), "{denied}");

    cli.ok(&["keyvault", "delete", "-n", "kvcli2"]);
    let refused = cli.fails(REFUSED, &["keyvault", "purge", "-n", "kvcli2"]);
    assert!(refused.contains("(MethodNotAllowed)"), "{refused}");
    assert_eq!(names(&cli.ok(&["keyvault", "list-deleted"])), ["kvcli2"]);

    // Usage errors never reach the server.
    cli.fails(USAGE, &["keyvault", "key", "create", "-n", "k9"]);
    cli.fails(USAGE, &["keyvault", "frobnicate"]);
    cli.fails(USAGE, &["keyvault", "list", "--query", "[", "-o", "tsv"]);
}
