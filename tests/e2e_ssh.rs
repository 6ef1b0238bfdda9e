//! SSH agent forwarding: a RUN step with `--mount=type=ssh` lists the keys
//! of the agent crossbuild forwards (`--ssh default`), and the key itself
//! never leaves the agent.

mod common;

use std::path::Path;
use std::process::Command;

use common::tree::write_file;

/// Copies `binary` and the shared libraries it loads into `root`, at the
/// same paths, so it runs inside an amd64 image that lacks it.
fn copy_with_libraries(binary: &str, root: &Path) {
    let ldd = Command::new("ldd").arg(binary).output().expect("run ldd");
    let text = String::from_utf8_lossy(&ldd.stdout);
    let mut files = vec![binary.to_string()];
    for line in text.lines() {
        for word in line.split_whitespace() {
            if word.starts_with('/') {
                files.push(word.to_string());
            }
        }
    }
    for file in files {
        let target = root.join(file.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
}

#[tokio::test]
async fn a_run_step_sees_the_forwarded_agent() {
    if common::daemon_or_skip("a_run_step_sees_the_forwarded_agent")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    assert!(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "crossbuild-e2e-key",
            "-f"
        ])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let socket = dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .spawn()
        .expect("start ssh-agent");
    for _ in 0..50 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &socket)
        .status()
        .unwrap()
        .success());

    let context = dir.path().join("context");
    copy_with_libraries("/usr/bin/ssh-add", &context.join("root"));
    write_file(
        &context,
        "Dockerfile",
        b"FROM --platform=linux/amd64 localhost:5000/busybox:latest\n\
          COPY root/ /\n\
          RUN --mount=type=ssh /usr/bin/ssh-add -l > /keys\n",
        0o644,
    );
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["build", "--progress", "plain", "--ssh", "default", "-o"])
        .arg(format!("type=local,dest={}", out.display()))
        .arg(".")
        .current_dir(&context)
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let keys = std::fs::read_to_string(out.join("keys")).unwrap();
    assert!(keys.contains("crossbuild-e2e-key"), "{keys}");
    assert!(keys.contains("ED25519"), "{keys}");
    let private = std::fs::read_to_string(&key).unwrap();
    let body: String = private.lines().nth(1).unwrap_or_default().to_string();
    assert!(!String::from_utf8_lossy(&output.stderr).contains(&body));
}
