//! Docker CLI contexts: the engine a user picked with `docker context use`
//! (or `DOCKER_CONTEXT`), read from the Docker config directory as the
//! Docker CLI reads it, so that crossbuild builds where `docker build` would.
//! `dockerd-rootless-setuptool.sh install` makes such a context (`rootless`)
//! for a rootless engine.
//!
//! The store: `<config dir>/config.json` names the current context
//! (`currentContext`); `<config dir>/contexts/meta/<sha256 of the name>/meta.json`
//! holds its endpoints (`Endpoints.docker.Host`), and
//! `<config dir>/contexts/tls/<sha256 of the name>/docker/` its TLS files
//! (`ca.pem`, `cert.pem`, `key.pem`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::tls::TlsOptions;

/// The name that means "no context": `DOCKER_HOST` or the default socket.
pub const DEFAULT_CONTEXT: &str = "default";

/// A context's Docker endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerContext {
    /// The context's name.
    pub name: String,
    /// Where the name came from: `DOCKER_CONTEXT`, or the config file's
    /// `currentContext`.
    pub selected_by: &'static str,
    /// The engine's address (`unix:///...`, `tcp://...`).
    pub host: String,
    /// TLS files stored with the context (for a tcp host), if any.
    pub tls: Option<TlsOptions>,
}

/// A selected context that cannot be used; each names the file at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// `config.json` exists but cannot be read or is not JSON.
    #[error("cannot read the Docker config {}: {reason}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The selected context has no metadata file.
    #[error("docker context {name:?} (from {selected_by}) does not exist: no {}", .path.display())]
    Missing {
        /// The context's name.
        name: String,
        /// `DOCKER_CONTEXT` or `currentContext`.
        selected_by: &'static str,
        /// The metadata file looked for.
        path: PathBuf,
    },
    /// The metadata file cannot be read, is not JSON, or has no Docker host.
    #[error("docker context {name:?}: {}: {reason}", .path.display())]
    Invalid {
        /// The context's name.
        name: String,
        /// The metadata file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The context turns TLS verification off, which crossbuild never does.
    #[error("docker context {0:?} turns TLS verification off (SkipTLSVerify); crossbuild always verifies the daemon: give the context its CA (docker context update --docker ca=...)")]
    SkipTlsVerify(String),
}

/// The context's directory name in the store: the hex sha256 of its name.
pub fn context_id(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

/// The context the Docker CLI would use, given the config directory and
/// `DOCKER_CONTEXT`; `None` for the default context (no file needed then).
/// `DOCKER_HOST`, which outranks any context, is the caller's business.
pub fn selected(
    config_dir: &Path,
    env_context: Option<&str>,
) -> Result<Option<DockerContext>, ContextError> {
    let (name, selected_by) = match env_context.filter(|name| !name.is_empty()) {
        Some(name) => (name.to_string(), "DOCKER_CONTEXT"),
        None => match current_context(&config_dir.join("config.json"))? {
            Some(name) => (name, "currentContext in config.json"),
            None => return Ok(None),
        },
    };
    if name == DEFAULT_CONTEXT {
        return Ok(None);
    }
    load(config_dir, &name, selected_by).map(Some)
}

/// `currentContext` of a Docker config file; a missing file has none.
fn current_context(path: &Path) -> Result<Option<String>, ContextError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ContextError::Config {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ContextError::Config {
            path: path.to_path_buf(),
            reason: format!("not valid JSON: {e}"),
        })?;
    Ok(config
        .get("currentContext")
        .and_then(|v| v.as_str())
        .filter(|name| !name.is_empty())
        .map(str::to_string))
}

