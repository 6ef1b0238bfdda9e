//! OCI image layout directories on the client (`oci-layout`, `index.json`,
//! `blobs/sha256/...`): finding an image in one by tag, and recording in
//! `index.json` what an export put into its blobs, the way BuildKit's
//! client does it (`client/ociindex`): a tag is an
//! `org.opencontainers.image.ref.name` annotation, an image name also gets
//! `io.containerd.image.name`, and a new entry replaces the old one of the
//! same name.

use std::path::{Path, PathBuf};

use super::{Descriptor, Index, MEDIA_TYPE_OCI_INDEX};

/// The annotation with the full image name (containerd's).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation with the tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Why a layout could not be read or updated.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// No readable `index.json`.
    #[error("{dir} is not an OCI layout: cannot read index.json: {source}")]
    NoIndex {
        /// The layout directory.
        dir: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// `index.json` is not an image index.
    #[error("{dir}/index.json is not a valid image index: {source}")]
    BadIndex {
        /// The layout directory.
        dir: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// No image under that tag (and not just one image to fall back on).
    #[error("{dir}/index.json has no image tagged {tag:?}")]
    NoTag {
        /// The layout directory.
        dir: PathBuf,
        /// The tag looked for.
        tag: String,
    },
    /// Not a `sha256:<64 hex>` digest.
    #[error("invalid digest {0:?}; expected sha256:<64 hex digits>")]
    InvalidDigest(String),
    /// The digest names no blob of the layout.
    #[error("{digest} is not in {dir}/blobs")]
    MissingBlob {
        /// The layout directory.
        dir: PathBuf,
        /// The digest looked for.
        digest: String,
    },
    /// The path names nothing.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// A directory or archive without the `oci-layout` marker file.
    #[error("{0} is not an OCI layout: it has no oci-layout file")]
    NoMarker(PathBuf),
    /// A blob or archive that cannot be read or is not what it should be.
    #[error("{}{message}", if dir.as_os_str().is_empty() { String::new() } else { format!("{}: ", dir.display()) })]
    Invalid {
        /// The layout directory or archive.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing `index.json` or `oci-layout` failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
}

/// How an index entry is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutName {
    /// Only a tag (`latest`): cache exports, unnamed images.
    Tag(String),
    /// A full image name (`docker.io/library/app:v1`): the tag part becomes
    /// the ref name.
    Image(String),
}

/// An OCI layout directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout in `dir` (which need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Layout { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads `index.json`.
    pub fn read_index(&self) -> Result<Index, LayoutError> {
        let bytes =
            std::fs::read(self.dir.join("index.json")).map_err(|source| LayoutError::NoIndex {
                dir: self.dir.clone(),
                source,
            })?;
        serde_json::from_slice(&bytes).map_err(|source| LayoutError::BadIndex {
            dir: self.dir.clone(),
            source,
        })
    }

    /// The entry with this image name or tag, as BuildKit's `Get` looks it
    /// up: the containerd name first, then the OCI ref name.
    pub fn find(&self, tag: &str) -> Result<Option<Descriptor>, LayoutError> {
        Ok(find_in(&self.read_index()?, tag))
    }

    /// The entry for `tag`; with `or_single`, the only entry when none is
    /// tagged so (buildx's rule for `oci-layout://` contexts).
    pub fn resolve(&self, tag: &str, or_single: bool) -> Result<Descriptor, LayoutError> {
        resolve_in(&self.read_index()?, &self.dir, tag, or_single)
    }

    /// Where a blob lives; only sha256 digests in lower-case hex are
    /// accepted, so a digest never names a path outside `blobs/sha256`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, LayoutError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or_else(|| LayoutError::InvalidDigest(digest.to_string()))?;
        Ok(self.dir.join("blobs/sha256").join(hex))
    }

    /// Fails unless the blob is a regular file of the layout.
    pub fn check_blob(&self, digest: &str) -> Result<(), LayoutError> {
        let path = self.blob_path(digest)?;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(()),
            _ => Err(LayoutError::MissingBlob {
                dir: self.dir.clone(),
                digest: digest.to_string(),
            }),
        }
    }

    /// Records `descriptor` in `index.json` under each name (or unnamed,
    /// with no names), replacing entries of the same name, and writes the
    /// `oci-layout` marker.
    pub fn put(&self, descriptor: &Descriptor, names: &[LayoutName]) -> Result<(), LayoutError> {
        let write_error = |path: PathBuf| move |source| LayoutError::Write { path, source };
        std::fs::create_dir_all(&self.dir).map_err(write_error(self.dir.clone()))?;
        let marker = self.dir.join("oci-layout");
        std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(write_error(marker.clone()))?;
        let mut index = match self.read_index() {
            Ok(index) => index,
            Err(LayoutError::NoIndex { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Index {
                    schema_version: 2,
                    media_type: MEDIA_TYPE_OCI_INDEX.to_string(),
                    artifact_type: String::new(),
                    manifests: Vec::new(),
                    subject: None,
                    annotations: Default::default(),
                    extra: Default::default(),
                }
            }
            Err(other) => return Err(other),
        };
        if index.schema_version == 0 {
            index.schema_version = 2;
        }
        if index.media_type.is_empty() {
            index.media_type = MEDIA_TYPE_OCI_INDEX.to_string();
        }
        if names.is_empty() {
            index.manifests.push(descriptor.clone());
        }
        for name in names {
            let (image_name, ref_name) = match name {
                LayoutName::Tag(tag) => (String::new(), tag.clone()),
                LayoutName::Image(image) => (image.clone(), reference_object(image)),
            };
            index.manifests.retain(|m| {
                m.annotations
                    .get(ANNOTATION_REF_NAME)
                    .cloned()
                    .unwrap_or_default()
                    != ref_name
                    || m.annotations
                        .get(ANNOTATION_IMAGE_NAME)
                        .cloned()
                        .unwrap_or_default()
                        != image_name
            });
            let mut entry = descriptor.clone();
            if !image_name.is_empty() {
                entry
                    .annotations
                    .insert(ANNOTATION_IMAGE_NAME.to_string(), image_name);
            }
            entry
                .annotations
                .insert(ANNOTATION_REF_NAME.to_string(), ref_name);
            index.manifests.push(entry);
        }
        let path = self.dir.join("index.json");
        let json = serde_json::to_vec(&index).map_err(|e| LayoutError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        // Replace atomically, so a reader never sees half an index.
        let temporary = self.dir.join(".index.json.tmp");
        std::fs::write(&temporary, json).map_err(write_error(temporary.clone()))?;
        std::fs::rename(&temporary, &path).map_err(write_error(path.clone()))
    }
}

/// The entry of `index` (a layout's `index.json`) with this image name or
/// tag, as BuildKit's `Get` looks it up: the containerd name first, then
/// the OCI ref name.
pub fn find_in(index: &Index, tag: &str) -> Option<Descriptor> {
    let by = |key: &str| {
        index
            .manifests
            .iter()
            .find(|m| m.annotations.get(key).map(String::as_str) == Some(tag))
            .cloned()
    };
    by(ANNOTATION_IMAGE_NAME).or_else(|| by(ANNOTATION_REF_NAME))
}

/// [`Layout::resolve`] on an `index.json` already read from `dir` (a
/// directory or an archive of one; `dir` is only for the message).
pub fn resolve_in(
    index: &Index,
    dir: &Path,
    tag: &str,
    or_single: bool,
) -> Result<Descriptor, LayoutError> {
    if let Some(found) = find_in(index, tag) {
        return Ok(found);
    }
    match index.manifests.as_slice() {
        [single] if or_single => Ok(single.clone()),
        _ => Err(LayoutError::NoTag {
            dir: dir.to_path_buf(),
            tag: tag.to_string(),
        }),
    }
}

/// The tag (or `@digest`) part of an image name, as containerd's
/// `reference.Parse(...).Object` gives it; the whole name when it has no
/// host part to split off.
fn reference_object(name: &str) -> String {
    let Some((_, path)) = name.split_once('/') else {
        return name.to_string();
    };
    match path.find([':', '@']) {
        Some(i) => path[i..]
            .strip_prefix(':')
            .unwrap_or(&path[i..])
            .to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(digest_char: char) -> Descriptor {
        Descriptor {
            media_type: MEDIA_TYPE_OCI_INDEX.to_string(),
            digest: format!("sha256:{}", digest_char.to_string().repeat(64)),
            size: 10,
            ..Default::default()
        }
    }

    #[test]
    fn reference_objects_like_containerd() {
        assert_eq!(reference_object("docker.io/library/app:v1"), "v1");
        assert_eq!(reference_object("localhost:5000/app:latest"), "latest");
        assert_eq!(
            reference_object("localhost:5000/app@sha256:00"),
            "@sha256:00"
        );
        assert_eq!(reference_object("docker.io/library/app"), "");
        assert_eq!(reference_object("app:v1"), "app:v1");
    }

    #[test]
    fn put_names_replaces_and_find_looks_names_up() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("l"));
        layout
            .put(&descriptor('a'), &[LayoutName::Tag("latest".into())])
            .unwrap();
        layout
            .put(
                &descriptor('b'),
                &[LayoutName::Image("docker.io/library/app:v1".into())],
            )
            .unwrap();
        layout
            .put(&descriptor('c'), &[LayoutName::Tag("latest".into())])
            .unwrap();
        let index = layout.read_index().unwrap();
        assert_eq!(index.schema_version, 2);
        assert_eq!(index.manifests.len(), 2, "{index:?}");
        assert_eq!(
            layout.find("latest").unwrap().unwrap().digest,
            descriptor('c').digest
        );
        assert_eq!(
            layout.find("v1").unwrap().unwrap().digest,
            descriptor('b').digest
        );
        assert_eq!(
            layout
                .find("docker.io/library/app:v1")
                .unwrap()
                .unwrap()
                .annotations[ANNOTATION_REF_NAME],
            "v1"
        );
        assert!(layout.find("v2").unwrap().is_none());
        assert!(matches!(
            layout.resolve("v2", true),
            Err(LayoutError::NoTag { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("l/oci-layout")).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
    }

    #[test]
    fn a_single_entry_can_stand_in_for_a_missing_tag() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout
            .put(&descriptor('d'), &[LayoutName::Tag("v1".into())])
            .unwrap();
        assert_eq!(
            layout.resolve("latest", true).unwrap().digest,
            descriptor('d').digest
        );
        assert!(layout.resolve("latest", false).is_err());
    }

    #[test]
    fn missing_index_and_blobs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let err = layout.read_index().unwrap_err();
        assert!(err.to_string().contains("is not an OCI layout"), "{err}");
        let err = layout.check_blob(&descriptor('e').digest).unwrap_err();
        assert!(err.to_string().contains("is not in"), "{err}");
        assert!(matches!(
            layout.check_blob("sha256:../x"),
            Err(LayoutError::InvalidDigest(_))
        ));
    }
}
