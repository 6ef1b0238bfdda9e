//! Secrets reach RUN steps and nothing else: not a layer, not the image
//! config or history, not the LLB, not the progress output, not a log
//! line; registry passwords reach the daemon's session and nothing else.

mod common;

use common::fault_proxy::{FaultProxy, Upstream};
use common::tree::write_file;

#[tokio::test]
async fn a_secret_is_usable_in_run_and_absent_from_everything_exported() {
    if common::daemon_or_skip("a_secret_is_usable_in_run_and_absent_from_everything_exported")
        .await
        .is_none()
    {
        return;
    }
    let secret = format!("crossbuild-secret-{}-value", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        b"FROM localhost:5000/busybox:latest\n\
          ARG EXPECTED_SHA\n\
          RUN --mount=type=secret,id=token,required=true \\\n\
              test \"$(sha256sum < /run/secrets/token | cut -d' ' -f1)\" = \"$EXPECTED_SHA\" \\\n\
              && echo secret-was-readable > /ok\n\
          RUN --mount=type=secret,id=fromenv,env=TOKEN_ENV test -n \"$TOKEN_ENV\" && echo env-ok >> /ok\n",
        0o644,
    );
    let secret_file = dir.path().join("token.txt");
    std::fs::write(&secret_file, &secret).unwrap();
    let tar = dir.path().join("image.tar");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args([
            "build",
            "--progress",
            "rawjson",
            "--no-cache",
            "--secret",
            &format!("id=token,src={}", secret_file.display()),
            "--secret",
            "id=fromenv,env=CROSSBUILD_TEST_SECRET",
            "--build-arg",
            &format!("EXPECTED_SHA={}", sha256_hex(secret.as_bytes())),
            "-o",
            &format!("type=oci,dest={}", tar.display()),
            ".",
        ])
        .env("CROSSBUILD_TEST_SECRET", &secret)
        .current_dir(&context)
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{progress}");
    // rawjson: every progress line is one JSON status message.
    let statuses: Vec<serde_json::Value> = progress
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        statuses.iter().any(|s| s["vertexes"].is_array()),
        "{progress}"
    );
    // The build saw the secret (the RUN compared it), wrote /ok, and the
    // secret appears in no exported byte: layers are gzip, so unpack them.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    assert!(std::process::Command::new("tar")
        .args([
            "-xf",
            tar.to_str().unwrap(),
            "-C",
            unpacked.to_str().unwrap()
        ])
        .status()
        .unwrap()
        .success());
    let mut found_ok = false;
    for blob in std::fs::read_dir(unpacked.join("blobs/sha256")).unwrap() {
        let path = blob.unwrap().path();
        let raw = std::fs::read(&path).unwrap();
        let plain = gunzip(&raw).unwrap_or(raw);
        let text = String::from_utf8_lossy(&plain);
        if text.contains("secret-was-readable") {
            found_ok = true;
        }
        assert!(
            !text.contains(&secret),
            "the secret is in blob {}",
            path.display()
        );
    }
    assert!(found_ok, "the RUN step did not see the secret");
    assert!(
        !progress.contains(&secret),
        "the secret is in the progress output"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return None;
    }
    let mut child = std::process::Command::new("gzip")
        .args(["-dc"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let output = child.wait_with_output().ok()?;
    let _ = writer.join();
    Some(output.stdout)
}

const REGISTRY: &str = "127.0.0.1:5001";
const REGISTRY_USER: &str = "crossbuild";
const REGISTRY_PASSWORD: &str = "crossbuild-test-password";

/// Every way a value could be written down by accident: as is, base64,
/// hex, and Rust's `{:?}` of its bytes (`[99, 114, ...]`).
fn written_forms(value: &str) -> Vec<String> {
    use base64::Engine;
    let debug_bytes = format!("{:?}", value.as_bytes());
    vec![
        value.to_string(),
        base64::engine::general_purpose::STANDARD.encode(value),
        hex::encode(value),
        debug_bytes[1..debug_bytes.len() - 1].to_string(),
    ]
}

/// The forms of the secret and of the registry password (alone, and as the
/// `user:password` pair of the Docker config's `auth` field).
fn sensitive_forms(secret: &str) -> Vec<String> {
    let mut forms = written_forms(secret);
    forms.extend(written_forms(REGISTRY_PASSWORD));
    forms.extend(written_forms(&format!(
        "{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    )));
    forms
}

fn assert_no_leak(what: &str, bytes: &[u8], forms: &[String]) {
    let text = String::from_utf8_lossy(bytes);
    for form in forms {
        assert!(!text.contains(form.as_str()), "{what} holds {form:?}");
    }
}

/// A DOCKER_CONFIG directory with the password registry's credentials.
fn docker_config(dir: &std::path::Path) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"));
    let config = serde_json::json!({ "auths": { REGISTRY: { "auth": auth } } });
    write_file(dir, "config.json", config.to_string().as_bytes(), 0o600);
}

/// Runs crossbuild with stdout and stderr on a pseudo-terminal (what the
/// tty progress display needs) and returns everything written to it.
fn run_on_a_pty(cmd: &mut std::process::Command) -> (std::process::ExitStatus, Vec<u8>) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both are fresh descriptors owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    // The command keeps its stdio until replaced: drop the parent's last
    // copies of the slave, so that reading the master ends (EIO) when the
    // child exits.
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut reader = std::fs::File::from(master);
    let collect = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        out
    });
    let status = child.wait().unwrap();
    (status, collect.join().unwrap())
}

