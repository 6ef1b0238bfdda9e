//! Plans of small Dockerfiles compiled for real, with canned base images
//! and the worker list of this project's amd64 test machine.

use std::collections::BTreeMap;

use super::*;
use crate::client::workers::Worker;
use crate::dockerfile::convert::{ImageResolver, ResolvedImage};
use crate::frontend::FrontendOptions;
use crate::image::ImageConfig;

/// Every image exists for every platform.
struct AnyImage;

#[async_trait::async_trait]
impl ImageResolver for AnyImage {
    async fn resolve(&self, _: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        Ok(ResolvedImage {
            digest: format!("sha256:{}", "a".repeat(64)),
            config: ImageConfig {
                architecture: platform.architecture.clone(),
                os: platform.os.clone(),
                ..Default::default()
            },
        })
    }
}

fn amd64_daemon() -> DaemonPlatforms {
    DaemonPlatforms::from_workers(&[Worker {
        id: "w".to_string(),
        platforms: [
            "linux/amd64",
            "linux/amd64/v2",
            "linux/arm64",
            "linux/arm",
            "linux/s390x",
        ]
        .map(String::from)
        .to_vec(),
        labels: BTreeMap::new(),
    }])
}

fn plan(dockerfile: &str, platforms: &str) -> Plan {
    plan_on(dockerfile, platforms, amd64_daemon())
}

/// The plan of `dockerfile` for `platforms` on a daemon with `workers`.
fn plan_on(dockerfile: &str, platforms: &str, workers: DaemonPlatforms) -> Plan {
    let attrs = BTreeMap::from([("platform".to_string(), platforms.to_string())]);
    let options = FrontendOptions::from_attrs(&attrs).expect("options");
    let build_platform = workers.build_platform().expect("a worker").clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let builds = rt
        .block_on(compile_dockerfile(
            dockerfile.as_bytes(),
            &options,
            &build_platform,
            &AnyImage,
        ))
        .expect("compile");
    Plan::new(&builds, workers).expect("plan")
}

#[test]
fn node_plans_join_with_each_target_judged_on_its_node() {
    let arm64_node = DaemonPlatforms::from_workers(&[Worker {
        id: "b".to_string(),
        platforms: vec!["linux/arm64".to_string()],
        labels: BTreeMap::new(),
    }]);
    let a = plan_on(CROSS, "linux/amd64,linux/arm/v7", amd64_daemon());
    let b = plan_on(CROSS, "linux/arm64,linux/s390x", arm64_node);
    let order: Vec<Platform> = ["linux/arm64", "linux/amd64", "linux/s390x", "linux/arm/v7"]
        .iter()
        .map(|p| p.parse().expect("platform"))
        .collect();
    let joined = Plan::join_nodes(vec![("A".to_string(), a), ("B".to_string(), b)], &order);
    let targets: Vec<(&str, Option<&str>)> = joined
        .targets
        .iter()
        .map(|t| (t.platform.as_str(), t.node.as_deref()))
        .collect();
    assert_eq!(
        targets,
        [
            ("linux/arm64", Some("B")),
            ("linux/amd64", Some("A")),
            ("linux/s390x", Some("B")),
            ("linux/arm/v7", Some("A")),
        ]
    );
    // arm64 is native on B, where its build stage also runs natively.
    assert_eq!(
        placements(&joined.targets[0]),
        [
            (Placement::Native, true, Some("make")),
            (Placement::Native, false, Some("make"))
        ]
    );
    // B lists no s390x: impossible there, whatever A could do.
    assert_eq!(placements(&joined.targets[2])[1].0, Placement::Impossible);
    assert_eq!(joined.errors.len(), 1, "{:?}", joined.errors);
    assert!(
        joined.errors[0].starts_with("node B: "),
        "{:?}",
        joined.errors
    );
    assert!(joined.warnings.iter().all(|w| w.starts_with("node A: ")));
    // Each node cross-compiles its build stage once.
    assert_eq!(joined.counts.platforms, 4);
    assert_eq!(joined.counts.cross, 2);
    assert_eq!(joined.build_platform, "linux/amd64");
    let nodes: Vec<(&str, &str)> = joined
        .nodes
        .iter()
        .map(|n| (n.address.as_str(), n.build_platform.as_str()))
        .collect();
    assert_eq!(nodes, [("A", "linux/amd64"), ("B", "linux/arm64")]);
    assert_eq!(joined.workers.workers.len(), 2);
}

