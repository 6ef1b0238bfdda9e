//! `FileSend.DiffCopy`: where the daemon delivers exports to the client.
//!
//! The call's `buildkit-attachable-exporter-id` metadata is the index of the
//! exporter in the solve request; that picks the target. A file target
//! (tar, OCI and docker archives) gets `BytesMessage` chunks of the archive;
//! a directory target (the local exporter) gets an fsutil packet stream in
//! which crossbuild is the receiver.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard_buildkit_proto::moby::filesync::v1::BytesMessage;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use prost::Message;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::server::{Grpc, NamedService, StreamingService};
use tonic::{Status, Streaming};

use super::raw::RawCodec;
use crate::client::connect::MAX_MESSAGE_SIZE;
use crate::client::filesync::{self, Packet};
use crate::client::output::ExportTarget;

/// The full method name the daemon is told about.
pub const FILE_SEND_METHODS: &[&str] = &["/moby.filesync.v1.FileSend/DiffCopy"];

const DIFF_COPY_PATH: &str = "/moby.filesync.v1.FileSend/DiffCopy";
const EXPORTER_ID_KEY: &str = "buildkit-attachable-exporter-id";

/// The FileSend service of a session, serving one target per exporter
/// index. Only file, stdout and directory targets are served here; the
/// others never reach FileSend.
#[derive(Clone)]
pub struct FileSendService {
    targets: Arc<Vec<ExportTarget>>,
}

impl FileSendService {
    /// A service delivering exporter `i`'s output to `targets[i]`.
    pub fn new(targets: Vec<ExportTarget>) -> Self {
        FileSendService {
            targets: Arc::new(targets),
        }
    }
}

impl NamedService for FileSendService {
    const NAME: &'static str = "moby.filesync.v1.FileSend";
}

impl tower::Service<http::Request<tonic::body::Body>> for FileSendService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != DIFF_COPY_PATH {
            let status = Status::unimplemented(format!("{} is not served", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let handler = DiffCopy {
            targets: self.targets.clone(),
        };
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec)
                .apply_max_message_size_config(Some(MAX_MESSAGE_SIZE), Some(MAX_MESSAGE_SIZE));
            Ok(grpc.streaming(handler, request).await)
        })
    }
}

struct DiffCopy {
    targets: Arc<Vec<ExportTarget>>,
}

type Outbound = ReceiverStream<Result<Bytes, Status>>;

impl StreamingService<Bytes> for DiffCopy {
    type Response = Bytes;
    type ResponseStream = Outbound;
    type Future = BoxFuture<'static, Result<tonic::Response<Outbound>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let targets = self.targets.clone();
        Box::pin(async move {
            let index: usize = request
                .metadata()
                .get(EXPORTER_ID_KEY)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .parse()
                .map_err(|_| Status::invalid_argument("invalid exporter id"))?;
            let target = targets.get(index).cloned().unwrap_or(ExportTarget::None);
            tracing::debug!(exporter = index, ?target, "receiving an export");
            let inbound = request.into_inner();
            let (outbound, outbound_rx) = mpsc::channel(16);
            tokio::spawn(async move {
                let result = match target {
                    ExportTarget::File(path) => receive_archive_to_file(path, inbound).await,
                    ExportTarget::Stdout => receive_archive(tokio::io::stdout(), inbound).await,
                    ExportTarget::Directory(path) => {
                        receive_directory(path, inbound, outbound.clone()).await
                    }
                    other => Err(Status::not_found(format!(
                        "exporter {index} sends nothing to the client ({other:?})"
                    ))),
                };
                tracing::debug!(ok = result.is_ok(), "export received");
                if let Err(status) = result {
                    tracing::debug!(error = %status.message(), "export to the client failed");
                    let _ = outbound.send(Err(status)).await;
                }
            });
            Ok(tonic::Response::new(ReceiverStream::new(outbound_rx)))
        })
    }
}

async fn receive_archive_to_file(path: PathBuf, inbound: Streaming<Bytes>) -> Result<(), Status> {
    let file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| Status::internal(format!("cannot create {}: {e}", path.display())))?;
    receive_archive(file, inbound).await
}

/// Writes the archive chunks of `inbound` to `out` until the daemon ends
/// the stream.
async fn receive_archive<W: AsyncWrite + Unpin>(
    mut out: W,
    mut inbound: Streaming<Bytes>,
) -> Result<(), Status> {
    while let Some(frame) = inbound.next().await {
        let frame = frame?;
        let message = BytesMessage::decode(frame)
            .map_err(|e| Status::invalid_argument(format!("bad export chunk: {e}")))?;
        out.write_all(&message.data)
            .await
            .map_err(|e| Status::internal(format!("writing the export failed: {e}")))?;
    }
    out.flush()
        .await
        .map_err(|e| Status::internal(format!("writing the export failed: {e}")))?;
    Ok(())
}

/// Receives a local export: the frames are fsutil packets, and crossbuild is
/// the receiving side of the DiffCopy exchange.
async fn receive_directory(
    path: PathBuf,
    inbound: Streaming<Bytes>,
    outbound: mpsc::Sender<Result<Bytes, Status>>,
) -> Result<(), Status> {
    tokio::fs::create_dir_all(&path)
        .await
        .map_err(|e| Status::internal(format!("cannot create {}: {e}", path.display())))?;
    let packets = inbound.map(|frame| {
        frame.and_then(|bytes| {
            Packet::decode(bytes)
                .map_err(|e| Status::invalid_argument(format!("bad fsutil packet: {e}")))
        })
    });
    let (packet_tx, mut packet_rx) = mpsc::channel::<Result<Packet, Status>>(64);
    let forward = tokio::spawn(async move {
        while let Some(packet) = packet_rx.recv().await {
            let frame = packet.map(|p| Bytes::from(p.encode_to_vec()));
            if outbound.send(frame).await.is_err() {
                break;
            }
        }
    });
    let result = filesync::receive(&path, Box::pin(packets), packet_tx).await;
    let _ = forward.await;
    result.map_err(|e| {
        Status::internal(format!(
            "writing the export to {} failed: {e}",
            path.display()
        ))
    })
}
