//! crossbuild reaches a Docker engine over tcp with mutual TLS, the way
//! buildctl and the Docker CLI do, and refuses clearly (fast, no panic) when
//! the certificates are wrong. The endpoint and certificates are the ones
//! `scripts/buildkit-env up` makes: dockerd on tcp://127.0.0.1:2376 with
//! `--tlsverify`, material in `$CROSSBUILD_ENV_DIR/tls`.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::tree::{assert_same_tree, snapshot, write_file};
use crossbuild::client::tls::TlsOptions;
use crossbuild::client::workers::list_workers;
use crossbuild::client::{self, Daemon, DaemonKind, Lookup};

const ADDR: &str = "tcp://127.0.0.1:2376";
/// A refusal must come well within this (the spec of the piece: < 5 s).
const REFUSAL_DEADLINE: Duration = Duration::from_secs(5);

fn tls_dir() -> PathBuf {
    std::env::var_os("CROSSBUILD_ENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/crossbuild-env"))
        .join("tls")
}

/// The client's material when the TLS endpoint is up; `None` (after saying
/// why) when it is not and we are not in CI.
fn tls_endpoint_or_skip(test: &str) -> Option<PathBuf> {
    common::init_logging();
    let client_dir = tls_dir().join("client");
    let reason = if !client_dir.join("key.pem").exists() {
        format!("no test certificates in {}", client_dir.display())
    } else {
        let addr = ([127, 0, 0, 1], 2376).into();
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(_) => return Some(client_dir),
            Err(err) => format!("nothing listens on {ADDR} ({err})"),
        }
    };
    if common::in_ci() {
        panic!("{test}: CI=true but the TLS endpoint is not up: {reason}");
    }
    eprintln!(
        "SKIPPED {test}: {reason}; run `scripts/buildkit-env down && scripts/buildkit-env up`"
    );
    None
}

fn lookup_with(tls: TlsOptions) -> Lookup {
    Lookup {
        flag: Some(ADDR.to_string()),
        tls: Some(tls),
        ..Default::default()
    }
}

async fn connect_within_deadline(lookup: &Lookup) -> Result<Daemon, String> {
    let start = Instant::now();
    let result = tokio::time::timeout(REFUSAL_DEADLINE, client::connect(lookup))
        .await
        .map_err(|_| format!("no answer within {REFUSAL_DEADLINE:?} (a hang)"))?
        .map_err(|e| e.to_string());
    assert!(start.elapsed() < REFUSAL_DEADLINE, "{:?}", start.elapsed());
    result
}

async fn assert_workers_listed(daemon: &Daemon) {
    assert_eq!(daemon.kind, DaemonKind::DockerEngine);
    assert!(daemon.uses_tls());
    let workers = list_workers(daemon).await.expect("ListWorkers over TLS");
    let platforms: Vec<&str> = workers
        .iter()
        .flat_map(|w| w.platforms.iter().map(String::as_str))
        .collect();
    assert!(platforms.contains(&"linux/amd64"), "{platforms:?}");
}

#[tokio::test]
async fn lists_workers_over_mutual_tls() {
    let Some(client_dir) = tls_endpoint_or_skip("lists_workers_over_mutual_tls") else {
        return;
    };
    let tls = TlsOptions {
        ca_cert: Some(client_dir.join("ca.pem")),
        client_cert: Some(client_dir.join("cert.pem")),
        client_key: Some(client_dir.join("key.pem")),
        server_name: None,
    };
    let daemon = connect_within_deadline(&lookup_with(tls))
        .await
        .expect("connect with the client certificate");
    assert_workers_listed(&daemon).await;
    // The session door needs its own connection; it must come out of the
    // same transport, TLS included, and still be answered by the engine.
    let mut stream = daemon.open_stream().await.expect("a second TLS stream");
    let answer = crossbuild::client::engine::probe(&mut stream)
        .await
        .unwrap();
    assert_eq!(answer, crossbuild::client::engine::PingAnswer::DockerEngine);
}

