//! The client-side gateway: a build whose "frontend" runs in crossbuild.
//!
//! `Control.Solve` goes out with no definition and no frontend name; that
//! makes the daemon register an LLBBridge for the build under its ref, and
//! wait. crossbuild then calls LLBBridge (solve graphs, read files from
//! their results) with the build's ref in the `buildkit-controlapi-buildid`
//! metadata, and ends with `LLBBridge.Return`, after which the daemon runs
//! the exporters and `Control.Solve` answers.

use std::collections::HashMap;
use std::time::Duration;

use bollard_buildkit_proto::fsutil::types::Stat;
use bollard_buildkit_proto::google::protobuf::Any;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::llb_bridge_client::LlbBridgeClient;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    self as gw, result, PingRequest, PongResponse, ReadFileRequest, ResolveImageConfigRequest,
    ReturnRequest,
};
use bollard_buildkit_proto::moby::buildkit::v1::{
    CacheOptions, Exporter, SolveRequest, SolveResponse,
};
use bollard_buildkit_proto::pb;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::connect::Daemon;
use crate::bridge::{
    oci_layout_request, registry_config_request, Bridge, BridgeError, BuildWarning, ResolvedConfig,
};
use crate::platform::Platform;

/// The metadata key that routes LLBBridge calls to their build.
const BUILD_ID_KEY: &str = "buildkit-controlapi-buildid";

/// How long to wait for `Control.Solve` to report its own error after the
/// gateway failed (BuildKit's Go client waits the same).
const SOLVE_ERROR_GRACE: Duration = Duration::from_secs(5);

/// A gateway build failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The daemon's `Control.Solve` failed (the build or the export).
    #[error("{0}")]
    Solve(String),
    /// `Control.Solve` failed at a step the daemon could place in the
    /// Dockerfile (through the definition's source map).
    #[error("{message}")]
    SolveAt {
        /// What the daemon said.
        message: String,
        /// The step's lines.
        location: Box<crate::errdefs::ErrorSource>,
    },
    /// An LLBBridge call failed.
    #[error("{call}: {message}")]
    Bridge {
        /// The call, e.g. `solve` or `read file /etc/passwd`.
        call: String,
        /// What the daemon said.
        message: String,
    },
    /// The connection to the daemon broke; carries the lowest-level reason
    /// (e.g. "stream closed because of a broken pipe").
    #[error("the connection to BuildKit was lost ({0})")]
    ConnectionLost(String),
}

/// What goes into `Control.Solve` besides the gateway itself.
#[derive(Debug, Clone, Default)]
pub struct SolveOptions {
    /// The session that serves the client's files, credentials, exports.
    pub session_id: String,
    /// Frontend attributes the daemon reads itself (`no-cache`, `attest:*`,
    /// cache imports, ...).
    pub frontend_attrs: HashMap<String, String>,
    /// Exporters run on the returned result.
    pub exporters: Vec<Exporter>,
    /// Cache import and export.
    pub cache: Option<CacheOptions>,
    /// Entitlements such as `network.host` or `security.insecure`.
    pub entitlements: Vec<String>,
    /// Leave the build out of the daemon's build history (BuildKit's
    /// `Internal` solve): no history record, no provenance, logs or trace
    /// written for it once it ends.
    pub skip_history: bool,
}

/// A running gateway build.
pub struct GatewayBuild {
    build_ref: String,
    session_id: Option<String>,
    /// Cache sources every solve of this build may take results from
    /// (`--cache-from`): BuildKit applies imports per gateway solve, not
    /// per build.
    cache_imports: Vec<gw::CacheOptionsEntry>,
    bridge: LlbBridgeClient<Channel>,
    /// The in-flight `Control.Solve`; aborted when the build is dropped, so
    /// an interrupted client cancels the build on the daemon too.
    solve: Option<JoinHandle<Result<SolveResponse, tonic::Status>>>,
    /// The daemon's message once `Control.Solve` has failed.
    solve_failure: tokio::sync::watch::Receiver<Option<String>>,
    /// The typed details of the first failed gateway solve (the failing
    /// step's source lines): returned with the frontend's error, as
    /// BuildKit's frontends return them, so the build's error keeps them.
    failure_details: std::sync::Mutex<Vec<Any>>,
}

