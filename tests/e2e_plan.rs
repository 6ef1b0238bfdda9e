//! The cross story end to end against the real daemon: the toolchain args a
//! `$BUILDPLATFORM` stage sees, and `crossbuild plan` / the plan summary of
//! `crossbuild build` (which steps run native, cross, emulated).

mod common;

use common::tree::write_file;
use crossbuild::platform::Platform;

fn context_with(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "Dockerfile", dockerfile.as_bytes(), 0o644);
    dir
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn toolchain_args_reach_a_cross_stage() {
    if common::daemon_or_skip("toolchain_args_reach_a_cross_stage")
        .await
        .is_none()
    {
        return;
    }
    let context = context_with(
        "\
FROM --platform=$BUILDPLATFORM localhost:5000/busybox:latest AS build
ARG TARGET_GNU_TRIPLE TARGET_RUST_TRIPLE TARGET_GOARCH TARGET_GOARM TARGET_DEBIAN_ARCH BUILD_GNU_TRIPLE
RUN echo $TARGET_GNU_TRIPLE > /t && \
    echo \"$TARGET_RUST_TRIPLE $TARGET_GOARCH/$TARGET_GOARM $TARGET_DEBIAN_ARCH $BUILD_GNU_TRIPLE\" > /all
FROM scratch
COPY --from=build /t /all /
",
    );
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let output = common::crossbuild(
        context.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/arm64,linux/arm/v7",
            "-o",
            &dest,
            ".",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let read = |dir: &str, file: &str| {
        let path = out.path().join(dir).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(read("linux_arm64", "t"), "aarch64-linux-gnu\n");
    assert_eq!(read("linux_arm_v7", "t"), "arm-linux-gnueabihf\n");
    // The daemon is local, so its build platform is this machine's.
    let build = Platform::host()
        .toolchain()
        .expect("host toolchain")
        .gnu_triple;
    assert_eq!(
        read("linux_arm64", "all"),
        format!("aarch64-unknown-linux-gnu arm64/ arm64 {build}\n")
    );
    assert_eq!(
        read("linux_arm_v7", "all"),
        format!("armv7-unknown-linux-gnueabihf arm/7 armhf {build}\n")
    );
}
