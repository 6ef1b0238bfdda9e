//! The non-output flags of `crossbuild build` (`--build-arg`, `--label`,
//! `--secret`, `--ssh`, `--build-context`, `--cache-from/--cache-to`,
//! `--add-host`, ...) parsed with buildx's syntax, and turned into the
//! frontend attributes BuildKit's Dockerfile frontend reads, exactly as buildx
//! sends them (buildx `build/opt.go` `toSolveOpt`/`loadInputs`,
//! `util/buildflags`, `build/utils.go`).
//!
//! The frontend attribute map is the contract between the client and any
//! Dockerfile frontend (ours in-process, `dockerfile.v0`, or a `# syntax=`
//! image), so matching buildx key for key keeps all three interchangeable.
//!
//! Values that come from the environment are looked up through an `env`
//! function instead of `std::env` directly, so tests stay hermetic; pass
//! [`process_env`] in production.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use thiserror::Error;

pub use super::cache_options::{
    cache_imports_attr, parse_cache_entries, prepare_local_cache, CacheEntry, LocalCache,
};
use super::csv_fields::{split_fields, CsvError};
use super::output::parse_go_bool;
use super::session::content_store::ContentStoreDir;
use crate::image::layout::Layout;

/// Why a build flag value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildOptionError {
    /// The value is not valid CSV.
    #[error("invalid {flag} value: {source}")]
    Csv {
        /// The flag, e.g. `--secret`.
        flag: &'static str,
        /// What the csv reader found.
        source: CsvError,
    },
    /// A value that is empty or lacks a required part.
    #[error("invalid {flag} value {value:?}: {reason}")]
    Invalid {
        /// The flag, e.g. `--add-host`.
        flag: &'static str,
        /// The value (or the offending field of it).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key a CSV-style flag does not know.
    #[error("unexpected key {key:?} in {flag} value {value:?}")]
    UnknownKey {
        /// The flag.
        flag: &'static str,
        /// The key.
        key: String,
        /// The whole value.
        value: String,
    },
    /// A `--secret type=` other than `file` or `env`.
    #[error("unsupported secret type {0:?}; expected file or env")]
    SecretType(String),
    /// A `--network` mode BuildKit does not offer.
    #[error("network mode {0:?} not supported by BuildKit; expected default, host or none")]
    NetworkMode(String),
    /// `--add-host name:host-gateway` without a known gateway address.
    #[error("unable to derive the IP value for host-gateway in {0:?}")]
    HostGatewayUnknown(String),
    /// A `--ulimit` value that Docker's parser refuses.
    #[error("invalid --ulimit value {value:?}: {message}")]
    Ulimit {
        /// The value.
        value: String,
        /// go-units' reason.
        message: String,
    },
    /// An OCI layout context whose digest the client has not resolved yet.
    #[error(
        "build context {0:?}: oci-layout digest not resolved (read the layout's index.json first)"
    )]
    UnresolvedOciLayout(String),
    /// A `type=local` cache entry that cannot be served.
    #[error("{0}")]
    LocalCache(String),
    /// A `--build-context` whose value cannot be a source: a malformed
    /// image reference or URL, a directory that does not exist.
    #[error("build context {name:?}: {message}")]
    Context {
        /// The context's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An `oci-layout://` build context that cannot be served.
    #[error("build context {name:?}: {message}")]
    OciLayout {
        /// The context's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

pub(super) fn invalid(flag: &'static str, value: &str, reason: &'static str) -> BuildOptionError {
    BuildOptionError::Invalid {
        flag,
        value: value.to_string(),
        reason,
    }
}

pub(super) fn csv(flag: &'static str, value: &str) -> Result<Vec<String>, BuildOptionError> {
    split_fields(value).map_err(|source| BuildOptionError::Csv { flag, source })
}

/// Looks a variable up in this process's environment (non-UTF-8 values count
/// as unset).
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Parses `--build-arg KEY=VALUE` / `--build-arg KEY`. A bare `KEY` takes its
/// value from `env` and is left out when unset, as in buildx; a later value
/// for the same key wins. Like buildx, a non-empty `SOURCE_DATE_EPOCH` in
/// `env` becomes the build arg of that name unless one is given.
pub fn parse_build_args(
    values: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, BuildOptionError> {
    let mut args = BTreeMap::new();
    for value in values {
        match value.split_once('=') {
            Some(("", _)) => return Err(invalid("--build-arg", value, "empty name")),
            Some((k, v)) => {
                args.insert(k.to_string(), v.to_string());
            }
            None if value.is_empty() => return Err(invalid("--build-arg", value, "empty name")),
            None => {
                if let Some(v) = env(value) {
                    args.insert(value.clone(), v);
                }
            }
        }
    }
    if let Some(epoch) = env("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
        args.entry("SOURCE_DATE_EPOCH".to_string()).or_insert(epoch);
    }
    Ok(args)
}

/// Parses `--label KEY=VALUE` / `--label KEY` (empty value, never from the
/// environment, as in buildx).
pub fn parse_labels(values: &[String]) -> Result<BTreeMap<String, String>, BuildOptionError> {
    let mut labels = BTreeMap::new();
    for value in values {
        let (k, v) = value.split_once('=').unwrap_or((value.as_str(), ""));
        if k.is_empty() {
            return Err(invalid("--label", value, "empty name"));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(labels)
}

/// Where a secret's value comes from; read only when the daemon asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `src=path`: the file's contents.
    File(PathBuf),
    /// `env=VAR`: the variable's value.
    Env(String),
    /// Neither given: BuildKit's rule is the variable named like the id if it
    /// is set, else the file named like the id.
    ById,
}

/// One `--secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// The id a `RUN --mount=type=secret,id=...` asks for.
    pub id: String,
    /// Where the value comes from.
    pub source: SecretSource,
}

/// Parses `--secret id=x[,src=path|,env=VAR][,type=file|env]`.
///
/// `type=env,src=VAR` means the variable `VAR` (buildx's rule). Giving both
/// a file and a variable is an error here; BuildKit would silently prefer one.
pub fn parse_secret(value: &str) -> Result<SecretSpec, BuildOptionError> {
    const FLAG: &str = "--secret";
    if value.is_empty() {
        return Err(invalid(FLAG, value, "empty value"));
    }
    let (mut id, mut src, mut env, mut ty) = (None, None, None, None);
    for field in csv(FLAG, value)? {
        let Some((key, v)) = field.split_once('=') else {
            return Err(invalid(FLAG, &field, "expected key=value"));
        };
        match key.to_lowercase().as_str() {
            "type" if v == "file" || v == "env" => ty = Some(v.to_string()),
            "type" => return Err(BuildOptionError::SecretType(v.to_string())),
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            other => {
                return Err(BuildOptionError::UnknownKey {
                    flag: FLAG,
                    key: other.to_string(),
                    value: value.to_string(),
                })
            }
        }
    }
    let (src, env) = match (ty.as_deref(), src, env) {
        (Some("env"), src, None) => (None, src),
        (_, src, env) => (src, env),
    };
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid(FLAG, value, "id is required"))?;
    let source = match (src.filter(|s| !s.is_empty()), env.filter(|e| !e.is_empty())) {
        (Some(_), Some(_)) => return Err(invalid(FLAG, value, "cannot use both src and env")),
        (Some(path), None) => SecretSource::File(PathBuf::from(path)),
        (None, Some(var)) => SecretSource::Env(var),
        (None, None) => SecretSource::ById,
    };
    Ok(SecretSpec { id, source })
}

/// One `--ssh`: an agent socket or key files exposed under an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSpec {
    /// The id a `RUN --mount=type=ssh,id=...` asks for (`default` usually).
    pub id: String,
    /// Agent sockets or private keys; empty means `$SSH_AUTH_SOCK`.
    pub paths: Vec<PathBuf>,
}

/// Parses `--ssh default` / `--ssh id=path[,path...]`.
pub fn parse_ssh(value: &str) -> Result<SshSpec, BuildOptionError> {
    let (id, paths) = match value.split_once('=') {
        Some((id, paths)) => (id, paths.split(',').map(PathBuf::from).collect()),
        None => (value, Vec::new()),
    };
    if id.is_empty() {
        return Err(invalid("--ssh", value, "empty id"));
    }
    if paths.iter().any(|p: &PathBuf| p.as_os_str().is_empty()) {
        return Err(invalid("--ssh", value, "empty path"));
    }
    Ok(SshSpec {
        id: id.to_string(),
        paths,
    })
}

/// What a `--build-context name=value` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// Passed to the frontend unchanged: `docker-image://ref`,
    /// `target:stage`, a git or https URL.
    Value(String),
    /// A client directory, uploaded as an extra local source.
    LocalDir(PathBuf),
    /// `oci-layout://path[:tag][@digest]`: an OCI layout on the client,
    /// served through the session's content store. The client must resolve
    /// a missing digest from the layout's `index.json`.
    OciLayout {
        /// The layout directory.
        path: PathBuf,
        /// The tag to look up (default `latest`).
        tag: String,
        /// The manifest digest, if given or resolved.
        digest: Option<String>,
    },
}

