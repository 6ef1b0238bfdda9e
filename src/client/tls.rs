//! TLS for `tcp://` daemons, configured the way buildctl and the Docker CLI
//! are: a CA certificate to verify the daemon with, and a client certificate
//! and key for daemons that demand mutual TLS.
//!
//! crossbuild opens its sockets itself (tonic's own TLS only applies when
//! tonic opens them), so the handshake is done here, with rustls, before
//! anything else is spoken on the connection. The server is always verified:
//! there is no switch to turn that off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Where the TLS material for a daemon lives, as the user gave it
/// (`--tlscacert`, `--tlscert`, `--tlskey`, `--tlsservername`, or a
/// directory through `--tlsdir` / `DOCKER_CERT_PATH`). Nothing is read until
/// [`TlsOptions::client`] is called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with the CA certificate(s) the daemon's certificate must
    /// chain to; `None` uses the system's trust store.
    pub ca_cert: Option<PathBuf>,
    /// PEM file with the client certificate (chain), for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM file with the client certificate's private key.
    pub client_key: Option<PathBuf>,
    /// The name the daemon's certificate must carry; `None` uses the host of
    /// the address (as buildctl does).
    pub server_name: Option<String>,
}

/// TLS material that cannot be used; each error names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} {}: {reason}", .path.display())]
    Read {
        /// Which file it was meant to be ("CA certificate", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A PEM file holds no item of the expected kind.
    #[error("{} holds no {what} (expected a PEM file with a \"BEGIN {pem_label}\" block)", .path.display())]
    Empty {
        /// What was looked for ("CA certificate", ...).
        what: &'static str,
        /// The PEM label that would have matched.
        pem_label: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A CA certificate file was read but its certificates are unusable.
    #[error("the CA certificate in {} is unusable: {reason}", .path.display())]
    BadCa {
        /// The file.
        path: PathBuf,
        /// Why rustls rejected it.
        reason: String,
    },
    /// `--tlsdir` together with one of the file flags.
    #[error("--tlsdir cannot be combined with --tlscacert, --tlscert or --tlskey")]
    DirAndFiles,
    /// Only one half of the client certificate and key was given.
    #[error("a client certificate needs both --tlscert and --tlskey; only {given} was given")]
    HalfClientIdentity {
        /// The half that was given.
        given: &'static str,
    },
    /// The client certificate and key do not belong together, or the key
    /// type is unsupported.
    #[error("the client certificate {} and key {} cannot be used together: {reason}", .cert.display(), .key.display())]
    BadClientIdentity {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why rustls rejected them.
        reason: String,
    },
    /// `--tlsservername` (or the address host) is not a valid DNS name or IP.
    #[error("{0:?} is not a valid TLS server name (a DNS name or an IP address)")]
    ServerName(String),
    /// rustls refused its own crypto provider (a build problem, not input).
    #[error("cannot set up TLS: {0}")]
    Provider(String),
    /// The system trust store could not be loaded.
    #[error("cannot load the system's CA certificates ({0}); pass --tlscacert")]
    SystemRoots(String),
}

impl TlsOptions {
    /// The three files of a buildctl `--tlsdir` or a Docker `DOCKER_CERT_PATH`:
    /// `ca.pem`, plus `cert.pem` and `key.pem` when they exist (a daemon may
    /// not ask for a client certificate). A missing `ca.pem` is reported when
    /// the files are read, naming the path.
    pub fn from_dir(dir: &Path) -> TlsOptions {
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
        TlsOptions {
            ca_cert: Some(dir.join("ca.pem")),
            client_cert: existing("cert.pem"),
            client_key: existing("key.pem"),
            server_name: None,
        }
    }

    /// The TLS options of buildctl's command line: `--tlsdir` or the three
    /// file flags (not both, as buildctl says), and `--tlsservername`. `None`
    /// when no file is given: the daemon is then spoken to without TLS (a
    /// server name alone does not turn TLS on, as with buildctl).
    pub fn from_flags(
        dir: Option<&Path>,
        ca_cert: Option<PathBuf>,
        client_cert: Option<PathBuf>,
        client_key: Option<PathBuf>,
        server_name: Option<String>,
    ) -> Result<Option<TlsOptions>, TlsError> {
        let files_given = ca_cert.is_some() || client_cert.is_some() || client_key.is_some();
        let options = match dir {
            Some(_) if files_given => return Err(TlsError::DirAndFiles),
            Some(dir) => TlsOptions::from_dir(dir),
            None if !files_given => return Ok(None),
            None => TlsOptions {
                ca_cert,
                client_cert,
                client_key,
                server_name: None,
            },
        };
        Ok(Some(TlsOptions {
            server_name,
            ..options
        }))
    }

    /// Reads the files and builds what connections to `host` need. Done once
    /// per daemon, so a bad file fails before any connection is attempted.
    pub fn client(&self, host: &str) -> Result<TlsClient, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| TlsError::ServerName(name.to_string()))?;
        // Checked before anything is read, so the user hears about the
        // missing half rather than about a file.
        let identity = match (&self.client_cert, &self.client_key) {
            (None, None) => None,
            (Some(_), None) => return Err(TlsError::HalfClientIdentity { given: "--tlscert" }),
            (None, Some(_)) => return Err(TlsError::HalfClientIdentity { given: "--tlskey" }),
            (Some(cert), Some(key)) => Some((cert, key)),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Provider(e.to_string()))?
            .with_root_certificates(self.roots()?);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certificates(cert, "client certificate")?;
                let private_key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| pem_error(e, "client key", "PRIVATE KEY", key))?;
                builder
                    .with_client_auth_cert(chain, private_key)
                    .map_err(|e| TlsError::BadClientIdentity {
                        cert: cert.clone(),
                        key: key.clone(),
                        reason: e.to_string(),
                    })?
            }
        };
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }

    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_cert {
            Some(path) => {
                for cert in read_certificates(path, "CA certificate")? {
                    roots.add(cert).map_err(|e| TlsError::BadCa {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                if found.certs.is_empty() {
                    let reason = found
                        .errors
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "none found".to_string());
                    return Err(TlsError::SystemRoots(reason));
                }
                // Like Go's system pool: one odd certificate in the store
                // does not make the others unusable.
                roots.add_parsable_certificates(found.certs);
            }
        }
        Ok(roots)
    }
}

