//! OCI image data as BuildKit and registries exchange it: the image config a
//! frontend returns in `containerimage.config`, and the descriptors,
//! manifests and indexes an exporter produces.
//!
//! The structs mirror the Go types BuildKit uses (`ocispec.Image` extended by
//! `dockerspec.DockerOCIImage`, `ocispec.Descriptor`, `ocispec.Manifest`,
//! `ocispec.Index`) with their exact JSON field names and `omitempty`
//! behaviour, so JSON we write reads the same in BuildKit and JSON we read
//! round-trips. Fields these types do not name (Docker's `container_config`,
//! `Hostname`, ...) are kept in an `extra` map for the same reason.

pub mod config;
pub mod layout;
pub mod layout_inspect;
pub mod manifest;
pub mod oci_tar;
pub mod registry;

pub use config::{ContainerConfig, Healthcheck, History, ImageConfig, RootFs};
pub use manifest::{parse_descriptor_base64, Descriptor, Index, Manifest, Platform};

use thiserror::Error;

/// OCI image index (multi-platform image).
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest (one platform).
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI empty JSON blob (`{}`), used as config of artifacts.
pub const MEDIA_TYPE_OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker image manifest list (schema 2), the Docker name for an index.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest (schema 2).
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// In-toto attestation layer (SBOM, provenance) in BuildKit's attestation manifests.
pub const MEDIA_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";

/// Annotation BuildKit puts on an index entry that is an attestation manifest
/// rather than an image (value `attestation-manifest`).
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Annotation naming the image manifest an attestation manifest describes.
pub const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// Whether a media type is an index (OCI index or Docker manifest list).
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// Whether a media type is a single-platform manifest (OCI or Docker).
pub fn is_manifest_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_MANIFEST || media_type == MEDIA_TYPE_DOCKER_MANIFEST
}

/// Why image JSON could not be read or written.
#[derive(Debug, Error)]
pub enum ImageError {
    /// Not the JSON shape expected.
    #[error("invalid {what} JSON: {source}")]
    Json {
        /// What was being read, e.g. "image config".
        what: &'static str,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// Not valid standard base64.
    #[error("invalid base64 in {what}: {source}")]
    Base64 {
        /// What was being read.
        what: &'static str,
        /// The decoder's error.
        source: base64::DecodeError,
    },
}

/// Deserialises JSON `null` as the type's default, because Go writes nil
/// slices and maps as `null` where a field has no `omitempty`.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}
