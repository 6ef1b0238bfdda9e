//! [`State`]: one output of one op plus the environment later ops inherit,
//! and the op graph nodes behind it. Also the ops that combine states
//! (merge, diff, nested build).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::platform::Platform;

use super::constraints::Constraints;
use super::exec::ExecSpec;
use super::file::FileSpec;
use super::source::Image;
use super::{LlbError, Result};

/// The payload of a graph node, with inputs held as [`Output`]s so that
/// digests are only computed at marshal time (where the default platform is
/// known).
pub(crate) enum OpSpec {
    Source(SourceSpec),
    Exec(Box<ExecSpec>),
    File(FileSpec),
    Merge(Vec<Output>),
    Diff {
        lower: Option<Output>,
        upper: Option<Output>,
    },
    Build {
        source: Output,
        filename: Option<String>,
    },
}

/// A source op before marshalling.
pub(crate) struct SourceSpec {
    pub(crate) identifier: String,
    pub(crate) attrs: BTreeMap<String, String>,
    pub(crate) caps: Vec<&'static str>,
    /// Only images and OCI layouts differ per platform; local dirs, git and
    /// HTTP sources must not carry a platform or their digests would split.
    pub(crate) platform_specific: bool,
}

/// One vertex of the graph.
pub(crate) struct Node {
    pub(crate) spec: OpSpec,
    pub(crate) constraints: Constraints,
}

/// One output of one node: what an LLB `Input` points at.
#[derive(Clone)]
pub(crate) struct Output {
    pub(crate) node: Arc<Node>,
    pub(crate) index: i64,
}

impl Output {
    pub(crate) fn new(spec: OpSpec, constraints: Constraints, index: i64) -> Self {
        Output {
            node: Arc::new(Node { spec, constraints }),
            index,
        }
    }
}

#[derive(Clone)]
struct StateInner {
    output: Option<Output>,
    dir: String,
    /// Shared between states until one changes it: most instructions
    /// (WORKDIR, RUN, COPY) derive a state without touching the
    /// environment, and cloning hundreds of variables for each of them
    /// dominated compile time.
    env: Arc<Vec<(String, String)>>,
    user: Option<String>,
    platform: Option<Platform>,
}

/// An immutable filesystem state: an op output (or scratch) plus the
/// working directory, environment, user and platform that later `run`s and
/// file ops use. Cloning is an `Arc` bump.
#[derive(Clone)]
pub struct State(Arc<StateInner>);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("scratch", &self.is_scratch())
            .field("dir", &self.0.dir)
            .field("env", &self.0.env)
            .field("user", &self.0.user)
            .field("platform", &self.0.platform)
            .finish()
    }
}

impl Default for State {
    fn default() -> Self {
        State::scratch()
    }
}

impl State {
    /// The empty filesystem.
    pub fn scratch() -> Self {
        State(Arc::new(StateInner {
            output: None,
            dir: "/".to_string(),
            env: Arc::new(Vec::new()),
            user: None,
            platform: None,
        }))
    }

    /// Shorthand for `Image::new(reference)?.into_state()`.
    pub fn image(reference: &str) -> Result<Self> {
        Ok(Image::new(reference)?.into_state())
    }

    /// A fresh state on `output`, platform taken from the op (like Go's
    /// `NewState`).
    pub(crate) fn from_output(output: Output, platform: Option<Platform>) -> Self {
        let mut inner = State::scratch().0.as_ref().clone();
        inner.output = Some(output);
        inner.platform = platform;
        State(Arc::new(inner))
    }

    /// The same environment on a different output.
    pub(crate) fn with_output(&self, output: Output) -> Self {
        let mut inner = self.0.as_ref().clone();
        inner.output = Some(output);
        State(Arc::new(inner))
    }

    fn with(&self, change: impl FnOnce(&mut StateInner)) -> Self {
        let mut inner = self.0.as_ref().clone();
        change(&mut inner);
        State(Arc::new(inner))
    }

    pub(crate) fn output(&self) -> Option<&Output> {
        self.0.output.as_ref()
    }

    /// Whether this is the empty filesystem (no op behind it).
    pub fn is_scratch(&self) -> bool {
        self.0.output.is_none()
    }

