//! The daemon dies in the middle of a build: crossbuild says the connection
//! to BuildKit was lost, in one message, within 5 s; once the daemon is
//! back, the next build works.
//!
//! These tests stop the shared daemon, so they run only where nothing else
//! uses it: under CI (cargo runs test binaries one at a time) or when
//! CROSSBUILD_DISRUPTIVE_TESTS=1 is set; elsewhere they say why and skip.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tree::write_file;

fn disruptive_tests_allowed(test: &str) -> bool {
    let allowed =
        common::in_ci() || std::env::var("CROSSBUILD_DISRUPTIVE_TESTS").is_ok_and(|v| v == "1");
    if !allowed {
        eprintln!("SKIPPED {test}: it stops the shared daemon; set CROSSBUILD_DISRUPTIVE_TESTS=1 (CI always runs it)");
    }
    allowed
}

fn env_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CROSSBUILD_ENV_DIR").unwrap_or_else(|_| "/var/tmp/crossbuild-env".into()),
    )
}

fn bring_environment_up() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/buildkit-env");
    let status = Command::new("bash")
        .arg(script)
        .arg("up")
        .stdout(Stdio::null())
        .status()
        .expect("run buildkit-env up");
    assert!(status.success(), "scripts/buildkit-env up failed");
}

#[tokio::test]
async fn daemon_killed_mid_build_is_reported_and_the_next_build_works() {
    let test = "daemon_killed_mid_build_is_reported_and_the_next_build_works";
    if common::daemon_or_skip(test).await.is_none() || !disruptive_tests_allowed(test) {
        return;
    }
    let marker = 5000 + (std::process::id() % 1000);
    let context = tempfile::tempdir().unwrap();
    write_file(
        context.path(),
        "Dockerfile",
        format!("FROM localhost:5000/busybox:latest\nRUN sleep {marker}\n").as_bytes(),
        0o644,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["build", "--progress", "plain", "--no-cache", "."])
        .current_dir(context.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !common::process_running(&format!("sleep {marker}")) {
        assert!(Instant::now() < deadline, "the RUN step never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid: i32 = std::fs::read_to_string(env_dir().join("run/dockerd.pid"))
        .expect("dockerd pid file")
        .trim()
        .parse()
        .unwrap();
    let killed = Instant::now();
    // SAFETY: killing the test environment's own dockerd, by its pid file.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = child.wait().unwrap();
    let took = killed.elapsed();
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();

    bring_environment_up();
    assert!(!status.success());
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} to notice: {log}"
    );
    assert!(log.contains("connection to BuildKit was lost"), "{log}");
    assert_eq!(log.matches("error:").count(), 1, "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // The daemon is back: the next build works.
    write_file(
        context.path(),
        "Dockerfile",
        b"FROM localhost:5000/busybox:latest\nRUN echo back\n",
        0o644,
    );
    let output = common::crossbuild(context.path(), &["build", "--progress", "quiet", "."]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
