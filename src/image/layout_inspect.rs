//! `crossbuild inspect oci-layout://PATH[:TAG][@DIGEST]`: the same
//! [`ImageSummary`] as for a registry image, read from an OCI layout on
//! disk — a directory (`-o type=oci,tar=false,dest=DIR`) or its tar
//! archive (`-o type=oci,dest=x.tar`).
//!
//! The scheme is the one `build --build-context NAME=oci-layout://...`
//! takes (and buildx's), so a plain argument is always a registry
//! reference and never silently a directory. The image is the layout's
//! `index.json` entry tagged TAG; without a tag, the one tagged `latest`
//! or else the only entry (buildx's rule); `@DIGEST` picks a blob
//! directly. BuildKit's OCI exporter writes `index.json` → image index →
//! one manifest per platform plus attestation manifests; a single-platform
//! export may point `index.json` straight at a manifest. Every blob read is
//! checked against its digest.

use std::path::{Path, PathBuf};

use super::layout::{resolve_in, Layout, LayoutError};
use super::oci_tar::{self, TarFiles};
use super::registry::{config_platform, index_entry, manifest_content_size};
use super::registry::{ImageSummary, PlatformEntry};
use super::{is_index_media_type, Descriptor, Index, Manifest};

/// The scheme of an OCI layout argument.
pub const OCI_LAYOUT_SCHEME: &str = "oci-layout://";

/// A parsed `oci-layout://PATH[:TAG][@DIGEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    /// The layout directory or tar archive.
    pub path: PathBuf,
    /// The tag to look up, if given.
    pub tag: Option<String>,
    /// The blob to start from, if given.
    pub digest: Option<String>,
}

impl LayoutRef {
    /// `None` unless `value` starts with [`OCI_LAYOUT_SCHEME`]. The tag is
    /// what follows the last `:` of the last path component, so paths with
    /// colons in directory names still work; the digest what follows `@`.
    pub fn parse(value: &str) -> Option<LayoutRef> {
        let rest = value.strip_prefix(OCI_LAYOUT_SCHEME)?;
        let (rest, digest) = match rest.rsplit_once('@') {
            Some((r, d)) if d.starts_with("sha256:") => (r, Some(d.to_string())),
            _ => (rest, None),
        };
        let (path, tag) = match rest.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') && !p.is_empty() => (p, Some(t.to_string())),
            _ => (rest, None),
        };
        Some(LayoutRef {
            path: PathBuf::from(path),
            tag,
            digest,
        })
    }
}

/// Where the layout's files come from.
enum Files {
    Dir(Layout),
    Tar(TarFiles),
}

/// A layout being read: its files and its path, for messages.
struct Source {
    path: PathBuf,
    files: Files,
}

impl Source {
    fn open(path: &Path) -> Result<Source, LayoutError> {
        if path.as_os_str().is_empty() {
            return Err(LayoutError::Invalid {
                dir: path.into(),
                message: format!("{OCI_LAYOUT_SCHEME} needs a path: {OCI_LAYOUT_SCHEME}PATH[:TAG]"),
            });
        }
        let meta = std::fs::metadata(path).map_err(|_| LayoutError::Missing(path.into()))?;
        let files = if meta.is_dir() {
            Files::Dir(Layout::new(path))
        } else {
            let files =
                oci_tar::read_small_files(path).map_err(|message| LayoutError::Invalid {
                    dir: path.into(),
                    message: format!("neither a directory nor a readable tar archive: {message}"),
                })?;
            Files::Tar(files)
        };
        let source = Source {
            path: path.into(),
            files,
        };
        let has_marker = match &source.files {
            Files::Dir(layout) => layout.dir().join("oci-layout").is_file(),
            Files::Tar(files) => files.contains_key("oci-layout"),
        };
        // index.json missing says more than the marker missing: check it first.
        source.index()?;
        if !has_marker {
            return Err(LayoutError::NoMarker(path.into()));
        }
        Ok(source)
    }

