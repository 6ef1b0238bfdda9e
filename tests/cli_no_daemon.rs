//! With no daemon to reach, crossbuild says so at once, naming every address
//! it tried, and exits non-zero.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn missing_daemon_is_one_clear_error_naming_every_address() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .arg("workers")
        .env_remove("BUILDKIT_HOST")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("XDG_RUNTIME_DIR", runtime_dir.path())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.starts_with("error: cannot reach a BuildKit daemon"),
        "{stderr}"
    );
    for expected in [
        "buildkit/buildkitd.sock (rootless buildkitd socket)",
        "unix:///run/buildkit/buildkitd.sock (buildkitd socket)",
        "unix:///nonexistent/docker.sock (DOCKER_HOST)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    // Generous bound for a loaded machine; the target is well under a second.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn bad_address_is_refused_with_the_reason() {
    let output = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["--addr", "docker-container://x", "workers"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("unsupported daemon address"), "{stderr}");
}