    /// Sets the working directory; a relative `dir` is taken from the
    /// current one, as `WORKDIR` does.
    pub fn dir(&self, dir: &str) -> Self {
        let dir = normalize_path(&self.0.dir, dir, false);
        self.with(|s| s.dir = dir)
    }

    /// The working directory (`/` unless set).
    pub fn get_dir(&self) -> &str {
        &self.0.dir
    }

    /// Sets an environment variable, replacing an earlier value in place so
    /// that the order (and so the digest) stays stable.
    pub fn add_env(&self, key: &str, value: &str) -> Self {
        self.with(|s| {
            let env = Arc::make_mut(&mut s.env);
            match env.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value.to_string(),
                None => env.push((key.to_string(), value.to_string())),
            }
        })
    }

    /// The value of one environment variable.
    pub fn get_env(&self, key: &str) -> Option<&str> {
        self.0
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All environment variables in insertion order.
    pub fn env(&self) -> &[(String, String)] {
        &self.0.env
    }

    /// The environment as shared with derived states and exec ops.
    pub(crate) fn env_shared(&self) -> &Arc<Vec<(String, String)>> {
        &self.0.env
    }

    /// Sets the user later `run`s execute as (`user[:group]`).
    pub fn user(&self, user: &str) -> Self {
        let user = user.to_string();
        self.with(|s| s.user = Some(user))
    }

    /// The user, if set.
    pub fn get_user(&self) -> Option<&str> {
        self.0.user.as_deref()
    }

    /// Sets the platform later `run`s execute on. It does not change the op
    /// behind this state: an image's platform is chosen on [`Image`].
    pub fn platform(&self, platform: &Platform) -> Self {
        let platform = platform.clone();
        self.with(|s| s.platform = Some(platform))
    }

    /// The platform, if known.
    pub fn get_platform(&self) -> Option<&Platform> {
        self.0.platform.as_ref()
    }

    /// A nested build: solves the LLB definition stored in `filename` (or
    /// BuildKit's default `buildkit.llb.definition`) inside this state.
    pub fn build(&self, filename: Option<&str>, constraints: Constraints) -> Result<State> {
        let source = self.output().cloned().ok_or(LlbError::BuildFromScratch)?;
        let spec = OpSpec::Build {
            source,
            filename: filename.map(str::to_string),
        };
        let platform = constraints.platform.clone();
        Ok(State::from_output(
            Output::new(spec, constraints, 0),
            platform,
        ))
    }
}

/// Layers `states` on top of each other (later ones win), without copying.
/// Scratch inputs are dropped; a single remaining input is returned as is,
/// so no needless op appears in the graph (as in Go's `llb.Merge`).
pub fn merge(states: &[State], constraints: Constraints) -> State {
    let inputs: Vec<&State> = states.iter().filter(|s| !s.is_scratch()).collect();
    match inputs.as_slice() {
        [] => State::scratch(),
        [only] => (*only).clone(),
        _ => {
            let outputs = inputs.iter().filter_map(|s| s.output().cloned()).collect();
            State::from_output(Output::new(OpSpec::Merge(outputs), constraints, 0), None)
        }
    }
}

/// The changes that turn `lower` into `upper`, as a state of its own.
/// Diffing against scratch is `upper` itself, as in Go's `llb.Diff`.
pub fn diff(lower: &State, upper: &State, constraints: Constraints) -> State {
    if lower.is_scratch() {
        return upper.clone();
    }
    let spec = OpSpec::Diff {
        lower: lower.output().cloned(),
        upper: upper.output().cloned(),
    };
    State::from_output(Output::new(spec, constraints, 0), None)
}

