//! The cross story end to end against the real daemon: the toolchain args a
//! `$BUILDPLATFORM` stage sees, and `crossbuild plan` / the plan summary of
//! `crossbuild build` (which steps run native, cross, emulated).

mod common;

use common::tree::write_file;
use crossbuild::platform::Platform;

fn context_with(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "Dockerfile", dockerfile.as_bytes(), 0o644);
    dir
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn toolchain_args_reach_a_cross_stage() {
    if common::daemon_or_skip("toolchain_args_reach_a_cross_stage")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(
        "\
FROM --platform=$BUILDPLATFORM localhost:5000/busybox:latest AS build
ARG TARGET_GNU_TRIPLE TARGET_RUST_TRIPLE TARGET_GOARCH TARGET_GOARM TARGET_DEBIAN_ARCH BUILD_GNU_TRIPLE
RUN echo $TARGET_GNU_TRIPLE > /t && \
    echo \"$TARGET_RUST_TRIPLE $TARGET_GOARCH/$TARGET_GOARM $TARGET_DEBIAN_ARCH $BUILD_GNU_TRIPLE\" > /all
FROM scratch
COPY --from=build /t /all /
",
    );
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/arm64,linux/arm/v7",
            "-o",
            &dest,
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let read = |dir: &str, file: &str| {
        let path = out.path().join(dir).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(read("linux_arm64", "t"), "aarch64-linux-gnu\n");
    assert_eq!(read("linux_arm_v7", "t"), "arm-linux-gnueabihf\n");
    // The daemon is local, so its build platform is this machine's.
    let build = Platform::host()
        .toolchain()
        .expect("host toolchain")
        .gnu_triple;
    assert_eq!(
        read("linux_arm64", "all"),
        format!("aarch64-unknown-linux-gnu arm64/ arm64 {build}\n")
    );
    assert_eq!(
        read("linux_arm_v7", "all"),
        format!("armv7-unknown-linux-gnueabihf arm/7 armhf {build}\n")
    );
}

/// A `$BUILDPLATFORM` stage shared by all targets, and a runtime stage
/// that compiles on the target platform.
const CROSS_AND_RUNTIME: &str = "\
FROM --platform=$BUILDPLATFORM localhost:5000/busybox:latest AS build
RUN echo built > /out
FROM localhost:5000/busybox:latest
COPY --from=build /out /out
RUN make
";

fn plan_json(
    context: &std::path::Path,
    platforms: &str,
) -> (std::process::Output, serde_json::Value) {
    let output = common::crossbuild(
        context,
        &["plan", "--format", "json", "--platform", platforms, "."],
    );
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "plan JSON: {e}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        )
    });
    (output, json)
}

