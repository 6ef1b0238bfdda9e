//! The Dockerfile compiler: text → parsed instructions → one LLB graph per
//! target platform.
//!
//! The front half lives here and knows nothing of LLB:
//!
//! - [`parser`]: bytes → [`Node`]s with line ranges (directives, escapes,
//!   continuations, heredocs, JSON form, flags);
//! - [`instructions`]: nodes → typed, validated instructions grouped into
//!   [`Stage`]s;
//! - [`shell`]: the word expansion the converter applies to instruction
//!   words with each stage's environment;
//! - [`dockerignore`]: `.dockerignore` → exclude patterns.
//!
//! ```
//! let df = crossbuild::dockerfile::parse(b"ARG V=1\nFROM alpine:$V AS base\nRUN echo hi\n")?;
//! let stages = df.stages()?;
//! assert_eq!(stages.meta_args.len(), 1);
//! assert_eq!(stages.stages[0].name.as_deref(), Some("base"));
//! # Ok::<(), crossbuild::dockerfile::Error>(())
//! ```

pub mod convert;
pub mod dockerignore;
pub mod instructions;
pub mod lint;
pub mod parser;
pub mod shell;

pub use instructions::{Command, Instruction, InstructionError, Stage, Stages};
pub use parser::{parse, Directives, Dockerfile, Node, ParseError, Span};

impl Dockerfile {
    /// Parses every instruction and groups them into stages.
    pub fn stages(&self) -> Result<Stages, InstructionError> {
        instructions::group_stages(&self.nodes)
    }

    /// A word expander with this Dockerfile's escape character.
    pub fn lexer(&self) -> shell::Lexer {
        shell::Lexer::new(self.escape)
    }
}

/// Any error from reading a Dockerfile, for callers that do not care which
/// step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An instruction is invalid.
    #[error(transparent)]
    Instruction(#[from] InstructionError),
}

impl Error {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            Error::Parse(e) => e.line,
            Error::Instruction(e) => e.span.start,
        }
    }

    /// The source text of that line (the logical line, for instructions),
    /// when known.
    pub fn source_line(&self) -> Option<&str> {
        match self {
            Error::Parse(e) => e.source_line.as_deref(),
            Error::Instruction(e) => Some(&e.source_line),
        }
    }
}