impl NamedContext {
    /// The local source name under which a [`NamedContext::LocalDir`] is
    /// uploaded; `context` and `dockerfile` get an underscore so they do not
    /// collide with the main sources (buildx's rule).
    pub fn local_name(name: &str) -> String {
        match name {
            "context" | "dockerfile" => format!("_{name}"),
            _ => name.to_string(),
        }
    }

    /// The content store name under which an [`NamedContext::OciLayout`] is
    /// served; derived from the context name so client and attributes agree
    /// without shared state, and valid as an image reference name.
    pub fn oci_store_name(name: &str) -> String {
        let hash = Sha256::digest(name.as_bytes());
        format!("oci-context-{}", &hex::encode(hash)[..16])
    }

    fn frontend_value(&self, name: &str) -> Result<String, BuildOptionError> {
        Ok(match self {
            NamedContext::Value(v) => v.clone(),
            NamedContext::LocalDir(_) => format!("local:{}", Self::local_name(name)),
            NamedContext::OciLayout { tag, digest, .. } => {
                let digest = digest
                    .as_ref()
                    .ok_or_else(|| BuildOptionError::UnresolvedOciLayout(name.to_string()))?;
                format!("oci-layout://{}:{tag}@{digest}", Self::oci_store_name(name))
            }
        })
    }
}

