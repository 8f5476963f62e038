//! Runs `docs/walkthrough.md` exactly as written: every command of its `sh` blocks, in order, against a fresh
//! development server, so the document and the product cannot drift apart. A command marked `# fails: CODE`
//! must fail with that code on stderr; every other command must succeed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The `sh` blocks of a Markdown document, line by line.
fn shell_lines(markdown: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            inside = !inside && trimmed == "```sh";
            continue;
        }
        if inside && !trimmed.is_empty() {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// One line of the document as a checked step of a bash script.
fn step(line: &str) -> Option<String> {
    // The test starts the server itself and puts the binary on PATH itself.
    if line.starts_with("cargo run") || line.starts_with("export PATH=") {
        return None;
    }
    let quoted = line.replace('\'', r"'\''");
    Some(match line.split_once("# fails: ") {
        Some((command, code)) => {
            let code = code.trim();
            format!(
                "echo '$ {quoted}'\nif out=$({command} 2>&1); then echo \"expected to fail with {code}, but it succeeded: $out\"; exit 1; fi\necho \"$out\"\ncase \"$out\" in *\"({code})\"*) ;; *) echo 'the error does not name {code}'; exit 1;; esac\n"
            )
        }
        // A query that matches nothing prints `null`: in a walkthrough that is a mistake, not an answer.
        None => format!(
            "echo '$ {quoted}'\nout=$({line}) || {{ echo \"$out\"; echo 'this step failed'; exit 1; }}\necho \"$out\"\nif [ \"$out\" = null ]; then echo 'this step printed null: its --query matches nothing'; exit 1; fi\n"
        ),
    })
}

async fn start_server(data_home: &Path) -> tokio::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmk"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0"])
        .env("XDG_DATA_HOME", data_home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("cmk: ready at ") {
                return;
            }
        }
        panic!("the server exited before it was ready");
    })
    .await
    .expect("the server did not get ready in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

#[tokio::test]
async fn the_walkthrough_runs_as_written() {
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/walkthrough.md");
    let markdown = std::fs::read_to_string(&doc).unwrap();
    let lines = shell_lines(&markdown);
    assert!(
        lines.len() > 20,
        "the walkthrough should hold its commands in sh blocks"
    );
    assert!(lines.iter().any(|l| l.contains("# fails: ")));
    let script: String = lines.iter().filter_map(|l| step(l)).collect();

    let dir = tempfile::tempdir().unwrap();
    let data_home = dir.path().join("data-home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut server = start_server(&data_home).await;

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_cmk")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .env("PATH", path)
        .env("XDG_DATA_HOME", &data_home)
        .env("CMK_CONFIG_DIR", dir.path().join("config"))
        .env_remove("CMK_SERVER")
        .output()
        .await
        .unwrap();
    server.start_kill().unwrap();
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "docs/walkthrough.md does not run as written:\n{transcript}"
    );
}
