//! The cross-compile examples end to end: `examples/c-hello` built for six
//! platforms by gcc-<triple> on the build platform and `examples/go-hello`
//! for four by Go's cross compiler, each pushed and then checked with
//! `crossbuild test`: every platform's image holds a binary of that
//! platform's ELF machine, and it runs (under QEMU) saying what it was
//! built for and what it runs on.
//!
//! They need the toolchain images of `scripts/toolchain-images` in the
//! local registry: skipped with the reason when those are missing, failed
//! instead under CI=true.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn registry_has(repository: &str, tag: &str) -> bool {
    std::process::Command::new("curl")
        .args([
            "-sf",
            "-o",
            "/dev/null",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json",
            &format!("http://127.0.0.1:5000/v2/{repository}/manifests/{tag}"),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The daemon and the toolchain images, or a printed reason to skip (a
/// failure under CI=true).
async fn environment_or_skip(test: &str) -> bool {
    if common::daemon_or_skip(test).await.is_none() {
        return false;
    }
    for (repository, tag) in [
        ("crossbuild-toolchain/gcc", "12"),
        ("crossbuild-toolchain/go", "1.24"),
    ] {
        if !registry_has(repository, tag) {
            let reason = format!(
                "no toolchain image localhost:5000/{repository}:{tag}; run scripts/toolchain-images"
            );
            assert!(!common::in_ci(), "{test}: CI=true but {reason}");
            eprintln!("SKIPPED {test}: {reason}");
            return false;
        }
    }
    true
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Per platform: what the compiler macros call it, what uname(2) says
/// under QEMU, and its ELF e_machine.
const C_PLATFORMS: [(&str, &str, &str, u64); 6] = [
    ("linux/amd64", "x86_64", "x86_64", 62),
    ("linux/arm64", "aarch64", "aarch64", 183),
    ("linux/arm/v7", "armv7", "armv7l", 40),
    ("linux/riscv64", "riscv64", "riscv64", 243),
    ("linux/ppc64le", "ppc64le", "ppc64le", 21),
    ("linux/s390x", "s390x", "s390x", 22),
];

#[tokio::test]
async fn c_hello_for_six_platforms_runs_on_each() {
    if !environment_or_skip("c_hello_for_six_platforms_runs_on_each").await {
        return;
    }
    let tag = common::unique_tag();
    let image = format!("localhost:5000/crossbuild-e2e/c-hello:{tag}");
    let platforms: Vec<&str> = C_PLATFORMS.iter().map(|p| p.0).collect();
    let started = Instant::now();
    let output = common::crossbuild(
        &example("c-hello"),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            &platforms.join(","),
            "-t",
            &image,
            "--push",
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let built = started.elapsed();

    let started = Instant::now();
    // No --platform: all six come from the pushed index.
    let output = common::crossbuild(
        Path::new("."),
        &[
            "test",
            "--format",
            "json",
            "--check-elf",
            "/usr/local/bin",
            &image,
        ],
    );
    let tested = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report}");
    let reports = report["platforms"].as_array().unwrap();
    assert_eq!(reports.len(), 6, "{report}");
    for (report, (platform, built_for, runs_on, machine)) in reports.iter().zip(C_PLATFORMS) {
        assert_eq!(report["platform"], platform);
        assert_eq!(report["command"], serde_json::json!(["c-hello"]));
        assert_eq!(
            report["stdout"],
            format!(
                "hello from c-hello: built for {built_for} ({platform}), running on {runs_on}\n"
            )
        );
        // The command's binary, and the same file again under --check-elf.
        let elf = report["elf"].as_array().unwrap();
        assert_eq!(elf.len(), 2, "{report}");
        for check in elf {
            assert_eq!(check["path"], "/usr/local/bin/c-hello");
            assert_eq!(check["found"]["machine"], machine, "{check}");
            assert_eq!(check["ok"], true);
        }
    }
    eprintln!("c-hello: built for six platforms in {built:?}, tested in {tested:?}");
}

#[tokio::test]
async fn go_hello_for_four_platforms_is_tested_then_pushed() {
    if !environment_or_skip("go_hello_for_four_platforms_is_tested_then_pushed").await {
        return;
    }
    let tag = common::unique_tag();
    let image = format!("localhost:5000/crossbuild-e2e/go-hello:{tag}");
    let platforms = [
        ("linux/amd64", "amd64", "x86_64", 62),
        ("linux/arm64", "arm64", "aarch64", 183),
        ("linux/arm/v7", "arm", "armv7l", 40),
        ("linux/riscv64", "riscv64", "riscv64", 243),
    ];
    let list: Vec<&str> = platforms.iter().map(|p| p.0).collect();
    let started = Instant::now();
    // Build, test and push in one go: the push happens only if all pass.
    let output = common::crossbuild(
        &example("go-hello"),
        &[
            "test",
            "--from-build",
            "--progress",
            "quiet",
            "--platform",
            &list.join(","),
            "-t",
            &image,
            "--push",
            "--format",
            "json",
            ".",
            "--",
            "go-hello",
        ],
    );
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reports = report["platforms"].as_array().unwrap();
    assert_eq!(reports.len(), 4, "{report}");
    for (report, (platform, goarch, runs_on, machine)) in reports.iter().zip(platforms) {
        assert_eq!(report["platform"], platform);
        assert_eq!(
            report["stdout"],
            format!("hello from go-hello: built for linux/{goarch} ({platform}), running on {runs_on}\n")
        );
        assert_eq!(report["elf"][0]["path"], "/usr/local/bin/go-hello");
        assert_eq!(report["elf"][0]["found"]["machine"], machine);
    }
    let index = common::registry_manifest("crossbuild-e2e/go-hello", &tag);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 4, "{index}");
    eprintln!("go-hello: built, tested and pushed for four platforms in {elapsed:?}");
}
