//! What BuildKit tells a frontend container through its environment: the
//! frontend options (`BUILDKIT_FRONTEND_OPT_<n>`), the client's session
//! (`BUILDKIT_SESSION_ID`) and the workers (`BUILDKIT_WORKERS`).
//!
//! Read from any list of variables, so tests need no process environment.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::platform::Platform;

/// Prefix of the variables that carry one frontend option each.
const OPTION_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";

/// The frontend's view of its invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontendEnvironment {
    /// Frontend options (`filename`, `platform`, `build-arg:*`, ...).
    pub attrs: BTreeMap<String, String>,
    /// The client's session, which serves its local directories.
    pub session_id: Option<String>,
    /// The first worker's platforms: the first is the build platform.
    pub worker_platforms: Vec<Platform>,
}

/// A worker as BuildKit marshals its Go struct (no JSON tags, so the field
/// names are capitalised; the platforms are OCI platforms).
#[derive(Debug, Deserialize)]
struct WorkerInfo {
    #[serde(rename = "Platforms", default)]
    platforms: Option<Vec<OciPlatform>>,
}

#[derive(Debug, Deserialize)]
struct OciPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl FrontendEnvironment {
    /// Reads the environment BuildKit gives a frontend from `vars`. Bad
    /// entries are skipped with a log line: a malformed option has no key
    /// to report, and a build can go on without the worker list (Ping has
    /// it too).
    pub fn from_vars<I>(vars: I) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut environment = FrontendEnvironment::default();
        for (name, value) in vars {
            if name.starts_with(OPTION_PREFIX) {
                // The value is `key=value`; keys never hold `=` but values may.
                match value.split_once('=') {
                    Some((key, option)) => {
                        environment
                            .attrs
                            .insert(key.to_string(), option.to_string());
                    }
                    None => tracing::warn!(%name, "frontend option without '='; ignored"),
                }
            } else if name == "BUILDKIT_SESSION_ID" {
                environment.session_id = Some(value).filter(|v| !v.is_empty());
            } else if name == "BUILDKIT_WORKERS" {
                environment.worker_platforms = worker_platforms(&value);
            }
        }
        environment
    }

    /// Reads the process's own environment.
    pub fn from_process() -> Self {
        FrontendEnvironment::from_vars(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }))
    }

    /// True when BuildKit's Dockerfile frontend forwarded this build to us
    /// because of a `# syntax=` line (or `gateway.v0` was asked for by
    /// name): the image to run is already decided, so we build and never
    /// forward again.
    pub fn was_forwarded(&self) -> bool {
        self.attrs.contains_key("cmdline") || self.attrs.contains_key("source")
    }
}

fn worker_platforms(json: &str) -> Vec<Platform> {
    let workers: Vec<WorkerInfo> = match serde_json::from_str(json) {
        Ok(workers) => workers,
        Err(err) => {
            tracing::warn!(%err, "BUILDKIT_WORKERS is not a worker list; ignored");
            return Vec::new();
        }
    };
    workers
        .into_iter()
        .next()
        .and_then(|w| w.platforms)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| Platform::new(&p.os, &p.architecture, p.variant.as_deref()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_split_at_the_first_equals_sign_of_the_value() {
        let env = FrontendEnvironment::from_vars(vars(&[
            ("BUILDKIT_FRONTEND_OPT_0", "build-arg:FLAGS=-O2 -DX=1"),
            (
                "BUILDKIT_FRONTEND_OPT_1",
                "platform=linux/amd64,linux/arm64",
            ),
            ("BUILDKIT_FRONTEND_OPT_2", "no-cache="),
            ("BUILDKIT_FRONTEND_OPT_3", "garbage"),
            ("BUILDKIT_SESSION_ID", "s3ss10n"),
            ("PATH", "/usr/bin"),
        ]));
        assert_eq!(env.attrs["build-arg:FLAGS"], "-O2 -DX=1");
        assert_eq!(env.attrs["platform"], "linux/amd64,linux/arm64");
        assert_eq!(env.attrs["no-cache"], "");
        assert_eq!(env.attrs.len(), 3);
        assert_eq!(env.session_id.as_deref(), Some("s3ss10n"));
        assert!(!env.was_forwarded());
    }

    #[test]
    fn workers_as_buildkit_marshals_them() {
        let json = r#"[{"ID":"w1","Labels":{"org.mobyproject.buildkit.worker.executor":"containerd"},
            "Platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"arm","os":"linux","variant":"v7"}],
            "GCPolicy":null,"BuildkitVersion":{"Package":"","Version":"","Revision":""}}]"#;
        let env = FrontendEnvironment::from_vars(vars(&[("BUILDKIT_WORKERS", json)]));
        let ids: Vec<String> = env
            .worker_platforms
            .iter()
            .map(Platform::normalized_id)
            .collect();
        assert_eq!(ids, ["linux/amd64", "linux/arm/v7"]);
        let env = FrontendEnvironment::from_vars(vars(&[("BUILDKIT_WORKERS", "{not json")]));
        assert!(env.worker_platforms.is_empty());
    }

    #[test]
    fn forwarded_builds_are_recognised() {
        let env = FrontendEnvironment::from_vars(vars(&[
            (
                "BUILDKIT_FRONTEND_OPT_0",
                "source=localhost:5000/crossbuild-frontend",
            ),
            (
                "BUILDKIT_FRONTEND_OPT_1",
                "cmdline=localhost:5000/crossbuild-frontend",
            ),
        ]));
        assert!(env.was_forwarded());
    }
}
