//! Source ops: where filesystems come from — registry images, the client's
//! local directories, git repositories, HTTP downloads and OCI layouts.
//!
//! Attribute names and caps are BuildKit's (`solver/pb/attr.go`,
//! `solver/pb/caps.go`); they are wire format, so they are spelled out here
//! exactly, typos included.

use std::collections::BTreeMap;

use super::constraints::{Constrained, Constraints};
use super::image_ref::normalize_image_ref;
use super::state::{OpSpec, Output, SourceSpec, State};
use super::{LlbError, Result};

/// How BuildKit resolves an image tag to a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveMode {
    /// The daemon's default (no attribute is sent, as in Go).
    #[default]
    Default,
    /// Always ask the registry (`pull`).
    ForcePull,
    /// Use a local image when there is one (`local`).
    PreferLocal,
}

impl ResolveMode {
    /// The `image.resolvemode` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolveMode::Default => "default",
            ResolveMode::ForcePull => "pull",
            ResolveMode::PreferLocal => "local",
        }
    }
}

/// A registry image (`docker-image://`).
#[derive(Debug, Clone)]
pub struct Image {
    reference: String,
    resolve_mode: ResolveMode,
    record_type: Option<String>,
    layer_limit: Option<u32>,
    constraints: Constraints,
}

impl Image {
    /// An image by reference, normalised like Docker does (`busybox` →
    /// `docker.io/library/busybox:latest`).
    pub fn new(reference: &str) -> Result<Self> {
        Ok(Image {
            reference: normalize_image_ref(reference)?,
            resolve_mode: ResolveMode::Default,
            record_type: None,
            layer_limit: None,
            constraints: Constraints::new(),
        })
    }

    /// The normalised reference.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Sets `image.resolvemode`.
    pub fn resolve_mode(mut self, mode: ResolveMode) -> Self {
        self.resolve_mode = mode;
        self
    }

    /// Sets `image.recordtype` (e.g. `internal` for frontend images).
    pub fn record_type(mut self, record_type: &str) -> Self {
        self.record_type = Some(record_type.to_string());
        self
    }

    /// Uses only the first `limit` layers (`image.layerlimit`).
    pub fn layer_limit(mut self, limit: u32) -> Self {
        self.layer_limit = Some(limit);
        self
    }

    /// The state holding the image's root filesystem, on the image's
    /// platform when one was pinned.
    pub fn into_state(self) -> State {
        let mut attrs = BTreeMap::new();
        let mut caps = vec!["source.image"];
        if self.resolve_mode != ResolveMode::Default {
            attrs.insert(
                "image.resolvemode".to_string(),
                self.resolve_mode.as_str().to_string(),
            );
            if self.resolve_mode == ResolveMode::ForcePull {
                // Go requires the cap only for the security-relevant mode.
                caps.push("source.image.resolvemode");
            }
        }
        if let Some(rt) = self.record_type {
            attrs.insert("image.recordtype".to_string(), rt);
        }
        if let Some(limit) = self.layer_limit {
            attrs.insert("image.layerlimit".to_string(), limit.to_string());
            caps.push("source.image.layerlimit");
        }
        source_state(
            format!("docker-image://{}", self.reference),
            attrs,
            caps,
            true,
            self.constraints,
        )
    }
}

/// How the client decides which local files changed since the last upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Differ {
    /// Re-send every file.
    None,
    /// Compare metadata (size, mtime, mode, owner); BuildKit's default.
    Metadata,
}

/// A directory the client serves over the session (`local://name`).
#[derive(Debug, Clone)]
pub struct Local {
    name: String,
    session_id: Option<String>,
    unique_id: Option<String>,
    include_patterns: Vec<String>,
    exclude_patterns: Vec<String>,
    follow_paths: Vec<String>,
    shared_key_hint: Option<String>,
    differ: Option<(Differ, bool)>,
    constraints: Constraints,
}

impl Local {
    /// The local directory the session exposes under `name` (e.g. `context`).
    pub fn new(name: &str) -> Self {
        Local {
            name: name.to_string(),
            session_id: None,
            unique_id: None,
            include_patterns: Vec::new(),
            exclude_patterns: Vec::new(),
            follow_paths: Vec::new(),
            shared_key_hint: None,
            differ: None,
            constraints: Constraints::new(),
        }
    }

    /// Pins the session that serves the files (`local.session`).
    pub fn session_id(mut self, id: &str) -> Self {
        self.session_id = Some(id.to_string());
        self
    }