fn is_remote_url(value: &str) -> bool {
    [
        "http://",
        "https://",
        "git://",
        "git@",
        "ssh://",
        "github.com/",
    ]
    .iter()
    .any(|p| value.starts_with(p))
}

/// Parses `--build-context name=value` into the normalised name (like
/// buildx: `docker.io/library/alpine:latest` → `alpine`) and its source.
pub fn parse_build_context(value: &str) -> Result<(String, NamedContext), BuildOptionError> {
    const FLAG: &str = "--build-context";
    let Some((raw_name, target)) = value.split_once('=') else {
        return Err(invalid(FLAG, value, "expected name=value"));
    };
    if target.is_empty() {
        return Err(invalid(FLAG, value, "empty value"));
    }
    let name = normalize_context_name(raw_name)
        .ok_or_else(|| invalid(FLAG, value, "invalid context name"))?;
    let context = if let Some(layout) = target.strip_prefix("oci-layout://") {
        let (rest, digest) = match layout.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (layout, None),
        };
        let (path, tag) = match rest.split_once(':') {
            Some((p, t)) => (p, t.to_string()),
            None => (rest, "latest".to_string()),
        };
        if path.is_empty() {
            return Err(BuildOptionError::OciLayout {
                name,
                message: "oci-layout:// needs a layout directory".to_string(),
            });
        }
        NamedContext::OciLayout {
            path: PathBuf::from(path),
            tag,
            digest,
        }
    } else if is_remote_url(target)
        || target.starts_with("docker-image://")
        || target.starts_with("target:")
    {
        check_remote_value(target).map_err(|message| BuildOptionError::Context {
            name: name.clone(),
            message,
        })?;
        NamedContext::Value(target.to_string())
    } else {
        NamedContext::LocalDir(PathBuf::from(target))
    };
    Ok((name, context))
}