impl Drop for GatewayBuild {
    fn drop(&mut self) {
        if let Some(solve) = self.solve.take() {
            solve.abort();
        }
    }
}

impl GatewayBuild {
    /// Starts `Control.Solve` for a gateway build with a fresh ref.
    pub fn start(daemon: &Daemon, options: SolveOptions) -> GatewayBuild {
        let build_ref = super::session::new_id();
        let session_id = Some(options.session_id.clone()).filter(|id| !id.is_empty());
        let cache_imports = options
            .cache
            .as_ref()
            .map(|cache| {
                cache
                    .imports
                    .iter()
                    .map(|entry| gw::CacheOptionsEntry {
                        r#type: entry.r#type.clone(),
                        attrs: entry.attrs.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Only the exporter list: a daemon that reads it also honours the
        // deprecated single-exporter fields, and filling both exports twice.
        let request = SolveRequest {
            r#ref: build_ref.clone(),
            session: options.session_id,
            frontend_attrs: options.frontend_attrs,
            exporters: options.exporters,
            cache: options.cache,
            entitlements: options.entitlements,
            internal: options.skip_history,
            ..Default::default()
        };
        let mut control = daemon.control();
        let (failure, solve_failure) = tokio::sync::watch::channel(None);
        let solve = tokio::spawn(async move {
            let result = control
                .solve(request)
                .await
                .map(tonic::Response::into_inner);
            if let Err(status) = &result {
                tracing::debug!(error = %status.message(), "Control.Solve failed");
                let _ = failure.send(Some(status.message().to_string()));
            }
            result
        });
        GatewayBuild {
            build_ref,
            session_id,
            cache_imports,
            bridge: daemon.bridge(),
            solve: Some(solve),
            solve_failure,
            failure_details: Default::default(),
        }
    }

    /// Resolves with the daemon's message when `Control.Solve` fails; stays
    /// pending while it runs or after it succeeded. A solve that fails while
    /// the frontend still works was refused outright (an entitlement the
    /// daemon does not permit, a cancelled build): the frontend's calls
    /// would only wait for a build that is not there.
    pub async fn solve_failed(&self) -> String {
        let mut failure = self.solve_failure.clone();
        if let Ok(message) = failure.wait_for(Option::is_some).await {
            if let Some(message) = message.as_ref() {
                return message.clone();
            }
        }
        // The solve succeeded: its task ended without a message.
        std::future::pending().await
    }

    /// The build's ref: the key of its progress stream (`Control.Status`).
    pub fn build_ref(&self) -> &str {
        &self.build_ref
    }

    /// A request routed to this build (its ref in the build-id metadata).
    pub(super) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = self.build_ref.parse() {
            request.metadata_mut().insert(BUILD_ID_KEY, value);
        }
        request
    }

    /// Keeps the typed details of a failed solve for the frontend's
    /// error (the first failure's: it is the one the build reports).
    fn keep_failure_details(&self, status: &tonic::Status) {
        let details = crate::errdefs::details_of(status);
        let mut kept = self.failure_details_lock();
        if kept.is_empty() {
            *kept = details;
        }
    }

    fn failure_details_lock(&self) -> std::sync::MutexGuard<'_, Vec<Any>> {
        // Only ever replaced whole: a panic elsewhere cannot leave it torn.
        self.failure_details
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The LLBBridge client of this build's connection.
    pub(super) fn bridge_client(&self) -> LlbBridgeClient<Channel> {
        self.bridge.clone()
    }

    /// Asks the daemon's gateway for its capabilities and workers.
    pub async fn ping(&self) -> Result<PongResponse, GatewayError> {
        let request = self.request(PingRequest {});
        self.bridge
            .clone()
            .ping(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| bridge_error("ping", &s))
    }

    /// Solves a definition and returns the id of its result (`None` for an
    /// empty result, such as `scratch`). With `evaluate`, the daemon builds
    /// it now instead of when something reads it.
    pub async fn solve(
        &self,
        definition: pb::Definition,
        evaluate: bool,
    ) -> Result<Option<String>, GatewayError> {
        let request = self.request(gw::SolveRequest {
            definition: Some(definition),
            allow_result_return: true,
            allow_result_array_ref: true,
            evaluate,
            cache_imports: self.cache_imports.clone(),
            ..Default::default()
        });
        let response = self
            .bridge
            .clone()
            .solve(request)
            .await
            .map_err(|s| {
                self.keep_failure_details(&s);
                bridge_error("solve", &s)
            })?
            .into_inner();
        let result = response.result.and_then(|r| r.result);
        Ok(match result {
            Some(result::Result::Ref(r)) if !r.id.is_empty() => Some(r.id),
            Some(result::Result::RefDeprecated(id)) if !id.is_empty() => Some(id),
            _ => None,
        })
    }

    /// Has the daemon run one of its own frontends (`dockerfile.v0`,
    /// `gateway.v0`) with `options` as its attributes, in this build's
    /// session, and returns that frontend's result as it came: refs,
    /// image configs and `refs.platforms`, ready for [`GatewayBuild::finish`].
    /// This is how buildx drives every build; crossbuild uses it to build
    /// with the reference frontend for comparisons.
    pub async fn solve_frontend(
        &self,
        frontend: &str,
        options: HashMap<String, String>,
    ) -> Result<gw::Result, GatewayError> {
        let request = self.request(gw::SolveRequest {
            frontend: frontend.to_string(),
            frontend_opt: options,
            allow_result_return: true,
            allow_result_array_ref: true,
            ..Default::default()
        });
        let response = self
            .bridge
            .clone()
            .solve(request)
            .await
            .map_err(|s| {
                self.keep_failure_details(&s);
                bridge_error(&format!("solve with {frontend}"), &s)
            })?
            .into_inner();
        response.result.ok_or_else(|| GatewayError::Bridge {
            call: format!("solve with {frontend}"),
            message: "the frontend returned no result".to_string(),
        })
    }

    /// Reads a file from a solved result.
    pub async fn read_file(&self, ref_id: &str, path: &str) -> Result<Vec<u8>, GatewayError> {
        self.read_file_part(ref_id, path, None).await
    }

    /// `LLBBridge.ReadFile`, whole or a byte range.
    async fn read_file_part(
        &self,
        ref_id: &str,
        path: &str,
        range: Option<gw::FileRange>,
    ) -> Result<Vec<u8>, GatewayError> {
        let request = self.request(ReadFileRequest {
            r#ref: ref_id.to_string(),
            file_path: path.to_string(),
            range,
            ..Default::default()
        });
        self.bridge
            .clone()
            .read_file(request)
            .await
            .map(|r| r.into_inner().data)
            .map_err(|s| bridge_error(&format!("read file {path}"), &s))
    }

    /// Builds a result now if it was solved lazily (`LLBBridge.Evaluate`).
    pub async fn evaluate(&self, ref_id: &str) -> Result<(), GatewayError> {
        let request = self.request(gw::EvaluateRequest {
            r#ref: ref_id.to_string(),
        });
        self.bridge
            .clone()
            .evaluate(request)
            .await
            .map(|_| ())
            .map_err(|s| bridge_error("evaluate", &s))
    }

    /// Reads `length` bytes at `offset` of a file in a solved result (fewer
    /// when the file is shorter): enough of a binary to see its headers
    /// without moving all of it.
    pub async fn read_file_range(
        &self,
        ref_id: &str,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, GatewayError> {
        let range = gw::FileRange {
            offset: i64::try_from(offset).unwrap_or(i64::MAX),
            length: i64::try_from(length).unwrap_or(i64::MAX),
        };
        self.read_file_part(ref_id, path, Some(range)).await
    }

    /// Lists a directory of a solved result (not recursive; symlinks are
    /// listed, not followed).
    pub async fn read_dir(&self, ref_id: &str, path: &str) -> Result<Vec<Stat>, GatewayError> {
        let request = self.request(gw::ReadDirRequest {
            r#ref: ref_id.to_string(),
            dir_path: path.to_string(),
            ..Default::default()
        });
        self.bridge
            .clone()
            .read_dir(request)
            .await
            .map(|r| r.into_inner().entries)
            .map_err(|s| bridge_error(&format!("read directory {path}"), &s))
    }

    /// Stats a path of a solved result; BuildKit resolves symlinks on the
    /// way, inside the result's root.
    pub async fn stat_file(&self, ref_id: &str, path: &str) -> Result<Stat, GatewayError> {
        let request = self.request(gw::StatFileRequest {
            r#ref: ref_id.to_string(),
            path: path.to_string(),
            ..Default::default()
        });
        self.bridge
            .clone()
            .stat_file(request)
            .await
            .map_err(|s| bridge_error(&format!("stat {path}"), &s))?
            .into_inner()
            .stat
            .ok_or_else(|| GatewayError::Bridge {
                call: format!("stat {path}"),
                message: "the daemon returned no stat".to_string(),
            })
    }

    /// Resolves an image reference for a platform through the daemon (its
    /// registry access and credentials through the session).
    pub async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, GatewayError> {
        let request = registry_config_request(reference, platform, self.session_id.as_deref());
        self.resolve_config(request, platform).await
    }

    /// Resolves an image in the OCI layout this build's session serves as
    /// content store `oci:<store>` (see
    /// [`Bridge::resolve_oci_layout_config`]).
    pub async fn resolve_oci_layout_config(
        &self,
        reference: &str,
        store: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, GatewayError> {
        let request = oci_layout_request(reference, store, platform, self.session_id.as_deref());
        self.resolve_config(request, platform).await
    }

    async fn resolve_config(
        &self,
        message: ResolveImageConfigRequest,
        platform: &Platform,
    ) -> Result<ResolvedConfig, GatewayError> {
        let call = format!("resolve {} for {platform}", message.r#ref);
        let response = self
            .bridge
            .clone()
            .resolve_image_config(self.request(message))
            .await
            .map_err(|s| bridge_error(&call, &s))?
            .into_inner();
        Ok(ResolvedConfig {
            digest: response.digest,
            config: response.config,
        })
    }

    /// Hands the build's result (or its error) to the daemon, which then
    /// exports it, and waits for `Control.Solve` to answer.
    pub async fn finish(
        mut self,
        outcome: Result<gw::Result, String>,
    ) -> Result<SolveResponse, GatewayError> {
        let failed = outcome.is_err();
        let message = match outcome {
            Ok(result) => ReturnRequest {
                result: Some(result),
                error: None,
            },
            Err(message) => ReturnRequest {
                result: None,
                error: Some(bollard_buildkit_proto::google::rpc::Status {
                    code: tonic::Code::Unknown as i32,
                    message: shorten_error(message),
                    details: std::mem::take(&mut *self.failure_details_lock()),
                }),
            },
        };
        let Some(mut solve) = self.solve.take() else {
            return Err(GatewayError::Solve(
                "the build was already finished".to_string(),
            ));
        };
        // A build the daemon refused, or a Control.Solve that ended before
        // the result was handed over (the connection broke, the daemon
        // cancelled), has no bridge to return to: a Return would only wait
        // out the daemon's 3 s for an unknown build id.
        if self.solve_failure.borrow().is_some() || solve.is_finished() {
            return match (&mut solve).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(status)) => Err(solve_error(&status)),
                Err(join) => Err(GatewayError::Solve(format!(
                    "the solve task failed: {join}"
                ))),
            };
        }
        let request = self.request(message);
        let returned = self.bridge.clone().r#return(request).await;
        if let Err(status) = returned {
            // The build's own error, if it has one by now, says more than
            // the failed Return.
            return Err(
                match tokio::time::timeout(SOLVE_ERROR_GRACE, &mut solve).await {
                    Ok(Ok(Err(solve_status))) => solve_error(&solve_status),
                    _ => {
                        solve.abort();
                        bridge_error("return", &status)
                    }
                },
            );
        }
        let wait = if failed {
            tokio::time::timeout(SOLVE_ERROR_GRACE, &mut solve).await
        } else {
            Ok((&mut solve).await)
        };
        match wait {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(status))) => Err(solve_error(&status)),
            Ok(Err(join)) => Err(GatewayError::Solve(format!(
                "the solve task failed: {join}"
            ))),
            Err(_) => {
                solve.abort();
                Err(GatewayError::Solve(
                    "the daemon did not end the failed build in time".to_string(),
                ))
            }
        }
    }

    /// Cancels the build on the daemon: ending the in-flight
    /// `Control.Solve` call cancels its context there. Dropping the build
    /// does the same.
    pub fn cancel(self) {
        drop(self);
    }
}

pub(super) fn bridge_error(call: &str, status: &tonic::Status) -> GatewayError {
    if is_connection_loss(status) {
        return GatewayError::ConnectionLost(root_cause(status));
    }
    GatewayError::Bridge {
        call: call.to_string(),
        message: status.message().to_string(),
    }
}

fn solve_error(status: &tonic::Status) -> GatewayError {
    if is_connection_loss(status) {
        return GatewayError::ConnectionLost(root_cause(status));
    }
    let message = status.message().to_string();
    // BuildKit adds the sources innermost first; the last is the step's own.
    match crate::errdefs::sources_in(&crate::errdefs::details_of(status)).pop() {
        Some(location) => GatewayError::SolveAt {
            message,
            location: Box::new(location),
        },
        None => GatewayError::Solve(message),
    }
}

/// The innermost error under a transport failure: what a user can read
/// ("connection reset by peer"), not the layers of gRPC around it; the
/// daemon's own message when the failure came from the daemon.
fn root_cause(status: &tonic::Status) -> String {
    let mut innermost = None;
    let mut next = std::error::Error::source(status);
    while let Some(cause) = next {
        if is_timeout(cause) {
            // The only timer on an established connection is the HTTP/2
            // keep-alive; hyper reports it as a bare "operation timed out".
            return format!(
                "the daemon stopped answering: no reply to a keep-alive ping within {} s",
                super::connect::KEEP_ALIVE_TIMEOUT.as_secs()
            );
        }
        innermost = Some(cause);
        next = cause.source();
    }
    match innermost {
        // rustls says "peer closed connection without sending TLS
        // close_notify: <a URL>"; what happened is simpler.
        Some(cause)
            if cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof) =>
        {
            "the daemon closed the connection".to_string()
        }
        Some(cause) if !cause.to_string().is_empty() => cause.to_string(),
        _ => status.message().to_string(),
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let timed_out = |e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut;
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(timed_out)
        || error
            .downcast_ref::<h2::Error>()
            .and_then(h2::Error::get_io)
            .is_some_and(timed_out)
        || error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
}

fn is_connection_loss(status: &tonic::Status) -> bool {
    matches!(status.code(), tonic::Code::Unavailable)
        || (status.code() == tonic::Code::Unknown && status.message().contains("transport"))
}

#[async_trait::async_trait]
impl Bridge for GatewayBuild {
    async fn solve(&self, definition: pb::Definition) -> Result<Option<String>, BridgeError> {
        GatewayBuild::solve(self, definition, false)
            .await
            .map_err(|e| BridgeError::new(e.to_string()))
    }

    async fn read_file(&self, result: &str, path: &str) -> Result<Vec<u8>, BridgeError> {
        GatewayBuild::read_file(self, result, path)
            .await
            .map_err(|e| BridgeError::new(e.to_string()))
    }

    async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, BridgeError> {
        GatewayBuild::resolve_image_config(self, reference, platform)
            .await
            .map_err(|e| BridgeError::new(e.to_string()))
    }

    async fn resolve_oci_layout_config(
        &self,
        reference: &str,
        store: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, BridgeError> {
        GatewayBuild::resolve_oci_layout_config(self, reference, store, platform)
            .await
            .map_err(|e| BridgeError::new(e.to_string()))
    }

    async fn warn(&self, warning: BuildWarning) -> Result<(), BridgeError> {
        let request = self.request(warning.to_request());
        self.bridge
            .clone()
            .warn(request)
            .await
            .map(|_| ())
            .map_err(|s| BridgeError::new(bridge_error("warn", &s).to_string()))
    }

    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
}

/// The longest error message handed to the daemon in `Return`. The daemon
/// echoes it back in the `grpc-message` trailer of `Control.Solve`, and a
/// trailer over h2's header-list limit kills the whole connection
/// (`COMPRESSION_ERROR`), so a Dockerfile error quoting a 60 KB line ended
/// as "h2 protocol error" instead of the error itself.
const MAX_ERROR_MESSAGE: usize = 4096;

/// Cuts `message` to [`MAX_ERROR_MESSAGE`] bytes on a character boundary.
fn shorten_error(mut message: String) -> String {
    if message.len() <= MAX_ERROR_MESSAGE {
        return message;
    }
    let mut end = MAX_ERROR_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str("...");
    message
}

#[cfg(test)]
mod shorten_tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        assert_eq!(shorten_error("short".into()), "short");
        let long = "é".repeat(MAX_ERROR_MESSAGE);
        let cut = shorten_error(long);
        assert!(cut.len() <= MAX_ERROR_MESSAGE + 3);
        assert!(cut.ends_with("..."));
    }
}
