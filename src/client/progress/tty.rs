//! The tty display: a frame redrawn in place, in the shape of buildx's
//! default terminal output.
//!
//! ```text
//! [+] Building 3.4s (4/6)
//!  => CACHED [1/3] FROM docker.io/library/alpine                         0.0s
//!  => [2/3] RUN make                                                     1.2s
//!  => => # cc -o app main.c
//! ```
//!
//! Frames are built as plain lines first ([`TtyRenderer::frame`]) so layout
//! can be tested without a terminal; [`TtyRenderer::draw`] adds colour and
//! the cursor movement that overwrites the previous frame.

use std::io::{self, Write};

use super::format;
use super::plain;
use super::state::{ProgressState, StatusState, Time, VertexState};

/// Log lines shown under each running step; buildx shows about as many.
const LOG_LINES_SHOWN: usize = 6;

/// Below this width the timer column is dropped rather than squeezing names
/// into nothing.
const MIN_NAME_WIDTH: usize = 8;

/// Terminal dimensions in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl TermSize {
    /// Size when nothing better is known.
    pub const DEFAULT: TermSize = TermSize {
        width: 80,
        height: 24,
    };

    /// The size of the terminal on stderr: `COLUMNS`/`LINES` when set (so
    /// users and tests can override), else the kernel's idea, else 80x24.
    pub fn detect() -> TermSize {
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
        };
        let kernel = kernel_size();
        TermSize {
            width: env("COLUMNS")
                .or(kernel.map(|k| k.width))
                .unwrap_or(TermSize::DEFAULT.width),
            height: env("LINES")
                .or(kernel.map(|k| k.height))
                .unwrap_or(TermSize::DEFAULT.height),
        }
    }
}

#[cfg(unix)]
fn kernel_size() -> Option<TermSize> {
    let ws = rustix::termios::tcgetwinsize(std::io::stderr()).ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some(TermSize {
        width: usize::from(ws.ws_col),
        height: usize::from(ws.ws_row),
    })
}

#[cfg(not(unix))]
fn kernel_size() -> Option<TermSize> {
    None
}

/// How a frame line is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Running steps and the header.
    Normal,
    /// Finished steps.
    Done,
    /// Failed steps.
    Error,
    /// Cancelled steps and warnings.
    Attention,
    /// Log output of running steps.
    Faint,
}

/// One line of a frame, already fitted to the width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLine {
    /// The visible text, without escape sequences.
    pub text: String,
    /// Its colour.
    pub tone: Tone,
    /// Whether the line belongs to a finished step, and so may be scrolled
    /// away first when the frame is taller than the terminal.
    pub settled: bool,
}

/// Redraws the build's progress in place on a terminal.
#[derive(Debug)]
pub struct TtyRenderer {
    color: bool,
    phase: String,
    /// Lines drawn by the previous frame, which the next one moves back over.
    drawn: usize,
}

impl TtyRenderer {
    /// A renderer; `color` false (e.g. for `NO_COLOR`) keeps only cursor
    /// movement.
    pub fn new(color: bool) -> TtyRenderer {
        TtyRenderer {
            color,
            phase: String::from("Building"),
            drawn: 0,
        }
    }

    /// Lays out a frame at daemon time `now`. A `last` frame lists every
    /// step; others are cut to the terminal's height so the redraw never
    /// scrolls (a scrolled-away line can no longer be overwritten).
    pub fn frame(
        &self,
        state: &ProgressState,
        now: Time,
        size: TermSize,
        last: bool,
    ) -> Vec<FrameLine> {
        let elapsed = state
            .start_time()
            .map(|s| now.seconds_since(s).max(0.0))
            .unwrap_or(0.0);
        let finished = last && state.completed() > 0 && state.completed() == state.total();
        let mut header = format!(
            "[+] {} {elapsed:.1}s ({}/{})",
            self.phase,
            state.completed(),
            state.total()
        );
        if finished {
            header.push_str(" FINISHED");
        }
        let width = usable_width(size.width);
        let mut lines = vec![FrameLine {
            text: format::truncate(&header, width).to_string(),
            tone: Tone::Normal,
            settled: false,
        }];
        let mut body = Vec::new();
        for v in state.numbered().filter(|v| v.started.is_some()) {
            vertex_lines(v, now, width, &mut body);
        }
        if !last {
            limit_height(&mut body, size.height.saturating_sub(2));
        }
        lines.extend(body);
        lines
    }

