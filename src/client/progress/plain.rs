//! The plain display: append-only lines prefixed with the vertex number, for
//! CI logs and pipes, in the shape of buildx's `--progress plain`.
//!
//! ```text
//! #3 [2/5] RUN make
//! #3 0.512 cc -o app main.c
//! #3 DONE 1.2s
//! ```

use std::collections::HashMap;
use std::io::{self, Write};

use super::format;
use super::state::{ProgressState, StatusState, Time, VertexChanges, VertexState};

/// A status that moved less than this share of its total since it was last
/// printed is skipped, so a layer download prints a handful of lines, not
/// thousands (buildx uses the same 5%).
const MIN_PROGRESS_DELTA: f64 = 0.05;

/// ...unless this many seconds passed, so a slow transfer still shows life.
const MIN_TIME_DELTA: f64 = 5.0;

/// Writes the plain display, one batch of changes at a time.
#[derive(Debug, Default)]
pub struct PlainRenderer {
    /// The vertex whose lines were printed last; its header is not repeated.
    current: Option<String>,
    printed_any: bool,
    /// Last printed (current, timestamp) per (vertex, status id).
    last_status: HashMap<(String, String), (i64, Option<Time>)>,
}

impl PlainRenderer {
    /// A renderer that has printed nothing yet.
    pub fn new() -> PlainRenderer {
        PlainRenderer::default()
    }

    /// Prints what `changes` (from [`ProgressState::apply`] or
    /// [`ProgressState::finish`]) changed, given the already-updated `state`.
    pub fn write(
        &mut self,
        state: &ProgressState,
        changes: &[VertexChanges],
        out: &mut impl Write,
    ) -> io::Result<()> {
        for ch in self.print_order(state, changes) {
            self.write_vertex(state, ch, out)?;
        }
        Ok(())
    }

    /// Completed vertices first, in completion order, then the vertex being
    /// printed already (to avoid switching), then the rest by number.
    fn print_order<'a>(
        &self,
        state: &ProgressState,
        changes: &'a [VertexChanges],
    ) -> Vec<&'a VertexChanges> {
        let key = |ch: &VertexChanges| {
            let v = state.vertex(&ch.digest);
            let index = v.and_then(|v| v.index).unwrap_or(usize::MAX);
            let completed = v.and_then(|v| v.completed).filter(|_| ch.completed);
            let is_current = self.current.as_deref() == Some(ch.digest.as_str());
            match completed {
                Some(t) => (0, t, index),
                None if is_current => (1, Time(0), index),
                None => (2, Time(0), index),
            }
        };
        let mut order: Vec<&VertexChanges> = changes.iter().collect();
        order.sort_by_key(|ch| key(ch));
        order
    }

    fn write_vertex(
        &mut self,
        state: &ProgressState,
        ch: &VertexChanges,
        out: &mut impl Write,
    ) -> io::Result<()> {
        let Some(v) = state.vertex(&ch.digest) else {
            return Ok(());
        };
        let Some(index) = v.index else {
            return Ok(());
        };
        let body = self.body_lines(v, ch);
        if body.is_empty() && !ch.started {
            return Ok(());
        }
        if self.current.as_deref() != Some(ch.digest.as_str()) {
            if let Some(prev) = self.current.take().and_then(|d| state.vertex(&d)) {
                if let (Some(prev_index), None) = (prev.index, prev.completed) {
                    writeln!(out, "#{prev_index} ...")?;
                }
            }
            if self.printed_any {
                writeln!(out)?;
            }
            writeln!(out, "#{index} {}", v.name)?;
            self.printed_any = true;
        }
        for line in body {
            writeln!(out, "#{index} {line}")?;
        }
        // Once a vertex is done the next one must start with a header.
        self.current = if ch.completed && v.completed.is_some() {
            None
        } else {
            Some(ch.digest.clone())
        };
        Ok(())
    }

    /// The lines after the `#n ` prefix, in buildx's order: statuses, logs,
    /// warnings, then the outcome.
    fn body_lines(&mut self, v: &VertexState, ch: &VertexChanges) -> Vec<String> {
        let mut lines = Vec::new();
        for id in &ch.statuses {
            if let Some(s) = v.statuses.iter().find(|s| &s.id == id) {
                if self.should_print_status(&v.digest, s) {
                    lines.push(status_line(s));
                }
            }
        }
        for log in &ch.logs {
            lines.push(format!("{} {}", format::log_elapsed(log.elapsed), log.text));
        }
        for w in &ch.warnings {
            lines.push(format!("WARN: {}", w.short));
        }
        if ch.completed && v.completed.is_some() {
            lines.push(outcome_line(v));
        }
        lines
    }

    fn should_print_status(&mut self, digest: &str, s: &StatusState) -> bool {
        let key = (digest.to_string(), s.id.clone());
        if let Some(&(last_current, last_ts)) = self.last_status.get(&key) {
            if s.completed.is_none() {
                let progress = if s.total > 0 {
                    (s.current - last_current) as f64 / s.total as f64
                } else {
                    0.0
                };
                let elapsed = match (s.timestamp, last_ts) {
                    (Some(now), Some(then)) => now.seconds_since(then),
                    _ => 0.0,
                };
                if progress < MIN_PROGRESS_DELTA && elapsed < MIN_TIME_DELTA {
                    return false;
                }
            }
        }
        self.last_status.insert(key, (s.current, s.timestamp));
        true
    }
}