/// The session door (`POST /session`) goes through the same TLS transport
/// as the gRPC channel: a small context goes up through FileSync and comes
/// back through the local exporter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_round_trips_a_context_over_tls() {
    let Some(client_dir) = tls_endpoint_or_skip("a_session_round_trips_a_context_over_tls") else {
        return;
    };
    let daemon = connect_within_deadline(&lookup_with(TlsOptions::from_dir(&client_dir)))
        .await
        .expect("connect with the client certificate");
    let context = tempfile::tempdir().unwrap();
    write_file(context.path(), "Dockerfile", b"FROM scratch\n", 0o644);
    write_file(
        context.path(),
        "bin/run.sh",
        b"#!/bin/sh\necho tls\n",
        0o755,
    );
    let export = common::round_trip_context(&daemon, context.path(), "e2e-tls-session").await;
    assert_same_tree(&snapshot(context.path()), &snapshot(export.path()));
}

#[tokio::test]
async fn docker_tls_verify_and_cert_path_are_honoured() {
    let Some(client_dir) = tls_endpoint_or_skip("docker_tls_verify_and_cert_path_are_honoured")
    else {
        return;
    };
    let lookup = Lookup {
        docker_host: Some(ADDR.to_string()),
        docker_tls_verify: true,
        docker_cert_path: Some(client_dir),
        ..Default::default()
    };
    let daemon = connect_within_deadline(&lookup)
        .await
        .expect("connect the Docker CLI way");
    assert_eq!(daemon.origin, "DOCKER_HOST");
    assert_workers_listed(&daemon).await;
}

#[tokio::test]
async fn without_a_client_certificate_the_daemon_refuses_clearly() {
    let Some(client_dir) = tls_endpoint_or_skip("without_a_client_certificate") else {
        return;
    };
    let tls = TlsOptions {
        ca_cert: Some(client_dir.join("ca.pem")),
        ..Default::default()
    };
    let err = connect_within_deadline(&lookup_with(tls))
        .await
        .unwrap_err();
    assert!(err.contains(ADDR), "{err}");
    assert!(
        err.contains("refused crossbuild's client certificate") && err.contains("--tlscert"),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_ca_fails_verification_clearly() {
    let Some(client_dir) = tls_endpoint_or_skip("a_wrong_ca_fails_verification_clearly") else {
        return;
    };
    let tls = TlsOptions {
        ca_cert: Some(tls_dir().join("other-ca/ca.pem")),
        client_cert: Some(client_dir.join("cert.pem")),
        client_key: Some(client_dir.join("key.pem")),
        server_name: None,
    };
    let err = connect_within_deadline(&lookup_with(tls))
        .await
        .unwrap_err();
    assert!(
        err.contains("certificate verify failed for 127.0.0.1"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_name_the_certificate_lacks_fails_verification() {
    let Some(client_dir) = tls_endpoint_or_skip("a_server_name_the_certificate_lacks") else {
        return;
    };
    let tls = TlsOptions {
        server_name: Some("build.example".to_string()),
        ..TlsOptions::from_dir(&client_dir)
    };
    let err = connect_within_deadline(&lookup_with(tls))
        .await
        .unwrap_err();
    assert!(
        err.contains("certificate verify failed for build.example"),
        "{err}"
    );
}

#[tokio::test]
async fn plain_http2_to_the_tls_port_says_tls_is_needed() {
    if tls_endpoint_or_skip("plain_http2_to_the_tls_port").is_none() {
        return;
    }
    let lookup = Lookup {
        flag: Some(ADDR.to_string()),
        ..Default::default()
    };
    let err = connect_within_deadline(&lookup).await.unwrap_err();
    assert!(err.contains("speaks only TLS"), "{err}");
}

#[tokio::test]
async fn a_missing_ca_file_is_named_before_connecting() {
    let tls = TlsOptions {
        ca_cert: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    // No daemon needed: the files are read before any connection.
    let err = connect_within_deadline(&lookup_with(tls))
        .await
        .unwrap_err();
    assert!(
        err.contains("cannot read CA certificate /nonexistent/ca.pem"),
        "{err}"
    );
}
