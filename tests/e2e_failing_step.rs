//! A step that fails while the daemon builds it is shown with its lines in
//! the Dockerfile, as buildx shows them: `Dockerfile:N`, the lines around
//! it with `>>>` on the step's own, then the daemon's message.

mod common;

use std::process::Command;

use common::tree::write_file;

/// Line 3-4 fail on every platform; line 5 is never reached.
const DOCKERFILE: &str = "\
FROM localhost:5000/busybox:latest
RUN echo building
RUN echo about to fail && \\
  false
RUN echo never
";

/// The excerpt buildx prints for DOCKERFILE's failing step.
const EXCERPT: &str = "\
Dockerfile:3
--------------------
   2 |     RUN echo building
   3 | >>> RUN echo about to fail && \\
   4 | >>>   false
   5 |     RUN echo never
--------------------
";

/// The excerpt in `stderr`: from the `Dockerfile:` line to the closing rule.
fn excerpt(stderr: &str) -> Option<String> {
    let start = stderr.find("Dockerfile:")?;
    let rest = &stderr[start..];
    let rule = "--------------------\n";
    let first = rest.find(rule)? + rule.len();
    let end = first + rest[first..].find(rule)? + rule.len();
    Some(rest[..end].to_string())
}

/// One test, run in order: when two builds of the same failing step run
/// at once, the daemon may report the failure from the other build's job,
/// and buildx then shows no excerpt at all.
#[tokio::test]
async fn a_failing_run_points_at_its_dockerfile_lines_as_in_buildx() {
    if common::daemon_or_skip("a_failing_run_points_at_its_dockerfile_lines_as_in_buildx")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "Dockerfile", DOCKERFILE.as_bytes(), 0o644);
    let output = common::crossbuild(
        dir.path(),
        &[
            "build",
            "--progress",
            "plain",
            "--no-cache",
            "--platform",
            "linux/amd64,linux/arm64",
            ".",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(excerpt(&stderr).as_deref(), Some(EXCERPT), "{stderr}");
    // The step's logs come first, the daemon's message last.
    let logs = stderr.find("about to fail\n").expect("the step's log");
    let shown = stderr.find(EXCERPT).unwrap();
    assert!(logs < shown, "{stderr}");
    assert!(
        stderr.trim_end().ends_with(
            "error: process \"/bin/sh -c echo about to fail &&   false\" did not complete successfully: exit code: 1"
        ),
        "{stderr}"
    );

    if !common::frontend_image::buildx_or_skip("the comparison with buildx") {
        return;
    }
    let reference = buildx(dir.path());
    assert_eq!(excerpt(&reference).as_deref(), Some(EXCERPT), "{reference}");

    // Through crossbuild's `# syntax=` image: the daemon itself finds the
    // step in the source map, because crossbuild's ops have the digests
    // the daemon gives them. The syntax line moves every line down by one.
    if let Err(log) = common::frontend_image::build(FRONTEND_IMAGE) {
        panic!("scripts/frontend-image failed:\n{log}");
    }
    let with_syntax = format!("# syntax={FRONTEND_IMAGE}\n{DOCKERFILE}");
    write_file(dir.path(), "Dockerfile", with_syntax.as_bytes(), 0o644);
    let through_image = buildx(dir.path());
    assert!(through_image.contains(FRONTEND_IMAGE), "{through_image}");
    let shifted = "\
Dockerfile:4
--------------------
   3 |     RUN echo building
   4 | >>> RUN echo about to fail && \\
   5 | >>>   false
   6 |     RUN echo never
--------------------
";
    assert_eq!(
        excerpt(&through_image).as_deref(),
        Some(shifted),
        "{through_image}"
    );
}

/// The `# syntax=` image this test builds and pushes (its own repository).
const FRONTEND_IMAGE: &str = "localhost:5000/crossbuild-e2e/failing-step-frontend:latest";

/// `docker buildx build --no-cache .` in `dir`; its stderr.
fn buildx(dir: &std::path::Path) -> String {
    let output = Command::new("docker")
        .args(["buildx", "build", "--progress", "plain", "--no-cache", "."])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}
