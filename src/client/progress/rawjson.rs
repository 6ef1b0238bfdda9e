//! The rawjson display: one JSON object per status message, shaped like the
//! `client.SolveStatus` that `buildctl`/`buildx --progress rawjson` print, so
//! tools written against their output can read crossbuild's too.
//!
//! Go's encoding is matched where a reader could notice: field names and
//! `omitempty` behaviour, `[]byte` as base64, times as RFC 3339 in UTC, and
//! `<`, `>`, `&` escaped as `\u003c` and friends.

use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use bollard_buildkit_proto::pb;
use serde::Serialize;

use super::format;
use super::state::Time;

/// Writes one JSON line for `msg`.
pub fn write_line(msg: &StatusResponse, out: &mut impl Write) -> io::Result<()> {
    let json = serde_json::to_string(&SolveStatus::from(msg)).map_err(io::Error::other)?;
    writeln!(out, "{}", escape_like_go(&json))
}

/// Converts one message to its JSON line (without the newline).
pub fn to_line(msg: &StatusResponse) -> String {
    match serde_json::to_string(&SolveStatus::from(msg)) {
        Ok(json) => escape_like_go(&json),
        // The structs below hold only strings, numbers and bools.
        Err(_) => String::from("{}"),
    }
}

/// Go's encoder escapes these for safe embedding in HTML; serde does not.
/// They can only occur inside JSON strings, so replacing them is safe.
fn escape_like_go(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn time(ts: &Option<Timestamp>) -> Option<String> {
    ts.as_ref().map(|t| format::rfc3339(Time::from_proto(t)))
}

/// A required Go `time.Time` converted from a nil protobuf timestamp is the
/// Unix epoch (that is what `AsTime` yields), so that is what we print.
fn time_or_epoch(ts: &Option<Timestamp>) -> String {
    time(ts).unwrap_or_else(|| format::rfc3339(Time(0)))
}

fn base64_opt(data: &[u8]) -> Option<String> {
    (!data.is_empty()).then(|| STANDARD.encode(data))
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct SolveStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vertexes: Vec<Vertex>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    statuses: Vec<VertexStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logs: Vec<VertexLog>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<VertexWarning>,
}

#[derive(Serialize)]
struct Vertex {
    #[serde(skip_serializing_if = "String::is_empty")]
    digest: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    cached: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    #[serde(rename = "progressGroup", skip_serializing_if = "Option::is_none")]
    progress_group: Option<ProgressGroup>,
}

#[derive(Serialize)]
struct ProgressGroup {
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "is_false")]
    weak: bool,
}

#[derive(Serialize)]
struct VertexStatus {
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    vertex: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "is_zero")]
    total: i64,
    current: i64,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<String>,
}

#[derive(Serialize)]
struct VertexLog {
    #[serde(skip_serializing_if = "String::is_empty")]
    vertex: String,
    #[serde(skip_serializing_if = "is_zero")]
    stream: i64,
    /// `null` for an empty chunk, as Go prints a nil `[]byte`.
    data: Option<String>,
    timestamp: String,
}

#[derive(Serialize)]
struct VertexWarning {
    #[serde(skip_serializing_if = "String::is_empty")]
    vertex: String,
    #[serde(skip_serializing_if = "is_zero")]
    level: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    short: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    detail: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(rename = "sourceInfo", skip_serializing_if = "Option::is_none")]
    source_info: Option<SourceInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    range: Vec<Range>,
}

/// The LLB definition a source info may carry is left out: it is large,
/// and readers of progress only use the file name and contents.
#[derive(Serialize)]
struct SourceInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    filename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    language: String,
}

#[derive(Serialize)]
struct Range {
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<Position>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<Position>,
}

#[derive(Serialize)]
struct Position {
    #[serde(skip_serializing_if = "is_zero32")]
    line: i32,
    #[serde(skip_serializing_if = "is_zero32")]
    character: i32,
}

fn is_zero32(n: &i32) -> bool {
    *n == 0
}

impl From<&pb::Position> for Position {
    fn from(p: &pb::Position) -> Self {
        Position {
            line: p.line,
            character: p.character,
        }
    }
}

