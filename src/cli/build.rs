//! `crossbuild build`: buildx's flags turned into one build against the
//! daemon, with progress on stderr and the result's digest at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::moby::buildkit::v1::CacheOptions;
use bollard_buildkit_proto::pb;
use clap::Args;
use crossbuild::client::build::{run_build, BuildError, BuildOutcome, BuildSetup};
use crossbuild::client::build_options::{
    parse_add_hosts, parse_build_args, parse_build_context, parse_cache_entries, parse_labels,
    parse_secret, parse_shm_size, parse_ssh, parse_ulimits, prepare_local_cache, process_env,
    FrontendOptionsRequest,
};
use crossbuild::client::gateway::GatewayBuild;
use crossbuild::client::output::{resolve_exports, ExportTarget, OutputFlags};
use crossbuild::client::progress::{ProgressMode, Warning};
use crossbuild::client::session::content_store::ContentStoreDir;
use crossbuild::client::session::DockerConfig;
use crossbuild::client::{self, entitlements, workers, Lookup};
use crossbuild::errdefs::{ErrorSource, StepLocations};
use crossbuild::frontend::{self, FrontendOptions, CONTEXT_LOCAL, DOCKERFILE_LOCAL};
use crossbuild::plan::DaemonPlatforms;
use crossbuild::platform::Platform;
use prost::Message;

/// Flags of `crossbuild build`, named as in `docker buildx build`.
#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    /// The build context directory.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The Dockerfile (default: PATH/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Target platforms, comma-separated or repeated (linux/amd64,linux/arm64,...).
    #[arg(long = "platform", value_delimiter = ',')]
    pub platforms: Vec<String>,
    /// Image names (repeatable).
    #[arg(short = 't', long = "tag")]
    pub(crate) tags: Vec<String>,
    /// Push the image (shorthand for --output type=image,push=true).
    #[arg(long)]
    pub(crate) push: bool,
    /// Load the image into the Docker engine (shorthand for --output type=docker).
    #[arg(long)]
    pub(crate) load: bool,
    /// Outputs: type=image|registry|local|tar|oci|docker|cacheonly,... or a directory, or - for a tar on stdout.
    #[arg(short = 'o', long = "output")]
    pub(crate) outputs: Vec<String>,
    /// Build-time variables (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Image labels (KEY=VALUE).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache at all.
    #[arg(long)]
    no_cache: bool,
    /// Do not record this build in the daemon's build history (`docker buildx history`): the daemon then writes no record, provenance, logs or trace at its end.
    #[arg(long)]
    pub(crate) no_history: bool,
    /// Do not use the cache for these stages.
    #[arg(long = "no-cache-filter")]
    no_cache_filter: Vec<String>,
    /// Always look base images up in their registry.
    #[arg(long)]
    pull: bool,
    /// Cache sources (type=registry,ref=...|type=local,src=...).
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Cache destinations (type=registry,ref=...|type=local,dest=...|type=inline).
    #[arg(long = "cache-to")]
    cache_to: Vec<String>,
    /// Extra named contexts for FROM and COPY --from (name=DIR, name=docker-image://REF, name=oci-layout://DIR[:TAG][@DIGEST], name=https://URL).
    #[arg(long = "build-context")]
    build_contexts: Vec<String>,
    /// Provenance attestation: true|false|min|max, or BuildKit's attributes (mode=max,...).
    #[arg(long)]
    provenance: Option<String>,
    /// SBOM attestation: true|false, or BuildKit's attributes (generator=IMAGE,...).
    #[arg(long)]
    sbom: Option<String>,
    /// Secrets for RUN --mount=type=secret (id=NAME,src=FILE or id=NAME,env=VAR).
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// SSH agents for RUN --mount=type=ssh (default, or ID=/path/to/agent.sock).
    #[arg(long = "ssh")]
    ssh: Vec<String>,
    /// Privileges the build may use: network.host (RUN --network=host), security.insecure (RUN --security=insecure); the daemon must permit them too.
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// Networking mode for RUN instructions without their own --network: default, none or host (host also allows the network.host entitlement, as buildx does).
    #[arg(long, value_name = "MODE")]
    network: Option<String>,
    /// Add a custom host-to-IP mapping for RUN (host:ip or host=ip; repeatable).
    #[arg(long = "add-host", value_name = "HOST:IP")]
    add_hosts: Vec<String>,
    /// Size of /dev/shm for RUN (e.g. 128m, 1g, or bytes).
    #[arg(long = "shm-size", value_name = "SIZE")]
    shm_size: Option<String>,
    /// Resource limit for RUN (NAME=SOFT[:HARD], e.g. nofile=1024:2048; repeatable).
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    ulimits: Vec<String>,
    /// Progress output: auto, tty, plain, rawjson or quiet (default: BUILDKIT_PROGRESS, else auto).
    #[arg(long)]
    pub progress: Option<String>,
    /// Write the build result's metadata (digest, descriptor, image name, build ref) to this file as JSON.
    #[arg(long = "metadata-file")]
    pub metadata_file: Option<PathBuf>,
    /// Build a marshalled LLB definition from this file instead of a Dockerfile.
    #[arg(long = "llb", value_name = "FILE")]
    llb: Option<PathBuf>,
    /// For comparisons: build with BuildKit's built-in Dockerfile frontend instead of crossbuild's.
    #[arg(long = "reference-frontend", conflicts_with = "llb")]
    reference_frontend: bool,
    /// Build with a frontend image (BuildKit's gateway.v0, like `# syntax=IMAGE`) instead of compiling in-process.
    #[arg(long = "frontend-image", value_name = "IMAGE", conflicts_with_all = ["llb", "reference_frontend"])]
    frontend_image: Option<String>,
    /// Build these platforms on this BuildKit node (PLATFORM[,PLATFORM...]=ADDRESS, repeatable); each node pushes by digest, then one index is pushed under -t (needs --push).
    #[arg(
        long = "node",
        value_name = "PLATFORMS=ADDRESS",
        conflicts_with = "llb"
    )]
    pub(crate) nodes: Vec<String>,
}

