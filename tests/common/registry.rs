//! Registries of a test's own: a private `docker-registry` process on a
//! free 127.0.0.1 port with its own storage (so a test may kill it without
//! touching the shared ones), and an HTTP proxy in front of a registry that
//! answers chosen requests with an injected status (403, 500) and forwards
//! the rest: real traffic to a real registry, with faults.

use std::convert::Infallible;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

/// The distribution registry binary the environment script installs.
const REGISTRY_BINARY: &str = "docker-registry";

/// A free port on 127.0.0.1 (free when asked; good enough for a test).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `docker-registry` process of the test's own; killed when dropped.
pub struct PrivateRegistry {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl PrivateRegistry {
    /// Starts one and waits until it answers; `None` (after saying why)
    /// when the binary is missing outside CI.
    pub fn start(test: &str) -> Option<PrivateRegistry> {
        if Command::new(REGISTRY_BINARY)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(!super::in_ci(), "{test}: CI=true but no {REGISTRY_BINARY}");
            eprintln!("SKIPPED {test}: no {REGISTRY_BINARY} (run scripts/buildkit-env up)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = PrivateRegistry { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !registry.answers() {
            assert!(
                Instant::now() < deadline,
                "the private registry did not start: {}",
                std::fs::read_to_string(registry.dir.path().join("registry.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where it stores repositories.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data/docker/registry/v2/repositories")
    }

    /// True once `GET /v2/` answers.
    fn answers(&self) -> bool {
        Command::new("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                &format!("http://{}/v2/", self.host()),
            ])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The bytes of upload data the registry holds in `storage` so far.
pub fn upload_bytes(storage: &Path) -> u64 {
    fn walk(dir: &Path, in_uploads: bool, total: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk(&path, in_uploads || name == "_uploads", total);
            } else if in_uploads && name == "data" {
                *total += meta.len();
            }
        }
    }
    let mut total = 0;
    walk(storage, false, &mut total);
    total
}

/// An injected answer.
#[derive(Debug, Clone, Copy)]
pub struct InjectedAnswer {
    /// Its status.
    pub status: StatusCode,
    /// Its body.
    pub body: FaultBody,
}

/// The body of an injected answer.
#[derive(Debug, Clone, Copy)]
pub enum FaultBody {
    /// None, as from a reverse proxy or load balancer in front.
    Empty,
    /// The registry API's error JSON with this code (`DENIED`, ...), as
    /// from the registry itself.
    RegistryError(&'static str),
}

/// Decides, per request (method, path), whether to inject an answer.
pub type FaultRule = dyn Fn(&hyper::Method, &str) -> Option<InjectedAnswer> + Send + Sync;

/// An HTTP/1.1 proxy on a free 127.0.0.1 port in front of `upstream`
/// (`127.0.0.1:<port>`); stops when dropped.
pub struct FaultingRegistry {
    /// Its port on 127.0.0.1.
    pub port: u16,
    injected: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultingRegistry {
    /// Starts the proxy; requests `rule` picks are answered with its status
    /// and a registry-style error body, the rest go to `upstream`.
    pub fn start(upstream: String, rule: Box<FaultRule>) -> FaultingRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let injected = Arc::new(AtomicUsize::new(0));
        let counter = injected.clone();
        let rule: Arc<FaultRule> = Arc::from(rule);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            return;
                        };
                        let rule = rule.clone();
                        let upstream = upstream.clone();
                        let counter = counter.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                handle(request, rule.clone(), upstream.clone(), counter.clone())
                            });
                            // TLS attempts (clients try https first) fail
                            // to parse here and fall back to plain HTTP.
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stop_rx => {}
                }
            });
            runtime.shutdown_background();
        });
        FaultingRegistry {
            port,
            injected,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// How many requests were answered with the injected status.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }
}

impl Drop for FaultingRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn handle(
    request: Request<Incoming>,
    rule: Arc<FaultRule>,
    upstream: String,
    injected: Arc<AtomicUsize>,
) -> Result<Response<ProxyBody>, Infallible> {
    if let Some(fault) = rule(request.method(), request.uri().path()) {
        injected.fetch_add(1, Ordering::SeqCst);
        // Read the request first, as a server does before it answers; an
        // unread body would end the connection under the client.
        let _ = request.into_body().collect().await;
        let mut response = Response::builder().status(fault.status);
        let body = match fault.body {
            FaultBody::Empty => String::new(),
            FaultBody::RegistryError(code) => {
                response = response.header("Content-Type", "application/json");
                format!(
                    "{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"injected by the crossbuild test\"}}]}}"
                )
            }
        };
        let response = response
            .body(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed())
            .unwrap();
        return Ok(response);
    }
    Ok(forward(request, &upstream).await.unwrap_or_else(|err| {
        Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(
                Full::new(Bytes::from(format!("proxy: {err}")))
                    .map_err(|e| match e {})
                    .boxed(),
            )
            .unwrap()
    }))
}

async fn forward(
    request: Request<Incoming>,
    upstream: &str,
) -> Result<Response<ProxyBody>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    Ok(response.map(BodyExt::boxed))
}

/// Removes `tag` from the Docker engine's image store, best effort: the
/// engine's image exporter keeps every image it was asked to name, pushed
/// or not, and a test's throwaway registry names must not pile up there.
pub fn forget_image(tag: &str) {
    let _ = Command::new("docker")
        .args(["image", "rm", tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
