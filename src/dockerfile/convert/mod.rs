//! Dockerfile → LLB: one [`llb::State`] and one image config per target
//! platform, following BuildKit's `dockerfile2llb` (the `dockerfile.v0`
//! frontend) so that the same Dockerfile gives the same image.
//!
//! The compiler is pure: it never talks to a daemon. Base image metadata
//! comes through [`ImageResolver`], which the caller implements over
//! whatever transport it has (the gateway bridge, a registry client, or a
//! fake in tests). Every target platform is converted on its own, but the
//! graphs are built from the same values: a stage pinned with
//! `FROM --platform=$BUILDPLATFORM` produces byte-identical ops (and so
//! identical digests) for every target, which is what lets BuildKit solve
//! it once and share it.
//!
//! ```no_run
//! # async fn demo(resolver: &dyn crossbuild::dockerfile::convert::ImageResolver) -> Result<(), Box<dyn std::error::Error>> {
//! use crossbuild::dockerfile::{self, convert};
//! use crossbuild::{llb, platform::Platform};
//! let df = dockerfile::parse(b"FROM alpine\nRUN echo hi\n")?;
//! let opts = convert::ConvertOptions::new(
//!     "linux/amd64".parse::<Platform>()?,
//!     llb::Local::new("context").into_state(),
//! );
//! let builds = convert::convert(&df, &opts, resolver).await?;
//! assert_eq!(builds.len(), 1);
//! # Ok(()) }
//! ```

mod args;
mod checks;
mod config;
mod copy;
mod dispatch;
mod names;
mod prepare;
mod run;
mod stage;
mod stages;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bollard_buildkit_proto::pb;

use crate::image::ImageConfig;
use crate::llb;
use crate::platform::Platform;

use super::lint::{LintConfig, Linter};
use super::parser::Dockerfile;

/// Looks up base images: the caller's window onto a registry or daemon.
#[async_trait::async_trait]
pub trait ImageResolver: Send + Sync {
    /// Resolves `reference` for `platform`.
    ///
    /// `reference` is normalised the way BuildKit passes it to its own
    /// resolver: domain and tag filled in (`alpine` →
    /// `docker.io/library/alpine:latest`, `localhost:5000/busybox` →
    /// `localhost:5000/busybox:latest`). The error text is shown to the
    /// user after `<reference> for <platform>: `, from the last
    /// `<reference>: ` in it on (so a daemon's own repetition of the
    /// reference is dropped).
    async fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String>;

    /// Resolves the image of an `oci-layout://` named context for
    /// `platform`, from the content store the client serves in the
    /// session. The error text is shown as for [`ImageResolver::resolve`],
    /// with [`OciLayoutImage::reference`] as the reference. Resolvers
    /// without a session (a registry client) cannot, and say so.
    async fn resolve_oci_layout(
        &self,
        image: &OciLayoutImage,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let _ = platform;
        Err(format!(
            "{}: this resolver cannot read OCI layouts (content store {})",
            image.reference, image.store
        ))
    }
}

/// A named context that is an image, whose config (ENV, WORKDIR, USER,
/// ...) `FROM name` applies as it would a registry image's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageContext {
    /// `docker-image://REF`: a registry image, by normalised reference;
    /// it is pulled pinned to the digest it resolves to.
    Registry(String),
    /// `oci-layout://`: an image in a layout the client serves; its
    /// files come from the context's own state.
    OciLayout(OciLayoutImage),
}

/// An image in an OCI layout the client serves through the session's
/// content store (BuildKit's `ResolverTypeOCILayout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLayoutImage {
    /// The context's name pinned to the image's digest
    /// (`docker.io/library/base@sha256:…`), as BuildKit names it in logs.
    pub reference: String,
    /// The content store id, without the `oci:` prefix the daemon adds.
    pub store: String,
}

/// What [`ImageResolver::resolve`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedImage {
    /// The manifest digest (`sha256:…`) the reference pins to, or the
    /// whole canonical reference pinned by digest (`name:tag@sha256:…`);
    /// empty when unknown (the image is then pulled by tag).
    pub digest: String,
    /// The image config of that manifest.
    pub config: ImageConfig,
}

/// Which stages must not use the build cache (`--no-cache`,
/// `--no-cache-filter`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NoCache {
    /// Use the cache everywhere.
    #[default]
    None,
    /// Re-run every step.
    All,
    /// Re-run the steps of these stages (by name).
    Stages(Vec<String>),
}

