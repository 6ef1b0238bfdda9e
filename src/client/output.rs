//! `--output`/`-o`, `--push`, `--load` and `--tag` turned into BuildKit
//! exporter requests, with buildx's syntax and semantics
//! (buildx `util/buildflags/export.go`, `build/output.go`, `commands/build.go`,
//! `build/opt.go`).
//!
//! BuildKit only sees `Exporter{type, attrs}`; where the exported bytes go on
//! the client (a directory, a file, stdout, the Docker engine) is decided
//! here and carried as an [`ExportTarget`], because the daemon streams the
//! result back over the session (FileSend) and the client must route each
//! stream by exporter index.
//!
//! Deliberate differences from buildx, each to turn a silent surprise into an
//! error: a key given twice in one `-o` value, `dest=` on an exporter that
//! writes nothing locally, a non-boolean value for a known boolean attribute
//! (BuildKit would reject it later, after the context upload) and an empty
//! `-o ""` are errors.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;

use bollard_buildkit_proto::moby::buildkit::v1::Exporter;
use thiserror::Error;

use super::csv_fields::{split_fields, CsvError};

/// The BuildKit exporter an output asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExporterKind {
    /// `image`: an image in the daemon's image store, optionally pushed.
    /// `type=registry` is this with `push=true`.
    Image,
    /// `local`: the result's filesystem, copied into a client directory.
    Local,
    /// `tar`: the result's filesystem as a tarball.
    Tar,
    /// `oci`: an OCI image layout (tarball, or directory with `tar=false`).
    Oci,
    /// `docker`: a `docker load` tarball, or loaded into the Docker engine.
    Docker,
    /// `cacheonly`: no exporter at all; only fills the build cache. Never
    /// sent to BuildKit (it does not know the name); [`resolve_exports`]
    /// drops it.
    CacheOnly,
    /// `moby`: the image exporter of a Docker engine's embedded BuildKit,
    /// which writes into the engine's image store. Not accepted from the
    /// command line; produced by [`adapt_for_docker_engine`].
    Moby,
}

impl ExporterKind {
    /// The exporter name BuildKit uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ExporterKind::Image => "image",
            ExporterKind::Local => "local",
            ExporterKind::Tar => "tar",
            ExporterKind::Oci => "oci",
            ExporterKind::Docker => "docker",
            ExporterKind::CacheOnly => "cacheonly",
            ExporterKind::Moby => "moby",
        }
    }
}

impl fmt::Display for ExporterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the client puts what the daemon exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// Nothing comes back to the client (`image`, `cacheonly`).
    None,
    /// FileSend streams of fsutil packets, written below this directory
    /// (`local`).
    Directory(PathBuf),
    /// A single FileSend byte stream written to this file (`tar`, and
    /// `oci`/`docker` as tarballs).
    File(PathBuf),
    /// A single FileSend byte stream copied to the client's stdout.
    Stdout,
    /// A `docker` tarball streamed into the local Docker engine's image load.
    DockerLoad,
    /// An OCI layout directory filled through the session's content store
    /// (`oci`/`docker` with `tar=false`), not through FileSend.
    OciLayout(PathBuf),
}

/// One exporter request: what goes to BuildKit plus the client-side target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    /// The exporter type.
    pub kind: ExporterKind,
    /// `Exporter.attrs` exactly as sent to BuildKit; `dest` is never in here
    /// because it is handled on the client (see [`ExportSpec::target`]).
    pub attrs: BTreeMap<String, String>,
    /// Where the exported bytes go on the client.
    pub target: ExportTarget,
}

