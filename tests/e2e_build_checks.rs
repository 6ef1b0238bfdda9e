//! Build checks (BuildKit's Dockerfile lint rules): crossbuild must warn
//! exactly as BuildKit's own frontend does on the same Dockerfile — the
//! same `WARN:` lines under the Dockerfile's step — honour `# check=`
//! and `BUILDKIT_DOCKERFILE_CHECK` the same way, and list the warnings
//! with their file and line at the end of the build.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

/// Builds `dockerfile` with crossbuild or BuildKit's frontend
/// (`--progress plain`, nothing exported) with extra `flags`.
fn build(dir: &Path, dockerfile: &str, reference: bool, flags: &[&str]) -> Output {
    common::tree::write_file(dir, "Dockerfile", dockerfile.as_bytes(), 0o644);
    let mut args = vec!["build", "--progress", "plain"];
    if reference {
        args.push("--reference-frontend");
    }
    args.extend(flags);
    args.push(".");
    common::crossbuild(dir, &args)
}

/// The `WARN:` lines of a plain progress log, without the step number.
fn warnings(output: &Output) -> BTreeSet<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| Some(l.split_once(" WARN: ")?.1.to_string()))
        .collect()
}

/// Builds with both frontends and asserts the same warnings and the same
/// outcome; returns crossbuild's output.
async fn same_warnings(test: &str, dockerfile: &str, flags: &[&str]) -> Option<Output> {
    common::daemon_or_skip(test).await?;
    let dir = tempfile::tempdir().unwrap();
    let reference = build(dir.path(), dockerfile, true, flags);
    let crossbuild = build(dir.path(), dockerfile, false, flags);
    let (r, c) = (warnings(&reference), warnings(&crossbuild));
    assert_eq!(
        r,
        c,
        "{test}: the warnings differ\nreference only: {:#?}\ncrossbuild only: {:#?}",
        r.difference(&c).collect::<Vec<_>>(),
        c.difference(&r).collect::<Vec<_>>()
    );
    assert!(
        !c.is_empty() || dockerfile.contains("skip=all"),
        "{test}: no warnings at all"
    );
    assert_eq!(
        reference.status.success(),
        crossbuild.status.success(),
        "{test}: one frontend failed\n{}\n{}",
        String::from_utf8_lossy(&reference.stderr),
        String::from_utf8_lossy(&crossbuild.stderr)
    );
    Some(crossbuild)
}

/// Rules over stages, FROM lines, casing and instructions, in stages that
/// are built and in one that is not.
#[tokio::test]
async fn stage_from_and_instruction_checks() {
    let dockerfile = "\
ARG BASE
FROM localhost:5000/busybox:latest as Build
MAINTAINER me
ENV key value
LABEL k v
WORKDIR rel
ARG PASSWORD=x
FROM ${BASE:-localhost:5000/busybox} AS second
from build AS third
CMD echo hi
CMD echo two
ENTRYPOINT echo e
RUN echo $NOT_CHECKED_IN_RUN
COPY --from=build /etc/passwd /p
FROM --platform=$TARGETPLATFORM localhost:5000/busybox AS fourth
FROM --platform=linux/amd64 localhost:5000/busybox AS fifth
ENV NOT_BUILT so not checked
FROM scratch AS scratch
";
    let Some(output) = same_warnings(
        "stage_from_and_instruction_checks",
        dockerfile,
        &["--target", "third"],
    )
    .await
    else {
        return;
    };
    // The summary at the end names the file and line of each.
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("warnings found:"), "{log}");
    assert!(
        log.contains(" - Dockerfile:2: StageNameCasing: Stage name 'Build' should be lowercase\n"),
        "{log}"
    );
    assert!(
        log.contains(" - Dockerfile:3: MaintainerDeprecated: "),
        "{log}"
    );
}

/// Undefined variables (with hints), undeclared and badly defaulted FROM
/// args, duplicate stages, empty continuation lines, lower-case keywords.
#[tokio::test]
async fn variable_and_lower_case_checks() {
    let dockerfile = "\
arg IMAGE=localhost:5000/busybox
arg BAD_DEFAULT=Not/Valid
from ${IMAGE} as base
env key value
env PATHX=$PAHT:/x
label v=${UNDEFINED_LABEL}
workdir /abs
workdir rel
copy --chown=${OWNER:-0} Dockerfile /d/$DEST_DIR
run echo one \\

    two
healthcheck cmd true
healthcheck cmd false
arg DECLARED
env USES=$DECLARED
expose ${PORTS:-80}
from base as base
from ${BAD_DEFAULT}:${UNDECLARED_TAG:-latest} as other
";
    same_warnings(
        "variable_and_lower_case_checks",
        dockerfile,
        &[
            "--target",
            "base",
            "--build-arg",
            "BAD_DEFAULT=localhost:5000/busybox",
        ],
    )
    .await;
}