impl NoCache {
    /// Whether the stage called `name` (empty for unnamed stages) ignores
    /// the cache.
    pub fn applies_to(&self, name: &str) -> bool {
        match self {
            NoCache::None => false,
            NoCache::All => true,
            NoCache::Stages(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// What BuildKit's Dockerfile frontend applies to every `RUN` from its
/// options rather than from the Dockerfile (`add-hosts`, `shm-size`,
/// `ulimit`, `hostname` attributes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `/etc/hosts` entries, `(name, ip)`, in the order given.
    pub extra_hosts: Vec<(String, String)>,
    /// The size of `/dev/shm` in bytes (a sized tmpfs there); 0 keeps the
    /// daemon's default.
    pub shm_size: i64,
    /// Resource limits, in the order given.
    pub ulimits: Vec<llb::Ulimit>,
    /// The container's hostname; `None` keeps the daemon's default.
    pub hostname: Option<String>,
    /// The network mode of every `RUN` without a `--network` of its own
    /// (`force-network-mode`); `None` keeps the sandbox's network.
    pub network: Option<llb::NetMode>,
}

/// Everything the conversion needs besides the Dockerfile.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// `--target`: the stage to build; the last stage when `None`.
    pub target: Option<String>,
    /// The platforms to build for; empty means the build platform only.
    pub target_platforms: Vec<Platform>,
    /// The platform the builder runs on (`$BUILDPLATFORM`).
    pub build_platform: Platform,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--label` values, added to the final image config.
    pub labels: BTreeMap<String, String>,
    /// The main build context, as the caller prepared it (usually a
    /// `local://context` source).
    pub context: llb::State,
    /// Stages that must not use the cache.
    pub no_cache: NoCache,
    /// `--build-context name=…`: states that replace `FROM name`,
    /// `COPY --from=name` and `RUN --mount=from=name`.
    pub named_contexts: BTreeMap<String, llb::State>,
    /// The named contexts that are images (`docker-image://`,
    /// `oci-layout://`), by name: their config is resolved and applied
    /// like a `FROM` image's.
    pub image_contexts: BTreeMap<String, ImageContext>,
    /// `SOURCE_DATE_EPOCH` in seconds: the time written into the history
    /// entries of this build and given to the directories `WORKDIR`
    /// creates.
    pub source_date_epoch: Option<i64>,
    /// The Dockerfile as read, for the graphs' source maps: with it, the
    /// daemon's error for a failing step names that step's lines.
    pub source: Option<std::sync::Arc<llb::SourceFile>>,
    /// Host entries, `/dev/shm` size, ulimits and hostname for every `RUN`.
    pub run: RunOptions,
}

impl ConvertOptions {
    /// Options for building the default target for `build_platform` from
    /// `context`, with no build args, labels or named contexts.
    pub fn new(build_platform: Platform, context: llb::State) -> Self {
        ConvertOptions {
            target: None,
            target_platforms: Vec::new(),
            build_platform,
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            context,
            no_cache: NoCache::None,
            named_contexts: BTreeMap::new(),
            image_contexts: BTreeMap::new(),
            source_date_epoch: None,
            source: None,
            run: RunOptions::default(),
        }
    }
}

/// The result for one target platform.
#[derive(Debug, Clone)]
pub struct PlatformBuild {
    /// The target platform.
    pub platform: Platform,
    /// The root filesystem of the target stage. Marshal it with this
    /// platform as the default (`llb::marshal_with`), as BuildKit does:
    /// [`marshal_builds`] does so for all the platforms at once.
    pub state: llb::State,
    /// The image config (without `created` and without the new layers'
    /// diff ids, which the exporter fills in).
    pub config: ImageConfig,
    /// The config of the registry image the target stage is built on
    /// (through its chain of stages), as resolved; `None` for `scratch`
    /// and named contexts. The exporter uses it to tell the base image's
    /// history and layers from this build's (`SOURCE_DATE_EPOCH`).
    pub base_config: Option<ImageConfig>,
}

/// Marshals each build's graph with its platform as the default platform
/// (`llb::marshal_with`, as BuildKit does), the platforms on separate
/// cores; the definitions come in the order of `builds`.
pub fn marshal_builds(builds: &[PlatformBuild]) -> Result<Vec<pb::Definition>, llb::LlbError> {
    crate::parallel::map(builds.iter().collect(), |build| {
        llb::marshal_with(
            &build.state,
            &llb::MarshalOptions {
                default_platform: build.platform.clone(),
            },
        )
    })
    .into_iter()
    .collect()
}

/// Why a Dockerfile could not be converted, in BuildKit's words where it
/// has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if *line > 0 { format!("line {line}: ") } else { String::new() })]
pub struct ConvertError {
    /// The 1-based Dockerfile line the error is about; 0 when it concerns
    /// the build as a whole (e.g. an unknown `--target`).
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

impl ConvertError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        ConvertError {
            line,
            message: message.into(),
        }
    }
}

/// Result alias for this module.
pub type Result<T, E = ConvertError> = std::result::Result<T, E>;

/// Resolver answers by (normalised reference, platform), so that each image
/// is asked for once per build even when several targets or stages use it.
///
/// Every platform's stages are resolved at once, so the same image is
/// usually asked for again before the first answer is back: each key holds
/// one cell that the later askers wait on, instead of sending their own
/// round trip to the daemon (and the registry).
#[derive(Default)]
pub(crate) struct ResolveCache {
    entries: Mutex<HashMap<(String, Platform), Arc<ResolveCell>>>,
}

/// The one answer for a reference and platform, shared by every asker.
type ResolveCell = tokio::sync::OnceCell<Result<ResolvedImage, String>>;

impl ResolveCache {
    pub(crate) async fn resolve(
        &self,
        resolver: &dyn ImageResolver,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        self.cell(reference.to_string(), platform)
            .get_or_init(|| resolver.resolve(reference, platform))
            .await
            .clone()
    }

