//! One build from start to end: open the session (local directories,
//! export targets, content stores), start the gateway build, show
//! progress, run the build function (the frontend core, or a ready
//! definition) against the gateway, hand its result to the daemon, wait for
//! the exporters, and name what they put into OCI layout directories in
//! those directories' `index.json`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::moby::buildkit::v1::{CacheOptions, StatusRequest};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;

use super::build_options::{process_env, SecretSpec, SshSpec};
use super::connect::{error_chain, Daemon, DaemonKind};
use super::gateway::{GatewayBuild, GatewayError, SolveOptions};
use super::output::{ExportSpec, ExportTarget, ExporterKind};
use super::progress::{self, ProgressMode, ProgressSummary};
use super::session::content_store::{
    ContentStoreDir, ContentStoreService, CONTENT_METHODS, EXPORT_STORE_ID,
};
use super::session::{
    AuthService, DockerConfig, FileSendService, FileSyncService, SecretsService, Session,
    SessionError, SessionServices, SshService, AUTH_METHODS, FILE_SEND_METHODS, FILE_SYNC_METHODS,
    SECRETS_METHODS, SSH_METHODS,
};
use crate::image::layout::{Layout, LayoutName};
use crate::image::{parse_descriptor_base64, Descriptor};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::SecretsServer;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::AuthServer;
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::SshServer;

/// How long the progress stream may stay open after the build ended.
const PROGRESS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything a build needs besides its build function.
#[derive(Debug, Clone, Default)]
pub struct BuildSetup {
    /// Key under which the daemon keeps what this client uploaded, so the
    /// next build of the same context sends only what changed.
    pub shared_key: String,
    /// Local directories the daemon may pull, by name (`context`,
    /// `dockerfile`, named contexts).
    pub local_dirs: BTreeMap<String, PathBuf>,
    /// Frontend attributes (also read by the daemon: `no-cache`,
    /// `attest:*`, cache imports).
    pub frontend_attrs: BTreeMap<String, String>,
    /// Outputs.
    pub exports: Vec<ExportSpec>,
    /// Cache imports and exports.
    pub cache: Option<CacheOptions>,
    /// Entitlements (`network.host`, `security.insecure`).
    pub entitlements: Vec<String>,
    /// How progress is shown on stderr.
    pub progress: ProgressMode,
    /// `--secret`s served to `RUN --mount=type=secret`.
    pub secrets: Vec<SecretSpec>,
    /// `--ssh` agents served to `RUN --mount=type=ssh`.
    pub ssh: Vec<SshSpec>,
    /// Registry credentials (the Docker config); `None` builds anonymously.
    pub registry_auth: Option<DockerConfig>,
    /// Client directories served as content stores, by store id: local
    /// cache (`local:<dir>`) and `oci-layout://` contexts (`oci:<name>`).
    /// The store of an OCI layout output is added by [`run_build`].
    pub content_stores: BTreeMap<String, ContentStoreDir>,
    /// Leave the build out of the daemon's build history (`--no-history`,
    /// and the gateway builds that only look things up, like `plan`).
    pub skip_history: bool,
}

/// A finished build.
#[derive(Debug)]
pub struct BuildOutcome {
    /// The build's ref (`buildx.build.ref`-style).
    pub build_ref: String,
    /// What the exporters answered (`containerimage.digest`, ...).
    pub exporter_response: HashMap<String, String>,
    /// The progress summary (steps, cached steps, warnings).
    pub summary: ProgressSummary,
}

/// A failed build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The outputs cannot be served by this daemon.
    #[error("{0}")]
    Unsupported(String),
    /// The session could not be opened.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A `--secret` or `--ssh` source cannot be served.
    #[error("{0}")]
    SessionSetup(String),
    /// The build failed; the summary holds the failing step and its logs.
    #[error("{message}")]
    Failed {
        /// What failed, in the daemon's or the frontend's words.
        message: String,
        /// Progress up to the failure.
        summary: Option<ProgressSummary>,
        /// The failing step's lines in the Dockerfile, when the daemon
        /// could place it.
        location: Option<Box<crate::errdefs::ErrorSource>>,
    },
    /// The connection to BuildKit broke (the whole message, ready to show).
    #[error("{0}")]
    ConnectionLost(String),
    /// The build succeeded but an OCI layout directory could not be
    /// completed (its `index.json`).
    #[error("{0}")]
    Layout(String),
}

