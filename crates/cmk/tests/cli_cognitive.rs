//! `cmk cognitiveservices ...` against a development server, as a user runs it: accounts and their keys, content
//! streamed up and down (from files and pipes), a customer-managed key granted the portal way, re-encryption,
//! going back to Microsoft-managed keys, deletion and recovery, and the refusals with their exit statuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::start;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A command line split into words; `'...'` keeps spaces in a word.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(!quoted, "unbalanced quotes in {line}");
    words.extend(word);
    words
}

/// The command line client with a config folder of its own.
struct Cli {
    config: PathBuf,
}

impl Cli {
    fn command(&self, line: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cmk"));
        command
            .args(words(line))
            .env("CMK_CONFIG_DIR", &self.config)
            .env_remove("CMK_SERVER")
            .env_remove("CMK_CLIENT_SECRET");
        command
    }

    fn run(&self, line: &str) -> Output {
        self.command(line).stdin(Stdio::null()).output().unwrap()
    }

    fn run_with_stdin(&self, line: &str, input: &[u8]) -> Output {
        let mut child = self
            .command(line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        output
    }

    /// Runs a command that must succeed.
    fn ok(&self, line: &str) -> Output {
        succeeded(line, self.run(line))
    }

    /// Runs a command that must succeed; its stdout, parsed.
    fn json(&self, line: &str) -> Value {
        parse(&self.ok(line))
    }

    /// Runs a command that must succeed without printing anything.
    fn quiet(&self, line: &str) {
        let output = self.ok(line);
        assert!(output.stdout.is_empty(), "cmk {line}: printed {:?}", output.stdout);
    }

    /// Runs a command that must fail with `status`; its stderr.
    fn fails(&self, line: &str, status: i32) -> String {
        let output = self.run(line);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(status), "cmk {line}: {stderr}");
        assert!(output.stdout.is_empty(), "cmk {line}: printed {:?}", output.stdout);
        stderr
    }
}

