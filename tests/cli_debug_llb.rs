//! `crossbuild debug llb` prints a marshalled definition op by op.

use std::process::Command;

use crossbuild::llb::{self, Exec, State};
use prost::Message;

#[test]
fn dumps_every_op_with_its_digest() {
    let state = State::image("localhost:5000/busybox:latest")
        .unwrap()
        .run(Exec::shell("echo hi > /x"))
        .unwrap()
        .root();
    let definition = llb::marshal(&state).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("def.pb");
    std::fs::write(&file, definition.encode_to_vec()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["debug", "llb", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dump: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let text = dump.to_string();
    assert!(
        text.contains("docker-image://localhost:5000/busybox:latest"),
        "{text}"
    );
    assert!(text.contains("echo hi > /x"), "{text}");
    let digests = text.matches("sha256:").count();
    assert!(digests >= 3, "expected a digest per op: {text}");
}

#[test]
fn garbage_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage");
    std::fs::write(&file, b"\xff\xff\xff not protobuf").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["debug", "llb", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a marshalled LLB definition"),
        "{stderr}"
    );
}

/// `crossbuild debug llb def.pb | head -c 1`: a reader that goes away
/// ends crossbuild quietly — no panic, exit 0 — although crossbuild keeps
/// SIGPIPE ignored (so that a socket the daemon closes is an error it can
/// report, not a silent death).
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let state = State::image("localhost:5000/busybox:latest")
        .unwrap()
        .run(Exec::shell("echo hi > /x"))
        .unwrap()
        .root();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("def.pb");
    std::fs::write(&file, llb::marshal(&state).unwrap().encode_to_vec()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossbuild"))
        .args(["debug", "llb", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before crossbuild writes anything.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