/// Runs one build. `frontend` produces the result from the gateway: the
/// Dockerfile frontend core, or a ready-made definition.
pub async fn run_build<F>(
    daemon: &Daemon,
    setup: BuildSetup,
    frontend: F,
) -> Result<BuildOutcome, BuildError>
where
    F: AsyncFnOnce(&GatewayBuild) -> Result<gw::Result, String>,
{
    let exports = exports_for(daemon, setup.exports)?;
    let mut services = SessionServices::new();
    services.add(
        FileSyncServer::new(FileSyncService::new(setup.local_dirs)),
        FILE_SYNC_METHODS,
    );
    let targets: Vec<ExportTarget> = exports.iter().map(|e| e.target.clone()).collect();
    services.add(FileSendService::new(targets), FILE_SEND_METHODS);
    let mut content_stores = setup.content_stores;
    if let Some(dir) = exports.iter().find_map(|e| match &e.target {
        ExportTarget::OciLayout(dir) => Some(dir.clone()),
        _ => None,
    }) {
        content_stores.insert(
            EXPORT_STORE_ID.to_string(),
            ContentStoreDir {
                path: dir,
                writable: true,
            },
        );
    }
    if !content_stores.is_empty() {
        services.add(ContentStoreService::new(content_stores), CONTENT_METHODS);
    }
    let cache_exports = setup
        .cache
        .as_ref()
        .map(|c| c.exports.clone())
        .unwrap_or_default();
    if let Some(config) = setup.registry_auth {
        services.add(AuthServer::new(AuthService::new(config)), AUTH_METHODS);
    }
    if !setup.secrets.is_empty() {
        let secrets = SecretsService::new(&setup.secrets, &process_env)
            .map_err(|e| BuildError::SessionSetup(e.to_string()))?;
        services.add(SecretsServer::new(secrets), SECRETS_METHODS);
    }
    if !setup.ssh.is_empty() {
        let ssh = SshService::new(&setup.ssh, &process_env)
            .map_err(|e| BuildError::SessionSetup(e.to_string()))?;
        services.add(SshServer::new(ssh), SSH_METHODS);
    }
    let session = Session::start(daemon, &setup.shared_key, services).await?;

    let build = GatewayBuild::start(
        daemon,
        SolveOptions {
            session_id: session.id().to_string(),
            frontend_attrs: setup.frontend_attrs.into_iter().collect(),
            exporters: exports.iter().map(ExportSpec::to_pb).collect(),
            cache: setup.cache,
            entitlements: setup.entitlements,
            skip_history: setup.skip_history,
        },
    );
    let build_ref = build.build_ref().to_string();
    let progress_task = spawn_progress(daemon, &build_ref, setup.progress);

    let (outcome, refused) = tokio::select! {
        outcome = frontend(&build) => (outcome, false),
        message = build.solve_failed() => (Err(message), true),
    };
    let finished = build.finish(outcome).await;
    // The daemon ends the status stream once the build is over; if it does
    // not, do not hang on it (BuildKit's Go client gives it 5 s as well). A
    // refused build never started, so its stream has nothing to end.
    let progress_abort = progress_task.abort_handle();
    let grace = if refused {
        std::time::Duration::ZERO
    } else {
        PROGRESS_GRACE
    };
    let summary = match tokio::time::timeout(grace, progress_task).await {
        Ok(Ok(summary)) => summary,
        Ok(Err(join)) => {
            tracing::debug!(error = %join, "the progress display failed");
            None
        }
        Err(_) => {
            progress_abort.abort();
            tracing::debug!("the daemon kept the progress stream open; stopped waiting");
            None
        }
    };
    let session_broke = session.close().await;
    match finished {
        Ok(response) => {
            record_layouts(&exports, &cache_exports, &response.exporter_response)?;
            Ok(BuildOutcome {
                build_ref,
                exporter_response: response.exporter_response,
                summary: summary.unwrap_or_default(),
            })
        }
        // The daemon fails a build whose session it lost, in words about
        // its own side ("the client connection is closing", or a gRPC
        // `Unavailable` from reading the session's files, which looks like a
        // lost connection of our own); the cause is the session.
        Err(err) if session_broke.is_some() => {
            let said = match err {
                GatewayError::ConnectionLost(_) => "the build ended with",
                _ => "the daemon said",
            };
            Err(BuildError::ConnectionLost(format!(
                "the build session with BuildKit was lost ({}); {said}: {err}",
                session_broke.unwrap_or_default()
            )))
        }
        Err(lost @ GatewayError::ConnectionLost(_)) => {
            Err(BuildError::ConnectionLost(lost.to_string()))
        }
        Err(err) => Err(BuildError::Failed {
            message: err.to_string(),
            summary,
            location: match err {
                GatewayError::SolveAt { location, .. } => Some(location),
                _ => None,
            },
        }),
    }
}

