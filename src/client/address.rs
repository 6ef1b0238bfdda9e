//! Daemon addresses as buildctl and buildx users write them, and the order in
//! which crossbuild looks for a daemon when none is given.

use std::fmt;
use std::path::{Path, PathBuf};

use super::docker_context::{self, ContextError};
use super::tls::TlsOptions;

/// Where a BuildKit API is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix socket: a buildkitd socket or a Docker engine's socket (told
    /// apart when connecting).
    Unix(PathBuf),
    /// A TCP address (`tcp://host:port`), spoken to with TLS when TLS options
    /// are given, else as plain HTTP/2.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
}

/// An address string that crossbuild cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// The scheme is not one crossbuild speaks.
    #[error("unsupported daemon address {0:?}: use unix:///path/to/socket or tcp://host:port")]
    UnsupportedScheme(String),
    /// `tcp://` without a usable port.
    #[error("daemon address {0:?} needs a port, as in tcp://host:1234")]
    MissingPort(String),
    /// `unix://` without a path.
    #[error("daemon address {0:?} has no socket path")]
    MissingPath(String),
    /// TLS options for an address that is a unix socket.
    #[error("TLS options (--tlscacert, --tlscert, --tlskey, --tlsdir) apply to tcp:// addresses; {0} is a unix socket")]
    TlsOnUnixSocket(String),
    /// The selected Docker context cannot be used.
    #[error(transparent)]
    DockerContext(#[from] ContextError),
}

impl Address {
    /// Parses `unix:///path`, `tcp://host:port` or a bare absolute socket path.
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(AddressError::MissingPath(text.to_string()));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| AddressError::MissingPort(text.to_string()))?;
            let port: u16 = port
                .parse()
                .map_err(|_| AddressError::MissingPort(text.to_string()))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(AddressError::UnsupportedScheme(text.to_string()));
            }
            return Ok(Address::Tcp {
                host: host.to_string(),
                port,
            });
        }
        if text.starts_with('/') {
            return Ok(Address::Unix(PathBuf::from(text)));
        }
        Err(AddressError::UnsupportedScheme(text.to_string()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Address::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// One place to look for a daemon, with the reason it is on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The address to try.
    pub address: Address,
    /// Where the address came from (`--addr`, `BUILDKIT_HOST`, `docker
    /// context "rootless"`, ...), shown with the address used and when
    /// nothing answers.
    pub origin: String,
    /// TLS to speak on a tcp address; `None` means plain HTTP/2 (or HTTP/1.1
    /// to a Docker engine).
    pub tls: Option<TlsOptions>,
}

/// The environment that decides where crossbuild looks for a daemon; taken
/// as a value so the resolution order is testable without touching the
/// process environment.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// `--addr` from the command line.
    pub flag: Option<String>,
    /// `BUILDKIT_HOST`.
    pub buildkit_host: Option<String>,
    /// `XDG_RUNTIME_DIR` (the rootless daemon's socket lives below it).
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// TLS options from the command line (`--tlscacert`, `--tlscert`,
    /// `--tlskey`, `--tlsservername`, `--tlsdir`), for the daemon named by
    /// `--addr` or `BUILDKIT_HOST`, or a tcp `DOCKER_HOST`.
    pub tls: Option<TlsOptions>,
    /// `DOCKER_TLS_VERIFY` is set (to anything, as the Docker CLI reads it):
    /// a tcp `DOCKER_HOST` is spoken to with TLS, the daemon verified.
    pub docker_tls_verify: bool,
    /// `DOCKER_CERT_PATH`: where `ca.pem`, `cert.pem` and `key.pem` are for a
    /// tcp `DOCKER_HOST` (default `~/.docker`).
    pub docker_cert_path: Option<PathBuf>,
    /// `HOME`, for the default `DOCKER_CERT_PATH` and Docker config directory.
    pub home: Option<PathBuf>,
    /// `DOCKER_CONTEXT`: the Docker context to use instead of the config
    /// file's `currentContext`.
    pub docker_context: Option<String>,
    /// `DOCKER_CONFIG`: the Docker config directory (default `~/.docker`),
    /// where the current context and the context store are.
    pub docker_config: Option<PathBuf>,
}

