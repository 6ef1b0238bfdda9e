//! `crossbuild build` end to end against the real daemon: Dockerfiles built
//! for several platforms (arm64 through QEMU), exported every way.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::tree::write_file;

const DOCKERFILE: &str = "\
FROM localhost:5000/busybox:latest
ARG TARGETPLATFORM
RUN uname -m > /arch && echo \"$TARGETPLATFORM\" > /target
COPY hello.txt /hello.txt
CMD [\"cat\", \"/arch\"]
";

fn context_with(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "Dockerfile", dockerfile.as_bytes(), 0o644);
    write_file(dir.path(), "hello.txt", b"hello from the context\n", 0o644);
    dir
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn two_platforms_to_local_directories() {
    if common::daemon_or_skip("two_platforms_to_local_directories")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(DOCKERFILE);
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &dest,
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    for (dir, machine, platform) in [
        ("linux_amd64", "x86_64", "linux/amd64"),
        ("linux_arm64", "aarch64", "linux/arm64"),
    ] {
        let root = out.path().join(dir);
        assert_eq!(read(&root.join("arch")).trim(), machine);
        assert_eq!(read(&root.join("target")).trim(), platform);
        assert_eq!(read(&root.join("hello.txt")), "hello from the context\n");
    }
    let log = stderr(&output);
    assert!(log.contains("#0 using unix://"), "{log}");
    assert!(
        log.contains("RUN uname -m"),
        "plain progress names the step: {log}"
    );
}

#[tokio::test]
async fn two_platforms_pushed_as_one_index() {
    if common::daemon_or_skip("two_platforms_pushed_as_one_index")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(DOCKERFILE);
    let metadata = context.path().join("metadata.json");
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            "localhost:5000/crossbuild-e2e/push:1",
            "--push",
            "--metadata-file",
            metadata.to_str().unwrap(),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let index = common::registry_manifest("crossbuild-e2e/push", "1");
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .filter_map(|m| {
            let p = &m["platform"];
            let arch = p["architecture"].as_str()?;
            (arch != "unknown").then(|| format!("{}/{}", p["os"].as_str().unwrap_or(""), arch))
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    let metadata: serde_json::Value = serde_json::from_str(&read(&metadata)).unwrap();
    let digest = metadata["containerimage.digest"]
        .as_str()
        .expect("digest in metadata");
    assert!(digest.starts_with("sha256:"), "{metadata}");
    assert!(
        metadata["buildx.build.ref"].as_str().is_some(),
        "{metadata}"
    );
}

#[tokio::test]
async fn oci_archive_holds_both_platforms() {
    if common::daemon_or_skip("oci_archive_holds_both_platforms")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(DOCKERFILE);
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("image.tar");
    let dest = format!("type=oci,dest={}", tar.display());
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            &dest,
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let unpacked = out.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let status = std::process::Command::new("tar")
        .args([
            "-xf",
            tar.to_str().unwrap(),
            "-C",
            unpacked.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let index: serde_json::Value =
        serde_json::from_str(&read(&unpacked.join("index.json"))).unwrap();
    // index.json points at the image index, which lists the platforms.
    let inner = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .replace(':', "/");
    let image_index: serde_json::Value =
        serde_json::from_str(&read(&unpacked.join("blobs").join(inner))).unwrap();
    let archs: Vec<&str> = image_index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .filter(|a| *a != "unknown")
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
}

#[tokio::test]
async fn dockerfile_errors_name_the_line() {
    if common::daemon_or_skip("dockerfile_errors_name_the_line")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with("FROM localhost:5000/busybox:latest\nRUN true\nFOO bar\n");
    let output = common::crossbuild(context.path(), &["build", "--progress", "quiet", "."]);
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(log.contains("Dockerfile:3"), "{log}");
    assert!(log.contains("unknown instruction"), "{log}");
    assert_eq!(log.matches("error:").count(), 1, "{log}");
}

#[tokio::test]
async fn failing_step_shows_its_logs() {
    if common::daemon_or_skip("failing_step_shows_its_logs")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(
        "FROM localhost:5000/busybox:latest\nRUN echo about to fail-$RANDOM && exit 3\n",
    );
    let output = common::crossbuild(context.path(), &["build", "--progress", "quiet", "."]);
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(log.contains("about to fail"), "{log}");
    assert!(log.contains("exit code: 3"), "{log}");
}

#[tokio::test]
async fn sigint_during_a_run_step_stops_the_build_on_the_daemon() {
    if common::daemon_or_skip("sigint_during_a_run_step_stops_the_build_on_the_daemon")
        .await
        .is_none()
    {
        return;
    }
    // A unique sleep length makes the step's process easy to find on the host.
    let marker = 4000 + (std::process::id() % 1000);
    let context = context_with(&format!(
        "FROM localhost:5000/busybox:latest\nRUN echo started && sleep {marker}\n"
    ));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["build", "--progress", "plain", "--no-cache", "."])
        .current_dir(context.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sleeping = format!("sleep {marker}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !common::process_running(&sleeping) {
        assert!(Instant::now() < deadline, "the RUN step never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id() as i32;
    let interrupted = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = child.wait().unwrap();
    let took = interrupted.elapsed();
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(!status.success());
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    assert!(
        log.contains("interrupted: the build was cancelled"),
        "{log}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::process_running(&sleeping) {
        assert!(Instant::now() < deadline, "the daemon still runs the step");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn named_contexts_feed_from_and_copy_from() {
    if common::daemon_or_skip("named_contexts_feed_from_and_copy_from")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(
        "FROM base\nCOPY --from=extra note.txt /note.txt\nRUN cat /note.txt > /seen\n",
    );
    let extra = tempfile::tempdir().unwrap();
    write_file(extra.path(), "note.txt", b"from a named context\n", 0o644);
    let out = tempfile::tempdir().unwrap();
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--build-context",
            "base=docker-image://localhost:5000/busybox:latest",
            "--build-context",
            &format!("extra={}", extra.path().display()),
            "-o",
            &format!("type=local,dest={}", out.path().display()),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read(&out.path().join("seen")), "from a named context\n");
    // The base really was busybox: its shell ran the RUN step.
    assert!(out.path().join("bin/busybox").exists());
}

#[tokio::test]
async fn image_contexts_bring_their_config() {
    if common::daemon_or_skip("image_contexts_bring_their_config")
        .await
        .is_none()
    {
        return;
    }
    // A base image with an ENV and a WORKDIR of its own, pushed first.
    let base = context_with(
        "FROM localhost:5000/busybox:latest\nENV CTX_VAR=from-the-context\nWORKDIR /ctxdir\n",
    );
    let reference = "localhost:5000/crossbuild-e2e/image-context-base:1";
    let pushed = common::crossbuild(
        base.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "-t",
            reference,
            "--push",
            ".",
        ],
    );
    assert!(pushed.status.success(), "{}", stderr(&pushed));

    let context = context_with("FROM base\nRUN echo \"$CTX_VAR $(pwd)\" > /seen\n");
    let out = tempfile::tempdir().unwrap();
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--build-context",
            &format!("base=docker-image://{reference}"),
            "-o",
            &format!("type=local,dest={}", out.path().display()),
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read(&out.path().join("seen")), "from-the-context /ctxdir\n");
}

#[tokio::test]
async fn provenance_attestations_are_pushed_per_platform() {
    if common::daemon_or_skip("provenance_attestations_are_pushed_per_platform")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(DOCKERFILE);
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "--provenance",
            "max",
            "-t",
            "localhost:5000/crossbuild-e2e/provenance:1",
            "--push",
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let index = common::registry_manifest("crossbuild-e2e/provenance", "1");
    let manifests = index["manifests"].as_array().expect("an index");
    let images: Vec<&serde_json::Value> = manifests
        .iter()
        .filter(|m| m["platform"]["architecture"] != "unknown")
        .collect();
    let attestations: Vec<&serde_json::Value> = manifests
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .collect();
    assert_eq!(images.len(), 2, "{index}");
    assert_eq!(
        attestations.len(),
        2,
        "one attestation per platform: {index}"
    );
    for attestation in attestations {
        let subject = attestation["annotations"]["vnd.docker.reference.digest"].clone();
        assert!(
            images.iter().any(|image| image["digest"] == subject),
            "attestation for an unknown image: {index}"
        );
    }
}

#[tokio::test]
async fn sbom_attestations_come_from_the_chosen_generator() {
    if common::daemon_or_skip("sbom_attestations_come_from_the_chosen_generator")
        .await
        .is_none()
    {
        return;
    }
    // BuildKit's default generator cannot be pulled offline; a minimal one
    // following the SBOM generator protocol is built and pushed first.
    let scanner_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sbom_scanner");
    let scanner = "localhost:5000/crossbuild-e2e/sbom-scanner:1";
    let pushed = common::crossbuild(
        &scanner_dir,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            scanner,
            "--push",
            ".",
        ],
    );
    assert!(pushed.status.success(), "{}", stderr(&pushed));

    let context = context_with("FROM localhost:5000/busybox:latest\nRUN echo hi > /sbom-marker\n");
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "--sbom",
            &format!("generator={scanner}"),
            "-t",
            "localhost:5000/crossbuild-e2e/sbom:1",
            "--push",
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let index = common::registry_manifest("crossbuild-e2e/sbom", "1");
    let attestations: Vec<&serde_json::Value> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .collect();
    assert_eq!(attestations.len(), 2, "one per platform: {index}");
    for attestation in attestations {
        let digest = attestation["digest"].as_str().expect("digest");
        let manifest = common::registry_manifest("crossbuild-e2e/sbom", digest);
        let sbom = manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .find(|l| l["annotations"]["in-toto.io/predicate-type"] == "https://spdx.dev/Document")
            .unwrap_or_else(|| panic!("no SPDX statement in {manifest}"));
        let blob = std::process::Command::new("curl")
            .args([
                "-sf",
                &format!(
                    "http://127.0.0.1:5000/v2/crossbuild-e2e/sbom/blobs/{}",
                    sbom["digest"].as_str().expect("digest")
                ),
            ])
            .output()
            .expect("run curl");
        let statement: serde_json::Value =
            serde_json::from_slice(&blob.stdout).expect("an in-toto statement");
        assert_eq!(statement["predicateType"], "https://spdx.dev/Document");
        // The scan saw the built root file system, and BuildKit named the
        // image it describes as the subject.
        assert!(
            statement["predicate"]["files"]
                .as_array()
                .expect("files")
                .iter()
                .any(|f| f["fileName"] == "./sbom-marker"),
            "{statement}"
        );
        assert!(
            statement["subject"]
                .as_array()
                .is_some_and(|s| !s.is_empty()),
            "{statement}"
        );
    }
}