fn read_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(e, what, "CERTIFICATE", path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e, what, "CERTIFICATE", path))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            pem_label: "CERTIFICATE",
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn pem_error(
    error: rustls_pki_types::pem::Error,
    what: &'static str,
    pem_label: &'static str,
    path: &Path,
) -> TlsError {
    match error {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what,
            pem_label,
            path: path.to_path_buf(),
        },
        rustls_pki_types::pem::Error::Io(io) => TlsError::Read {
            what,
            path: path.to_path_buf(),
            reason: io.to_string(),
        },
        other => TlsError::Read {
            what,
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// The application protocol a TLS connection is opened for (ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// gRPC straight on the connection: only `h2` (gRPC servers insist on it).
    H2,
    /// An HTTP/1.1 request first (the Docker engine's `/_ping`, `/grpc`,
    /// `/session`): only `http/1.1`, so a server that could speak HTTP/2
    /// does not pick it.
    Http1,
    /// Either, to learn what the server prefers: a server that picks `h2`
    /// serves gRPC directly.
    Probe,
}

impl Alpn {
    fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::H2 => vec![b"h2".to_vec()],
            Alpn::Http1 => vec![b"http/1.1".to_vec()],
            Alpn::Probe => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// A verified TLS configuration for one daemon, ready to wrap connections.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    // The configuration holds the client key: show only the server name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// The name the daemon's certificate is verified against.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// Does the TLS handshake on `stream`, offering `alpn`. Errors are
    /// rewritten into sentences a user can act on (see [`describe_tls_error`]).
    pub async fn handshake<S>(&self, stream: S, alpn: Alpn) -> std::io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.protocols();
        TlsConnector::from(Arc::new(config))
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| self.explain(e))
    }

    /// Rewrites a TLS failure inside `error` into a sentence that says what
    /// went wrong and what to do; other errors are returned unchanged.
    pub fn explain(&self, error: std::io::Error) -> std::io::Error {
        match describe_tls_error(&error, &self.server_name()) {
            Some(text) => std::io::Error::new(error.kind(), text),
            None => error,
        }
    }
}

