//! Descriptors, manifests and indexes (Go: `ocispec.Descriptor`,
//! `ocispec.Manifest`, `ocispec.Index`); the Docker schema 2 manifest and
//! manifest list have the same shape, so the same types read both.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{null_as_default, ImageError, ANNOTATION_REFERENCE_TYPE};

/// The platform of a manifest in an index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, GOARCH style.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, GOOS style.
    #[serde(default)]
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// Required OS features (Windows).
    #[serde(
        rename = "os.features",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Fields outside the OCI spec (Docker's `features`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Platform {
    /// The platform id (`linux/arm/v7`), as BuildKit formats it.
    pub fn id(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.architecture)
        } else {
            format!("{}/{}/{}", self.os, self.architecture, self.variant)
        }
    }
}

/// A content-addressed pointer to a blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type of the blob.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>` of the blob.
    #[serde(default)]
    pub digest: String,
    /// Blob size in bytes.
    #[serde(default)]
    pub size: i64,
    /// Alternative download locations.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Embedded blob, base64 (kept encoded so it round-trips unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Platform of the manifest this points at, in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type, for artifact manifests.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub artifact_type: String,
    /// Fields outside the OCI spec.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A single-platform image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// OCI or Docker manifest media type (optional in OCI).
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    /// Artifact type, for artifact manifests.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub artifact_type: String,
    /// The image config blob.
    pub config: Descriptor,
    /// Layer blobs, bottom first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Fields outside the OCI spec.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A multi-platform image: an OCI index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// OCI index or Docker manifest list media type (optional in OCI).
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    /// Artifact type, for artifact indexes.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub artifact_type: String,
    /// One descriptor per platform manifest (and BuildKit's attestation
    /// manifests).
    #[serde(default, deserialize_with = "null_as_default")]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Fields outside the OCI spec.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Manifest {
    /// Parses a manifest from JSON.
    pub fn from_json(json: &[u8]) -> Result<Manifest, ImageError> {
        serde_json::from_slice(json).map_err(|source| ImageError::Json {
            what: "image manifest",
            source,
        })
    }

    /// Serialises to compact JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, ImageError> {
        serde_json::to_vec(self).map_err(|source| ImageError::Json {
            what: "image manifest",
            source,
        })
    }
}

impl Index {
    /// Parses an index or manifest list from JSON.
    pub fn from_json(json: &[u8]) -> Result<Index, ImageError> {
        serde_json::from_slice(json).map_err(|source| ImageError::Json {
            what: "image index",
            source,
        })
    }

    /// Serialises to compact JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, ImageError> {
        serde_json::to_vec(self).map_err(|source| ImageError::Json {
            what: "image index",
            source,
        })
    }

    /// The platforms of the image manifests, in index order; BuildKit's
    /// attestation manifests (annotated `vnd.docker.reference.type`, platform
    /// `unknown/unknown`) are not images and are left out.
    pub fn platforms(&self) -> Vec<&Platform> {
        self.manifests
            .iter()
            .filter(|d| !d.annotations.contains_key(ANNOTATION_REFERENCE_TYPE))
            .filter_map(|d| d.platform.as_ref())
            .filter(|p| !(p.os == "unknown" && p.architecture == "unknown"))
            .collect()
    }

    /// The image manifest descriptor for a platform id (`linux/arm64`).
    pub fn manifest_for(&self, platform_id: &str) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            !d.annotations.contains_key(ANNOTATION_REFERENCE_TYPE)
                && d.platform.as_ref().is_some_and(|p| p.id() == platform_id)
        })
    }
}

