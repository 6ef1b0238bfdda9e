//! `crossbuild plan`: where each `RUN` step of each target platform would
//! run — native, cross, emulated or impossible — without building; and the
//! one-line summary `crossbuild build` prints.

use std::collections::BTreeMap;
use std::path::Path;

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use bollard_buildkit_proto::pb;
use clap::Args;
use crossbuild::client::build::{run_build, BuildSetup};
use crossbuild::client::build_options::process_env;
use crossbuild::client::gateway::GatewayBuild;
use crossbuild::client::progress::ProgressMode;
use crossbuild::client::session::DockerConfig;
use crossbuild::client::{self, workers, Daemon, Lookup};
use crossbuild::frontend::FrontendOptions;
use crossbuild::plan::{
    compile_dockerfile, BridgeResolver, DaemonPlatforms, Placement, Plan, Support,
};
use crossbuild::platform::Platform;

use super::build::{dockerfile_inputs, BuildArgs};
use super::build_nodes::{node_assignments, node_lookup};
use super::Format;

/// Flags of `crossbuild plan`: those of `build` (outputs and progress are
/// accepted and ignored, so a build command line can be planned as is),
/// plus the format. With `--node`, each target is planned on the node that
/// would build it, against that node's workers.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    build: BuildArgs,
}

/// Runs `crossbuild plan`; fails (after printing the plan) when a step
/// cannot run anywhere.
pub async fn run(lookup: &Lookup, args: PlanArgs) -> Result<(), String> {
    let inputs = dockerfile_inputs(&args.build)?;
    let attrs = inputs.request.frontend_attrs().map_err(|e| e.to_string())?;
    let plan = if args.build.nodes.is_empty() {
        let daemon = client::connect(lookup).await.map_err(|e| e.to_string())?;
        make_plan(&daemon, &attrs, &inputs.dockerfile, registry_auth()?).await?
    } else {
        plan_nodes(lookup, &args.build, &attrs, &inputs.dockerfile).await?
    };
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
            outln!("{text}");
        }
        Format::Table => print_table(&plan),
    }
    let on = if plan.nodes.is_empty() {
        "this daemon"
    } else {
        "their nodes"
    };
    match plan.errors.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} step{} cannot run on {on}:\n{}",
            if n == 1 { "" } else { "s" },
            plan.errors.join("\n")
        )),
    }
}

