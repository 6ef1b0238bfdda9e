//! Conformance with BuildKit's own Dockerfile frontend: every Dockerfile
//! under `tests/conformance/<case>/` is built twice through the same
//! client, session, context upload and exporter — once with crossbuild's
//! compiler, once with the daemon's built-in `dockerfile.v0`
//! (`--reference-frontend`) — for linux/amd64 and linux/arm64 (or
//! `CONFORMANCE_PLATFORMS`), and the two
//! OCI archives must hold the same image configs and the same files.
//!
//! A case directory is the build context. Besides the Dockerfile it may
//! hold `flags` (extra `crossbuild build` arguments, one per line), `env`
//! (`KEY=value` lines set in the environment of both builds),
//! `setup.sh` (run in a fresh copy of the directory before building, for
//! what git cannot hold: owners, modes, archives, symlinks; `$CROSSBUILD`
//! names the binary and `$CONFORMANCE_PLATFORMS` the platforms, for a
//! setup that pushes a base image) and `http/` (files served over HTTP on
//! 127.0.0.1 for `ADD <url>`, whose base URL the build gets as the build
//! arg `HTTP_BASE`), and `reference.Dockerfile` (what BuildKit's frontend
//! builds instead, for labs-only features). A case whose flags set `SOURCE_DATE_EPOCH` is
//! exported with `rewrite-timestamp=true` and its times are compared too.
//!
//! Deliberate differences are excluded by name below, each pointing at
//! the README's "Known differences from BuildKit's own Dockerfile
//! frontend"; nothing else is skipped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::image_diff::{diff_images, diff_times, Exclusion};
use common::oci;

/// The platforms every case is built for; `CONFORMANCE_PLATFORMS`
/// overrides them for a one-off look at others (`linux/arm/v7,...`).
const PLATFORMS: &str = "linux/amd64,linux/arm64";

fn target_platforms() -> String {
    std::env::var("CONFORMANCE_PLATFORMS").unwrap_or_else(|_| PLATFORMS.to_string())
}

/// A case's stand-in for BuildKit's frontend, for features its built-in
/// `dockerfile.v0` only has in the labs channel (`COPY --parents`): the
/// same result spelled with stable instructions.
const REFERENCE_DOCKERFILE: &str = "reference.Dockerfile";

/// `COPY --parents` against its stand-in (see [`REFERENCE_DOCKERFILE`]).
const PARENTS_CONFIG: &[Exclusion] = &[
    Exclusion {
        prefix: "history",
        reason: "reference.Dockerfile spells one COPY --parents as several COPYs",
    },
    Exclusion {
        prefix: "rootfs.layers",
        reason: "reference.Dockerfile spells one COPY --parents as several COPYs",
    },
];

/// Differences every case shares.
const CONFIG_EXCLUSIONS: &[Exclusion] = &[];
const PATH_EXCLUSIONS: &[Exclusion] = &[];