/// Says in words what a TLS failure carried by `error` means, for a daemon
/// known as `server`; `None` when `error` is not a TLS failure. In TLS 1.3
/// the daemon judges the client certificate after the client's handshake is
/// done, so its refusal arrives on the first read: callers pass read errors
/// through here too.
pub fn describe_tls_error(error: &std::io::Error, server: &str) -> Option<String> {
    use rustls::{AlertDescription as A, Error as E};
    let tls = error.get_ref()?.downcast_ref::<E>()?;
    Some(match tls {
        E::InvalidCertificate(reason) => {
            use rustls::CertificateError as C;
            let hint = match reason {
                C::UnknownIssuer | C::BadSignature => {
                    " (is --tlscacert the CA that signed the daemon's certificate?)"
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    " (--tlsservername sets the name to check)"
                }
                _ => "",
            };
            format!("certificate verify failed for {server}: {reason}{hint}")
        }
        E::AlertReceived(
            alert @ (A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::AccessDenied),
        ) => format!(
            "the daemon at {server} refused crossbuild's client certificate (TLS alert {alert:?}): it requires mutual TLS; pass a client certificate signed by a CA it trusts (--tlscert and --tlskey)"
        ),
        E::AlertReceived(A::NoApplicationProtocol) => {
            format!("the daemon at {server} speaks neither HTTP/2 nor HTTP/1.1 over TLS")
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => format!(
            "{server} does not answer TLS (is it a plain, unencrypted port? then drop the TLS options): {tls}"
        ),
        other => format!("TLS with {server} failed: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_named() {
        let options = TlsOptions {
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let err = options.client("127.0.0.1").unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read CA certificate /nonexistent/ca.pem: "),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_certificates_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let options = TlsOptions {
            ca_cert: Some(path.clone()),
            ..Default::default()
        };
        let err = options.client("localhost").unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("BEGIN CERTIFICATE"), "{err}");
    }

    #[test]
    fn half_a_client_identity_is_refused() {
        let options = TlsOptions {
            client_key: Some("/x/key.pem".into()),
            ..Default::default()
        };
        let err = options.client("localhost");
        assert!(
            matches!(err, Err(TlsError::HalfClientIdentity { given: "--tlskey" })),
            "{err:?}"
        );
    }

    #[test]
    fn bad_server_name_is_refused() {
        let options = TlsOptions {
            server_name: Some("not a name".into()),
            ..Default::default()
        };
        assert!(matches!(
            options.client("localhost"),
            Err(TlsError::ServerName(_))
        ));
    }

    #[test]
    fn flags_follow_buildctl() {
        assert_eq!(
            TlsOptions::from_flags(None, None, None, None, Some("x".into())).unwrap(),
            None
        );
        assert!(matches!(
            TlsOptions::from_flags(
                Some(Path::new("/certs")),
                Some("/ca.pem".into()),
                None,
                None,
                None
            ),
            Err(TlsError::DirAndFiles)
        ));
        let options = TlsOptions::from_flags(
            None,
            Some("/ca.pem".into()),
            None,
            None,
            Some("build.example".into()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(options.ca_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(options.server_name.as_deref(), Some("build.example"));
    }

    #[test]
    fn tls_dir_takes_cert_and_key_only_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let options = TlsOptions::from_dir(dir.path());
        assert_eq!(options.ca_cert, Some(dir.path().join("ca.pem")));
        assert_eq!(options.client_cert, None);
        std::fs::write(dir.path().join("cert.pem"), "").unwrap();
        std::fs::write(dir.path().join("key.pem"), "").unwrap();
        let options = TlsOptions::from_dir(dir.path());
        assert_eq!(options.client_cert, Some(dir.path().join("cert.pem")));
        assert_eq!(options.client_key, Some(dir.path().join("key.pem")));
    }
}
