//! The frontend core: what turns frontend options and a Dockerfile into a
//! multi-platform build result, through whatever [`Bridge`] carries the
//! calls. The direct client runs it in-process over the client-side
//! gateway; the `# syntax=` image runs the same code over stdio.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::pb;

use crate::bridge::{Bridge, BridgeError, BuildWarning, WarningSource};
use crate::dockerfile::convert::{
    self, ConvertOptions, ImageContext, ImageResolver, NoCache, OciLayoutImage, ResolvedImage,
};
use crate::dockerfile::lint::{LintWarning, Linter};
use crate::dockerfile::{self, dockerignore};
use crate::image::ImageConfig;
use crate::llb::{self, Constrained, Local};
use crate::platform::{Platform, PlatformError};

mod run_options;

/// Local name of the build context, as BuildKit's clients send it.
pub const CONTEXT_LOCAL: &str = "context";
/// Local name of the directory that holds the Dockerfile.
pub const DOCKERFILE_LOCAL: &str = "dockerfile";

/// What went wrong in the frontend core.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// A frontend option is invalid.
    #[error("invalid frontend option {key}: {message}")]
    Option {
        /// The attribute name (`platform`, `no-cache`, ...).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The Dockerfile could not be read from the client.
    #[error("failed to read the Dockerfile ({filename}): {message}")]
    ReadDockerfile {
        /// The file name asked for.
        filename: String,
        /// Why it failed.
        message: String,
    },
    /// The Dockerfile is invalid or cannot be compiled: carries the line.
    #[error("{filename}{}: {message}", if *line > 0 { format!(":{line}") } else { String::new() })]
    Dockerfile {
        /// The Dockerfile's name.
        filename: String,
        /// 1-based line number (0 when the error has none).
        line: usize,
        /// The offending source line, if known.
        source_line: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A bridge call failed.
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    /// Building the LLB failed.
    #[error("{0}")]
    Llb(#[from] llb::LlbError),
}

/// The options of one Dockerfile build, from BuildKit frontend attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontendOptions {
    /// The Dockerfile's name inside the `dockerfile` local (`filename`).
    pub filename: String,
    /// The stage to build (`target`).
    pub target: Option<String>,
    /// Target platforms (`platform`); empty means the build platform.
    pub platforms: Vec<Platform>,
    /// Return an index even for one platform (`multi-platform`).
    pub multi_platform: bool,
    /// `build-arg:*`.
    pub build_args: BTreeMap<String, String>,
    /// `label:*`.
    pub labels: BTreeMap<String, String>,
    /// `no-cache`.
    pub no_cache: NoCache,
    /// `context:<name>` values: named build contexts (`local:<dir name>`,
    /// `docker-image://ref`, `oci-layout://<store>:<tag>@<digest>`,
    /// `https://...`, git URLs).
    pub named_contexts: BTreeMap<String, String>,
    /// `build-arg:SOURCE_DATE_EPOCH`, in seconds (BuildKit reads it as a
    /// frontend option as well as a build arg).
    pub source_date_epoch: Option<i64>,
    /// What every `RUN` gets from the options: `add-hosts`, `shm-size`,
    /// `ulimit`, `hostname` (or `build-arg:BUILDKIT_SANDBOX_HOSTNAME`).
    pub run: convert::RunOptions,
}

impl FrontendOptions {
    /// Reads the options from BuildKit frontend attributes (`filename`,
    /// `target`, `platform`, `build-arg:*`, `label:*`, `no-cache`, ...).
    pub fn from_attrs(attrs: &BTreeMap<String, String>) -> Result<Self, FrontendError> {
        let option_error = |key: &str, message: String| FrontendError::Option {
            key: key.to_string(),
            message,
        };
        let platforms = match attrs.get("platform").map(String::as_str) {
            None | Some("") => Vec::new(),
            Some(list) => Platform::parse_list(list)
                .map_err(|e: PlatformError| option_error("platform", e.to_string()))?,
        };
        let build_args: BTreeMap<String, String> = attrs
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("build-arg:")?.to_string(), v.clone())))
            .collect();
        let multi_platform = match attrs
            .get("multi-platform")
            .or_else(|| build_args.get("BUILDKIT_MULTI_PLATFORM"))
        {
            None => false,
            Some(v) => parse_bool(v)
                .ok_or_else(|| option_error("multi-platform", format!("{v:?} is not a boolean")))?,
        };
        let source_date_epoch = match build_args.get("SOURCE_DATE_EPOCH").map(String::as_str) {
            None | Some("") => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                option_error(
                    "build-arg:SOURCE_DATE_EPOCH",
                    format!("invalid SOURCE_DATE_EPOCH: {v}: not a number of seconds"),
                )
            })?),
        };
        let no_cache = match attrs.get("no-cache") {
            None => NoCache::None,
            Some(v) if v.is_empty() => NoCache::All,
            Some(v) => NoCache::Stages(v.split(',').map(|s| s.trim().to_string()).collect()),
        };
        let run = run_options::from_attrs(attrs, &build_args)?;
        Ok(FrontendOptions {
            filename: attrs
                .get("filename")
                .filter(|f| !f.is_empty())
                .cloned()
                .unwrap_or_else(|| "Dockerfile".to_string()),
            target: attrs.get("target").filter(|t| !t.is_empty()).cloned(),
            platforms,
            multi_platform,
            build_args,
            labels: attrs
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("label:")?.to_string(), v.clone())))
                .collect(),
            no_cache,
            named_contexts: attrs
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("context:")?.to_string(), v.clone())))
                .collect(),
            source_date_epoch,
            run,
        })
    }
}

