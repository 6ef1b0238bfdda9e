//! Registry faults during a push and a pull, against the real daemon and
//! real registries: a registry that is down, one killed in the middle of a
//! push (a private `docker-registry` of the test's own, never the shared
//! ones), one answering 403 or 500 (a fault-injecting proxy in front of a
//! real registry), and a `FROM` of an image that does not exist. Each
//! ends in one `error:` line that names the registry (or the image and
//! platform) and the status or cause, in bounded time.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::registry::{
    forget_image, free_port, upload_bytes, FaultBody, FaultingRegistry, InjectedAnswer,
    PrivateRegistry,
};
use common::tree::write_file;
use hyper::{Method, StatusCode};

/// What one crossbuild run ended with.
struct Run {
    success: bool,
    took: Duration,
    stderr: String,
}

fn crossbuild(dir: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        success: output.status.success(),
        took: start.elapsed(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The one `error:` line of a failed run (asserted to be the only one).
fn the_error_line(run: &Run) -> String {
    assert!(!run.success, "the build should fail: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    errors[0].to_string()
}

/// A context whose image differs per test and run (a fresh layer to push).
fn context(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let context = dir.join(name);
    write_file(
        &context,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\nRUN echo {name}-{} > /id{extra}\n",
            std::process::id()
        )
        .as_bytes(),
        0o644,
    );
    context
}

/// Pushes the context's image as `tag` (and forgets the tag in the
/// engine's image store afterwards).
fn push(context: &Path, tag: &str) -> Run {
    let run = crossbuild(
        context,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64",
            "-t",
            tag,
            "--push",
            ".",
        ],
    );
    forget_image(tag);
    run
}

async fn daemon_or_skip(test: &str) -> bool {
    common::daemon_or_skip(test).await.is_some()
}

#[tokio::test]
async fn push_to_a_registry_that_is_down() {
    if !daemon_or_skip("push_to_a_registry_that_is_down").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path(), "down", "");
    let host = format!("127.0.0.1:{}", free_port());
    let run = push(
        &context,
        &format!("{host}/crossbuild-e2e/down:{}", std::process::id()),
    );
    let error = the_error_line(&run);
    eprintln!("registry down ({:?}): {error}", run.took);
    assert!(
        error.starts_with(&format!(
            "error: failed to push {host}/crossbuild-e2e/down:"
        )),
        "{error}"
    );
    assert!(error.contains("connection refused"), "{error}");
    assert!(run.took < Duration::from_secs(60), "{:?}", run.took);
}

#[tokio::test]
async fn registry_killed_in_the_middle_of_a_push() {
    let test = "registry_killed_in_the_middle_of_a_push";
    if !daemon_or_skip(test).await {
        return;
    }
    let Some(mut registry) = PrivateRegistry::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // 48 MiB that do not compress: the layer upload takes long enough to
    // be caught in the middle.
    let context = context(
        dir.path(),
        "killed",
        "\nRUN head -c 50331648 /dev/urandom > /big",
    );
    let tag = format!(
        "{}/crossbuild-e2e/killed:{}",
        registry.host(),
        std::process::id()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args([
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64",
            "-t",
            &tag,
            "--push",
            ".",
        ])
        .current_dir(&context)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the registry once it has received part of a blob upload.
    let storage = registry.storage();
    let deadline = Instant::now() + Duration::from_secs(120);
    while upload_bytes(&storage) == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("crossbuild ended ({status}) before any upload reached the registry");
        }
        assert!(Instant::now() < deadline, "no upload reached the registry");
        std::thread::sleep(Duration::from_millis(5));
    }
    let received = upload_bytes(&storage);
    let killed = Instant::now();
    registry.kill();
    let status = child.wait().unwrap();
    let took = killed.elapsed();
    forget_image(&tag);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let run = Run {
        success: status.success(),
        took,
        stderr,
    };
    let error = the_error_line(&run);
    eprintln!("registry killed after {received} bytes; crossbuild stopped {took:?} later: {error}");
    assert!(
        error.starts_with(&format!("error: failed to push {tag}: ")),
        "{error}"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");

    // The daemon is fine: the same image pushes to a registry that is up.
    let Some(again) = PrivateRegistry::start(test) else {
        return;
    };
    let run = push(
        &context,
        &format!(
            "{}/crossbuild-e2e/killed:{}",
            again.host(),
            std::process::id()
        ),
    );
    assert!(run.success, "{}", run.stderr);
}

/// Pushes through a proxy in front of a private registry that answers the
/// requests `rule` picks with an injected status; returns the error line.
fn push_through_faults(
    test: &str,
    name: &str,
    rule: Box<common::registry::FaultRule>,
) -> Option<(String, String, usize)> {
    let registry = PrivateRegistry::start(test)?;
    let proxy = FaultingRegistry::start(registry.host(), rule);
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path(), name, "");
    let run = push(
        &context,
        &format!(
            "{}/crossbuild-e2e/{name}:{}",
            proxy.host(),
            std::process::id()
        ),
    );
    let error = the_error_line(&run);
    eprintln!("{name} ({:?}): {error}", run.took);
    assert!(run.took < Duration::from_secs(60), "{:?}", run.took);
    Some((error, proxy.host(), proxy.injected()))
}

