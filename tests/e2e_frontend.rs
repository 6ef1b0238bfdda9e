//! The `# syntax=` frontend image end to end: built and pushed with
//! crossbuild (scripts/frontend-image), then used by BuildKit's reference
//! client, `docker buildx build`, through the daemon's own Dockerfile
//! frontend forwarding to it. Its results must equal crossbuild's direct
//! client's for the same Dockerfile.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use common::tree::{assert_same_tree, snapshot, write_file};

/// Where the test pushes the frontend image (what users put after
/// `# syntax=`).
const FRONTEND_REPOSITORY: &str = "crossbuild-e2e/frontend";
const FRONTEND_IMAGE: &str = "localhost:5000/crossbuild-e2e/frontend:latest";

/// The size goal of the frontend image (config + layers, compressed).
const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;

/// A cross build in the shape crossbuild is for: a `$BUILDPLATFORM` stage
/// shared by the targets, a runtime stage per target.
const DOCKERFILE_BODY: &str = "\
FROM --platform=$BUILDPLATFORM localhost:5000/busybox:latest AS build
ARG TARGETARCH
RUN echo \"built on $(uname -m) for $TARGETARCH\" > /out.txt
FROM localhost:5000/busybox:latest
ARG TARGETPLATFORM
ENV GREETING=hello
LABEL org.example.test=frontend
RUN uname -m > /arch && echo \"$TARGETPLATFORM\" > /target
COPY --from=build /out.txt /out.txt
COPY hello.txt /hello.txt
CMD [\"cat\", \"/arch\"]
";

fn dockerfile() -> String {
    format!("# syntax={FRONTEND_IMAGE}\n{DOCKERFILE_BODY}")
}

fn context_with(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "Dockerfile", dockerfile.as_bytes(), 0o644);
    write_file(
        dir.path(),
        "hello.txt",
        b"hello through the frontend\n",
        0o644,
    );
    dir
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Builds and pushes the frontend image once per test run, with the
/// project's script and the crossbuild binary under test.
fn frontend_image() -> &'static str {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| common::frontend_image::build(FRONTEND_IMAGE));
    if let Err(log) = built {
        panic!("scripts/frontend-image failed:\n{log}");
    }
    FRONTEND_IMAGE
}

/// The daemon, `docker buildx` and the frontend image, or `None` (after
/// saying why) when the daemon is absent outside CI.
async fn ready(test: &str) -> Option<&'static str> {
    common::daemon_or_skip(test).await?;
    if !common::frontend_image::buildx_or_skip(test) {
        return None;
    }
    Some(frontend_image())
}