/// The named contexts that are images (`docker-image://REF`,
/// `oci-layout://STORE[:TAG]@DIGEST`), whose config `FROM name` applies.
pub fn image_contexts(
    named_contexts: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, ImageContext>, FrontendError> {
    let mut contexts = BTreeMap::new();
    for (name, value) in named_contexts {
        if let Some(reference) = value.strip_prefix("docker-image://") {
            let normalized =
                llb::normalize_image_ref(reference).map_err(|e| FrontendError::Option {
                    key: format!("context:{name}"),
                    message: e.to_string(),
                })?;
            contexts.insert(name.clone(), ImageContext::Registry(normalized));
        } else if let Some(reference) = value.strip_prefix("oci-layout://") {
            let image = parse_oci_layout(name, reference)?;
            contexts.insert(name.clone(), ImageContext::OciLayout(image));
        }
    }
    Ok(contexts)
}

/// The LLB source a named build context stands for.
fn named_context_state(
    name: &str,
    value: &str,
    session: Option<&str>,
) -> Result<llb::State, FrontendError> {
    // The user wrote the value after `--build-context name=`: say which.
    let invalid = |e: llb::LlbError| FrontendError::Option {
        key: format!("context:{name}"),
        message: e.to_string(),
    };
    if let Some(local_name) = value.strip_prefix("local:") {
        let mut local = Local::new(local_name)
            .shared_key_hint(local_name)
            .custom_name(format!("[internal] load build context {name}"));
        if let Some(session) = session {
            local = local.session_id(session);
        }
        return Ok(local.into_state());
    }
    if let Some(reference) = value.strip_prefix("docker-image://") {
        return Ok(llb::Image::new(reference).map_err(invalid)?.into_state());
    }
    if let Some(reference) = value.strip_prefix("oci-layout://") {
        return oci_layout_state(name, reference, session);
    }
    if value.starts_with("https://") || value.starts_with("http://") {
        if is_git_url(value) {
            return Ok(llb::Git::new(value).map_err(invalid)?.into_state());
        }
        // Whatever the URL's last segment or the server's headers say,
        // BuildKit names the download `context`: `COPY --from=name / /x`
        // gives `/x/context`.
        return Ok(llb::Http::new(value)
            .map_err(invalid)?
            .filename("context")
            .custom_name(format!("[context {name}] {value}"))
            .into_state());
    }
    if value.starts_with("git@") || value.starts_with("git://") || value.starts_with("ssh://") {
        return Ok(llb::Git::new(value).map_err(invalid)?.into_state());
    }
    Err(FrontendError::Option {
        key: format!("context:{name}"),
        message: format!("unsupported named context value {value:?}"),
    })
}

/// Whether an http(s) URL names a git repository: its path (without
/// query and fragment) ends in `.git`, BuildKit's `gitutil.ParseGitRef`
/// rule; any other URL is a file to download.
fn is_git_url(url: &str) -> bool {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].ends_with(".git")
}