    /// Draws a frame over the previous one.
    pub fn draw(
        &mut self,
        state: &ProgressState,
        now: Time,
        size: TermSize,
        last: bool,
        out: &mut impl Write,
    ) -> io::Result<()> {
        let lines = self.frame(state, now, size, last);
        // One write per frame: a half-drawn frame is what makes redraws flicker.
        let mut buf = String::from("\x1b[?25l");
        if self.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A\r", self.drawn));
        }
        for line in &lines {
            match (self.color, color_code(line.tone)) {
                (true, Some(code)) => {
                    buf.push_str(&format!("\x1b[{code}m{}\x1b[0m", line.text));
                }
                _ => buf.push_str(&line.text),
            }
            buf.push_str("\x1b[K\n");
        }
        if lines.len() < self.drawn {
            buf.push_str("\x1b[J");
        }
        buf.push_str("\x1b[?25h");
        self.drawn = lines.len();
        out.write_all(buf.as_bytes())?;
        out.flush()
    }
}

fn color_code(tone: Tone) -> Option<&'static str> {
    match tone {
        Tone::Normal => None,
        Tone::Done => Some("34"),
        Tone::Error => Some("31"),
        Tone::Attention => Some("33"),
        Tone::Faint => Some("2"),
    }
}

/// Leaves the last column free: writing into it makes some terminals wrap,
/// and a wrapped line breaks the count the redraw relies on.
fn usable_width(width: usize) -> usize {
    width.saturating_sub(1).max(1)
}

fn vertex_lines(v: &VertexState, now: Time, width: usize, out: &mut Vec<FrameLine>) {
    let settled = v.completed.is_some();
    let mut name = v.name.replace('\t', " ");
    let mut tone = if settled { Tone::Done } else { Tone::Normal };
    if v.is_canceled() {
        name = format!("CANCELED {name}");
        tone = Tone::Attention;
    } else if v.error.is_some() {
        name = format!("ERROR {name}");
        tone = Tone::Error;
    }
    if v.cached {
        name = format!("CACHED {name}");
    }
    let secs = v.duration(now).unwrap_or(0.0);
    out.push(FrameLine {
        text: fit(&format!(" => {name}"), &timer(secs), width),
        tone,
        settled,
    });
    for s in &v.statuses {
        let Some(started) = s.started else { continue };
        let secs = s.completed.unwrap_or(now).seconds_since(started);
        // The plain line minus its timing, which has its own column here.
        let mut text = plain::status_line(&StatusState {
            started: None,
            completed: None,
            ..s.clone()
        });
        text.insert_str(0, " => => ");
        out.push(FrameLine {
            text: fit(&text, &timer(secs), width),
            tone,
            settled: settled || s.completed.is_some(),
        });
    }
    for w in &v.warnings {
        out.push(FrameLine {
            text: format::truncate(&format!(" => WARN: {}", w.short), width).to_string(),
            tone: Tone::Attention,
            settled,
        });
    }
    if v.is_running() {
        let skip = v.log_tail.len().saturating_sub(LOG_LINES_SHOWN);
        for line in v.log_tail.iter().skip(skip) {
            let text = format!(" => => # {}", visible_text(&line.text));
            out.push(FrameLine {
                text: format::truncate(&text, width).to_string(),
                tone: Tone::Faint,
                settled: false,
            });
        }
    }
}

/// ` 1.2s`; tiny durations show as 0.0s so instant steps do not jitter.
fn timer(secs: f64) -> String {
    let secs = if secs < 0.05 { 0.0 } else { secs };
    format!(" {secs:.1}s")
}

/// `left`, padded so `right` ends at the usable width; the name is cut
/// first, and on very narrow terminals the timer goes too.
fn fit(left: &str, right: &str, width: usize) -> String {
    let (lw, rw) = (left.chars().count(), right.chars().count());
    if lw + rw <= width {
        return format!("{left}{}{right}", " ".repeat(width - lw - rw));
    }
    if width >= rw + MIN_NAME_WIDTH {
        return format!("{}{right}", format::truncate(left, width - rw));
    }
    format::truncate(left, width).to_string()
}

