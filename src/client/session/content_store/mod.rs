//! The session's content store (containerd's `Content` service): client
//! directories the daemon reads and writes blob by blob. BuildKit uses it
//! for local cache (`local:<dir>`), OCI layout exports with `tar=false`
//! (`export`) and `oci-layout://` named contexts (`oci:<store name>`).
//!
//! One session serves several stores; each call names its store in the
//! `buildkit-attachable-store-id` metadata (BuildKit
//! `session/content/attachable.go`, `caller.go`). The server side follows
//! containerd's `contentserver`: the same codes for the same conditions,
//! because the daemon's client turns them back into error kinds (an
//! AlreadyExists on Write means "skip this blob").

mod local;
mod proto;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::server::{Grpc, NamedService, ServerStreamingService, StreamingService, UnaryService};
use tonic::{Status, Streaming};

use super::raw::RawCodec;
use crate::client::connect::MAX_MESSAGE_SIZE;
pub use local::{digest_hex, BlobInfo, IngestStatus, LocalStore, StoreError, Writer};
use proto::*;

const SERVICE: &str = "containerd.services.content.v1.Content";

/// The full method names the daemon is told about.
pub const CONTENT_METHODS: &[&str] = &[
    "/containerd.services.content.v1.Content/Info",
    "/containerd.services.content.v1.Content/Update",
    "/containerd.services.content.v1.Content/List",
    "/containerd.services.content.v1.Content/Delete",
    "/containerd.services.content.v1.Content/Read",
    "/containerd.services.content.v1.Content/Status",
    "/containerd.services.content.v1.Content/ListStatuses",
    "/containerd.services.content.v1.Content/Write",
    "/containerd.services.content.v1.Content/Abort",
];

/// The metadata key naming the store a call is for.
pub const STORE_ID_KEY: &str = "buildkit-attachable-store-id";

/// The store BuildKit's oci/docker exporter writes a `tar=false` export to.
pub const EXPORT_STORE_ID: &str = "export";

/// Bytes per `Read` answer: well under the daemon's 4 MiB message limit.
const READ_CHUNK: usize = 1 << 20;
/// Blobs per `List` answer, as containerd sends them.
const LIST_BLOCK: usize = 100;

/// A client directory served as a content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentStoreDir {
    /// The directory (an OCI layout).
    pub path: PathBuf,
    /// Whether the daemon may write to it (exports) or only read (imports).
    pub writable: bool,
}

/// The content service of a session, serving stores by id.
#[derive(Debug, Clone, Default)]
pub struct ContentStoreService {
    stores: Arc<BTreeMap<String, Arc<LocalStore>>>,
}

impl ContentStoreService {
    /// A service for `stores` (store id → directory).
    pub fn new(stores: BTreeMap<String, ContentStoreDir>) -> Self {
        ContentStoreService {
            stores: Arc::new(
                stores
                    .into_iter()
                    .map(|(id, dir)| (id, Arc::new(LocalStore::new(dir.path, dir.writable))))
                    .collect(),
            ),
        }
    }

    fn choose(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Arc<LocalStore>, Status> {
        let id = metadata
            .get(STORE_ID_KEY)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Status::invalid_argument(format!("request lacks metadata {STORE_ID_KEY:?}"))
            })?;
        let store = self
            .stores
            .get(id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("unknown store {id}")))?;
        tracing::debug!(store = id, dir = %store.root().display(), "content store call");
        Ok(store)
    }
}

impl NamedService for ContentStoreService {
    const NAME: &'static str = SERVICE;
}

impl tower::Service<http::Request<tonic::body::Body>> for ContentStoreService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let method = request
            .uri()
            .path()
            .strip_prefix(&format!("/{SERVICE}/"))
            .unwrap_or_default()
            .to_string();
        let call = Call {
            service: self.clone(),
            method: method.clone(),
        };
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec)
                .apply_max_message_size_config(Some(MAX_MESSAGE_SIZE), Some(MAX_MESSAGE_SIZE));
            Ok(match method.as_str() {
                "Info" | "Update" | "Delete" | "Status" | "ListStatuses" | "Abort" => {
                    grpc.unary(call, request).await
                }
                "List" | "Read" => grpc.server_streaming(call, request).await,
                "Write" => grpc.streaming(call, request).await,
                other => {
                    Status::unimplemented(format!("{SERVICE}/{other} is not served")).into_http()
                }
            })
        })
    }
}

/// One call of a content method.
struct Call {
    service: ContentStoreService,
    method: String,
}

type Outbound = ReceiverStream<Result<Bytes, Status>>;

fn decode<T: Message + Default>(bytes: Bytes) -> Result<T, Status> {
    T::decode(bytes).map_err(|e| Status::invalid_argument(format!("bad request: {e}")))
}