/// Why an output flag value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OutputError {
    /// `-o ""`.
    #[error("empty output value; expected e.g. type=image,name=repo/app or a directory")]
    Empty,
    /// The value is not valid CSV.
    #[error("invalid output value: {0}")]
    Csv(#[from] CsvError),
    /// A field without `=`, or with an empty key.
    #[error("invalid output field {field:?}: expected key=value")]
    InvalidField {
        /// The offending field.
        field: String,
    },
    /// No `type=` field.
    #[error("type is required for output {input:?}")]
    MissingType {
        /// The whole value.
        input: String,
    },
    /// A type crossbuild does not know.
    #[error("unknown output type {ty:?}; expected image, registry, local, tar, oci, docker or cacheonly")]
    UnknownType {
        /// The type as written.
        ty: String,
    },
    /// A key given twice in one value.
    #[error("output key {key:?} given more than once in {input:?}")]
    DuplicateKey {
        /// The key (lowercased).
        key: String,
        /// The whole value.
        input: String,
    },
    /// A directory exporter without `dest=`.
    #[error("dest is required for {kind} exporter")]
    MissingDest {
        /// The exporter.
        kind: ExporterKind,
    },
    /// `dest=-` for an exporter that writes a directory.
    #[error("dest cannot be stdout for {kind} exporter")]
    StdoutNotSupported {
        /// The exporter.
        kind: ExporterKind,
    },
    /// `dest=` for an exporter that writes nothing on the client.
    #[error("dest is not supported by the {kind} exporter")]
    DestNotSupported {
        /// The exporter.
        kind: ExporterKind,
    },
    /// A known boolean attribute with a value Go's `strconv.ParseBool` rejects.
    #[error("invalid boolean value {value:?} for {key}")]
    InvalidBool {
        /// The attribute.
        key: String,
        /// The value as written.
        value: String,
    },
    /// Two outputs would both write to stdout.
    #[error("multiple outputs configured to write to stdout")]
    MultipleStdout,
    /// A `--tag` that is not a valid image reference.
    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag {
        /// The tag as given.
        tag: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Pushing an image that has no name.
    #[error("tag is needed when pushing to registry")]
    TagRequiredForPush,
}

/// Attributes BuildKit's exporters parse with `strconv.ParseBool`; checked
/// here so a typo fails before the context upload rather than after.
const BOOL_ATTRS: &[&str] = &[
    "push",
    "push-by-digest",
    "insecure",
    "registry.insecure",
    "unpack",
    "store",
    "oci-mediatypes",
    "oci-artifact",
    "force-compression",
    "rewrite-timestamp",
    "name-canonical",
    "tar",
    "platform-split",
];

/// Parses a boolean like Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl ExportSpec {
    /// Parses one `--output` value: `type=...,key=value,...`, or the
    /// shorthands `<dir>` (local export into dir) and `-` (tar to stdout).
    pub fn parse(input: &str) -> Result<ExportSpec, OutputError> {
        if input.is_empty() {
            return Err(OutputError::Empty);
        }
        let fields = split_fields(input)?;
        // buildx: a single field equal to the raw input (so no quoting or
        // commas) that does not start with `type=` is a shorthand.
        if fields.len() == 1 && fields[0] == input && !input.starts_with("type=") {
            if input == "-" {
                return Ok(ExportSpec {
                    kind: ExporterKind::Tar,
                    attrs: BTreeMap::new(),
                    target: ExportTarget::Stdout,
                });
            }
            return Ok(ExportSpec {
                kind: ExporterKind::Local,
                attrs: BTreeMap::new(),
                target: ExportTarget::Directory(PathBuf::from(input)),
            });
        }

        let mut ty: Option<String> = None;
        let mut dest: Option<String> = None;
        let mut attrs = BTreeMap::new();
        for field in fields {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => (k.trim().to_lowercase(), v.to_string()),
                _ => return Err(OutputError::InvalidField { field }),
            };
            let duplicate = match key.as_str() {
                "type" => ty.replace(value).is_some(),
                "dest" => dest.replace(value).is_some(),
                _ => attrs.insert(key.clone(), value).is_some(),
            };
            if duplicate {
                return Err(OutputError::DuplicateKey {
                    key,
                    input: input.to_string(),
                });
            }
        }
        for (key, value) in &attrs {
            if BOOL_ATTRS.contains(&key.as_str()) && parse_go_bool(value).is_none() {
                return Err(OutputError::InvalidBool {
                    key: key.clone(),
                    value: value.clone(),
                });
            }
        }

        let ty = match ty {
            Some(t) if !t.is_empty() => t,
            _ => {
                return Err(OutputError::MissingType {
                    input: input.to_string(),
                })
            }
        };
        let kind = match ty.as_str() {
            "image" => ExporterKind::Image,
            "registry" => {
                attrs.insert("push".to_string(), "true".to_string());
                ExporterKind::Image
            }
            "local" => ExporterKind::Local,
            "tar" => ExporterKind::Tar,
            "oci" => ExporterKind::Oci,
            "docker" => ExporterKind::Docker,
            "cacheonly" => ExporterKind::CacheOnly,
            _ => return Err(OutputError::UnknownType { ty }),
        };
        // buildx treats `dest=` like no dest at all.
        let dest = dest.filter(|d| !d.is_empty());
        let target = export_target(kind, &attrs, dest)?;
        Ok(ExportSpec {
            kind,
            attrs,
            target,
        })
    }

    /// The `Exporter` message for `SolveRequest.exporters`.
    pub fn to_pb(&self) -> Exporter {
        Exporter {
            r#type: self.kind.as_str().to_string(),
            attrs: self
                .attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        }
    }

    /// Whether this output pushes to a registry (`push=true`).
    pub fn pushes(&self) -> bool {
        self.attrs
            .get("push")
            .and_then(|v| parse_go_bool(v))
            .unwrap_or(false)
    }
}

