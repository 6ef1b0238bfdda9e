//! The messages of containerd's content API
//! (`containerd/api/services/content/v1/content.proto`), which BuildKit
//! calls on the session to read and write client-side content stores.
//! `bollard-buildkit-proto` does not carry this package, so the few
//! messages are declared here with prost's derive; field numbers follow
//! the proto file.

use std::collections::HashMap;

pub use bollard_buildkit_proto::google::protobuf::Timestamp;

/// What a Write message asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WriteAction {
    /// Report the write's status.
    Stat = 0,
    /// Write the data at the offset.
    Write = 1,
    /// Write the data, then commit the blob under its digest.
    Commit = 2,
}

/// A committed blob.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Info {
    /// `sha256:<hex>`.
    #[prost(string, tag = "1")]
    pub digest: String,
    /// Bytes.
    #[prost(int64, tag = "2")]
    pub size: i64,
    /// When the blob was committed.
    #[prost(message, optional, tag = "3")]
    pub created_at: Option<Timestamp>,
    /// When its labels last changed.
    #[prost(message, optional, tag = "4")]
    pub updated_at: Option<Timestamp>,
    /// Labels (a directory store keeps none).
    #[prost(map = "string, string", tag = "5")]
    pub labels: HashMap<String, String>,
}

/// `Info` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoRequest {
    /// The blob asked about.
    #[prost(string, tag = "1")]
    pub digest: String,
}

/// `Info` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoResponse {
    /// The blob.
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
}

/// `google.protobuf.FieldMask`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldMask {
    /// Field paths (`labels.<key>`).
    #[prost(string, repeated, tag = "1")]
    pub paths: Vec<String>,
}

/// `Update` request: new labels for a blob.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateRequest {
    /// The blob and its new labels.
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
    /// Which fields to update.
    #[prost(message, optional, tag = "2")]
    pub update_mask: Option<FieldMask>,
}

/// `List` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListContentRequest {
    /// containerd filter expressions; any match selects a blob.
    #[prost(string, repeated, tag = "1")]
    pub filters: Vec<String>,
}

/// One block of `List` answers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListContentResponse {
    /// Blobs.
    #[prost(message, repeated, tag = "1")]
    pub info: Vec<Info>,
}

/// `Delete` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteContentRequest {
    /// The blob to delete.
    #[prost(string, tag = "1")]
    pub digest: String,
}

/// `Read` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadContentRequest {
    /// The blob to read.
    #[prost(string, tag = "1")]
    pub digest: String,
    /// Where to start.
    #[prost(int64, tag = "2")]
    pub offset: i64,
    /// How much to read; 0 means to the end.
    #[prost(int64, tag = "3")]
    pub size: i64,
}

/// One chunk of a `Read` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadContentResponse {
    /// Offset of `data` in the blob.
    #[prost(int64, tag = "1")]
    pub offset: i64,
    /// The bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

/// An unfinished write.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// When the write began.
    #[prost(message, optional, tag = "1")]
    pub started_at: Option<Timestamp>,
    /// When it last wrote.
    #[prost(message, optional, tag = "2")]
    pub updated_at: Option<Timestamp>,
    /// The writer's ref.
    #[prost(string, tag = "3")]
    pub r#ref: String,
    /// Bytes written so far.
    #[prost(int64, tag = "4")]
    pub offset: i64,
    /// Expected total size, if known.
    #[prost(int64, tag = "5")]
    pub total: i64,
    /// Expected digest, if known.
    #[prost(string, tag = "6")]
    pub expected: String,
}

/// `Status` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {
    /// The writer's ref.
    #[prost(string, tag = "1")]
    pub r#ref: String,
}

/// `Status` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    /// The write.
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
}

/// `ListStatuses` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListStatusesRequest {
    /// containerd filter expressions.
    #[prost(string, repeated, tag = "1")]
    pub filters: Vec<String>,
}

/// `ListStatuses` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListStatusesResponse {
    /// Unfinished writes.
    #[prost(message, repeated, tag = "1")]
    pub statuses: Vec<Status>,
}

/// One message of a `Write` stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteContentRequest {
    /// What to do.
    #[prost(enumeration = "WriteAction", tag = "1")]
    pub action: i32,
    /// The writer's ref (required on the first message).
    #[prost(string, tag = "2")]
    pub r#ref: String,
    /// Expected total size; 0 or less for unknown.
    #[prost(int64, tag = "3")]
    pub total: i64,
    /// Expected digest.
    #[prost(string, tag = "4")]
    pub expected: String,
    /// Where `data` goes.
    #[prost(int64, tag = "5")]
    pub offset: i64,
    /// The bytes.
    #[prost(bytes = "vec", tag = "6")]
    pub data: Vec<u8>,
    /// Labels for the committed blob.
    #[prost(map = "string, string", tag = "7")]
    pub labels: HashMap<String, String>,
}

/// The answer to one `Write` message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteContentResponse {
    /// The action answered.
    #[prost(enumeration = "WriteAction", tag = "1")]
    pub action: i32,
    /// When the write began.
    #[prost(message, optional, tag = "2")]
    pub started_at: Option<Timestamp>,
    /// When it last wrote.
    #[prost(message, optional, tag = "3")]
    pub updated_at: Option<Timestamp>,
    /// Bytes written so far.
    #[prost(int64, tag = "4")]
    pub offset: i64,
    /// Expected total size.
    #[prost(int64, tag = "5")]
    pub total: i64,
    /// Digest of the bytes written so far.
    #[prost(string, tag = "6")]
    pub digest: String,
}

/// `Abort` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AbortRequest {
    /// The writer's ref.
    #[prost(string, tag = "1")]
    pub r#ref: String,
}

/// `google.protobuf.Empty`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}