    fn index(&self) -> Result<Index, LayoutError> {
        match &self.files {
            Files::Dir(layout) => layout.read_index(),
            Files::Tar(files) => {
                let bytes = files
                    .get("index.json")
                    .and_then(Option::as_deref)
                    .ok_or_else(|| LayoutError::NoIndex {
                        dir: self.path.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "not in the archive",
                        ),
                    })?;
                serde_json::from_slice(bytes).map_err(|source| LayoutError::BadIndex {
                    dir: self.path.clone(),
                    source,
                })
            }
        }
    }

    /// The blob `digest`, checked against its digest.
    fn blob(&self, digest: &str) -> Result<Vec<u8>, LayoutError> {
        let missing = || LayoutError::MissingBlob {
            dir: self.path.clone(),
            digest: digest.to_string(),
        };
        let bytes = match &self.files {
            Files::Dir(layout) => {
                layout.check_blob(digest)?;
                std::fs::read(layout.blob_path(digest)?).map_err(|_| missing())?
            }
            Files::Tar(files) => {
                // Validates the digest the same way as for a directory.
                Layout::new("").blob_path(digest)?;
                let name = format!("blobs/sha256/{}", &digest["sha256:".len()..]);
                match files.get(&name) {
                    Some(Some(bytes)) => bytes.clone(),
                    Some(None) => return Err(self.invalid(format!("{digest} is too large"))),
                    None => return Err(missing()),
                }
            }
        };
        if crate::llb::digest_of(&bytes) != digest {
            return Err(self.invalid(format!("blob {digest} does not match its digest")));
        }
        Ok(bytes)
    }

    fn manifest(&self, digest: &str) -> Result<Manifest, LayoutError> {
        Manifest::from_json(&self.blob(digest)?)
            .map_err(|e| self.invalid(format!("blob {digest}: {e}")))
    }

    fn invalid(&self, message: String) -> LayoutError {
        LayoutError::Invalid {
            dir: self.path.clone(),
            message,
        }
    }
}

/// Reads the image `reference` names: its index (or single manifest) and
/// each platform's manifest; `name` is what the summary calls it.
pub fn inspect_layout(reference: &LayoutRef, name: &str) -> Result<ImageSummary, LayoutError> {
    let source = Source::open(&reference.path)?;
    let top = match (&reference.digest, &reference.tag) {
        (Some(digest), _) => {
            let bytes = source.blob(digest)?;
            let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(str::to_string))
                .unwrap_or_default();
            Descriptor {
                media_type,
                digest: digest.clone(),
                size: bytes.len() as i64,
                ..Default::default()
            }
        }
        (None, Some(tag)) => resolve_in(&source.index()?, &reference.path, tag, false)?,
        (None, None) => resolve_in(&source.index()?, &reference.path, "latest", true)?,
    };
    let mut summary = ImageSummary {
        name: name.to_string(),
        media_type: top.media_type.clone(),
        digest: top.digest.clone(),
        platforms: Vec::new(),
        attestations: Vec::new(),
    };
    if !is_index_media_type(&top.media_type) {
        let manifest = source.manifest(&top.digest)?;
        let platform = match &top.platform {
            Some(p) => p.id(),
            None => config_platform(&source.blob(&manifest.config.digest)?),
        };
        summary.platforms.push(PlatformEntry {
            platform,
            digest: top.digest.clone(),
            media_type: top.media_type.clone(),
            manifest_size: top.size,
            size: manifest_content_size(&manifest),
            attests: None,
        });
        return Ok(summary);
    }
    let index = Index::from_json(&source.blob(&top.digest)?)
        .map_err(|e| source.invalid(format!("blob {}: {e}", top.digest)))?;
    for descriptor in &index.manifests {
        if is_index_media_type(&descriptor.media_type) {
            return Err(source.invalid(format!(
                "index {} holds another index ({}); only one level is supported",
                top.digest, descriptor.digest
            )));
        }
        let manifest = source.manifest(&descriptor.digest)?;
        let (entry, is_attestation) = index_entry(descriptor, &manifest);
        if is_attestation {
            summary.attestations.push(entry);
        } else {
            summary.platforms.push(entry);
        }
    }
    Ok(summary)
}

#[cfg(test)]
#[path = "layout_inspect_tests.rs"]
mod tests;