impl BuildArgs {
    /// The flags given that only make sense when building (everything but
    /// the path, `--platform` and `--progress`), by name.
    pub fn build_only_flags(&self) -> Vec<&'static str> {
        let given = [
            ("--file", self.file.is_some()),
            ("--tag", !self.tags.is_empty()),
            ("--push", self.push),
            ("--load", self.load),
            ("--output", !self.outputs.is_empty()),
            ("--build-arg", !self.build_args.is_empty()),
            ("--label", !self.labels.is_empty()),
            ("--target", self.target.is_some()),
            ("--no-cache", self.no_cache),
            ("--no-cache-filter", !self.no_cache_filter.is_empty()),
            ("--pull", self.pull),
            ("--cache-from", !self.cache_from.is_empty()),
            ("--cache-to", !self.cache_to.is_empty()),
            ("--build-context", !self.build_contexts.is_empty()),
            ("--provenance", self.provenance.is_some()),
            ("--sbom", self.sbom.is_some()),
            ("--secret", !self.secrets.is_empty()),
            ("--ssh", !self.ssh.is_empty()),
            ("--allow", !self.allow.is_empty()),
            ("--network", self.network.is_some()),
            ("--add-host", !self.add_hosts.is_empty()),
            ("--shm-size", self.shm_size.is_some()),
            ("--ulimit", !self.ulimits.is_empty()),
            ("--metadata-file", self.metadata_file.is_some()),
            ("--llb", self.llb.is_some()),
            ("--reference-frontend", self.reference_frontend),
            ("--frontend-image", self.frontend_image.is_some()),
            ("--node", !self.nodes.is_empty()),
        ];
        given
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| name)
            .collect()
    }
}

/// The Dockerfile frontend built into every BuildKit daemon.
const REFERENCE_FRONTEND: &str = "dockerfile.v0";
/// BuildKit's frontend that runs a frontend image (`source`).
const GATEWAY_FRONTEND: &str = "gateway.v0";

