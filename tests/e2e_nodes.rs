//! `crossbuild build --node`: linux/amd64 on node A (the main Docker
//! engine) and linux/arm64 on node B (the second engine
//! `scripts/buildkit-env` starts), one index pushed to the local registry.
//! Which node built which platform is proven from each node's build cache:
//! each platform's RUN step carries this run's unique token and its
//! architecture, and must be in exactly the cache of its own node.

mod common;

use std::time::{Duration, Instant};

const NODE_A: &str = common::NODE_A;
const NODE_B: &str = common::NODE_B;

async fn node_b_or_skip(test: &str) -> bool {
    common::node_b_or_skip(test).await
}

/// The descriptions of the build cache records of the node at `address`.
fn cache_descriptions(dir: &std::path::Path, address: &str) -> Vec<String> {
    let out = common::crossbuild(dir, &["--addr", address, "du", "--format", "json"]);
    assert!(
        out.status.success(),
        "du on {address}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).expect("du JSON");
    records
        .as_array()
        .expect("a list of records")
        .iter()
        .map(|r| r["description"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn each_platform_is_built_on_its_node_and_joined_in_one_index() {
    let test = "each_platform_is_built_on_its_node_and_joined_in_one_index";
    if common::daemon_or_skip(test).await.is_none() || !node_b_or_skip(test).await {
        return;
    }
    let token = format!(
        "nodes-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dir = tempfile::tempdir().unwrap();
    // One stage per architecture, so each RUN step's text (what the cache
    // record describes) names the platform it is for.
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM localhost:5000/busybox AS base-amd64\n\
             RUN echo {token}-amd64 > /built && uname -m >> /built\n\
             FROM localhost:5000/busybox AS base-arm64\n\
             RUN echo {token}-arm64 > /built && uname -m >> /built\n\
             FROM base-$TARGETARCH\n"
        ),
    )
    .unwrap();
    let tag = format!("localhost:5000/crossbuild-e2e-nodes:{token}");
    let metadata = dir.path().join("metadata.json");
    let started = Instant::now();
    let out = common::crossbuild(
        dir.path(),
        &[
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64,linux/arm64",
            "--node",
            &format!("linux/amd64={NODE_A}"),
            "--node",
            &format!("linux/arm64={NODE_B}"),
            "-t",
            &tag,
            "--push",
            "--provenance",
            "mode=min",
            "--metadata-file",
            metadata.to_str().unwrap(),
            ".",
        ],
    );
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "build failed:\n{stderr}");
    eprintln!("node build took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");

    // The index under the tag holds both platforms, and each entry is the
    // manifest the node assigned to it pushed.
    let index = common::registry_manifest("crossbuild-e2e-nodes", &token);
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let entries = index["manifests"].as_array().expect("manifests");
    let digest_of = |arch: &str| -> String {
        let found: Vec<&serde_json::Value> = entries
            .iter()
            .filter(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
            .collect();
        assert_eq!(found.len(), 1, "one linux/{arch} entry in {index}");
        found[0]["digest"].as_str().unwrap().to_string()
    };
    let (amd64, arm64) = (digest_of("amd64"), digest_of("arm64"));
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    let nodes = metadata["crossbuild.nodes"].as_array().expect("nodes");
    let pushed_by = |address: &str| -> String {
        let node = nodes
            .iter()
            .find(|n| n["address"] == address)
            .unwrap_or_else(|| panic!("no node {address} in {metadata}"));
        node["digest"].as_str().unwrap().to_string()
    };
    // Each node pushed an index of its platform and its provenance
    // attestation; the joined index carries both entries of each.
    let node_index = |address: &str| -> serde_json::Value {
        common::registry_manifest("crossbuild-e2e-nodes", &pushed_by(address))
    };
    let entry_digests = |index: &serde_json::Value| -> Vec<String> {
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(entry_digests(&node_index(NODE_A)).contains(&amd64));
    assert!(entry_digests(&node_index(NODE_B)).contains(&arm64));
    let attested: Vec<&str> = entries
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .map(|m| {
            m["annotations"]["vnd.docker.reference.digest"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(entries.len(), 4, "two images, two attestations: {index}");
    assert!(attested.contains(&amd64.as_str()) && attested.contains(&arm64.as_str()));

    let raw = std::process::Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json",
            &format!("http://127.0.0.1:5000/v2/crossbuild-e2e-nodes/manifests/{token}"),
        ])
        .output()
        .expect("run curl");
    assert_eq!(
        metadata["containerimage.digest"].as_str().unwrap(),
        crossbuild::llb::digest_of(&raw.stdout),
        "the metadata names the index stored under the tag"
    );

    // The proof of where each ran: the amd64 step is in node A's cache
    // only, the arm64 step in node B's only.
    let step = |arch: &str| format!("echo {token}-{arch} > /built");
    let a = cache_descriptions(dir.path(), NODE_A);
    let b = cache_descriptions(dir.path(), NODE_B);
    let has = |records: &[String], arch: &str| records.iter().any(|d| d.contains(&step(arch)));
    assert!(has(&a, "amd64"), "node A did not build amd64");
    assert!(has(&b, "arm64"), "node B did not build arm64");
    assert!(!has(&a, "arm64"), "node A built arm64 too");
    assert!(!has(&b, "amd64"), "node B built amd64 too");
}

#[tokio::test]
async fn node_builds_refuse_what_they_cannot_do_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let node_a = format!("linux/amd64={NODE_A}");
    for (args, expected) in [
        (
            vec!["--node", &node_a, "-t", "localhost:5000/x:1"],
            "pass -t REGISTRY/NAME:TAG and --push",
        ),
        (
            vec![
                "--platform",
                "linux/amd64,linux/s390x",
                "--node",
                &node_a,
                "-t",
                "localhost:5000/x:1",
                "--push",
            ],
            "platform linux/s390x has no node",
        ),
        (
            vec![
                "--node",
                "linux/amd64",
                "-t",
                "localhost:5000/x:1",
                "--push",
            ],
            "expected PLATFORM[,PLATFORM...]=ADDRESS",
        ),
        (
            vec![
                "--node",
                &node_a,
                "--node",
                "amd64=unix:///nowhere.sock",
                "-t",
                "localhost:5000/x:1",
                "--push",
            ],
            "given to two nodes",
        ),
    ] {
        let started = Instant::now();
        let mut all = vec!["build", "--progress", "quiet"];
        all.extend(args.iter().copied());
        all.push(".");
        let out = common::crossbuild(dir.path(), &all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, got {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
