//! `SSH.CheckAgent` / `SSH.ForwardAgent`: the user's ssh-agent, lent to
//! `RUN --mount=type=ssh` steps through `--ssh default|id=socket`.
//!
//! The daemon opens one `ForwardAgent` stream per connection a build step
//! makes to its agent socket; the call's metadata names the agent id
//! (`buildkit.ssh.id`, BuildKit `session/sshforward`). Each stream gets its
//! own connection to the real agent socket.
//!
//! Like BuildKit's provider (`sshprovider.readOnlyAgent`), the agent is
//! lent read-only: a build step may list keys and ask for signatures, but
//! not add, remove or lock keys or use extensions. To enforce that, the
//! proxy reads whole agent messages and relays one request and its reply
//! at a time (the agent protocol is request–reply), answering refused
//! requests with the protocol's failure message itself.
//!
//! Only agent sockets are supported. Key files (`--ssh id=~/.ssh/id_ed25519`)
//! would need an in-process agent; they are refused with a hint.

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::Ssh;
use bollard_buildkit_proto::moby::sshforward::v1::{
    BytesMessage, CheckAgentRequest, CheckAgentResponse,
};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::client::build_options::SshSpec;

/// The full method names the daemon is told about.
pub const SSH_METHODS: &[&str] = &[
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
];

/// The id used when none is given (`sshforward.DefaultID`).
pub const DEFAULT_SSH_ID: &str = "default";

/// The metadata key naming the agent on a `ForwardAgent` call
/// (`sshforward.KeySSHID`).
const ID_METADATA_KEY: &str = "buildkit.ssh.id";

/// How long connecting to the agent socket may take (BuildKit: 1 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The largest agent message accepted either way (OpenSSH `AGENT_MAX_LEN`).
const MAX_AGENT_MESSAGE: usize = 256 * 1024;

/// `SSH2_AGENTC_REQUEST_IDENTITIES` and `SSH2_AGENTC_SIGN_REQUEST`: the only
/// requests a read-only agent answers.
const ALLOWED_REQUESTS: &[u8] = &[11, 13];

/// `SSH_AGENT_FAILURE` as a whole message: length 1, type 5.
const AGENT_FAILURE: &[u8] = &[0, 0, 0, 1, 5];

/// Why the `--ssh` agents could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// `--ssh default` (or an id without a path) and no `SSH_AUTH_SOCK`.
    #[error("--ssh {id}: no agent socket given and SSH_AUTH_SOCK is not set")]
    NoAgentSocket {
        /// The agent id.
        id: String,
    },
    /// The path cannot be inspected.
    #[error("--ssh {id}: cannot use {path}: {source}")]
    Stat {
        /// The agent id.
        id: String,
        /// The path given.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The path is a file, most likely a private key.
    #[error(
        "--ssh {id}: {path} is not an ssh-agent socket; only agent sockets are supported \
         (key files would need an in-process agent): add the key to ssh-agent with \
         `ssh-add` and pass --ssh {id}=$SSH_AUTH_SOCK"
    )]
    NotASocket {
        /// The agent id.
        id: String,
        /// The path given.
        path: PathBuf,
    },
    /// More than one path for one id (BuildKit allows several key files, but
    /// only one socket).
    #[error("--ssh {id}: give one agent socket; key files are not supported")]
    SeveralPaths {
        /// The agent id.
        id: String,
    },
    /// The same id twice.
    #[error("--ssh {0}: the id is given twice")]
    DuplicateId(String),
}

/// Forwards the configured ssh-agent sockets to the daemon, read-only.
#[derive(Debug, Clone, Default)]
pub struct SshService {
    agents: Arc<BTreeMap<String, PathBuf>>,
}

