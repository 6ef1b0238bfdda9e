//! What the end-to-end tests share: finding the real daemon the project's
//! script started, and skipping loudly (locally) or failing (in CI) when it
//! is absent.

#![allow(dead_code)]

pub mod fault_proxy;
pub mod file_server;
pub mod frontend_image;
pub mod image_diff;
pub mod oci;
pub mod registry;
pub mod tree;

use crossbuild::client::{self, Daemon, Lookup};

/// True when running under `.ci/run`, where the daemon must be there.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Connects to the daemon the way the CLI does with no flags. Returns `None`
/// (after saying why) when there is none and we are not in CI; in CI a
/// missing daemon fails the test, so nothing is skipped there.
pub async fn daemon_or_skip(test: &str) -> Option<Daemon> {
    init_logging();
    match client::connect(&Lookup::from_env(None)).await {
        Ok(daemon) => Some(daemon),
        Err(err) if !in_ci() => {
            eprintln!("SKIPPED {test}: no BuildKit daemon ({err}); run `scripts/buildkit-env up`");
            None
        }
        Err(err) => panic!("{test}: CI=true but no BuildKit daemon: {err}"),
    }
}

/// Sends crossbuild's tracing to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Runs the crossbuild binary with `args` in `dir`, returning its output.
pub fn crossbuild(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run crossbuild")
}

/// Fetches a manifest or index from the local registry as JSON.
pub fn registry_manifest(repository: &str, reference: &str) -> serde_json::Value {
    let output = std::process::Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json",
            &format!("http://127.0.0.1:5000/v2/{repository}/manifests/{reference}"),
        ])
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "no manifest {repository}:{reference}"
    );
    serde_json::from_slice(&output.stdout).expect("manifest JSON")
}

/// True if some process on the machine has exactly this command line.
pub fn process_running(command_line: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|raw| {
                let words: Vec<String> = raw
                    .split(|b| *b == 0)
                    .filter(|part| !part.is_empty())
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect();
                words.join(" ") == command_line
            })
            .unwrap_or(false)
    })
}

/// A definition whose result is the local directory `name` of `session`
/// (what a context upload test solves and exports back).
pub fn local_definition(name: &str, session: &str) -> bollard_buildkit_proto::pb::Definition {
    use crossbuild::llb::{self, Local};
    let source = Local::new(name)
        .session_id(session)
        .shared_key_hint(name)
        .into_state();
    llb::marshal(&source).expect("a local source marshals")
}

/// Uploads `context` through a session of `daemon` (FileSync), solves it as
/// a local source and exports it back through the local exporter
/// (FileSend); returns the directory it came back into.
pub async fn round_trip_context(
    daemon: &Daemon,
    context: &std::path::Path,
    shared_key: &str,
) -> tempfile::TempDir {
    use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
    use bollard_buildkit_proto::moby::buildkit::v1::Exporter;
    use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;
    use crossbuild::client::gateway::{GatewayBuild, SolveOptions};
    use crossbuild::client::output::ExportTarget;
    use crossbuild::client::session::{
        FileSendService, FileSyncService, Session, SessionServices, FILE_SEND_METHODS,
        FILE_SYNC_METHODS,
    };

    let export = tempfile::tempdir().unwrap();
    let mut services = SessionServices::new();
    services.add(
        FileSyncServer::new(FileSyncService::new(std::collections::BTreeMap::from([(
            "context".to_string(),
            context.to_path_buf(),
        )]))),
        FILE_SYNC_METHODS,
    );
    services.add(
        FileSendService::new(vec![ExportTarget::Directory(export.path().to_path_buf())]),
        FILE_SEND_METHODS,
    );
    let session = Session::start(daemon, shared_key, services)
        .await
        .expect("session");
    let build = GatewayBuild::start(
        daemon,
        SolveOptions {
            session_id: session.id().to_string(),
            exporters: vec![Exporter {
                r#type: "local".to_string(),
                attrs: Default::default(),
            }],
            ..Default::default()
        },
    );
    let result_ref = build
        .solve(local_definition("context", session.id()), true)
        .await
        .expect("solve")
        .expect("a ref");
    let result = gw::Result {
        result: Some(gw::result::Result::Ref(gw::Ref {
            id: result_ref,
            def: None,
        })),
        ..Default::default()
    };
    build.finish(Ok(result)).await.expect("export");
    session.close().await;
    export
}

/// A tag no other run has used.
pub fn unique_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t{nanos}-{}", std::process::id())
}

/// The main engine, node A of the `--node` tests.
pub const NODE_A: &str = "unix:///var/run/docker.sock";
/// The second engine `scripts/buildkit-env` starts: node B.
pub const NODE_B: &str = "unix:///var/tmp/crossbuild-env/node-b/docker.sock";

/// True when node B answers; otherwise skips (locally) or fails (CI).
pub async fn node_b_or_skip(test: &str) -> bool {
    match client::connect(&Lookup {
        flag: Some(NODE_B.to_string()),
        ..Default::default()
    })
    .await
    {
        Ok(_) => true,
        Err(err) if !in_ci() => {
            eprintln!(
                "SKIPPED {test}: node B does not answer ({err}); run `scripts/buildkit-env up`"
            );
            false
        }
        Err(err) => panic!("{test}: CI=true but node B does not answer: {err}"),
    }
}
