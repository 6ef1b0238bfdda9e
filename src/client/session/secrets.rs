//! `Secrets.GetSecret`: the values behind `--secret`, handed to the daemon
//! when a `RUN --mount=type=secret` asks for them by id.
//!
//! As in buildx (BuildKit `secretsprovider.NewStore`): files are checked
//! when the service is made, so a typo fails before the build starts, and
//! read when the daemon asks; variables are captured when the service is
//! made. An unknown id answers NotFound, which BuildKit takes as "secret not
//! provided" (an error only if the mount is `required`). Values are never
//! logged or shown by `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::Secrets;
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use tonic::{Request, Response, Status};

use crate::client::build_options::{SecretSource, SecretSpec};

/// The full method names the daemon is told about.
pub const SECRETS_METHODS: &[&str] = &["/moby.buildkit.secrets.v1.Secrets/GetSecret"];

/// The largest secret BuildKit accepts (`secretsprovider.MaxSecretSize`);
/// checked here so the user gets a clear error rather than the daemon's.
pub const MAX_SECRET_SIZE: u64 = 500 * 1024;

/// Why the secrets could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A secret's file is missing or unreadable.
    #[error("secret {id:?}: cannot use {path}: {source}")]
    File {
        /// The secret's id.
        id: String,
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A secret larger than BuildKit allows.
    #[error("secret {id:?} is too big: {size} bytes, at most {MAX_SECRET_SIZE} allowed")]
    TooBig {
        /// The secret's id.
        id: String,
        /// Its size in bytes.
        size: u64,
    },
}

/// Where one secret's value is.
#[derive(Clone)]
enum StoredSecret {
    /// Read from this file on each request, so it is read only if used.
    File(PathBuf),
    /// Captured from the environment when the service was made.
    Value(Arc<[u8]>),
}

/// Serves `--secret` values by id.
#[derive(Clone, Default)]
pub struct SecretsService {
    secrets: Arc<BTreeMap<String, StoredSecret>>,
}

impl fmt::Debug for SecretsService {
    // Ids and where the values are, never the values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (id, secret) in self.secrets.iter() {
            match secret {
                StoredSecret::File(path) => map.entry(id, &path.display()),
                StoredSecret::Value(_) => map.entry(id, &"<from environment>"),
            };
        }
        map.finish()
    }
}