fn buildx(dir: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .args(["buildx", "build", "--progress", "plain"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run docker buildx build")
}

fn registry_blob(repository: &str, digest: &str) -> serde_json::Value {
    let output = Command::new("curl")
        .args([
            "-sf",
            &format!("http://127.0.0.1:5000/v2/{repository}/blobs/{digest}"),
        ])
        .output()
        .expect("run curl");
    assert!(output.status.success(), "no blob {repository}@{digest}");
    serde_json::from_slice(&output.stdout).expect("blob JSON")
}

/// Platform id → image config, for every platform of a pushed index.
fn configs(repository: &str, tag: &str) -> Vec<(String, serde_json::Value)> {
    let index = common::registry_manifest(repository, tag);
    let mut out = Vec::new();
    for entry in index["manifests"].as_array().expect("an index") {
        let platform = &entry["platform"];
        let arch = platform["architecture"].as_str().unwrap_or_default();
        if arch == "unknown" {
            continue;
        }
        let digest = entry["digest"].as_str().expect("manifest digest");
        let manifest = common::registry_manifest(repository, digest);
        let config_digest = manifest["config"]["digest"].as_str().expect("config");
        out.push((
            format!("{}/{arch}", platform["os"].as_str().unwrap_or_default()),
            registry_blob(repository, config_digest),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// What must match between two builds of one Dockerfile: everything but
/// the creation times.
fn comparable(config: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "architecture": config["architecture"],
        "os": config["os"],
        "variant": config["variant"],
        "config": config["config"],
        // Layer digests carry the mtimes of the directories a step touched
        // at the moment it ran, so two runs of one step differ unless they
        // share a cached result; the files themselves are compared in
        // `syntax_line_builds_two_platforms_like_the_direct_client`.
        "rootfs": {
            "type": config["rootfs"]["type"],
            "layers": config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        },
        "history": config["history"].as_array().map(|h| h
            .iter()
            .map(|e| serde_json::json!([e["created_by"], e["empty_layer"], e["comment"]]))
            .collect::<Vec<_>>()),
    })
}

#[tokio::test]
async fn syntax_line_builds_two_platforms_like_the_direct_client() {
    let test = "syntax_line_builds_two_platforms_like_the_direct_client";
    if ready(test).await.is_none() {
        return;
    }
    let context = context_with(&dockerfile());
    let through_frontend = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = buildx(
        context.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &format!("type=local,dest={}", through_frontend.path().display()),
            ".",
        ],
    );
    eprintln!("buildx build took {:.1} s", started.elapsed().as_secs_f64());
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "resolve image config for docker-image://{FRONTEND_IMAGE}"
        )),
        "BuildKit ran the frontend image: {log}"
    );

    let direct = tempfile::tempdir().unwrap();
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &format!("type=local,dest={}", direct.path().display()),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));

    for (dir, machine, arch) in [
        ("linux_amd64", "x86_64", "amd64"),
        ("linux_arm64", "aarch64", "arm64"),
    ] {
        let root = through_frontend.path().join(dir);
        let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_default();
        assert_eq!(read("arch").trim(), machine);
        assert_eq!(read("target").trim(), format!("linux/{arch}"));
        assert_eq!(
            read("out.txt").trim(),
            format!("built on x86_64 for {arch}")
        );
        assert_eq!(read("hello.txt"), "hello through the frontend\n");
        assert_same_tree(&snapshot(&direct.path().join(dir)), &snapshot(&root));
    }
}

#[tokio::test]
async fn pushed_index_has_the_direct_clients_configs() {
    let test = "pushed_index_has_the_direct_clients_configs";
    if ready(test).await.is_none() {
        return;
    }
    let context = context_with(&dockerfile());
    let output = buildx(
        context.path(),
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "--provenance=false",
            "-t",
            "localhost:5000/crossbuild-e2e/through-frontend:1",
            "--push",
            ".",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            "localhost:5000/crossbuild-e2e/direct:1",
            "--push",
            ".",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));

    let through = configs("crossbuild-e2e/through-frontend", "1");
    let direct = configs("crossbuild-e2e/direct", "1");
    let ids = |c: &[(String, serde_json::Value)]| c.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&through), ["linux/amd64", "linux/arm64"]);
    assert_eq!(ids(&through), ids(&direct));
    for ((id, ours), (_, theirs)) in through.iter().zip(&direct) {
        assert_eq!(comparable(ours), comparable(theirs), "{id}");
        let env = ours["config"]["Env"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(env.contains(&"GREETING=hello".into()), "{id}: {ours}");
        assert_eq!(
            ours["config"]["Labels"]["org.example.test"], "frontend",
            "{id}: {ours}"
        );
    }
}

#[tokio::test]
async fn dockerfile_errors_point_at_their_line() {
    let test = "dockerfile_errors_point_at_their_line";
    if ready(test).await.is_none() {
        return;
    }
    let context = context_with(&format!(
        "# syntax={FRONTEND_IMAGE}\nFROM localhost:5000/busybox:latest\nFORM busybox\n"
    ));
    let out = tempfile::tempdir().unwrap();
    let output = buildx(
        context.path(),
        &[
            "-o",
            &format!("type=local,dest={}", out.path().display()),
            ".",
        ],
    );
    let log = text(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("Dockerfile:3: unknown instruction: FORM"),
        "the error names the line: {log}"
    );
    assert!(
        log.contains(">>> FORM busybox"),
        "buildx marks the line, not the syntax line: {log}"
    );
}

