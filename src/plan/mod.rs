//! The build plan: before anything is built, where each `RUN` step of each
//! target platform will execute — natively, cross (on the build platform
//! for another target), under QEMU emulation, or nowhere.
//!
//! The plan reads the marshalled LLB the Dockerfile compiler produces per
//! target ([`compile_dockerfile`]) instead of re-deriving stages: every exec
//! op carries the platform it runs on and its step name
//! (`llb.customname`), and an op with the same digest in several targets'
//! graphs is one op BuildKit solves once. Only exec ops run code on a CPU;
//! file ops (COPY, ADD, WORKDIR) and image pulls are done by the daemon
//! itself and never emulated, so they are not part of the plan.

mod compile_step;
mod dockerfile;
mod workers;

use std::collections::{BTreeMap, BTreeSet};

use bollard_buildkit_proto::pb;
use pb::op::Op;
use serde::Serialize;

use crate::llb::{self, Graph};
use crate::platform::Platform;

pub use compile_step::compile_tool;
pub use dockerfile::{compile_dockerfile, BridgeResolver};
pub use workers::{DaemonPlatforms, Support, WorkerPlatforms};

/// Where one step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// On the target platform, which a worker runs natively.
    Native,
    /// On a native platform other than the target: a stage pinned to
    /// `$BUILDPLATFORM` that (cross-)builds for the target.
    Cross,
    /// On a platform a worker runs only through QEMU.
    Emulated,
    /// On a platform no worker runs.
    Impossible,
}

impl Placement {
    /// The lower-case name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Native => "native",
            Placement::Cross => "cross",
            Placement::Emulated => "emulated",
            Placement::Impossible => "impossible",
        }
    }
}

/// One `RUN` step of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The step's name as progress shows it (`[linux/arm64 2/3] RUN make`).
    pub name: String,
    /// The platform the step executes on.
    pub platform: String,
    /// Where that is.
    pub placement: Placement,
    /// Whether other targets' graphs hold the same op, so it runs once for
    /// all of them.
    pub shared: bool,
    /// The compiler the command seems to run (`make`, `go build`), if any.
    pub compile: Option<String>,
    /// The op's LLB digest.
    pub digest: String,
}

/// The steps of one target platform, in build order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetPlan {
    /// The target platform.
    pub platform: String,
    /// The `--node` address that builds it (absent without `--node`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its `RUN` steps.
    pub steps: Vec<Step>,
}

/// One `--node` of a plan: the daemon a group of targets was planned
/// against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePlan {
    /// The node's address, as `--node` gave it.
    pub address: String,
    /// The node's `$BUILDPLATFORM` (its first worker's native platform).
    pub build_platform: String,
    /// The node's workers as the plan judged them.
    pub workers: DaemonPlatforms,
    /// The target platforms it builds.
    pub platforms: Vec<String>,
}

/// Counts of distinct ops by placement (a shared op counts once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PlanCounts {
    /// Target platforms.
    pub platforms: usize,
    /// Ops run natively for their own target.
    pub native: usize,
    /// Ops run on the build platform for another target.
    pub cross: usize,
    /// Ops run under QEMU.
    pub emulated: usize,
    /// Ops no worker can run.
    pub impossible: usize,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// `$BUILDPLATFORM`, the first worker's native platform.
    pub build_platform: String,
    /// The daemon's workers as the plan judged them.
    pub workers: DaemonPlatforms,
    /// One entry per target, in the order asked for.
    pub targets: Vec<TargetPlan>,
    /// Distinct ops by placement.
    pub counts: PlanCounts,
    /// Compile steps that would run emulated, with the way out.
    pub warnings: Vec<String>,
    /// Steps that cannot run, with the fix.
    pub errors: Vec<String>,
    /// With `--node`, each node and its workers; `build_platform` and
    /// `workers` above are then the first node's and all nodes' workers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodePlan>,
}

/// A definition the plan could not read.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The compiled LLB did not decode (a bug, not a user error).
    #[error("reading the compiled LLB for {platform}: {source}")]
    Llb {
        /// The target whose graph it was.
        platform: String,
        /// The decoder's error.
        source: llb::LlbError,
    },
    /// The Dockerfile could not be compiled.
    #[error("{0}")]
    Compile(String),
}