/// Parses the value of an `oci-layout://<store>[:tag]@<digest>` context:
/// the image `digest` in the content store `oci:<store>` the client serves
/// in the session (BuildKit dockerui `namedcontext.go`). The reference is
/// the context's name with the digest, as BuildKit writes it; only the
/// digest and the store matter to the daemon.
fn parse_oci_layout(name: &str, reference: &str) -> Result<OciLayoutImage, FrontendError> {
    let option_error = |message: String| FrontendError::Option {
        key: format!("context:{name}"),
        message,
    };
    let (store_and_tag, digest) = reference
        .split_once('@')
        .ok_or_else(|| option_error(format!("oci-layout reference {reference:?} has no digest")))?;
    let store = store_and_tag
        .split_once(':')
        .map_or(store_and_tag, |(store, _tag)| store);
    if store.is_empty() {
        return Err(option_error(format!(
            "oci-layout reference {reference:?} has no store name"
        )));
    }
    let display = llb::normalize_image_ref(&format!("{name}@{digest}"))
        .map_err(|e| option_error(e.to_string()))?;
    Ok(OciLayoutImage {
        reference: display,
        store: store.to_string(),
    })
}

/// The source for an `oci-layout://` context (see [`parse_oci_layout`]).
fn oci_layout_state(
    name: &str,
    reference: &str,
    session: Option<&str>,
) -> Result<llb::State, FrontendError> {
    let image = parse_oci_layout(name, reference)?;
    let layout = llb::OciLayout::new(&image.reference)?
        .store(session.unwrap_or_default(), &image.store)
        .custom_name(format!("[context {name}] OCI load from client"));
    Ok(layout.into_state())
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Builds the Dockerfile the options name: reads it and its ignore file
/// from the client, compiles one graph per target platform, solves them
/// and returns the result the exporters take (refs per platform, image
/// configs, `refs.platforms`).
pub async fn build(
    bridge: &dyn Bridge,
    options: &FrontendOptions,
    build_platform: &Platform,
) -> Result<gw::Result, FrontendError> {
    build_observed(bridge, options, build_platform, |_| {}).await
}

/// [`build`], handing every target platform's marshalled definition to
/// `compiled` once all are compiled and before any is solved (the CLI
/// plans where each step runs from them, without compiling twice).
pub async fn build_observed(
    bridge: &dyn Bridge,
    options: &FrontendOptions,
    build_platform: &Platform,
    compiled: impl FnOnce(&[(Platform, pb::Definition)]),
) -> Result<gw::Result, FrontendError> {
    let source = read_dockerfile(bridge, &options.filename).await?;
    let dockerfile_error =
        |line: usize, source_line: Option<String>, message: String| FrontendError::Dockerfile {
            filename: options.filename.clone(),
            line,
            source_line,
            message,
        };
    let dockerfile = dockerfile::parse(&source.dockerfile)
        .map_err(|e| dockerfile_error(e.line, e.source_line.clone(), e.kind.to_string()))?;
    let excludes = match &source.dockerignore {
        Some(bytes) => {
            dockerignore::read_patterns(bytes).map_err(|e| FrontendError::ReadDockerfile {
                filename: ".dockerignore".to_string(),
                message: e.to_string(),
            })?
        }
        None => Vec::new(),
    };
    let mut context = Local::new(CONTEXT_LOCAL)
        .shared_key_hint(CONTEXT_LOCAL)
        .exclude_patterns(&excludes)
        .custom_name("[internal] load build context");
    if let Some(session) = bridge.session_id() {
        context = context.session_id(session);
    }
    let targets = if options.platforms.is_empty() {
        vec![build_platform.clone()]
    } else {
        options.platforms.clone()
    };
    let convert_options = ConvertOptions {
        target: options.target.clone(),
        target_platforms: targets.clone(),
        build_platform: build_platform.clone(),
        build_args: options.build_args.clone(),
        labels: options.labels.clone(),
        context: context.into_state(),
        no_cache: options.no_cache.clone(),
        named_contexts: options
            .named_contexts
            .iter()
            .map(|(name, value)| {
                Ok((
                    name.clone(),
                    named_context_state(name, value, bridge.session_id())?,
                ))
            })
            .collect::<Result<_, FrontendError>>()?,
        image_contexts: image_contexts(&options.named_contexts)?,
        source_date_epoch: options.source_date_epoch,
        source: Some(Arc::new(llb::SourceFile {
            filename: options.filename.clone(),
            language: "Dockerfile".to_string(),
            data: source.dockerfile.clone(),
        })),
        run: options.run.clone(),
    };
    let resolver = BridgeResolver::new(bridge);
    let convert_error = |e: convert::ConvertError| {
        dockerfile_error(e.line, source_line(&source.dockerfile, e.line), e.message)
    };
    let linter =
        Linter::new(convert::lint_config(&dockerfile, &convert_options).map_err(convert_error)?);
    let converted =
        convert::convert_with_linter(&dockerfile, &convert_options, &resolver, &linter).await;
    // The warnings go out before any error, as BuildKit's frontend sends
    // them while it converts.
    for warning in linter.warnings() {
        send_warning(bridge, &source, &options.filename, &warning).await?;
    }
    let builds = converted.map_err(convert_error)?;
    if let Some(message) = linter.error() {
        return Err(dockerfile_error(0, None, message));
    }

    let mut refs = BTreeMap::new();
    let mut metadata = HashMap::new();
    let mut platform_entries = Vec::new();
    let mut definitions: Vec<(Platform, pb::Definition)> = builds
        .iter()
        .map(|platform_build| platform_build.platform.clone())
        .zip(convert::marshal_builds(&builds)?)
        .collect();
    compiled(&definitions);
    // All platforms are solved at once, as BuildKit's frontend does: each
    // solve is a round trip the daemon mostly spends waiting on its
    // cache, and shared `$BUILDPLATFORM` ops are deduplicated by it.
    let results = futures::future::try_join_all(
        definitions
            .drain(..)
            .map(|(_, definition)| bridge.solve(definition)),
    )
    .await?;
    for (platform_build, result) in builds.iter().zip(results) {
        let id = platform_build.platform.normalized_id();
        let config = platform_build
            .config
            .to_json()
            .map_err(|e| FrontendError::Option {
                key: "image config".to_string(),
                message: e.to_string(),
            })?;
        metadata.insert(format!("containerimage.config/{id}"), config);
        // BuildKit's frontend returns the base image's config too: the
        // exporter leaves its history and layers alone when it applies
        // SOURCE_DATE_EPOCH.
        if let Some(base) = &platform_build.base_config {
            let base = base.to_json().map_err(|e| FrontendError::Option {
                key: "base image config".to_string(),
                message: e.to_string(),
            })?;
            metadata.insert(format!("containerimage.base.config/{id}"), base);
        }
        platform_entries.push(serde_json::json!({
            "ID": id,
            "Platform": platform_json(&platform_build.platform),
        }));
        refs.insert(id, result.unwrap_or_default());
    }
    metadata.insert(
        "refs.platforms".to_string(),
        serde_json::to_vec(&serde_json::json!({ "Platforms": platform_entries }))
            .unwrap_or_default(),
    );
    Ok(assemble_result(refs, metadata, options.multi_platform))
}

/// A single ref (with an unsuffixed config) when one platform was built and
/// no index was asked for, as BuildKit's frontend does; refs per platform
/// otherwise.
fn assemble_result(
    refs: BTreeMap<String, String>,
    mut metadata: HashMap<String, Vec<u8>>,
    multi_platform: bool,
) -> gw::Result {
    if refs.len() == 1 && !multi_platform {
        if let Some((id, ref_id)) = refs.first_key_value() {
            for key in ["containerimage.config", "containerimage.base.config"] {
                if let Some(config) = metadata.remove(&format!("{key}/{id}")) {
                    metadata.insert(key.to_string(), config);
                }
            }
            return gw::Result {
                result: Some(gw::result::Result::Ref(gw::Ref {
                    id: ref_id.clone(),
                    def: None,
                })),
                metadata,
                ..Default::default()
            };
        }
    }
    gw::Result {
        result: Some(gw::result::Result::Refs(gw::RefMap {
            refs: refs
                .into_iter()
                .map(|(id, ref_id)| {
                    (
                        id,
                        gw::Ref {
                            id: ref_id,
                            def: None,
                        },
                    )
                })
                .collect(),
        })),
        metadata,
        ..Default::default()
    }
}

/// Shows one build check warning under the Dockerfile's load step, with
/// the rule's description and documentation link, as BuildKit does.
async fn send_warning(
    bridge: &dyn Bridge,
    source: &DockerfileSource,
    filename: &str,
    warning: &LintWarning,
) -> Result<(), FrontendError> {
    let Some(vertex) = &source.vertex else {
        return Ok(());
    };
    let warning = BuildWarning {
        vertex: vertex.clone(),
        short: warning.short(),
        detail: vec![warning.rule.description.to_string()],
        url: warning.rule.url.to_string(),
        source: (warning.line > 0).then(|| WarningSource {
            filename: filename.to_string(),
            data: source.dockerfile.clone(),
            start_line: warning.line,
            end_line: warning.end_line,
        }),
    };
    bridge.warn(warning).await?;
    Ok(())
}

/// The text of 1-based `line` in `source`, for error messages.
fn source_line(source: &[u8], line: usize) -> Option<String> {
    let text = String::from_utf8_lossy(source);
    line.checked_sub(1)
        .and_then(|index| text.lines().nth(index))
        .map(str::to_string)
}

fn platform_json(platform: &Platform) -> serde_json::Value {
    let mut value = serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
    });
    if let Some(variant) = &platform.variant {
        value["variant"] = serde_json::Value::String(variant.clone());
    }
    value
}

