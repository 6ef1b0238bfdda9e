//! `crossbuild build --node PLATFORMS=ADDRESS ...`: each node builds its
//! platforms in its own session, all nodes at once, each pushing by digest;
//! then one index joining them is pushed under the tags
//! (`crossbuild::client::nodes` has the rules).

use crossbuild::client::build::run_build;
use crossbuild::client::build_options::process_env;
use crossbuild::client::gateway::GatewayBuild;
use crossbuild::client::nodes::{self, Assignment, NodeResult, NodeSpec};
use crossbuild::client::progress::ProgressMode;
use crossbuild::client::session::DockerConfig;
use crossbuild::client::Lookup;
use crossbuild::image::registry::{ImageRef, RegistryClient};
use crossbuild::platform::Platform;

use super::build::{interrupted, prepare, print_warnings, render_build_error, BuildArgs};

/// `--node` and `--platform` parsed, and each target platform given to the
/// node that builds it (`build --node` and `plan --node` alike).
pub fn node_assignments(args: &BuildArgs) -> Result<Vec<Assignment>, String> {
    let specs = args
        .nodes
        .iter()
        .map(|n| n.parse::<NodeSpec>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let targets = args
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--platform: {e}"))?;
    nodes::assign(&targets, &specs).map_err(|e| e.to_string())
}

/// Runs the node builds and joins their results.
pub async fn run(lookup: &Lookup, args: &BuildArgs, progress: ProgressMode) -> Result<(), String> {
    let assignments = node_assignments(args)?;
    let tags = nodes::image_tags(&args.tags, args.push, !args.outputs.is_empty() || args.load)
        .map_err(|e| e.to_string())?;
    // Several progress displays cannot share one terminal's redrawn lines;
    // plain lines interleave but stay readable (each node names itself).
    let progress = match progress {
        ProgressMode::Tty => ProgressMode::Plain,
        other => other,
    };
    let builds = assignments
        .iter()
        .map(|assignment| build_node(lookup, args, progress, &tags[0], assignment));
    let all = futures::future::join_all(builds);
    let results = tokio::select! {
        results = all => results,
        signal = interrupted() => return Err(format!("{signal}: the build was cancelled")),
    };
    let mut pushed = Vec::new();
    let mut errors = Vec::new();
    for (assignment, result) in assignments.iter().zip(results) {
        match result {
            Ok(outcome) => pushed.push(outcome),
            Err(message) => errors.push(format!("node {}: {message}", assignment.address)),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let registry = RegistryClient::new(load_docker_config()?);
    let joined = nodes::join_index(&registry, &tags, &pushed)
        .await
        .map_err(|e| e.to_string())?;
    for result in &pushed {
        let platforms: Vec<String> = result.platforms.iter().map(|p| p.to_string()).collect();
        eprintln!(
            "node {}: {} -> {}",
            result.address,
            platforms.join(","),
            result.digest
        );
    }
    eprintln!("image digest: {}", joined.digest);
    for tag in &tags {
        eprintln!("image name: {}", tag.normalized);
    }
    if let Some(path) = &args.metadata_file {
        let metadata = serde_json::json!({
            "containerimage.digest": joined.digest,
            "image.name": tags.iter().map(|t| t.normalized.clone()).collect::<Vec<_>>().join(","),
            "crossbuild.nodes": pushed.iter().map(|r| serde_json::json!({
                "address": r.address,
                "platforms": r.platforms.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "digest": r.digest,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&metadata).map_err(|e| e.to_string())?;
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the metadata file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// How to reach the node at `address`: the global flags, with the
/// node's address instead of `--addr`.
pub fn node_lookup(lookup: &Lookup, address: &str) -> Lookup {
    Lookup {
        flag: Some(address.to_string()),
        // The TLS flags name one daemon's certificates; they go to tcp
        // nodes, and make no sense on a unix socket.
        tls: if address.starts_with("unix://") {
            None
        } else {
            lookup.tls.clone()
        },
        ..lookup.clone()
    }
}

/// Connects to one node, builds its platforms and pushes them by digest.
async fn build_node(
    lookup: &Lookup,
    args: &BuildArgs,
    progress: ProgressMode,
    image: &ImageRef,
    assignment: &Assignment,
) -> Result<NodeResult, String> {
    let node_lookup = node_lookup(lookup, &assignment.address);
    // The same flags, with this node's platforms and no outputs of their
    // own: the node's one output is its push by digest.
    let mut node_args = args.clone();
    node_args.platforms = assignment.platforms.iter().map(|p| p.to_string()).collect();
    node_args.tags.clear();
    node_args.push = false;
    node_args.outputs.clear();
    node_args.load = false;
    node_args.metadata_file = None;
    node_args.nodes.clear();
    let mut prepared = prepare(&node_lookup, &node_args, progress).await?;
    prepared.setup.exports = vec![nodes::node_export(image)];
    let source = &prepared.source;
    let outcome = run_build(
        &prepared.daemon,
        prepared.setup.clone(),
        async |gateway: &GatewayBuild| source.solve(gateway).await,
    )
    .await;
    for line in prepared.source.plan_lines() {
        eprintln!("{} {line}", assignment.address);
    }
    let outcome =
        outcome.map_err(|e| render_build_error(prepared.source.place_failure(e), progress))?;
    print_warnings(&outcome.summary.warnings, progress);
    let digest = outcome
        .exporter_response
        .get("containerimage.digest")
        .cloned()
        .ok_or("the node did not say what it pushed (no containerimage.digest)")?;
    Ok(NodeResult {
        address: assignment.address.clone(),
        platforms: assignment.platforms.clone(),
        digest,
    })
}

/// The Docker config with the user's registry credentials (for the
/// index's push; the nodes get them through their sessions).
fn load_docker_config() -> Result<DockerConfig, String> {
    Ok(match DockerConfig::default_path(&process_env) {
        Some(path) => DockerConfig::load(&path).map_err(|e| e.to_string())?,
        None => DockerConfig::default(),
    })
}
