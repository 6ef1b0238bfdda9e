//! The daemon's build cache: how much it holds (`crossbuild du`) and
//! emptying it (`crossbuild prune`).

use bollard_buildkit_proto::moby::buildkit::v1::{DiskUsageRequest, PruneRequest, UsageRecord};
use futures::StreamExt;

use super::connect::{error_chain, Daemon};

/// One cache record, as `crossbuild du` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CacheRecord {
    /// The record's id.
    pub id: String,
    /// Bytes on disk.
    pub size: i64,
    /// Held by a running build.
    pub in_use: bool,
    /// Shared with another record.
    pub shared: bool,
    /// Kind of record (`regular`, `source.local`, `exec.cachemount`, ...).
    pub record_type: String,
    /// What made it (a step's name).
    pub description: String,
}

/// A cache request the daemon refused.
#[derive(Debug, thiserror::Error)]
#[error("{action} failed: {message}")]
pub struct CacheError {
    action: &'static str,
    message: String,
}

impl From<UsageRecord> for CacheRecord {
    fn from(record: UsageRecord) -> Self {
        CacheRecord {
            id: record.id,
            size: record.size,
            in_use: record.in_use,
            shared: record.shared,
            record_type: record.record_type,
            description: record.description,
        }
    }
}

/// Lists the daemon's cache records, largest first.
pub async fn disk_usage(daemon: &Daemon) -> Result<Vec<CacheRecord>, CacheError> {
    let response = daemon
        .control()
        .disk_usage(DiskUsageRequest::default())
        .await
        .map_err(|status| CacheError {
            action: "reading the build cache usage",
            message: error_chain(&status),
        })?
        .into_inner();
    let mut records: Vec<CacheRecord> = response.record.into_iter().map(Into::into).collect();
    records.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
    Ok(records)
}

/// Removes cache records not in use (with `all`, also those that would be
/// kept as recently used) that match every `filter` (BuildKit's syntax,
/// e.g. `description~=RUN make`) and returns what was removed.
pub async fn prune(
    daemon: &Daemon,
    all: bool,
    filters: &[String],
) -> Result<Vec<CacheRecord>, CacheError> {
    let prune_error = |status: tonic::Status| CacheError {
        action: "pruning the build cache",
        message: error_chain(&status),
    };
    let mut stream = daemon
        .control()
        .prune(PruneRequest {
            all,
            filter: filters.to_vec(),
            ..Default::default()
        })
        .await
        .map_err(prune_error)?
        .into_inner();
    let mut removed = Vec::new();
    while let Some(record) = stream.next().await {
        removed.push(CacheRecord::from(record.map_err(prune_error)?));
    }
    Ok(removed)
}

/// Sizes as people read them: `1.5 GB`, `12.0 MB`, `512 B`.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_like_buildx() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1_500), "1.5 kB");
        assert_eq!(human_size(12_000_000), "12.0 MB");
        assert_eq!(human_size(1_500_000_000), "1.5 GB");
    }
}