/// One test per case directory, and the list of them (so that a
/// directory without a test is caught by `every_case_directory_is_tested`).
/// `name => (config exclusions, path exclusions)` names what a case
/// deliberately leaves out.
macro_rules! conformance_cases {
    ($($(#[$meta:meta])* $name:ident $(=> ($config:expr, $paths:expr))?),* $(,)?) => {
        const CASES: &[&str] = &[$(stringify!($name)),*];
        $(
            $(#[$meta])*
            #[tokio::test]
            async fn $name() {
                #[allow(unused_mut, unused_assignments)]
                let mut exclusions: (&[Exclusion], &[Exclusion]) = (&[], &[]);
                $(exclusions = ($config, $paths);)?
                run_case(stringify!($name), exclusions.0, exclusions.1).await;
            }
        )*
    };
}

conformance_cases! {
    stages_and_args,
    platforms,
    files,
    heredocs_and_shell,
    image_config,
    image_config_forms,
    run_mounts,
    copy_and_expand,
    misc,
    /// Symbolic `COPY --chmod` (the LLB must not declare the unregistered
    /// `file.copy.modestring` cap, or the daemon refuses the op).
    copy_chmod_symbolic,
    /// Proxy build args reach every RUN, declared or not, as BuildKit does.
    proxy_args,
    source_date_epoch_env,
    onbuild_stage,
    onbuild_image,
    config_inheritance,
    shell_instruction,
    multistage_target,
    platform_args_all,
    dockerignore_patterns,
    dockerfile_specific_dockerignore,
    source_date_epoch,
    scratch_config,
    keyword_casing,
    run_exec_forms,
    copy_from_stage_paths,
    healthcheck_volume_stopsignal,
    copy_from_index_image,
    copy_chown_names,
    copy_chmod_forms,
    copy_link,
    /// Compared with `reference.Dockerfile`: the files must agree, the
    /// history and layer count cannot (one COPY against several).
    copy_parents => (PARENTS_CONFIG, &[]),
    copy_exclude,
    copy_wildcards,
    copy_dest_rules,
    add_local_archives,
    add_url,
    run_mount_bind,
    run_mount_cache,
    run_mount_secret_ssh_tmpfs,
    run_network,
    directives_escape,
    continuations_and_comments,
    heredoc_variants,
    word_expansion,
    env_forms,
    arg_scoping,
    build_args,
    label_forms,
    expose_forms,
    user_workdir,
}

/// Every directory under `tests/conformance/` is a case with a test.
#[test]
fn every_case_directory_is_tested() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    cases.sort();
    assert_eq!(dirs, cases, "case directories and conformance tests differ");
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
    let mut flags = read_lines(&context.join("flags"));
    let env = read_lines(&context.join("env"));
    if context.join("http").is_dir() {
        flags.push("--build-arg".to_string());
        flags.push(format!(
            "HTTP_BASE={}/{case}/context/http",
            http_server::base_url()
        ));
    }
    // SOURCE_DATE_EPOCH pins times; then they are compared too, layer
    // entries included (which `rewrite-timestamp` clamps).
    let pins_times = flags
        .iter()
        .chain(&env)
        .any(|f| f.starts_with("SOURCE_DATE_EPOCH="));
    let reference_tar = work.join("reference.tar");
    let crossbuild_tar = work.join("crossbuild.tar");
    // Concurrent builds share every op whose cache key is the same, and
    // BuildKit leaves some inputs out of the key (the proxy environment);
    // a case that must not share runs its builds one after the other
    // with --no-cache.
    let (reference, crossbuild) = if flags.iter().any(|f| f == "--no-cache") {
        (
            build(&context, &flags, &env, &reference_tar, true, pins_times),
            build(&context, &flags, &env, &crossbuild_tar, false, pins_times),
        )
    } else {
        std::thread::scope(|scope| {
            let reference =
                scope.spawn(|| build(&context, &flags, &env, &reference_tar, true, pins_times));
            let crossbuild =
                scope.spawn(|| build(&context, &flags, &env, &crossbuild_tar, false, pins_times));
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
    let reference_images = oci::read_archive(&reference_tar);
    let crossbuild_images = oci::read_archive(&crossbuild_tar);
    let mut report = diff_images(
        &reference_images,
        &crossbuild_images,
        &config_exclusions,
        &path_exclusions,
    );
    if pins_times {
        report.extend(diff_times(&reference_images, &crossbuild_images));
    }
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
            .env("CROSSBUILD", env!("CARGO_BIN_EXE_crossbuild"))
            .env("CONFORMANCE_PLATFORMS", target_platforms())
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

/// The non-empty, non-comment lines of a case file (`flags`, `env`).
fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn build(
    context: &Path,
    flags: &[String],
    env: &[String],
    dest: &Path,
    reference: bool,
    times: bool,
) -> Output {
    let mut output = format!("type=oci,dest={}", dest.display());
    if times {
        output.push_str(",rewrite-timestamp=true");
    }
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
        if context.join(REFERENCE_DOCKERFILE).exists() {
            args.extend(["-f", REFERENCE_DOCKERFILE]);
        }
    }
    args.extend(flags.iter().map(String::as_str));
    args.push(".");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"));
    for pair in env {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        command.env(key, value);
    }
    command
        .args(&args)
        .current_dir(context)
        .output()
        .expect("run crossbuild")
}

/// The end of a build's progress output: the failing step and its logs.
fn tail(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A minimal HTTP/1.0 file server on 127.0.0.1 for `ADD <url>` cases:
/// the daemon runs on this machine, so it reaches the loopback address.
/// Serves the prepared case contexts (after `setup.sh`) read-only, GET and HEAD, one thread per
/// connection; started once per test process.
mod http_server {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Component, Path};
    use std::sync::OnceLock;

    /// `http://127.0.0.1:<port>`, starting the server on first use.
    pub fn base_url() -> String {
        static URL: OnceLock<String> = OnceLock::new();
        URL.get_or_init(|| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind the HTTP server");
            let port = listener.local_addr().unwrap().port();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    std::thread::spawn(move || serve(stream));
                }
            });
            format!("http://127.0.0.1:{port}")
        })
        .clone()
    }

    fn serve(mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() {
            return;
        }
        // Headers are read and ignored: every answer is the whole file.
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let mut words = request.split_whitespace();
        let method = words.next().unwrap_or_default();
        let path = words.next().unwrap_or_default();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        let relative = Path::new(path.trim_start_matches('/'));
        let safe = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        let body = if safe {
            std::fs::read(root.join(relative)).ok()
        } else {
            None
        };
        let response = match body {
            Some(body) => {
                let mut head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                if method != "HEAD" {
                    head.extend(body);
                }
                head
            }
            None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        let _ = stream.write_all(&response);
    }
}
