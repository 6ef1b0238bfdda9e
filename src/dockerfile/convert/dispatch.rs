//! Converting one target platform once its bases are resolved
//! ([`super::prepare`]): dispatch each stage's instructions in Dockerfile
//! order (BuildKit's `dispatch`), then finish the target's image config.

use std::collections::HashMap;

use crate::dockerfile::instructions::Command;
use crate::dockerfile::lint::Linter;
use crate::dockerfile::shell::Lexer;
use crate::image::ImageConfig;
use crate::llb::{self, Constrained};
use crate::platform::Platform;

use super::args::{EnvList, StageArg};
use super::checks::StageChecks;
use super::config::{self, DEFAULT_PATH};
use super::names::StepCounter;
use super::prepare::{Prepared, ResolvedBase};
use super::stage::StageBuild;
use super::stages::{Base, StageGraph};
use super::{ConvertError, ConvertOptions, Result};

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

impl PlatformContext<'_> {
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