/// Reads context `name` from the store under `config_dir`.
fn load(
    config_dir: &Path,
    name: &str,
    selected_by: &'static str,
) -> Result<DockerContext, ContextError> {
    let id = context_id(name);
    let path = config_dir.join("contexts/meta").join(&id).join("meta.json");
    let invalid = |reason: String| ContextError::Invalid {
        name: name.to_string(),
        path: path.clone(),
        reason,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContextError::Missing {
                name: name.to_string(),
                selected_by,
                path,
            })
        }
        Err(e) => return Err(invalid(e.to_string())),
    };
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let endpoint = &meta["Endpoints"]["docker"];
    let host = endpoint["Host"]
        .as_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("no Docker endpoint (Endpoints.docker.Host)".to_string()))?;
    if endpoint["SkipTLSVerify"].as_bool() == Some(true) {
        return Err(ContextError::SkipTlsVerify(name.to_string()));
    }
    let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
    let tls = tls_dir.is_dir().then(|| {
        let existing = |file: &str| Some(tls_dir.join(file)).filter(|p| p.exists());
        TlsOptions {
            ca_cert: existing("ca.pem"),
            client_cert: existing("cert.pem"),
            client_key: existing("key.pem"),
            server_name: None,
        }
    });
    Ok(DockerContext {
        name: name.to_string(),
        selected_by,
        host: host.to_string(),
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a context the way `docker context create` stores it.
    fn store_context(config_dir: &Path, name: &str, endpoint: serde_json::Value) {
        let dir = config_dir.join("contexts/meta").join(context_id(name));
        std::fs::create_dir_all(&dir).unwrap();
        let meta = serde_json::json!({
            "Name": name,
            "Metadata": {"Description": "test"},
            "Endpoints": {"docker": endpoint},
        });
        std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    }

    #[test]
    fn the_id_is_the_sha256_of_the_name() {
        // `docker context create rootless` stores it under this directory
        // (`printf rootless | sha256sum`).
        assert_eq!(
            context_id("rootless"),
            "12b961af5feb3e9d39f93b2cefb9a1a944f18d02cca0cac2f04f5a982240605f"
        );
    }

    #[test]
    fn current_context_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths": {}, "currentContext": "rootless"}"#,
        )
        .unwrap();
        store_context(
            dir.path(),
            "rootless",
            serde_json::json!({"Host": "unix:///run/user/1000/docker.sock", "SkipTLSVerify": false}),
        );
        let context = selected(dir.path(), None).unwrap().unwrap();
        assert_eq!(context.name, "rootless");
        assert_eq!(context.selected_by, "currentContext in config.json");
        assert_eq!(context.host, "unix:///run/user/1000/docker.sock");
        assert_eq!(context.tls, None);
    }

    #[test]
    fn docker_context_env_outranks_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext": "missing"}"#,
        )
        .unwrap();
        store_context(
            dir.path(),
            "remote",
            serde_json::json!({"Host": "tcp://build.example:2376"}),
        );
        let context = selected(dir.path(), Some("remote")).unwrap().unwrap();
        assert_eq!(context.selected_by, "DOCKER_CONTEXT");
        assert_eq!(context.host, "tcp://build.example:2376");
    }

    #[test]
    fn default_or_nothing_selects_no_context() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(selected(dir.path(), None).unwrap(), None);
        assert_eq!(selected(dir.path(), Some("default")).unwrap(), None);
        assert_eq!(selected(dir.path(), Some("")).unwrap(), None);
        std::fs::write(dir.path().join("config.json"), r#"{"auths": {}}"#).unwrap();
        assert_eq!(selected(dir.path(), None).unwrap(), None);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext": "default"}"#,
        )
        .unwrap();
        assert_eq!(selected(dir.path(), None).unwrap(), None);
    }

    #[test]
    fn tls_files_stored_with_the_context_are_used() {
        let dir = tempfile::tempdir().unwrap();
        store_context(
            dir.path(),
            "tls",
            serde_json::json!({"Host": "tcp://127.0.0.1:2376"}),
        );
        let tls_dir = dir
            .path()
            .join("contexts/tls")
            .join(context_id("tls"))
            .join("docker");
        std::fs::create_dir_all(&tls_dir).unwrap();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(tls_dir.join(file), "x").unwrap();
        }
        let tls = selected(dir.path(), Some("tls"))
            .unwrap()
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(tls.ca_cert, Some(tls_dir.join("ca.pem")));
        assert_eq!(tls.client_cert, Some(tls_dir.join("cert.pem")));
        assert_eq!(tls.client_key, Some(tls_dir.join("key.pem")));
    }

    #[test]
    fn broken_contexts_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = selected(dir.path(), Some("nope")).unwrap_err();
        assert!(
            matches!(
                &err,
                ContextError::Missing {
                    selected_by: "DOCKER_CONTEXT",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(&context_id("nope")), "{err}");

        store_context(dir.path(), "empty", serde_json::json!({}));
        let err = selected(dir.path(), Some("empty")).unwrap_err();
        assert!(err.to_string().contains("no Docker endpoint"), "{err}");

        store_context(
            dir.path(),
            "insecure",
            serde_json::json!({"Host": "tcp://h:2376", "SkipTLSVerify": true}),
        );
        let err = selected(dir.path(), Some("insecure")).unwrap_err();
        assert_eq!(err, ContextError::SkipTlsVerify("insecure".to_string()));

        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        let err = selected(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }
}
