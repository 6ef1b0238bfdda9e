//! Build progress display: turns BuildKit's `Control.Status` stream into the
//! output users know from buildx — a redrawn `tty` frame, `plain` lines for
//! logs, `rawjson` for tools, or nothing (`quiet`).
//!
//! [`ProgressState`] merges the messages; the renderers only print what each
//! message changed. [`Progress`] ties them to one output for callers that
//! drive it by hand, and [`render`] drives it from a stream:
//!
//! ```no_run
//! # async fn example(
//! #     mut control: bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient<tonic::transport::Channel>,
//! #     build_ref: String,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use bollard_buildkit_proto::moby::buildkit::v1::StatusRequest;
//! use crossbuild::client::progress::{render, ProgressMode};
//!
//! let mode = ProgressMode::from_env()?.unwrap_or(ProgressMode::Auto);
//! let stream = control.status(StatusRequest { r#ref: build_ref }).await?.into_inner();
//! let summary = render(mode, stream, std::io::stderr()).await?;
//! if let Some(step) = summary.failure() {
//!     eprintln!("{step}");
//! }
//! # Ok(())
//! # }
//! ```

mod format;
pub mod plain;
pub mod rawjson;
pub mod state;
pub mod summary;
pub mod tty;

#[cfg(test)]
mod fixtures;

use std::fmt;
use std::io::{IsTerminal, Write};
use std::str::FromStr;
use std::time::{Duration, Instant};

use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use futures::{Stream, StreamExt};

pub use plain::PlainRenderer;
pub use state::{
    LogLine, LogStream, ProgressState, StatusState, Time, VertexChanges, VertexState, Warning,
};
pub use summary::{FailedStep, ProgressSummary};
pub use tty::{TermSize, TtyRenderer};

/// How often the tty frame is redrawn while nothing arrives, so running
/// timers keep moving (buildx uses the same 150 ms).
pub const TICK: Duration = Duration::from_millis(150);

/// Minimum time between two frames drawn because messages arrived; a chatty
/// build would otherwise redraw hundreds of times a second.
const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(100);

/// Which display to use, as named by `--progress` and `BUILDKIT_PROGRESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// `tty` when stderr is a terminal, `plain` otherwise.
    #[default]
    Auto,
    /// The redrawn frame.
    Tty,
    /// Append-only `#n` lines.
    Plain,
    /// One JSON object per status message.
    RawJson,
    /// No progress output; errors still reach the caller.
    Quiet,
}

/// A progress mode name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown progress mode {0:?}: expected one of auto, tty, plain, rawjson, quiet")]
pub struct UnknownProgressMode(pub String);

impl FromStr for ProgressMode {
    type Err = UnknownProgressMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // An empty value means "default" to buildx, so it does here too.
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(ProgressMode::Auto),
            "tty" => Ok(ProgressMode::Tty),
            "plain" => Ok(ProgressMode::Plain),
            "rawjson" => Ok(ProgressMode::RawJson),
            "quiet" => Ok(ProgressMode::Quiet),
            _ => Err(UnknownProgressMode(s.to_string())),
        }
    }
}

impl fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgressMode::Auto => "auto",
            ProgressMode::Tty => "tty",
            ProgressMode::Plain => "plain",
            ProgressMode::RawJson => "rawjson",
            ProgressMode::Quiet => "quiet",
        })
    }
}