/// Which words are checked for undefined variables, ARGs that use earlier
/// ones, and checks that look back within a stage.
#[tokio::test]
async fn expanded_words_and_repeated_instructions() {
    let dockerfile = "\
FROM localhost:5000/busybox AS base
WORKDIR /w/$WD
USER ${USR:-root}
VOLUME /v/$VOL
STOPSIGNAL ${SIG:-SIGTERM}
ADD --chmod=$MODE Dockerfile /a/$ADEST
ARG A=1 B=$A C=$NOPE
ARG D=${D_UNDEF}
ENV E1=$E2 E2=x
ONBUILD RUN echo $ONB
CMD [\"x\"]
ENTRYPOINT [\"y\"]
CMD [\"z\"]
SHELL [\"/bin/sh\", \"-c\"]
CMD echo shell-set
FROM base
CMD echo child
";
    same_warnings("expanded_words_and_repeated_instructions", dockerfile, &[]).await;
}

/// `# check=skip=...;error=true`: skipped rules are silent, the others
/// fail the build after warning, naming the rules.
#[tokio::test]
async fn check_directive_skips_and_errors() {
    let dockerfile = "\
# check=skip=StageNameCasing,JSONArgsRecommended;error=true
FROM localhost:5000/busybox AS Base
MAINTAINER x
CMD echo
FROM base
ENV a b
";
    let Some(output) = same_warnings("check_directive_skips_and_errors", dockerfile, &[]).await
    else {
        return;
    };
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    let error = log
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        error
            .contains("lint violation found for rules: LegacyKeyValueFormat, MaintainerDeprecated"),
        "{log}"
    );
    assert!(!log.contains("StageNameCasing"), "{log}");
}

/// The `BUILDKIT_DOCKERFILE_CHECK` build arg replaces the directive.
#[tokio::test]
async fn check_build_arg_overrides_the_directive() {
    let dockerfile = "\
# check=error=true
FROM localhost:5000/busybox AS Base
MAINTAINER x
";
    let Some(output) = same_warnings(
        "check_build_arg_overrides_the_directive",
        dockerfile,
        &[
            "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=MaintainerDeprecated",
        ],
    )
    .await
    else {
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("StageNameCasing") && !log.contains("MaintainerDeprecated"),
        "{log}"
    );
}

/// A bad `# check=` is an error on its line.
#[tokio::test]
async fn bad_check_directive_is_an_error() {
    if common::daemon_or_skip("bad_check_directive_is_an_error")
        .await
        .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = build(dir.path(), "# check=nonsense\nFROM scratch\n", false, &[]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        log.contains(
            "error: Dockerfile:1: failed to parse check options: invalid check option \"nonsense\""
        ),
        "{log}"
    );
}

/// A base image that exists for another platform only (pushed here as a
/// single-platform image) is used with a warning, for FROM and --from.
#[tokio::test]
async fn base_image_of_another_platform() {
    if common::daemon_or_skip("base_image_of_another_platform")
        .await
        .is_none()
    {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    common::tree::write_file(
        base.path(),
        "Dockerfile",
        b"FROM scratch\nCOPY Dockerfile /x\n",
        0o644,
    );
    let pushed = common::crossbuild(
        base.path(),
        &[
            "build",
            "--progress",
            "quiet",
            "--platform",
            "linux/amd64",
            "-t",
            "localhost:5000/conformance-amd64-only:latest",
            "--push",
            ".",
        ],
    );
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let dockerfile = "\
FROM localhost:5000/conformance-amd64-only:latest
COPY --from=localhost:5000/conformance-amd64-only:latest /x /y
";
    let output = same_warnings(
        "base_image_of_another_platform",
        dockerfile,
        &["--platform", "linux/arm64"],
    )
    .await
    .expect("the daemon is there");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("InvalidBaseImagePlatform: Base image localhost:5000/conformance-amd64-only:latest was pulled with platform \"linux/amd64\", expected \"linux/arm64\" for current build"),
        "{log}"
    );
}
