//! The LLBBridge as the frontend core sees it: what a Dockerfile build needs
//! from BuildKit, whatever carries it. The direct client implements it over
//! the client-side gateway (`client::gateway`); the `# syntax=` image
//! implements it over stdio ([`stdio`]). Tests of the core may implement it
//! too.

pub mod stdio;

use async_trait::async_trait;
use bollard_buildkit_proto::pb;

use crate::platform::Platform;

/// A failed bridge call, in the daemon's words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct BridgeError {
    /// What failed.
    pub message: String,
    /// The daemon's typed details (`google.rpc.Status` details), such as
    /// the source lines of a failing step ([`crate::errdefs`]); a frontend
    /// returns them with its error so that the client can show them.
    pub details: Vec<bollard_buildkit_proto::google::protobuf::Any>,
}

impl BridgeError {
    /// An error with no details.
    pub fn new(message: impl Into<String>) -> Self {
        BridgeError {
            message: message.into(),
            details: Vec::new(),
        }
    }
}

/// An image's config as the daemon resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// The manifest digest the reference resolved to (`sha256:...`).
    pub digest: String,
    /// The raw image config JSON.
    pub config: Vec<u8>,
}

/// A warning for the user, shown under a step of the build (a Dockerfile
/// build check, as BuildKit's frontend sends them with `LLBBridge.Warn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildWarning {
    /// Digest of the vertex it belongs to (the Dockerfile's load step).
    pub vertex: String,
    /// One line: `StageNameCasing: Stage name 'A' should be lowercase (line 2)`.
    pub short: String,
    /// Further explanation, one entry per paragraph.
    pub detail: Vec<String>,
    /// Where the problem is documented; may be empty.
    pub url: String,
    /// The file and lines it is about, when known.
    pub source: Option<WarningSource>,
}

/// The file a [`BuildWarning`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningSource {
    /// The file's name as the user gave it (`Dockerfile`).
    pub filename: String,
    /// Its contents, so that clients can show the lines.
    pub data: Vec<u8>,
    /// The first line, 1-based.
    pub start_line: usize,
    /// The last line.
    pub end_line: usize,
}

impl BuildWarning {
    /// The `LLBBridge.Warn` request for this warning (level 1, as
    /// BuildKit's linter sends).
    pub fn to_request(&self) -> bollard_buildkit_proto::moby::buildkit::v1::frontend::WarnRequest {
        let position = |line: usize| pb::Position {
            line: i32::try_from(line).unwrap_or(i32::MAX),
            character: 0,
        };
        let (info, ranges) = match &self.source {
            Some(source) => (
                Some(pb::SourceInfo {
                    filename: source.filename.clone(),
                    data: source.data.clone(),
                    definition: None,
                    language: "Dockerfile".to_string(),
                }),
                vec![pb::Range {
                    start: Some(position(source.start_line)),
                    end: Some(position(source.end_line)),
                }],
            ),
            None => (None, Vec::new()),
        };
        bollard_buildkit_proto::moby::buildkit::v1::frontend::WarnRequest {
            digest: self.vertex.clone(),
            level: 1,
            short: self.short.clone().into_bytes(),
            detail: self.detail.iter().map(|d| d.clone().into_bytes()).collect(),
            url: self.url.clone(),
            info,
            ranges,
        }
    }
}

/// BuildKit's `sourceresolver.ResolverTypeOCILayout`: resolve from a
/// content store the session serves instead of a registry.
const RESOLVER_TYPE_OCI_LAYOUT: i32 = 1;

/// The `ResolveImageConfig` request for an image in the OCI layout that
/// `session` serves as content store `oci:<store>`, as BuildKit's dockerui
/// sends it for `oci-layout://` contexts (the daemon adds the `oci:`).
pub fn oci_layout_request(
    reference: &str,
    store: &str,
    platform: &Platform,
    session: Option<&str>,
) -> bollard_buildkit_proto::moby::buildkit::v1::frontend::ResolveImageConfigRequest {
    bollard_buildkit_proto::moby::buildkit::v1::frontend::ResolveImageConfigRequest {
        r#ref: reference.to_string(),
        platform: Some(platform.to_pb()),
        log_name: format!("[internal] load metadata for {reference}"),
        resolver_type: RESOLVER_TYPE_OCI_LAYOUT,
        session_id: session.unwrap_or_default().to_string(),
        store_id: store.to_string(),
        ..Default::default()
    }
}

/// The request that resolves a registry image's config for `platform`
/// (with the session's registry credentials, when there is a session).
pub fn registry_config_request(
    reference: &str,
    platform: &Platform,
    session: Option<&str>,
) -> bollard_buildkit_proto::moby::buildkit::v1::frontend::ResolveImageConfigRequest {
    bollard_buildkit_proto::moby::buildkit::v1::frontend::ResolveImageConfigRequest {
        r#ref: reference.to_string(),
        platform: Some(platform.to_pb()),
        resolve_mode: "default".to_string(),
        log_name: format!("[internal] load metadata for {reference}"),
        session_id: session.unwrap_or_default().to_string(),
        ..Default::default()
    }
}

/// What the frontend core asks of BuildKit.
#[async_trait]
pub trait Bridge: Send + Sync {
    /// Solves a definition and returns its result's id (`None` for an
    /// empty result such as `scratch`).
    async fn solve(&self, definition: pb::Definition) -> Result<Option<String>, BridgeError>;

    /// Reads a file from a solved result.
    async fn read_file(&self, result: &str, path: &str) -> Result<Vec<u8>, BridgeError>;

    /// Resolves an image reference for a platform to its digest and config.
    async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, BridgeError>;

    /// Resolves the image `reference` (a name pinned by digest) in the OCI
    /// layout the client serves as content store `oci:<store>` in this
    /// bridge's session, for a platform, to its manifest digest and config
    /// (BuildKit's `ResolverTypeOCILayout`).
    async fn resolve_oci_layout_config(
        &self,
        reference: &str,
        store: &str,
        platform: &Platform,
    ) -> Result<ResolvedConfig, BridgeError>;

    /// Shows a warning to the user, under its step.
    async fn warn(&self, warning: BuildWarning) -> Result<(), BridgeError>;

    /// The session that serves the client's directories, if there is one.
    fn session_id(&self) -> Option<&str>;
}
