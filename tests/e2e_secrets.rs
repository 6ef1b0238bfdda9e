//! Secrets reach RUN steps and nothing else: not a layer, not the image
//! config or history, not the LLB, not the progress output.

mod common;

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
