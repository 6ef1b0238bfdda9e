//! Converting one target platform: resolve the bases of the stages the
//! target needs, then dispatch each stage's instructions in Dockerfile
//! order (BuildKit's `toDispatchState` and `dispatch`).

use std::collections::{BTreeSet, HashMap};

use crate::dockerfile::instructions::{
    parse_instruction, suggest, Command, Instruction, ParsedInstruction, Stages,
};
use crate::dockerfile::shell::Lexer;
use crate::image::ImageConfig;
use crate::llb::{self, Constrained};
use crate::platform::Platform;

use super::args::{self, EnvList, StageArg};
use super::checks::{self, StageChecks};
use super::config::{self, empty_image, DEFAULT_PATH};
use super::names::StepCounter;
use super::stage::StageBuild;
use super::stages::{Base, StageGraph};
use super::{
    ConvertError, ConvertOptions, ImageContext, ImageResolver, OciLayoutImage, ResolveCache, Result,
};
use crate::dockerfile::lint::Linter;

/// Description key BuildKit puts the instruction text under.
pub(super) const DF_CMD_KEY: &str = "com.docker.dockerfile.v1.command";

/// Settings shared by every stage of one target platform.
pub(super) struct PlatformContext<'a> {
    pub opts: &'a ConvertOptions,
    pub target: Platform,
    pub implicit_target: bool,
    pub multi_platform: bool,
    pub lexer: Lexer,
    /// Where the build checks report, for the platform that reports.
    pub lint: Option<&'a Linter>,
}

impl PlatformContext<'_> {
    /// Lines `start..=end` of the Dockerfile, for the source map (`None`
    /// when the caller gave no source).
    pub fn location(&self, start: usize, end: usize) -> Option<llb::SourceLocation> {
        let file = self.opts.source.as_ref()?;
        Some(llb::SourceLocation::new(file, start, end))
    }
}

/// A base image after resolution.
#[derive(Clone)]
struct ResolvedBase {
    /// The base filesystem; for registry images it is rebuilt with its
    /// step name at dispatch time.
    state: llb::State,
    image: ImageConfig,
    platform: Platform,
    /// The reference pinned by digest, for registry images with layers.
    pinned: Option<String>,
    /// The image config as resolved (times kept), for registry images.
    original: Option<ImageConfig>,
}

/// Where a base image's config is resolved from.
#[derive(Clone, Copy)]
enum ImageSource<'a> {
    /// A registry, by normalised reference.
    Registry(&'a String),
    /// An OCI layout context, by context name.
    OciLayout(&'a str, &'a OciLayoutImage),
}

/// A dispatched stage: what later stages build on or copy from.
#[derive(Clone)]
pub(super) struct Dispatched {
    pub state: llb::State,
    pub image: ImageConfig,
    pub platform: Platform,
    pub args: Vec<StageArg>,
    /// Whether a WORKDIR was set in this build (for `WorkdirRelativePath`).
    pub workdir_set: bool,
    /// The config of the registry image at the root of this stage's
    /// chain of bases (BuildKit's `baseImg`), if there is one.
    pub base_image: Option<ImageConfig>,
}

/// What one target platform converts to.
pub(super) struct Converted {
    pub state: llb::State,
    pub config: ImageConfig,
    pub base_config: Option<ImageConfig>,
}

/// A platform's stage graph with every base it needs resolved: all that
/// converting it needs from the daemon.
pub(super) struct Prepared<'a> {
    global: EnvList,
    graph: StageGraph<'a>,
    target: usize,
    reachable: BTreeSet<usize>,
    bases: HashMap<usize, ResolvedBase>,
    triggers: HashMap<usize, Vec<Command>>,
}