/// `transferring context: 1.20MB 0.3s done`
pub(super) fn status_line(s: &StatusState) -> String {
    let mut line = s.id.clone();
    if s.total != 0 {
        line.push_str(&format!(
            " {} / {}",
            format::bytes(s.current),
            format::bytes(s.total)
        ));
    } else if s.current != 0 {
        line.push_str(&format!(" {}", format::bytes(s.current)));
    }
    if let (Some(started), Some(end)) = (s.started, s.completed.or(s.timestamp)) {
        let secs = end.seconds_since(started);
        if secs > 0.01 {
            line.push_str(&format!(" {secs:.1}s"));
        }
    }
    if s.completed.is_some() {
        line.push_str(" done");
    }
    line
}

/// `DONE 1.2s`, `CACHED`, `ERROR: ...` or `CANCELED`.
fn outcome_line(v: &VertexState) -> String {
    match &v.error {
        Some(_) if v.is_canceled() => "CANCELED".to_string(),
        Some(e) => format!("ERROR: {e}"),
        None if v.cached => "CACHED".to_string(),
        None => match (v.started, v.completed) {
            (Some(s), Some(c)) => format!("DONE {:.1}s", c.seconds_since(s)),
            _ => "DONE".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn render(msgs: &[bollard_buildkit_proto::moby::buildkit::v1::StatusResponse]) -> String {
        let mut state = ProgressState::new();
        let mut plain = PlainRenderer::new();
        let mut out = Vec::new();
        for m in msgs {
            let changes = state.apply(m);
            plain
                .write(&state, &changes, &mut out)
                .expect("write to Vec");
        }
        let changes = state.finish();
        plain
            .write(&state, &changes, &mut out)
            .expect("write to Vec");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn run_step_with_logs_split_across_chunks() {
        let out = render(&[
            msg().vertex(vtx("sha256:a", "[1/2] FROM alpine").queued()),
            msg().vertex(vtx("sha256:a", "[1/2] FROM alpine").cached_at(1.0)),
            msg().vertex(vtx("sha256:b", "[2/2] RUN make").started_at(2.0)),
            msg().log(log("sha256:b", 2.5, 1, "cc -o app")).log(log(
                "sha256:b",
                2.6,
                1,
                " main.c\nlin",
            )),
            msg().log(log("sha256:b", 3.2, 2, "king\n")),
            msg().vertex(vtx("sha256:b", "[2/2] RUN make").done(2.0, 3.25)),
        ]);
        assert_eq!(
            out,
            "#1 [1/2] FROM alpine\n\
             #1 CACHED\n\
             \n\
             #2 [2/2] RUN make\n\
             #2 0.500 cc -o app main.c\n\
             #2 0.600 linking\n\
             #2 DONE 1.2s\n"
        );
    }

    #[test]
    fn failed_step_prints_error_and_unterminated_line() {
        let out =
            render(&[
                msg().vertex(vtx("sha256:b", "[2/2] RUN false").started_at(0.0)),
                msg().log(log("sha256:b", 0.25, 2, "oops")),
                msg().vertex(vtx("sha256:b", "[2/2] RUN false").done(0.0, 0.3).error(
                    "process \"/bin/sh -c false\" did not complete successfully: exit code: 1",
                )),
            ]);
        assert_eq!(
            out,
            "#1 [2/2] RUN false\n\
             #1 0.250 oops\n\
             #1 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n"
        );
    }

    #[test]
    fn statuses_are_throttled_and_interleaving_is_marked() {
        let ctx = "sha256:ctx";
        let out = render(&[
            msg().vertex(vtx(ctx, "[internal] load build context").started_at(0.0)),
            msg().status(status(ctx, "transferring context:", 0.0, 0.1, 100_000, 0)),
            // 0.1% more and 0.1s later: not worth a line.
            msg().status(status(ctx, "transferring context:", 0.0, 0.2, 100_100, 0)),
            msg().vertex(vtx("sha256:x", "[1/2] FROM alpine").started_at(0.2)),
            msg().status(status(ctx, "transferring context:", 0.0, 0.3, 1_200_000, 0).done(0.3)),
            msg().vertex(vtx(ctx, "[internal] load build context").done(0.0, 0.3)),
            msg().warning(warning(
                "sha256:x",
                "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)",
            )),
            msg().vertex(vtx("sha256:x", "[1/2] FROM alpine").done(0.2, 0.4)),
        ]);
        assert_eq!(
            out,
            "#1 [internal] load build context\n\
             #1 transferring context: 100.00kB 0.1s\n\
             #1 ...\n\
             \n\
             #2 [1/2] FROM alpine\n\
             #2 ...\n\
             \n\
             #1 [internal] load build context\n\
             #1 transferring context: 1.20MB 0.3s done\n\
             #1 DONE 0.3s\n\
             \n\
             #2 [1/2] FROM alpine\n\
             #2 WARN: FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n\
             #2 DONE 0.2s\n"
        );
    }

    #[test]
    fn canceled_and_byte_totals() {
        let out = render(&[
            msg()
                .vertex(vtx("sha256:p", "pulling").started_at(0.0))
                .status(status(
                    "sha256:p",
                    "sha256:aaaa",
                    0.0,
                    1.0,
                    1_000_000,
                    3_000_000,
                )),
            msg().vertex(
                vtx("sha256:p", "pulling")
                    .done(0.0, 2.0)
                    .error("context canceled"),
            ),
        ]);
        assert_eq!(
            out,
            "#1 pulling\n\
             #1 sha256:aaaa 1.00MB / 3.00MB 1.0s\n\
             #1 CANCELED\n"
        );
    }
}