/// Shows the build's progress on stderr until the daemon ends the stream.
fn spawn_progress(
    daemon: &Daemon,
    build_ref: &str,
    mode: ProgressMode,
) -> tokio::task::JoinHandle<Option<ProgressSummary>> {
    let mut control = daemon.control();
    let request = StatusRequest {
        r#ref: build_ref.to_string(),
    };
    tokio::spawn(async move {
        let stream = match control.status(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                tracing::debug!(error = %error_chain(&status), "no progress stream");
                return None;
            }
        };
        match progress::render(mode, stream, std::io::stderr()).await {
            Ok(summary) => Some(summary),
            Err(err) => Some(err.summary),
        }
    })
}

/// Checks the outputs against what this daemon and crossbuild can serve,
/// and turns `--load` into the Docker engine's own exporter.
fn exports_for(daemon: &Daemon, exports: Vec<ExportSpec>) -> Result<Vec<ExportSpec>, BuildError> {
    let exports = if daemon.kind == DaemonKind::DockerEngine {
        super::output::adapt_for_docker_engine(exports)
            .map_err(|e| BuildError::Unsupported(e.to_string()))?
    } else {
        exports
    };
    let mut exports = exports;
    for export in &mut exports {
        // One OCI index is what crossbuild promises; BuildKit's default for
        // pushed images is still Docker's manifest list.
        if matches!(export.kind, ExporterKind::Image | ExporterKind::Moby) {
            export
                .attrs
                .entry("oci-mediatypes".to_string())
                .or_insert_with(|| "true".to_string());
        }
        if export.target == ExportTarget::DockerLoad {
            return Err(BuildError::Unsupported(
                "--load needs a Docker engine as the daemon; with a standalone buildkitd use \
                 -o type=docker,dest=image.tar and `docker load -i image.tar`"
                    .to_string(),
            ));
        }
    }
    let layouts = exports
        .iter()
        .filter(|e| matches!(e.target, ExportTarget::OciLayout(_)))
        .count();
    if layouts > 1 {
        // BuildKit writes every tar=false export to the one store named
        // "export", so two would land in the same directory.
        return Err(BuildError::Unsupported(
            "only one OCI layout directory output (tar=false) per build is supported".to_string(),
        ));
    }
    Ok(exports)
}

/// Names in `index.json` what the exporters wrote into OCI layout
/// directories, as BuildKit's client does after the solve: the image of a
/// `tar=false` output under its image names (or `latest`), and the cache
/// manifest of a `type=local` cache export under its `tag` (or `latest`).
/// The blobs are already there; without this entry nothing can find them.
fn record_layouts(
    exports: &[ExportSpec],
    cache_exports: &[bollard_buildkit_proto::moby::buildkit::v1::CacheOptionsEntry],
    response: &HashMap<String, String>,
) -> Result<(), BuildError> {
    let layout_error = |e: crate::image::layout::LayoutError| BuildError::Layout(e.to_string());
    for export in exports {
        let ExportTarget::OciLayout(dir) = &export.target else {
            continue;
        };
        let descriptor = response
            .get("containerimage.descriptor")
            .and_then(|d| parse_descriptor_base64(d).ok())
            .ok_or_else(|| {
                BuildError::Layout(format!(
                    "the daemon did not describe the image it exported to {}",
                    dir.display()
                ))
            })?;
        let names: Vec<LayoutName> = match response.get("image.name").filter(|n| !n.is_empty()) {
            Some(names) => names
                .split(',')
                .map(|n| LayoutName::Image(n.to_string()))
                .collect(),
            None => vec![LayoutName::Tag("latest".to_string())],
        };
        Layout::new(dir)
            .put(&descriptor, &names)
            .map_err(layout_error)?;
    }
    let local_caches: Vec<_> = cache_exports
        .iter()
        .filter(|e| e.r#type == "local")
        .collect();
    if local_caches.is_empty() {
        return Ok(());
    }
    let descriptor: Descriptor = response
        .get("cache.manifest")
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| {
            BuildError::Layout("the daemon did not describe the cache it exported".to_string())
        })?;
    for cache in local_caches {
        let dest = cache.attrs.get("dest").cloned().unwrap_or_default();
        let tag = cache
            .attrs
            .get("tag")
            .cloned()
            .unwrap_or_else(|| "latest".to_string());
        Layout::new(dest)
            .put(&descriptor, &[LayoutName::Tag(tag)])
            .map_err(layout_error)?;
    }
    Ok(())
}
