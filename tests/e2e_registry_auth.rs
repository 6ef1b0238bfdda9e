//! Registry credentials from the Docker config reach the registry that asks
//! for them (the environment's password registry on 127.0.0.1:5001), and a
//! wrong or missing password is one readable error.

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine;
use common::tree::write_file;

const REGISTRY: &str = "127.0.0.1:5001";
const USER: &str = "crossbuild";
const PASSWORD: &str = "crossbuild-test-password";

/// A DOCKER_CONFIG directory whose config.json holds `user:password` for
/// the password registry.
fn docker_config(dir: &Path, password: Option<&str>) {
    let config = match password {
        Some(password) => {
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
            serde_json::json!({ "auths": { REGISTRY: { "auth": auth } } })
        }
        None => serde_json::json!({}),
    };
    write_file(dir, "config.json", config.to_string().as_bytes(), 0o600);
}

fn push(context: &Path, config_dir: &Path, tag: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["build", "--progress", "plain", "-t", tag, "--push", "."])
        .env("DOCKER_CONFIG", config_dir)
        .current_dir(context)
        .output()
        .unwrap()
}

fn registry_has(repository: &str, tag: &str) -> bool {
    Command::new("curl")
        .args([
            "-sf",
            "-u",
            &format!("{USER}:{PASSWORD}"),
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json",
            &format!("http://{REGISTRY}/v2/{repository}/manifests/{tag}"),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test]
async fn credentials_from_the_docker_config_push_and_bad_ones_are_refused_clearly() {
    if common::daemon_or_skip(
        "credentials_from_the_docker_config_push_and_bad_ones_are_refused_clearly",
    )
    .await
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    write_file(
        &context,
        "Dockerfile",
        format!(
            "FROM localhost:5000/busybox:latest\nRUN echo {} > /id\n",
            std::process::id()
        )
        .as_bytes(),
        0o644,
    );
    let tag_suffix = std::process::id();

    let good = dir.path().join("good");
    docker_config(&good, Some(PASSWORD));
    let tag = format!("{REGISTRY}/crossbuild-e2e/auth:{tag_suffix}");
    let output = push(&context, &good, &tag);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        registry_has("crossbuild-e2e/auth", &tag_suffix.to_string()),
        "nothing was pushed: {log}"
    );
    assert!(!log.contains(PASSWORD), "the password is in the output");

    for (name, password) in [("wrong", Some("not-the-password")), ("none", None)] {
        let config = dir.path().join(name);
        docker_config(&config, password);
        let tag = format!("{REGISTRY}/crossbuild-e2e/auth-{name}:{tag_suffix}");
        let output = push(&context, &config, &tag);
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{name}: the push should fail: {log}"
        );
        let last = log
            .lines()
            .rfind(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(
            last.contains("401") || last.to_lowercase().contains("unauthorized"),
            "{name}: not a 401-style message: {last}\n{log}"
        );
        assert_eq!(
            log.matches("\nerror:").count() + usize::from(log.starts_with("error:")),
            1,
            "{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
    }
}