const CROSS: &str = "\
FROM --platform=$BUILDPLATFORM busybox AS build
RUN make
FROM busybox
COPY --from=build /out /out
RUN make install
";

fn placements(t: &TargetPlan) -> Vec<(Placement, bool, Option<&str>)> {
    t.steps
        .iter()
        .map(|s| (s.placement, s.shared, s.compile.as_deref()))
        .collect()
}

#[test]
fn buildplatform_stage_is_cross_and_shared_runtime_is_emulated() {
    let plan = plan(CROSS, "linux/amd64,linux/arm64,linux/arm/v7");
    assert_eq!(plan.build_platform, "linux/amd64");
    let [amd64, arm64, armv7] = &plan.targets[..] else {
        panic!("three targets: {plan:?}");
    };
    assert_eq!(
        placements(amd64),
        [
            (Placement::Native, true, Some("make")),
            (Placement::Native, false, Some("make"))
        ]
    );
    assert_eq!(
        placements(arm64),
        [
            (Placement::Cross, true, Some("make")),
            (Placement::Emulated, false, Some("make"))
        ]
    );
    assert_eq!(placements(armv7)[1].0, Placement::Emulated);
    assert_eq!(arm64.steps[0].digest, amd64.steps[0].digest);
    assert_eq!(arm64.steps[0].platform, "linux/amd64");
    assert!(
        arm64.steps[0].name.contains("RUN make"),
        "{:?}",
        arm64.steps
    );
    // The shared build step counts once, as cross.
    assert_eq!(
        plan.counts,
        PlanCounts {
            platforms: 3,
            native: 1,
            cross: 1,
            emulated: 2,
            impossible: 0
        }
    );
    assert_eq!(
        plan.summary(),
        "plan: 3 platforms; RUN steps: 1 cross-compiled once, 1 native, 2 emulated (QEMU); \
         2 compile steps emulated (see `crossbuild plan`)"
    );
    assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
    assert!(plan.warnings[0].contains("FROM --platform=$BUILDPLATFORM"));
    assert!(plan.errors.is_empty());
}

#[test]
fn unlisted_platform_is_impossible_with_the_fix() {
    let plan = plan(CROSS, "linux/mips64le");
    assert_eq!(
        placements(&plan.targets[0]),
        [
            (Placement::Cross, false, Some("make")),
            (Placement::Impossible, false, Some("make"))
        ]
    );
    assert_eq!(plan.errors.len(), 1);
    assert!(
        plan.errors[0].contains("tonistiigi/binfmt --install mips64le"),
        "{}",
        plan.errors[0]
    );
    assert!(
        plan.summary().contains("1 impossible"),
        "{}",
        plan.summary()
    );
}

#[test]
fn a_cross_stage_with_target_args_is_cross_per_target_and_file_only_targets_need_no_worker() {
    let df = "\
FROM --platform=$BUILDPLATFORM busybox AS build
ARG TARGET_GNU_TRIPLE
RUN $TARGET_GNU_TRIPLE-gcc -o /app app.c
FROM scratch
COPY --from=build /app /app
";
    let plan = plan(df, "linux/arm64,linux/mips64le");
    for target in &plan.targets {
        assert_eq!(placements(target), [(Placement::Cross, false, None)]);
    }
    assert_eq!(plan.counts.cross, 2);
    assert!(plan.errors.is_empty() && plan.warnings.is_empty());
    assert_eq!(
        plan.summary(),
        "plan: 2 platforms; RUN steps: 2 cross-compiled, 0 native, 0 emulated (QEMU)"
    );
}

#[test]
fn json_names_placements_in_lower_case() {
    let plan = plan("FROM busybox\nRUN true\n", "linux/s390x");
    let json = serde_json::to_value(&plan).expect("json");
    assert_eq!(json["targets"][0]["steps"][0]["placement"], "emulated");
    assert_eq!(json["targets"][0]["platform"], "linux/s390x");
    assert_eq!(json["counts"]["emulated"], 1);
}
