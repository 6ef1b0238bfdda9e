//! Merging BuildKit's status messages into one picture of the build.
//!
//! BuildKit repeats a vertex every time something about it changes (queued,
//! started, completed) and streams logs as raw chunks, so every renderer needs
//! the same bookkeeping. It lives here, free of any output concerns, and
//! reports what each message changed so renderers only print the difference.

use std::collections::{HashMap, VecDeque};

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog, VertexStatus};

/// How many complete log lines each vertex keeps. Enough for the tail shown
/// with a failed step; older lines were already printed by streaming modes.
pub const LOG_TAIL: usize = 20;

/// A partial line longer than this is emitted as if it ended, so a process
/// that never prints a newline (progress bars using `\r`) cannot grow memory
/// without bound.
const MAX_PARTIAL_LINE: usize = 32 * 1024;

/// A point in time from the daemon, in nanoseconds since the Unix epoch.
///
/// `i128` so that any `Timestamp` the wire can carry converts without overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i128);

impl Time {
    /// Converts a protobuf timestamp.
    pub fn from_proto(ts: &Timestamp) -> Time {
        Time(i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos))
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(self, earlier: Time) -> f64 {
        // Precision loss only matters beyond ~100 days of difference.
        (self.0 - earlier.0) as f64 / 1e9
    }

    /// The current wall-clock time.
    pub fn now() -> Time {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time(d.as_nanos() as i128)
    }
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// File descriptor 1.
    Stdout,
    /// File descriptor 2.
    Stderr,
    /// Anything else BuildKit may send (it forwards the raw fd number).
    Other(i64),
}

impl LogStream {
    fn from_fd(fd: i64) -> LogStream {
        match fd {
            1 => LogStream::Stdout,
            2 => LogStream::Stderr,
            n => LogStream::Other(n),
        }
    }
}

/// One complete line of a vertex's output.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// The stream the line's first chunk came from.
    pub stream: LogStream,
    /// Seconds since the vertex started when the line's first chunk arrived,
    /// which is what buildx prints in front of each line.
    pub elapsed: f64,
    /// The line without its newline; invalid UTF-8 is replaced.
    pub text: String,
}

/// The latest state of one sub-progress item of a vertex, such as a layer
/// download or the context transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusState {
    /// BuildKit's id, which is also the text shown ("transferring context:").
    pub id: String,
    /// An optional human name.
    pub name: String,
    /// Units done so far (bytes for transfers).
    pub current: i64,
    /// Units expected, 0 when unknown.
    pub total: i64,
    /// When the daemon produced this update.
    pub timestamp: Option<Time>,
    /// When the item started.
    pub started: Option<Time>,
    /// When the item completed.
    pub completed: Option<Time>,
}

/// A warning attached to a vertex (Dockerfile lint checks, deprecations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Digest of the vertex the warning belongs to.
    pub vertex: String,
    /// Severity as BuildKit sends it.
    pub level: i64,
    /// One-line description.
    pub short: String,
    /// Further explanation, one entry per paragraph.
    pub detail: Vec<String>,
    /// Link to documentation about the warning.
    pub url: String,
    /// The file and 1-based line it is about (`Dockerfile`, 2), when the
    /// warning says.
    pub location: Option<(String, i32)>,
}

/// Everything known about one vertex (one step of the build graph).
#[derive(Debug, Clone, Default)]
pub struct VertexState {
    /// Content digest identifying the vertex.
    pub digest: String,
    /// Display number (`#3`), assigned in the order vertices start.
    pub index: Option<usize>,
    /// Human name, e.g. `[2/5] RUN make`.
    pub name: String,
    /// Digests of the vertices this one depends on.
    pub inputs: Vec<String>,
    /// When the vertex (last) started.
    pub started: Option<Time>,
    /// When the vertex completed; `None` while it runs.
    pub completed: Option<Time>,
    /// Whether the result came from the cache.
    pub cached: bool,
    /// The failure message, if the vertex failed.
    pub error: Option<String>,
    /// Sub-progress items in the order they first appeared.
    pub statuses: Vec<StatusState>,
    /// Warnings attached to this vertex.
    pub warnings: Vec<Warning>,
    /// The last [`LOG_TAIL`] complete log lines.
    pub log_tail: VecDeque<LogLine>,
    partial: Option<PartialLine>,
}

impl VertexState {
    /// Whether the vertex is running right now.
    pub fn is_running(&self) -> bool {
        self.started.is_some() && self.completed.is_none()
    }

