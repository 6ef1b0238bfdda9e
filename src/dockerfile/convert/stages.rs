//! The stage graph of one target platform: what each stage is built on,
//! which stages and images its `COPY --from` and `RUN --mount=from=` use,
//! the target, the stages reachable from it, and cycle detection — BuildKit's
//! `buildDispatchStates`, `buildStageDependencyGraph` and
//! `validateCircularDependency`.

use std::collections::{BTreeMap, BTreeSet};

use crate::dockerfile::instructions::{Command, Instruction, Stages};
use crate::dockerfile::shell::{Lexer, NoEnv};
use crate::llb;
use crate::platform::Platform;

use super::args::EnvList;
use super::{ConvertError, Result};

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Base {
    /// The empty filesystem.
    Scratch,
    /// A registry image, by normalised reference.
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
    /// A named build context supplied by the caller.
    Context(String),
}

/// One node: a Dockerfile stage, or an image/context used only through
/// `--from` (BuildKit's "unregistered" states).
#[derive(Debug, Clone)]
pub(super) struct StageNode<'a> {
    /// The lookup name (lower case) of a named stage.
    pub name: Option<String>,
    /// The name shown in progress output (`build`, `stage-2`, or empty
    /// when the Dockerfile has a single stage).
    pub display: String,
    /// The base name after expansion.
    pub base_name: String,
    /// What it starts from.
    pub base: Base,
    /// `FROM --platform=` after expansion.
    pub platform: Option<Platform>,
    /// The instructions (ONBUILD triggers get prepended later), borrowed
    /// from the parsed Dockerfile that every target platform shares.
    pub commands: &'a [Command],
    /// The FROM line (or the line of the `--from` that created the node).
    pub line: usize,
    /// The FROM source text.
    pub source: String,
    /// Nodes this one copies or mounts from, with the line that does it.
    pub deps: BTreeMap<usize, usize>,
    /// Steps that get a `[n/total]` number in progress output.
    pub cmd_total: usize,
}

/// All nodes of one conversion.
#[derive(Debug, Clone)]
pub(super) struct StageGraph<'a> {
    /// Dockerfile stages first, in order, then unregistered nodes.
    pub nodes: Vec<StageNode<'a>>,
    /// Unregistered nodes by the `--from` text that created them.
    pub by_from: BTreeMap<String, usize>,
    /// The number of Dockerfile stages.
    pub stage_count: usize,
}

