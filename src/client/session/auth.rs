//! `Auth.Credentials`: registry credentials for the daemon, taken from the
//! user's Docker config the way the docker CLI and buildx find them.
//!
//! The daemon asks when a registry answers 401, naming the registry host.
//! Only `Credentials` is served: the token methods answer Unimplemented, so
//! the daemon does the token exchange itself with the credentials
//! (BuildKit's `util/resolver/authorizer.go` falls back to exactly that).
//!
//! Lookup order (docker/cli `configfile.GetAuthConfig`): `credHelpers[host]`,
//! then `credsStore`, then `auths[host]`. Credentials only ever go to the
//! registry host they were stored for; an unknown host gets an empty answer,
//! which the daemon takes as anonymous. Secrets never reach a log.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use base64::Engine;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::Auth;
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

/// The full method names the daemon is told about. Auth lookups reach any
/// session of the build whatever it lists, but listing keeps the header an
/// honest account of what is served.
pub const AUTH_METHODS: &[&str] = &["/moby.filesync.v1.Auth/Credentials"];

/// The key `docker login` stores Docker Hub credentials under, and the
/// server URL credential helpers know Docker Hub by.
const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";

/// Names Docker Hub goes by: the daemon asks for `registry-1.docker.io`,
/// configs say `https://index.docker.io/v1/` (and sometimes `docker.io`).
const DOCKER_HUB_HOSTS: &[&str] = &["registry-1.docker.io", "index.docker.io", "docker.io"];

/// What a credential helper prints when it has nothing for the server
/// (docker-credential-helpers `credentials.errCredentialsNotFoundMessage`).
const HELPER_NOT_FOUND: &str = "credentials not found";

/// The user name a helper reports for an identity token instead of a
/// password (docker-credential-helpers' convention).
const HELPER_TOKEN_USERNAME: &str = "<token>";

/// Why credentials could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The Docker config exists but could not be read.
    #[error("reading {path}: {source}")]
    ReadConfig {
        /// The config file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The Docker config is not the JSON the docker CLI writes.
    #[error("parsing {path}: {source}")]
    ParseConfig {
        /// The config file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// An `auths` entry whose `auth` field is not base64 of `user:password`.
    #[error("invalid auth configuration for {host} in the Docker config")]
    BadAuthField {
        /// The config key of the entry.
        host: String,
    },
    /// A credential helper could not be run or failed.
    #[error("credential helper docker-credential-{helper}: {message}")]
    Helper {
        /// The helper's name (the part after `docker-credential-`).
        helper: String,
        /// What went wrong, as the helper or the system said it.
        message: String,
    },
}

/// A user name and a secret (password or identity token) for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Empty when `secret` is an identity token.
    pub username: String,
    /// The password or identity token.
    pub secret: String,
}

impl fmt::Debug for Credentials {
    // Redacted so that no `?credentials` in a log line leaks the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field(
                "secret",
                &if self.secret.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

/// One `auths` entry of the Docker config.
#[derive(Clone, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    identitytoken: String,
}