    /// Whether the vertex failed because the build was cancelled rather than
    /// by its own fault; BuildKit marks those with a `context canceled` error.
    pub fn is_canceled(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.ends_with("context canceled"))
    }

    /// Seconds the vertex ran, up to `now` if it is still running.
    pub fn duration(&self, now: Time) -> Option<f64> {
        let started = self.started?;
        Some(self.completed.unwrap_or(now).seconds_since(started))
    }

    fn push_line(&mut self, line: LogLine) {
        if self.log_tail.len() == LOG_TAIL {
            self.log_tail.pop_front();
        }
        self.log_tail.push_back(line);
    }
}

/// A line whose end has not arrived yet.
#[derive(Debug, Clone)]
struct PartialLine {
    stream: LogStream,
    elapsed: f64,
    bytes: Vec<u8>,
}

/// What one message (or the end of the stream) changed about one vertex.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VertexChanges {
    /// The vertex's digest.
    pub digest: String,
    /// The vertex went from not started to started.
    pub started: bool,
    /// The vertex went from running to completed (done, cached or failed).
    pub completed: bool,
    /// Ids of the statuses that changed, without repeats.
    pub statuses: Vec<String>,
    /// Log lines that became complete, in order.
    pub logs: Vec<LogLine>,
    /// Warnings that arrived.
    pub warnings: Vec<Warning>,
}

/// The merged state of a build's progress.
#[derive(Debug, Clone, Default)]
pub struct ProgressState {
    vertices: HashMap<String, VertexState>,
    /// Digests of numbered vertices; `#n` is at position `n - 1`.
    order: Vec<String>,
    /// Digests in the order they were first seen, to keep counts stable.
    seen: Vec<String>,
    start: Option<Time>,
    warnings: Vec<Warning>,
}

impl ProgressState {
    /// An empty state, before the first message.
    pub fn new() -> ProgressState {
        ProgressState::default()
    }

    /// Looks up a vertex by digest.
    pub fn vertex(&self, digest: &str) -> Option<&VertexState> {
        self.vertices.get(digest)
    }

    /// Numbered vertices in start order (`#1` first).
    pub fn numbered(&self) -> impl Iterator<Item = &VertexState> {
        self.order.iter().filter_map(|d| self.vertices.get(d))
    }

    /// How many vertices are known, started or not.
    pub fn total(&self) -> usize {
        self.seen.len()
    }

    /// How many vertices have completed.
    pub fn completed(&self) -> usize {
        self.vertices
            .values()
            .filter(|v| v.completed.is_some())
            .count()
    }

    /// When the first vertex started, by the daemon's clock.
    pub fn start_time(&self) -> Option<Time> {
        self.start
    }

    /// All warnings so far, in arrival order.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Merges one message and reports what changed, per vertex, in the order
    /// the vertices were first touched by this message.
    pub fn apply(&mut self, msg: &StatusResponse) -> Vec<VertexChanges> {
        let mut changes = ChangeSet::default();
        for v in &msg.vertexes {
            self.apply_vertex(v, &mut changes);
        }
        for s in &msg.statuses {
            self.apply_status(s, &mut changes);
        }
        for l in &msg.logs {
            self.apply_log(l, &mut changes);
        }
        for w in &msg.warnings {
            let warning = Warning {
                vertex: w.vertex.clone(),
                level: w.level,
                short: String::from_utf8_lossy(&w.short).into_owned(),
                detail: w
                    .detail
                    .iter()
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .collect(),
                url: w.url.clone(),
                location: w.info.as_ref().and_then(|info| {
                    let line = w.ranges.first()?.start.as_ref()?.line;
                    Some((info.filename.clone(), line))
                }),
            };
            self.warnings.push(warning.clone());
            let v = self.entry(&w.vertex);
            v.warnings.push(warning.clone());
            self.ensure_index(&w.vertex);
            changes.get(&w.vertex).warnings.push(warning);
        }
        // A completed vertex prints nothing more, so its unfinished last line
        // must be shown now rather than never.
        let completed: Vec<String> = changes
            .list
            .iter()
            .filter(|c| c.completed)
            .map(|c| c.digest.clone())
            .collect();
        for digest in completed {
            self.flush_partial(&digest, &mut changes);
        }
        changes.list
    }

    /// Ends the stream: emits every unfinished log line.
    pub fn finish(&mut self) -> Vec<VertexChanges> {
        let mut changes = ChangeSet::default();
        let digests: Vec<String> = self.order.clone();
        for digest in digests {
            self.flush_partial(&digest, &mut changes);
        }
        changes.list
    }

