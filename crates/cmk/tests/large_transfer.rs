//! A 1 GiB object up and down through the command line, with the memory it takes.
//!
//! A development server as a process, a logged-in client, an S0 account; a file of 1 GiB of pseudo-random
//! bytes (written 1 MiB at a time, never held whole) is uploaded with `cmk cognitiveservices data put --progress` and downloaded
//! with `cmk cognitiveservices data get --file --progress`. While each client runs, its peak resident memory
//! (`VmHWM` in `/proc/PID/status`) is sampled every 50 ms; the server's is read before and after. The client
//! must stay under [`CLIENT_PEAK_LIMIT`] and the server grow by less than [`SERVER_GROWTH_LIMIT`]: a transfer
//! holds one 1 MiB piece at a time, never the object. The copy is compared with the original 1 MiB at a time.
//!
//! `cargo test -p cmk --test large_transfer -- --nocapture` prints the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::start;

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MIB: u64 = 1 << 20;
/// The object: 1024 pieces of 1 MiB.
const SIZE: u64 = 1024 * MIB;
/// Peak resident memory allowed to one client process during a transfer.
const CLIENT_PEAK_LIMIT: u64 = 64 * MIB;
/// Growth of the server's peak resident memory allowed over an upload and a download.
const SERVER_GROWTH_LIMIT: u64 = 128 * MIB;
/// How often a running client's memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Peak resident memory of a live process, in bytes.
fn peak_resident(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// 2 MiB of pseudo-random bytes (xorshift64*).
fn noise() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut bytes = vec![0u8; 2 * MIB as usize];
    for word in bytes.chunks_exact_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes
}

/// Writes the object, 1 MiB at a time: piece `i` is the 1 MiB of the noise that starts at `i * 32792` (mod
/// 1 MiB), so no two pieces are alike and no piece starts where another does.
fn write_object(path: &Path) {
    let noise = noise();
    let mut file = File::create(path).unwrap();
    for index in 0..SIZE / MIB {
        let start = (index * 32_792 % MIB) as usize;
        file.write_all(&noise[start..start + MIB as usize]).unwrap();
    }
    file.sync_all().unwrap();
}