/// What `build` and `plan` both take from the flags: where the context and
/// the Dockerfile are, and the frontend options they describe.
pub struct DockerfileInputs {
    /// The context directory, canonical.
    pub context: PathBuf,
    /// The Dockerfile's path.
    pub dockerfile: PathBuf,
    /// The directory holding the Dockerfile, canonical.
    pub dockerfile_dir: PathBuf,
    /// The frontend options as buildx would send them.
    pub request: FrontendOptionsRequest,
    /// `--cache-from` entries.
    pub cache_from: Vec<crossbuild::client::build_options::CacheEntry>,
    /// `--cache-to` entries.
    pub cache_to: Vec<crossbuild::client::build_options::CacheEntry>,
    /// Directories the session serves as content stores (local cache,
    /// `oci-layout://` contexts), by store id.
    pub content_stores: BTreeMap<String, ContentStoreDir>,
}

/// Checks and resolves the flags that say what to build.
pub fn dockerfile_inputs(args: &BuildArgs) -> Result<DockerfileInputs, String> {
    let context = std::fs::canonicalize(&args.path)
        .map_err(|e| format!("build context {}: {e}", args.path.display()))?;
    if !context.is_dir() {
        return Err(format!(
            "build context {} is not a directory",
            context.display()
        ));
    }
    let dockerfile = args
        .file
        .clone()
        .unwrap_or_else(|| context.join("Dockerfile"));
    let dockerfile_dir = dockerfile
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .ok_or_else(|| format!("invalid Dockerfile path {}", dockerfile.display()))?;
    let dockerfile_dir = std::fs::canonicalize(dockerfile_dir)
        .map_err(|e| format!("Dockerfile directory {}: {e}", dockerfile_dir.display()))?;
    let filename = dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("invalid Dockerfile path {}", dockerfile.display()))?;

    let platforms = args
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>().map(|p| p.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--platform: {e}"))?;
    let mut cache_from =
        parse_cache_entries(&args.cache_from, &process_env).map_err(|e| e.to_string())?;
    let cache_to = parse_cache_entries(&args.cache_to, &process_env).map_err(|e| e.to_string())?;
    let local_cache = prepare_local_cache(&mut cache_from, &cache_to).map_err(|e| e.to_string())?;
    for warning in &local_cache.warnings {
        eprintln!("WARNING: {warning}");
    }
    let mut request = FrontendOptionsRequest {
        filename,
        target: args.target.clone(),
        platforms,
        build_args: parse_build_args(&args.build_args, &process_env).map_err(|e| e.to_string())?,
        labels: parse_labels(&args.labels).map_err(|e| e.to_string())?,
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        pull: args.pull,
        cache_from: cache_from.clone(),
        allow: entitlements::parse_allow(&args.allow).map_err(|e| e.to_string())?,
        add_hosts: parse_add_hosts(&args.add_hosts, None).map_err(|e| e.to_string())?,
        shm_size: args
            .shm_size
            .as_deref()
            .map(parse_shm_size)
            .transpose()
            .map_err(|e| e.to_string())?,
        ulimits: parse_ulimits(&args.ulimits).map_err(|e| e.to_string())?,
        network: args.network.clone(),
        contexts: args
            .build_contexts
            .iter()
            .map(|c| parse_build_context(c))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?,
        ..Default::default()
    };
    request.check_context_dirs().map_err(|e| e.to_string())?;
    request.resolve_oci_layouts().map_err(|e| e.to_string())?;
    let mut content_stores = local_cache.stores;
    content_stores.extend(request.oci_layout_stores());
    Ok(DockerfileInputs {
        context,
        dockerfile,
        dockerfile_dir,
        request,
        cache_from,
        cache_to,
        content_stores,
    })
}

/// The progress mode asked for (flag, else `BUILDKIT_PROGRESS`, else
/// auto), resolved for stderr.
pub fn progress_mode(args: &BuildArgs) -> Result<ProgressMode, String> {
    Ok(match &args.progress {
        Some(mode) => mode.parse::<ProgressMode>().map_err(|e| e.to_string())?,
        None => ProgressMode::from_env()
            .map_err(|e| format!("BUILDKIT_PROGRESS: {e}"))?
            .unwrap_or(ProgressMode::Auto),
    }
    .resolve_for_stderr())
}