/// Decodes the `containerimage.descriptor` exporter response: the image
/// (index or manifest) descriptor as standard base64 of its JSON.
pub fn parse_descriptor_base64(value: &str) -> Result<Descriptor, ImageError> {
    const WHAT: &str = "containerimage.descriptor";
    let json = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|source| ImageError::Base64 { what: WHAT, source })?;
    serde_json::from_slice(&json).map_err(|source| ImageError::Json { what: WHAT, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{
        is_index_media_type, is_manifest_media_type, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
        MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
    };

    const D1: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const D2: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    /// An index as BuildKit pushes it for `--platform linux/amd64,linux/arm/v7`
    /// with provenance attestations.
    fn buildkit_index() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D1}","size":673,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D2}","size":673,"platform":{{"architecture":"arm","os":"linux","variant":"v7"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":566,"annotations":{{"vnd.docker.reference.digest":"{D1}","vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"architecture":"unknown","os":"unknown"}}}}]}}"#
        )
    }

    #[test]
    fn index_round_trips_and_lists_platforms() {
        let json = buildkit_index();
        let index = Index::from_json(json.as_bytes()).expect("parse");
        assert_eq!(index.schema_version, 2);
        assert!(is_index_media_type(&index.media_type));
        let ids: Vec<_> = index.platforms().iter().map(|p| p.id()).collect();
        assert_eq!(ids, ["linux/amd64", "linux/arm/v7"]);
        assert_eq!(
            index
                .manifest_for("linux/arm/v7")
                .map(|d| d.digest.as_str()),
            Some(D2)
        );
        assert!(index.manifest_for("unknown/unknown").is_none());
        assert_eq!(
            String::from_utf8_lossy(&index.to_json().expect("json")),
            json
        );
    }

    #[test]
    fn docker_manifest_list_with_features() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{D1}","size":528,"platform":{{"architecture":"arm64","os":"linux","variant":"v8","features":["sse4"]}}}}]}}"#
        );
        let index = Index::from_json(json.as_bytes()).expect("parse");
        assert!(is_index_media_type(&index.media_type));
        let p = index.platforms()[0];
        assert_eq!(p.id(), "linux/arm64/v8");
        assert!(p.extra.contains_key("features"));
        assert_eq!(
            String::from_utf8_lossy(&index.to_json().expect("json")),
            json
        );
    }

    #[test]
    fn manifest_round_trips() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":1469}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":3623807}}],"annotations":{{"org.opencontainers.image.created":"2024-05-02T10:11:12Z"}}}}"#
        );
        let m = Manifest::from_json(json.as_bytes()).expect("parse");
        assert!(is_manifest_media_type(&m.media_type));
        assert_eq!(m.layers[0].size, 3_623_807);
        assert_eq!(String::from_utf8_lossy(&m.to_json().expect("json")), json);
    }

    #[test]
    fn go_nulls_are_accepted() {
        let m = Manifest::from_json(
            br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:1","size":2},"layers":null}"#,
        )
        .expect("parse");
        assert!(m.layers.is_empty());
        // Go writes `layers` even when empty (no omitempty).
        assert!(String::from_utf8_lossy(&m.to_json().expect("json")).contains(r#""layers":[]"#));
        let i = Index::from_json(br#"{"schemaVersion":2,"manifests":null}"#).expect("parse");
        assert!(i.manifests.is_empty() && i.platforms().is_empty());
    }

    #[test]
    fn descriptor_from_exporter_response() {
        let desc_json = format!(
            r#"{{"mediaType":"{MEDIA_TYPE_OCI_INDEX}","digest":"{D1}","size":1609,"annotations":{{"org.opencontainers.image.created":"2024-05-02T10:11:12Z"}}}}"#
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(&desc_json);
        let d = parse_descriptor_base64(&b64).expect("decode");
        assert_eq!(d.media_type, MEDIA_TYPE_OCI_INDEX);
        assert_eq!(d.digest, D1);
        assert_eq!(d.size, 1609);
        assert_eq!(d.annotations.len(), 1);
        assert!(d.platform.is_none());
        assert_eq!(
            String::from_utf8_lossy(&serde_json::to_vec(&d).expect("json")),
            desc_json
        );
    }

    #[test]
    fn descriptor_base64_errors() {
        assert!(matches!(
            parse_descriptor_base64("not base64!"),
            Err(ImageError::Base64 { .. })
        ));
        let not_json = base64::engine::general_purpose::STANDARD.encode("nope");
        assert!(matches!(
            parse_descriptor_base64(&not_json),
            Err(ImageError::Json { .. })
        ));
    }

    #[test]
    fn descriptor_keeps_data_urls_and_artifact_type() {
        let json = r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"urls":["https://x/y"],"data":"e30=","artifactType":"application/vnd.example"}"#;
        let d: Descriptor = serde_json::from_str(json).expect("parse");
        assert_eq!(d.data.as_deref(), Some("e30="));
        assert_eq!(
            String::from_utf8_lossy(&serde_json::to_vec(&d).expect("json")),
            json
        );
    }
}