impl SecretsService {
    /// A service for `specs` (parsed `--secret` values). `env` looks
    /// variables up (pass `build_options::process_env` in production). A
    /// later spec with the same id replaces an earlier one, as in BuildKit.
    ///
    /// An `env=VAR` whose variable is unset gives an empty secret, as in
    /// BuildKit; an id-only spec uses the variable named like the id when it
    /// is set, else the file named like the id.
    pub fn new(
        specs: &[SecretSpec],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SecretsError> {
        let mut secrets = BTreeMap::new();
        for spec in specs {
            let stored = match &spec.source {
                SecretSource::File(path) => file_secret(&spec.id, path.clone())?,
                SecretSource::Env(var) => value_secret(&spec.id, env(var).unwrap_or_default())?,
                SecretSource::ById => match env(&spec.id) {
                    Some(value) => value_secret(&spec.id, value)?,
                    None => file_secret(&spec.id, PathBuf::from(&spec.id))?,
                },
            };
            secrets.insert(spec.id.clone(), stored);
        }
        Ok(SecretsService {
            secrets: Arc::new(secrets),
        })
    }

    /// The ids this service answers for.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }
}

fn file_secret(id: &str, path: PathBuf) -> Result<StoredSecret, SecretsError> {
    let size = std::fs::metadata(&path)
        .map_err(|source| SecretsError::File {
            id: id.to_string(),
            path: path.clone(),
            source,
        })?
        .len();
    check_size(id, size)?;
    Ok(StoredSecret::File(path))
}

fn value_secret(id: &str, value: String) -> Result<StoredSecret, SecretsError> {
    check_size(id, value.len() as u64)?;
    Ok(StoredSecret::Value(value.into_bytes().into()))
}

fn check_size(id: &str, size: u64) -> Result<(), SecretsError> {
    if size > MAX_SECRET_SIZE {
        return Err(SecretsError::TooBig {
            id: id.to_string(),
            size,
        });
    }
    Ok(())
}

#[tonic::async_trait]
impl Secrets for SecretsService {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = request.into_inner().id;
        let Some(secret) = self.secrets.get(&id) else {
            tracing::debug!(id, "secret not provided");
            return Err(Status::not_found(format!("secret {id:?} not found")));
        };
        let data = match secret {
            StoredSecret::Value(value) => value.to_vec(),
            StoredSecret::File(path) => tokio::fs::read(path).await.map_err(|e| {
                Status::internal(format!("secret {id:?}: reading {}: {e}", path.display()))
            })?,
        };
        check_size(&id, data.len() as u64).map_err(|e| Status::internal(e.to_string()))?;
        tracing::debug!(id, bytes = data.len(), "secret handed to the daemon");
        Ok(Response::new(GetSecretResponse { data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::build_options::parse_secret;

    fn specs(values: &[&str]) -> Vec<SecretSpec> {
        values
            .iter()
            .map(|v| parse_secret(v).expect("test spec parses"))
            .collect()
    }

    async fn get(service: &SecretsService, id: &str) -> Result<Vec<u8>, Status> {
        service
            .get_secret(Request::new(GetSecretRequest {
                id: id.into(),
                ..Default::default()
            }))
            .await
            .map(|r| r.into_inner().data)
    }

    #[tokio::test]
    async fn files_are_read_when_asked_and_variables_when_made() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "first").unwrap();
        let env = |k: &str| (k == "API_KEY").then(|| "from-env".to_string());
        let service = SecretsService::new(
            &specs(&[
                &format!("id=tok,src={}", file.display()),
                "id=api,env=API_KEY",
                "id=unset,env=NOT_SET",
            ]),
            &env,
        )
        .unwrap();
        std::fs::write(&file, "second").unwrap();
        assert_eq!(get(&service, "tok").await.unwrap(), b"second");
        assert_eq!(get(&service, "api").await.unwrap(), b"from-env");
        assert_eq!(get(&service, "unset").await.unwrap(), b"");
        assert_eq!(service.ids().collect::<Vec<_>>(), ["api", "tok", "unset"]);
    }

    #[tokio::test]
    async fn id_only_prefers_the_variable_then_the_file() {
        let env = |k: &str| (k == "MY_SECRET").then(|| "v".to_string());
        let service = SecretsService::new(&specs(&["id=MY_SECRET"]), &env).unwrap();
        assert_eq!(get(&service, "MY_SECRET").await.unwrap(), b"v");

        // No such variable: the file named like the id, relative to the
        // working directory; absent here, so setup fails.
        let err =
            SecretsService::new(&specs(&["id=crossbuild-no-such-file"]), &|_| None).unwrap_err();
        assert!(matches!(err, SecretsError::File { .. }), "{err}");
    }

    #[tokio::test]
    async fn unknown_ids_are_not_found() {
        let service = SecretsService::new(&[], &|_| None).unwrap();
        let status = get(&service, "nope").await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);
    }

    #[test]
    fn missing_and_oversized_files_fail_early() {
        let dir = tempfile::tempdir().unwrap();
        let missing = format!("id=x,src={}", dir.path().join("missing").display());
        assert!(matches!(
            SecretsService::new(&specs(&[&missing]), &|_| None),
            Err(SecretsError::File { .. })
        ));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_SECRET_SIZE as usize + 1]).unwrap();
        let spec = format!("id=big,src={}", big.display());
        assert!(matches!(
            SecretsService::new(&specs(&[&spec]), &|_| None),
            Err(SecretsError::TooBig { .. })
        ));
    }

    #[test]
    fn debug_output_hides_values() {
        let env = |_: &str| Some("hunter2".to_string());
        let service = SecretsService::new(&specs(&["id=pw,env=PW"]), &env).unwrap();
        let shown = format!("{service:?}");
        assert!(
            shown.contains("pw") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