impl Lookup {
    /// Reads the lookup environment of this process, with `flag` from `--addr`.
    /// TLS options from the command line go into [`Lookup::tls`] afterwards.
    pub fn from_env(flag: Option<String>) -> Lookup {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Lookup {
            flag,
            buildkit_host: non_empty("BUILDKIT_HOST"),
            xdg_runtime_dir: non_empty("XDG_RUNTIME_DIR").map(PathBuf::from),
            docker_host: non_empty("DOCKER_HOST"),
            tls: None,
            docker_tls_verify: non_empty("DOCKER_TLS_VERIFY").is_some(),
            docker_cert_path: non_empty("DOCKER_CERT_PATH").map(PathBuf::from),
            home: non_empty("HOME").map(PathBuf::from),
            docker_context: non_empty("DOCKER_CONTEXT"),
            docker_config: non_empty("DOCKER_CONFIG").map(PathBuf::from),
        }
    }

    /// A candidate for an address the user named: the command line's TLS
    /// options go with it, and make no sense on a unix socket.
    fn explicit(&self, text: &str, origin: &str) -> Result<Candidate, AddressError> {
        let address = Address::parse(text)?;
        if self.tls.is_some() {
            if let Address::Unix(_) = address {
                return Err(AddressError::TlsOnUnixSocket(address.to_string()));
            }
        }
        Ok(Candidate {
            address,
            origin: origin.to_string(),
            tls: self.tls.clone(),
        })
    }

    /// The Docker engine at `DOCKER_HOST`, with TLS the way the Docker CLI
    /// decides it: the command line's options, else `DOCKER_TLS_VERIFY` with
    /// the files in `DOCKER_CERT_PATH` (or `~/.docker`).
    fn docker_host(&self, text: &str) -> Result<Candidate, AddressError> {
        let address = Address::parse(text)?;
        let tls = match address {
            Address::Unix(_) => None,
            Address::Tcp { .. } if self.tls.is_some() => self.tls.clone(),
            Address::Tcp { .. } if self.docker_tls_verify => {
                let dir = self
                    .docker_cert_path
                    .clone()
                    .or_else(|| self.home.as_ref().map(|home| home.join(".docker")))
                    .unwrap_or_else(|| PathBuf::from(".docker"));
                Some(TlsOptions::from_dir(&dir))
            }
            Address::Tcp { .. } => None,
        };
        Ok(Candidate {
            address,
            origin: "DOCKER_HOST".to_string(),
            tls,
        })
    }

    /// The Docker context the Docker CLI would use (`DOCKER_CONTEXT`, else
    /// `currentContext` in the Docker config), as a candidate; `None` for
    /// the default context. The command line's TLS options outrank the
    /// files stored with the context, as they do for `DOCKER_HOST`.
    fn docker_context(&self) -> Result<Option<Candidate>, AddressError> {
        let config_dir = match (&self.docker_config, &self.home) {
            (Some(dir), _) => dir.clone(),
            (None, Some(home)) => home.join(".docker"),
            (None, None) => return Ok(None),
        };
        let Some(context) = docker_context::selected(&config_dir, self.docker_context.as_deref())?
        else {
            return Ok(None);
        };
        let address = Address::parse(&context.host)?;
        let tls = match address {
            Address::Unix(_) => None,
            Address::Tcp { .. } => self.tls.clone().or(context.tls),
        };
        Ok(Some(Candidate {
            address,
            origin: format!("docker context {:?}, {}", context.name, context.selected_by),
            tls,
        }))
    }