/// Whether two files have the same bytes, read 1 MiB at a time from each.
fn same_content(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (File::open(a).unwrap(), File::open(b).unwrap());
    if a.metadata().unwrap().len() != b.metadata().unwrap().len() {
        return false;
    }
    let (mut left, mut right) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    loop {
        let n = read_full(&mut a, &mut left);
        let m = read_full(&mut b, &mut right);
        if n != m || left[..n] != right[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(file: &mut File, buffer: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]).unwrap() {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

/// What one client run did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    peak: u64,
    took: Duration,
}

/// Runs the client with its config folder, stdout and stderr to files, sampling its peak resident memory.
fn run_sampled(config: &Path, work: &Path, args: &[&str]) -> Run {
    let (out, err) = (work.join("cli.stdout"), work.join("cli.stderr"));
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cmk"))
        .args(args)
        .env("CMK_CONFIG_DIR", config)
        .env_remove("CMK_SERVER")
        .env_remove("CMK_CLIENT_SECRET")
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(sampled) = peak_resident(child.id()) {
            peak = peak.max(sampled);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    Run {
        status,
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
        peak,
        took: started.elapsed(),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

fn rate(took: Duration) -> f64 {
    mib(SIZE) / took.as_secs_f64()
}

/// The progress bar's last drawing: the label, every byte of 1 GiB, and a rate.
#[track_caller]
fn assert_bar_drawn(stderr: &str, label: &str) {
    let last = stderr
        .rsplit(['\r', '\n'])
        .find(|line| line.contains(label))
        .unwrap_or_else(|| panic!("no progress bar '{label}' on stderr: {stderr:?}"));
    assert!(last.contains("1.00 GiB/1.00 GiB"), "{last:?}");
    assert!(last.contains("iB/s"), "the bar shows no rate: {last:?}");
    assert!(stderr.matches(label).count() > 1, "the bar was drawn only once");
}

#[test]
fn a_gibibyte_goes_up_and_down_in_bounded_memory() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let server = start(&data);
    let server_pid = server.child.id();

    let setup = |args: &[&str]| {
        let run = run_sampled(&config, &work, args);
        assert!(run.status.success(), "cmk {}: {}", args.join(" "), run.stderr);
    };
    setup(&["login", "--data-dir", data.to_str().unwrap(), "-o", "none"]);
    // Content is read and written with the login's token, which needs a data role on the account.
    let me = run_sampled(
        &config,
        &work,
        &["account", "show", "--query", "user.objectId", "-o", "tsv"],
    );
    assert!(me.status.success(), "account show: {}", me.stderr);
    setup(&[
        "role",
        "assignment",
        "create",
        "--role",
        "Cognitive Services User",
        "--assignee-object-id",
        me.stdout.trim(),
        "-o",
        "none",
    ]);
    setup(&[
        "cognitiveservices",
        "account",
        "create",
        "--name",
        "big-s0",
        "--location",
        "westus2",
        "--kind",
        "TextAnalytics",
        "--sku",
        "S0",
        "-o",
        "none",
    ]);

    let original = work.join("big");
    let generating = Instant::now();
    write_object(&original);
    let generated = generating.elapsed();
    assert_eq!(std::fs::metadata(&original).unwrap().len(), SIZE);

    let server_before = peak_resident(server_pid).unwrap();
    let source = original.to_str().unwrap();
    let up = run_sampled(
        &config,
        &work,
        &[
            "cognitiveservices",
            "data",
            "put",
            "--account",
            "big-s0",
            "--name",
            "big.bin",
            "--file",
            source,
            "--progress",
        ],
    );
    assert!(up.status.success(), "data put: {}", up.stderr);
    let stored: Value = serde_json::from_str(&up.stdout).unwrap();
    assert_eq!(stored["size"], SIZE, "{stored}");
    assert_bar_drawn(&up.stderr, "uploading big.bin");
    let server_after_upload = peak_resident(server_pid).unwrap();

    let copy = work.join("out");
    let down = run_sampled(
        &config,
        &work,
        &[
            "cognitiveservices",
            "data",
            "get",
            "--account",
            "big-s0",
            "--name",
            "big.bin",
            "--file",
            copy.to_str().unwrap(),
            "--progress",
        ],
    );
    assert!(down.status.success(), "data get: {}", down.stderr);
    assert!(down.stdout.is_empty(), "{:?}", down.stdout);
    assert_bar_drawn(&down.stderr, "downloading big.bin");
    let server_after = peak_resident(server_pid).unwrap();

    let comparing = Instant::now();
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), SIZE);
    assert!(same_content(&original, &copy), "the downloaded copy differs");
    let compared = comparing.elapsed();

    println!(
        "object: {:.0} MiB, generated in {:.1} s, compared in {:.1} s",
        mib(SIZE),
        generated.as_secs_f64(),
        compared.as_secs_f64()
    );
    println!(
        "upload:   {:.1} s, {:.0} MiB/s, client peak resident {:.1} MiB",
        up.took.as_secs_f64(),
        rate(up.took),
        mib(up.peak)
    );
    println!(
        "download: {:.1} s, {:.0} MiB/s, client peak resident {:.1} MiB",
        down.took.as_secs_f64(),
        rate(down.took),
        mib(down.peak)
    );
    println!(
        "server peak resident: {:.1} MiB before, {:.1} MiB after the upload, {:.1} MiB after the download \
         (grew {:.1} MiB)",
        mib(server_before),
        mib(server_after_upload),
        mib(server_after),
        mib(server_after - server_before)
    );

    assert!(up.peak > 0 && down.peak > 0, "no memory sample of the client");
    assert!(up.peak < CLIENT_PEAK_LIMIT, "the upload took {:.1} MiB", mib(up.peak));
    assert!(
        down.peak < CLIENT_PEAK_LIMIT,
        "the download took {:.1} MiB",
        mib(down.peak)
    );
    assert!(
        server_after - server_before < SERVER_GROWTH_LIMIT,
        "the server grew by {:.1} MiB",
        mib(server_after - server_before)
    );

    drop(server);
    drop(dir);
    println!("whole test: {:.1} s", started.elapsed().as_secs_f64());
}
