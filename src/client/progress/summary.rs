//! What is left to tell once the stream ends: which step failed with its
//! last output, and the warnings. The CLI prints this with the solve error,
//! because BuildKit's error alone ("exit code: 1") rarely says why.

use std::fmt;

use super::format;
use super::state::{LogLine, ProgressState, Warning};

/// A step that failed, with the output that explains it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedStep {
    /// Display number (`#5`), when the step was numbered.
    pub index: Option<usize>,
    /// The step's name, e.g. `[builder 3/7] RUN cargo build`.
    pub name: String,
    /// BuildKit's error message for the step.
    pub error: String,
    /// The step's last log lines (up to [`super::state::LOG_TAIL`]).
    pub logs: Vec<LogLine>,
}

impl fmt::Display for FailedStep {
    /// The block buildx prints under a failed build:
    ///
    /// ```text
    /// ------
    ///  > [2/3] RUN make:
    /// 0.512 make: *** No rule to make target 'all'.  Stop.
    /// ------
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "------")?;
        writeln!(f, " > {}:", self.name)?;
        for line in &self.logs {
            writeln!(f, "{} {}", format::log_elapsed(line.elapsed), line.text)?;
        }
        write!(f, "------")
    }
}

/// The outcome of a build as seen through its progress stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressSummary {
    /// Steps that failed on their own, in the order they were numbered.
    /// Steps cancelled because another one failed are left out.
    pub failed: Vec<FailedStep>,
    /// Every warning, in arrival order.
    pub warnings: Vec<Warning>,
    /// How many steps there were.
    pub steps: usize,
    /// How many of them came from the cache.
    pub cached: usize,
}

impl ProgressSummary {
    /// Summarises a merged state.
    pub fn from_state(state: &ProgressState) -> ProgressSummary {
        let failed = state
            .numbered()
            .filter(|v| v.error.is_some() && !v.is_canceled())
            .map(|v| FailedStep {
                index: v.index,
                name: v.name.clone(),
                error: v.error.clone().unwrap_or_default(),
                logs: v.log_tail.iter().cloned().collect(),
            })
            .collect();
        ProgressSummary {
            failed,
            warnings: state.warnings().to_vec(),
            steps: state.total(),
            cached: state.numbered().filter(|v| v.cached).count(),
        }
    }

    /// The step to show next to a failed build's error: the first failure,
    /// since later ones are usually its consequences.
    pub fn failure(&self) -> Option<&FailedStep> {
        self.failed.first()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn failure_keeps_the_last_lines_and_skips_cancelled_steps() {
        let mut state = ProgressState::new();
        state.apply(
            &msg()
                .vertex(vtx("sha256:a", "[1/2] FROM alpine").cached_at(0.0))
                .vertex(vtx("sha256:b", "[2/2] RUN make").started_at(1.0))
                .vertex(vtx("sha256:c", "[other 1/1] RUN sleep 9").started_at(1.0)),
        );
        let output: String = (0..30).map(|i| format!("line {i}\n")).collect();
        state.apply(&msg().log(log("sha256:b", 1.5, 2, &output)));
        state.apply(&msg().log(log("sha256:b", 1.75, 2, "make: *** [all] Error 1")));
        state.apply(
            &msg()
                .vertex(
                    vtx("sha256:b", "[2/2] RUN make")
                        .done(1.0, 2.0)
                        .error("exit code: 2"),
                )
                .vertex(
                    vtx("sha256:c", "[other 1/1] RUN sleep 9")
                        .done(1.0, 2.0)
                        .error("context canceled"),
                )
                .warning(warning("sha256:a", "FromAsCasing")),
        );
        let summary = ProgressSummary::from_state(&state);
        assert_eq!(summary.failed.len(), 1);
        assert_eq!(summary.steps, 3);
        assert_eq!(summary.cached, 1);
        assert_eq!(summary.warnings.len(), 1);
        let failure = summary.failure().expect("a failed step");
        assert_eq!(failure.index, Some(2));
        assert_eq!(failure.error, "exit code: 2");
        let report = failure.to_string();
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines.len(), 2 + 20 + 1);
        assert_eq!(lines[0], "------");
        assert_eq!(lines[1], " > [2/2] RUN make:");
        assert_eq!(lines[2], "0.500 line 11");
        assert_eq!(lines[21], "0.750 make: *** [all] Error 1");
        assert_eq!(lines[22], "------");
    }
}