/// Build-check warnings travel through the image's bridge
/// (`LLBBridge.Warn` over stdio) to buildx, with their lines.
#[tokio::test]
async fn build_check_warnings_reach_buildx() {
    let test = "build_check_warnings_reach_buildx";
    if ready(test).await.is_none() {
        return;
    }
    let context = context_with(&format!(
        "# syntax={FRONTEND_IMAGE}\nFROM localhost:5000/busybox:latest as Build\nMAINTAINER someone\n"
    ));
    let out = tempfile::tempdir().unwrap();
    let output = buildx(
        context.path(),
        &[
            "-o",
            &format!("type=local,dest={}", out.path().display()),
            ".",
        ],
    );
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    for warning in [
        "StageNameCasing: Stage name 'Build' should be lowercase (line 2)",
        "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)",
        "MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 3)",
    ] {
        assert!(log.contains(warning), "{warning} missing: {log}");
    }
}

#[tokio::test]
async fn targets_subrequest_lists_the_stages() {
    let test = "targets_subrequest_lists_the_stages";
    if ready(test).await.is_none() {
        return;
    }
    let with_comment = dockerfile().replace(
        "FROM --platform",
        "# build says where it was built\nFROM --platform",
    );
    let context = context_with(&with_comment);
    let output = buildx(context.path(), &["--call", "targets", "."]);
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("build"), "{log}");
    assert!(log.contains("says where it was built"), "{log}");
    assert!(log.contains("(default)"), "{log}");

    let output = buildx(context.path(), &["--call", "outline", "."]);
    let log = text(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("unsupported request frontend.outline"),
        "{log}"
    );
}

#[tokio::test]
async fn frontend_image_is_small_static_and_labelled() {
    let test = "frontend_image_is_small_static_and_labelled";
    if ready(test).await.is_none() {
        return;
    }
    let manifest = common::registry_manifest(FRONTEND_REPOSITORY, "latest");
    let layers = manifest["layers"].as_array().expect("one image manifest");
    assert_eq!(layers.len(), 1, "only the binary: {manifest}");
    let size: u64 = layers
        .iter()
        .chain(std::iter::once(&manifest["config"]))
        .filter_map(|d| d["size"].as_u64())
        .sum();
    eprintln!("frontend image: {size} bytes (config + layers)");
    assert!(size <= MAX_IMAGE_BYTES, "{size} bytes > 5 MB");

    let config_digest = manifest["config"]["digest"].as_str().expect("config");
    let config = registry_blob(FRONTEND_REPOSITORY, config_digest);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/crossbuild-frontend"])
    );
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["moby.buildkit.frontend.network.none"], "true");
    assert!(labels["moby.buildkit.frontend.caps"]
        .as_str()
        .unwrap_or_default()
        .contains("moby.buildkit.frontend.subrequests"));

    let binary = common::frontend_image::target_dir()
        .join("x86_64-unknown-linux-gnu/frontend/crossbuild-frontend");
    let ldd = Command::new("ldd").arg(&binary).output().expect("run ldd");
    let ldd = text(&ldd);
    assert!(
        ldd.contains("statically linked") || ldd.contains("not a dynamic executable"),
        "{ldd}"
    );
}

