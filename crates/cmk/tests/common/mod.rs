//! What the command-line tests share: a development server as a process, and the client binary run with a
//! config folder of its own.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub const OK: i32 = 0;
pub const REFUSED: i32 = 1;
pub const USAGE: i32 = 2;
pub const NOT_FOUND: i32 = 3;
pub const NOT_LOGGED_IN: i32 = 4;

pub struct Server {
    pub child: Child,
    pub data_dir: PathBuf,
    /// `https://localhost:PORT`
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmk server --dev` on a free port with its data in `data_dir`.
pub fn start(data_dir: &Path) -> Server {
    let log = std::fs::File::create(data_dir.with_extension("log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmk"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready, ready_at) = mpsc::channel();
    // Keep reading after the ready line so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(base) = line.strip_prefix("cmk: ready at ") {
                let _ = ready.send(base.to_owned());
            }
        }
    });
    let mut server = Server {
        child,
        data_dir: data_dir.to_owned(),
        base: String::new(),
    };
    server.base = ready_at
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not get ready in time");
    server
}

pub struct Answer {
    pub status: i32,
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout: {}\nstderr: {}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// The client, with a config folder of its own.
pub struct Client {
    pub config: PathBuf,
}

impl Client {
    pub fn run(&self, args: &[&str]) -> Answer {
        let output = Command::new(env!("CARGO_BIN_EXE_cmk"))
            .args(args)
            .env("CMK_CONFIG_DIR", &self.config)
            .env_remove("CMK_SERVER")
            .env_remove("CMK_CLIENT_SECRET")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        Answer {
            status: output.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; its JSON answer.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Value {
        let answer = self.run(args);
        assert_eq!(answer.status, OK, "cmk {}: {answer:?}", args.join(" "));
        answer.json
    }

    /// Runs a command that must fail with `status`; its stderr.
    #[track_caller]
    pub fn fails(&self, status: i32, args: &[&str]) -> String {
        let answer = self.run(args);
        assert_eq!(answer.status, status, "cmk {}: {answer:?}", args.join(" "));
        assert!(answer.stdout.is_empty(), "{answer:?}");
        assert!(answer.stderr.starts_with("ERROR: ") || status == USAGE, "{answer:?}");
        answer.stderr
    }
}

impl Server {
    /// The development credentials the server wrote.
    pub fn credentials(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.data_dir.join("dev-credentials.json")).unwrap()).unwrap()
    }
}

/// A server and a client logged in to it.
pub fn logged_in(temp: &Path) -> (Server, Client) {
    let server = start(&temp.join("data"));
    let client = Client {
        config: temp.join("config"),
    };
    client.ok(&["login", "--data-dir", server.data_dir.to_str().unwrap()]);
    (server, client)
}
