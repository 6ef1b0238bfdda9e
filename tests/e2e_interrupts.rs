//! SIGTERM and SIGINT at several points of a build: crossbuild stops
//! within 2 s with one message, and the daemon builds again at once.
//! (SIGINT during a RUN step is in e2e_build.rs.)

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::tree::write_file;

/// Starts `crossbuild build --progress plain ARGS .` in `dir`, sends
/// `signal` once a stderr line contains `trigger`, and returns the time to
/// exit and the whole stderr.
fn interrupt_when(dir: &Path, args: &[&str], trigger: &str, signal: i32) -> (Duration, String) {
    interrupt_at(dir, args, |line| line.contains(trigger), signal)
}

/// [`interrupt_when`], with the line that triggers the signal chosen by
/// `trigger`.
fn interrupt_at(
    dir: &Path,
    args: &[&str],
    trigger: impl Fn(&str) -> bool,
    signal: i32,
) -> (Duration, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["build", "--progress", "plain"])
        .args(args)
        .arg(".")
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(line);
        }
    });
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("never saw the trigger line: {log}"));
        log.push_str(&line);
        log.push('\n');
        if trigger(&line) {
            break;
        }
    }
    let sent = Instant::now();
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    reader.join().unwrap();
    log.extend(lines_rx.try_iter().map(|l| l + "\n"));
    assert!(!status.success(), "{log}");
    (took, log)
}

/// A small build must work right after an interrupted one.
fn small_build_works(dir: &Path) {
    let context = dir.join("after");
    write_file(
        &context,
        "Dockerfile",
        b"FROM localhost:5000/busybox\nRUN echo again > /again\n",
        0o644,
    );
    let start = Instant::now();
    let output = common::crossbuild(
        &context,
        &["build", "--progress", "quiet", "--no-cache", "."],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("build after the interrupt: {:?}", start.elapsed());
}

fn assert_one_message(log: &str, message: &str, took: Duration) {
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    assert_eq!(log.matches(message).count(), 1, "{log}");
    assert_eq!(log.matches("error:").count(), 1, "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn sigterm_during_a_run_step() {
    if common::daemon_or_skip("sigterm_during_a_run_step")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    write_file(
        &context,
        "Dockerfile",
        b"FROM localhost:5000/busybox\nRUN echo run-started-now && sleep 300\n",
        0o644,
    );
    let (took, log) = interrupt_when(&context, &["--no-cache"], "run-started-now", libc::SIGTERM);
    eprintln!("SIGTERM during RUN: stopped in {took:?}");
    assert_one_message(&log, "terminated: the build was cancelled", took);
    small_build_works(dir.path());
}

#[tokio::test]
async fn sigint_during_a_context_upload() {
    if common::daemon_or_skip("sigint_during_a_context_upload")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    write_file(
        &context,
        "Dockerfile",
        b"FROM localhost:5000/busybox\nCOPY big.bin /big.bin\n",
        0o644,
    );
    // 8 GiB sparse: the upload takes many seconds (about 250 MB/s here),
    // so the signal lands in the middle of it.
    let big = std::fs::File::create(context.join("big.bin")).unwrap();
    big.set_len(8 << 30).unwrap();
    drop(big);
    // Plain progress reports the bytes sent so far ("... 1.19GB 5.1s"),
    // then once more with "done".
    let uploading = |line: &str| {
        line.contains("transferring context: ")
            && (line.contains("MB ") || line.contains("GB "))
            && !line.ends_with("done")
    };
    let (took, log) = interrupt_at(&context, &[], uploading, libc::SIGINT);
    assert!(log.contains("transferring context"), "{log}");
    eprintln!("SIGINT during upload: stopped in {took:?}");
    assert_one_message(&log, "interrupted: the build was cancelled", took);
    small_build_works(dir.path());
}

#[tokio::test]
async fn sigint_during_a_push() {
    if common::daemon_or_skip("sigint_during_a_push")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    // 32 MiB that do not compress: the push of that layer to the shared
    // registry takes long enough for the signal to land in it.
    write_file(
        &context,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox\nRUN head -c 33554432 /dev/urandom > /big && echo {} > /id\n",
            std::process::id()
        )
        .as_bytes(),
        0o644,
    );
    let repository = format!("crossbuild-e2e/sigint-push-{}", std::process::id());
    let tag = format!("127.0.0.1:5000/{repository}:1");
    let push = ["--platform", "linux/amd64", "-t", &tag, "--push"];
    let (took, log) = interrupt_when(&context, &push, "pushing layers", libc::SIGINT);
    eprintln!("SIGINT during push: stopped in {took:?}");
    assert_one_message(&log, "interrupted: the build was cancelled", took);
    assert!(
        !manifest_exists(&repository, "1"),
        "the push finished before the signal: {log}"
    );
    // Cancelled on the daemon too, not finished behind crossbuild's back.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !manifest_exists(&repository, "1"),
        "the daemon finished the push after the interrupt"
    );
    // The daemon pushes the same image again at once.
    let start = Instant::now();
    let output = common::crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64",
            "-t",
            &tag,
            "--push",
            ".",
        ],
    );
    let _ = Command::new("docker")
        .args(["image", "rm", &tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("push after the interrupt: {:?}", start.elapsed());
    assert!(manifest_exists(&repository, "1"));
}

fn manifest_exists(repository: &str, reference: &str) -> bool {
    Command::new("curl")
        .args([
            "-sf",
            "-o",
            "/dev/null",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json",
            &format!("http://127.0.0.1:5000/v2/{repository}/manifests/{reference}"),
        ])
        .status()
        .is_ok_and(|s| s.success())
}