    /// Sets `local.unique`, which keeps two clients' same-named dirs apart.
    /// Go's llb fills it with a random id when no session is set; crossbuild
    /// only sends it when asked, so that digests stay reproducible.
    pub fn unique_id(mut self, id: &str) -> Self {
        self.unique_id = Some(id.to_string());
        self
    }

    /// Only transfer paths matching these patterns (`local.includepattern`).
    pub fn include_patterns<S: AsRef<str>>(mut self, patterns: &[S]) -> Self {
        self.include_patterns = patterns.iter().map(|p| p.as_ref().to_string()).collect();
        self
    }

    /// Never transfer paths matching these (`local.excludepatterns`).
    pub fn exclude_patterns<S: AsRef<str>>(mut self, patterns: &[S]) -> Self {
        self.exclude_patterns = patterns.iter().map(|p| p.as_ref().to_string()).collect();
        self
    }

    /// Transfer these paths, following symlinks (`local.followpaths`).
    pub fn follow_paths<S: AsRef<str>>(mut self, paths: &[S]) -> Self {
        self.follow_paths = paths.iter().map(|p| p.as_ref().to_string()).collect();
        self
    }

    /// Lets different sessions share one transfer cache (`local.sharedkeyhint`).
    pub fn shared_key_hint(mut self, hint: &str) -> Self {
        self.shared_key_hint = Some(hint.to_string());
        self
    }

    /// Chooses the differ (`local.differ`); `required` fails on daemons
    /// that do not know the attribute instead of silently ignoring it.
    pub fn differ(mut self, differ: Differ, required: bool) -> Self {
        self.differ = Some((differ, required));
        self
    }

    /// The state holding the transferred directory.
    pub fn into_state(self) -> State {
        let mut attrs = BTreeMap::new();
        let mut caps = vec!["source.local"];
        if let Some(s) = self.session_id {
            attrs.insert("local.session".to_string(), s);
            caps.push("source.local.sessionid");
        }
        if let Some(u) = self.unique_id {
            attrs.insert("local.unique".to_string(), u);
            caps.push("source.local.unique");
        }
        let mut json_list = |key: &str, cap: &'static str, list: Vec<String>| {
            if !list.is_empty() {
                attrs.insert(key.to_string(), json_array(&list));
                caps.push(cap);
            }
        };
        json_list(
            "local.includepattern",
            "source.local.includepatterns",
            self.include_patterns,
        );
        json_list(
            "local.followpaths",
            "source.local.followpaths",
            self.follow_paths,
        );
        json_list(
            "local.excludepatterns",
            "source.local.excludepatterns",
            self.exclude_patterns,
        );
        if let Some(h) = self.shared_key_hint {
            attrs.insert("local.sharedkeyhint".to_string(), h);
            caps.push("source.local.sharedkeyhint");
        }
        if let Some((differ, required)) = self.differ {
            let v = match differ {
                Differ::None => "none",
                Differ::Metadata => "metadata",
            };
            attrs.insert("local.differ".to_string(), v.to_string());
            if required {
                caps.push("source.local.differ");
            }
        }
        source_state(
            format!("local://{}", self.name),
            attrs,
            caps,
            false,
            self.constraints,
        )
    }
}

/// A file downloaded over HTTP(S).
#[derive(Debug, Clone)]
pub struct Http {
    url: String,
    checksum: Option<String>,
    filename: Option<String>,
    perm: Option<u32>,
    uid_gid: Option<(u32, u32)>,
    constraints: Constraints,
}