impl ProgressMode {
    /// The mode `BUILDKIT_PROGRESS` asks for, if it is set.
    pub fn from_env() -> Result<Option<ProgressMode>, UnknownProgressMode> {
        match std::env::var("BUILDKIT_PROGRESS") {
            Ok(v) => v.parse().map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Replaces `Auto` by what it means for an output that is (or is not)
    /// a terminal; other modes are kept as asked.
    pub fn resolve(self, is_terminal: bool) -> ProgressMode {
        match self {
            ProgressMode::Auto if is_terminal => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            mode => mode,
        }
    }

    /// [`ProgressMode::resolve`] for stderr, where progress is written.
    pub fn resolve_for_stderr(self) -> ProgressMode {
        self.resolve(std::io::stderr().is_terminal())
    }
}

/// One build's progress display, fed message by message.
#[derive(Debug)]
pub struct Progress<W: Write> {
    mode: ProgressMode,
    state: ProgressState,
    plain: PlainRenderer,
    tty: TtyRenderer,
    size: Option<TermSize>,
    out: W,
    /// Progress output is cosmetic: after the first failed write we stop
    /// writing but keep merging, so the summary is still complete.
    broken: bool,
    /// Local clock minus daemon clock, learnt when the first step starts,
    /// so live timers are right even if the daemon's clock is off.
    skew: Option<i128>,
    last_frame: Option<Instant>,
}

impl<W: Write> Progress<W> {
    /// A display in `mode` writing to `out`; `Auto` is resolved against
    /// stderr, where the CLI writes progress.
    pub fn new(mode: ProgressMode, out: W) -> Progress<W> {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Progress {
            mode: mode.resolve_for_stderr(),
            state: ProgressState::new(),
            plain: PlainRenderer::new(),
            tty: TtyRenderer::new(color),
            size: None,
            out,
            broken: false,
            skew: None,
            last_frame: None,
        }
    }

    /// Uses a fixed terminal size instead of asking the terminal each frame.
    pub fn with_term_size(mut self, size: TermSize) -> Progress<W> {
        self.size = Some(size);
        self
    }

    /// The mode in use, never `Auto`.
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// The merged state so far.
    pub fn state(&self) -> &ProgressState {
        &self.state
    }

    /// Whether [`Progress::tick`] does anything, i.e. the caller should run
    /// a timer.
    pub fn wants_ticks(&self) -> bool {
        self.mode == ProgressMode::Tty
    }

    /// Merges one message and shows it.
    pub fn update(&mut self, msg: &StatusResponse) {
        let changes = self.state.apply(msg);
        if self.skew.is_none() {
            self.skew = self.state.start_time().map(|s| Time::now().0 - s.0);
        }
        let result = match self.mode {
            ProgressMode::Plain => self.plain.write(&self.state, &changes, &mut self.out),
            ProgressMode::RawJson => rawjson::write_line(msg, &mut self.out),
            ProgressMode::Tty => {
                let due = self
                    .last_frame
                    .is_none_or(|t| t.elapsed() >= MIN_FRAME_INTERVAL);
                if due {
                    self.draw(false);
                }
                Ok(())
            }
            ProgressMode::Auto | ProgressMode::Quiet => Ok(()),
        };
        self.check(result);
    }

    /// Redraws the tty frame so running timers advance; a no-op in the
    /// other modes.
    pub fn tick(&mut self) {
        if self.mode == ProgressMode::Tty {
            self.draw(false);
        }
    }

    /// Ends the display (final full frame, unfinished log lines) and
    /// summarises the build.
    pub fn finish(mut self) -> ProgressSummary {
        let changes = self.state.finish();
        match self.mode {
            ProgressMode::Plain => {
                let result = self.plain.write(&self.state, &changes, &mut self.out);
                self.check(result);
            }
            ProgressMode::Tty => self.draw(true),
            _ => {}
        }
        let result = self.out.flush();
        self.check(result);
        ProgressSummary::from_state(&self.state)
    }

    fn draw(&mut self, last: bool) {
        let now = Time(Time::now().0 - self.skew.unwrap_or(0));
        let size = self.size.unwrap_or_else(TermSize::detect);
        let result = self.tty.draw(&self.state, now, size, last, &mut self.out);
        self.last_frame = Some(Instant::now());
        self.check(result);
    }

    fn check(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result {
            if !self.broken {
                tracing::warn!(error = %e, "progress output failed; continuing without it");
            }
            self.broken = true;
        }
    }
}

/// The status stream failed before the build ended (e.g. the connection
/// dropped). Carries what was learnt until then.
#[derive(Debug, thiserror::Error)]
#[error("build progress stream failed")]
pub struct StreamError<E: std::error::Error + 'static> {
    /// The stream's error.
    #[source]
    pub error: E,
    /// The progress seen before the failure.
    pub summary: ProgressSummary,
}

/// Shows a whole status stream in `mode` on `out` and summarises it. For
/// `tty` it redraws every [`TICK`] while messages are slow to come.
pub async fn render<S, E, W>(
    mode: ProgressMode,
    stream: S,
    out: W,
) -> Result<ProgressSummary, StreamError<E>>
where
    S: Stream<Item = Result<StatusResponse, E>>,
    E: std::error::Error + 'static,
    W: Write,
{
    let mut progress = Progress::new(mode, out);
    let mut stream = std::pin::pin!(stream);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(msg)) => progress.update(&msg),
                Some(Err(error)) => {
                    let summary = progress.finish();
                    return Err(StreamError { error, summary });
                }
                None => break,
            },
            _ = ticker.tick(), if progress.wants_ticks() => progress.tick(),
        }
    }
    Ok(progress.finish())
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn modes_parse_and_reject_unknown_names() {
        assert_eq!("plain".parse(), Ok(ProgressMode::Plain));
        assert_eq!("RAWJSON".parse(), Ok(ProgressMode::RawJson));
        assert_eq!("".parse(), Ok(ProgressMode::Auto));
        let err = "fancy".parse::<ProgressMode>().expect_err("unknown mode");
        assert_eq!(
            err.to_string(),
            "unknown progress mode \"fancy\": expected one of auto, tty, plain, rawjson, quiet"
        );
        for mode in ["auto", "tty", "plain", "rawjson", "quiet"] {
            assert_eq!(
                mode.parse::<ProgressMode>().map(|m| m.to_string()),
                Ok(mode.into())
            );
        }
    }

    #[test]
    fn auto_follows_the_terminal() {
        assert_eq!(ProgressMode::Auto.resolve(true), ProgressMode::Tty);
        assert_eq!(ProgressMode::Auto.resolve(false), ProgressMode::Plain);
        assert_eq!(ProgressMode::Quiet.resolve(true), ProgressMode::Quiet);
    }

    fn messages() -> Vec<StatusResponse> {
        vec![
            msg().vertex(vtx("sha256:b", "[1/1] RUN false").started_at(0.0)),
            msg().log(log("sha256:b", 0.1, 2, "no")),
            msg().vertex(
                vtx("sha256:b", "[1/1] RUN false")
                    .done(0.0, 0.2)
                    .error("exit code: 1"),
            ),
        ]
    }

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset")]
    struct Reset;

    #[tokio::test]
    async fn render_plain_stream_and_summarise() {
        let stream = futures::stream::iter(messages().into_iter().map(Ok::<_, Reset>));
        let mut out = Vec::new();
        let summary = render(ProgressMode::Plain, stream, &mut out)
            .await
            .expect("stream ok");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "#1 [1/1] RUN false\n#1 0.100 no\n#1 ERROR: exit code: 1\n"
        );
        let failure = summary.failure().expect("failed step");
        assert_eq!(
            failure.to_string(),
            "------\n > [1/1] RUN false:\n0.100 no\n------"
        );
    }

    #[tokio::test]
    async fn render_rawjson_writes_one_line_per_message() {
        let stream = futures::stream::iter(messages().into_iter().map(Ok::<_, Reset>));
        let mut out = Vec::new();
        render(ProgressMode::RawJson, stream, &mut out)
            .await
            .expect("stream ok");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], rawjson::to_line(&messages()[1]));
    }

    #[tokio::test]
    async fn stream_error_keeps_the_summary() {
        let mut items: Vec<Result<StatusResponse, Reset>> =
            messages().into_iter().take(2).map(Ok).collect();
        items.push(Err(Reset));
        let mut out = Vec::new();
        let err = render(ProgressMode::Quiet, futures::stream::iter(items), &mut out)
            .await
            .expect_err("stream fails");
        assert!(out.is_empty());
        assert_eq!(err.summary.steps, 1);
        assert_eq!(err.to_string(), "build progress stream failed");
    }

    #[tokio::test]
    async fn tty_final_frame_lists_every_step() {
        let stream = futures::stream::iter(messages().into_iter().map(Ok::<_, Reset>));
        let mut out = Vec::new();
        let mut progress = Progress::new(ProgressMode::Tty, &mut out).with_term_size(TermSize {
            width: 50,
            height: 20,
        });
        let mut stream = std::pin::pin!(stream);
        while let Some(Ok(m)) = stream.next().await {
            progress.update(&m);
        }
        progress.tick();
        progress.finish();
        let raw = String::from_utf8(out).expect("utf-8");
        let last = raw.rsplit("\x1b[?25l").next().unwrap_or_default();
        let shown = strip_ansi(last).replace('\r', "");
        let lines: Vec<&str> = shown.lines().map(str::trim_end).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("[+] Building "), "{lines:?}");
        assert!(lines[0].ends_with(" (1/1) FINISHED"), "{lines:?}");
        assert_eq!(
            lines[1],
            " => ERROR [1/1] RUN false                    0.2s"
        );
    }

    #[test]
    fn broken_output_still_summarises() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let mut progress = Progress::new(ProgressMode::Plain, Broken);
        for m in messages() {
            progress.update(&m);
        }
        assert_eq!(progress.finish().failed.len(), 1);
    }
}