fn succeeded(line: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "cmk {line} exited with {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn parse(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// Bytes that do not compress or repeat at piece boundaries.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

#[test]
fn accounts_content_and_customer_managed_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = start(&data);
    let cli = Cli {
        config: dir.path().join("config"),
    };
    cli.ok(&format!("login --data-dir '{}' -o none", data.display()));
    // Owning the subscription grants no data access: the login reads and writes content with its token through
    // a data role on the resource group.
    let me = cli.ok("account show --query user.objectId -o tsv");
    let granted = cli.json(&format!(
        "role assignment create --role 'Cognitive Services User' --assignee-object-id {} --resource-group cmk-dev",
        String::from_utf8_lossy(&me.stdout).trim()
    ));
    assert_eq!(granted["roleDefinitionName"], "Cognitive Services User", "{granted}");

    // An E0 account with its own subdomain, and its API keys.
    let account = cli.json(
        "cognitiveservices account create --name acct-e0 --location westus2 --kind TextAnalytics --sku E0 \
         --custom-domain cli-e0 --tags team=search",
    );
    assert_eq!(account["sku"]["name"], "E0");
    assert_eq!(account["tags"]["team"], "search");
    assert_eq!(
        account["properties"]["encryption"]["keySource"],
        "Microsoft.CognitiveServices"
    );
    let endpoint = account["properties"]["endpoint"].as_str().unwrap();
    assert!(
        endpoint.starts_with("https://cli-e0.cognitiveservices.localhost:"),
        "{endpoint}"
    );
    let keys = cli.json("cognitiveservices account keys list -n acct-e0");
    let key1 = keys["key1"].as_str().unwrap().to_owned();
    assert!(!key1.is_empty() && keys["key2"].as_str().is_some_and(|k| k != key1));
    let regenerated = cli.json("cognitiveservices account keys regenerate -n acct-e0 --key-name key2");
    assert_eq!(regenerated["key1"], key1.as_str());
    assert_ne!(regenerated["key2"], keys["key2"]);
    let tsv = cli.ok("cognitiveservices account keys list -n acct-e0 --query key1 -o tsv");
    assert_eq!(String::from_utf8(tsv.stdout).unwrap(), format!("{key1}\n"));
    assert_eq!(names(&cli.json("cognitiveservices account list")), ["acct-e0"]);

    // Content: a file of 3 MiB and a bit (four 1 MiB pieces, the last one short), and a pipe.
    let big = noise(3 * 1024 * 1024 + 17);
    let big_path = dir.path().join("big.bin");
    std::fs::write(&big_path, &big).unwrap();
    let put = cli.ok(&format!(
        "cognitiveservices data put --account acct-e0 --name datasets/big.bin --file '{}' --progress",
        big_path.display()
    ));
    let stored = parse(&put);
    assert_eq!(stored["size"], big.len());
    assert_eq!(stored["contentType"], "application/octet-stream");
    assert!(String::from_utf8_lossy(&put.stderr).contains("uploading datasets/big.bin"));
    let hello = b"hello from a pipe\n";
    let line = "cognitiveservices data put --account acct-e0 -n 'notes/hello world.txt' --content-type text/plain";
    let piped = succeeded(line, cli.run_with_stdin(line, hello));
    let piped = parse(&piped);
    assert_eq!(piped["size"], hello.len());

    let listed = cli.json("cognitiveservices data list --account acct-e0");
    assert_eq!(names(&listed), ["datasets/big.bin", "notes/hello world.txt"]);
    let listed = cli.json("cognitiveservices data list --account acct-e0 --prefix notes/");
    assert_eq!(names(&listed), ["notes/hello world.txt"]);
    let shown = cli.json("cognitiveservices data show --account acct-e0 -n 'notes/hello world.txt'");
    assert_eq!(shown["size"], hello.len());
    assert_eq!(shown["contentType"], "text/plain");
    assert_eq!(shown["etag"], piped["etag"]);

    let read_back = |label: &str| {
        let copy = dir.path().join(format!("copy-{label}.bin"));
        let to_file = cli.ok(&format!(
            "cognitiveservices data get --account acct-e0 --name datasets/big.bin --file '{}'",
            copy.display()
        ));
        assert!(to_file.stdout.is_empty());
        assert!(std::fs::read(&copy).unwrap() == big, "{label}: the file differs");
        let to_stdout = cli.ok("cognitiveservices data get --account acct-e0 --name datasets/big.bin");
        assert!(to_stdout.stdout == big, "{label}: stdout differs");
        let small = cli.ok("cognitiveservices data get --account acct-e0 -n 'notes/hello world.txt' -f -");
        assert_eq!(small.stdout, hello, "{label}");
    };
    read_back("microsoft-managed");

    // The account's identity; the customer's vault (purge protection) and RSA-2048 key.
    let identity = cli.json("cognitiveservices account identity assign -n acct-e0");
    assert_eq!(identity["type"], "SystemAssigned");
    assert!(identity["principalId"].as_str().is_some());
    assert_eq!(cli.json("cognitiveservices account identity show -n acct-e0"), identity);
    let vault =
        cli.json("keyvault create --name kv-cli --location westus2 --enable-purge-protection --retention-days 7");
    assert_eq!(vault["properties"]["enablePurgeProtection"], true);
    let key = cli.json("keyvault key create --vault-name kv-cli --name cmk-key --kty RSA --size 2048");
    let kid = key["key"]["kid"].as_str().unwrap().to_owned();
    let key_uri = kid.rsplit_once('/').unwrap().0.to_owned();

    // Refusals: an S0 account, an identity without access, a malformed key, accounts and objects that do not
    // exist.
    cli.json("cognitiveservices account create -n acct-s0 -l westus2 --kind TextAnalytics --sku S0 --assign-identity");
    let stderr = cli.fails(
        &format!("cognitiveservices account encryption set -n acct-s0 --key-uri {key_uri}"),
        1,
    );
    assert!(
        stderr.starts_with("ERROR: (CustomerManagedKeyRequiresE0Sku) "),
        "{stderr}"
    );
    let stderr = cli.fails(
        "cognitiveservices account encryption set -n acct-e0 --vault-name kv-cli --key-name cmk-key",
        1,
    );
    assert!(stderr.starts_with("ERROR: (KeyVaultAccessDenied) "), "{stderr}");
    let stderr = cli.fails(
        "cognitiveservices account encryption set -n acct-e0 --key-uri kv-cli/keys/k",
        2,
    );
    assert!(stderr.contains("--key-uri"), "{stderr}");
    let stderr = cli.fails("cognitiveservices account show -n missing", 3);
    assert!(stderr.starts_with("ERROR: (ResourceNotFound) "), "{stderr}");
    cli.fails("cognitiveservices data list --account missing", 3);
    let stderr = cli.fails("cognitiveservices data show --account acct-e0 -n missing", 3);
    assert!(stderr.starts_with("ERROR: (ContentNotFound) "), "{stderr}");
    let stderr = cli.fails("cognitiveservices data get --account acct-e0 -n missing", 3);
    assert!(stderr.starts_with("ERROR: (ContentNotFound) "), "{stderr}");

    // The customer-managed key, granted the portal way; content stays readable.
    let encryption = cli.json(
        "cognitiveservices account encryption set -n acct-e0 --vault-name kv-cli --key-name cmk-key --grant-access",
    );
    assert_eq!(encryption["keySource"], "Microsoft.KeyVault");
    assert_eq!(encryption["keyAccess"]["state"], "Accessible");
    assert_eq!(encryption["keyVaultProperties"]["keyName"], "cmk-key");
    assert_eq!(encryption["keyVaultProperties"]["keyVersion"], "");
    assert_eq!(
        encryption["keyVaultProperties"]["currentVersionedKeyIdentifier"],
        kid.as_str()
    );
    assert_eq!(
        cli.json("cognitiveservices account encryption show -n acct-e0"),
        encryption
    );
    read_back("customer-managed");

    // A new data key, and every object rewritten under it.
    let job = cli.json("cognitiveservices account reencrypt -n acct-e0");
    assert_eq!(job["status"], "Succeeded", "{job}");
    assert_eq!(job["objectsTotal"], 2);
    assert_eq!(job["objectsDone"], 2);
    assert_eq!(job["bytesDone"], big.len() + hello.len());
    let status = cli.json("cognitiveservices account reencrypt-status -n acct-e0");
    assert_eq!(status["dataKeyVersion"], job["dataKeyVersion"]);
    read_back("re-encrypted");

    // Back to Microsoft-managed keys.
    let reverted = cli.json("cognitiveservices account encryption revert -n acct-e0");
    assert_eq!(reverted["keySource"], "Microsoft.CognitiveServices");
    read_back("reverted");

    cli.quiet("cognitiveservices data delete --account acct-e0 -n 'notes/hello world.txt'");
    let listed = cli.json("cognitiveservices data list --account acct-e0");
    assert_eq!(names(&listed), ["datasets/big.bin"]);

    // Deletion keeps the account recoverable, with its content; purging ends it.
    cli.quiet("cognitiveservices account delete -n acct-e0");
    cli.fails("cognitiveservices account show -n acct-e0", 3);
    assert_eq!(names(&cli.json("cognitiveservices account list-deleted")), ["acct-e0"]);
    let recovered = cli.json("cognitiveservices account recover -n acct-e0");
    assert_eq!(recovered["properties"]["provisioningState"], "Succeeded");
    let recovered = cli.ok("cognitiveservices data get --account acct-e0 --name datasets/big.bin");
    assert!(recovered.stdout == big, "the recovered account's content differs");
    cli.quiet("cognitiveservices account delete -n acct-s0");
    cli.quiet("cognitiveservices account purge -n acct-s0 --location westus2");
    assert_eq!(
        cli.json("cognitiveservices account list-deleted"),
        Value::Array(Vec::new())
    );
    let stderr = cli.fails("cognitiveservices account recover -n acct-s0", 3);
    assert!(stderr.starts_with("ERROR: (DeletedAccountNotFound) "), "{stderr}");
}