impl<'a> StageGraph<'a> {
    /// Builds the nodes for `stages` with FROM lines expanded by `global`.
    pub fn build(
        stages: &'a Stages,
        global: &EnvList,
        lexer: &Lexer,
        named_contexts: &BTreeMap<String, llb::State>,
    ) -> Result<StageGraph<'a>> {
        let mut nodes: Vec<StageNode<'a>> = Vec::new();
        for (i, st) in stages.stages.iter().enumerate() {
            let line = st.span.start;
            let base_name = lexer
                .process_word(&st.base, global)
                .map_err(|e| ConvertError::new(line, e.to_string()))?
                .value;
            if base_name.is_empty() {
                return Err(ConvertError::new(
                    line,
                    format!("base name ({}) should not be blank", st.base),
                ));
            }
            let platform = match &st.platform {
                None => None,
                Some(raw) => Some(expand_platform(raw, global, lexer, line)?),
            };
            let named_ctx = st
                .name
                .as_ref()
                .filter(|n| named_contexts.contains_key(n.as_str()));
            let base = if let Some(n) = named_ctx {
                Base::Context(n.clone())
            } else {
                // Stage names are stored lower-cased, and BuildKit looks
                // the base up as written: `FROM Build` is an image name,
                // never the stage `build`.
                let earlier = nodes
                    .iter()
                    .position(|n| n.name.as_deref() == Some(base_name.as_str()));
                match earlier {
                    Some(j) => Base::Stage(j),
                    None => image_base(&base_name, named_contexts, line)?,
                }
            };
            let display = st.name.clone().unwrap_or_else(|| format!("stage-{i}"));
            let mut total = usize::from(matches!(base, Base::Image(_)));
            total += st
                .commands
                .iter()
                .filter(|c| {
                    matches!(
                        c.instruction,
                        Instruction::Add(_)
                            | Instruction::Copy(_)
                            | Instruction::Run(_)
                            | Instruction::Workdir(_)
                    )
                })
                .count();
            let commands: &[Command] = if named_ctx.is_some() {
                // BuildKit replaces the whole stage with the named context.
                total = 0;
                &[]
            } else {
                &st.commands
            };
            nodes.push(StageNode {
                name: st.name.clone(),
                display,
                base_name,
                base,
                platform,
                commands,
                line,
                source: st.source.clone(),
                deps: BTreeMap::new(),
                cmd_total: total,
            });
        }
        let mut graph = StageGraph {
            stage_count: nodes.len(),
            nodes,
            by_from: BTreeMap::new(),
        };
        for i in 0..graph.stage_count {
            let commands = graph.nodes[i].commands;
            graph.add_deps(i, commands, named_contexts)?;
        }
        graph.check_cycles()?;
        if graph.nodes.len() == 1 {
            graph.nodes[0].display.clear();
        }
        Ok(graph)
    }

    /// Records the `--from` sources of `commands` as dependencies of node
    /// `i`, creating nodes for images and contexts on first use.
    pub fn add_deps(
        &mut self,
        i: usize,
        commands: &[Command],
        named_contexts: &BTreeMap<String, llb::State>,
    ) -> Result<bool> {
        let mut added = false;
        for cmd in commands {
            let line = cmd.span.start;
            let froms: Vec<String> = match &cmd.instruction {
                Instruction::Copy(c) => c.from.iter().cloned().collect(),
                Instruction::Run(r) => r.mounts.iter().filter_map(|m| mount_from(m)).collect(),
                _ => Vec::new(),
            };
            for from in froms {
                let dep = self.source_for(&from, line, named_contexts)?;
                if self.nodes[i].deps.insert(dep, line).is_none() {
                    added = true;
                }
            }
        }
        Ok(added)
    }

    /// BuildKit's `toCommand` for `--from`: a stage index, a stage name, or
    /// else an image or named context (one node per distinct text).
    fn source_for(
        &mut self,
        from: &str,
        line: usize,
        named_contexts: &BTreeMap<String, llb::State>,
    ) -> Result<usize> {
        let plain = Lexer::new('\\').process_word(from, &NoEnv);
        if plain.map(|e| e.value).as_deref() != Ok(from) {
            return Err(ConvertError::new(
                line,
                "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
            ));
        }
        if let Ok(index) = from.parse::<i64>() {
            return usize::try_from(index)
                .ok()
                .filter(|i| *i < self.nodes.len())
                .ok_or_else(|| ConvertError::new(line, format!("invalid stage index {index}")));
        }
        if let Some(i) = self.find_by_name(from) {
            return Ok(i);
        }
        if let Some(i) = self.by_from.get(from) {
            return Ok(*i);
        }
        let base = image_base(from, named_contexts, line)?;
        let index = self.nodes.len();
        self.nodes.push(StageNode {
            name: None,
            display: String::new(),
            base_name: from.to_string(),
            base,
            platform: None,
            commands: &[],
            line,
            source: String::new(),
            deps: BTreeMap::new(),
            cmd_total: 0,
        });
        self.by_from.insert(from.to_string(), index);
        Ok(index)
    }

    /// A Dockerfile stage by name, case-insensitively.
    pub fn find_by_name(&self, name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        self.nodes[..self.stage_count]
            .iter()
            .position(|n| n.name.as_deref() == Some(lower.as_str()))
    }

    /// The node a `--from` text refers to (after [`StageGraph::build`]
    /// registered it).
    pub fn lookup_from(&self, from: &str) -> Option<usize> {
        if let Ok(index) = from.parse::<usize>() {
            return (index < self.nodes.len()).then_some(index);
        }
        self.find_by_name(from)
            .or_else(|| self.by_from.get(from).copied())
    }

    /// The `--target` stage, or the last one.
    pub fn target(&self, target: Option<&str>) -> Result<usize> {
        match target {
            None | Some("") => Ok(self.stage_count - 1),
            Some(t) => self.find_by_name(t).ok_or_else(|| {
                ConvertError::new(0, format!("target stage {t:?} could not be found"))
            }),
        }
    }

    /// Every node the target needs, through bases and `--from`s.
    pub fn reachable(&self, target: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !seen.insert(i) {
                continue;
            }
            if let Base::Stage(b) = self.nodes[i].base {
                todo.push(b);
            }
            todo.extend(self.nodes[i].deps.keys().copied());
        }
        seen
    }

    /// BuildKit's `validateCircularDependency`: a depth-first walk over
    /// bases and `--from` dependencies.
    pub fn check_cycles(&self) -> Result<()> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        fn visit(g: &StageGraph<'_>, i: usize, marks: &mut [Mark]) -> Result<()> {
            match marks[i] {
                Mark::Done => return Ok(()),
                Mark::OnPath => {
                    return Err(ConvertError::new(
                        g.nodes[i].line,
                        format!(
                            "circular dependency detected on stage: {}",
                            g.nodes[i].name.as_deref().unwrap_or(&g.nodes[i].display)
                        ),
                    ))
                }
                Mark::New => {}
            }
            marks[i] = Mark::OnPath;
            let node = &g.nodes[i];
            let base = match node.base {
                Base::Stage(b) => Some(b),
                _ => None,
            };
            for dep in node.deps.keys().copied().chain(base) {
                visit(g, dep, marks)?;
            }
            marks[i] = Mark::Done;
            Ok(())
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        for i in 0..self.nodes.len() {
            visit(self, i, &mut marks)?;
        }
        Ok(())
    }
}

