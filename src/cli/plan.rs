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
use super::Format;

/// Flags of `crossbuild plan`: those of `build` (outputs and progress are
/// accepted and ignored, so a build command line can be planned as is),
/// plus the format.
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
    let daemon = client::connect(lookup).await.map_err(|e| e.to_string())?;
    let plan = make_plan(&daemon, &attrs, &inputs.dockerfile, registry_auth()?).await?;
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
            outln!("{text}");
        }
        Format::Table => print_table(&plan),
    }
    match plan.errors.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} step{} cannot run on this daemon:\n{}",
            if n == 1 { "" } else { "s" },
            plan.errors.join("\n")
        )),
    }
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
    for worker in &plan.workers.workers {
        let list = |ps: &[crossbuild::platform::Platform]| {
            if ps.is_empty() {
                "-".to_string()
            } else {
                ps.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let also = if worker.compatible.is_empty() {
            String::new()
        } else {
            format!(" (also {})", list(&worker.compatible))
        };
        outln!(
            "worker {}: native {}{also}; emulated {}",
            worker.id,
            worker.native,
            list(&worker.emulated)
        );
    }
    outln!();
    outln!("{:<14} {:<10} {:<14} STEP", "TARGET", "WHERE", "RUNS ON");
    for target in &plan.targets {
        if target.steps.is_empty() {
            outln!(
                "{:<14} {:<10} {:<14} (no RUN steps: the daemon does COPY/ADD itself)",
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
                "{:<14} {:<10} {:<14} {}{notes}",
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