/// Go's `path.Clean` for slash paths.
pub(crate) fn clean_path(p: &str) -> String {
    if is_clean_path(p) {
        return p.to_string();
    }
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Whether `path.Clean` would return `p` unchanged, for the common case:
/// no empty, `.` or `..` segment and no trailing slash. Paths are cleaned
/// for every step of every platform, and most are clean already.
pub(crate) fn is_clean_path(p: &str) -> bool {
    if p == "/" {
        return true;
    }
    let relative = p.strip_prefix('/').unwrap_or(p);
    !relative.is_empty()
        && relative
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// Go llb's `normalizePath`: absolute paths as is, relative ones under
/// `parent`; `keep_slash` preserves a trailing `/` or `/.` that changes
/// copy semantics ("into this directory").
pub(crate) fn normalize_path(parent: &str, p: &str, keep_slash: bool) -> String {
    let mut out = clean_path(p);
    if !out.starts_with('/') {
        out = clean_path(&format!("/{parent}/{out}"));
    }
    if keep_slash {
        if p.ends_with('/') && !out.ends_with('/') {
            out.push('/');
        } else if p.ends_with("/.") {
            if out != "/" {
                out.push('/');
            }
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_matches_go() {
        let cases = [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a//b/./", "a/b"),
            ("/a/b/..", "/a"),
        ];
        for (input, want) in cases {
            assert_eq!(clean_path(input), want, "{input:?}");
        }
    }

    #[test]
    fn clean_paths_are_recognised() {
        let paths = [
            "",
            ".",
            "/",
            "//",
            "a",
            "/a/b",
            "a/b/",
            "/a/./b",
            "/a/../b",
            "../a",
            "./a",
            "/a//b",
            "/.",
            "/..",
            "a/.",
            "/work/dir",
            "ünï/cödé",
        ];
        for p in paths {
            let clean = clean_path(p);
            // A cleaned path is a fixed point, whichever way it goes.
            assert_eq!(clean_path(&clean), clean, "{p:?}");
            // Recognised as clean only when it is (`.` is, but rare).
            assert!(!is_clean_path(p) || p == clean, "{p:?}");
        }
        for p in ["/", "a", "/a/b", "/work/dir", "ünï/cödé"] {
            assert!(is_clean_path(p), "{p:?}");
        }
    }

    #[test]
    fn normalize_path_matches_go() {
        assert_eq!(normalize_path("/work", "src", false), "/work/src");
        assert_eq!(normalize_path("/work", "/abs", false), "/abs");
        assert_eq!(normalize_path("/work", "out/", true), "/work/out/");
        assert_eq!(normalize_path("/work", "out/", false), "/work/out");
        assert_eq!(normalize_path("/", "./", true), "/");
        assert_eq!(normalize_path("/w", "d/.", true), "/w/d/.");
        assert_eq!(normalize_path("/", "/.", true), "/.");
    }

    #[test]
    fn state_values_are_immutable() {
        let base = State::scratch();
        let a = base.dir("/app").add_env("A", "1").user("nobody");
        let b = a.dir("sub").add_env("A", "2").add_env("B", "3");
        assert_eq!(base.get_dir(), "/");
        assert!(base.env().is_empty());
        assert_eq!(a.get_dir(), "/app");
        assert_eq!(a.get_env("A"), Some("1"));
        assert_eq!(b.get_dir(), "/app/sub");
        assert_eq!(b.get_env("A"), Some("2"));
        assert_eq!(
            b.env(),
            [
                ("A".to_string(), "2".to_string()),
                ("B".to_string(), "3".to_string())
            ]
        );
        assert_eq!(b.get_user(), Some("nobody"));
        assert!(b.is_scratch());
        let p: Platform = "linux/arm64".parse().expect("platform");
        assert_eq!(a.platform(&p).get_platform(), Some(&p));
        assert_eq!(a.get_platform(), None);
    }

    #[test]
    fn merge_and_diff_shortcuts() {
        let img = State::image("busybox").expect("image");
        assert!(merge(&[], Constraints::new()).is_scratch());
        assert!(merge(&[State::scratch(), State::scratch()], Constraints::new()).is_scratch());
        let single = merge(&[State::scratch(), img.clone()], Constraints::new());
        assert!(Arc::ptr_eq(&single.0, &img.0));
        let same = diff(&State::scratch(), &img, Constraints::new());
        assert!(Arc::ptr_eq(&same.0, &img.0));
        assert_eq!(
            State::scratch().build(None, Constraints::new()).err(),
            Some(LlbError::BuildFromScratch)
        );
    }
}
