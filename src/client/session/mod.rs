//! The build session: an HTTP/2 connection on which the *daemon* is the
//! client and crossbuild serves gRPC — health, file sync (the context
//! upload), file send (exports), content stores (local cache, OCI layouts),
//! registry auth, secrets and SSH agents.
//!
//! Two doors lead to it. A buildkitd takes `Control.Session`, a stream of
//! byte messages that carries the HTTP/2 connection; a Docker engine takes
//! `POST /session` with an h2c upgrade on a connection of its own. Either
//! way the session's id, shared key and the list of methods crossbuild
//! serves go along as `X-Docker-Expose-Session-*` headers: the daemon calls
//! only the methods listed.

mod auth;
mod coalesce;
pub mod content_store;
mod filesend;
mod health;
mod raw;
mod secrets;
mod ssh;
mod upload;

use std::convert::Infallible;
use std::pin::Pin;

use bollard_buildkit_proto::health::health_server::HealthServer;
use bollard_buildkit_proto::moby::buildkit::v1::BytesMessage;
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tonic::server::NamedService;
use tonic::service::{Routes, RoutesBuilder};

use super::connect::{error_chain, Daemon, DaemonIo, DaemonKind};
use super::engine;

pub use auth::{
    AuthError, AuthService, CredentialHelper, Credentials, DockerConfig, ProcessHelper,
    AUTH_METHODS,
};
pub use filesend::{FileSendService, FILE_SEND_METHODS};
pub use health::SessionHealth;
pub use secrets::{SecretsError, SecretsService, MAX_SECRET_SIZE, SECRETS_METHODS};
pub use ssh::{SshError, SshService, DEFAULT_SSH_ID, SSH_METHODS};
pub use upload::{FileSyncService, FILE_SYNC_METHODS};

/// The gRPC methods of the health service, as the daemon expects them listed.
const HEALTH_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/List",
    "/grpc.health.v1.Health/Watch",
];

/// HTTP/2 connection window of the session (see [`serve`]).
const SESSION_CONNECTION_WINDOW: u32 = 64 << 20;
/// HTTP/2 stream window of the session.
const SESSION_STREAM_WINDOW: u32 = 16 << 20;
/// How long the session may stay silent before crossbuild pings the daemon
/// on it (the daemon's own health checks come every 5 s), and how long the
/// answer may take: a session the daemon or the network dropped without
/// closing it ends instead of waiting forever. The daemon is a grpc-go
/// *client* here, and clients answer pings without limits.
const SESSION_KEEP_ALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
const SESSION_KEEP_ALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Opening the connection or the upgrade failed.
    #[error("opening the build session failed: {0}")]
    Open(String),
}

/// The gRPC services a session offers, and the method names the daemon is
/// told about.
pub struct SessionServices {
    routes: RoutesBuilder,
    methods: Vec<&'static str>,
}

impl Default for SessionServices {
    fn default() -> Self {
        let mut services = SessionServices {
            routes: RoutesBuilder::default(),
            methods: Vec::new(),
        };
        services.add(HealthServer::new(SessionHealth), HEALTH_METHODS);
        services
    }
}