impl AuthEntry {
    /// The credentials this entry holds, as BuildKit's auth provider hands
    /// them out: an identity token wins over user and password.
    fn credentials(&self, key: &str) -> Result<Credentials, AuthError> {
        if !self.identitytoken.is_empty() {
            return Ok(Credentials {
                username: String::new(),
                secret: self.identitytoken.clone(),
            });
        }
        if self.auth.is_empty() {
            return Ok(Credentials {
                username: self.username.clone(),
                secret: self.password.clone(),
            });
        }
        let bad = || AuthError::BadAuthField {
            host: key.to_string(),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(self.auth.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        // docker/cli decodeAuth: split at the first colon, user required,
        // NULs trimmed from the password.
        let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
        if user.is_empty() {
            return Err(bad());
        }
        Ok(Credentials {
            username: user.to_string(),
            secret: password.trim_matches('\0').to_string(),
        })
    }
}

/// The parts of the Docker config (`~/.docker/config.json`) that say where
/// registry credentials are.
#[derive(Clone, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

impl fmt::Debug for DockerConfig {
    // Hosts and helper names only: the entries hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("creds_store", &self.creds_store)
            .field("cred_helpers", &self.cred_helpers)
            .finish()
    }
}

/// Where the credentials for one host come from.
#[derive(Debug, PartialEq, Eq)]
enum CredentialSource<'a> {
    /// Run `docker-credential-<helper> get` with this server URL.
    Helper { helper: &'a str, server_url: String },
    /// An `auths` entry, under this key.
    Stored(&'a str),
    /// Nothing: anonymous.
    None,
}

impl DockerConfig {
    /// Parses the text of a Docker config file.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads a Docker config file. A missing file is an empty config, as
    /// for the docker CLI: no credentials, every pull anonymous.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(AuthError::ReadConfig {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Self::from_json(&text).map_err(|source| AuthError::ParseConfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Where the docker CLI keeps its config: `$DOCKER_CONFIG/config.json`,
    /// else `$HOME/.docker/config.json`. `env` looks variables up (pass
    /// `build_options::process_env` in production).
    pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        if let Some(dir) = env("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        env("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
    }

    /// Decides where the credentials for `host` (as the daemon names it,
    /// e.g. `ghcr.io`, `localhost:5000`, `registry-1.docker.io`) come from.
    fn source_for(&self, host: &str) -> CredentialSource<'_> {
        let wanted = registry_host(host);
        let server_url = if wanted == registry_host(DOCKER_HUB_CONFIG_KEY) {
            DOCKER_HUB_CONFIG_KEY.to_string()
        } else {
            host.to_string()
        };
        let helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| registry_host(key) == wanted)
            .map(|(_, helper)| helper.as_str())
            .or(self.creds_store.as_deref())
            .filter(|helper| !helper.is_empty());
        if let Some(helper) = helper {
            return CredentialSource::Helper { helper, server_url };
        }
        // An exact key first, as docker/cli's file store does; then any key
        // written with a scheme or path that names the same host.
        if let Some((key, _)) = self.auths.get_key_value(&server_url) {
            return CredentialSource::Stored(key);
        }
        self.auths
            .keys()
            .find(|key| registry_host(key) == wanted)
            .map_or(CredentialSource::None, |key| CredentialSource::Stored(key))
    }
}

/// The registry host (with port) a config key or request host names: the
/// scheme and any path dropped, lower-cased, Docker Hub's aliases folded
/// into one. Credentials match on this and nothing looser.
fn registry_host(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    if DOCKER_HUB_HOSTS.contains(&host.as_str()) {
        "index.docker.io".to_string()
    } else {
        host
    }
}

/// Runs credential helpers. A trait so that tests (and embedders) can
/// choose where helpers are found without touching the process's `PATH`.
#[tonic::async_trait]
pub trait CredentialHelper: Send + Sync {
    /// Asks `docker-credential-<helper>` for `server_url`'s credentials;
    /// `None` when the helper has none.
    async fn get(&self, helper: &str, server_url: &str) -> Result<Option<Credentials>, AuthError>;
}

/// Runs `docker-credential-<name> get` as a child process, found on `PATH`
/// or in one directory.
#[derive(Debug, Clone, Default)]
pub struct ProcessHelper {
    dir: Option<PathBuf>,
}

impl ProcessHelper {
    /// Helpers found on the process's `PATH`, as the docker CLI finds them.
    pub fn from_path() -> Self {
        Self::default()
    }

    /// Helpers found in `dir` only.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        ProcessHelper {
            dir: Some(dir.into()),
        }
    }
}

/// What a helper prints on success.
#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