    /// [`ResolveCache::resolve`] for an image in an OCI layout; keyed
    /// apart from registry references, which never start `oci-layout://`.
    pub(crate) async fn resolve_oci_layout(
        &self,
        resolver: &dyn ImageResolver,
        image: &OciLayoutImage,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let key = format!("oci-layout://{}/{}", image.store, image.reference);
        self.cell(key, platform)
            .get_or_init(|| resolver.resolve_oci_layout(image, platform))
            .await
            .clone()
    }

    fn cell(&self, reference: String, platform: &Platform) -> Arc<ResolveCell> {
        // A poisoned lock only means another conversion panicked mid-insert;
        // the map itself is still consistent.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(entries.entry((reference, platform.clone())).or_default())
    }
}

/// The build check configuration: the `BUILDKIT_DOCKERFILE_CHECK` build
/// arg, else the `# check=` directive.
pub fn lint_config(dockerfile: &Dockerfile, opts: &ConvertOptions) -> Result<LintConfig> {
    let (text, line) = match opts.build_args.get("BUILDKIT_DOCKERFILE_CHECK") {
        Some(value) => (value.as_str(), 0),
        None => match &dockerfile.directives.check {
            Some(directive) => (directive.value.as_str(), directive.line),
            None => return Ok(LintConfig::default()),
        },
    };
    LintConfig::parse(text)
        .map_err(|e| ConvertError::new(line, format!("failed to parse check options: {e}")))
}

/// Converts `dockerfile` into one build per target platform, in the order
/// of `opts.target_platforms`, with the build checks configured by the
/// Dockerfile (their warnings are dropped; see [`convert_with_linter`]).
pub async fn convert(
    dockerfile: &Dockerfile,
    opts: &ConvertOptions,
    resolver: &dyn ImageResolver,
) -> Result<Vec<PlatformBuild>> {
    let linter = Linter::new(lint_config(dockerfile, opts)?);
    convert_with_linter(dockerfile, opts, resolver, &linter).await
}

/// [`convert`], reporting the build checks' warnings to `linter` (those
/// found before an error too). With `error=true` in its configuration,
/// the caller turns warnings into an error ([`Linter::error`]) once the
/// conversion succeeded, as BuildKit does.
pub async fn convert_with_linter(
    dockerfile: &Dockerfile,
    opts: &ConvertOptions,
    resolver: &dyn ImageResolver,
    linter: &Linter,
) -> Result<Vec<PlatformBuild>> {
    let stages = dockerfile
        .stages()
        .map_err(|e| ConvertError::new(e.span.start, e.kind.to_string()))?;
    if stages.stages.is_empty() {
        return Err(ConvertError::new(
            0,
            "dockerfile contains no stages to build",
        ));
    }
    let implicit = opts.target_platforms.is_empty();
    let targets = if implicit {
        vec![opts.build_platform.clone()]
    } else {
        opts.target_platforms.clone()
    };
    checks::check_dockerfile(dockerfile, &stages, linter);
    let cache = ResolveCache::default();
    let contexts: Vec<dispatch::PlatformContext> = targets
        .iter()
        .enumerate()
        .map(|(i, target)| dispatch::PlatformContext {
            opts,
            target: target.clone(),
            implicit_target: implicit,
            multi_platform: targets.len() > 1,
            lexer: dockerfile.lexer(),
            // BuildKit's frontend reports for its first platform only.
            lint: (i == 0).then_some(linter),
        })
        .collect();
    // The platforms' base image lookups (one daemon round trip each) run
    // together so that they overlap instead of queueing; then each
    // platform's graph is built on a core of its own. Errors still come
    // in platform order.
    let prepared = futures::future::join_all(
        contexts
            .iter()
            .map(|ctx| ctx.prepare(&stages, resolver, &cache)),
    )
    .await;
    let converted = crate::parallel::map(
        contexts.iter().zip(prepared).collect(),
        |(ctx, prepared)| ctx.dispatch(prepared?),
    );
    targets
        .into_iter()
        .zip(converted)
        .map(|(platform, converted)| {
            let converted = converted?;
            Ok(PlatformBuild {
                platform,
                state: converted.state,
                config: converted.config,
                base_config: converted.base_config,
            })
        })
        .collect()
}
