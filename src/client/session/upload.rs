//! `FileSync.DiffCopy`: the daemon pulls a local directory (the build
//! context, the Dockerfile's directory, named local contexts) through it.
//!
//! The call's metadata names the directory (`dir-name`) and carries the
//! include/exclude patterns and follow paths of the LLB local source; the
//! filtering happens here, on the client, before anything is sent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bollard_buildkit_proto::fsutil::types::Packet;
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSync;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::client::filesync::{self, FilterOptions};

/// The full method names the daemon is told about. TarStream is not
/// listed: current daemons only negotiate DiffCopy.
pub const FILE_SYNC_METHODS: &[&str] = &["/moby.filesync.v1.FileSync/DiffCopy"];

/// Serves named local directories to the daemon.
#[derive(Debug, Clone, Default)]
pub struct FileSyncService {
    dirs: Arc<BTreeMap<String, PathBuf>>,
}

impl FileSyncService {
    /// A service that serves `dirs` (local name → directory), e.g.
    /// `context` and `dockerfile`. Any other name is refused.
    pub fn new(dirs: BTreeMap<String, PathBuf>) -> Self {
        FileSyncService {
            dirs: Arc::new(dirs),
        }
    }

    fn lookup(&self, metadata: &MetadataMap) -> Result<(PathBuf, FilterOptions), Status> {
        let name = metadata
            .get("dir-name")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::invalid_argument("no dir-name in the request"))?;
        let dir = self
            .dirs
            .get(name)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("no access allowed to dir {name:?}")))?;
        let options = FilterOptions {
            include_patterns: metadata_values(metadata, "include-patterns")?,
            exclude_patterns: metadata_values(metadata, "exclude-patterns")?,
            follow_paths: metadata_values(metadata, "followpaths")?,
        };
        Ok((dir, options))
    }
}

/// All values of a multi-valued metadata key. When any value has non-ASCII
/// characters the daemon query-escapes them all and adds `<key>-encoded`.
fn metadata_values(metadata: &MetadataMap, key: &str) -> Result<Vec<String>, Status> {
    let encoded = metadata.get(format!("{key}-encoded").as_str()).is_some();
    metadata
        .get_all(key)
        .iter()
        .map(|value| {
            let text = value
                .to_str()
                .map_err(|_| Status::invalid_argument(format!("{key} is not ASCII")))?;
            if encoded {
                query_unescape(text)
                    .ok_or_else(|| Status::invalid_argument(format!("bad escaping in {key}")))
            } else {
                Ok(text.to_string())
            }
        })
        .collect()
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte.
fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[tonic::async_trait]
impl FileSync for FileSyncService {
    type DiffCopyStream = ReceiverStream<Result<Packet, Status>>;

    async fn diff_copy(
        &self,
        request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::DiffCopyStream>, Status> {
        let (dir, options) = self.lookup(request.metadata())?;
        let (outbound, outbound_rx) = mpsc::channel(64);
        let inbound = request.into_inner();
        tokio::spawn(async move {
            tracing::debug!(dir = %dir.display(), ?options, "uploading");
            if let Err(err) = filesync::send(&dir, &options, inbound, outbound.clone()).await {
                tracing::debug!(error = %err, "upload failed");
                let _ = outbound.send(Err(Status::unknown(err.to_string()))).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(outbound_rx)))
    }

    type TarStreamStream = ReceiverStream<Result<Packet, Status>>;

    async fn tar_stream(
        &self,
        _request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::TarStreamStream>, Status> {
        Err(Status::unimplemented(
            "crossbuild sends directories with DiffCopy only",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_like_go() {
        assert_eq!(query_unescape("a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(query_unescape("%C3%A9t%C3%A9").as_deref(), Some("été"));
        assert_eq!(query_unescape("bad%2"), None);
    }

    #[test]
    fn unknown_dirs_are_refused() {
        let service = FileSyncService::new(BTreeMap::from([("context".into(), "/tmp".into())]));
        let mut metadata = MetadataMap::new();
        metadata.insert("dir-name", "secret".parse().unwrap());
        let err = service.lookup(&metadata).unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
    }

    #[test]
    fn patterns_come_from_repeated_metadata() {
        let service = FileSyncService::new(BTreeMap::from([("context".into(), "/tmp".into())]));
        let mut metadata = MetadataMap::new();
        metadata.insert("dir-name", "context".parse().unwrap());
        metadata.append("exclude-patterns", "*.log".parse().unwrap());
        metadata.append("exclude-patterns", "!keep.log".parse().unwrap());
        metadata.append("followpaths", "Dockerfile".parse().unwrap());
        let (dir, options) = service.lookup(&metadata).unwrap();
        assert_eq!(dir, PathBuf::from("/tmp"));
        assert_eq!(options.exclude_patterns, ["*.log", "!keep.log"]);
        assert_eq!(options.follow_paths, ["Dockerfile"]);
        assert!(options.include_patterns.is_empty());
    }
}
