//! Preparing one target platform: its stage graph, and the bases of the
//! stages the target needs resolved through the caller's resolver
//! (BuildKit's `toDispatchState` up to the dispatch). The only part of a
//! conversion that waits on the daemon; the rest runs on its own core.

use std::collections::{BTreeSet, HashMap};

use crate::dockerfile::instructions::{
    parse_instruction, suggest, Command, Instruction, ParsedInstruction, Stages,
};
use crate::image::ImageConfig;
use crate::llb::{self, Constrained};
use crate::platform::Platform;

use super::args::{self, EnvList};
use super::checks;
use super::config::empty_image;
use super::dispatch::PlatformContext;
use super::stages::{Base, StageGraph};
use super::{ConvertError, ImageContext, ImageResolver, OciLayoutImage, ResolveCache, Result};

/// A base image after resolution.
#[derive(Clone)]
pub(super) struct ResolvedBase {
    /// The base filesystem; for registry images it is rebuilt with its
    /// step name at dispatch time.
    pub(super) state: llb::State,
    pub(super) image: ImageConfig,
    pub(super) platform: Platform,
    /// The reference pinned by digest, for registry images with layers.
    pub(super) pinned: Option<String>,
    /// The image config as resolved (times kept), for registry images.
    pub(super) original: Option<ImageConfig>,
}

/// Where a base image's config is resolved from.
#[derive(Clone, Copy)]
enum ImageSource<'a> {
    /// A registry, by normalised reference.
    Registry(&'a String),
    /// An OCI layout context, by context name.
    OciLayout(&'a str, &'a OciLayoutImage),
}

/// A platform's stage graph with every base it needs resolved: all that
/// converting it needs from the daemon.
pub(super) struct Prepared<'a> {
    /// The global ARGs, with the platform args.
    pub(super) global: EnvList,
    pub(super) graph: StageGraph<'a>,
    /// The target node.
    pub(super) target: usize,
    /// The nodes the target needs.
    pub(super) reachable: BTreeSet<usize>,
    /// The resolved base of every reachable node that has one.
    pub(super) bases: HashMap<usize, ResolvedBase>,
    /// The ONBUILD triggers each reachable node inherits.
    pub(super) triggers: HashMap<usize, Vec<Command>>,
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
                    let state = self.named_context(name, &platform);
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
                    let state = self.named_context(name, &platform);
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
    /// The files of the named context `name`, on `platform` (a base only
    /// names a context that was given; an empty state otherwise).
    fn named_context(&self, name: &str, platform: &Platform) -> llb::State {
        self.opts
            .named_contexts
            .get(name)
            .cloned()
            .unwrap_or_default()
            .platform(platform)
    }

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
