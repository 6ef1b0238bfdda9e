//! `crossbuild build`: buildx's flags turned into one build against the
//! daemon, with progress on stderr and the result's digest at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::moby::buildkit::v1::CacheOptions;
use bollard_buildkit_proto::pb;
use clap::Args;
use crossbuild::client::build::{run_build, BuildError, BuildOutcome, BuildSetup};
use crossbuild::client::build_options::{
    parse_build_args, parse_build_context, parse_cache_entries, parse_labels, parse_secret,
    parse_ssh, prepare_local_cache, process_env, FrontendOptionsRequest, SecretSpec, SshSpec,
};
use crossbuild::client::gateway::GatewayBuild;
use crossbuild::client::output::{resolve_exports, ExportTarget, OutputFlags};
use crossbuild::client::progress::ProgressMode;
use crossbuild::client::session::content_store::ContentStoreDir;
use crossbuild::client::session::DockerConfig;
use crossbuild::client::{self, entitlements, workers, Lookup};
use crossbuild::frontend::{self, FrontendOptions, CONTEXT_LOCAL, DOCKERFILE_LOCAL};
use crossbuild::platform::Platform;
use prost::Message;

/// Flags of `crossbuild build`, named as in `docker buildx build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The build context directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The Dockerfile (default: PATH/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Target platforms, comma-separated or repeated (linux/amd64,linux/arm64,...).
    #[arg(long = "platform", value_delimiter = ',')]
    platforms: Vec<String>,
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
    /// Progress output: auto, tty, plain, rawjson or quiet (default: BUILDKIT_PROGRESS, else auto).
    #[arg(long)]
    progress: Option<String>,
    /// Write the build result's metadata (digest, descriptor, image name, build ref) to this file as JSON.
    #[arg(long = "metadata-file")]
    pub(crate) metadata_file: Option<PathBuf>,
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
        contexts: args
            .build_contexts
            .iter()
            .map(|c| parse_build_context(c))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?,
        ..Default::default()
    };
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

/// Runs `crossbuild build`.
pub async fn run(lookup: &Lookup, args: BuildArgs) -> Result<(), String> {
    let DockerfileInputs {
        context,
        dockerfile,
        dockerfile_dir,
        request,
        cache_from,
        cache_to,
        content_stores,
    } = dockerfile_inputs(&args)?;

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
    if !args.nodes.is_empty() {
        return super::build_nodes::run(
            lookup,
            &args,
            super::build_nodes::Shared {
                frontend_attrs,
                platforms: request.platforms.clone(),
                setup: BuildSetup {
                    shared_key: shared_key(&context),
                    local_dirs: request
                        .context_local_dirs()
                        .into_iter()
                        .chain([
                            (CONTEXT_LOCAL.to_string(), context.clone()),
                            (DOCKERFILE_LOCAL.to_string(), dockerfile_dir),
                        ])
                        .collect(),
                    frontend_attrs: BTreeMap::new(),
                    exports: Vec::new(),
                    cache: cache_options(&cache_from, &request.cache_exports(&cache_to)),
                    entitlements: request.entitlements(),
                    progress: progress_mode(&args)?,
                    secrets: parse_secrets(&args)?,
                    ssh: parse_ssh_flags(&args)?,
                    registry_auth: Some(load_docker_config()?),
                    content_stores,
                },
            },
        )
        .await;
    }
    let exports = resolve_exports(&OutputFlags {
        outputs: args.outputs.clone(),
        push: args.push,
        load: args.load,
        tags: args.tags.clone(),
    })
    .map_err(|e| e.to_string())?;
    if exports.is_empty() {
        eprintln!(
            "WARNING: no output specified; the result stays in the build cache \
             (use --push, --load or -o to export it)"
        );
    }
    let progress = progress_mode(&args)?;
    let secrets = parse_secrets(&args)?;
    let ssh = parse_ssh_flags(&args)?;
    let registry_auth = load_docker_config()?;
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
    let build_platform = build_platform(&daemon).await?;
    if definition.is_none() && matches!(progress, ProgressMode::Plain | ProgressMode::Tty) {
        super::plan::print_summary(&daemon, &frontend_attrs, &dockerfile, registry_auth.clone())
            .await;
    }
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
    };
    let build = build_on(&daemon, setup, &args, build_platform, definition);
    let outcome = tokio::select! {
        outcome = build => outcome,
        signal = interrupted() => {
            return Err(format!("{signal}: the build was cancelled"));
        }
    };
    let outcome = outcome.map_err(render_build_error)?;
    report(&outcome, &exports, args.metadata_file.as_deref())
}

fn parse_secrets(args: &BuildArgs) -> Result<Vec<SecretSpec>, String> {
    args.secrets
        .iter()
        .map(|s| parse_secret(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--secret: {e}"))
}

fn parse_ssh_flags(args: &BuildArgs) -> Result<Vec<SshSpec>, String> {
    args.ssh
        .iter()
        .map(|s| parse_ssh(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--ssh: {e}"))
}

/// The Docker config with the user's registry credentials.
pub fn load_docker_config() -> Result<DockerConfig, String> {
    Ok(match DockerConfig::default_path(&process_env) {
        Some(path) => DockerConfig::load(&path).map_err(|e| e.to_string())?,
        None => DockerConfig::default(),
    })
}

/// Runs one build on `daemon` with the frontend the flags choose: a
/// marshalled definition, BuildKit's own frontend, a frontend image, or
/// crossbuild's compiler (with `setup.frontend_attrs`).
pub async fn build_on(
    daemon: &client::Daemon,
    setup: BuildSetup,
    args: &BuildArgs,
    build_platform: Platform,
    definition: Option<pb::Definition>,
) -> Result<BuildOutcome, BuildError> {
    let frontend_attrs = setup.frontend_attrs.clone();
    let frontend_options = FrontendOptions::from_attrs(&frontend_attrs)
        .map_err(|e| BuildError::SessionSetup(e.to_string()))?;
    run_build(
        daemon,
        setup,
        async |gateway: &GatewayBuild| match definition {
            Some(definition) => solve_definition(gateway, definition).await,
            None if args.reference_frontend => {
                solve_with_frontend(gateway, REFERENCE_FRONTEND, &frontend_attrs).await
            }
            None if args.frontend_image.is_some() => {
                let mut attrs = frontend_attrs.clone();
                attrs.insert(
                    "source".to_string(),
                    args.frontend_image.clone().unwrap_or_default(),
                );
                solve_with_frontend(gateway, GATEWAY_FRONTEND, &attrs).await
            }
            None => frontend::build(gateway, &frontend_options, &build_platform)
                .await
                .map_err(|e| render_frontend_error(&e)),
        },
    )
    .await
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
pub async fn build_platform(daemon: &client::Daemon) -> Result<Platform, String> {
    let workers = workers::list_workers(daemon)
        .await
        .map_err(|e| e.to_string())?;
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
pub fn render_build_error(error: BuildError) -> String {
    match error {
        BuildError::Failed {
            message,
            summary: Some(summary),
        } => {
            if let Some(step) = summary.failure() {
                eprintln!("{step}");
            }
            entitlements::explain_refusal(&message).unwrap_or(message)
        }
        other => {
            let message = other.to_string();
            entitlements::explain_refusal(&message).unwrap_or(message)
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
fn report(
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
