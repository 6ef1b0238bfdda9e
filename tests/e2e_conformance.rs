//! Conformance with BuildKit's own Dockerfile frontend: every Dockerfile
//! under `tests/conformance/<case>/` is built twice through the same
//! client, session, context upload and exporter — once with crossbuild's
//! compiler, once with the daemon's built-in `dockerfile.v0`
//! (`--reference-frontend`) — for linux/amd64 and linux/arm64 (or
//! `CONFORMANCE_PLATFORMS`), and the two
//! OCI archives must hold the same image configs and the same files.
//!
//! A case directory is the build context. Besides the Dockerfile it may
//! hold `flags` (extra `crossbuild build` arguments, one per line) and
//! `setup.sh` (run in a fresh copy of the directory before building, for
//! what git cannot hold: owners, modes, archives, symlinks).
//!
//! Deliberate differences are excluded by name below, each pointing at
//! the README's "Known differences from BuildKit's own Dockerfile
//! frontend"; nothing else is skipped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::image_diff::{diff_images, Exclusion};
use common::oci;

/// The platforms every case is built for; `CONFORMANCE_PLATFORMS`
/// overrides them for a one-off look at others (`linux/arm/v7,...`).
const PLATFORMS: &str = "linux/amd64,linux/arm64";

fn target_platforms() -> String {
    std::env::var("CONFORMANCE_PLATFORMS").unwrap_or_else(|_| PLATFORMS.to_string())
}

/// Differences every case shares.
const CONFIG_EXCLUSIONS: &[Exclusion] = &[];
const PATH_EXCLUSIONS: &[Exclusion] = &[];

macro_rules! conformance_case {
    ($name:ident) => {
        conformance_case!($name, &[], &[]);
    };
    ($name:ident, $config:expr, $paths:expr) => {
        #[tokio::test]
        async fn $name() {
            run_case(stringify!($name), $config, $paths).await;
        }
    };
}

conformance_case!(stages_and_args);
conformance_case!(platforms);
conformance_case!(files);
conformance_case!(heredocs_and_shell);
conformance_case!(image_config);
conformance_case!(image_config_forms);
conformance_case!(run_mounts);
conformance_case!(copy_and_expand);
conformance_case!(misc);

/// Symbolic `COPY --chmod` (the LLB must not declare the unregistered
/// `file.copy.modestring` cap, or the daemon refuses the op).
#[tokio::test]
async fn copy_chmod_symbolic() {
    run_case("copy_chmod_symbolic", &[], &[]).await;
}

/// Proxy build args reach every RUN, declared or not, as BuildKit does.
#[tokio::test]
async fn proxy_args() {
    run_case("proxy_args", &[], &[]).await;
}

/// The comparison itself must see what it is there to see: an owner, a
/// mode, a whited-out file and a config field that differ.
#[test]
fn the_comparison_reports_differences() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    common::tree::write_file(&root, "etc/kept", b"same\n", 0o644);
    common::tree::write_file(&root, "etc/.wh.gone", b"", 0o644);
    let layer = |owner: &str, mode: &str| -> Vec<u8> {
        let tar = dir.path().join("layer.tar");
        let status = std::process::Command::new("tar")
            .args([
                "--numeric-owner",
                "--owner",
                owner,
                "--group",
                "0",
                "--mode",
                mode,
            ])
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&root)
            .arg("etc")
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(&tar).unwrap()
    };
    let image = |layers: Vec<Vec<u8>>, user: &str| oci::Image {
        config: serde_json::json!({ "config": { "User": user } }),
        layers,
    };
    let base = layer("0", "u=rw,go=r");
    let reference = BTreeMap::from([(
        "linux/amd64".to_string(),
        image(vec![base.clone(), layer("0", "u=rw,go=r")], "root"),
    )]);
    let crossbuild = BTreeMap::from([(
        "linux/amd64".to_string(),
        image(vec![base, layer("1000", "u=rwx,go=r")], "1000"),
    )]);
    let report = diff_images(&reference, &crossbuild, &[], &[]).join("\n");
    assert!(report.contains("config.User"), "{report}");
    assert!(report.contains("etc/kept"), "{report}");
    assert!(report.contains("0744 1000:0"), "{report}");
    assert!(!report.contains(".wh."), "{report}");
    let excluded = [Exclusion {
        prefix: "etc",
        reason: "test",
    }];
    let report = diff_images(&reference, &crossbuild, &[], &excluded).join("\n");
    assert!(!report.contains("etc/kept"), "{report}");
}

