//! The CLI's other faces against the real daemon: the tty progress display
//! under a pseudo-terminal, `--load` into the Docker engine, `du`, `prune`.

mod common;

use common::tree::write_file;

fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "Dockerfile", dockerfile.as_bytes(), 0o644);
    write_file(dir.path(), "hello.txt", b"hello\n", 0o644);
    dir
}

#[tokio::test]
async fn tty_progress_under_a_pseudo_terminal() {
    if common::daemon_or_skip("tty_progress_under_a_pseudo_terminal")
        .await
        .is_none()
    {
        return;
    }
    let dir =
        context("FROM localhost:5000/busybox:latest\nRUN echo tty-step-ran\nCOPY hello.txt /\n");
    // `script` gives crossbuild a real pseudo-terminal on stdin/stdout/stderr,
    // so `--progress auto` must pick the tty display.
    let command = format!(
        "{} build --no-cache {}",
        env!("CARGO_BIN_EXE_crossbuild"),
        dir.path().display()
    );
    let output = std::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("COLUMNS", "100")
        .env("LINES", "40")
        .output()
        .expect("run script");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("[+] Building"), "{screen}");
    assert!(screen.contains("FINISHED"), "{screen}");
    assert!(screen.contains("RUN echo tty-step-ran"), "{screen}");
    assert!(
        screen.contains("\x1b["),
        "expected cursor movement in tty mode: {screen}"
    );
}

