//! The reference client (`docker buildx`) and crossbuild's `# syntax=`
//! frontend image, for the tests that build through them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Whether `docker buildx` runs; outside CI a missing one skips the test
/// (after saying so), in CI it fails it.
pub fn buildx_or_skip(test: &str) -> bool {
    match Command::new("docker").args(["buildx", "version"]).output() {
        Ok(output) if output.status.success() => true,
        _ if !super::in_ci() => {
            eprintln!("SKIPPED {test}: no `docker buildx` (the reference client)");
            false
        }
        other => panic!("{test}: CI=true but no `docker buildx`: {other:?}"),
    }
}

/// The cargo target directory the test was built in: the script builds the
/// static frontend binary there too, so later builds are incremental.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

/// Builds crossbuild's frontend image with `scripts/frontend-image` and the
/// crossbuild binary under test, and pushes it as `image`. Each test file
/// pushes its own name, so that no test runs another's build of it.
pub fn build(image: &str) -> Result<(), String> {
    let started = Instant::now();
    let output = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/frontend-image"
    ))
    .arg(image)
    .env("CARGO_TARGET_DIR", target_dir())
    .env("CROSSBUILD", env!("CARGO_BIN_EXE_crossbuild"))
    .output()
    .map_err(|e| format!("cannot run scripts/frontend-image: {e}"))?;
    eprintln!(
        "scripts/frontend-image took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
