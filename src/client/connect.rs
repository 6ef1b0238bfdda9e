//! Finding and connecting to a BuildKit daemon: a buildkitd socket (rootless
//! or rootful), a TCP address (plain or TLS), or a Docker engine's embedded
//! BuildKit on any of those.
//!
//! Every connection, whatever carries it, goes through one [`Transport`]: the
//! probe, each HTTP/2 connection of the gRPC channel, and the Docker engine's
//! `/session` connections, so the session code works on all of them.

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
use super::engine::{self, PingAnswer};
use super::tls::{Alpn, TlsClient};

/// BuildKit's largest gRPC message (containerd's default); tonic's own
/// 4 MiB limit is too small for definitions and file reads.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// How long one candidate may take to answer before crossbuild moves on.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long opening one more connection to a daemon that already answered
/// may take (socket, TLS handshake, the engine's HTTP/2 upgrade): the
/// gRPC channel's reconnects and the engine's `/session` connections. A
/// daemon that accepts and then says nothing must not hang a build.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the gRPC connection may stay silent before crossbuild pings
/// the daemon, and how long it then waits for the answer: a daemon (or a
/// network path) that stops answering in the middle of a build ends it
/// with "the connection to BuildKit was lost (keep-alive timed out)"
/// instead of an endless wait. hyper pings only after this long without
/// receiving anything, and only while a call is open.
///
/// A Docker engine serves `/grpc` with Go's `x/net/http2` server, which
/// answers pings without limits. A buildkitd is a grpc-go server, which
/// by default closes the connection (GOAWAY `too_many_pings`) on a client
/// pinging more often than every 5 minutes while it sends nothing; its
/// builds are rarely silent (the session's health checks cross the same
/// connection every 5 s), but `prune` can be, so it gets grpc-go's minimum.
fn keep_alive_interval(kind: DaemonKind) -> Duration {
    match kind {
        DaemonKind::DockerEngine => Duration::from_secs(10),
        DaemonKind::Buildkitd => Duration::from_secs(300),
    }
}

/// How long an answer to a keep-alive ping may take.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

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
        let tls = if candidate.tls.is_some() { ", TLS" } else { "" };
        text.push_str(&format!(
            "\n  {} ({}{tls}): {}",
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
    /// Where that address came from (`--addr`, `BUILDKIT_HOST`, `rootless
    /// Docker socket`, `docker context "name"`, ...).
    pub origin: String,
    /// What answered there.
    pub kind: DaemonKind,
    transport: Transport,
    channel: Channel,
}

impl fmt::Debug for Daemon {
    // The channel and TLS configuration say nothing useful (and the latter
    // holds the client key): show what the user would want to know.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Daemon")
            .field("address", &self.address)
            .field("origin", &self.origin)
            .field("kind", &self.kind)
            .field("tls", &self.uses_tls())
            .finish()
    }
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

    /// Opens a fresh stream to the daemon (TLS done, if the daemon is
    /// reached with TLS) for the Docker engine's `/session` door, which needs
    /// its own connection.
    pub async fn open_stream(&self) -> std::io::Result<Pin<Box<dyn DaemonIo>>> {
        self.transport.open(self.kind.alpn()).await
    }

    /// True when the connection to the daemon is encrypted and the daemon
    /// verified.
    pub fn uses_tls(&self) -> bool {
        self.transport.tls.is_some()
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
            Ok(Err(reason)) => {
                // A socket we may not use (EACCES) or that nobody serves is
                // passed over for the next; all reasons are shown if none answers.
                tracing::debug!(address = %candidate.address, origin = %candidate.origin, %reason, "passing over");
                tried.push((candidate, reason));
            }
            Err(_) => {
                let reason = format!("no answer within {} s", PROBE_TIMEOUT.as_secs());
                tracing::debug!(address = %candidate.address, origin = %candidate.origin, %reason, "passing over");
                tried.push((candidate, reason));
            }
        }
    }
    Err(ConnectError::NoDaemon(tried))
}

impl DaemonKind {
    /// What a connection to this kind of daemon speaks first.
    fn alpn(self) -> Alpn {
        match self {
            DaemonKind::Buildkitd => Alpn::H2,
            DaemonKind::DockerEngine => Alpn::Http1,
        }
    }
}

