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