impl Plan {
    /// Plans `builds` (one marshalled definition per target platform) for
    /// a daemon with `workers`.
    pub fn new(
        builds: &[(Platform, pb::Definition)],
        workers: DaemonPlatforms,
    ) -> Result<Plan, PlanError> {
        let graphs = builds
            .iter()
            .map(|(platform, def)| {
                Graph::from_definition(def)
                    .map(|g| (platform, g))
                    .map_err(|source| PlanError::Llb {
                        platform: platform.to_string(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // How many targets hold each op: more than one means shared.
        let mut holders: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, graph) in &graphs {
            for digest in graph.ops.keys() {
                *holders.entry(digest.as_str()).or_default() += 1;
            }
        }
        let mut targets = Vec::new();
        for (target, graph) in &graphs {
            let steps = graph
                .order
                .iter()
                .filter_map(|digest| exec_step(graph, digest, target, &workers))
                .map(|step| Step {
                    shared: holders.get(step.digest.as_str()).copied().unwrap_or(0) > 1,
                    ..step
                })
                .collect();
            targets.push(TargetPlan {
                platform: target.to_string(),
                node: None,
                steps,
            });
        }
        // Each op runs once however many targets hold it, so it is counted
        // (and warned about) once. A `$BUILDPLATFORM` op is native for the
        // target that equals the build platform and cross for the others;
        // it is one cross-compiling step.
        // In first-seen order, so messages follow the build's order.
        let mut distinct: Vec<(&Step, &str)> = Vec::new();
        for target in &targets {
            for step in &target.steps {
                let seen = (step, target.platform.as_str());
                match distinct.iter_mut().find(|(s, _)| s.digest == step.digest) {
                    None => distinct.push(seen),
                    Some(entry) if step.placement == Placement::Cross => *entry = seen,
                    Some(_) => {}
                }
            }
        }
        let mut counts = PlanCounts {
            platforms: targets.len(),
            ..Default::default()
        };
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        for (step, target) in &distinct {
            match step.placement {
                Placement::Native => counts.native += 1,
                Placement::Cross => counts.cross += 1,
                Placement::Emulated => counts.emulated += 1,
                Placement::Impossible => counts.impossible += 1,
            }
            match step_message(step, target) {
                Some(message) if step.placement == Placement::Impossible => errors.push(message),
                Some(message) => warnings.push(message),
                None => {}
            }
        }
        Ok(Plan {
            build_platform: workers
                .build_platform()
                .map(Platform::to_string)
                .unwrap_or_default(),
            workers,
            targets,
            counts,
            warnings,
            errors,
            nodes: Vec::new(),
        })
    }

    /// Joins the plans of several nodes (address, plan of the targets it
    /// builds) into one, with targets in `order`. Each node solves its own
    /// graphs, so a step shared by targets of two nodes runs once on each:
    /// counts add up, and messages say which node they are about.
    pub fn join_nodes(parts: Vec<(String, Plan)>, order: &[Platform]) -> Plan {
        let mut joined = Plan {
            build_platform: parts
                .first()
                .map(|(_, p)| p.build_platform.clone())
                .unwrap_or_default(),
            workers: DaemonPlatforms::default(),
            targets: Vec::new(),
            counts: PlanCounts::default(),
            warnings: Vec::new(),
            errors: Vec::new(),
            nodes: Vec::new(),
        };
        for (address, plan) in parts {
            let c = &mut joined.counts;
            c.platforms += plan.counts.platforms;
            c.native += plan.counts.native;
            c.cross += plan.counts.cross;
            c.emulated += plan.counts.emulated;
            c.impossible += plan.counts.impossible;
            let on_node = |m: String| format!("node {address}: {m}");
            joined
                .warnings
                .extend(plan.warnings.into_iter().map(on_node));
            joined.errors.extend(plan.errors.into_iter().map(on_node));
            joined
                .workers
                .workers
                .extend(plan.workers.workers.iter().cloned());
            joined.nodes.push(NodePlan {
                address: address.clone(),
                build_platform: plan.build_platform,
                workers: plan.workers,
                platforms: plan.targets.iter().map(|t| t.platform.clone()).collect(),
            });
            joined
                .targets
                .extend(plan.targets.into_iter().map(|t| TargetPlan {
                    node: Some(address.clone()),
                    ..t
                }));
        }
        let position = |t: &TargetPlan| {
            order
                .iter()
                .position(|p| p.to_string() == t.platform)
                .unwrap_or(usize::MAX)
        };
        joined.targets.sort_by_key(position);
        joined
    }

    /// One line for `crossbuild build`: `plan: 2 platforms; RUN steps: 1
    /// cross-compiled once, 2 native, 1 emulated (QEMU)`.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("1 {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        let mut parts = Vec::new();
        if c.cross > 0 {
            // "once" only when every cross step is shared by all targets
            // it serves; a stage that declares TARGET* args differs per
            // target and is cross-compiled once per target instead.
            let once = self
                .targets
                .iter()
                .flat_map(|t| &t.steps)
                .filter(|s| s.placement == Placement::Cross)
                .all(|s| s.shared);
            let once = if once { " once" } else { "" };
            parts.push(format!("{} cross-compiled{once}", c.cross));
        }
        parts.push(format!("{} native", c.native));
        parts.push(format!("{} emulated (QEMU)", c.emulated));
        if c.impossible > 0 {
            parts.push(format!("{} impossible", c.impossible));
        }
        let mut line = format!(
            "plan: {}; {}: {}",
            plural(c.platforms, "platform"),
            // Counted over all platforms: a step of 2 platforms is 2 steps.
            if c.cross + c.native + c.emulated + c.impossible == 1 {
                "RUN step"
            } else {
                "RUN steps"
            },
            parts.join(", ")
        );
        let compiles = self
            .targets
            .iter()
            .flat_map(|t| &t.steps)
            .filter(|s| s.placement == Placement::Emulated && s.compile.is_some())
            .map(|s| &s.digest)
            .collect::<BTreeSet<_>>()
            .len();
        if compiles > 0 {
            line.push_str(&format!(
                "; {} emulated (see `crossbuild plan`)",
                plural(compiles, "compile step")
            ));
        }
        line
    }
}

/// The plan entry for the op at `digest`, if it is an exec.
fn exec_step(
    graph: &Graph,
    digest: &str,
    target: &Platform,
    workers: &DaemonPlatforms,
) -> Option<Step> {
    let op = graph.ops.get(digest)?;
    let Some(Op::Exec(exec)) = &op.op else {
        return None;
    };
    // The marshaller gives every exec a platform; a missing or odd one is
    // read as the target's, which is what BuildKit would default to.
    let platform = op
        .platform
        .as_ref()
        .and_then(|p| Platform::from_pb(p).ok())
        .unwrap_or_else(|| target.clone());
    let args = exec.meta.as_ref().map(|m| m.args.as_slice()).unwrap_or(&[]);
    let command = match args {
        [shell, flag, script, ..] if shell.ends_with("sh") && flag == "-c" => script.clone(),
        _ => args.join(" "),
    };
    let name = graph
        .metadata
        .get(digest)
        .and_then(|m| m.description.get("llb.customname"))
        .cloned()
        .unwrap_or_else(|| format!("RUN {command}"));
    let placement = match workers.support(&platform) {
        Support::Unsupported => Placement::Impossible,
        Support::Emulated => Placement::Emulated,
        Support::Native if platform == *target => Placement::Native,
        Support::Native => Placement::Cross,
    };
    Some(Step {
        name,
        platform: platform.to_string(),
        placement,
        shared: false,
        compile: compile_tool(&command),
        digest: digest.to_string(),
    })
}

/// The warning or error a step deserves, if any.
fn step_message(step: &Step, target: &str) -> Option<String> {
    match (step.placement, &step.compile) {
        (Placement::Impossible, _) => Some(impossible_message(step, target)),
        (Placement::Emulated, Some(tool)) => Some(format!(
            "{}: `{tool}` would compile under QEMU emulation for {}, typically 5-20x slower \
             than natively. Move it to a stage `FROM --platform=$BUILDPLATFORM ...` and \
             cross-compile for the target (ARG TARGETARCH, or crossbuild's TARGET_GNU_TRIPLE, \
             TARGET_GOARCH, TARGET_RUST_TRIPLE), then COPY --from that stage.",
            step.name, step.platform
        )),
        _ => None,
    }
}

fn impossible_message(step: &Step, target: &str) -> String {
    // tonistiigi/binfmt takes Go architecture names.
    let arch = step
        .platform
        .parse::<Platform>()
        .or_else(|_| target.parse::<Platform>())
        .map(|p| p.architecture)
        .unwrap_or_default();
    format!(
        "{}: no worker of the daemon can run {} code. Fix: register a QEMU binfmt handler \
         for it on the daemon's host (`scripts/buildkit-env up` here, or \
         `docker run --privileged --rm tonistiigi/binfmt --install {arch}`), check with \
         `crossbuild workers`, or build {} on a native node.",
        step.name, step.platform, step.platform
    )
}

#[cfg(test)]
mod tests;