/// Catches the values that would only fail on the daemon, mid-build, with
/// a message that does not name the context: an image reference that is
/// no reference, an http(s) URL without a host or with white space.
fn check_remote_value(target: &str) -> Result<(), String> {
    if let Some(reference) = target.strip_prefix("docker-image://") {
        if reference.is_empty() {
            return Err("docker-image:// needs an image reference".to_string());
        }
        return crate::llb::normalize_image_ref(reference)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    if let Some(rest) = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
    {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') {
            return Err(format!("URL {target:?} has no host"));
        }
        if target.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("URL {target:?} contains white space"));
        }
    }
    if target.strip_prefix("target:") == Some("") {
        return Err("target: needs a stage name".to_string());
    }
    Ok(())
}

/// Normalises a context name like buildx (`ParseNormalizedNamed` +
/// `FamiliarString` − `:latest`); `None` for names that are no image name.
fn normalize_context_name(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:@".contains(c));
    if !valid {
        return None;
    }
    let mut short = name;
    for prefix in ["docker.io/", "index.docker.io/"] {
        if let Some(rest) = short.strip_prefix(prefix) {
            short = rest
                .strip_prefix("library/")
                .filter(|r| !r.contains('/'))
                .unwrap_or(rest);
        }
    }
    Some(short.strip_suffix(":latest").unwrap_or(short).to_string())
}

/// Parses `--add-host name:ip` / `name=ip` into BuildKit's `add-hosts`
/// value `name=ip,name=ip`. Like buildx's string-slice flag, one value may
/// hold several comma-separated entries (`a=10.0.0.1,b=10.0.0.2`); a bare
/// address among them adds another address for the name before it
/// (`multi=10.0.0.3,10.0.0.4`). IPv6 may be in brackets; `host-gateway`
/// is replaced by `host_gateway`.
pub fn parse_add_hosts(
    values: &[String],
    host_gateway: Option<IpAddr>,
) -> Result<Option<String>, BuildOptionError> {
    const FLAG: &str = "--add-host";
    let unbracket = |ip: &str| -> String {
        ip.strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(ip)
            .to_string()
    };
    let mut hosts = Vec::new();
    for value in values {
        let mut last_host: Option<&str> = None;
        for field in value.split(',') {
            if let Some(host) = last_host.filter(|_| unbracket(field).parse::<IpAddr>().is_ok()) {
                hosts.push(format!("{host}={}", unbracket(field)));
                continue;
            }
            let (host, ip) = field
                .split_once('=')
                .or_else(|| field.split_once(':'))
                .filter(|(h, i)| !h.is_empty() && !i.is_empty())
                .ok_or_else(|| invalid(FLAG, value, "expected host:ip"))?;
            let ip = if ip == "host-gateway" {
                host_gateway
                    .ok_or_else(|| BuildOptionError::HostGatewayUnknown(value.clone()))?
                    .to_string()
            } else {
                let bare = unbracket(ip);
                if bare.parse::<IpAddr>().is_err() {
                    return Err(invalid(FLAG, value, "invalid IP address"));
                }
                bare
            };
            hosts.push(format!("{host}={ip}"));
            last_host = Some(host);
        }
    }
    Ok((!hosts.is_empty()).then(|| hosts.join(",")))
}

/// Parses `--shm-size` like buildx (docker/go-units `RAMInBytes`: `128m`,
/// `1g`, `1048576`) into bytes; 0 means the daemon's default.
pub fn parse_shm_size(value: &str) -> Result<u64, BuildOptionError> {
    crate::dockerfile::instructions::ram_in_bytes(value)
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| {
            invalid(
                "--shm-size",
                value,
                "expected a size such as 128m, 1g or a number of bytes",
            )
        })
}

/// Parses `--ulimit name=soft[:hard]` values into BuildKit's `ulimit`
/// value: like Docker's `UlimitOpt`, a later limit of the same name
/// replaces an earlier one and the list is sorted by name.
pub fn parse_ulimits(values: &[String]) -> Result<Option<String>, BuildOptionError> {
    let mut limits = BTreeMap::new();
    for value in values {
        let limit: crate::llb::Ulimit =
            value
                .parse()
                .map_err(|e: crate::llb::UlimitError| BuildOptionError::Ulimit {
                    value: value.clone(),
                    message: e.to_string(),
                })?;
        limits.insert(limit.name.clone(), limit.to_string());
    }
    Ok((!limits.is_empty()).then(|| limits.into_values().collect::<Vec<_>>().join(",")))
}

