//! Hostile Dockerfiles through the CLI against the real daemon: each ends
//! in one line-numbered error (or a successful build), in bounded time,
//! never a panic. See TESTING.md for the table of faults.

mod common;

use std::time::{Duration, Instant};

use common::tree::write_file;

/// Generous: every case takes well under 3 s here (see TESTING.md).
const BOUND: Duration = Duration::from_secs(30);

/// What a case must end in.
enum Expect {
    /// Success.
    Builds,
    /// Failure naming `Dockerfile:<line>` and containing the text.
    Fails(usize, &'static str),
}

/// Builds `dockerfile` with `--progress quiet` and checks the outcome.
async fn check(test: &str, dockerfile: &[u8], expect: Expect) {
    if common::daemon_or_skip(test).await.is_none() {
        return;
    }
    let context = tempfile::tempdir().unwrap();
    write_file(context.path(), "Dockerfile", dockerfile, 0o644);
    let start = Instant::now();
    let output = common::crossbuild(context.path(), &["build", "--progress", "quiet", "."]);
    let took = start.elapsed();
    let log = String::from_utf8_lossy(&output.stderr);
    let shown: String = log.chars().take(2000).collect();
    eprintln!("{test}: {took:?}");
    assert!(took < BOUND, "{test} took {took:?}");
    assert!(!log.contains("panicked"), "{shown}");
    match expect {
        Expect::Builds => assert!(output.status.success(), "{shown}"),
        Expect::Fails(line, text) => {
            assert!(!output.status.success(), "{shown}");
            assert_eq!(log.matches("error:").count(), 1, "{shown}");
            assert!(log.contains(&format!("Dockerfile:{line}:")), "{shown}");
            assert!(log.contains(text), "{shown}");
        }
    }
}

/// Deterministic bytes from a fixed seed (xorshift), so a failure repeats.
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// `ARG`/`ENV` lines where each value is ten copies of the previous one.
fn bomb(keyword: &str) -> String {
    let mut text = format!("{keyword} a=xxxxxxxxxx\n");
    let mut prev = "a".to_string();
    for level in 1..=10 {
        let name = format!("v{level}");
        text.push_str(&format!(
            "{keyword} {name}={}\n",
            format!("${prev}").repeat(10)
        ));
        prev = name;
    }
    text
}

#[tokio::test]
async fn binary_garbage() {
    check(
        "binary_garbage",
        &garbage(4096, 0x9e37_79b9_7f4a_7c15),
        Expect::Fails(1, "invalid UTF-8"),
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8() {
    check(
        "invalid_utf8",
        b"FROM localhost:5000/busybox\nRUN echo \xff\xfe\n",
        Expect::Fails(2, "invalid UTF-8"),
    )
    .await;
}

#[tokio::test]
async fn ten_megabyte_line() {
    let text = format!(
        "FROM localhost:5000/busybox\nRUN echo {}\n",
        "a".repeat(10 << 20)
    );
    check(
        "ten_megabyte_line",
        text.as_bytes(),
        Expect::Fails(2, "max allowed size"),
    )
    .await;
}

#[tokio::test]
async fn ten_thousand_stages() {
    let mut text = String::from("FROM localhost:5000/busybox AS s0\n");
    for i in 1..10_000 {
        text.push_str(&format!("FROM s{} AS s{i}\n", i - 1));
    }
    check("ten_thousand_stages", text.as_bytes(), Expect::Builds).await;
}

#[tokio::test]
async fn copy_from_cycle() {
    check(
        "copy_from_cycle",
        b"FROM localhost:5000/busybox AS a\nCOPY --from=b /x /x\n\
          FROM localhost:5000/busybox AS b\nCOPY --from=a /y /y\n",
        Expect::Fails(1, "circular dependency"),
    )
    .await;
}

#[tokio::test]
async fn stage_named_like_a_platform() {
    // BuildKit says the same: a stage name cannot contain '/'.
    check(
        "stage_named_like_a_platform",
        b"FROM localhost:5000/busybox AS linux/amd64\nRUN true\n",
        Expect::Fails(1, "invalid name for build stage"),
    )
    .await;
}

#[tokio::test]
async fn unterminated_heredoc() {
    check(
        "unterminated_heredoc",
        b"FROM localhost:5000/busybox\nRUN <<EOF\necho hi\n",
        Expect::Fails(2, "unterminated heredoc"),
    )
    .await;
}

#[tokio::test]
async fn unknown_directive_is_a_comment() {
    // As in BuildKit: an unknown `# key=value` is an ordinary comment.
    check(
        "unknown_directive_is_a_comment",
        b"# frobnicate=yes\nFROM localhost:5000/busybox\nRUN true\n",
        Expect::Builds,
    )
    .await;
}

#[tokio::test]
async fn arg_expansion_bomb_before_from() {
    // v6 would be 10 MB, past the 1 MiB expansion limit: line 7.
    let text = format!("{}FROM localhost:5000/busybox\n", bomb("ARG"));
    check(
        "arg_expansion_bomb_before_from",
        text.as_bytes(),
        Expect::Fails(7, "longer than 1048576 bytes"),
    )
    .await;
}

#[tokio::test]
async fn arg_expansion_bomb_in_a_stage() {
    let text = format!(
        "FROM localhost:5000/busybox\n{}RUN echo $v10\n",
        bomb("ARG")
    );
    check(
        "arg_expansion_bomb_in_a_stage",
        text.as_bytes(),
        Expect::Fails(8, "longer than 1048576 bytes"),
    )
    .await;
}

#[tokio::test]
async fn env_expansion_bomb() {
    let text = format!("FROM localhost:5000/busybox\n{}", bomb("ENV"));
    check(
        "env_expansion_bomb",
        text.as_bytes(),
        Expect::Fails(8, "longer than 1048576 bytes"),
    )
    .await;
}

#[tokio::test]
async fn deeply_nested_substitution() {
    // A 60 KB line: the error must still arrive whole (it once killed the
    // connection through an oversized gRPC trailer).
    let text = format!(
        "FROM localhost:5000/busybox\nARG x={}z{}\n",
        "${a:-".repeat(10_000),
        "}".repeat(10_000)
    );
    check(
        "deeply_nested_substitution",
        text.as_bytes(),
        Expect::Fails(2, "nested deeper than 128 levels"),
    )
    .await;
}
