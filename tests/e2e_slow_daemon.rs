//! A daemon that answers slowly, stops answering, or drops the session:
//! a byte proxy in front of the real engine (its unix socket, or its mTLS
//! port) injects the fault, and crossbuild must end with one clear line in
//! bounded time — never hang — or, when the daemon is only slow, build.
//!
//! Connections through the proxy are numbered in the order crossbuild
//! opens them: with `--progress quiet` (no plan summary) 0 is the probe,
//! 1 the gRPC channel (`POST /grpc`), 2 the session (`POST /session`).
//! Nothing here touches the shared daemon itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fault_proxy::{Action, Fault, FaultProxy, Upstream};
use common::tree::write_file;

const ENGINE_SOCKET: &str = "/var/run/docker.sock";
const PROBE: usize = 0;
const CHANNEL: usize = 1;
const SESSION: usize = 2;

/// What one crossbuild run through the proxy ended with.
struct Run {
    success: bool,
    took: Duration,
    stderr: String,
}

/// Runs `crossbuild --addr ADDR EXTRA build --progress quiet --no-cache .`
/// in `dir`; kills it (and fails the test) if it runs past `limit`.
fn build_through(addr: &str, extra: &[&str], dir: &Path, limit: Duration) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["--addr", addr])
        .args(extra)
        .args(["build", "--progress", "quiet", "--no-cache", "."])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr }, &mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = start.elapsed();
    let stderr = reader.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("crossbuild hung for {took:?}: {stderr}"));
    assert!(
        status.code().is_some(),
        "crossbuild was killed by a signal ({status:?}): {stderr}"
    );
    Run {
        success: status.success(),
        took,
        stderr,
    }
}

/// Asserts a failed run said `message` on its one `error:` line.
fn assert_one_error(run: &Run, message: &str) {
    assert!(!run.success, "the build should fail: {}", run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains(message), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

fn context(dir: &Path) -> PathBuf {
    let context = dir.join("ctx");
    write_file(
        &context,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\nRUN echo slow-daemon-{} > /x\n",
            std::process::id()
        )
        .as_bytes(),
        0o644,
    );
    context
}

fn engine_proxy(fault: Fault) -> FaultProxy {
    FaultProxy::start(Upstream::Unix(ENGINE_SOCKET.into()), false, Some(fault))
}

async fn daemon_or_skip(test: &str) -> bool {
    common::daemon_or_skip(test).await.is_some()
}

/// The shared daemon is untouched: a build straight to it works at once.
fn direct_build_works(dir: &Path) {
    let output = common::crossbuild(dir, &["build", "--progress", "quiet", "."]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_daemon_that_accepts_and_never_answers_is_reported_within_the_probe_timeout() {
    if !daemon_or_skip("a_daemon_that_accepts_and_never_answers").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path());
    let proxy = engine_proxy(Fault {
        from_connection: PROBE,
        after_daemon_bytes: 0,
        action: Action::Stall,
    });
    let run = build_through(&proxy.address, &[], &context, Duration::from_secs(30));
    eprintln!("silent daemon: {:?}", run.took);
    assert_one_error(&run, "cannot reach a BuildKit daemon; tried:");
    assert!(
        run.stderr.contains("no answer within 3 s"),
        "{}",
        run.stderr
    );
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
}

#[tokio::test]
async fn a_daemon_that_stops_answering_mid_build_ends_it_after_the_keep_alive() {
    if !daemon_or_skip("a_daemon_that_stops_answering_mid_build").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path());
    // 2 kB into the gRPC connection: after the build started, while the
    // Dockerfile is read; the connection stays open, nothing more comes.
    let proxy = engine_proxy(Fault {
        from_connection: CHANNEL,
        after_daemon_bytes: 2000,
        action: Action::Stall,
    });
    let run = build_through(&proxy.address, &[], &context, Duration::from_secs(120));
    eprintln!("daemon stalled mid-build: {:?}", run.took);
    assert_one_error(
        &run,
        "the connection to BuildKit was lost (the daemon stopped answering: no reply to a keep-alive ping within 20 s)",
    );
    // 10 s of silence, then 20 s for the ping's answer.
    assert!(run.took < Duration::from_secs(60), "{:?}", run.took);
    direct_build_works(&context);
}

#[tokio::test]
async fn a_session_upgrade_that_is_never_answered_times_out() {
    if !daemon_or_skip("a_session_upgrade_that_is_never_answered_times_out").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path());
    let proxy = engine_proxy(Fault {
        from_connection: SESSION,
        after_daemon_bytes: 0,
        action: Action::Stall,
    });
    let run = build_through(&proxy.address, &[], &context, Duration::from_secs(60));
    eprintln!("session upgrade unanswered: {:?}", run.took);
    assert_one_error(
        &run,
        "opening the build session failed: the Docker engine did not answer the HTTP/2 upgrade on /session within 10 s",
    );
    assert!(run.took < Duration::from_secs(20), "{:?}", run.took);
}