/// `(placement, runs on, shared, compile)` of every step of `target`.
fn steps(plan: &serde_json::Value, target: &str) -> Vec<(String, String, bool, Option<String>)> {
    let target = plan["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["platform"] == target)
        .unwrap_or_else(|| panic!("no target {target} in {plan}"));
    target["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["placement"].as_str().unwrap_or_default().to_string(),
                s["platform"].as_str().unwrap_or_default().to_string(),
                s["shared"].as_bool().unwrap_or_default(),
                s["compile"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn plan_says_cross_native_and_emulated() {
    if common::daemon_or_skip("plan_says_cross_native_and_emulated")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(CROSS_AND_RUNTIME);
    let (output, plan) = plan_json(context.path(), "linux/amd64,linux/arm64");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(plan["build_platform"], "linux/amd64", "{plan}");
    let make = Some("make".to_string());
    let amd = "linux/amd64".to_string();
    assert_eq!(
        steps(&plan, "linux/amd64"),
        [
            ("native".into(), amd.clone(), true, None),
            ("native".into(), amd.clone(), false, make.clone())
        ]
    );
    assert_eq!(
        steps(&plan, "linux/arm64"),
        [
            ("cross".into(), amd.clone(), true, None),
            ("emulated".into(), "linux/arm64".into(), false, make)
        ]
    );
    let warnings = plan["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{plan}");
    let warning = warnings[0].as_str().unwrap_or_default();
    assert!(warning.contains("RUN make"), "{warning}");
    assert!(
        warning.contains("FROM --platform=$BUILDPLATFORM"),
        "{warning}"
    );

    // The table says the same for people.
    let table = common::crossbuild(
        context.path(),
        &["plan", "--platform", "linux/amd64,linux/arm64", "."],
    );
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("linux/arm64    emulated   linux/arm64"),
        "{text}"
    );
    assert!(
        text.contains(
            "plan: 2 platforms; RUN steps: 1 cross-compiled once, 1 native, 1 emulated (QEMU)"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn plan_refuses_a_platform_no_worker_runs() {
    let Some(daemon) = common::daemon_or_skip("plan_refuses_a_platform_no_worker_runs").await
    else {
        return;
    };
    let workers = crossbuild::client::workers::list_workers(&daemon)
        .await
        .expect("workers");
    let listed: Vec<Platform> = workers
        .iter()
        .flat_map(|w| &w.platforms)
        .filter_map(|p| p.parse().ok())
        .collect();
    let absent = [
        "linux/mips64le",
        "linux/loong64",
        "linux/mips64",
        "linux/ppc64",
    ]
    .into_iter()
    .find(|p| !listed.contains(&p.parse().expect("platform")))
    .expect("a platform the daemon does not list");
    // The runtime stage starts from scratch, so no base image is needed
    // for the absent platform; its RUN is what cannot run.
    let context = context_with(
        "\
FROM --platform=$BUILDPLATFORM localhost:5000/busybox:latest AS build
RUN echo built > /out
FROM scratch
COPY --from=build /bin/busybox /bin/sh
RUN make
",
    );
    let (output, plan) = plan_json(context.path(), absent);
    assert!(!output.status.success(), "{plan}");
    let runtime = steps(&plan, absent);
    assert_eq!(runtime[0].0, "cross", "{plan}");
    assert_eq!(runtime[1].0, "impossible", "{plan}");
    let log = stderr(&output);
    assert!(log.contains("cannot run on this daemon"), "{log}");
    assert!(log.contains("binfmt"), "{log}");
    assert!(log.contains("native node"), "{log}");
}

#[tokio::test]
async fn build_prints_the_plan_summary_after_the_build() {
    if common::daemon_or_skip("build_prints_the_plan_summary_after_the_build")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(&CROSS_AND_RUNTIME.replace("RUN make", "RUN cat /out > /seen"));
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let args = |progress: &'static str| {
        [
            "build",
            "--progress",
            progress,
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
        ]
    };
    let output = common::crossbuild(
        context.path(),
        &[&args("plain")[..], &[dest.as_str(), "."]].concat(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    let summary =
        "plan: 2 platforms; RUN steps: 1 cross-compiled once, 1 native, 1 emulated (QEMU)\n";
    assert!(log.contains(summary), "{log}");
    // From the build's own compile, printed once the progress display is
    // done so that it never cuts into it.
    assert!(
        log.find(summary) > log.rfind("DONE"),
        "the summary comes after the build's steps: {log}"
    );
    let quiet = common::crossbuild(
        context.path(),
        &[&args("quiet")[..], &[dest.as_str(), "."]].concat(),
    );
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("plan:"), "{}", stderr(&quiet));
}

/// The workers (id, platforms) of the daemon at `address`, as
/// `crossbuild workers` lists them.
fn node_workers(dir: &std::path::Path, address: &str) -> Vec<(String, Vec<String>)> {
    let output = common::crossbuild(dir, &["--addr", address, "workers", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let workers: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    workers
        .as_array()
        .expect("a list of workers")
        .iter()
        .map(|w| {
            let platforms = w["platforms"].as_array().expect("platforms");
            (
                w["id"].as_str().unwrap_or_default().to_string(),
                platforms
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn plan_with_nodes_judges_each_target_on_its_node() {
    let test = "plan_with_nodes_judges_each_target_on_its_node";
    if common::daemon_or_skip(test).await.is_none() || !common::node_b_or_skip(test).await {
        return;
    }
    let context = context_with("FROM localhost:5000/busybox:latest\nRUN echo planned > /p\n");
    let dir = context.path();
    let node_a = format!("linux/amd64={}", common::NODE_A);
    let node_b = format!("linux/arm64={}", common::NODE_B);
    // A build --node command line, planned as is.
    let args = [
        "--node",
        node_a.as_str(),
        "--node",
        node_b.as_str(),
        "--platform",
        "linux/arm64,linux/amd64",
        "-t",
        "localhost:5000/crossbuild-e2e/plan-nodes:1",
        "--push",
        ".",
    ];
    let output = common::crossbuild(
        dir,
        &[&["plan", "--format", "json"][..], &args[..]].concat(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    // Each node's entry holds that node's own workers (the two engines have
    // different worker ids), and its targets.
    let workers_a = node_workers(dir, common::NODE_A);
    let workers_b = node_workers(dir, common::NODE_B);
    let ids = |node: &serde_json::Value| -> Vec<String> {
        node["workers"]["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .filter_map(|w| w["id"].as_str().map(str::to_string))
            .collect()
    };
    let nodes = plan["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{plan}");
    // In the order of their first target.
    assert_eq!(nodes[0]["address"], common::NODE_B);
    assert_eq!(nodes[1]["address"], common::NODE_A);
    let ids_a: Vec<String> = workers_a.iter().map(|(id, _)| id.clone()).collect();
    let ids_b: Vec<String> = workers_b.iter().map(|(id, _)| id.clone()).collect();
    assert_ne!(
        ids_a, ids_b,
        "the two engines should have their own workers"
    );
    assert_eq!(ids(&nodes[0]), ids_b, "{plan}");
    assert_eq!(ids(&nodes[1]), ids_a, "{plan}");
    assert_eq!(nodes[0]["platforms"], serde_json::json!(["linux/arm64"]));

    // Targets in --platform order, each named with its node, each RUN step
    // judged against that node: arm64 is native on node B only if node B's
    // first platform is arm64, else emulated where it lists arm64.
    let targets = plan["targets"].as_array().expect("targets");
    let arm64 = &targets[0];
    assert_eq!(arm64["platform"], "linux/arm64", "{plan}");
    assert_eq!(arm64["node"], common::NODE_B);
    assert_eq!(targets[1]["platform"], "linux/amd64");
    assert_eq!(targets[1]["node"], common::NODE_A);
    let b_platforms = &workers_b[0].1;
    let expected = if b_platforms.first().map(String::as_str) == Some("linux/arm64") {
        "native"
    } else if b_platforms.iter().any(|p| p == "linux/arm64") {
        "emulated"
    } else {
        "impossible"
    };
    assert_eq!(arm64["steps"][0]["placement"], expected, "{plan}");
    assert_eq!(arm64["steps"][0]["platform"], "linux/arm64");
    assert_eq!(targets[1]["steps"][0]["placement"], "native", "{plan}");

    // The table names the node on each target's line.
    let output = common::crossbuild(dir, &[&["plan"][..], &args[..]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("NODE"), "{text}");
    let line = |platform: &str| {
        text.lines()
            .find(|l| l.starts_with(platform) && l.contains("RUN echo planned"))
            .unwrap_or_else(|| panic!("no {platform} step in\n{text}"))
            .to_string()
    };
    assert!(line("linux/arm64").contains(common::NODE_B), "{text}");
    assert!(line("linux/amd64").contains(common::NODE_A), "{text}");
    assert!(
        text.contains(&format!("node {}: linux/arm64", common::NODE_B)),
        "{text}"
    );
}

#[tokio::test]
async fn plan_with_nodes_names_the_node_a_step_cannot_run_on() {
    let test = "plan_with_nodes_names_the_node_a_step_cannot_run_on";
    if common::daemon_or_skip(test).await.is_none() || !common::node_b_or_skip(test).await {
        return;
    }
    // No base image to resolve, so an exotic platform gets as far as the
    // plan; neither engine runs mips64le.
    let context = context_with("FROM scratch\nRUN true\n");
    let node_a = format!("linux/amd64={}", common::NODE_A);
    let node_b = format!("linux/mips64le={}", common::NODE_B);
    let output = common::crossbuild(
        context.path(),
        &[
            "plan", "--format", "json", "--node", &node_a, "--node", &node_b, ".",
        ],
    );
    assert!(!output.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let targets = plan["targets"].as_array().expect("targets");
    assert_eq!(targets[1]["platform"], "linux/mips64le", "{plan}");
    assert_eq!(targets[1]["node"], common::NODE_B);
    assert_eq!(targets[1]["steps"][0]["placement"], "impossible");
    assert_eq!(targets[0]["steps"][0]["placement"], "native");
    let log = stderr(&output);
    assert!(
        log.starts_with("error: 1 step cannot run on their nodes:\n"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "node {}: [1/1] RUN true: no worker of the daemon can run linux/mips64le",
            common::NODE_B
        )),
        "{log}"
    );
}

#[tokio::test]
async fn plan_with_an_unreachable_node_says_which() {
    let test = "plan_with_an_unreachable_node_says_which";
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    let context = context_with("FROM localhost:5000/busybox:latest\nRUN true\n");
    let dir = context.path();
    let node_a = format!("linux/amd64={}", common::NODE_A);
    let missing = "unix:///nonexistent/crossbuild-node.sock";
    let node_b = format!("linux/arm64={missing}");
    let output = common::crossbuild(dir, &["plan", "--node", &node_a, "--node", &node_b, "."]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no plan is half printed");
    let log = stderr(&output);
    assert!(
        log.starts_with(&format!(
            "error: node {missing}: cannot reach a BuildKit daemon"
        )),
        "{log}"
    );
    // A target no node builds fails before any connection.
    let output = common::crossbuild(
        dir,
        &["plan", "--node", &node_a, "--platform", "linux/arm64", "."],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).starts_with("error: platform linux/arm64 has no node"),
        "{}",
        stderr(&output)
    );
}