impl SessionServices {
    /// A set with the health service, which every session needs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service and the full names of the methods it serves
    /// (`/package.Service/Method`).
    pub fn add<S>(&mut self, service: S, methods: &[&'static str]) -> &mut Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes.add_service(service);
        self.methods.extend_from_slice(methods);
        self
    }

    /// The method names the daemon will be told about.
    pub fn methods(&self) -> &[&'static str] {
        &self.methods
    }
}

/// An open session. Its id goes into every solve that needs the client's
/// files or credentials; dropping or closing it ends the connection.
pub struct Session {
    id: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Option<String>>,
}

impl Session {
    /// Opens a session with `daemon`, serving `services`. `shared_key` lets
    /// the daemon reuse what an earlier session with the same key uploaded
    /// (buildx derives it from the context directory).
    pub async fn start(
        daemon: &Daemon,
        shared_key: &str,
        services: SessionServices,
    ) -> Result<Session, SessionError> {
        let id = new_id();
        let mut headers: Vec<(&str, String)> = vec![
            ("X-Docker-Expose-Session-Uuid", id.clone()),
            ("X-Docker-Expose-Session-Sharedkey", shared_key.to_string()),
        ];
        for method in services.methods() {
            headers.push(("X-Docker-Expose-Session-Grpc-Method", method.to_string()));
        }
        let io: Pin<Box<dyn DaemonIo>> = match daemon.kind {
            DaemonKind::DockerEngine => {
                let mut stream = daemon
                    .open_stream()
                    .await
                    .map_err(|e| SessionError::Open(e.to_string()))?;
                engine::upgrade(&mut stream, "/session", &headers)
                    .await
                    .map_err(|e| SessionError::Open(e.to_string()))?;
                stream
            }
            DaemonKind::Buildkitd => Box::pin(control_session_pipe(daemon, &headers).await?),
        };
        let routes = services.routes.routes();
        let (shutdown, shutdown_rx) = oneshot::channel();
        let session_id = id.clone();
        let task = tokio::spawn(async move {
            let broken = serve(io, routes, shutdown_rx).await;
            tracing::debug!(session = %session_id, "session connection ended");
            broken
        });
        tracing::debug!(session = %id, "session open");
        Ok(Session {
            id,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// The session id (`SolveRequest.session`, `local.session`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// True while the connection to the daemon is up.
    pub fn is_open(&self) -> bool {
        !self.task.is_finished()
    }

    /// Ends the session and waits for its connection to close. Returns why
    /// the connection broke, if it broke before (a session dropped by the
    /// daemon or the network: what a failed build should be blamed on).
    pub async fn close(mut self) -> Option<String> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task).await.ok().flatten()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Serves gRPC on an HTTP/2 connection the daemon opened, until it ends or
/// the session is closed; returns the error that broke the connection.
async fn serve(
    io: Pin<Box<dyn DaemonIo>>,
    routes: Routes,
    shutdown: oneshot::Receiver<()>,
) -> Option<String> {
    // Large windows: the daemon streams exports and many small fsutil
    // packets (a STAT per file) on this connection; 64 KiB windows stall it
    // on every round trip while files are written. (The small-frame budget
    // of newer h2 releases is avoided by the h2 pin in Cargo.toml.)
    let io = coalesce::CoalescedIo::new(io);
    let write_failure = io.failure();
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .initial_connection_window_size(SESSION_CONNECTION_WINDOW)
        .initial_stream_window_size(SESSION_STREAM_WINDOW)
        .max_frame_size(1 << 20)
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(SESSION_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(SESSION_KEEP_ALIVE_TIMEOUT)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(routes));
    tokio::select! {
        // The connection first: when the daemon's close is already waiting
        // on the socket as crossbuild closes the session, it is the cause
        // of the failed build being reported, and must not be missed.
        biased;
        result = connection => {
            // The daemon never ends a session by itself while crossbuild
            // still uses it: a clean close from its side is a break too.
            let Err(err) = result else {
                return Some("the daemon closed the session connection".to_string());
            };
            let pump_failure = write_failure.lock().unwrap_or_else(|p| p.into_inner()).take();
            let reason = if let Some(failure) = pump_failure {
                format!("writing to the daemon failed: {failure}")
            } else if err.is_timeout() {
                format!(
                    "no reply to a keep-alive ping within {} s",
                    SESSION_KEEP_ALIVE_TIMEOUT.as_secs()
                )
            } else {
                error_chain(&err)
            };
            tracing::debug!(error = %reason, "session connection closed with an error");
            Some(reason)
        }
        _ = shutdown => None,
    }
}

/// Opens `Control.Session` on a buildkitd and turns its byte-message stream
/// into a plain byte pipe for the HTTP/2 server.
async fn control_session_pipe(
    daemon: &Daemon,
    headers: &[(&str, String)],
) -> Result<tokio::io::DuplexStream, SessionError> {
    let (ours, mut theirs) = tokio::io::duplex(1 << 20);
    let (outbound, outbound_rx) = mpsc::channel::<BytesMessage>(16);
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(outbound_rx));
    for (name, value) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|e| SessionError::Open(e.to_string()))?;
        let value = value
            .parse()
            .map_err(|_| SessionError::Open(format!("invalid session header value {value:?}")))?;
        request.metadata_mut().append(key, value);
    }
    let mut inbound = daemon
        .control()
        .session(request)
        .await
        .map_err(|status| SessionError::Open(error_chain(&status)))?
        .into_inner();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            tokio::select! {
                read = theirs.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let message = BytesMessage { data: buffer[..n].to_vec() };
                        if outbound.send(message).await.is_err() {
                            break;
                        }
                    }
                },
                message = inbound.next() => match message {
                    Some(Ok(message)) => {
                        if theirs.write_all(&message.data).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
            }
        }
    });
    Ok(ours)
}

/// A random id in the style of BuildKit's `identity.NewID()`: 25 characters
/// of base 36.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..25)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_buildkit_ids() {
        let id = new_id();
        assert_eq!(id.len(), 25);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        assert_ne!(id, new_id());
    }

    #[test]
    fn health_methods_are_always_listed() {
        let services = SessionServices::new();
        assert!(services.methods().contains(&"/grpc.health.v1.Health/Check"));
    }

    #[test]
    fn auth_secrets_and_ssh_services_can_be_served() {
        use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::SecretsServer;
        use bollard_buildkit_proto::moby::filesync::v1::auth_server::AuthServer;
        use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::SshServer;
        let mut services = SessionServices::new();
        services
            .add(
                AuthServer::new(AuthService::new(DockerConfig::default())),
                AUTH_METHODS,
            )
            .add(
                SecretsServer::new(SecretsService::default()),
                SECRETS_METHODS,
            )
            .add(SshServer::new(SshService::default()), SSH_METHODS);
        assert!(services
            .methods()
            .contains(&"/moby.sshforward.v1.SSH/ForwardAgent"));
    }
}