fn encode<T: Message>(message: &T) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

fn timestamp(time: std::time::SystemTime) -> Option<Timestamp> {
    let (seconds, nanos) = local::unix_time(time);
    Some(Timestamp { seconds, nanos })
}

fn info_pb(info: &BlobInfo) -> Info {
    Info {
        digest: info.digest.clone(),
        size: info.size as i64,
        created_at: timestamp(info.committed),
        updated_at: timestamp(info.committed),
        labels: Default::default(),
    }
}

fn status_pb(status: &IngestStatus) -> proto::Status {
    proto::Status {
        started_at: timestamp(status.started),
        updated_at: timestamp(status.updated),
        r#ref: status.r#ref.clone(),
        offset: status.offset as i64,
        total: status.total,
        expected: String::new(),
    }
}

impl UnaryService<Bytes> for Call {
    type Response = Bytes;
    type Future = BoxFuture<'static, Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let store = self.service.choose(request.metadata());
        let method = self.method.clone();
        let body = request.into_inner();
        Box::pin(async move {
            let store = store?;
            let answer = match method.as_str() {
                "Info" => {
                    let request: InfoRequest = decode(body)?;
                    let info = store.info(&request.digest).await?;
                    encode(&InfoResponse {
                        info: Some(info_pb(&info)),
                    })
                }
                "Update" => {
                    let request: UpdateRequest = decode(body)?;
                    let digest = request.info.map(|i| i.digest).unwrap_or_default();
                    digest_hex(&digest)?;
                    // containerd's directory store has no label store either.
                    return Err(Status::failed_precondition(format!(
                        "update not supported on immutable content store ({digest})"
                    )));
                }
                "Delete" => {
                    let request: DeleteContentRequest = decode(body)?;
                    store.delete(&request.digest).await?;
                    encode(&Empty {})
                }
                "Status" => {
                    let request: StatusRequest = decode(body)?;
                    let status = store.status(&request.r#ref).await?;
                    encode(&StatusResponse {
                        status: Some(status_pb(&status)),
                    })
                }
                "ListStatuses" => {
                    let request: ListStatusesRequest = decode(body)?;
                    no_filters(&request.filters)?;
                    let statuses = store.statuses().await?;
                    encode(&ListStatusesResponse {
                        statuses: statuses.iter().map(status_pb).collect(),
                    })
                }
                "Abort" => {
                    let request: AbortRequest = decode(body)?;
                    store.abort(&request.r#ref).await?;
                    encode(&Empty {})
                }
                other => return Err(Status::unimplemented(format!("{other} is not unary"))),
            };
            Ok(tonic::Response::new(answer))
        })
    }
}

/// containerd's filter language is not implemented; nothing in BuildKit's
/// use of a session store sends filters, so any are refused plainly.
fn no_filters(filters: &[String]) -> Result<(), Status> {
    if filters.iter().all(|f| f.is_empty()) {
        Ok(())
    } else {
        Err(Status::unimplemented(format!(
            "content filters are not supported: {filters:?}"
        )))
    }
}

impl ServerStreamingService<Bytes> for Call {
    type Response = Bytes;
    type ResponseStream = Outbound;
    type Future = BoxFuture<'static, Result<tonic::Response<Outbound>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let store = self.service.choose(request.metadata());
        let method = self.method.clone();
        let body = request.into_inner();
        Box::pin(async move {
            let store = store?;
            let (outbound, outbound_rx) = mpsc::channel(4);
            match method.as_str() {
                "List" => {
                    let request: ListContentRequest = decode(body)?;
                    no_filters(&request.filters)?;
                    let blobs = store.list().await?;
                    tokio::spawn(async move {
                        for block in blobs.chunks(LIST_BLOCK) {
                            let answer = ListContentResponse {
                                info: block.iter().map(info_pb).collect(),
                            };
                            if outbound.send(Ok(encode(&answer))).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                "Read" => {
                    let request: ReadContentRequest = decode(body)?;
                    let (file, size) = store.open(&request.digest).await?;
                    let offset = request.offset.max(0) as u64;
                    if offset > size {
                        return Err(Status::out_of_range(format!(
                            "read past object length {size} bytes"
                        )));
                    }
                    let wanted = request.size.max(0) as u64;
                    let len = if wanted == 0 || offset + wanted > size {
                        size - offset
                    } else {
                        wanted
                    };
                    tokio::spawn(send_range(file, offset, len, outbound));
                }
                other => {
                    return Err(Status::unimplemented(format!(
                        "{other} is not server-streaming"
                    )))
                }
            }
            Ok(tonic::Response::new(ReceiverStream::new(outbound_rx)))
        })
    }
}

/// Streams `len` bytes of `file` from `offset` as `ReadContentResponse`s.
async fn send_range(
    mut file: tokio::fs::File,
    offset: u64,
    len: u64,
    outbound: mpsc::Sender<Result<Bytes, Status>>,
) {
    if let Err(e) = file.seek(SeekFrom::Start(offset)).await {
        let _ = outbound
            .send(Err(Status::internal(format!("seeking a blob: {e}"))))
            .await;
        return;
    }
    let mut position = offset;
    let end = offset + len;
    let mut buffer = vec![0u8; READ_CHUNK];
    while position < end {
        let want = ((end - position) as usize).min(READ_CHUNK);
        let read = match file.read(&mut buffer[..want]).await {
            Ok(0) => {
                let _ = outbound
                    .send(Err(Status::data_loss("the blob ended early")))
                    .await;
                return;
            }
            Ok(n) => n,
            Err(e) => {
                let _ = outbound
                    .send(Err(Status::internal(format!("reading a blob: {e}"))))
                    .await;
                return;
            }
        };
        let answer = ReadContentResponse {
            offset: position as i64,
            data: buffer[..read].to_vec(),
        };
        if outbound.send(Ok(encode(&answer))).await.is_err() {
            return;
        }
        position += read as u64;
    }
}

impl StreamingService<Bytes> for Call {
    type Response = Bytes;
    type ResponseStream = Outbound;
    type Future = BoxFuture<'static, Result<tonic::Response<Outbound>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let store = self.service.choose(request.metadata());
        let inbound = request.into_inner();
        Box::pin(async move {
            let store = store?;
            let (outbound, outbound_rx) = mpsc::channel(4);
            tokio::spawn(async move {
                if let Err(status) = serve_write(store, inbound, outbound.clone()).await {
                    tracing::debug!(error = %status.message(), "content write failed");
                    let _ = outbound.send(Err(status)).await;
                }
            });
            Ok(tonic::Response::new(ReceiverStream::new(outbound_rx)))
        })
    }
}

/// One `Write` stream, answered message by message as containerd's
/// `contentserver` does: the first message names the ref and opens the
/// writer, each message gets one answer, and a commit ends the stream.
async fn serve_write(
    store: Arc<LocalStore>,
    mut inbound: Streaming<Bytes>,
    outbound: mpsc::Sender<Result<Bytes, Status>>,
) -> Result<(), Status> {
    let Some(first) = inbound.next().await else {
        return Ok(());
    };
    let mut request: WriteContentRequest = decode(first?)?;
    if request.r#ref.is_empty() {
        return Err(Status::invalid_argument(
            "first message must have a reference",
        ));
    }
    let mut expected = request.expected.clone();
    let mut writer = store
        .writer(&request.r#ref, request.total, &expected)
        .await?;
    loop {
        let action = WriteAction::try_from(request.action)
            .map_err(|_| Status::invalid_argument(format!("unknown action {}", request.action)))?;
        let mut answer = WriteContentResponse {
            action: request.action,
            offset: writer.status().offset as i64,
            ..Default::default()
        };
        if !request.expected.is_empty() {
            expected = request.expected.clone();
            if store.info(&expected).await.is_ok() {
                drop(writer);
                let _ = store.abort(&request.r#ref).await;
                return Err(Status::already_exists(format!(
                    "blob with expected digest {expected} exists"
                )));
            }
        }
        if request.total > 0 {
            writer.set_total(request.total);
        }
        match action {
            WriteAction::Stat => {
                let status = writer.status();
                answer.digest = writer.digest();
                answer.started_at = timestamp(status.started);
                answer.updated_at = timestamp(status.updated);
                answer.total = status.total;
            }
            WriteAction::Write | WriteAction::Commit => {
                let current = writer.status().offset as i64;
                if request.offset > 0 && request.offset != current {
                    return Err(Status::out_of_range(format!(
                        "write @{} must occur at current offset {current}",
                        request.offset
                    )));
                }
                if request.offset == 0 && current > 0 {
                    writer.truncate().await?;
                    answer.offset = 0;
                }
                if !request.data.is_empty() {
                    writer.write(&request.data).await?;
                    answer.offset += request.data.len() as i64;
                }
                if action == WriteAction::Commit {
                    let total = writer.status().total;
                    writer.commit(total, &expected).await?;
                }
                answer.digest = writer.digest();
            }
        }
        if outbound.send(Ok(encode(&answer))).await.is_err() {
            return Ok(());
        }
        if action == WriteAction::Commit {
            return Ok(());
        }
        match inbound.next().await {
            Some(message) => request = decode(message?)?,
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod service_tests;