/// Everything that becomes a frontend attribute, already parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontendOptionsRequest {
    /// Dockerfile name inside the `dockerfile` local source (`filename`).
    pub filename: String,
    /// `--target` stage.
    pub target: Option<String>,
    /// `--platform`, each already formatted (`linux/arm/v7`).
    pub platforms: Vec<String>,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
    /// `--build-context`s by normalised name.
    pub contexts: BTreeMap<String, NamedContext>,
    /// `--no-cache`: no cache for any stage.
    pub no_cache: bool,
    /// `--no-cache-filter` stages.
    pub no_cache_filter: Vec<String>,
    /// `--pull`: always resolve base images from the registry.
    pub pull: bool,
    /// `--network` (`default`, `host` or `none`).
    pub network: Option<String>,
    /// `add-hosts` as made by [`parse_add_hosts`].
    pub add_hosts: Option<String>,
    /// `--cgroup-parent`.
    pub cgroup_parent: Option<String>,
    /// `--shm-size` in bytes.
    pub shm_size: Option<u64>,
    /// `ulimit` as made by [`parse_ulimits`].
    pub ulimits: Option<String>,
    /// Force an image index even for one platform (also set by the
    /// `BUILDKIT_MULTI_PLATFORM` build-arg).
    pub multi_platform: bool,
    /// `--cache-from` entries, announced to the frontend as `cache-imports`.
    pub cache_from: Vec<CacheEntry>,
    /// `--allow` entitlements, checked by [`super::entitlements::parse_allow`].
    pub allow: Vec<String>,
}

impl FrontendOptionsRequest {
    /// The frontend attribute map buildx would send for these options.
    pub fn frontend_attrs(&self) -> Result<BTreeMap<String, String>, BuildOptionError> {
        let mut attrs = BTreeMap::new();
        let mut set = |k: &str, v: String| attrs.insert(k.to_string(), v);
        set("filename", self.filename.clone());
        if let Some(target) = &self.target {
            set("target", target.clone());
        }
        if !self.platforms.is_empty() {
            set("platform", self.platforms.join(","));
        }
        let arg_multi = self
            .build_args
            .get("BUILDKIT_MULTI_PLATFORM")
            .and_then(|v| parse_go_bool(v))
            .unwrap_or(false);
        if self.multi_platform || arg_multi {
            set("multi-platform", "true".to_string());
        }
        if !self.no_cache_filter.is_empty() {
            set("no-cache", self.no_cache_filter.join(","));
        }
        if self.no_cache {
            set("no-cache", String::new());
        }
        if self.pull {
            set("image-resolve-mode", "pull".to_string());
        }
        match self.network.as_deref() {
            None | Some("") | Some("default") => {}
            Some(mode @ ("host" | "none")) => {
                set("force-network-mode", mode.to_string());
            }
            Some(other) => return Err(BuildOptionError::NetworkMode(other.to_string())),
        }
        if let Some(hosts) = &self.add_hosts {
            set("add-hosts", hosts.clone());
        }
        if let Some(parent) = &self.cgroup_parent {
            set("cgroup-parent", parent.clone());
        }
        if let Some(size) = self.shm_size.filter(|s| *s > 0) {
            set("shm-size", size.to_string());
        }
        if let Some(limits) = &self.ulimits {
            set("ulimit", limits.clone());
        }
        if let Some(imports) = cache_imports_attr(&self.cache_from) {
            set("cache-imports", imports);
        }
        for (k, v) in &self.build_args {
            set(&format!("build-arg:{k}"), v.clone());
        }
        for (k, v) in &self.labels {
            set(&format!("label:{k}"), v.clone());
        }
        for (name, context) in &self.contexts {
            set(&format!("context:{name}"), context.frontend_value(name)?);
            set(
                "frontend.caps",
                "moby.buildkit.frontend.contexts+forward".to_string(),
            );
        }
        Ok(attrs)
    }