#[tokio::test]
async fn load_puts_the_image_into_the_docker_engine() {
    let Some(daemon) = common::daemon_or_skip("load_puts_the_image_into_the_docker_engine").await
    else {
        return;
    };
    if daemon.kind != crossbuild::client::DaemonKind::DockerEngine {
        panic!("--load needs the Docker engine the test environment runs");
    }
    let dir = context("FROM localhost:5000/busybox:latest\nCOPY hello.txt /hello.txt\n");
    let tag = format!("crossbuild-e2e/load:{}", std::process::id());
    let output = common::crossbuild(
        dir.path(),
        &["build", "--progress", "quiet", "--load", "-t", &tag, "."],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = std::process::Command::new("docker")
        .args(["run", "--rm", &tag, "cat", "/hello.txt"])
        .output()
        .expect("run docker");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello\n");
    let _ = std::process::Command::new("docker")
        .args(["rmi", &tag])
        .output();
}

#[tokio::test]
async fn du_and_prune_report_cache_records() {
    if common::daemon_or_skip("du_and_prune_report_cache_records")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let du = common::crossbuild(dir.path(), &["du", "--format", "json"]);
    assert!(
        du.status.success(),
        "{}",
        String::from_utf8_lossy(&du.stderr)
    );
    let records: serde_json::Value = serde_json::from_slice(&du.stdout).expect("JSON");
    let records = records.as_array().expect("a list");
    assert!(
        !records.is_empty(),
        "the tests built things, the cache cannot be empty"
    );
    assert!(records
        .iter()
        .all(|r| r["size"].is_i64() && r["id"].is_string()));
    let table = common::crossbuild(dir.path(), &["du"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("Total:"));
    // Plain prune only drops records no build uses, so it is safe beside
    // the other tests.
    let prune = common::crossbuild(dir.path(), &["prune", "--format", "json"]);
    assert!(
        prune.status.success(),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    let removed: serde_json::Value = serde_json::from_slice(&prune.stdout).expect("JSON");
    assert!(removed.is_array());
}

#[tokio::test]
async fn tls_flags_reach_the_engine_over_tcp() {
    if common::daemon_or_skip("tls_flags_reach_the_engine_over_tcp")
        .await
        .is_none()
    {
        return;
    }
    let env_dir =
        std::env::var("CROSSBUILD_ENV_DIR").unwrap_or_else(|_| "/var/tmp/crossbuild-env".into());
    let client = std::path::Path::new(&env_dir).join("tls/client");
    let dir = tempfile::tempdir().unwrap();
    let output = common::crossbuild(
        dir.path(),
        &[
            "--addr",
            "tcp://127.0.0.1:2376",
            "--tlsdir",
            client.to_str().unwrap(),
            "workers",
            "--format",
            "json",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let workers: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let platforms = workers[0]["platforms"].as_array().unwrap();
    assert!(platforms.iter().any(|p| p == "linux/arm64"), "{workers}");
    let unique: std::collections::HashSet<_> = platforms.iter().collect();
    assert_eq!(
        unique.len(),
        platforms.len(),
        "platforms listed twice: {workers}"
    );
    // Without the client certificate the engine refuses, and says so.
    let output = common::crossbuild(
        dir.path(),
        &[
            "--addr",
            "tcp://127.0.0.1:2376",
            "--tlscacert",
            client.join("ca.pem").to_str().unwrap(),
            "workers",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("client certificate"), "{stderr}");
}

#[tokio::test]
async fn the_no_output_warning_appears_only_when_no_output_was_asked_for() {
    if common::daemon_or_skip("the_no_output_warning_appears_only_when_no_output_was_asked_for")
        .await
        .is_none()
    {
        return;
    }
    let dir = context("FROM localhost:5000/busybox:latest\nCOPY hello.txt /\n");
    let warning = "WARNING: no output specified";
    let bare = common::crossbuild(dir.path(), &["build", "--progress", "quiet", "."]);
    let bare_err = String::from_utf8_lossy(&bare.stderr);
    assert!(bare.status.success(), "{bare_err}");
    assert!(bare_err.contains(warning), "{bare_err}");
    let cacheonly = common::crossbuild(
        dir.path(),
        &["build", "--progress", "quiet", "-o", "type=cacheonly", "."],
    );
    let cacheonly_err = String::from_utf8_lossy(&cacheonly.stderr);
    assert!(cacheonly.status.success(), "{cacheonly_err}");
    assert!(!cacheonly_err.contains(warning), "{cacheonly_err}");
}

/// Whether the daemon's build history holds a record for `build_ref`.
async fn in_history(daemon: &crossbuild::client::Daemon, build_ref: &str) -> bool {
    use bollard_buildkit_proto::moby::buildkit::v1::BuildHistoryRequest;
    let mut events = daemon
        .control()
        .listen_build_history(BuildHistoryRequest {
            r#ref: build_ref.to_string(),
            early_exit: true,
            ..Default::default()
        })
        .await
        .expect("ListenBuildHistory")
        .into_inner();
    let mut found = false;
    while let Some(event) = events.message().await.expect("a history event") {
        found |= event.record.is_some_and(|r| r.r#ref == build_ref);
    }
    found
}

/// Builds `dir` with `extra` flags and returns the build's ref.
fn build_ref_of(dir: &std::path::Path, extra: &[&str]) -> String {
    let metadata = dir.join("metadata.json");
    let metadata_arg = metadata.display().to_string();
    let mut args = vec![
        "build",
        "--progress",
        "quiet",
        "-o",
        "type=cacheonly",
        "--metadata-file",
        &metadata_arg,
    ];
    args.extend_from_slice(extra);
    args.push(".");
    let output = common::crossbuild(dir, &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    metadata["buildx.build.ref"]
        .as_str()
        .expect("buildx.build.ref in the metadata file")
        .to_string()
}

#[tokio::test]
async fn no_history_leaves_the_build_out_of_the_daemons_history() {
    let Some(daemon) =
        common::daemon_or_skip("no_history_leaves_the_build_out_of_the_daemons_history").await
    else {
        return;
    };
    let dir = context("FROM localhost:5000/busybox:latest\nCOPY hello.txt /\n");
    let recorded = build_ref_of(dir.path(), &[]);
    assert!(
        in_history(&daemon, &recorded).await,
        "a default build is recorded, as with buildx: {recorded}"
    );
    let unrecorded = build_ref_of(dir.path(), &["--no-history"]);
    assert!(
        !in_history(&daemon, &unrecorded).await,
        "--no-history recorded {unrecorded}"
    );
}
