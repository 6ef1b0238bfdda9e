//! The daemon's workers: which platforms they build for, with which labels.

use std::collections::BTreeMap;

use bollard_buildkit_proto::moby::buildkit::v1::ListWorkersRequest;
use bollard_buildkit_proto::pb;

use super::connect::{error_chain, Daemon};

/// One BuildKit worker as `crossbuild workers` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Worker {
    /// The worker's id.
    pub id: String,
    /// Platforms the worker can build for, natively or through binfmt
    /// emulation, formatted `os/arch[/variant]`.
    pub platforms: Vec<String>,
    /// Labels (executor, snapshotter, hostname, ...), sorted by name.
    pub labels: BTreeMap<String, String>,
}

/// The daemon answered the worker list with an error.
#[derive(Debug, thiserror::Error)]
#[error("listing the daemon's workers failed: {0}")]
pub struct WorkersError(String);

/// Asks the daemon for its workers.
pub async fn list_workers(daemon: &Daemon) -> Result<Vec<Worker>, WorkersError> {
    let response = daemon
        .control()
        .list_workers(ListWorkersRequest::default())
        .await
        .map_err(|status| WorkersError(error_chain(&status)))?
        .into_inner();
    Ok(response
        .record
        .into_iter()
        .map(|record| Worker {
            id: record.id,
            platforms: unique_platforms(&record.platforms),
            labels: record.labels.into_iter().collect(),
        })
        .collect())
}

/// The worker's platforms, each once, in the daemon's order (a Docker
/// engine can list the emulated ones several times).
fn unique_platforms(platforms: &[pb::Platform]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    platforms
        .iter()
        .map(format_platform)
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// `os/arch[/variant]`, the way BuildKit prints platforms.
fn format_platform(platform: &pb::Platform) -> String {
    let mut text = format!("{}/{}", platform.os, platform.architecture);
    if !platform.variant.is_empty() {
        text.push('/');
        text.push_str(&platform.variant);
    }
    text
}
