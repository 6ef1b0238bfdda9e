//! Finding and connecting to a BuildKit daemon: a buildkitd socket (rootless
//! or rootful), a TCP address, or a Docker engine's embedded BuildKit.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::llb_bridge_client::LlbBridgeClient;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tonic::transport::{Channel, Endpoint, Uri};

use super::address::{Address, AddressError, Candidate, Lookup};
use super::engine;

/// BuildKit's largest gRPC message (containerd's default); tonic's own
/// 4 MiB limit is too small for definitions and file reads.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// How long one candidate may take to answer before crossbuild moves on.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What kind of server answers at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonKind {
    /// A standalone buildkitd: gRPC straight on the socket.
    Buildkitd,
    /// A Docker engine: gRPC behind `POST /grpc`, the session behind
    /// `POST /session`.
    DockerEngine,
}

impl fmt::Display for DaemonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DaemonKind::Buildkitd => "buildkitd",
            DaemonKind::DockerEngine => "Docker engine",
        })
    }
}

/// Why no daemon could be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// An address the user gave cannot be parsed.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Every candidate failed; each with its reason.
    #[error("{}", no_daemon_message(.0))]
    NoDaemon(Vec<(Candidate, String)>),
}

fn no_daemon_message(tried: &[(Candidate, String)]) -> String {
    let mut text = String::from("cannot reach a BuildKit daemon; tried:");
    for (candidate, reason) in tried {
        text.push_str(&format!(
            "\n  {} ({}): {}",
            candidate.address, candidate.origin, reason
        ));
    }
    text.push_str(
        "\nhint: start one (scripts/buildkit-env up), or point --addr or BUILDKIT_HOST at a daemon",
    );
    text
}

/// A byte stream to the daemon, whatever transport carries it.
pub trait DaemonIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> DaemonIo for T {}

/// A connected daemon: one HTTP/2 channel for Control and LLBBridge calls.
#[derive(Clone)]
pub struct Daemon {
    /// The address that answered.
    pub address: Address,
    /// Where that address came from (`--addr`, `BUILDKIT_HOST`, ...).
    pub origin: &'static str,
    /// What answered there.
    pub kind: DaemonKind,
    channel: Channel,
}

impl Daemon {
    /// A client for BuildKit's Control service (solve, status, session, workers).
    pub fn control(&self) -> ControlClient<Channel> {
        ControlClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// A client for the LLBBridge (the client-side gateway a build runs through).
    pub fn bridge(&self) -> LlbBridgeClient<Channel> {
        LlbBridgeClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// Opens a fresh raw stream to the daemon's socket (used by the Docker
    /// engine's `/session` door, which needs its own connection).
    pub async fn open_stream(&self) -> std::io::Result<Pin<Box<dyn DaemonIo>>> {
        open_stream(&self.address).await
    }
}

/// Connects to the first daemon that answers among the candidates `lookup`
/// yields, and says which one in the log.
pub async fn connect(lookup: &Lookup) -> Result<Daemon, ConnectError> {
    let mut tried = Vec::new();
    for candidate in lookup.candidates()? {
        match tokio::time::timeout(PROBE_TIMEOUT, connect_candidate(&candidate)).await {
            Ok(Ok(daemon)) => {
                tracing::info!(address = %daemon.address, kind = %daemon.kind, "connected to BuildKit");
                return Ok(daemon);
            }
            Ok(Err(reason)) => tried.push((candidate, reason)),
            Err(_) => tried.push((
                candidate,
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
            )),
        }
    }
    Err(ConnectError::NoDaemon(tried))
}

async fn connect_candidate(candidate: &Candidate) -> Result<Daemon, String> {
    let address = candidate.address.clone();
    let kind = match &address {
        Address::Unix(path) => {
            let mut stream = UnixStream::connect(path)
                .await
                .map_err(|e| describe_io_error(&e))?;
            if engine::is_docker_engine(&mut stream)
                .await
                .map_err(|e| describe_io_error(&e))?
            {
                DaemonKind::DockerEngine
            } else {
                DaemonKind::Buildkitd
            }
        }
        Address::Tcp { .. } => DaemonKind::Buildkitd,
    };
    let connector_address = address.clone();
    let connector = tower::service_fn(move |_: Uri| {
        let address = connector_address.clone();
        async move {
            let mut stream = open_stream(&address).await?;
            if kind == DaemonKind::DockerEngine {
                engine::upgrade(&mut stream, "/grpc", &[]).await?;
            }
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await
        .map_err(|e| format!("HTTP/2 connection failed: {}", error_chain(&e)))?;
    Ok(Daemon {
        address,
        origin: candidate.origin,
        kind,
        channel,
    })
}

async fn open_stream(address: &Address) -> std::io::Result<Pin<Box<dyn DaemonIo>>> {
    Ok(match address {
        Address::Unix(path) => Box::pin(UnixStream::connect(path).await?),
        Address::Tcp { host, port } => {
            let stream = TcpStream::connect((host.as_str(), *port)).await?;
            stream.set_nodelay(true)?;
            Box::pin(stream)
        }
    })
}

fn describe_io_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such socket".to_string(),
        std::io::ErrorKind::ConnectionRefused => "connection refused (nothing listens)".to_string(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (is your user allowed to use this socket?)".to_string()
        }
        _ => error.to_string(),
    }
}

/// Joins an error and its sources into one line.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}