impl Http {
    /// A download of `url` (must be `http://` or `https://`).
    pub fn new(url: &str) -> Result<Self> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(LlbError::InvalidSource {
                kind: "http",
                value: url.to_string(),
                reason: "URL must start with http:// or https://".to_string(),
            });
        }
        Ok(Http {
            url: url.to_string(),
            checksum: None,
            filename: None,
            perm: None,
            uid_gid: None,
            constraints: Constraints::new(),
        })
    }

    /// Verifies the download against a digest (`http.checksum`, `sha256:...`).
    pub fn checksum(mut self, digest: &str) -> Self {
        self.checksum = Some(digest.to_string());
        self
    }

    /// Names the downloaded file (`http.filename`).
    pub fn filename(mut self, name: &str) -> Self {
        self.filename = Some(name.to_string());
        self
    }

    /// Sets the file's permission bits (`http.perm`, sent as octal).
    pub fn perm(mut self, mode: u32) -> Self {
        self.perm = Some(mode & 0o777);
        self
    }

    /// Sets the file's owner (`http.uid`, `http.gid`).
    pub fn chown(mut self, uid: u32, gid: u32) -> Self {
        self.uid_gid = Some((uid, gid));
        self
    }

    /// The state holding the downloaded file.
    pub fn into_state(self) -> State {
        let mut attrs = BTreeMap::new();
        let mut caps = vec!["source.http"];
        if let Some(c) = self.checksum {
            attrs.insert("http.checksum".to_string(), c);
            caps.push("source.http.checksum");
        }
        if let Some(f) = self.filename {
            attrs.insert("http.filename".to_string(), f);
        }
        if let Some(p) = self.perm.filter(|p| *p != 0) {
            attrs.insert("http.perm".to_string(), format!("0{p:o}"));
            caps.push("source.http.perm");
        }
        if let Some((uid, gid)) = self.uid_gid {
            // "soruce" is BuildKit's own spelling of this cap id.
            if uid != 0 {
                attrs.insert("http.uid".to_string(), uid.to_string());
                caps.push("soruce.http.uidgid");
            }
            if gid != 0 {
                attrs.insert("http.gid".to_string(), gid.to_string());
                caps.push("soruce.http.uidgid");
            }
        }
        source_state(self.url, attrs, caps, false, self.constraints)
    }
}

/// An image in an OCI layout the client serves (`oci-layout://`).
#[derive(Debug, Clone)]
pub struct OciLayout {
    reference: String,
    session_id: Option<String>,
    store_id: Option<String>,
    layer_limit: Option<u32>,
    constraints: Constraints,
}

impl OciLayout {
    /// An image `name@sha256:...` in a layout store; the digest is required
    /// because layouts are addressed by content.
    pub fn new(reference: &str) -> Result<Self> {
        if !reference.contains("@sha256:") {
            return Err(LlbError::InvalidSource {
                kind: "oci-layout",
                value: reference.to_string(),
                reason: "reference must carry a digest (name@sha256:...)".to_string(),
            });
        }
        Ok(OciLayout {
            reference: reference.to_string(),
            session_id: None,
            store_id: None,
            layer_limit: None,
            constraints: Constraints::new(),
        })
    }

    /// Which session and store serve the layout (`oci.session`, `oci.store`).
    pub fn store(mut self, session_id: &str, store_id: &str) -> Self {
        self.session_id = (!session_id.is_empty()).then(|| session_id.to_string());
        self.store_id = (!store_id.is_empty()).then(|| store_id.to_string());
        self
    }

    /// Uses only the first `limit` layers (`oci.layerlimit`).
    pub fn layer_limit(mut self, limit: u32) -> Self {
        self.layer_limit = Some(limit);
        self
    }

    /// The state holding the image's root filesystem.
    pub fn into_state(self) -> State {
        let mut attrs = BTreeMap::new();
        if let Some(s) = self.session_id {
            attrs.insert("oci.session".to_string(), s);
        }
        if let Some(s) = self.store_id {
            attrs.insert("oci.store".to_string(), s);
        }
        if let Some(l) = self.layer_limit {
            attrs.insert("oci.layerlimit".to_string(), l.to_string());
        }
        let id = format!("oci-layout://{}", self.reference);
        source_state(id, attrs, vec!["source.ocilayout"], true, self.constraints)
    }
}

macro_rules! constrained {
    ($($t:ty),*) => {$(
        impl Constrained for $t {
            fn constraints_mut(&mut self) -> &mut Constraints {
                &mut self.constraints
            }
        }
    )*};
}
constrained!(Image, Local, Http, OciLayout);

pub(crate) fn source_state(
    identifier: String,
    attrs: BTreeMap<String, String>,
    caps: Vec<&'static str>,
    platform_specific: bool,
    constraints: Constraints,
) -> State {
    let platform = if platform_specific {
        constraints.platform.clone()
    } else {
        None
    };
    let spec = SourceSpec {
        identifier,
        attrs,
        caps,
        platform_specific,
    };
    State::from_output(Output::new(OpSpec::Source(spec), constraints, 0), platform)
}

/// A JSON array of strings, byte-for-byte as Go's `json.Marshal([]string)`
/// writes it (Go escapes `<`, `>` and `&`; they only occur inside strings).
fn json_array(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec())
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}