impl From<&StatusResponse> for SolveStatus {
    fn from(msg: &StatusResponse) -> Self {
        SolveStatus {
            vertexes: msg
                .vertexes
                .iter()
                .map(|v| Vertex {
                    digest: v.digest.clone(),
                    inputs: v.inputs.clone(),
                    name: v.name.clone(),
                    started: time(&v.started),
                    completed: time(&v.completed),
                    cached: v.cached,
                    error: v.error.clone(),
                    progress_group: v.progress_group.as_ref().map(|g| ProgressGroup {
                        id: g.id.clone(),
                        name: g.name.clone(),
                        weak: g.weak,
                    }),
                })
                .collect(),
            statuses: msg
                .statuses
                .iter()
                .map(|s| VertexStatus {
                    id: s.id.clone(),
                    vertex: s.vertex.clone(),
                    name: s.name.clone(),
                    total: s.total,
                    current: s.current,
                    timestamp: time_or_epoch(&s.timestamp),
                    started: time(&s.started),
                    completed: time(&s.completed),
                })
                .collect(),
            logs: msg
                .logs
                .iter()
                .map(|l| VertexLog {
                    vertex: l.vertex.clone(),
                    stream: l.stream,
                    data: base64_opt(&l.msg),
                    timestamp: time_or_epoch(&l.timestamp),
                })
                .collect(),
            warnings: msg
                .warnings
                .iter()
                .map(|w| VertexWarning {
                    vertex: w.vertex.clone(),
                    level: w.level,
                    short: base64_opt(&w.short),
                    detail: w.detail.iter().map(|d| STANDARD.encode(d)).collect(),
                    url: w.url.clone(),
                    source_info: w.info.as_ref().map(|i| SourceInfo {
                        filename: i.filename.clone(),
                        data: base64_opt(&i.data),
                        language: i.language.clone(),
                    }),
                    range: w
                        .ranges
                        .iter()
                        .map(|r| Range {
                            start: r.start.as_ref().map(Position::from),
                            end: r.end.as_ref().map(Position::from),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn vertex_with_inputs_and_times() {
        let m = msg().vertex(
            vtx("sha256:b", "[2/2] RUN make")
                .inputs(&["sha256:a"])
                .done(0.0, 1.25),
        );
        assert_eq!(
            to_line(&m),
            r#"{"vertexes":[{"digest":"sha256:b","inputs":["sha256:a"],"name":"[2/2] RUN make","started":"2023-11-14T22:13:20Z","completed":"2023-11-14T22:13:21.25Z"}]}"#
        );
    }

    #[test]
    fn cached_and_failed_vertices() {
        let m = msg()
            .vertex(vtx("sha256:a", "FROM a").cached_at(0.5))
            .vertex(
                vtx("sha256:c", "RUN x")
                    .done(0.0, 1.0)
                    .error("exit code: 1"),
            );
        assert_eq!(
            to_line(&m),
            concat!(
                r#"{"vertexes":[{"digest":"sha256:a","name":"FROM a","started":"2023-11-14T22:13:20.5Z","completed":"2023-11-14T22:13:20.5Z","cached":true},"#,
                r#"{"digest":"sha256:c","name":"RUN x","started":"2023-11-14T22:13:20Z","completed":"2023-11-14T22:13:21Z","error":"exit code: 1"}]}"#
            )
        );
    }

    #[test]
    fn statuses_logs_and_warnings() {
        let m = msg()
            .status(status("sha256:ctx", "transferring context:", 0.0, 0.3, 1200, 0).done(0.3))
            .log(log("sha256:b", 0.5, 1, "hi <you>\n"))
            .warning(warning("sha256:b", "RedundantTargetPlatform"));
        assert_eq!(
            to_line(&m),
            concat!(
                r#"{"statuses":[{"id":"transferring context:","vertex":"sha256:ctx","current":1200,"#,
                r#""timestamp":"2023-11-14T22:13:20.3Z","started":"2023-11-14T22:13:20Z","completed":"2023-11-14T22:13:20.3Z"}],"#,
                r#""logs":[{"vertex":"sha256:b","stream":1,"data":"aGkgPHlvdT4K","timestamp":"2023-11-14T22:13:20.5Z"}],"#,
                r#""warnings":[{"vertex":"sha256:b","level":1,"short":"UmVkdW5kYW50VGFyZ2V0UGxhdGZvcm0="}]}"#
            )
        );
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        let m = msg().vertex(vtx("sha256:x", "RUN a && b > c"));
        assert_eq!(
            to_line(&m),
            r#"{"vertexes":[{"digest":"sha256:x","name":"RUN a \u0026\u0026 b \u003e c"}]}"#
        );
    }

    #[test]
    fn write_line_ends_with_newline() {
        let mut out = Vec::new();
        write_line(&msg(), &mut out).expect("write to Vec");
        assert_eq!(out, b"{}\n");
    }
}