/// How to open a connection to one daemon: the socket, and the TLS wrapped
/// around it for a tcp address with TLS options.
#[derive(Clone)]
struct Transport {
    address: Address,
    tls: Option<TlsClient>,
}

impl Transport {
    /// Reads the candidate's TLS files now, so that a bad file is reported
    /// as such and not as a failed connection.
    fn new(candidate: &Candidate) -> Result<Transport, String> {
        let tls = match (&candidate.address, &candidate.tls) {
            (Address::Tcp { host, .. }, Some(options)) => {
                Some(options.client(host).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        Ok(Transport {
            address: candidate.address.clone(),
            tls,
        })
    }

    /// Opens a connection, with the TLS handshake done when TLS is on,
    /// within [`HANDSHAKE_TIMEOUT`].
    async fn open(&self, alpn: Alpn) -> std::io::Result<Pin<Box<dyn DaemonIo>>> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.open_unbounded(alpn))
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{} did not complete the connection within {} s",
                        self.address,
                        HANDSHAKE_TIMEOUT.as_secs()
                    ),
                ))
            })
    }

    async fn open_unbounded(&self, alpn: Alpn) -> std::io::Result<Pin<Box<dyn DaemonIo>>> {
        Ok(match (&self.address, &self.tls) {
            (Address::Unix(path), _) => Box::pin(UnixStream::connect(path).await?),
            (Address::Tcp { host, port }, None) => Box::pin(tcp_connect(host, *port).await?),
            (Address::Tcp { host, port }, Some(tls)) => {
                let stream = tcp_connect(host, *port).await?;
                Box::pin(tls.handshake(stream, alpn).await?)
            }
        })
    }

    /// Tells a buildkitd (gRPC straight on the connection) from a Docker
    /// engine (HTTP/1.1 first), and explains addresses that need TLS.
    async fn detect_kind(&self) -> Result<DaemonKind, String> {
        let answer = match (&self.address, &self.tls) {
            (Address::Tcp { host, port }, Some(tls)) => {
                let stream = tcp_connect(host, *port)
                    .await
                    .map_err(|e| describe_io_error(&e))?;
                let mut stream = tls
                    .handshake(stream, Alpn::Probe)
                    .await
                    .map_err(|e| describe_io_error(&e))?;
                // A server that picks h2 serves gRPC on the connection (a
                // buildkitd, or a Docker engine new enough to do the same).
                if stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice()) {
                    return Ok(DaemonKind::Buildkitd);
                }
                engine::probe(&mut stream)
                    .await
                    .map_err(|e| describe_io_error(&tls.explain(e)))?
            }
            _ => {
                let mut stream = self
                    .open(Alpn::Http1)
                    .await
                    .map_err(|e| describe_io_error(&e))?;
                engine::probe(&mut stream)
                    .await
                    .map_err(|e| describe_io_error(&e))?
            }
        };
        match answer {
            PingAnswer::DockerEngine => Ok(DaemonKind::DockerEngine),
            PingAnswer::NotHttp1 => Ok(DaemonKind::Buildkitd),
            PingAnswer::TlsRequired => Err(format!(
                "{} speaks only TLS: pass --tlscacert (and --tlscert and --tlskey if it wants a client certificate), or for a Docker engine set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH",
                self.address
            )),
        }
    }
}

async fn tcp_connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn connect_candidate(candidate: &Candidate) -> Result<Daemon, String> {
    let transport = Transport::new(candidate)?;
    let kind = transport.detect_kind().await?;
    let connector_transport = transport.clone();
    let connector = tower::service_fn(move |_: Uri| {
        let transport = connector_transport.clone();
        async move {
            let mut stream = transport.open(kind.alpn()).await?;
            if kind == DaemonKind::DockerEngine {
                engine::upgrade(&mut stream, "/grpc", &[]).await?;
            }
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    let channel = Endpoint::from_static("http://localhost")
        .http2_keep_alive_interval(keep_alive_interval(kind))
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(false)
        .connect_with_connector(connector)
        .await
        .map_err(|e| format!("HTTP/2 connection failed: {}", error_chain(&e)))?;
    Ok(Daemon {
        address: transport.address.clone(),
        origin: candidate.origin.clone(),
        kind,
        transport,
        channel,
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
