//! Hand-made status messages for the renderers' tests, written as a small
//! builder so each test reads like the stream BuildKit would send.

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::{
    StatusResponse, Vertex, VertexLog, VertexStatus, VertexWarning,
};

/// All test times are seconds after this instant (2023-11-14T22:13:20Z).
pub const EPOCH: i64 = 1_700_000_000;

/// A timestamp `secs` after [`EPOCH`].
pub fn ts(secs: f64) -> Timestamp {
    let whole = secs.floor();
    Timestamp {
        seconds: EPOCH + whole as i64,
        nanos: ((secs - whole) * 1e9).round() as i32,
    }
}

/// An empty message to add parts to.
pub fn msg() -> StatusResponse {
    StatusResponse::default()
}

/// Builder methods on messages.
pub trait MsgBuilder {
    fn vertex(self, v: Vertex) -> Self;
    fn status(self, s: VertexStatus) -> Self;
    fn log(self, l: VertexLog) -> Self;
    fn warning(self, w: VertexWarning) -> Self;
}

impl MsgBuilder for StatusResponse {
    fn vertex(mut self, v: Vertex) -> Self {
        self.vertexes.push(v);
        self
    }
    fn status(mut self, s: VertexStatus) -> Self {
        self.statuses.push(s);
        self
    }
    fn log(mut self, l: VertexLog) -> Self {
        self.logs.push(l);
        self
    }
    fn warning(mut self, w: VertexWarning) -> Self {
        self.warnings.push(w);
        self
    }
}

/// A vertex that has not started.
pub fn vtx(digest: &str, name: &str) -> Vertex {
    Vertex {
        digest: digest.to_string(),
        name: name.to_string(),
        ..Vertex::default()
    }
}

/// Builder methods on vertices.
pub trait VertexBuilder {
    fn queued(self) -> Self;
    fn started_at(self, secs: f64) -> Self;
    fn done(self, start: f64, end: f64) -> Self;
    fn cached_at(self, secs: f64) -> Self;
    fn error(self, msg: &str) -> Self;
    fn inputs(self, inputs: &[&str]) -> Self;
}

impl VertexBuilder for Vertex {
    fn queued(self) -> Self {
        self
    }
    fn started_at(mut self, secs: f64) -> Self {
        self.started = Some(ts(secs));
        self
    }
    fn done(mut self, start: f64, end: f64) -> Self {
        self.started = Some(ts(start));
        self.completed = Some(ts(end));
        self
    }
    fn cached_at(mut self, secs: f64) -> Self {
        self.cached = true;
        self.done(secs, secs)
    }
    fn error(mut self, msg: &str) -> Self {
        self.error = msg.to_string();
        self
    }
    fn inputs(mut self, inputs: &[&str]) -> Self {
        self.inputs = inputs.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// A log chunk from `stream` (1 stdout, 2 stderr) at `secs`.
pub fn log(digest: &str, secs: f64, stream: i64, data: &str) -> VertexLog {
    VertexLog {
        vertex: digest.to_string(),
        timestamp: Some(ts(secs)),
        stream,
        msg: data.as_bytes().to_vec(),
    }
}

/// A running status item that started at `start` and reports at `at`.
pub fn status(
    digest: &str,
    id: &str,
    start: f64,
    at: f64,
    current: i64,
    total: i64,
) -> VertexStatus {
    VertexStatus {
        id: id.to_string(),
        vertex: digest.to_string(),
        name: String::new(),
        current,
        total,
        timestamp: Some(ts(at)),
        started: Some(ts(start)),
        completed: None,
    }
}

/// Builder methods on statuses.
pub trait StatusBuilder {
    fn done(self, secs: f64) -> Self;
}

impl StatusBuilder for VertexStatus {
    fn done(mut self, secs: f64) -> Self {
        self.completed = Some(ts(secs));
        self
    }
}

/// A level-1 warning with only a short text.
pub fn warning(digest: &str, short: &str) -> VertexWarning {
    VertexWarning {
        vertex: digest.to_string(),
        level: 1,
        short: short.as_bytes().to_vec(),
        ..VertexWarning::default()
    }
}

/// Removes ANSI escape sequences (CSI and the two-byte forms), so tests
/// can compare what a terminal would show as text.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}