/// Dockerfile.frontend is what users build in the open; it cannot be built
/// here (no Rust image), but it must at least be a valid Dockerfile with the
/// stages the script relies on.
#[test]
fn dockerfile_frontend_parses_into_a_build_and_a_scratch_stage() {
    let source = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile.frontend"))
        .expect("Dockerfile.frontend");
    let parsed = crossbuild::dockerfile::parse(&source).expect("parses");
    let stages = parsed.stages().expect("valid instructions");
    assert_eq!(stages.stages.len(), 2);
    assert_eq!(stages.stages[0].name.as_deref(), Some("build"));
    assert_eq!(stages.stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(stages.stages[1].base, "scratch");
}

/// The same frontend image through crossbuild's own client: `gateway.v0`
/// with the image as `source`, as `--frontend-image` sends it.
#[tokio::test]
async fn crossbuilds_own_client_runs_the_frontend_image() {
    let test = "crossbuilds_own_client_runs_the_frontend_image";
    if ready(test).await.is_none() {
        return;
    }
    let context = context_with(&dockerfile());
    let through_image = tempfile::tempdir().unwrap();
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "plain",
            "--frontend-image",
            FRONTEND_IMAGE,
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &format!("type=local,dest={}", through_image.path().display()),
            ".",
        ],
    );
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains(FRONTEND_IMAGE),
        "the daemon ran the image: {log}"
    );
    let direct = tempfile::tempdir().unwrap();
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &format!("type=local,dest={}", direct.path().display()),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    for dir in ["linux_amd64", "linux_arm64"] {
        assert_same_tree(
            &snapshot(&direct.path().join(dir)),
            &snapshot(&through_image.path().join(dir)),
        );
    }
}

/// `--build-context` of an OCI layout and a URL, passed by buildx (which
/// serves the layout itself) and by crossbuild's own client to the
/// frontend image: the layout's config applies to `FROM ctx` and the URL
/// is one file named `context`, as in the direct client.
#[tokio::test]
async fn layout_and_url_contexts_through_the_frontend_image() {
    let test = "layout_and_url_contexts_through_the_frontend_image";
    let Some(frontend) = ready(test).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token = common::unique_tag();
    let base = dir.path().join("base");
    write_file(
        &base,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\n\
             RUN mkdir -m 777 /out\n\
             ENV LAYOUT_VAR={token}\n\
             WORKDIR /layoutdir\n\
             USER 1234:1234\n"
        )
        .as_bytes(),
        0o644,
    );
    let layout = dir.path().join("layout");
    let output = common::crossbuild(
        &base,
        &[
            "build",
            "--progress",
            "quiet",
            "-o",
            &format!("type=oci,dest={},tar=false", layout.display()),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    let served = dir.path().join("served");
    write_file(&served, "note.txt", b"fetched by the daemon\n", 0o644);
    let server = common::file_server::FileServer::start(&served);

    let body = "FROM ctx\n\
                RUN echo \"$LAYOUT_VAR|$(pwd)|$(id -u)\" > /out/seen\n\
                COPY --from=web / /out/web/\n";
    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        format!("# syntax={frontend}\n{body}").as_bytes(),
        0o644,
    );
    let contexts = [
        format!("ctx=oci-layout://{}@{digest}", layout.display()),
        format!("web={}", server.url("note.txt")),
    ];
    let run = |name: &str, program: &str, first: &[&str]| {
        let out = dir.path().join(name);
        let output = format!("type=local,dest={}", out.display());
        let mut args: Vec<&str> = first.to_vec();
        for c in &contexts {
            args.extend(["--build-context", c]);
        }
        args.extend(["-o", &output, "."]);
        let result = Command::new(program)
            .args(&args)
            .current_dir(&context)
            .output()
            .unwrap();
        assert!(result.status.success(), "{name}: {}", text(&result));
        out
    };
    let crossbuild = env!("CARGO_BIN_EXE_crossbuild");
    let direct = run("direct", crossbuild, &["build", "--progress", "quiet"]);
    let by_buildx = run(
        "buildx",
        "docker",
        &["buildx", "build", "--progress", "plain"],
    );
    let by_image = run(
        "image",
        crossbuild,
        &["build", "--progress", "quiet", "--frontend-image", frontend],
    );
    assert_eq!(
        std::fs::read_to_string(direct.join("out/seen")).unwrap(),
        format!("{token}|/layoutdir|1234\n")
    );
    assert_eq!(
        std::fs::read_to_string(direct.join("out/web/context")).unwrap(),
        "fetched by the daemon\n"
    );
    for through in [&by_buildx, &by_image] {
        assert_same_tree(&snapshot(&direct), &snapshot(through));
    }
}