/// The Dockerfile and its ignore file, as read from the client.
pub struct DockerfileSource {
    /// The Dockerfile's bytes.
    pub dockerfile: Vec<u8>,
    /// `<name>.dockerignore` or the context's `.dockerignore`, if any.
    pub dockerignore: Option<Vec<u8>>,
    /// The digest of the step that loaded the Dockerfile, which warnings
    /// about it are attached to.
    pub vertex: Option<String>,
}

/// Reads the Dockerfile (and `<name>.dockerignore` beside it, or the
/// context's `.dockerignore`) through small local sources that sync only
/// those files. Public for the subrequests that answer from the
/// Dockerfile alone (`frontend.targets`).
pub async fn read_dockerfile(
    bridge: &dyn Bridge,
    filename: &str,
) -> Result<DockerfileSource, FrontendError> {
    let read_error = |message: String| FrontendError::ReadDockerfile {
        filename: filename.to_string(),
        message,
    };
    let own_ignore = format!("{filename}.dockerignore");
    let mut local = Local::new(DOCKERFILE_LOCAL)
        .follow_paths(&[filename, own_ignore.as_str()])
        .shared_key_hint(DOCKERFILE_LOCAL)
        .custom_name("[internal] load build definition from Dockerfile");
    if let Some(session) = bridge.session_id() {
        local = local.session_id(session);
    }
    let definition = llb::marshal(&local.into_state())?;
    // The local source is the first op; the last one only points at it.
    let vertex = definition.def.first().map(|op| llb::digest_of(op));
    let own_files = async {
        let result = bridge
            .solve(definition)
            .await
            .map_err(|e| read_error(e.message))?
            .ok_or_else(|| read_error("the client sent no files".to_string()))?;
        let dockerfile = bridge
            .read_file(&result, filename)
            .await
            .map_err(|e| read_error(e.message))?;
        let own_ignore = bridge.read_file(&result, &own_ignore).await.ok();
        Ok::<_, FrontendError>((dockerfile, own_ignore))
    };
    // The context's `.dockerignore` is read at the same time, not after:
    // each read is a round trip through the daemon and the session, and
    // the build waits for both. It is dropped when the Dockerfile has its
    // own ignore file.
    let (own_files, context_ignore) = futures::join!(own_files, read_context_dockerignore(bridge));
    let (dockerfile, own_ignore) = own_files?;
    let dockerignore = own_ignore.or(context_ignore);
    Ok(DockerfileSource {
        dockerfile,
        dockerignore,
        vertex,
    })
}

