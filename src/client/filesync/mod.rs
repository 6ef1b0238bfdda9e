//! The fsutil DiffCopy packet protocol that BuildKit uses to move directory
//! trees between client and daemon, independent of the gRPC transport.
//!
//! Two directions use the same packets (`fsutil.types.Packet`):
//! - context upload (`FileSync.DiffCopy`, daemon calls us): we are the
//!   *sender* — [`send`] walks a local directory and serves file contents;
//! - local export (`FileSend.DiffCopy` with a directory target): we are the
//!   *receiver* — [`receive`] recreates the daemon's tree under a directory.
//!
//! Both functions take the inbound half as any `Stream` of packets (tonic's
//! `Streaming<Packet>` fits) and write the outbound half into an
//! `mpsc::Sender<Packet>`, which the transport turns into a response stream.
//! See PROTOCOL.md §4 for the wire rules these modules follow.
//!
//! Wiring into a tonic bidi service (the outbound item type is the
//! response stream's, so a failure can end the stream with a status):
//!
//! ```text
//! async fn diff_copy(&self, req: Request<Streaming<Packet>>)
//!     -> Result<Response<ReceiverStream<Result<Packet, Status>>>, Status> {
//!     let (dir, opts) = self.lookup(req.metadata())?; // dir-name, *-patterns, followpaths
//!     let (tx, rx) = mpsc::channel(64);
//!     tokio::spawn(async move {
//!         if let Err(e) = filesync::send(&dir, &opts, req.into_inner(), tx.clone()).await {
//!             let _ = tx.send(Err(Status::unknown(e.to_string()))).await;
//!         }
//!     });
//!     Ok(Response::new(ReceiverStream::new(rx)))
//! }
//! ```

mod follow;
pub mod mode;
pub mod pattern;
pub mod receive;
pub mod send;
mod validate;

#[cfg(test)]
mod protocol_tests;
#[cfg(test)]
mod roundtrip_tests;
pub mod walk;

use std::io;
use std::path::PathBuf;

pub use bollard_buildkit_proto::fsutil::types::packet::PacketType;
pub use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
pub use pattern::{PatternError, PatternMatcher};
pub use receive::receive;
pub use send::send;
pub use walk::{walk, FilterOptions};

/// Largest DATA packet we send. Go's fsutil sends 32 KiB; BuildKit's session
/// client accepts messages up to 16 MiB (and grpc-go's default is 4 MiB), and
/// each packet costs the daemon a message to receive and decode and a write
/// to issue, so a large file goes in fewer, larger packets. It also bounds
/// memory: the sender holds at most its channel's capacity of packets.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// Everything that can go wrong while sending or receiving a tree.
#[derive(Debug, thiserror::Error)]
pub enum FileSyncError {
    /// Include or exclude patterns did not parse.
    #[error("invalid {which}: {source}")]
    Pattern {
        /// `include patterns` or `exclude patterns`.
        which: &'static str,
        /// The parse error.
        source: PatternError,
    },
    /// A filesystem operation on a named path failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing (`open`, `read directory`, ...).
        op: &'static str,
        /// The local path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file name is not UTF-8 and cannot be put into a protobuf string
    /// (BuildKit's daemon rejects such a message, so it cannot be sent).
    #[error(
        "file name is not valid UTF-8: {0:?}; BuildKit cannot transfer it \
         (rename it, or exclude it in .dockerignore)"
    )]
    NonUtf8Path(PathBuf),
    /// The peer broke a rule of the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A path from the peer would land outside the destination directory.
    #[error("refusing unsafe path from sender: {0:?}")]
    UnsafePath(String),
    /// The peer sent an ERR packet.
    #[error("error from {side}: {message}")]
    Remote {
        /// `sender` or `receiver`, seen from us.
        side: &'static str,
        /// The peer's message.
        message: String,
    },
    /// The inbound stream failed (e.g. a gRPC status).
    #[error("transport error: {0}")]
    Transport(String),
    /// The peer or the transport went away before the exchange finished.
    #[error("stream closed before the transfer finished")]
    Closed,
}

impl FileSyncError {
    /// Builds an [`FileSyncError::Io`] with the path that failed.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FileSyncError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Builds a packet of one type; the other fields keep their defaults.
pub(crate) fn packet(kind: PacketType) -> Packet {
    Packet {
        r#type: kind as i32,
        ..Packet::default()
    }
}

/// Builds the ERR packet that tells the peer why we abort.
pub(crate) fn error_packet(err: &FileSyncError) -> Packet {
    Packet {
        data: err.to_string().into_bytes(),
        ..packet(PacketType::PacketErr)
    }
}