/// Unpacks an OCI tar and returns each blob, gunzipped where it is gzip.
fn oci_blobs(tar: &std::path::Path, into: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    std::fs::create_dir_all(into).unwrap();
    assert!(std::process::Command::new("tar")
        .args(["-xf", tar.to_str().unwrap(), "-C", into.to_str().unwrap()])
        .status()
        .unwrap()
        .success());
    std::fs::read_dir(into.join("blobs/sha256"))
        .unwrap()
        .map(|blob| {
            let path = blob.unwrap().path();
            let raw = std::fs::read(&path).unwrap();
            let plain = gunzip(&raw).unwrap_or(raw);
            (path, plain)
        })
        .collect()
}

/// A `--secret` and the password of a registry the build pulls from and
/// pushes to: in each progress mode (plain, rawjson, quiet, tty on a pty),
/// with every log line crossbuild and its libraries write (RUST_LOG=trace),
/// neither appears — as is, base64, hex or as a byte list — in the
/// output, in any exported blob (layers, config and its history,
/// manifests), nor in any byte crossbuild sends on the gRPC connection
/// (every LLB definition, frontend attribute and build arg goes there). The
/// session connection, where the daemon asks for both, must carry them:
/// the scan sees what it looks for.
#[tokio::test]
async fn secret_and_registry_password_appear_in_no_output_log_blob_or_llb() {
    let test = "secret_and_registry_password_appear_in_no_output_log_blob_or_llb";
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    let secret = format!("crossbuild-leak-check-{}-secret", std::process::id());
    let forms = sensitive_forms(&secret);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("docker-config");
    docker_config(&config);
    let secret_file = dir.path().join("token.txt");
    std::fs::write(&secret_file, &secret).unwrap();
    let run_id = std::process::id();

    // A base image that only the password opens.
    let base_context = dir.path().join("base");
    write_file(
        &base_context,
        "Dockerfile",
        format!("FROM localhost:5000/busybox:latest\nRUN echo {run_id} > /base\n").as_bytes(),
        0o644,
    );
    let base = format!("{REGISTRY}/crossbuild-e2e/leak-base:{run_id}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args([
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64",
            "-t",
            &base,
            "--push",
            ".",
        ])
        .env("DOCKER_CONFIG", &config)
        .current_dir(&base_context)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        format!(
            "FROM {base}\n\
             ARG EXPECTED_SHA\n\
             RUN --mount=type=secret,id=token,required=true \\\n\
                 test \"$(sha256sum < /run/secrets/token | cut -d' ' -f1)\" = \"$EXPECTED_SHA\" \\\n\
                 && echo secret-was-readable > /ok\n"
        )
        .as_bytes(),
        0o644,
    );
    let expected_sha = format!("EXPECTED_SHA={}", sha256_hex(secret.as_bytes()));
    let secret_flag = format!("id=token,src={}", secret_file.display());
    let build = |mode: &str, addr: Option<&str>| {
        let tag = format!("{REGISTRY}/crossbuild-e2e/leak:{run_id}-{mode}");
        let tar = dir.path().join(format!("{mode}.tar"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crossbuild"));
        if let Some(addr) = addr {
            cmd.args(["--addr", addr]);
        }
        cmd.args([
            "build",
            "--progress",
            mode,
            "--no-cache",
            "--platform",
            "linux/amd64",
        ])
        .args(["--secret", &secret_flag, "--build-arg", &expected_sha])
        .args([
            "-t",
            &tag,
            "--push",
            "-o",
            &format!("type=oci,dest={}", tar.display()),
            ".",
        ])
        .env("DOCKER_CONFIG", &config)
        .env("RUST_LOG", "trace")
        .current_dir(&context);
        let (status, out) = if mode == "tty" {
            run_on_a_pty(&mut cmd)
        } else {
            let output = cmd.output().unwrap();
            let mut out = output.stdout;
            out.extend_from_slice(&output.stderr);
            (output.status, out)
        };
        forget_image(&tag);
        (status, out, tar)
    };

    for mode in ["plain", "rawjson", "quiet", "tty"] {
        let (status, out, tar) = build(mode, None);
        let text = String::from_utf8_lossy(&out);
        assert!(status.success(), "{mode}: {text}");
        // RUST_LOG=trace reached crossbuild's own code and its libraries.
        assert!(text.contains("TRACE"), "{mode}: no trace lines: {text}");
        assert_no_leak(&format!("the {mode} output"), &out, &forms);
        let mut found_ok = false;
        for (path, blob) in oci_blobs(&tar, &dir.path().join(format!("{mode}-blobs"))) {
            found_ok |= String::from_utf8_lossy(&blob).contains("secret-was-readable");
            assert_no_leak(&format!("{mode}: blob {}", path.display()), &blob, &forms);
        }
        assert!(found_ok, "{mode}: the RUN step did not see the secret");
        eprintln!("{mode}: {} bytes of output, nothing leaked", out.len());
    }

    // What crossbuild sends to the daemon, byte for byte.
    let proxy = FaultProxy::start(Upstream::Unix("/var/run/docker.sock".into()), false, None);
    let (status, out, _) = build("plain", Some(&proxy.address));
    assert!(status.success(), "{}", String::from_utf8_lossy(&out));
    let sent = proxy.sent_by_client();
    let grpc: Vec<&Vec<u8>> = sent
        .iter()
        .filter(|c| c.starts_with(b"POST /grpc "))
        .collect();
    let session: Vec<&Vec<u8>> = sent
        .iter()
        .filter(|c| c.starts_with(b"POST /session "))
        .collect();
    assert!(
        !grpc.is_empty() && !session.is_empty(),
        "{} connections",
        sent.len()
    );
    for (i, bytes) in grpc.iter().enumerate() {
        assert_no_leak(&format!("gRPC connection {i}"), bytes, &forms);
    }
    let session_bytes: Vec<u8> = session.iter().flat_map(|c| c.iter().copied()).collect();
    let session_text = String::from_utf8_lossy(&session_bytes);
    assert!(
        session_text.contains(&secret),
        "the session never carried the secret"
    );
    assert!(
        session_text.contains(REGISTRY_PASSWORD),
        "the session never carried the password"
    );
    forget_image(&base);
}

fn forget_image(tag: &str) {
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", tag])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