/// What a build solves in its gateway: a marshalled definition, one of
/// the daemon's frontends, or crossbuild's own Dockerfile compiler.
pub enum BuildSource {
    /// `--llb FILE`.
    Definition(pb::Definition),
    /// A frontend run by the daemon (`dockerfile.v0`, `gateway.v0`) with
    /// these attributes.
    DaemonFrontend {
        /// The frontend's name.
        frontend: &'static str,
        /// Its attributes.
        attrs: BTreeMap<String, String>,
    },
    /// The Dockerfile, compiled in-process.
    Dockerfile {
        /// The frontend options from the flags.
        options: Box<FrontendOptions>,
        /// `$BUILDPLATFORM`.
        build_platform: Platform,
        /// The daemon's workers, when the plan summary is to be shown.
        plan_workers: Option<DaemonPlatforms>,
        /// The plan summary lines, made from the build's own compile.
        plan_lines: Mutex<Vec<String>>,
        /// Where each compiled step is in the Dockerfile, to show a failing
        /// step's lines.
        step_locations: Mutex<StepLocations>,
    },
}

impl BuildSource {
    /// Produces the build's result (refs per platform, image configs) in
    /// the gateway.
    pub async fn solve(&self, gateway: &GatewayBuild) -> Result<gw::Result, String> {
        match self {
            BuildSource::Definition(definition) => {
                solve_definition(gateway, definition.clone()).await
            }
            BuildSource::DaemonFrontend { frontend, attrs } => {
                solve_with_frontend(gateway, frontend, attrs).await
            }
            BuildSource::Dockerfile {
                options,
                build_platform,
                plan_workers,
                plan_lines,
                step_locations,
            } => frontend::build_observed(gateway, options, build_platform, |definitions| {
                if let Ok(mut steps) = step_locations.lock() {
                    *steps = StepLocations::new(definitions.iter().map(|(_, d)| d));
                }
                // The plan comes from the build's own compile (no second
                // compile or session); it is printed once the build ends so
                // it never cuts into the progress display.
                if let Some(workers) = plan_workers {
                    let lines = super::plan::summary_lines(definitions, workers.clone());
                    if let Ok(mut plan) = plan_lines.lock() {
                        *plan = lines;
                    }
                }
            })
            .await
            .map_err(|e| render_frontend_error(&e)),
        }
    }

    /// `error` with the failing step's Dockerfile lines, when the daemon
    /// did not place it and the progress display named the step.
    pub fn place_failure(&self, error: BuildError) -> BuildError {
        let BuildSource::Dockerfile { step_locations, .. } = self else {
            return error;
        };
        match error {
            BuildError::Failed {
                message,
                summary,
                location: None,
            } => {
                let location = summary
                    .as_ref()
                    .and_then(|s| s.failure())
                    .and_then(|step| step_locations.lock().ok()?.of(&step.name))
                    .map(Box::new);
                BuildError::Failed {
                    message,
                    summary,
                    location,
                }
            }
            other => other,
        }
    }