/// Builds one case both ways and compares the results.
async fn run_case(case: &str, config_exclusions: &[Exclusion], path_exclusions: &[Exclusion]) {
    if common::daemon_or_skip(case).await.is_none() {
        return;
    }
    assert_reference_frontend_flag();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(case);
    let context = prepare_context(case, &work);
    let flags = read_flags(&context);
    let reference_tar = work.join("reference.tar");
    let crossbuild_tar = work.join("crossbuild.tar");
    // Concurrent builds share every op whose cache key is the same, and
    // BuildKit leaves some inputs out of the key (the proxy environment);
    // a case that must not share runs its builds one after the other
    // with --no-cache.
    let (reference, crossbuild) = if flags.iter().any(|f| f == "--no-cache") {
        (
            build(&context, &flags, &reference_tar, true),
            build(&context, &flags, &crossbuild_tar, false),
        )
    } else {
        std::thread::scope(|scope| {
            let reference = scope.spawn(|| build(&context, &flags, &reference_tar, true));
            let crossbuild = scope.spawn(|| build(&context, &flags, &crossbuild_tar, false));
            (reference.join().unwrap(), crossbuild.join().unwrap())
        })
    };
    assert!(
        reference.status.success(),
        "{case}: the reference frontend failed:\n{}",
        tail(&reference)
    );
    assert!(
        crossbuild.status.success(),
        "{case}: crossbuild failed:\n{}",
        tail(&crossbuild)
    );
    let config_exclusions: Vec<Exclusion> = CONFIG_EXCLUSIONS
        .iter()
        .chain(config_exclusions)
        .copied()
        .collect();
    let path_exclusions: Vec<Exclusion> = PATH_EXCLUSIONS
        .iter()
        .chain(path_exclusions)
        .copied()
        .collect();
    let report = diff_images(
        &oci::read_archive(&reference_tar),
        &oci::read_archive(&crossbuild_tar),
        &config_exclusions,
        &path_exclusions,
    );
    for exclusion in config_exclusions.iter().chain(&path_exclusions) {
        eprintln!(
            "{case}: not compared: {} ({})",
            exclusion.prefix, exclusion.reason
        );
    }
    assert!(
        report.is_empty(),
        "{case}: crossbuild differs from BuildKit's Dockerfile frontend:\n{}",
        report.join("\n")
    );
}

/// Worktrees that share a target directory overwrite each other's
/// `crossbuild` binary; say so plainly instead of failing every case
/// with an unknown flag.
fn assert_reference_frontend_flag() {
    let help = common::crossbuild(Path::new("."), &["build", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--reference-frontend"),
        "{} has no `build --reference-frontend`: it was built from other \
         sources (a shared CARGO_TARGET_DIR?); rebuild and run again",
        env!("CARGO_BIN_EXE_crossbuild")
    );
}

/// A fresh copy of the case directory at a stable path (so the daemon's
/// shared key, and with it the context cache, stays the same from run to
/// run), with `setup.sh` run in it.
fn prepare_context(case: &str, work: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(case);
    assert!(source.is_dir(), "no case directory {}", source.display());
    let context = work.join("context");
    if work.exists() {
        std::fs::remove_dir_all(work).unwrap();
    }
    std::fs::create_dir_all(work).unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&source)
        .arg(&context)
        .status()
        .unwrap();
    assert!(status.success(), "copy {}", source.display());
    if context.join("setup.sh").exists() {
        let output = std::process::Command::new("sh")
            .arg("-eu")
            .arg("setup.sh")
            .current_dir(&context)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{case}/setup.sh: {}",
            tail(&output)
        );
    }
    context
}

fn read_flags(context: &Path) -> Vec<String> {
    match std::fs::read_to_string(context.join("flags")) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn build(context: &Path, flags: &[String], dest: &Path, reference: bool) -> Output {
    let output = format!("type=oci,dest={}", dest.display());
    let platforms = target_platforms();
    let mut args = vec![
        "build",
        "--progress",
        "plain",
        "--platform",
        &platforms,
        "-o",
        &output,
    ];
    if reference {
        args.push("--reference-frontend");
    }
    args.extend(flags.iter().map(String::as_str));
    args.push(".");
    common::crossbuild(context, &args)
}

/// The end of a build's progress output: the failing step and its logs.
fn tail(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