impl PlatformContext<'_> {
    /// Builds the stage graph for this platform and resolves the bases of
    /// the stages the target needs (following ONBUILD triggers, which can
    /// add stages). The only part of a conversion that waits on the
    /// resolver; [`PlatformContext::dispatch`] does the rest.
    pub async fn prepare<'s>(
        &self,
        stages: &'s Stages,
        resolver: &dyn ImageResolver,
        cache: &ResolveCache,
    ) -> Result<Prepared<'s>> {
        let opts = self.opts;
        let target_name = match &opts.target {
            Some(t) => t.clone(),
            None => stages
                .stages
                .last()
                .and_then(|s| s.name.clone())
                .unwrap_or_default(),
        };
        let global = args::platform_args(
            &opts.build_platform,
            &self.target,
            &target_name,
            &opts.build_args,
        );
        if let Some(linter) = self.lint {
            // Base names must also be valid with the defaults alone.
            let defaults = args::meta_args(
                global.clone(),
                &self.lexer,
                &stages.meta_args,
                &Default::default(),
            )
            .unwrap_or_default();
            let with_args = args::meta_args(
                global.clone(),
                &self.lexer,
                &stages.meta_args,
                &opts.build_args,
            )
            .unwrap_or_default();
            let declared = stages
                .meta_args
                .iter()
                .flat_map(|m| m.args.iter().map(|a| a.key.clone()))
                .collect();
            checks::check_from_lines(
                stages,
                &with_args,
                &defaults,
                &declared,
                &self.lexer,
                linter,
            );
        }
        let global = args::meta_args(global, &self.lexer, &stages.meta_args, &opts.build_args)?;
        let mut graph = StageGraph::build(stages, &global, &self.lexer, &opts.named_contexts)?;
        let target = graph.target(opts.target.as_deref())?;

        let mut bases: HashMap<usize, ResolvedBase> = HashMap::new();
        let mut triggers: HashMap<usize, Vec<Command>> = HashMap::new();
        let reachable = loop {
            let reachable = graph.reachable(target);
            self.resolve_bases(&graph, &reachable, &mut bases, resolver, cache)
                .await?;
            let mut new_deps = false;
            for &i in &reachable {
                if triggers.contains_key(&i) {
                    continue;
                }
                let cmds = self.onbuild_triggers(&graph, &bases, i)?;
                new_deps |= graph.add_deps(i, &cmds, &opts.named_contexts)?;
                triggers.insert(i, cmds);
            }
            if !new_deps {
                break reachable;
            }
            graph.check_cycles()?;
        };
        Ok(Prepared {
            global,
            graph,
            target,
            reachable,
            bases,
            triggers,
        })
    }

    /// Converts the target stage for this platform from its prepared
    /// graph: pure computation, so platforms can run on separate threads.
    pub fn dispatch(&self, prepared: Prepared<'_>) -> Result<Converted> {
        let Prepared {
            global,
            graph,
            target,
            reachable,
            bases,
            mut triggers,
        } = prepared;
        let mut done: Vec<Option<Dispatched>> = vec![None; graph.nodes.len()];
        // Images and contexts used only through `--from` have no
        // instructions; BuildKit has them ready before any stage runs.
        let order = (graph.stage_count..graph.nodes.len()).chain(0..graph.stage_count);
        for i in order {
            if !reachable.contains(&i) {
                continue;
            }
            let trig = triggers.remove(&i).unwrap_or_default();
            let d = self.dispatch_stage(&graph, &global, &bases, &done, i, trig)?;
            done[i] = Some(d);
        }
        let Some(result) = done.get_mut(target).and_then(Option::take) else {
            return Err(ConvertError::new(0, "target stage was not converted"));
        };
        let base_len = result.base_image.as_ref().map_or(0, |b| b.history.len());
        Ok(Converted {
            state: result.state,
            config: self.finalize_image(result.image, base_len),
            base_config: result.base_image,
        })
    }

    /// Resolves the image, scratch or context base of every reachable node
    /// that starts from one, concurrently.
    async fn resolve_bases(
        &self,
        graph: &StageGraph<'_>,
        reachable: &BTreeSet<usize>,
        bases: &mut HashMap<usize, ResolvedBase>,
        resolver: &dyn ImageResolver,
        cache: &ResolveCache,
    ) -> Result<()> {
        let mut pending = Vec::new();
        for &i in reachable {
            let node = &graph.nodes[i];
            if bases.contains_key(&i) {
                continue;
            }
            let platform = node.platform.clone().unwrap_or_else(|| self.target.clone());
            match &node.base {
                Base::Stage(_) => {}
                Base::Scratch => {
                    // BuildKit builds `FROM scratch` for the target platform
                    // whatever `--platform` says.
                    let p = self.target.clone();
                    let base = ResolvedBase {
                        state: llb::State::scratch().platform(&p),
                        image: empty_image(&p),
                        platform: p,
                        pinned: None,
                        original: None,
                    };
                    bases.insert(i, base);
                }
                Base::Context(name) if !self.opts.image_contexts.contains_key(name) => {
                    let state = self
                        .opts
                        .named_contexts
                        .get(name)
                        .cloned()
                        .unwrap_or_default()
                        .platform(&platform);
                    let base = ResolvedBase {
                        state,
                        image: empty_image(&platform),
                        platform,
                        pinned: None,
                        original: None,
                    };
                    bases.insert(i, base);
                }
                // An image context is an image: its config (ENV, WORKDIR,
                // USER, ...) is resolved and applied as for `FROM <image>`,
                // as BuildKit's frontend does.
                Base::Image(_) | Base::Context(_) => {
                    let source = match &node.base {
                        Base::Context(name) => match self.opts.image_contexts.get(name) {
                            Some(ImageContext::Registry(reference)) => {
                                ImageSource::Registry(reference)
                            }
                            Some(ImageContext::OciLayout(image)) => {
                                ImageSource::OciLayout(name, image)
                            }
                            None => continue,
                        },
                        Base::Image(reference) => ImageSource::Registry(reference),
                        _ => continue,
                    };
                    let fut = async move {
                        let answer = match source {
                            ImageSource::Registry(reference) => {
                                cache.resolve(resolver, reference, &platform).await
                            }
                            ImageSource::OciLayout(_, image) => {
                                cache.resolve_oci_layout(resolver, image, &platform).await
                            }
                        };
                        (i, source, platform, answer)
                    };
                    pending.push(fut);
                }
            }
        }
        for (i, source, platform, answer) in futures::future::join_all(pending).await {
            let node = &graph.nodes[i];
            let resolved = answer.map_err(|e| {
                let message = match source {
                    ImageSource::Registry(reference) => {
                        // A name that fails to resolve is often a misspelt
                        // stage (`COPY --from=biulder`): say which, as
                        // BuildKit does.
                        let stages: Vec<&str> = graph.nodes[..graph.stage_count]
                            .iter()
                            .filter_map(|n| n.name.as_deref())
                            .collect();
                        let hint = suggest::hint(
                            &suggest::closest(&node.base_name, &stages).map(str::to_string),
                        );
                        format!("{}{hint}", resolve_error(reference, &platform, &e))
                    }
                    ImageSource::OciLayout(name, image) => format!(
                        "oci-layout context {name}: {}",
                        resolve_error(&image.reference, &platform, &e)
                    ),
                };
                ConvertError::new(node.line, message)
            })?;
            if let Some(linter) = self.lint {
                let config = &resolved.config;
                checks::check_base_platform(
                    linter,
                    &node.base_name,
                    &platform,
                    &config.os,
                    &config.architecture,
                    &config.variant,
                    node.line,
                );
            }
            let original = resolved.config;
            let mut image = original.clone();
            image.created = None;
            let reference = match source {
                ImageSource::Registry(reference) => reference,
                // The layout's files come from the context's own source
                // (read through the session); only the config is new.
                ImageSource::OciLayout(name, _) => {
                    let state = self
                        .opts
                        .named_contexts
                        .get(name)
                        .cloned()
                        .unwrap_or_default()
                        .platform(&platform);
                    let base = ResolvedBase {
                        state,
                        image,
                        platform,
                        pinned: None,
                        original: Some(original),
                    };
                    bases.insert(i, base);
                    continue;
                }
            };
            let pinned = if resolved.digest.contains('@') {
                resolved.digest.clone()
            } else if resolved.digest.is_empty() {
                reference.clone()
            } else {
                format!("{reference}@{}", resolved.digest)
            };
            let is_scratch =
                image.rootfs.diff_ids.is_empty() && image.history.iter().all(|h| h.empty_layer);
            let state = if is_scratch {
                llb::State::scratch().platform(&platform)
            } else {
                llb::Image::new(&pinned)
                    .map_err(|e| ConvertError::new(node.line, e.to_string()))?
                    .platform(&platform)
                    .into_state()
            };
            let base = ResolvedBase {
                state,
                image,
                platform,
                pinned: (!is_scratch).then_some(pinned),
                original: Some(original),
            };
            bases.insert(i, base);
        }
        Ok(())
    }

    /// The ONBUILD triggers node `i` inherits: those of its base image's
    /// config, or the ONBUILD instructions of its base stage.
    fn onbuild_triggers(
        &self,
        graph: &StageGraph<'_>,
        bases: &HashMap<usize, ResolvedBase>,
        i: usize,
    ) -> Result<Vec<Command>> {
        let node = &graph.nodes[i];
        let exprs: Vec<String> = match node.base {
            Base::Stage(j) => graph.nodes[j]
                .commands
                .iter()
                .filter_map(|c| match &c.instruction {
                    Instruction::Onbuild(o) => Some(o.expression.clone()),
                    _ => None,
                })
                .collect(),
            _ => bases
                .get(&i)
                .map(|b| b.image.config.on_build.clone())
                .unwrap_or_default(),
        };
        let mut out = Vec::with_capacity(exprs.len());
        for expr in exprs {
            let err = |m: String| ConvertError::new(node.line, m);
            let df = crate::dockerfile::parse(expr.as_bytes()).map_err(|e| err(e.to_string()))?;
            let [trigger] = df.nodes.as_slice() else {
                return Err(err("onbuild trigger should be a single expression".into()));
            };
            let mut trigger = trigger.clone();
            trigger.span.start = node.line;
            trigger.span.end = node.line;
            match parse_instruction(&trigger).map_err(|e| err(e.kind.to_string()))? {
                ParsedInstruction::Command(cmd) => out.push(cmd),
                ParsedInstruction::From(_) => {
                    return Err(err("FROM isn't allowed as an ONBUILD trigger".into()))
                }
            }
        }
        Ok(out)
    }

    /// Sets up node `i` from its base and runs its instructions.
    fn dispatch_stage(
        &self,
        graph: &StageGraph<'_>,
        global: &EnvList,
        bases: &HashMap<usize, ResolvedBase>,
        done: &[Option<Dispatched>],
        i: usize,
        triggers: Vec<Command>,
    ) -> Result<Dispatched> {
        let node = &graph.nodes[i];
        let mut steps = StepCounter::new(node.display.clone(), node.cmd_total);
        let (mut state, mut image, platform, inherited, base_image, workdir_set) = match node.base {
            Base::Stage(j) => {
                let Some(base) = done.get(j).and_then(Option::as_ref) else {
                    return Err(ConvertError::new(node.line, "base stage was not converted"));
                };
                let mut image = base.image.clone();
                image.config.on_build.clear();
                (
                    base.state.clone(),
                    image,
                    base.platform.clone(),
                    base.args.clone(),
                    base.base_image.clone(),
                    base.workdir_set,
                )
            }
            _ => {
                let Some(base) = bases.get(&i) else {
                    return Err(ConvertError::new(node.line, "base image was not resolved"));
                };
                let mut image = base.image.clone();
                image.config.on_build.clear();
                let mut state = base.state.clone();
                if let Some(pinned) = &base.pinned {
                    // Named here, where the stage's step count is known.
                    let text = format!("FROM {pinned}");
                    let name =
                        steps.name(&text, self.multi_platform, &base.platform, &EnvList::new());
                    state = llb::Image::new(pinned)
                        .map_err(|e| ConvertError::new(node.line, e.to_string()))?
                        .platform(&base.platform)
                        .custom_name(name)
                        .description(DF_CMD_KEY, node.source.clone())
                        .location(self.location(node.line, node.line))
                        .into_state();
                }
                (
                    state,
                    image,
                    base.platform.clone(),
                    Vec::new(),
                    base.original.clone(),
                    false,
                )
            }
        };
        steps.total += triggers.len();
        if !image
            .config
            .env
            .iter()
            .any(|e| config::parse_key_value(e).0 == "PATH")
            && platform.os != "windows"
        {
            image.config.env.push(format!("PATH={DEFAULT_PATH}"));
        }
        for kv in &image.config.env {
            let (k, v) = config::parse_key_value(kv);
            state = state.add_env(k, v);
        }
        if !image.config.working_dir.is_empty() {
            let wd = normalize_workdir("/", &image.config.working_dir);
            image.config.working_dir = wd.clone();
            state = state.dir(&wd);
        }
        if !image.config.user.is_empty() {
            state = state.user(&image.config.user);
        }
        state = state.platform(&platform);
        let mut build = StageBuild {
            ctx: self,
            graph,
            done,
            global,
            state,
            image,
            platform,
            args: inherited,
            steps,
            ignore_cache: self
                .opts
                .no_cache
                .applies_to(node.name.as_deref().unwrap_or_default()),
            cmd_set: false,
            stage_index: i,
            checks: StageChecks::inheriting(workdir_set),
        };
        for cmd in &triggers {
            build.steps.onbuild = true;
            build.dispatch(cmd)?;
        }
        build.steps.onbuild = false;
        for cmd in node.commands {
            build.dispatch(cmd)?;
        }
        Ok(Dispatched {
            state: build.state,
            image: build.image,
            platform: build.platform,
            args: build.args,
            workdir_set: build.checks.workdir_set,
            base_image,
        })
    }

    /// BuildKit's `finalizeResultImage`: `--label`s, and the target
    /// platform written into the config; with `SOURCE_DATE_EPOCH`, the
    /// history entries this build wrote (those after the base image's
    /// `base_len`) carry that time, as BuildKit's `commitToHistory` does.
    fn finalize_image(&self, mut image: ImageConfig, base_len: usize) -> ImageConfig {
        if let Some(epoch) = self.opts.source_date_epoch {
            let created = config::rfc3339_seconds(epoch);
            for entry in image.history.iter_mut().skip(base_len) {
                entry.created = Some(created.clone());
            }
        }
        for (k, v) in &self.opts.labels {
            image.config.labels.insert(k.clone(), v.clone());
        }
        if !self.implicit_target {
            let t = &self.target;
            let same = t.os == image.os && t.architecture == image.architecture;
            image.os = t.os.clone();
            image.architecture = t.architecture.clone();
            if t.variant.is_some() || !same {
                image.variant = t.variant.clone().unwrap_or_default();
            }
            if t.os_version.is_some() || !same {
                image.os_version = t.os_version.clone().unwrap_or_default();
            }
            if !t.os_features.is_empty() {
                image.os_features = t.os_features.clone();
            }
        }
        image
    }
}

/// `system.NormalizeWorkdir` for Unix paths: a relative path is joined to
/// `current` and cleaned; an absolute one is kept as written (BuildKit
/// writes `WORKDIR /a/../b/` into the config and history unchanged).
pub(super) fn normalize_workdir(current: &str, wd: &str) -> String {
    if wd.starts_with('/') {
        return wd.to_string();
    }
    clean(&format!("/{current}/{wd}"))
}

/// Go's `path.Clean` for absolute slash paths.
pub(super) fn clean(p: &str) -> String {
    if p.starts_with('/') && llb::is_clean_path(p) {
        return p.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `<reference> for <platform>: <reason>`. The daemon's answer repeats the
/// reference (`failed to resolve source metadata for R: R: not found`) and
/// the transports prefix it with their call (`resolve R for P: `): say the
/// reference once, with the platform it was looked up for (an image can
/// exist for some platforms only).
fn resolve_error(reference: &str, platform: &Platform, error: &str) -> String {
    let reason = error
        .rsplit_once(&format!("{reference}: "))
        .map_or(error, |(_, reason)| reason);
    format!("{reference} for {platform}: {reason}")
}
