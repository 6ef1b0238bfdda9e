//! Bad Dockerfiles through `crossbuild build`, as a user meets them: each
//! file `tests/bad_dockerfiles/NN-name.Dockerfile` is built (copied to a
//! context as `Dockerfile`) and must fail with exit status 1, exactly one
//! `error:` line that names `Dockerfile:<line>` and holds every expected
//! text, no panic, in bounded time. The expectations sit beside it in
//! `NN-name.expect`:
//!
//! ```text
//! line: 2
//! contains: unknown instruction: RUNN (did you mean RUN?)
//! ```
//!
//! (`contains:` may repeat; `flags:` adds `crossbuild build` arguments.)
//! Faults of other kinds (garbage bytes, huge lines, expansion bombs) are
//! in `e2e_hostile_dockerfile.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generous: each case takes well under a second here.
const BOUND: Duration = Duration::from_secs(30);

/// What one case expects.
#[derive(Debug)]
struct Expectation {
    line: usize,
    contains: Vec<String>,
    flags: Vec<String>,
}

fn read_expectation(path: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut expectation = Expectation {
        line: 0,
        contains: Vec::new(),
        flags: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}: bad line {line:?}", path.display()));
        match key {
            "line" => expectation.line = value.parse().expect("a line number"),
            "contains" => expectation.contains.push(value.to_string()),
            "flags" => expectation
                .flags
                .extend(value.split_whitespace().map(str::to_string)),
            other => panic!("{}: unknown key {other:?}", path.display()),
        }
    }
    assert!(expectation.line > 0, "{}: no `line:`", path.display());
    assert!(
        !expectation.contains.is_empty(),
        "{}: no `contains:`",
        path.display()
    );
    expectation
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_dockerfiles");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    cases.sort();
    cases
}

/// Builds one case; returns what is wrong with the outcome, if anything.
fn check(dockerfile: &Path) -> Option<String> {
    let name = dockerfile
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let expectation = read_expectation(&dockerfile.with_extension("expect"));
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(dockerfile, context.path().join("Dockerfile")).unwrap();
    let mut args = vec!["build", "--progress", "quiet"];
    args.extend(expectation.flags.iter().map(String::as_str));
    args.push(".");
    let start = Instant::now();
    let output = common::crossbuild(context.path(), &args);
    let took = start.elapsed();
    let log = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
    let located = format!("Dockerfile:{}:", expectation.line);
    let mut problems = Vec::new();
    if took > BOUND {
        problems.push(format!("took {took:?}"));
    }
    if log.contains("panicked") {
        problems.push("panicked".to_string());
    }
    if output.status.code() != Some(1) {
        problems.push(format!("exit status {:?}", output.status.code()));
    }
    match errors.as_slice() {
        [error] => {
            if !error.contains(&located) {
                problems.push(format!("the error does not name {located}"));
            }
            for text in &expectation.contains {
                if !error.contains(text.as_str()) {
                    problems.push(format!("the error lacks {text:?}"));
                }
            }
        }
        _ => problems.push(format!("{} error lines", errors.len())),
    }
    eprintln!("{name}: {took:?}: {}", errors.join(" / "));
    (!problems.is_empty()).then(|| format!("{name}: {}\n{log}", problems.join("; ")))
}

/// Every bad Dockerfile, a few at a time (the daemon answers each in well
/// under a second; the CLI start-up dominates).
#[tokio::test]
async fn bad_dockerfiles_give_their_line_and_message() {
    if common::daemon_or_skip("bad_dockerfiles").await.is_none() {
        return;
    }
    let cases = cases();
    assert!(cases.len() >= 30, "only {} bad Dockerfiles", cases.len());
    let failures: Vec<String> = std::thread::scope(|scope| {
        cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| scope.spawn(move || chunk.iter().filter_map(|c| check(c)).collect()))
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| vec!["a case panicked".into()])
            })
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} bad Dockerfiles misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every case has its expectations, and no expectation is orphaned.
#[test]
fn every_bad_dockerfile_has_an_expectation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_dockerfiles");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("Dockerfile") => {
                read_expectation(&path.with_extension("expect"));
            }
            Some("expect") => assert!(
                path.with_extension("Dockerfile").exists(),
                "{} has no Dockerfile",
                path.display()
            ),
            _ => panic!("unexpected file {}", path.display()),
        }
    }
}