impl SshService {
    /// A service for `specs` (parsed `--ssh` values). `env` looks up
    /// `SSH_AUTH_SOCK` for specs without a path (pass
    /// `build_options::process_env` in production). Every path must be an
    /// existing agent socket.
    pub fn new(specs: &[SshSpec], env: &dyn Fn(&str) -> Option<String>) -> Result<Self, SshError> {
        let mut agents = BTreeMap::new();
        for spec in specs {
            let id = if spec.id.is_empty() {
                DEFAULT_SSH_ID.to_string()
            } else {
                spec.id.clone()
            };
            let path = match spec.paths.as_slice() {
                [] => env("SSH_AUTH_SOCK")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .ok_or_else(|| SshError::NoAgentSocket { id: id.clone() })?,
                [path] => path.clone(),
                _ => return Err(SshError::SeveralPaths { id }),
            };
            let metadata = std::fs::metadata(&path).map_err(|source| SshError::Stat {
                id: id.clone(),
                path: path.clone(),
                source,
            })?;
            if !metadata.file_type().is_socket() {
                return Err(SshError::NotASocket { id, path });
            }
            if agents.contains_key(&id) {
                return Err(SshError::DuplicateId(id));
            }
            agents.insert(id, path);
        }
        Ok(SshService {
            agents: Arc::new(agents),
        })
    }

    /// The agent ids this service answers for.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }

    fn socket_for(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { DEFAULT_SSH_ID } else { id };
        self.agents
            .get(id)
            .ok_or_else(|| Status::not_found(format!("unset ssh forward key {id}")))
    }
}

#[tonic::async_trait]
impl Ssh for SshService {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        self.socket_for(&request.into_inner().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = ReceiverStream<Result<BytesMessage, Status>>;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get(ID_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(DEFAULT_SSH_ID)
            .to_string();
        let path = self.socket_for(&id)?;
        let agent = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path))
            .await
            .map_err(|_| {
                Status::unavailable(format!("connecting to {}: timed out", path.display()))
            })?
            .map_err(|e| Status::unavailable(format!("connecting to {}: {e}", path.display())))?;
        tracing::debug!(id, socket = %path.display(), "forwarding ssh agent");
        let (replies, replies_rx) = mpsc::channel(4);
        let inbound = request.into_inner();
        tokio::spawn(async move {
            if let Err(status) = relay(inbound, agent, &replies).await {
                tracing::debug!(id, error = %status.message(), "ssh agent forwarding ended");
                let _ = replies.send(Err(status)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(replies_rx)))
    }
}

/// Relays agent requests from the daemon's byte chunks to `agent` and the
/// replies back, one at a time, refusing all but read-only requests. Ends
/// when the daemon stops sending or stops listening.
async fn relay<S>(
    inbound: S,
    mut agent: UnixStream,
    replies: &mpsc::Sender<Result<BytesMessage, Status>>,
) -> Result<(), Status>
where
    S: Stream<Item = Result<BytesMessage, Status>> + Unpin,
{
    let mut requests = Requests {
        inbound,
        buffer: Vec::new(),
    };
    loop {
        let request = tokio::select! {
            request = requests.next() => request?,
            _ = replies.closed() => return Ok(()),
        };
        let Some(request) = request else {
            return Ok(());
        };
        let reply = if request.get(4).is_some_and(|t| ALLOWED_REQUESTS.contains(t)) {
            agent
                .write_all(&request)
                .await
                .map_err(|e| Status::unavailable(format!("writing to the ssh agent: {e}")))?;
            read_agent_reply(&mut agent).await?
        } else {
            tracing::debug!(
                request_type = request.get(4).copied(),
                "refused an ssh agent request that would change the agent"
            );
            AGENT_FAILURE.to_vec()
        };
        if replies
            .send(Ok(BytesMessage { data: reply }))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

/// Whole agent messages cut from the daemon's byte chunks, which split and
/// join messages arbitrarily.
struct Requests<S> {
    inbound: S,
    buffer: Vec<u8>,
}

impl<S> Requests<S>
where
    S: Stream<Item = Result<BytesMessage, Status>> + Unpin,
{
    /// The next message, length prefix included; `None` at the end of the
    /// stream (a partial message left then is dropped, as the agent would).
    async fn next(&mut self) -> Result<Option<Vec<u8>>, Status> {
        loop {
            if self.buffer.len() >= 4 {
                let length = message_length(&self.buffer)?;
                if self.buffer.len() >= 4 + length {
                    return Ok(Some(self.buffer.drain(..4 + length).collect()));
                }
            }
            match self.inbound.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk.data),
                Some(Err(status)) => return Err(status),
                None => return Ok(None),
            }
        }
    }
}

/// The body length announced by a message's 4-byte big-endian prefix.
fn message_length(prefix: &[u8]) -> Result<usize, Status> {
    let bytes: [u8; 4] = prefix
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| Status::invalid_argument("short ssh agent message"))?;
    let length = u32::from_be_bytes(bytes) as usize;
    if length > MAX_AGENT_MESSAGE {
        return Err(Status::invalid_argument(format!(
            "ssh agent message of {length} bytes is too large"
        )));
    }
    Ok(length)
}