/// What a terminal would leave visible of a log line: the text after the
/// last carriage return (progress bars redraw with `\r`), without escape
/// sequences or other control characters that would corrupt the frame.
fn visible_text(line: &str) -> String {
    let line = line.trim_end_matches('\r');
    let line = line.rsplit('\r').next().unwrap_or(line);
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Drops the oldest finished lines until the frame fits; if running steps
/// alone are too many, keeps the newest lines.
fn limit_height(lines: &mut Vec<FrameLine>, max: usize) {
    let mut excess = lines.len().saturating_sub(max);
    if excess == 0 {
        return;
    }
    lines.retain(|l| {
        if excess > 0 && l.settled {
            excess -= 1;
            false
        } else {
            true
        }
    });
    if lines.len() > max {
        lines.drain(..lines.len() - max);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn t(secs: f64) -> Time {
        Time::from_proto(&ts(secs))
    }

    const WIDE: TermSize = TermSize {
        width: 61,
        height: 40,
    };

    fn texts(lines: &[FrameLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.text.trim_end().to_string())
            .collect()
    }

    fn build() -> ProgressState {
        let mut state = ProgressState::new();
        for m in [
            msg()
                .vertex(vtx("sha256:a", "[1/3] FROM alpine").cached_at(0.0))
                .vertex(vtx("sha256:c", "[3/3] COPY app /").queued()),
            msg().vertex(vtx("sha256:b", "[2/3] RUN\tmake").started_at(0.2)),
            msg()
                .log(log("sha256:b", 0.5, 1, "cc -o app main.c\n"))
                .log(log(
                    "sha256:b",
                    0.6,
                    1,
                    "\x1b[1mlinking\x1b[0m\n50%\r100%\n",
                )),
        ] {
            state.apply(&m);
        }
        state
    }

    #[test]
    fn running_frame_shows_timers_and_log_tail() {
        let state = build();
        let r = TtyRenderer::new(true);
        assert_eq!(
            texts(&r.frame(&state, t(1.4), WIDE, false)),
            [
                "[+] Building 1.4s (1/3)",
                " => CACHED [1/3] FROM alpine                            0.0s",
                " => [2/3] RUN make                                      1.2s",
                " => => # cc -o app main.c",
                " => => # linking",
                " => => # 100%",
            ]
        );
    }

    #[test]
    fn final_frame_collapses_finished_steps() {
        let mut state = build();
        state.apply(
            &msg()
                .vertex(vtx("sha256:b", "[2/3] RUN make").done(0.2, 1.4))
                .vertex(vtx("sha256:c", "[3/3] COPY app /").done(1.4, 1.5))
                .status(status("sha256:c", "copying", 1.4, 1.5, 2_000, 0).done(1.5)),
        );
        let mut r = TtyRenderer::new(true);
        let mut out = Vec::new();
        r.draw(&state, t(1.0), WIDE, false, &mut out)
            .expect("write to Vec");
        r.draw(&state, t(1.6), WIDE, true, &mut out)
            .expect("write to Vec");
        let raw = String::from_utf8(out).expect("utf-8");
        // Each frame starts by hiding the cursor; the terminal shows the last.
        let last = raw.rsplit("\x1b[?25l").next().unwrap_or_default();
        let shown = strip_ansi(last).replace('\r', "");
        assert_eq!(
            shown.lines().map(str::trim_end).collect::<Vec<_>>(),
            [
                "[+] Building 1.6s (3/3) FINISHED",
                " => CACHED [1/3] FROM alpine                            0.0s",
                " => [2/3] RUN make                                      1.2s",
                " => [3/3] COPY app /                                    0.1s",
                " => => copying 2.00kB                                   0.1s",
            ]
        );
    }

    #[test]
    fn redraw_moves_back_over_the_previous_frame() {
        let state = build();
        let mut r = TtyRenderer::new(false);
        let mut out = Vec::new();
        r.draw(&state, t(1.0), WIDE, false, &mut out)
            .expect("write to Vec");
        out.clear();
        r.draw(&state, t(1.1), WIDE, false, &mut out)
            .expect("write to Vec");
        let s = String::from_utf8(out).expect("utf-8");
        assert!(
            s.starts_with("\x1b[?25l\x1b[6A\r[+] Building 1.1s"),
            "{s:?}"
        );
    }

    #[test]
    fn failed_step_is_marked() {
        let mut state = build();
        state.apply(
            &msg().vertex(
                vtx("sha256:b", "[2/3] RUN make")
                    .done(0.2, 1.0)
                    .error("exit code: 2"),
            ),
        );
        let lines = TtyRenderer::new(true).frame(&state, t(2.0), WIDE, true);
        assert_eq!(
            lines[2].text.trim_end(),
            " => ERROR [2/3] RUN make                                0.8s"
        );
        assert_eq!(lines[2].tone, Tone::Error);
        assert_eq!(lines.len(), 3, "no log tail for finished steps");
    }

    #[test]
    fn narrow_terminals_truncate_every_line() {
        let state = build();
        let r = TtyRenderer::new(false);
        for width in [1, 5, 12, 20, 30] {
            let size = TermSize { width, height: 40 };
            for line in r.frame(&state, t(1.0), size, false) {
                assert!(
                    line.text.chars().count() < width.max(2),
                    "{width}: {:?}",
                    line.text
                );
            }
        }
        let size = TermSize {
            width: 24,
            height: 40,
        };
        assert_eq!(
            r.frame(&state, t(1.0), size, false)[2].text,
            " => [2/3] RUN make 0.8s"
        );
    }

    #[test]
    fn short_terminals_drop_finished_lines_first() {
        let state = build();
        let size = TermSize {
            width: 61,
            height: 6,
        };
        assert_eq!(
            texts(&TtyRenderer::new(false).frame(&state, t(1.0), size, false)),
            [
                "[+] Building 1.0s (1/3)",
                " => [2/3] RUN make                                      0.8s",
                " => => # cc -o app main.c",
                " => => # linking",
                " => => # 100%",
            ]
        );
    }
}
