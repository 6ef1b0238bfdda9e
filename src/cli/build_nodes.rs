//! `crossbuild build --node PLATFORMS=ADDRESS ...`: each node builds its
//! platforms in its own session, all nodes at once, each pushing by digest;
//! then one index joining them is pushed under the tags
//! (`crossbuild::client::nodes` has the rules).

use std::collections::BTreeMap;

use crossbuild::client::build::{BuildOutcome, BuildSetup};
use crossbuild::client::nodes::{self, Assignment, NodeResult, NodeSpec};
use crossbuild::client::progress::ProgressMode;
use crossbuild::client::{self, Lookup};
use crossbuild::image::registry::RegistryClient;
use crossbuild::platform::Platform;

use super::build::{
    build_on, build_platform, interrupted, load_docker_config, render_build_error, BuildArgs,
};

/// What every node's build shares: the frontend attributes (each node gets
/// its own `platform`), the target platforms, and the session setup (each
/// node gets its own exporter).
pub struct Shared {
    /// Frontend attributes for all platforms.
    pub frontend_attrs: BTreeMap<String, String>,
    /// `--platform`, normalised.
    pub platforms: Vec<String>,
    /// The session setup, without exporters.
    pub setup: BuildSetup,
}

/// Runs the node builds and joins their results.
pub async fn run(lookup: &Lookup, args: &BuildArgs, shared: Shared) -> Result<(), String> {
    let specs = args
        .nodes
        .iter()
        .map(|n| n.parse::<NodeSpec>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let targets = shared
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--platform: {e}"))?;
    let assignments = nodes::assign(&targets, &specs).map_err(|e| e.to_string())?;
    let tags = nodes::image_tags(&args.tags, args.push, !args.outputs.is_empty() || args.load)
        .map_err(|e| e.to_string())?;
    // Several progress displays cannot share one terminal's redrawn lines;
    // plain lines interleave but stay readable (each node names itself).
    let mut setup = shared.setup;
    if setup.progress == ProgressMode::Tty {
        setup.progress = ProgressMode::Plain;
    }
    let shared = Shared { setup, ..shared };

    let builds = assignments
        .iter()
        .map(|assignment| build_node(lookup, args, &shared, &tags[0], assignment));
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

/// Connects to one node, builds its platforms and pushes them by digest.
async fn build_node(
    lookup: &Lookup,
    args: &BuildArgs,
    shared: &Shared,
    image: &crossbuild::image::registry::ImageRef,
    assignment: &Assignment,
) -> Result<NodeResult, String> {
    let node_lookup = Lookup {
        flag: Some(assignment.address.clone()),
        // The TLS flags name one daemon's certificates; they go to tcp
        // nodes, and make no sense on a unix socket.
        tls: if assignment.address.starts_with("unix://") {
            None
        } else {
            lookup.tls.clone()
        },
        ..lookup.clone()
    };
    let daemon = client::connect(&node_lookup)
        .await
        .map_err(|e| e.to_string())?;
    let platforms: Vec<String> = assignment.platforms.iter().map(|p| p.to_string()).collect();
    if shared.setup.progress == ProgressMode::Plain {
        eprintln!(
            "#0 node {} for {} ({})",
            daemon.address,
            platforms.join(","),
            daemon.kind
        );
    }
    let mut setup = shared.setup.clone();
    setup.frontend_attrs = shared.frontend_attrs.clone();
    setup
        .frontend_attrs
        .insert("platform".to_string(), platforms.join(","));
    setup.exports = vec![nodes::node_export(image)];
    let build_platform = build_platform(&daemon).await?;
    let outcome: BuildOutcome = build_on(&daemon, setup, args, build_platform, None)
        .await
        .map_err(render_build_error)?;
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