/// Reads one whole reply from the agent.
async fn read_agent_reply(agent: &mut UnixStream) -> Result<Vec<u8>, Status> {
    let failed =
        |e: std::io::Error| Status::unavailable(format!("reading from the ssh agent: {e}"));
    let mut message = vec![0u8; 4];
    agent.read_exact(&mut message).await.map_err(failed)?;
    let length = message_length(&message)?;
    message.resize(4 + length, 0);
    agent.read_exact(&mut message[4..]).await.map_err(failed)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::build_options::parse_ssh;
    use bollard_buildkit_proto::moby::sshforward::v1::ssh_client::SshClient;
    use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::SshServer;
    use std::path::Path;
    use tokio::net::UnixListener;

    /// An "agent" that answers every message with the same bytes, and
    /// reports each message it received.
    fn echo_agent(path: &Path) -> mpsc::UnboundedReceiver<Vec<u8>> {
        let listener = UnixListener::bind(path).unwrap();
        let (seen, seen_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    while let Ok(message) = read_agent_reply(&mut conn).await {
                        let _ = seen.send(message.clone());
                        if conn.write_all(&message).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        seen_rx
    }

    /// An agent message of type `kind` with `body`.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        m.push(kind);
        m.extend_from_slice(body);
        m
    }

    fn chunk(data: &[u8]) -> Result<BytesMessage, Status> {
        Ok(BytesMessage {
            data: data.to_vec(),
        })
    }

    #[tokio::test]
    async fn relays_read_requests_and_refuses_changes() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let mut seen = echo_agent(&socket);
        let list = message(11, b"");
        let sign = message(13, b"key-and-data");
        let add = message(17, b"private key");
        let lock = message(22, b"passphrase");
        // Messages split and joined across chunks as the daemon may send them.
        let mut joined = sign[3..].to_vec();
        joined.extend_from_slice(&add);
        let inbound = futures::stream::iter(vec![
            chunk(&list),
            chunk(&sign[..3]),
            chunk(&joined),
            chunk(&lock),
        ]);
        let agent = UnixStream::connect(&socket).await.unwrap();
        let (replies, mut replies_rx) = mpsc::channel(8);
        relay(inbound, agent, &replies).await.unwrap();
        drop(replies);
        let mut got = Vec::new();
        while let Some(reply) = replies_rx.recv().await {
            got.push(reply.unwrap().data);
        }
        assert_eq!(
            got,
            [
                list.clone(),
                sign.clone(),
                AGENT_FAILURE.to_vec(),
                AGENT_FAILURE.to_vec()
            ]
        );
        assert_eq!(seen.recv().await.unwrap(), list);
        assert_eq!(seen.recv().await.unwrap(), sign);
        assert!(
            seen.try_recv().is_err(),
            "refused requests reached the agent"
        );
    }

    #[tokio::test]
    async fn oversized_messages_end_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let _seen = echo_agent(&socket);
        let inbound = futures::stream::iter(vec![chunk(&u32::MAX.to_be_bytes())]);
        let agent = UnixStream::connect(&socket).await.unwrap();
        let (replies, _rx) = mpsc::channel(1);
        let err = relay(inbound, agent, &replies).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    /// A client for `service`, connected over an in-memory HTTP/2 link the
    /// way the daemon calls the session.
    async fn connect(service: SshService) -> SshClient<tonic::transport::Channel> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::service::TowerToHyperService;
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let mut routes = tonic::service::RoutesBuilder::default();
        routes.add_service(SshServer::new(service));
        let routes = routes.routes();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(theirs), TowerToHyperService::new(routes))
                .await;
        });
        let slot = Arc::new(std::sync::Mutex::new(Some(ours)));
        let connector = tower::service_fn(move |_: http::Uri| {
            let io = slot.lock().ok().and_then(|mut s| s.take());
            async move {
                io.map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the test link is used up"))
            }
        });
        let channel = tonic::transport::Endpoint::from_static("http://localhost")
            .connect_with_connector(connector)
            .await
            .unwrap();
        SshClient::new(channel)
    }

    #[tokio::test]
    async fn forwards_the_agent_named_in_the_metadata_over_grpc() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let _seen = echo_agent(&socket);
        let spec = parse_ssh(&format!("work={}", socket.display())).unwrap();
        let mut client = connect(SshService::new(&[spec], &|_| None).unwrap()).await;

        client
            .check_agent(CheckAgentRequest { id: "work".into() })
            .await
            .unwrap();
        let status = client
            .check_agent(CheckAgentRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);

        let (requests, requests_rx) = mpsc::channel(4);
        let mut call = Request::new(ReceiverStream::new(requests_rx));
        call.metadata_mut()
            .insert(ID_METADATA_KEY, "work".parse().unwrap());
        let mut replies = client.forward_agent(call).await.unwrap().into_inner();
        for body in [&b"one"[..], b"two"] {
            let request = message(13, body);
            requests
                .send(BytesMessage {
                    data: request.clone(),
                })
                .await
                .unwrap();
            let reply = replies.message().await.unwrap().unwrap();
            assert_eq!(reply.data, request);
        }
        drop(requests);
        assert!(replies.message().await.unwrap().is_none());

        // Without the metadata the id is `default`, which is not configured.
        let (_requests, requests_rx) = mpsc::channel::<BytesMessage>(1);
        let status = client
            .forward_agent(ReceiverStream::new(requests_rx))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);
    }

    #[test]
    fn setup_accepts_agent_sockets_only() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let key = dir.path().join("id_ed25519");
        std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----").unwrap();
        let sock = socket.display().to_string();
        let env = |k: &str| (k == "SSH_AUTH_SOCK").then(|| sock.clone());

        let service = SshService::new(&[parse_ssh("default").unwrap()], &env).unwrap();
        assert_eq!(service.ids().collect::<Vec<_>>(), ["default"]);

        let err = SshService::new(&[parse_ssh("default").unwrap()], &|_| None).unwrap_err();
        assert!(matches!(err, SshError::NoAgentSocket { .. }), "{err}");
        let spec = parse_ssh(&format!("k={}", key.display())).unwrap();
        let err = SshService::new(&[spec], &env).unwrap_err();
        assert!(err.to_string().contains("only agent sockets"), "{err}");
        let spec = parse_ssh(&format!("k={},{}", key.display(), key.display())).unwrap();
        assert!(matches!(
            SshService::new(&[spec], &env),
            Err(SshError::SeveralPaths { .. })
        ));
        let twice = [parse_ssh("default").unwrap(), parse_ssh("default").unwrap()];
        assert!(matches!(
            SshService::new(&twice, &env),
            Err(SshError::DuplicateId(_))
        ));
        let spec = parse_ssh(&format!("x={}", dir.path().join("nope").display())).unwrap();
        assert!(matches!(
            SshService::new(&[spec], &env),
            Err(SshError::Stat { .. })
        ));
    }
}
