//! The LLBBridge over stdio: how the `# syntax=` frontend image talks to
//! the BuildKit that runs it.
//!
//! BuildKit starts the frontend container with two pipes and serves
//! LLBBridge on them as an HTTP/2 server with prior knowledge: it reads the
//! container's stdout and writes its stdin. So the frontend is a gRPC
//! *client* whose one connection is (stdin, stdout), and nothing else may
//! ever write to stdout. The calls need no build id: the connection is the
//! build's own.

pub mod environment;
pub mod status;
pub mod subrequests;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bollard_buildkit_proto::google::rpc::Status as RpcStatus;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::llb_bridge_client::LlbBridgeClient;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    self as gw, result, InputsRequest, PingRequest, ReadFileRequest, ResolveImageConfigRequest,
    ReturnRequest,
};
use bollard_buildkit_proto::pb;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint, Uri};

pub use environment::FrontendEnvironment;
use status::{frontend_status, rpc_status};

use super::{
    oci_layout_request, registry_config_request, Bridge, BridgeError, BuildWarning, ResolvedConfig,
};
use crate::frontend::{self, FrontendError, FrontendOptions};
use crate::platform::Platform;

/// BuildKit's gRPC message limit on the stdio bridge (containerd's
/// default); tonic's 4 MiB would refuse large file reads and definitions.
const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// The stdio channel could not be set up or the final `Return` failed.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The HTTP/2 connection over stdio could not be established.
    #[error("cannot speak HTTP/2 over stdio: {0}")]
    Connect(String),
    /// `LLBBridge.Return` failed: BuildKit did not take the result.
    #[error("LLBBridge.Return failed: {0}")]
    Return(String),
}

/// One byte stream made of two halves, such as stdin (read) and stdout
/// (write), for an HTTP/2 connection.
pub struct JoinedStream<R, W> {
    reader: R,
    writer: W,
}

impl<R, W> JoinedStream<R, W> {
    /// Joins a reading and a writing half.
    pub fn new(reader: R, writer: W) -> Self {
        JoinedStream { reader, writer }
    }
}

impl JoinedStream<tokio::io::Stdin, tokio::io::Stdout> {
    /// The process's stdin and stdout: the pipes BuildKit gives a frontend.
    pub fn stdio() -> Self {
        JoinedStream::new(tokio::io::stdin(), tokio::io::stdout())
    }
}

impl<R: AsyncRead + Unpin, W: Unpin> AsyncRead for JoinedStream<R, W> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl<R: Unpin, W: AsyncWrite + Unpin> AsyncWrite for JoinedStream<R, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

/// Opens a gRPC channel over an already connected byte stream. The
/// stream can be handed out only once: if the connection breaks, there is
/// no second stdin to dial, and the next call fails instead of hanging.
pub async fn connect<IO>(io: IO) -> Result<Channel, StdioError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let slot = Arc::new(Mutex::new(Some(io)));
    let connector = tower::service_fn(move |_: Uri| {
        let io = slot.lock().ok().and_then(|mut slot| slot.take());
        async move {
            io.map(TokioIo::new).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the stdio connection to BuildKit is gone",
                )
            })
        }
    });
    Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await
        .map_err(|e| StdioError::Connect(error_chain(&e)))
}

/// An error and its sources on one line (tonic's transport errors say
/// little at the top).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The [`Bridge`] of a frontend container: LLBBridge calls on the stdio
/// channel, with the client's session for local sources and image
/// resolution.
#[derive(Clone)]
pub struct StdioBridge {
    client: LlbBridgeClient<Channel>,
    session_id: Option<String>,
}

impl StdioBridge {
    /// A bridge on `channel` for the client session `session_id`.
    pub fn new(channel: Channel, session_id: Option<String>) -> Self {
        StdioBridge {
            client: LlbBridgeClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            session_id,
        }
    }