/// Decides the client-side target from the exporter kind and `dest`, with
/// buildx's `CreateExports` rules.
fn export_target(
    kind: ExporterKind,
    attrs: &BTreeMap<String, String>,
    dest: Option<String>,
) -> Result<ExportTarget, OutputError> {
    // oci/docker write a tarball unless tar=false; buildx treats an
    // unparsable value as true, but BOOL_ATTRS has rejected those already.
    let tarball = attrs
        .get("tar")
        .and_then(|v| parse_go_bool(v))
        .unwrap_or(true);
    match kind {
        ExporterKind::Local => directory_target(kind, dest).map(ExportTarget::Directory),
        ExporterKind::Oci | ExporterKind::Docker if !tarball => {
            directory_target(kind, dest).map(ExportTarget::OciLayout)
        }
        ExporterKind::Tar | ExporterKind::Oci | ExporterKind::Docker => Ok(match dest.as_deref() {
            Some("-") => ExportTarget::Stdout,
            Some(path) => ExportTarget::File(PathBuf::from(path)),
            // A docker tarball with nowhere to go is loaded into the engine;
            // the others default to stdout.
            None if kind == ExporterKind::Docker => ExportTarget::DockerLoad,
            None => ExportTarget::Stdout,
        }),
        ExporterKind::Image | ExporterKind::CacheOnly | ExporterKind::Moby => match dest {
            Some(_) => Err(OutputError::DestNotSupported { kind }),
            None => Ok(ExportTarget::None),
        },
    }
}

fn directory_target(kind: ExporterKind, dest: Option<String>) -> Result<PathBuf, OutputError> {
    match dest.as_deref() {
        None => Err(OutputError::MissingDest { kind }),
        Some("-") => Err(OutputError::StdoutNotSupported { kind }),
        Some(path) => Ok(PathBuf::from(path)),
    }
}

/// The output-related flags of `crossbuild build`, as the CLI collected them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputFlags {
    /// Each `--output`/`-o` value, in order.
    pub outputs: Vec<String>,
    /// `--push`: shorthand for `--output type=image,push=true`.
    pub push: bool,
    /// `--load`: shorthand for `--output type=docker`.
    pub load: bool,
    /// Each `--tag`/`-t` value, in order.
    pub tags: Vec<String>,
}