    /// The plan summary of the last solve (empty unless a Dockerfile was
    /// compiled with the summary asked for).
    pub fn plan_lines(&self) -> Vec<String> {
        match self {
            BuildSource::Dockerfile { plan_lines, .. } => {
                plan_lines.lock().map(|l| l.clone()).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

/// A build ready to start: the daemon, the session setup, the outputs and
/// what to solve.
pub struct PreparedBuild {
    /// The daemon connected to.
    pub daemon: client::Daemon,
    /// Session, exporters, cache, progress.
    pub setup: BuildSetup,
    /// The outputs, as resolved from the flags.
    pub exports: Vec<crossbuild::client::output::ExportSpec>,
    /// What the gateway solves.
    pub source: BuildSource,
}

/// Checks the flags, connects to the daemon and works out everything a
/// build needs. `progress` is the mode to show (see [`progress_mode`]).
pub async fn prepare(
    lookup: &Lookup,
    args: &BuildArgs,
    progress: ProgressMode,
) -> Result<PreparedBuild, String> {
    let DockerfileInputs {
        context,
        dockerfile: _,
        dockerfile_dir,
        request,
        cache_from,
        cache_to,
        content_stores,
    } = dockerfile_inputs(args)?;

    let mut frontend_attrs = request.frontend_attrs().map_err(|e| e.to_string())?;
    if let Some(value) = &args.provenance {
        if let Some(attr) = attestation_attr(value, "provenance")? {
            frontend_attrs.insert("attest:provenance".to_string(), attr);
        }
    }
    if let Some(value) = &args.sbom {
        if let Some(attr) = attestation_attr(value, "sbom")? {
            frontend_attrs.insert("attest:sbom".to_string(), attr);
        }
    }
    let exports = resolve_exports(&OutputFlags {
        outputs: args.outputs.clone(),
        push: args.push,
        load: args.load,
        tags: args.tags.clone(),
    })
    .map_err(|e| e.to_string())?;
    let secrets = args
        .secrets
        .iter()
        .map(|s| parse_secret(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--secret: {e}"))?;
    let ssh = args
        .ssh
        .iter()
        .map(|s| parse_ssh(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--ssh: {e}"))?;
    let registry_auth = match DockerConfig::default_path(&process_env) {
        Some(path) => DockerConfig::load(&path).map_err(|e| e.to_string())?,
        None => DockerConfig::default(),
    };
    let definition = match &args.llb {
        Some(path) => Some(read_definition(path)?),
        None => None,
    };

    let daemon = client::connect(lookup).await.map_err(|e| e.to_string())?;
    if progress == ProgressMode::Plain {
        eprintln!(
            "#0 using {} ({}, via {})",
            daemon.address, daemon.kind, daemon.origin
        );
    }
    let worker_list = workers::list_workers(&daemon)
        .await
        .map_err(|e| e.to_string())?;
    let build_platform = build_platform(&worker_list)?;
    let plan_workers = matches!(progress, ProgressMode::Plain | ProgressMode::Tty)
        .then(|| DaemonPlatforms::from_workers(&worker_list));
    let cache_exports = request.cache_exports(&cache_to);
    let setup = BuildSetup {
        shared_key: shared_key(&context),
        local_dirs: request
            .context_local_dirs()
            .into_iter()
            .chain([
                (CONTEXT_LOCAL.to_string(), context.clone()),
                (DOCKERFILE_LOCAL.to_string(), dockerfile_dir),
            ])
            .collect(),
        frontend_attrs: frontend_attrs.clone(),
        exports: exports.clone(),
        cache: cache_options(&cache_from, &cache_exports),
        entitlements: request.entitlements(),
        progress,
        secrets,
        ssh,
        registry_auth: Some(registry_auth),
        content_stores,
        skip_history: args.no_history,
    };
    let source = match definition {
        Some(definition) => BuildSource::Definition(definition),
        None if args.reference_frontend => BuildSource::DaemonFrontend {
            frontend: REFERENCE_FRONTEND,
            attrs: frontend_attrs,
        },
        None if args.frontend_image.is_some() => {
            let mut attrs = frontend_attrs;
            attrs.insert(
                "source".to_string(),
                args.frontend_image.clone().unwrap_or_default(),
            );
            BuildSource::DaemonFrontend {
                frontend: GATEWAY_FRONTEND,
                attrs,
            }
        }
        None => BuildSource::Dockerfile {
            options: Box::new(
                FrontendOptions::from_attrs(&frontend_attrs).map_err(|e| e.to_string())?,
            ),
            build_platform,
            plan_workers,
            plan_lines: Mutex::new(Vec::new()),
            step_locations: Mutex::default(),
        },
    };
    Ok(PreparedBuild {
        daemon,
        setup,
        exports,
        source,
    })
}

/// Runs `crossbuild build`.
pub async fn run(lookup: &Lookup, args: BuildArgs) -> Result<(), String> {
    let progress = progress_mode(&args)?;
    if !args.nodes.is_empty() {
        return super::build_nodes::run(lookup, &args, progress).await;
    }
    let prepared = prepare(lookup, &args, progress).await?;
    // `-o type=cacheonly` asks for exactly this; only say it when nothing
    // was asked for (buildx says the same then).
    if prepared.exports.is_empty() && args.outputs.is_empty() && !args.load {
        eprintln!(
            "WARNING: no output specified; the result stays in the build cache \
             (use --push, --load or -o to export it)"
        );
    }
    let source = &prepared.source;
    let build = run_build(
        &prepared.daemon,
        prepared.setup.clone(),
        async |gateway: &GatewayBuild| source.solve(gateway).await,
    );
    let outcome = tokio::select! {
        outcome = build => outcome,
        signal = interrupted() => {
            return Err(format!("{signal}: the build was cancelled"));
        }
    };
    for line in prepared.source.plan_lines() {
        eprintln!("{line}");
    }
    let outcome =
        outcome.map_err(|e| render_build_error(prepared.source.place_failure(e), progress))?;
    print_warnings(&outcome.summary.warnings, progress);
    report(&outcome, &prepared.exports, args.metadata_file.as_deref())
}

/// buildx's shorthands for `--provenance`/`--sbom`: `false` turns the
/// attestation off (no attribute), `true` asks for the default, `min`/`max`
/// set the provenance mode, anything else is passed as BuildKit attributes.
fn attestation_attr(value: &str, kind: &str) -> Result<Option<String>, String> {
    let attr = match value.trim() {
        "false" | "0" => return Ok(None),
        "true" | "1" | "" if kind == "provenance" => "mode=min".to_string(),
        "true" | "1" | "" => String::new(),
        "min" | "max" if kind == "provenance" => format!("mode={}", value.trim()),
        other if other.contains('=') => other.to_string(),
        other => return Err(format!("--{kind}: invalid value {other:?}")),
    };
    Ok(Some(attr))
}

/// The platform the daemon's first worker builds natively: `$BUILDPLATFORM`.
fn build_platform(workers: &[workers::Worker]) -> Result<Platform, String> {
    let first = workers
        .first()
        .and_then(|w| w.platforms.first())
        .ok_or("the daemon reports no worker platforms")?;
    first
        .parse()
        .map_err(|e| format!("the daemon's platform {first}: {e}"))
}

/// buildx's shared key: a stable name for this context directory, so the
/// daemon can send only what changed since the last build.
fn shared_key(context: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(context.to_string_lossy().as_bytes());
    hex::encode(&digest[..16])
}

fn cache_options(
    imports: &[crossbuild::client::build_options::CacheEntry],
    exports: &[crossbuild::client::build_options::CacheEntry],
) -> Option<CacheOptions> {
    if imports.is_empty() && exports.is_empty() {
        return None;
    }
    Some(CacheOptions {
        imports: imports.iter().map(|e| e.to_pb()).collect(),
        exports: exports.iter().map(|e| e.to_pb()).collect(),
        ..Default::default()
    })
}

fn read_definition(path: &Path) -> Result<pb::Definition, String> {
    let bytes = super::debug::read_input(Some(path))?;
    pb::Definition::decode(bytes.as_slice())
        .map_err(|e| format!("{} is not a marshalled LLB definition: {e}", path.display()))
}

async fn solve_definition(
    gateway: &GatewayBuild,
    definition: pb::Definition,
) -> Result<gw::Result, String> {
    let result = gateway
        .solve(definition, false)
        .await
        .map_err(|e| e.to_string())?;
    Ok(gw::Result {
        result: Some(gw::result::Result::Ref(gw::Ref {
            id: result.unwrap_or_default(),
            def: None,
        })),
        ..Default::default()
    })
}

/// A frontend run by the daemon (BuildKit's own `dockerfile.v0`, or a
/// frontend image through `gateway.v0`), driven as buildx drives it: one
/// gateway solve with the same attributes, its result returned unchanged,
/// so it shares the session, the context upload and the exporters with
/// crossbuild's own compiler and only the compiler differs.
async fn solve_with_frontend(
    gateway: &GatewayBuild,
    frontend: &str,
    frontend_attrs: &BTreeMap<String, String>,
) -> Result<gw::Result, String> {
    let options = frontend_attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    gateway
        .solve_frontend(frontend, options)
        .await
        .map_err(|e| e.to_string())
}

/// A Dockerfile error with the offending line shown under it.
fn render_frontend_error(error: &frontend::FrontendError) -> String {
    match error {
        frontend::FrontendError::Dockerfile {
            source_line: Some(line),
            ..
        } if !line.trim().is_empty() => format!("{error}\n  | {}", line.trim_end()),
        _ => error.to_string(),
    }
}

/// The message for a failed build; the failing step and its last log
/// lines go to stderr first, as buildx shows them.
pub fn render_build_error(error: BuildError, progress: ProgressMode) -> String {
    match error {
        BuildError::Failed {
            message,
            summary,
            location,
        } => {
            if let Some(summary) = summary {
                print_warnings(&summary.warnings, progress);
                if let Some(step) = summary.failure() {
                    eprintln!("{step}");
                }
            }
            // The step's lines in the Dockerfile, as buildx shows them.
            if let Some(excerpt) = location.as_deref().and_then(ErrorSource::render) {
                eprintln!("{excerpt}");
            }
            entitlements::explain_refusal(&message).unwrap_or(message)
        }
        other => {
            let message = other.to_string();
            entitlements::explain_refusal(&message).unwrap_or(message)
        }
    }
}

/// The build's warnings once more at the end, as buildx lists them, each
/// with the file and line it is about (not in `quiet` or `rawjson` mode,
/// which show nothing or everything).
pub fn print_warnings(warnings: &[Warning], progress: ProgressMode) {
    if warnings.is_empty() || matches!(progress, ProgressMode::Quiet | ProgressMode::RawJson) {
        return;
    }
    let count = warnings.len();
    eprintln!(
        "{count} warning{} found:",
        if count == 1 { "" } else { "s" }
    );
    for warning in warnings {
        match &warning.location {
            Some((file, line)) if *line > 0 => {
                let suffix = format!(" (line {line})");
                let short = warning
                    .short
                    .strip_suffix(&suffix)
                    .unwrap_or(&warning.short);
                eprintln!(" - {file}:{line}: {short}");
            }
            _ => eprintln!(" - {}", warning.short),
        }
    }
}

/// Resolves on SIGINT or SIGTERM, naming the signal.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

/// Prints where the result went and writes the metadata file.
pub fn report(
    outcome: &BuildOutcome,
    exports: &[crossbuild::client::output::ExportSpec],
    metadata_file: Option<&Path>,
) -> Result<(), String> {
    let response = &outcome.exporter_response;
    if let Some(digest) = response.get("containerimage.digest") {
        eprintln!("image digest: {digest}");
    }
    if let Some(name) = response.get("image.name") {
        eprintln!("image name: {name}");
    }
    for export in exports {
        match &export.target {
            ExportTarget::Directory(path)
            | ExportTarget::File(path)
            | ExportTarget::OciLayout(path) => {
                eprintln!("exported {} to {}", export.kind, path.display())
            }
            _ => {}
        }
    }
    if let Some(path) = metadata_file {
        let mut metadata: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for (key, value) in response {
            let value = if key == "containerimage.descriptor" {
                decode_descriptor(value).unwrap_or_else(|| serde_json::Value::String(value.clone()))
            } else {
                serde_json::Value::String(value.clone())
            };
            metadata.insert(key.clone(), value);
        }
        metadata.insert(
            "buildx.build.ref".to_string(),
            serde_json::Value::String(outcome.build_ref.clone()),
        );
        let text = serde_json::to_string_pretty(&metadata).map_err(|e| e.to_string())?;
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the metadata file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// buildx writes the descriptor as JSON, not as BuildKit's base64 string.
fn decode_descriptor(value: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