#[tokio::test]
async fn a_session_cut_mid_build_is_named_as_the_cause() {
    if !daemon_or_skip("a_session_cut_mid_build_is_named_as_the_cause").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path());
    // 300 bytes: past the 101 answer, in the first requests of the session.
    let proxy = engine_proxy(Fault {
        from_connection: SESSION,
        after_daemon_bytes: 300,
        action: Action::Cut,
    });
    let run = build_through(&proxy.address, &[], &context, Duration::from_secs(60));
    eprintln!("session cut: {:?}", run.took);
    // Was: crossbuild killed by SIGPIPE writing to the closed socket,
    // without a word.
    assert_one_error(&run, "error: the build session with BuildKit was lost (");
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    direct_build_works(&context);
}

#[tokio::test]
async fn a_session_that_goes_silent_mid_build_ends_after_the_keep_alive() {
    if !daemon_or_skip("a_session_that_goes_silent_mid_build").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path());
    let proxy = engine_proxy(Fault {
        from_connection: SESSION,
        after_daemon_bytes: 300,
        action: Action::Stall,
    });
    let run = build_through(&proxy.address, &[], &context, Duration::from_secs(120));
    eprintln!("session stalled: {:?}", run.took);
    assert_one_error(
        &run,
        "error: the build session with BuildKit was lost (no reply to a keep-alive ping within 20 s)",
    );
    assert!(run.took < Duration::from_secs(60), "{:?}", run.took);
}

#[tokio::test]
async fn a_slow_daemon_still_builds() {
    if !daemon_or_skip("a_slow_daemon_still_builds").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path());
    // Every chunk from the daemon, on every connection, 200 ms late.
    let proxy = engine_proxy(Fault {
        from_connection: PROBE,
        after_daemon_bytes: 0,
        action: Action::Delay(Duration::from_millis(200)),
    });
    let run = build_through(&proxy.address, &[], &context, Duration::from_secs(120));
    eprintln!("slow daemon: {:?}", run.took);
    assert!(run.success, "{}", run.stderr);
}

fn tls_client_dir() -> PathBuf {
    std::env::var_os("CROSSBUILD_ENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/crossbuild-env"))
        .join("tls/client")
}

#[tokio::test]
async fn the_tls_connection_cut_mid_build_is_reported_at_once() {
    if !daemon_or_skip("the_tls_connection_cut_mid_build_is_reported_at_once").await {
        return;
    }
    let tls = tls_client_dir();
    if !tls.join("key.pem").exists() {
        assert!(!common::in_ci(), "CI=true but no TLS client material");
        eprintln!(
            "SKIPPED the_tls_connection_cut_mid_build: no {}",
            tls.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path());
    // The TLS handshake (~2 kB of certificates) passes; 8 kB in, the build
    // is running.
    let proxy = FaultProxy::start(
        Upstream::Tcp(([127, 0, 0, 1], 2376).into()),
        true,
        Some(Fault {
            from_connection: CHANNEL,
            after_daemon_bytes: 8000,
            action: Action::Cut,
        }),
    );
    let tls_dir = tls.to_string_lossy().into_owned();
    let run = build_through(
        &proxy.address,
        &["--tlsdir", &tls_dir],
        &context,
        Duration::from_secs(60),
    );
    eprintln!("TLS connection cut: {:?}\n{}", run.took, run.stderr);
    assert_one_error(&run, "the connection to BuildKit was lost");
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
}