async fn read_context_dockerignore(bridge: &dyn Bridge) -> Option<Vec<u8>> {
    let mut local = Local::new(CONTEXT_LOCAL)
        .follow_paths(&[".dockerignore"])
        .shared_key_hint(CONTEXT_LOCAL)
        .custom_name("[internal] load .dockerignore");
    if let Some(session) = bridge.session_id() {
        local = local.session_id(session);
    }
    let definition = llb::marshal(&local.into_state()).ok()?;
    let result = bridge.solve(definition).await.ok()??;
    bridge.read_file(&result, ".dockerignore").await.ok()
}

/// Resolves base images through a [`Bridge`] (the daemon's gateway, with
/// its registry access and the session's credentials). Each answer is
/// asked for once per build: the compiler keeps them (`ResolveCache`).
pub struct BridgeResolver<'a> {
    bridge: &'a dyn Bridge,
}

impl<'a> BridgeResolver<'a> {
    /// A resolver asking `bridge`.
    pub fn new(bridge: &'a dyn Bridge) -> Self {
        BridgeResolver { bridge }
    }
}

#[async_trait::async_trait]
impl ImageResolver for BridgeResolver<'_> {
    async fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let resolved = self
            .bridge
            .resolve_image_config(reference, platform)
            .await
            .map_err(|e| e.message)?;
        let config = ImageConfig::from_json(&resolved.config).map_err(|e| e.to_string())?;
        Ok(ResolvedImage {
            digest: resolved.digest,
            config,
        })
    }

    async fn resolve_oci_layout(
        &self,
        image: &OciLayoutImage,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let resolved = self
            .bridge
            .resolve_oci_layout_config(&image.reference, &image.store, platform)
            .await
            .map_err(|e| e.message)?;
        let config = ImageConfig::from_json(&resolved.config).map_err(|e| e.to_string())?;
        Ok(ResolvedImage {
            digest: resolved.digest,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_buildkit_attributes() {
        let attrs = BTreeMap::from([
            ("filename".to_string(), "Dockerfile.cross".to_string()),
            ("platform".to_string(), "linux/amd64,arm64".to_string()),
            ("build-arg:VERSION".to_string(), "1.2".to_string()),
            ("label:org.example".to_string(), "yes".to_string()),
            ("target".to_string(), "runtime".to_string()),
            ("no-cache".to_string(), "".to_string()),
        ]);
        let options = FrontendOptions::from_attrs(&attrs).unwrap();
        assert_eq!(options.filename, "Dockerfile.cross");
        assert_eq!(
            options
                .platforms
                .iter()
                .map(Platform::to_string)
                .collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(options.build_args["VERSION"], "1.2");
        assert_eq!(options.labels["org.example"], "yes");
        assert_eq!(options.target.as_deref(), Some("runtime"));
        assert_eq!(options.no_cache, NoCache::All);
        assert!(!options.multi_platform);
    }

    #[test]
    fn bad_options_are_named() {
        let attrs = BTreeMap::from([("platform".to_string(), "linux/arm/v7/extra".to_string())]);
        let err = FrontendOptions::from_attrs(&attrs).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid frontend option platform"),
            "{err}"
        );
        let attrs = BTreeMap::from([("multi-platform".to_string(), "maybe".to_string())]);
        assert!(FrontendOptions::from_attrs(&attrs).is_err());
    }

    #[test]
    fn oci_layout_contexts_load_from_the_session_store() {
        use bollard_buildkit_proto::pb;
        use prost::Message;
        let digest = format!("sha256:{}", "ab".repeat(32));
        let state = named_context_state(
            "base",
            &format!("oci-layout://oci-context-1234:v1@{digest}"),
            Some("session-1"),
        )
        .unwrap();
        let definition = llb::marshal(&state).unwrap();
        let source = definition
            .def
            .iter()
            .filter_map(|bytes| pb::Op::decode(bytes.as_slice()).ok())
            .find_map(|op| match op.op {
                Some(pb::op::Op::Source(source)) => Some(source),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            source.identifier,
            format!("oci-layout://docker.io/library/base@{digest}")
        );
        assert_eq!(source.attrs["oci.store"], "oci-context-1234");
        assert_eq!(source.attrs["oci.session"], "session-1");
        for bad in ["oci-layout://store:v1", "oci-layout://@sha256:00"] {
            let err = named_context_state("base", bad, None).unwrap_err();
            assert!(err.to_string().contains("context:base"), "{err}");
        }
    }

    /// The source op of a named context's state.
    fn context_source(name: &str, value: &str) -> bollard_buildkit_proto::pb::SourceOp {
        use prost::Message;
        let state = named_context_state(name, value, None).unwrap();
        llb::marshal(&state)
            .unwrap()
            .def
            .iter()
            .filter_map(|bytes| pb::Op::decode(bytes.as_slice()).ok())
            .find_map(|op| match op.op {
                Some(pb::op::Op::Source(source)) => Some(source),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn url_contexts_are_git_repositories_or_one_file_named_context() {
        for url in [
            "https://example.com/files/app.tar.gz",
            "http://127.0.0.1:8080/",
            "https://example.com/a.git/file",
            "https://example.com/x?name=a.git",
        ] {
            let source = context_source("web", url);
            assert_eq!(source.identifier, url);
            assert_eq!(source.attrs["http.filename"], "context", "{url}");
        }
        for url in [
            "https://example.com/repo.git",
            "http://example.com/repo.git#main",
            "https://example.com/repo.git#v1:sub/dir",
            "https://example.com/repo.git?ref=main",
        ] {
            let source = context_source("repo", url);
            assert!(source.identifier.starts_with("git://"), "{url}: {source:?}");
        }
    }

    #[test]
    fn one_platform_gives_one_ref_unless_an_index_is_asked_for() {
        let refs = BTreeMap::from([("linux/amd64".to_string(), "r1".to_string())]);
        let metadata = HashMap::from([(
            "containerimage.config/linux/amd64".to_string(),
            b"{}".to_vec(),
        )]);
        let single = assemble_result(refs.clone(), metadata.clone(), false);
        assert!(matches!(single.result, Some(gw::result::Result::Ref(_))));
        assert!(single.metadata.contains_key("containerimage.config"));
        let multi = assemble_result(refs, metadata, true);
        assert!(matches!(multi.result, Some(gw::result::Result::Refs(_))));
    }
}
