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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BridgeError(pub String);

/// An image's config as the daemon resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// The manifest digest the reference resolved to (`sha256:...`).
    pub digest: String,
    /// The raw image config JSON.
    pub config: Vec<u8>,
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

    /// The session that serves the client's directories, if there is one.
    fn session_id(&self) -> Option<&str>;
}