    fn entry(&mut self, digest: &str) -> &mut VertexState {
        if !self.vertices.contains_key(digest) {
            self.seen.push(digest.to_string());
        }
        self.vertices
            .entry(digest.to_string())
            .or_insert_with(|| VertexState {
                digest: digest.to_string(),
                ..VertexState::default()
            })
    }

    /// Numbers a vertex the first time it has something to show. Normally
    /// that is its start; output for a never-started vertex still gets one.
    fn ensure_index(&mut self, digest: &str) {
        let next = self.order.len() + 1;
        if let Some(v) = self.vertices.get_mut(digest) {
            if v.index.is_none() {
                v.index = Some(next);
                self.order.push(digest.to_string());
            }
        }
    }

    fn apply_vertex(&mut self, msg: &Vertex, changes: &mut ChangeSet) {
        let started = msg.started.as_ref().map(Time::from_proto);
        let completed = msg.completed.as_ref().map(Time::from_proto);
        let v = self.entry(&msg.digest);
        if !msg.name.is_empty() {
            v.name = msg.name.clone();
        }
        if !msg.inputs.is_empty() {
            v.inputs = msg.inputs.clone();
        }
        // BuildKit may repeat the initial, unstarted vertex after it started;
        // that copy is stale and must not reset the state (buildx does the same).
        if started.is_none() && v.started.is_some() {
            return;
        }
        let newly_started = v.started.is_none() && started.is_some();
        // A vertex can complete more than once: a step taken from an
        // imported cache completes as cached, then pulls its layers under
        // the same vertex, and completes as cached again at the end. Each
        // new completion time is a completion to report.
        let newly_completed = completed.is_some() && completed != v.completed;
        v.started = started;
        v.completed = completed;
        v.cached = msg.cached;
        v.error = (!msg.error.is_empty()).then(|| msg.error.clone());
        if newly_started && self.start.is_none() {
            self.start = started;
        }
        if newly_started || newly_completed {
            self.ensure_index(&msg.digest);
            let c = changes.get(&msg.digest);
            c.started |= newly_started;
            c.completed |= newly_completed;
        }
    }

    fn apply_status(&mut self, msg: &VertexStatus, changes: &mut ChangeSet) {
        let status = StatusState {
            id: msg.id.clone(),
            name: msg.name.clone(),
            current: msg.current,
            total: msg.total,
            timestamp: msg.timestamp.as_ref().map(Time::from_proto),
            started: msg.started.as_ref().map(Time::from_proto),
            completed: msg.completed.as_ref().map(Time::from_proto),
        };
        let v = self.entry(&msg.vertex);
        match v.statuses.iter_mut().find(|s| s.id == msg.id) {
            Some(existing) => *existing = status,
            None => v.statuses.push(status),
        }
        self.ensure_index(&msg.vertex);
        let c = changes.get(&msg.vertex);
        if !c.statuses.contains(&msg.id) {
            c.statuses.push(msg.id.clone());
        }
    }

    fn apply_log(&mut self, msg: &VertexLog, changes: &mut ChangeSet) {
        let stream = LogStream::from_fd(msg.stream);
        let ts = msg.timestamp.as_ref().map(Time::from_proto);
        self.entry(&msg.vertex);
        self.ensure_index(&msg.vertex);
        let Some(v) = self.vertices.get_mut(&msg.vertex) else {
            return;
        };
        let elapsed = match (ts, v.started) {
            (Some(ts), Some(started)) => ts.seconds_since(started),
            _ => 0.0,
        };
        let mut done = Vec::new();
        let mut rest: &[u8] = &msg.msg;
        while !rest.is_empty() {
            let (piece, ended) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let piece = &rest[..i];
                    rest = &rest[i + 1..];
                    (piece, true)
                }
                None => {
                    let piece = rest;
                    rest = &[];
                    (piece, false)
                }
            };
            // A continuation keeps the stream and time of the line's start.
            let partial = v.partial.get_or_insert_with(|| PartialLine {
                stream,
                elapsed,
                bytes: Vec::new(),
            });
            partial.bytes.extend_from_slice(piece);
            if ended || partial.bytes.len() > MAX_PARTIAL_LINE {
                if let Some(p) = v.partial.take() {
                    done.push(LogLine {
                        stream: p.stream,
                        elapsed: p.elapsed,
                        text: String::from_utf8_lossy(&p.bytes).into_owned(),
                    });
                }
            }
        }
        for line in &done {
            v.push_line(line.clone());
        }
        changes.get(&msg.vertex).logs.extend(done);
    }

    fn flush_partial(&mut self, digest: &str, changes: &mut ChangeSet) {
        let Some(v) = self.vertices.get_mut(digest) else {
            return;
        };
        let Some(p) = v.partial.take() else {
            return;
        };
        let line = LogLine {
            stream: p.stream,
            elapsed: p.elapsed,
            text: String::from_utf8_lossy(&p.bytes).into_owned(),
        };
        v.push_line(line.clone());
        changes.get(digest).logs.push(line);
    }
}