    /// Extra local sources the session must serve for `--build-context`
    /// directories, by local name.
    pub fn context_local_dirs(&self) -> BTreeMap<String, PathBuf> {
        self.contexts
            .iter()
            .filter_map(|(name, c)| match c {
                NamedContext::LocalDir(dir) => Some((NamedContext::local_name(name), dir.clone())),
                _ => None,
            })
            .collect()
    }

    /// Checks that every `--build-context` directory exists, so a typo
    /// fails here, naming the context, and not mid-build.
    pub fn check_context_dirs(&self) -> Result<(), BuildOptionError> {
        for (name, context) in &self.contexts {
            if let NamedContext::LocalDir(dir) = context {
                if !dir.is_dir() {
                    return Err(BuildOptionError::Context {
                        name: name.clone(),
                        message: format!("{} is not a directory", dir.display()),
                    });
                }
            }
        }
        Ok(())
    }

    /// Fills in the digest of each `oci-layout://` context from its
    /// layout's `index.json` (by tag; for the default `latest` also the
    /// only image there, as buildx does) and checks that the digest names a blob of the layout, so a
    /// bad path, tag or digest fails here, before the build.
    pub fn resolve_oci_layouts(&mut self) -> Result<(), BuildOptionError> {
        for (name, context) in self.contexts.iter_mut() {
            let NamedContext::OciLayout { path, tag, digest } = context else {
                continue;
            };
            let error = |message: String| BuildOptionError::OciLayout {
                name: name.clone(),
                message,
            };
            if !path.is_dir() {
                return Err(error(format!(
                    "oci-layout directory {} does not exist",
                    path.display()
                )));
            }
            // The tag travels in the frontend attribute as part of a
            // reference, so it must be a valid reference tag.
            let valid_tag = tag.len() <= 128
                && tag.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
                });
            if !valid_tag || tag.is_empty() {
                return Err(error(format!("invalid oci-layout tag {tag:?}")));
            }
            let layout = Layout::new(path.clone());
            let resolved = match digest {
                Some(d) => d.clone(),
                // buildx takes the layout's only image for any tag it does
                // not find; only the default tag does that here, so a tag
                // written out that names nothing is an error.
                None => {
                    layout
                        .resolve(tag, tag == "latest")
                        .map_err(|e| error(e.to_string()))?
                        .digest
                }
            };
            layout
                .check_blob(&resolved)
                .map_err(|e| error(e.to_string()))?;
            *digest = Some(resolved);
        }
        Ok(())
    }

    /// The content stores the session must serve for `oci-layout://`
    /// contexts, by store id (`oci:<store name>`), read-only.
    pub fn oci_layout_stores(&self) -> BTreeMap<String, ContentStoreDir> {
        self.contexts
            .iter()
            .filter_map(|(name, c)| match c {
                NamedContext::OciLayout { path, .. } => Some((
                    format!("oci:{}", NamedContext::oci_store_name(name)),
                    ContentStoreDir {
                        path: path.clone(),
                        writable: false,
                    },
                )),
                _ => None,
            })
            .collect()
    }

    /// Entitlements the solve must allow: `--allow`'s, and `network.host`
    /// for `--network host`; each once.
    pub fn entitlements(&self) -> Vec<String> {
        let mut list = self.allow.clone();
        if self.network.as_deref() == Some("host") && !list.iter().any(|e| e == "network.host") {
            list.push("network.host".to_string());
        }
        list
    }

    /// `--cache-to` plus the inline cache exporter the
    /// `BUILDKIT_INLINE_CACHE=1` build-arg asks for, as buildx adds it.
    pub fn cache_exports(&self, cache_to: &[CacheEntry]) -> Vec<CacheEntry> {
        let mut exports = cache_to.to_vec();
        let inline = self
            .build_args
            .get("BUILDKIT_INLINE_CACHE")
            .and_then(|v| parse_go_bool(v))
            .unwrap_or(false);
        if inline {
            exports.push(CacheEntry {
                ty: "inline".to_string(),
                attrs: BTreeMap::new(),
            });
        }
        exports
    }
}

#[cfg(test)]
#[path = "build_options_tests.rs"]
mod tests;