/// Expands and parses `FROM --platform=`.
fn expand_platform(raw: &str, global: &EnvList, lexer: &Lexer, line: usize) -> Result<Platform> {
    let expanded = lexer.process_word(raw, global).map_err(|e| {
        ConvertError::new(
            line,
            format!("failed to process arguments for platform {raw}: {e}"),
        )
    })?;
    if expanded.value.is_empty() {
        return Err(ConvertError::new(
            line,
            format!("empty platform value from expression {raw}"),
        ));
    }
    expanded
        .value
        .parse()
        .map_err(|e| ConvertError::new(line, format!("failed to parse platform {raw}: {e}")))
}

/// `scratch`, a named context, or a registry image.
fn image_base(
    name: &str,
    named_contexts: &BTreeMap<String, llb::State>,
    line: usize,
) -> Result<Base> {
    if name == "scratch" {
        return Ok(Base::Scratch);
    }
    if let Some(key) = context_key(name, named_contexts) {
        return Ok(Base::Context(key));
    }
    let normalized = llb::normalize_image_ref(name).map_err(|e| {
        ConvertError::new(line, format!("failed to parse stage name {name:?}: {e}"))
    })?;
    Ok(Base::Image(normalized))
}

/// The named context for an image name: BuildKit's dockerui looks up the
/// familiar form without `:latest` (`alpine`, `localhost:5000/app:1`).
fn context_key(name: &str, named_contexts: &BTreeMap<String, llb::State>) -> Option<String> {
    if named_contexts.contains_key(name) {
        return Some(name.to_string());
    }
    let normalized = llb::normalize_image_ref(name).ok()?;
    let familiar = normalized
        .strip_prefix("docker.io/library/")
        .or_else(|| normalized.strip_prefix("docker.io/"))
        .unwrap_or(&normalized);
    let familiar = familiar.strip_suffix(":latest").unwrap_or(familiar);
    named_contexts
        .contains_key(familiar)
        .then(|| familiar.to_string())
}

/// The `from=` field of a raw `--mount` value. Only bind and cache mounts
/// take one, and BuildKit forbids variables in it, so reading the field
/// without full parsing is enough for the dependency graph.
pub(super) fn mount_from(raw: &str) -> Option<String> {
    raw.split(',').find_map(|field| {
        let (k, v) = field.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("from") && !v.is_empty())
            .then(|| v.trim_matches('"').to_string())
    })
}