    /// The addresses to try, in order. An explicit choice (`--addr`, then
    /// `BUILDKIT_HOST`) is the only candidate: when the user named a daemon,
    /// quietly building somewhere else would be wrong. Otherwise: the
    /// rootless buildkitd socket, the rootful one, then the Docker engine
    /// the Docker CLI would use: `DOCKER_HOST`, else the selected Docker
    /// context (`DOCKER_CONTEXT` or `currentContext`), else the rootless
    /// engine's socket and the default one.
    pub fn candidates(&self) -> Result<Vec<Candidate>, AddressError> {
        if let Some(flag) = &self.flag {
            return Ok(vec![self.explicit(flag, "--addr")?]);
        }
        if let Some(host) = &self.buildkit_host {
            return Ok(vec![self.explicit(host, "BUILDKIT_HOST")?]);
        }
        let socket = |path: PathBuf, origin: &str| Candidate {
            address: Address::Unix(path),
            origin: origin.to_string(),
            tls: None,
        };
        let mut list = Vec::new();
        if let Some(dir) = &self.xdg_runtime_dir {
            list.push(socket(
                dir.join("buildkit/buildkitd.sock"),
                "rootless buildkitd socket",
            ));
        }
        list.push(socket(
            Path::new("/run/buildkit/buildkitd.sock").to_path_buf(),
            "buildkitd socket",
        ));
        if let Some(host) = &self.docker_host {
            list.push(self.docker_host(host)?);
        } else if let Some(context) = self.docker_context()? {
            list.push(context);
        } else {
            if let Some(dir) = &self.xdg_runtime_dir {
                list.push(socket(dir.join("docker.sock"), "rootless Docker socket"));
            }
            list.push(socket(
                PathBuf::from("/var/run/docker.sock"),
                "Docker socket",
            ));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_and_tcp() {
        assert_eq!(
            Address::parse("unix:///run/buildkit/buildkitd.sock").unwrap(),
            Address::Unix("/run/buildkit/buildkitd.sock".into())
        );
        assert_eq!(
            Address::parse("tcp://127.0.0.1:1234").unwrap(),
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 1234
            }
        );
        assert_eq!(
            Address::parse("tcp://[::1]:1234").unwrap().to_string(),
            "tcp://[::1]:1234"
        );
        assert_eq!(
            Address::parse("/var/run/docker.sock").unwrap().to_string(),
            "unix:///var/run/docker.sock"
        );
    }

    #[test]
    fn rejects_bad_addresses_with_a_reason() {
        let err = Address::parse("docker-container://x").unwrap_err();
        assert!(err.to_string().contains("unsupported daemon address"));
        assert_eq!(
            Address::parse("tcp://host").unwrap_err(),
            AddressError::MissingPort("tcp://host".into())
        );
        assert_eq!(
            Address::parse("unix://").unwrap_err(),
            AddressError::MissingPath("unix://".into())
        );
    }

    #[test]
    fn explicit_choices_are_the_only_candidate() {
        let lookup = Lookup {
            flag: Some("unix:///a.sock".into()),
            buildkit_host: Some("unix:///b.sock".into()),
            ..Default::default()
        };
        let c = lookup.candidates().unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].origin, "--addr");
        let lookup = Lookup {
            buildkit_host: Some("unix:///b.sock".into()),
            ..Default::default()
        };
        assert_eq!(lookup.candidates().unwrap()[0].origin, "BUILDKIT_HOST");
    }

    #[test]
    fn default_order_is_rootless_rootful_then_engine() {
        let lookup = Lookup {
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..Default::default()
        };
        let order: Vec<String> = lookup
            .candidates()
            .unwrap()
            .iter()
            .map(|c| c.address.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "unix:///run/user/1000/buildkit/buildkitd.sock",
                "unix:///run/buildkit/buildkitd.sock",
                "unix:///run/user/1000/docker.sock",
                "unix:///var/run/docker.sock",
            ]
        );
        let lookup = Lookup {
            docker_host: Some("unix:///srv/docker.sock".into()),
            ..Default::default()
        };
        let last = lookup.candidates().unwrap().pop().unwrap();
        assert_eq!(last.origin, "DOCKER_HOST");
        assert_eq!(last.address.to_string(), "unix:///srv/docker.sock");
    }

    #[test]
    fn tls_options_go_with_the_named_tcp_address_only() {
        let tls = TlsOptions {
            ca_cert: Some("/certs/ca.pem".into()),
            ..Default::default()
        };
        let lookup = Lookup {
            flag: Some("tcp://build.example:1234".into()),
            tls: Some(tls.clone()),
            ..Default::default()
        };
        assert_eq!(lookup.candidates().unwrap()[0].tls, Some(tls.clone()));
        let lookup = Lookup {
            buildkit_host: Some("unix:///run/buildkit/buildkitd.sock".into()),
            tls: Some(tls),
            ..Default::default()
        };
        assert_eq!(
            lookup.candidates().unwrap_err(),
            AddressError::TlsOnUnixSocket("unix:///run/buildkit/buildkitd.sock".into())
        );
    }

    #[test]
    fn docker_tls_verify_reads_the_docker_cert_path() {
        let lookup = Lookup {
            docker_host: Some("tcp://127.0.0.1:2376".into()),
            docker_tls_verify: true,
            home: Some("/home/me".into()),
            ..Default::default()
        };
        let last = lookup.candidates().unwrap().pop().unwrap();
        let tls = last
            .tls
            .expect("TLS for a tcp DOCKER_HOST with DOCKER_TLS_VERIFY");
        assert_eq!(tls.ca_cert, Some(PathBuf::from("/home/me/.docker/ca.pem")));
        let lookup = Lookup {
            docker_cert_path: Some("/certs".into()),
            ..lookup
        };
        let last = lookup.candidates().unwrap().pop().unwrap();
        assert_eq!(
            last.tls.and_then(|t| t.ca_cert),
            Some(PathBuf::from("/certs/ca.pem"))
        );
        // Without DOCKER_TLS_VERIFY, the Docker CLI speaks plain HTTP too.
        let lookup = Lookup {
            docker_host: Some("tcp://127.0.0.1:2375".into()),
            ..Default::default()
        };
        assert_eq!(lookup.candidates().unwrap().pop().unwrap().tls, None);
    }

    /// A Docker config directory whose current context is `name`, pointing
    /// at `host`.
    fn config_with_context(name: &str, host: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"currentContext": "{name}"}}"#),
        )
        .unwrap();
        let meta = dir
            .path()
            .join("contexts/meta")
            .join(docker_context::context_id(name));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(r#"{{"Name": "{name}", "Endpoints": {{"docker": {{"Host": "{host}"}}}}}}"#),
        )
        .unwrap();
        dir
    }

    #[test]
    fn the_current_docker_context_replaces_the_default_engine_sockets() {
        let home = tempfile::tempdir().unwrap();
        let config = config_with_context("rootless", "unix:///run/user/1000/docker.sock");
        std::fs::rename(config.path(), home.path().join(".docker")).unwrap();
        let lookup = Lookup {
            xdg_runtime_dir: Some("/run/user/1000".into()),
            home: Some(home.path().to_path_buf()),
            ..Default::default()
        };
        let candidates = lookup.candidates().unwrap();
        let order: Vec<String> = candidates.iter().map(|c| c.address.to_string()).collect();
        assert_eq!(
            order,
            [
                "unix:///run/user/1000/buildkit/buildkitd.sock",
                "unix:///run/buildkit/buildkitd.sock",
                "unix:///run/user/1000/docker.sock",
            ]
        );
        assert_eq!(
            candidates[2].origin,
            r#"docker context "rootless", currentContext in config.json"#
        );
    }

    #[test]
    fn docker_context_env_and_docker_config_are_read() {
        let config = config_with_context("remote", "tcp://127.0.0.1:2376");
        let lookup = Lookup {
            docker_config: Some(config.path().to_path_buf()),
            docker_context: Some("remote".into()),
            ..Default::default()
        };
        let last = lookup.candidates().unwrap().pop().unwrap();
        assert_eq!(last.address.to_string(), "tcp://127.0.0.1:2376");
        assert_eq!(last.origin, r#"docker context "remote", DOCKER_CONTEXT"#);
        assert_eq!(last.tls, None, "no TLS files stored with the context");
        // The command line's TLS options go with a tcp context.
        let tls = TlsOptions {
            ca_cert: Some("/certs/ca.pem".into()),
            ..Default::default()
        };
        let lookup = Lookup {
            tls: Some(tls.clone()),
            ..lookup
        };
        assert_eq!(lookup.candidates().unwrap().pop().unwrap().tls, Some(tls));
    }

    #[test]
    fn docker_host_outranks_any_docker_context() {
        // As in the Docker CLI: DOCKER_HOST means the default context.
        let config = config_with_context("rootless", "unix:///run/user/1000/docker.sock");
        let lookup = Lookup {
            docker_host: Some("unix:///srv/docker.sock".into()),
            docker_context: Some("rootless".into()),
            docker_config: Some(config.path().to_path_buf()),
            ..Default::default()
        };
        let last = lookup.candidates().unwrap().pop().unwrap();
        assert_eq!(last.origin, "DOCKER_HOST");
        assert_eq!(last.address.to_string(), "unix:///srv/docker.sock");
    }

    #[test]
    fn a_missing_docker_context_is_an_error_not_a_silent_fallback() {
        let config = tempfile::tempdir().unwrap();
        let lookup = Lookup {
            docker_context: Some("gone".into()),
            docker_config: Some(config.path().to_path_buf()),
            ..Default::default()
        };
        let err = lookup.candidates().unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"docker context "gone" (from DOCKER_CONTEXT) does not exist"#),
            "{err}"
        );
        // An explicit daemon address does not need the context.
        let lookup = Lookup {
            flag: Some("unix:///a.sock".into()),
            ..lookup
        };
        assert_eq!(lookup.candidates().unwrap().len(), 1);
    }
}