fn answer(status: StatusCode, body: FaultBody) -> Option<InjectedAnswer> {
    Some(InjectedAnswer { status, body })
}

fn is_upload_start(method: &Method, path: &str) -> bool {
    method == Method::POST && path.contains("/blobs/uploads/")
}

#[tokio::test]
async fn registry_answering_403_to_the_upload() {
    let test = "registry_answering_403_to_the_upload";
    if !daemon_or_skip(test).await {
        return;
    }
    // A bare 403 (a proxy or policy in front of the registry) on every
    // blob upload.
    let rule = Box::new(|method: &Method, path: &str| {
        is_upload_start(method, path)
            .then(|| answer(StatusCode::FORBIDDEN, FaultBody::Empty))
            .flatten()
    });
    let Some((error, host, injected)) = push_through_faults(test, "forbidden", rule) else {
        return;
    };
    assert!(injected > 0, "no upload was attempted: {error}");
    assert!(
        error.starts_with(&format!(
            "error: failed to push {host}/crossbuild-e2e/forbidden:"
        )),
        "{error}"
    );
    assert!(error.ends_with(": 403 Forbidden"), "{error}");

    // The registry's own 403: its error code and message, as docker push
    // shows them.
    let rule = Box::new(|method: &Method, path: &str| {
        is_upload_start(method, path)
            .then(|| answer(StatusCode::FORBIDDEN, FaultBody::RegistryError("DENIED")))
            .flatten()
    });
    let Some((error, host, _)) = push_through_faults(test, "denied", rule) else {
        return;
    };
    assert_eq!(
        error,
        format!(
            "error: failed to push {host}/crossbuild-e2e/denied:{}: denied: injected by the crossbuild test",
            std::process::id()
        )
    );
}

#[tokio::test]
async fn registry_answering_500_to_the_manifest() {
    let test = "registry_answering_500_to_the_manifest";
    if !daemon_or_skip(test).await {
        return;
    }
    // Layers go through; the manifest, last, fails on the server.
    let rule = Box::new(|method: &Method, path: &str| {
        (method == Method::PUT && path.contains("/manifests/"))
            .then(|| answer(StatusCode::INTERNAL_SERVER_ERROR, FaultBody::Empty))
            .flatten()
    });
    let Some((error, host, injected)) = push_through_faults(test, "servererror", rule) else {
        return;
    };
    assert!(injected > 0, "no manifest was put: {error}");
    assert!(
        error.starts_with(&format!(
            "error: failed to push {host}/crossbuild-e2e/servererror:"
        )),
        "{error}"
    );
    assert!(error.contains("500 Internal Server Error"), "{error}");
}

#[tokio::test]
async fn registry_answering_500_to_a_base_image_lookup() {
    if !daemon_or_skip("registry_answering_500_to_a_base_image_lookup").await {
        return;
    }
    // In front of the shared registry, read-only: every manifest request
    // fails on the server.
    let proxy = FaultingRegistry::start(
        "127.0.0.1:5000".to_string(),
        Box::new(|_: &Method, path: &str| {
            path.contains("/manifests/")
                .then(|| answer(StatusCode::INTERNAL_SERVER_ERROR, FaultBody::Empty))
                .flatten()
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    write_file(
        &context,
        "Dockerfile",
        format!("FROM {}/busybox:latest\nRUN true\n", proxy.host()).as_bytes(),
        0o644,
    );
    let run = crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/arm64",
            ".",
        ],
    );
    let error = the_error_line(&run);
    eprintln!("500 on a base image ({:?}): {error}", run.took);
    assert!(proxy.injected() > 0, "{error}");
    assert!(
        error.starts_with(&format!(
            "error: Dockerfile:1: {}/busybox:latest for linux/arm64: ",
            proxy.host()
        )),
        "{error}"
    );
    assert!(error.ends_with(": 500 Internal Server Error"), "{error}");
}

#[tokio::test]
async fn from_an_image_that_does_not_exist_names_the_image_and_the_platform() {
    if !daemon_or_skip("from_an_image_that_does_not_exist").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("ctx");
    let image = format!(
        "localhost:5000/crossbuild-e2e/never-pushed-{}",
        std::process::id()
    );
    write_file(
        &context,
        "Dockerfile",
        format!("FROM localhost:5000/busybox AS tools\nRUN true\n\nFROM {image}\nCOPY --from=tools /bin/sh /sh\n")
            .as_bytes(),
        0o644,
    );
    let run = crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/arm64",
            ".",
        ],
    );
    let error = the_error_line(&run);
    assert_eq!(
        error,
        format!("error: Dockerfile:4: {image}:latest for linux/arm64: not found")
    );
    assert!(
        run.stderr.contains(&format!("\n  | FROM {image}\n")),
        "the Dockerfile line is shown: {}",
        run.stderr
    );
    assert!(run.took < Duration::from_secs(30), "{:?}", run.took);

    // An image that exists, but not for the platform asked.
    write_file(
        &context,
        "Dockerfile",
        b"FROM localhost:5000/busybox\nRUN true\n",
        0o644,
    );
    let run = crossbuild(
        &context,
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/mips64le",
            ".",
        ],
    );
    let error = the_error_line(&run);
    assert_eq!(
        error,
        "error: Dockerfile:1: localhost:5000/busybox:latest for linux/mips64le: no match for platform in manifest: not found"
    );
}