/// Resolves all output flags into the exporters of one build, like buildx:
/// `--push` sets `push=true` on every image output (or adds one), `--load`
/// adds a docker output unless one already loads into the engine, tags
/// become the comma-joined `name` of image/oci/docker outputs (replacing a
/// `name=` given in `-o`, as buildx does), and `cacheonly` outputs are
/// dropped.
///
/// No outputs at all yields an empty list; what that means (build only, or
/// an implicit image/load) depends on the daemon and is the caller's call.
pub fn resolve_exports(flags: &OutputFlags) -> Result<Vec<ExportSpec>, OutputError> {
    let mut specs = flags
        .outputs
        .iter()
        .map(|o| ExportSpec::parse(o))
        .collect::<Result<Vec<_>, _>>()?;

    if flags.push {
        let mut used = false;
        for spec in specs.iter_mut().filter(|s| s.kind == ExporterKind::Image) {
            spec.attrs.insert("push".to_string(), "true".to_string());
            used = true;
        }
        if !used {
            specs.push(ExportSpec {
                kind: ExporterKind::Image,
                attrs: BTreeMap::from([("push".to_string(), "true".to_string())]),
                target: ExportTarget::None,
            });
        }
    }
    if flags.load && !specs.iter().any(|s| s.target == ExportTarget::DockerLoad) {
        specs.push(ExportSpec {
            kind: ExporterKind::Docker,
            attrs: BTreeMap::new(),
            target: ExportTarget::DockerLoad,
        });
    }

    if specs
        .iter()
        .filter(|s| s.target == ExportTarget::Stdout)
        .count()
        > 1
    {
        return Err(OutputError::MultipleStdout);
    }

    if flags.tags.is_empty() {
        let unnamed_push = specs.iter().any(|s| {
            s.kind == ExporterKind::Image
                && s.pushes()
                && s.attrs.get("name").is_none_or(|n| n.is_empty())
        });
        if unnamed_push {
            return Err(OutputError::TagRequiredForPush);
        }
    } else {
        for tag in &flags.tags {
            validate_tag(tag)?;
        }
        let name = flags.tags.join(",");
        for spec in specs.iter_mut().filter(|s| {
            matches!(
                s.kind,
                ExporterKind::Image | ExporterKind::Oci | ExporterKind::Docker
            )
        }) {
            spec.attrs.insert("name".to_string(), name.clone());
        }
    }

    specs.retain(|s| s.kind != ExporterKind::CacheOnly);
    Ok(specs)
}

/// Rewrites exporters for a Docker engine's embedded BuildKit, as buildx does
/// for its `docker` driver: `image` becomes `moby` (the engine's own image
/// store), and a docker output that would be loaded into the engine becomes
/// `moby` too, since the image is already there. A pushed `image` with
/// `push-by-digest=true` stays `image`: the engine's `moby` exporter names
/// every image with a tag and so cannot push by digest, while BuildKit's own
/// image exporter, which the engine's BuildKit also serves, can (tested by
/// the `--node` builds, which push this way; buildx refuses it instead).
pub fn adapt_for_docker_engine(specs: Vec<ExportSpec>) -> Result<Vec<ExportSpec>, OutputError> {
    specs
        .into_iter()
        .map(|mut spec| {
            let by_digest = spec
                .attrs
                .get("push-by-digest")
                .and_then(|v| parse_go_bool(v))
                .unwrap_or(false);
            if spec.kind == ExporterKind::Image && spec.pushes() && by_digest {
                return Ok(spec);
            }
            let into_engine = spec.kind == ExporterKind::Image
                || (spec.kind == ExporterKind::Docker && spec.target == ExportTarget::DockerLoad);
            if into_engine {
                spec.kind = ExporterKind::Moby;
                spec.target = ExportTarget::None;
            }
            Ok(spec)
        })
        .collect()
}

/// Checks a `--tag` against the image reference grammar closely enough to
/// catch what users get wrong (empty, spaces, upper case repository, bad tag
/// or digest), like buildx's `reference.Parse`.
pub fn validate_tag(tag: &str) -> Result<(), OutputError> {
    let fail = |reason| {
        Err(OutputError::InvalidTag {
            tag: tag.to_string(),
            reason,
        })
    };
    if tag.is_empty() {
        return fail("empty reference");
    }
    if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("contains whitespace");
    }
    let (name, digest) = match tag.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (tag, None),
    };
    if let Some(d) = digest {
        let valid = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
                && alg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
        });
        if !valid {
            return fail("invalid digest");
        }
    }
    // A `:` after the last `/` starts the tag; before it, it is a port.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag_part) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag_part {
        let mut chars = t.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok
            || t.len() > 128
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return fail("invalid tag format");
        }
    }
    // The first component is a registry host if it looks like one; only the
    // path after it must be lower case.
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => repo,
    };
    if path.is_empty() || path.split('/').any(|c| c.is_empty()) {
        return fail("invalid reference format");
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return fail("repository name must be lowercase");
    }
    if !path
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))
    {
        return fail("invalid reference format");
    }
    Ok(())
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
