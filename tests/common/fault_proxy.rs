//! A byte proxy in front of the real daemon that injects faults: after a
//! number of bytes from the daemon it stops forwarding (a daemon that no
//! longer answers, the connection still open) or cuts the connection (a
//! dropped session). It runs on its own thread and runtime, so a test can
//! block on the crossbuild process meanwhile.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// What the proxy does to a connection once the fault triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop forwarding in both directions; keep both sockets open.
    Stall,
    /// Close both sockets.
    Cut,
    /// Keep forwarding, but hold every chunk from the daemon this long
    /// first (a slow daemon or a slow link); `after_daemon_bytes` is
    /// ignored.
    Delay(std::time::Duration),
}

/// Which connections a fault applies to, and when it triggers.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    /// Connections are numbered from 0 in the order they are accepted;
    /// the fault applies to this one and every later one.
    pub from_connection: usize,
    /// The fault triggers once the daemon has sent this many bytes on the
    /// connection (0: before anything is forwarded back).
    pub after_daemon_bytes: usize,
    /// What happens then.
    pub action: Action,
}

/// Where the real daemon listens.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A unix socket (the engine's /var/run/docker.sock).
    Unix(PathBuf),
    /// A TCP address (the engine's TLS port; TLS passes through untouched).
    Tcp(std::net::SocketAddr),
}

/// Where the proxy listens; drop it to stop.
pub struct FaultProxy {
    /// The address to give crossbuild (`unix:///...` or `tcp://...`).
    pub address: String,
    accepted: Arc<AtomicUsize>,
    recorded: Recorded,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl FaultProxy {
    /// A proxy on a fresh unix socket (or on 127.0.0.1 when `tcp`) in front
    /// of `upstream`, applying `fault` (none: a plain proxy).
    pub fn start(upstream: Upstream, tcp: bool, fault: Option<Fault>) -> FaultProxy {
        // Bound here with std sockets, so that this works from inside a
        // test's runtime too; served on the proxy's own runtime.
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (address, dir, listener) = if tcp {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let address = format!("tcp://{}", listener.local_addr().unwrap());
            (address, None, StdListener::Tcp(listener))
        } else {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("proxy.sock");
            let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
            (
                format!("unix://{}", path.display()),
                Some(dir),
                StdListener::Unix(listener),
            )
        };
        let counter = accepted.clone();
        let recorded = Recorded::default();
        let record = recorded.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = match listener {
                    StdListener::Tcp(l) => {
                        l.set_nonblocking(true).unwrap();
                        Listener::Tcp(TcpListener::from_std(l).unwrap())
                    }
                    StdListener::Unix(l) => {
                        l.set_nonblocking(true).unwrap();
                        Listener::Unix(UnixListener::from_std(l).unwrap())
                    }
                };
                tokio::select! {
                    _ = serve(listener, upstream, fault, counter, record) => {}
                    _ = stop_rx => {}
                }
            });
            runtime.shutdown_background();
        });
        FaultProxy {
            address,
            accepted,
            recorded,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// How many connections crossbuild opened through the proxy so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Every byte crossbuild sent, per connection in the order they were
    /// opened (recorded on connections without a fault).
    pub fn sent_by_client(&self) -> Vec<Vec<u8>> {
        self.recorded.lock().unwrap().clone()
    }

    /// The unix socket path, for a unix proxy.
    pub fn socket_path(&self) -> Option<&Path> {
        self.address.strip_prefix("unix://").map(Path::new)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Recorded = Arc<Mutex<Vec<Vec<u8>>>>;

enum StdListener {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn serve(
    listener: Listener,
    upstream: Upstream,
    fault: Option<Fault>,
    accepted: Arc<AtomicUsize>,
    recorded: Recorded,
) {
    loop {
        let client: Box<dyn Io> = match &listener {
            Listener::Unix(l) => match l.accept().await {
                Ok((s, _)) => Box::new(s),
                Err(_) => return,
            },
            Listener::Tcp(l) => match l.accept().await {
                Ok((s, _)) => Box::new(s),
                Err(_) => return,
            },
        };
        let index = accepted.fetch_add(1, Ordering::SeqCst);
        let fault = fault.filter(|f| index >= f.from_connection);
        let upstream = upstream.clone();
        let recorded = recorded.clone();
        recorded.lock().unwrap().push(Vec::new());
        tokio::spawn(async move {
            let daemon: Box<dyn Io> = match &upstream {
                Upstream::Unix(path) => match UnixStream::connect(path).await {
                    Ok(s) => Box::new(s),
                    Err(_) => return,
                },
                Upstream::Tcp(addr) => match TcpStream::connect(addr).await {
                    Ok(s) => Box::new(s),
                    Err(_) => return,
                },
            };
            match fault {
                Some(fault) => relay(client, daemon, fault).await,
                None => record_relay(client, daemon, recorded, index).await,
            }
        });
    }
}

/// Copies both ways, keeping what the client sends.
async fn record_relay(client: Box<dyn Io>, daemon: Box<dyn Io>, recorded: Recorded, index: usize) {
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut daemon_read, mut daemon_write) = tokio::io::split(daemon);
    let upward = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            recorded.lock().unwrap()[index].extend_from_slice(&buf[..n]);
            if daemon_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = daemon_write.shutdown().await;
    };
    let downward = async {
        let _ = tokio::io::copy(&mut daemon_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upward, downward);
}

/// Copies both ways until either side closes or the fault triggers.
async fn relay(client: Box<dyn Io>, daemon: Box<dyn Io>, fault: Fault) {
    if let Action::Delay(delay) = fault.action {
        delayed_relay(client, daemon, delay).await;
        return;
    }
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut daemon_read, mut daemon_write) = tokio::io::split(daemon);
    let (tripped_tx, mut tripped_rx) = tokio::sync::watch::channel(false);
    let upward = async {
        let closed = tokio::select! {
            _ = tokio::io::copy(&mut client_read, &mut daemon_write) => true,
            _ = tripped_rx.wait_for(|tripped| *tripped) => false,
        };
        if closed {
            let _ = daemon_write.shutdown().await;
        }
    };
    let downward = async {
        let limit = fault.after_daemon_bytes as u64;
        let mut limited = (&mut daemon_read).take(limit);
        let copied = tokio::io::copy(&mut limited, &mut client_write)
            .await
            .unwrap_or(0);
        if copied == limit {
            let _ = tripped_tx.send(true);
        } else {
            let _ = client_write.shutdown().await;
        }
    };
    tokio::join!(upward, downward);
    if *tripped_tx.borrow() && fault.action == Action::Stall {
        // Hold both sockets open and forward nothing more, like a daemon
        // that hangs: nothing is read, nothing is written, nothing closes.
        std::future::pending::<()>().await;
    }
    // Dropping the halves closes both sockets: the cut.
}

/// Forwards both ways, holding each chunk from the daemon for `delay`.
async fn delayed_relay(client: Box<dyn Io>, daemon: Box<dyn Io>, delay: std::time::Duration) {
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut daemon_read, mut daemon_write) = tokio::io::split(daemon);
    let upward = async {
        let _ = tokio::io::copy(&mut client_read, &mut daemon_write).await;
        let _ = daemon_write.shutdown().await;
    };
    let downward = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match daemon_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            tokio::time::sleep(delay).await;
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upward, downward);
}
