//! OCI layout directories through the session's content store: a
//! two-platform image exported with `tar=false` (and a docker-format one),
//! the same layout used again as an `oci-layout://` named context, and the
//! one-line errors for layouts, tags and digests that do not exist.

mod common;

use std::path::Path;

use common::oci::{file_tree, read_layout, EntryKind};
use common::tree::write_file;

/// A Dockerfile whose image holds a file naming its platform and `token`.
fn write_marker_context(context: &Path, token: &str) {
    write_file(
        context,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\n\
             ARG TARGETPLATFORM\n\
             RUN echo \"$TARGETPLATFORM {token}\" > /marker\n"
        )
        .as_bytes(),
        0o644,
    );
}

fn unique_token(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let output = common::crossbuild(dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "crossbuild {args:?}:\n{stderr}");
    stderr
}

#[tokio::test]
async fn tar_false_exports_an_oci_layout_that_feeds_a_named_context() {
    if common::daemon_or_skip("tar_false_exports_an_oci_layout_that_feeds_a_named_context")
        .await
        .is_none()
    {
        return;
    }
    let token = unique_token("layout");
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    write_marker_context(&context, &token);
    let layout = dir.path().join("layout");
    let output = format!("type=oci,dest={},tar=false", layout.display());
    run_ok(
        &context,
        &[
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            "localhost:5000/crossbuild-e2e/layout:v1",
            "-o",
            &output,
            ".",
        ],
    );

    // The layout: marker file, an index naming the image, every blob
    // matching its digest, one image per platform with its own marker.
    assert_eq!(
        std::fs::read_to_string(layout.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert!(
        !layout.join("ingest").exists(),
        "unfinished writes left behind"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "localhost:5000/crossbuild-e2e/layout:v1"
    );
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    let images = read_layout(&layout);
    assert_eq!(
        images.keys().collect::<Vec<_>>(),
        ["linux/amd64", "linux/arm64"]
    );
    for (platform, image) in &images {
        let tree = file_tree(&image.layers);
        let line = format!("{platform} {token}\n");
        assert_eq!(
            tree.get("marker").map(|e| e.kind.clone()),
            Some(EntryKind::File(line.len() as u64, format!("{line:?}"))),
            "{platform}"
        );
        assert_eq!(
            image.config["architecture"],
            platform.split('/').nth(1).unwrap()
        );
    }

    // The same layout as a named context, by tag and by digest: FROM and
    // COPY --from both read it through the content store.
    let digest = entry["digest"].as_str().unwrap();
    let second = dir.path().join("second");
    write_file(
        &second,
        "Dockerfile",
        b"FROM base\nCOPY --from=base /marker /copied\nRUN cat /marker /copied > /both\n",
        0o644,
    );
    for (reference, out) in [
        (format!("{}:v1", layout.display()), "by-tag"),
        (format!("{}@{digest}", layout.display()), "by-digest"),
    ] {
        let out = dir.path().join(out);
        let context_flag = format!("base=oci-layout://{reference}");
        let output = format!("type=local,dest={}", out.display());
        let build = std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"))
            .args([
                "build",
                "--progress",
                "plain",
                "--platform",
                "linux/amd64,linux/arm64",
                "--build-context",
                &context_flag,
                "-o",
                &output,
                ".",
            ])
            .current_dir(&second)
            .env(
                "RUST_LOG",
                "crossbuild::client::session::content_store=debug",
            )
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&build.stderr);
        assert!(build.status.success(), "{log}");
        // The first build has never seen this image: the daemon must have
        // read it from the layout through the session.
        if reference.ends_with(":v1") {
            assert!(log.contains("content store call"), "{log}");
        }
        for platform in ["linux/amd64", "linux/arm64"] {
            let both = out.join(platform.replace('/', "_")).join("both");
            let line = format!("{platform} {token}\n");
            assert_eq!(
                std::fs::read_to_string(&both)
                    .unwrap_or_else(|e| panic!("{}: {e}", both.display())),
                format!("{line}{line}"),
                "{reference}"
            );
        }
    }
}

#[tokio::test]
async fn docker_format_tar_false_exports_a_layout_too() {
    if common::daemon_or_skip("docker_format_tar_false_exports_a_layout_too")
        .await
        .is_none()
    {
        return;
    }
    let token = unique_token("docker-layout");
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    write_marker_context(&context, &token);
    let layout = dir.path().join("layout");
    let output = format!("type=docker,dest={},tar=false", layout.display());
    run_ok(
        &context,
        &[
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/arm64",
            "-o",
            &output,
            ".",
        ],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    let images = read_layout(&layout);
    let image = &images["linux/arm64"];
    let tree = file_tree(&image.layers);
    assert!(tree.contains_key("marker"), "{:?}", tree.keys());

    // BuildKit's docker exporter writes one image only; the daemon's own
    // error reaches the user as one line.
    let two = dir.path().join("two");
    let output = format!("type=docker,dest={},tar=false", two.display());
    let failed = common::crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &output,
            ".",
        ],
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(stderr.contains("manifest lists"), "{stderr}");
}

#[test]
fn bad_layouts_tags_and_digests_fail_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    write_file(&context, "Dockerfile", b"FROM base\n", 0o644);
    let not_a_layout = dir.path().join("plain");
    std::fs::create_dir_all(&not_a_layout).unwrap();
    let layout = dir.path().join("layout");
    let blob = b"{}";
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(blob))
    };
    write_file(&layout, &format!("blobs/sha256/{digest}"), blob, 0o644);
    write_file(
        &layout,
        "index.json",
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"sha256:{digest}","size":2,"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#
        )
        .as_bytes(),
        0o644,
    );
    let unknown = format!("sha256:{}", "0".repeat(64));
    let d = |p: &Path| p.display().to_string();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "--build-context".into(),
                format!("base=oci-layout://{}", d(&dir.path().join("missing"))),
            ],
            "does not exist".into(),
        ),
        (
            vec![
                "--build-context".into(),
                format!("base=oci-layout://{}", d(&not_a_layout)),
            ],
            "cannot read index.json".into(),
        ),
        (
            vec![
                "--build-context".into(),
                format!("base=oci-layout://{}:v2", d(&layout)),
            ],
            "no image tagged \"v2\"".into(),
        ),
        (
            vec![
                "--build-context".into(),
                format!("base=oci-layout://{}@{unknown}", d(&layout)),
            ],
            format!("{unknown} is not in"),
        ),
        (
            vec!["--cache-to".into(), "type=local".into()],
            "--cache-to type=local needs dest=DIR".into(),
        ),
        (
            vec!["--cache-from".into(), "type=local,mode=max".into()],
            "--cache-from type=local needs src=DIR".into(),
        ),
        (
            vec![
                "--cache-from".into(),
                format!("type=local,src={}", d(&not_a_layout)),
            ],
            "cannot read index.json".into(),
        ),
        (
            vec![
                "--cache-from".into(),
                format!("type=local,src={},digest={unknown}", d(&layout)),
            ],
            format!("{unknown} is not in"),
        ),
        (
            vec![
                "--cache-from".into(),
                format!("type=local,src={}", d(&layout)),
            ],
            "no cache tagged \"latest\"".into(),
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["build"];
        args.extend(flags.iter().map(String::as_str));
        args.push(".");
        let started = std::time::Instant::now();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"))
            .args(&args)
            .current_dir(&context)
            // No daemon is needed to find these mistakes, and none is asked.
            .env("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(&expected),
            "{args:?}: {stderr}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}

/// The parts of an image config a base passes on to `FROM`.
fn inherited_config(config: &serde_json::Value) -> serde_json::Value {
    let c = &config["config"];
    serde_json::json!({
        "Env": c["Env"],
        "WorkingDir": c["WorkingDir"],
        "User": c["User"],
        "Cmd": c["Cmd"],
        "Entrypoint": c["Entrypoint"],
        "Labels": c["Labels"],
    })
}

#[tokio::test]
async fn oci_layout_contexts_bring_their_config_like_buildkits_frontend() {
    if common::daemon_or_skip("oci_layout_contexts_bring_their_config_like_buildkits_frontend")
        .await
        .is_none()
    {
        return;
    }
    let token = unique_token("layout-config");
    let dir = tempfile::tempdir().unwrap();
    // A base image with a config of its own (and a /out its USER can
    // write to), exported as a layout only: no registry holds it.
    let base = dir.path().join("base");
    write_file(
        &base,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\n\
             RUN mkdir -m 777 /out\n\
             ENV LAYOUT_VAR={token}\n\
             WORKDIR /layoutdir\n\
             USER 1234:1234\n\
             LABEL from.layout=yes\n\
             ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
             CMD [\"echo from the layout\"]\n"
        )
        .as_bytes(),
        0o644,
    );
    let layout = dir.path().join("layout");
    run_ok(
        &base,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64",
            "-t",
            "localhost:5000/crossbuild-e2e/layout-config:v1",
            "-o",
            &format!("type=oci,dest={},tar=false", layout.display()),
            ".",
        ],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let base_config = &read_layout(&layout)["linux/amd64"].config;

    let second = dir.path().join("second");
    write_file(
        &second,
        "Dockerfile",
        b"FROM ctx\nRUN echo \"$LAYOUT_VAR|$(pwd)|$(id -u):$(id -g)\" > /out/seen\n",
        0o644,
    );
    let build = |reference: &str, name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["build", "--progress", "quiet", "--platform", "linux/amd64"];
        args.extend_from_slice(extra);
        let context_flag = format!("ctx=oci-layout://{}{reference}", layout.display());
        let output = format!("type=oci,dest={},tar=false", out.display());
        args.extend(["--build-context", &context_flag, "-o", &output, "."]);
        run_ok(&second, &args);
        read_layout(&out)
            .remove("linux/amd64")
            .expect("an amd64 image")
    };
    let by_digest = build(&format!("@{digest}"), "by-digest", &[]);
    let by_tag = build(":v1", "by-tag", &[]);
    let reference = build(
        &format!("@{digest}"),
        "reference",
        &["--reference-frontend"],
    );

    // The RUN step ran with the layout's ENV, WORKDIR and USER.
    let line = format!("{token}|/layoutdir|1234:1234\n");
    for (what, image) in [
        ("by digest", &by_digest),
        ("by tag", &by_tag),
        ("BuildKit's frontend", &reference),
    ] {
        let tree = file_tree(&image.layers);
        assert_eq!(
            tree.get("out/seen").map(|e| e.kind.clone()),
            Some(EntryKind::File(line.len() as u64, format!("{line:?}"))),
            "{what}"
        );
        assert_eq!(tree["out/seen"].uid, 1234, "{what}");
        // The result's config carries the base's on, as BuildKit's does.
        assert_eq!(
            inherited_config(&image.config),
            inherited_config(base_config),
            "{what}"
        );
    }
    let config = inherited_config(&by_digest.config);
    assert_eq!(config["WorkingDir"], "/layoutdir");
    assert_eq!(config["User"], "1234:1234");
    assert_eq!(config["Cmd"], serde_json::json!(["echo from the layout"]));
    assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(format!("LAYOUT_VAR={token}"))),
        "{config}"
    );
    // The base's history is kept under the new steps, as for any base.
    assert_eq!(
        by_digest.config["history"].as_array().unwrap().len(),
        reference.config["history"].as_array().unwrap().len()
    );
}