/// Collects changes per vertex, keeping first-touch order.
#[derive(Default)]
struct ChangeSet {
    list: Vec<VertexChanges>,
}

impl ChangeSet {
    fn get(&mut self, digest: &str) -> &mut VertexChanges {
        let pos = match self.list.iter().position(|c| c.digest == digest) {
            Some(pos) => pos,
            None => {
                self.list.push(VertexChanges {
                    digest: digest.to_string(),
                    ..VertexChanges::default()
                });
                self.list.len() - 1
            }
        };
        &mut self.list[pos]
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn vertices_are_numbered_in_start_order_not_arrival_order() {
        let mut state = ProgressState::new();
        state.apply(
            &msg()
                .vertex(vtx("sha256:a", "A"))
                .vertex(vtx("sha256:b", "B")),
        );
        state.apply(&msg().vertex(vtx("sha256:b", "B").started_at(1.0)));
        state.apply(&msg().vertex(vtx("sha256:a", "A").started_at(2.0)));
        let order: Vec<(Option<usize>, &str)> = state
            .numbered()
            .map(|v| (v.index, v.name.as_str()))
            .collect();
        assert_eq!(order, [(Some(1), "B"), (Some(2), "A")]);
        assert_eq!(state.total(), 2);
        assert_eq!(state.start_time(), Some(Time::from_proto(&ts(1.0))));
    }

    #[test]
    fn a_cached_step_that_pulls_its_layers_completes_cached_again() {
        let mut state = ProgressState::new();
        let step = || vtx("sha256:a", "RUN make");
        state.apply(&msg().vertex(step().started_at(1.0)));
        assert!(state.apply(&msg().vertex(step().done(2.0, 2.5)))[0].completed);
        state.apply(&msg().vertex(step().started_at(3.0)));
        let changes = state.apply(&msg().vertex(step().cached_at(1.0).done(1.0, 4.0)));
        assert!(changes[0].completed, "{changes:?}");
        assert!(state.vertex("sha256:a").is_some_and(|v| v.cached));
        // The same completion repeated is not a new one.
        let changes = state.apply(&msg().vertex(step().cached_at(1.0).done(1.0, 4.0)));
        assert!(changes.iter().all(|c| !c.completed), "{changes:?}");
    }

    #[test]
    fn stale_unstarted_copy_does_not_reset_a_vertex() {
        let mut state = ProgressState::new();
        state.apply(&msg().vertex(vtx("sha256:a", "A").started_at(1.0)));
        let changes = state.apply(&msg().vertex(vtx("sha256:a", "A")));
        assert!(changes.is_empty());
        assert!(state
            .vertex("sha256:a")
            .is_some_and(VertexState::is_running));
    }

    #[test]
    fn utf8_split_across_chunks_is_joined_before_decoding() {
        let mut state = ProgressState::new();
        state.apply(&msg().vertex(vtx("sha256:a", "A").started_at(0.0)));
        let snowman = "\u{2603}".as_bytes();
        let mut first = log("sha256:a", 0.1, 1, "");
        first.msg = snowman[..1].to_vec();
        let mut second = log("sha256:a", 0.2, 1, "");
        second.msg = [&snowman[1..], b"\n"].concat();
        assert!(state.apply(&msg().log(first))[0].logs.is_empty());
        let changes = state.apply(&msg().log(second));
        assert_eq!(changes[0].logs[0].text, "\u{2603}");
        assert_eq!(changes[0].logs[0].stream, LogStream::Stdout);
    }

    #[test]
    fn endless_line_is_cut_and_tail_is_bounded() {
        let mut state = ProgressState::new();
        state.apply(&msg().vertex(vtx("sha256:a", "A").started_at(0.0)));
        let chunk = "x".repeat(40 * 1024);
        let changes = state.apply(&msg().log(log("sha256:a", 0.1, 1, &chunk)));
        assert_eq!(changes[0].logs.len(), 1);
        for i in 0..30 {
            state.apply(&msg().log(log("sha256:a", 0.2, 2, &format!("{i}\n"))));
        }
        let v = state.vertex("sha256:a").expect("vertex");
        assert_eq!(v.log_tail.len(), LOG_TAIL);
        assert_eq!(v.log_tail.back().map(|l| l.text.as_str()), Some("29"));
    }
}
