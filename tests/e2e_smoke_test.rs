//! `crossbuild test` end to end against the real daemon, with busybox
//! images only (the examples with real cross compilers are in
//! `e2e_examples.rs`): a command run per platform under QEMU, the
//! wrong-architecture binary caught by its ELF header, failing, hanging and
//! missing commands, and `--from-build` exporting only what passed.

mod common;

use std::path::Path;

use common::tree::write_file;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn registry_has(repository: &str, tag: &str) -> bool {
    std::process::Command::new("curl")
        .args([
            "-sf",
            "-o",
            "/dev/null",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json",
            &format!("http://127.0.0.1:5000/v2/{repository}/manifests/{tag}"),
        ])
        .status()
        .expect("run curl")
        .success()
}

/// A context whose "compile" stage is NOT cross-compiling: it copies the
/// build platform's busybox, so every target image gets an amd64 `uname`
/// (on an amd64 daemon) — the classic multi-arch bug.
fn wrong_binary_context(dir: &Path) {
    write_file(
        dir,
        "Dockerfile",
        b"FROM --platform=$BUILDPLATFORM localhost:5000/busybox:latest AS build\n\
          RUN mkdir -p /out && cp /bin/busybox /out/uname\n\
          FROM localhost:5000/busybox:latest\n\
          COPY --from=build /out/uname /usr/local/bin/uname\n\
          ENV PATH=/usr/local/bin:/bin\n",
        0o644,
    );
}