#[tonic::async_trait]
impl CredentialHelper for ProcessHelper {
    async fn get(&self, helper: &str, server_url: &str) -> Result<Option<Credentials>, AuthError> {
        let fail = |message: String| AuthError::Helper {
            helper: helper.to_string(),
            message,
        };
        // The name comes from a config file; a path in it would run some
        // other program than a credential helper.
        if helper.contains('/') || helper.contains('\\') {
            return Err(fail("helper names cannot contain path separators".into()));
        }
        let program = format!("docker-credential-{helper}");
        let program = match &self.dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        let mut child = tokio::process::Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", program.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            match stdin.write_all(server_url.as_bytes()).await {
                Ok(()) => {}
                // A helper that fails at once may exit before reading its
                // input; its own output and exit status say why, below.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(fail(format!("writing the server URL: {e}"))),
            }
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !output.status.success() {
            // Helpers report errors on stdout; "not found" means anonymous.
            let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
            if stdout.contains(HELPER_NOT_FOUND) {
                return Ok(None);
            }
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            let message = [stdout, stderr, output.status.to_string()]
                .into_iter()
                .find(|m| !m.is_empty())
                .unwrap_or_default();
            return Err(fail(message));
        }
        // The parse error is not shown: it could quote the secret.
        let parsed: HelperOutput = serde_json::from_slice(&output.stdout)
            .map_err(|_| fail("its answer is not the expected JSON".into()))?;
        if parsed.username.is_empty() && parsed.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if parsed.username == HELPER_TOKEN_USERNAME {
            Credentials {
                username: String::new(),
                secret: parsed.secret,
            }
        } else {
            Credentials {
                username: parsed.username,
                secret: parsed.secret,
            }
        }))
    }
}

/// Serves `Auth.Credentials` from a Docker config.
#[derive(Clone)]
pub struct AuthService {
    config: Arc<DockerConfig>,
    helper: Arc<dyn CredentialHelper>,
    /// Answers per host for the session's lifetime, as BuildKit's provider
    /// keeps them: a helper may prompt (keychains), once is enough. The lock
    /// is held across a helper run because some helpers misbehave when run
    /// concurrently (docker/cli#1862).
    cache: Arc<Mutex<HashMap<String, Credentials>>>,
}

impl fmt::Debug for AuthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AuthService {
    /// A service answering from `config`, running helpers found on `PATH`.
    pub fn new(config: DockerConfig) -> Self {
        Self::with_helper(config, Arc::new(ProcessHelper::from_path()))
    }

    /// A service answering from `config`, running helpers through `helper`.
    pub fn with_helper(config: DockerConfig, helper: Arc<dyn CredentialHelper>) -> Self {
        AuthService {
            config: Arc::new(config),
            helper,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The credentials for registry `host`; empty ones for a host the
    /// config knows nothing about.
    pub async fn credentials_for(&self, host: &str) -> Result<Credentials, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(found) = cache.get(host) {
            return Ok(found.clone());
        }
        let source = self.config.source_for(host);
        let found = match &source {
            CredentialSource::Helper { helper, server_url } => self
                .helper
                .get(helper, server_url)
                .await?
                .unwrap_or_default(),
            CredentialSource::Stored(key) => match self.config.auths.get(*key) {
                Some(entry) => entry.credentials(key)?,
                None => Credentials::default(),
            },
            CredentialSource::None => Credentials::default(),
        };
        tracing::debug!(
            host,
            ?source,
            username = %found.username,
            has_secret = !found.secret.is_empty(),
            "registry credentials looked up"
        );
        cache.insert(host.to_string(), found.clone());
        Ok(found)
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        let found = self.credentials_for(&host).await.map_err(|err| {
            tracing::debug!(host, error = %err, "registry credentials lookup failed");
            Status::internal(err.to_string())
        })?;
        Ok(Response::new(CredentialsResponse {
            username: found.username,
            secret: found.secret,
        }))
    }

    async fn fetch_token(
        &self,
        _request: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented(
            "crossbuild leaves the token exchange to the daemon",
        ))
    }

    async fn get_token_authority(
        &self,
        _request: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        // Unimplemented makes the daemon fall back to Credentials.
        Err(Status::unimplemented(
            "crossbuild leaves the token exchange to the daemon",
        ))
    }

    async fn verify_token_authority(
        &self,
        _request: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented(
            "crossbuild leaves the token exchange to the daemon",
        ))
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