    /// The workers' platforms as the daemon reports them (the first
    /// worker's first platform is the build platform).
    pub async fn worker_platforms(&self) -> Result<Vec<Platform>, BridgeError> {
        let pong = self
            .client
            .clone()
            .ping(PingRequest {})
            .await
            .map_err(|s| status_error("ping", &s))?
            .into_inner();
        Ok(pong
            .workers
            .first()
            .map(|w| {
                w.platforms
                    .iter()
                    .filter_map(|p| Platform::from_pb(p).ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The names of the frontend inputs the client passed (LLB
    /// definitions that stand in for the `context` and `dockerfile`
    /// locals, or named contexts). Empty when the daemon cannot tell.
    pub async fn input_names(&self) -> Vec<String> {
        match self.client.clone().inputs(InputsRequest {}).await {
            Ok(response) => response.into_inner().definitions.into_keys().collect(),
            Err(status) => {
                tracing::debug!(message = %status.message(), "LLBBridge.Inputs failed");
                Vec::new()
            }
        }
    }

    /// Hands the result (or the error, as a `google.rpc.Status`) to
    /// BuildKit. After this the frontend has nothing left to do but exit 0.
    pub async fn finish(&self, outcome: Result<gw::Result, RpcStatus>) -> Result<(), StdioError> {
        let request = match outcome {
            Ok(result) => ReturnRequest {
                result: Some(result),
                error: None,
            },
            Err(status) => ReturnRequest {
                result: None,
                error: Some(status),
            },
        };
        self.client
            .clone()
            .r#return(request)
            .await
            .map(|_| ())
            .map_err(|s| StdioError::Return(s.message().to_string()))
    }

    async fn resolve_config(
        &self,
        request: ResolveImageConfigRequest,
        platform: &Platform,
    ) -> Result<ResolvedConfig, BridgeError> {
        let call = format!("resolve {} for {platform}", request.r#ref);
        let response = self
            .client
            .clone()
            .resolve_image_config(request)
            .await
            .map_err(|s| status_error(&call, &s))?
            .into_inner();
        Ok(ResolvedConfig {
            digest: response.digest,
            config: response.config,
        })
    }
}

fn status_error(call: &str, status: &tonic::Status) -> BridgeError {
    BridgeError {
        message: format!("{call}: {}", status.message()),
        details: crate::errdefs::details_of(status),
    }
}

#[async_trait::async_trait]
impl Bridge for StdioBridge {
    async fn solve(&self, definition: pb::Definition) -> Result<Option<String>, BridgeError> {
        let response = self
            .client
            .clone()
            .solve(gw::SolveRequest {
                definition: Some(definition),
                allow_result_return: true,
                allow_result_array_ref: true,
                ..Default::default()
            })
            .await
            .map_err(|s| status_error("solve", &s))?
            .into_inner();
        Ok(match response.result.and_then(|r| r.result) {
            Some(result::Result::Ref(r)) if !r.id.is_empty() => Some(r.id),
            Some(result::Result::RefDeprecated(id)) if !id.is_empty() => Some(id),
            _ => None,
        })
    }

    async fn read_file(&self, result: &str, path: &str) -> Result<Vec<u8>, BridgeError> {
        self.client
            .clone()
            .read_file(ReadFileRequest {
                r#ref: result.to_string(),
                file_path: path.to_string(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().data)
            .map_err(|s| status_error(&format!("read file {path}"), &s))
    }

    async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, BridgeError> {
        let request = registry_config_request(reference, platform, self.session_id.as_deref());
        self.resolve_config(request, platform).await
    }

    async fn resolve_oci_layout_config(
        &self,
        reference: &str,
        store: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, BridgeError> {
        let request = oci_layout_request(reference, store, platform, self.session_id.as_deref());
        self.resolve_config(request, platform).await
    }

    async fn warn(&self, warning: BuildWarning) -> Result<(), BridgeError> {
        self.client
            .clone()
            .warn(warning.to_request())
            .await
            .map(|_| ())
            .map_err(|s| status_error("warn", &s))
    }

    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
}

/// Runs one frontend invocation over `bridge`: answers the subrequest the
/// options ask for, or builds the Dockerfile, and returns what goes into
/// `LLBBridge.Return`.
pub async fn run(
    bridge: &StdioBridge,
    environment: &FrontendEnvironment,
) -> Result<gw::Result, RpcStatus> {
    if let Some(request) = environment.attrs.get("requestid") {
        tracing::info!(%request, "answering a subrequest");
        return subrequests::answer(bridge, request, &environment.attrs)
            .await
            .map_err(|e| match e {
                subrequests::SubrequestError::Unsupported(_) => {
                    rpc_status(tonic::Code::Unimplemented, e.to_string())
                }
                subrequests::SubrequestError::Frontend(e) => frontend_status(&e, None),
            });
    }
    if environment.was_forwarded() {
        // BuildKit's dockerfile.v0 already chose this image from the
        // `# syntax=` line; the line is still in the Dockerfile, and our
        // compiler reads it as a comment, so there is no loop to guard.
        tracing::debug!(source = ?environment.attrs.get("source"), "forwarded build");
    }
    // Named contexts from the client (local directories, images, URLs) are
    // built by the core; those that point at frontend inputs are not yet.
    if let Some((key, _)) = environment.attrs.iter().find(|(k, v)| {
        k.starts_with("input-metadata:") || (k.starts_with("context:") && v.starts_with("input:"))
    }) {
        return Err(rpc_status(
            tonic::Code::Unimplemented,
            format!("crossbuild's frontend does not support named contexts from frontend inputs yet ({key})"),
        ));
    }
    let inputs = bridge.input_names().await;
    if !inputs.is_empty() {
        // Building the client's local directories instead would silently
        // build something else than asked.
        return Err(rpc_status(
            tonic::Code::Unimplemented,
            format!(
                "crossbuild's frontend does not support frontend inputs yet (got {})",
                inputs.join(", ")
            ),
        ));
    }
    let options =
        FrontendOptions::from_attrs(&environment.attrs).map_err(|e| frontend_status(&e, None))?;
    let build_platform = match environment.worker_platforms.first() {
        Some(platform) => platform.clone(),
        None => bridge
            .worker_platforms()
            .await
            .ok()
            .and_then(|p| p.into_iter().next())
            .unwrap_or_else(Platform::host),
    };
    tracing::info!(%build_platform, platforms = ?options.platforms, "building");
    match frontend::build(bridge, &options, &build_platform).await {
        Ok(result) => Ok(result),
        Err(error @ FrontendError::Dockerfile { .. }) => {
            // Read again (a cache hit) so the client can show the line.
            let source = frontend::read_dockerfile(bridge, &options.filename)
                .await
                .ok();
            Err(frontend_status(
                &error,
                source.as_ref().map(|s| s.dockerfile.as_slice()),
            ))
        }
        Err(error) => Err(frontend_status(&error, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn joined_halves_read_one_pipe_and_write_the_other() {
        let (mut peer_in, ours_in) = tokio::io::duplex(64);
        let (ours_out, mut peer_out) = tokio::io::duplex(64);
        let mut joined = JoinedStream::new(ours_in, ours_out);
        peer_in.write_all(b"frames in").await.unwrap();
        let mut buf = [0u8; 9];
        joined.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"frames in");
        joined.write_all(b"frames out").await.unwrap();
        joined.flush().await.unwrap();
        let mut buf = [0u8; 10];
        peer_out.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"frames out");
    }
}