#[tokio::test]
async fn a_command_runs_in_every_platform_of_the_image_index() {
    if common::daemon_or_skip("a_command_runs_in_every_platform_of_the_image_index")
        .await
        .is_none()
    {
        return;
    }
    let started = std::time::Instant::now();
    // No --platform: the platforms come from the image's index.
    let output = common::crossbuild(
        Path::new("."),
        &[
            "test",
            "--format",
            "json",
            "--check-elf",
            "/bin",
            "localhost:5000/busybox",
            "--",
            "uname",
            "-m",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true);
    let expected = [
        ("linux/amd64", "x86_64", 62),
        ("linux/arm64", "aarch64", 183),
        ("linux/arm/v7", "armv7l", 40),
        ("linux/riscv64", "riscv64", 243),
        ("linux/ppc64le", "ppc64le", 21),
        ("linux/s390x", "s390x", 22),
    ];
    let platforms = report["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), expected.len(), "{report}");
    for (platform, (name, machine, e_machine)) in platforms.iter().zip(expected) {
        assert_eq!(platform["platform"], name);
        assert_eq!(platform["exit_code"], 0);
        assert_eq!(platform["stdout"], format!("{machine}\n"), "{platform}");
        // The command (/bin/uname -> busybox) and /bin/busybox itself.
        let elf = platform["elf"].as_array().unwrap();
        assert_eq!(elf.len(), 2, "{platform}");
        for check in elf {
            assert_eq!(check["found"]["machine"], e_machine, "{check}");
            assert_eq!(check["ok"], true);
        }
        assert_eq!(elf[0]["path"], "/bin/uname");
        assert_eq!(elf[1]["path"], "/bin/busybox");
    }
    eprintln!("six platforms tested in {:?}", started.elapsed());
}

#[tokio::test]
async fn an_amd64_binary_in_the_arm64_image_fails_naming_the_file() {
    if common::daemon_or_skip("an_amd64_binary_in_the_arm64_image_fails_naming_the_file")
        .await
        .is_none()
    {
        return;
    }
    if crossbuild::platform::Platform::host().architecture != "amd64" {
        eprintln!("SKIPPED: the wrong-binary image is built for an amd64 build platform");
        return;
    }
    let context = tempfile::tempdir().unwrap();
    wrong_binary_context(context.path());
    let tag = common::unique_tag();
    let image = format!("localhost:5000/crossbuild-e2e/wrong-binary:{tag}");
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            &image,
            "--push",
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    let started = std::time::Instant::now();
    let output = common::crossbuild(context.path(), &["test", &image, "--", "uname", "-m"]);
    eprintln!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    let row = |platform: &str| {
        out.lines()
            .find(|l| l.starts_with(platform))
            .unwrap_or_else(|| panic!("no row for {platform} in\n{out}"))
            .to_string()
    };
    assert!(row("linux/amd64").contains(" pass "), "{out}");
    // The amd64 binary *runs* in the arm64 image on an amd64 daemon (no
    // emulation needed) and says so: only the ELF check fails the platform.
    let arm64 = row("linux/arm64");
    assert!(arm64.contains(" FAIL "), "{out}");
    assert!(arm64.contains("1 of 1 wrong"), "{out}");
    assert!(arm64.ends_with("  x86_64"), "{out}");
    assert!(
        out.contains(
            "linux/arm64: /usr/local/bin/uname (command) is x86-64 (64-bit, little-endian), \
             but linux/arm64 needs AArch64 (64-bit, little-endian)"
        ),
        "{out}"
    );
    assert!(out.contains("1 of 2 platforms passed"), "{out}");
    assert_eq!(
        stderr(&output).trim_end(),
        "error: 1 of 2 platforms failed: linux/arm64"
    );
    eprintln!("tested in {:?}", started.elapsed());
}

#[tokio::test]
async fn from_build_exports_only_when_every_platform_passes() {
    if common::daemon_or_skip("from_build_exports_only_when_every_platform_passes")
        .await
        .is_none()
    {
        return;
    }
    if crossbuild::platform::Platform::host().architecture != "amd64" {
        eprintln!("SKIPPED: the wrong-binary image is built for an amd64 build platform");
        return;
    }
    let tag = common::unique_tag();
    let wrong = tempfile::tempdir().unwrap();
    wrong_binary_context(wrong.path());
    let image = format!("localhost:5000/crossbuild-e2e/test-wrong:{tag}");
    let output = common::crossbuild(
        wrong.path(),
        &[
            "test",
            "--from-build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/s390x",
            "-t",
            &image,
            "--push",
            "--format",
            "json",
            ".",
            "--",
            "uname",
            "-m",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], false);
    let s390x = &report["platforms"][1];
    assert_eq!(s390x["platform"], "linux/s390x");
    assert_eq!(s390x["elf"][0]["found"]["machine"], 62);
    assert_eq!(s390x["elf"][0]["expected"]["machine"], 22);
    assert_eq!(s390x["elf"][0]["expected"]["endian"], "big");
    assert!(
        !registry_has("crossbuild-e2e/test-wrong", &tag),
        "a failing image was pushed"
    );

    // The same flow with a Dockerfile that cross-builds nothing wrong:
    // tested and pushed.
    let good = tempfile::tempdir().unwrap();
    write_file(
        good.path(),
        "Dockerfile",
        b"FROM localhost:5000/busybox:latest\nCMD [\"uname\", \"-m\"]\n",
        0o644,
    );
    let image = format!("localhost:5000/crossbuild-e2e/test-good:{tag}");
    let output = common::crossbuild(
        good.path(),
        &[
            "test",
            "--from-build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64,linux/s390x",
            "-t",
            &image,
            "--push",
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("x86_64") && out.contains("s390x"), "{out}");
    assert!(registry_has("crossbuild-e2e/test-good", &tag));
    let index = common::registry_manifest("crossbuild-e2e/test-good", &tag);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
}

#[tokio::test]
async fn failing_hanging_and_missing_commands_fail_their_platform() {
    if common::daemon_or_skip("failing_hanging_and_missing_commands_fail_their_platform")
        .await
        .is_none()
    {
        return;
    }
    let started = std::time::Instant::now();
    let output = common::crossbuild(
        Path::new("."),
        &[
            "test",
            "--platform",
            "linux/arm64,linux/s390x",
            "--timeout",
            "2",
            "--format",
            "json",
            "localhost:5000/busybox",
            "--",
            "sh",
            "-c",
            "echo starting; echo trouble >&2; test $(uname -m) = s390x && exit 3; sleep 60",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the hanging command was not killed in time: {:?}",
        started.elapsed()
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let arm64 = &report["platforms"][0];
    assert_eq!(arm64["timed_out"], true, "{arm64}");
    assert_eq!(
        arm64["problems"][0],
        "the command ran longer than 2 s and was killed"
    );
    assert_eq!(arm64["stdout"], "starting\n");
    let s390x = &report["platforms"][1];
    assert_eq!(s390x["exit_code"], 3);
    assert_eq!(s390x["stderr"], "trouble\n");
    assert_eq!(s390x["problems"][0], "the command exited with code 3");

    let output = common::crossbuild(
        Path::new("."),
        &[
            "test",
            "--platform",
            "linux/riscv64",
            "--check-elf",
            "/etc/passwd",
            "localhost:5000/busybox",
            "--",
            "/usr/bin/nothing",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    for expected in [
        "linux/riscv64: the command /usr/bin/nothing is not in the image",
        "linux/riscv64: /etc/passwd (--check-elf /etc/passwd): not an ELF file (starts with \"root\")",
        "linux/riscv64: the command could not start: ",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
}

#[tokio::test]
async fn bad_input_is_one_clear_error() {
    if common::daemon_or_skip("bad_input_is_one_clear_error")
        .await
        .is_none()
    {
        return;
    }
    let cases: [(&[&str], &str); 6] = [
        (
            &["test", "--", "true"],
            "error: give the image to test (crossbuild test IMAGE -- CMD), or --from-build to test a build",
        ),
        (
            &["test", "localhost:5000/busybox", "--build-arg", "A=1", "--push", "--", "true"],
            "error: --push, --build-arg only apply with --from-build",
        ),
        (
            &["test", "--platform", "linux/nope", "localhost:5000/busybox", "--", "true"],
            "error: --platform: ",
        ),
        (
            &["test", "--timeout", "0", "localhost:5000/busybox", "--", "true"],
            "error: --timeout must be at least 1 second",
        ),
        (
            &["test", "Not An Image", "--", "true"],
            "error: invalid image reference \"Not An Image\"",
        ),
        (
            &["test", "--platform", "linux/arm64", "localhost:5000/crossbuild-e2e/never-pushed:1"],
            "linux/arm64: cannot get localhost:5000/crossbuild-e2e/never-pushed:1 for linux/arm64: ",
        ),
    ];
    for (args, expected) in cases {
        let output = common::crossbuild(Path::new("."), args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(all.contains(expected), "{args:?}: {all}");
        assert!(!all.contains("panicked"), "{all}");
    }
    // Unknown platform lists need --platform.
    let output = common::crossbuild(
        Path::new("."),
        &["test", "registry.invalid/app:1", "--", "true"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("give them with --platform"),
        "{}",
        stderr(&output)
    );
}