/// Plans each target on the node `--node` gives it (the same assignment
/// as `build --node`), all nodes at once, and joins the plans.
async fn plan_nodes(
    lookup: &Lookup,
    args: &BuildArgs,
    attrs: &BTreeMap<String, String>,
    dockerfile: &Path,
) -> Result<Plan, String> {
    let assignments = node_assignments(args)?;
    let auth = registry_auth()?;
    let plans = assignments.iter().map(|assignment| {
        let auth = auth.clone();
        async move {
            let mut attrs = attrs.clone();
            let platforms: Vec<String> =
                assignment.platforms.iter().map(|p| p.to_string()).collect();
            attrs.insert("platform".to_string(), platforms.join(","));
            let node = node_lookup(lookup, &assignment.address);
            let daemon = client::connect(&node).await.map_err(|e| e.to_string())?;
            let plan = make_plan(&daemon, &attrs, dockerfile, auth).await?;
            Ok::<_, String>((assignment.address.clone(), plan))
        }
    });
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for (assignment, result) in assignments
        .iter()
        .zip(futures::future::join_all(plans).await)
    {
        match result {
            Ok(part) => parts.push(part),
            Err(message) => errors.push(format!("node {}: {message}", assignment.address)),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    // Without --platform the nodes' own order is the targets' order.
    let order: Vec<Platform> = assignments
        .iter()
        .flat_map(|a| a.platforms.iter().cloned())
        .collect();
    Ok(Plan::join_nodes(parts, &order))
}

/// The plan summary of a build's compiled definitions, then why steps
/// cannot run (if any), one line each. A plan that cannot be made is only
/// logged: the build reports the same problem its own way.
pub fn summary_lines(
    builds: &[(Platform, pb::Definition)],
    workers: DaemonPlatforms,
) -> Vec<String> {
    match Plan::new(builds, workers) {
        Ok(plan) => std::iter::once(plan.summary())
            .chain(plan.errors.iter().map(|e| format!("WARNING: {e}")))
            .collect(),
        Err(err) => {
            tracing::debug!(error = %err, "no plan");
            Vec::new()
        }
    }
}

/// Compiles the Dockerfile at `dockerfile` with `attrs` for the daemon's
/// workers. Base images are resolved by the daemon inside a gateway build
/// that solves nothing and exports nothing.
async fn make_plan(
    daemon: &Daemon,
    attrs: &BTreeMap<String, String>,
    dockerfile: &Path,
    auth: DockerConfig,
) -> Result<Plan, String> {
    let source = std::fs::read(dockerfile)
        .map_err(|e| format!("reading the Dockerfile {}: {e}", dockerfile.display()))?;
    let options = FrontendOptions::from_attrs(attrs).map_err(|e| e.to_string())?;
    let worker_list = workers::list_workers(daemon)
        .await
        .map_err(|e| e.to_string())?;
    let platforms = DaemonPlatforms::from_workers(&worker_list);
    let build_platform = platforms
        .build_platform()
        .cloned()
        .ok_or("the daemon reports no worker platforms")?;
    let setup = BuildSetup {
        progress: ProgressMode::Quiet,
        registry_auth: Some(auth),
        // Only a lookup: nothing for the daemon's history to keep.
        skip_history: true,
        ..Default::default()
    };
    let mut builds = None;
    run_build(daemon, setup, async |gateway: &GatewayBuild| {
        let resolver = BridgeResolver::new(gateway);
        // A compile error is ours to render (with the Dockerfile line), so
        // the gateway build itself always ends empty and successful.
        builds = Some(compile_dockerfile(&source, &options, &build_platform, &resolver).await);
        Ok(gw::Result::default())
    })
    .await
    .map_err(|e| e.to_string())?;
    let builds = builds
        .ok_or("the plan's gateway build did not run")?
        .map_err(|e| {
            let mut message = match &e {
                crossbuild::frontend::FrontendError::Dockerfile {
                    source_line: Some(line),
                    ..
                } if !line.trim().is_empty() => format!("{e}\n  | {}", line.trim_end()),
                _ => e.to_string(),
            };
            // A base image missing for a platform the daemon cannot run
            // either: say so, it is usually the real problem.
            for target in &options.platforms {
                if platforms.support(target) == Support::Unsupported {
                    message.push_str(&format!(
                        "\nnote: no worker of the daemon runs {target} either (see `crossbuild workers`)"
                    ));
                }
            }
            message
        })?;
    Plan::new(&builds, platforms).map_err(|e| e.to_string())
}

/// The Docker config's credentials, which the daemon asks for through the
/// session when it resolves private base images.
fn registry_auth() -> Result<DockerConfig, String> {
    match DockerConfig::default_path(&process_env) {
        Some(path) => DockerConfig::load(&path).map_err(|e| e.to_string()),
        None => Ok(DockerConfig::default()),
    }
}

fn print_table(plan: &Plan) {
    if plan.nodes.is_empty() {
        print_workers(&plan.workers, "");
    }
    for node in &plan.nodes {
        outln!("node {}: {}", node.address, node.platforms.join(", "));
        print_workers(&node.workers, "  ");
    }
    outln!();
    // The node column only when there are nodes, as wide as their addresses.
    let node_width = plan.nodes.iter().map(|n| n.address.len() + 1).max();
    let node_cell = |node: &str| match node_width {
        Some(width) => format!("{node:<width$}"),
        None => String::new(),
    };
    outln!(
        "{:<14} {}{:<10} {:<14} STEP",
        "TARGET",
        node_cell("NODE"),
        "WHERE",
        "RUNS ON"
    );
    for target in &plan.targets {
        let node = node_cell(target.node.as_deref().unwrap_or("-"));
        if target.steps.is_empty() {
            outln!(
                "{:<14} {node}{:<10} {:<14} (no RUN steps: the daemon does COPY/ADD itself)",
                target.platform,
                "-",
                "-"
            );
        }
        for step in &target.steps {
            let mut notes = Vec::new();
            if step.shared {
                notes.push("shared".to_string());
            }
            if let Some(tool) = &step.compile {
                if matches!(step.placement, Placement::Emulated | Placement::Impossible) {
                    notes.push(format!("compiles: {tool}"));
                }
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join(", "))
            };
            outln!(
                "{:<14} {node}{:<10} {:<14} {}{notes}",
                target.platform,
                step.placement.as_str(),
                step.platform,
                step.name
            );
        }
    }
    outln!();
    outln!("{}", plan.summary());
    for warning in &plan.warnings {
        outln!("WARNING: {warning}");
    }
}

/// One line per worker: what it runs natively and emulated.
fn print_workers(workers: &DaemonPlatforms, indent: &str) {
    let list = |ps: &[Platform]| {
        if ps.is_empty() {
            "-".to_string()
        } else {
            ps.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for worker in &workers.workers {
        let also = if worker.compatible.is_empty() {
            String::new()
        } else {
            format!(" (also {})", list(&worker.compatible))
        };
        outln!(
            "{indent}worker {}: native {}{also}; emulated {}",
            worker.id,
            worker.native,
            list(&worker.emulated)
        );
    }
}
