//! Typed instructions: each parser [`Node`] checked and turned into an
//! [`Instruction`] with its flags validated, then grouped into [`Stage`]s.
//!
//! Words stay unexpanded here (`$VAR` and quotes are still in them): the
//! converter expands them with each stage's environment, using
//! [`crate::dockerfile::shell::Lexer`]. Semantics and error messages follow
//! BuildKit's `frontend/dockerfile/instructions`.

mod duration;
mod flags;
mod mount;
mod parse;
mod stages;
pub(crate) mod suggest;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use flags::FlagError;
pub(crate) use mount::ram_in_bytes;
pub use mount::{check_mount_syntax, parse_mount, CacheSharing, Mount, MountError, MountType};
pub use parse::parse_instruction;
pub use stages::{group_stages, MetaArg, Stage, Stages};

use super::parser::{Heredoc, KeyValue, Node, Span};

/// One instruction inside a stage, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The lines it spans.
    pub span: Span,
    /// The logical source line, trimmed (BuildKit shows it in progress
    /// output).
    pub source: String,
    /// What it does.
    pub instruction: Instruction,
}

/// A typed instruction (every one but `FROM`, which starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `ADD`.
    Add(AddInstruction),
    /// `ARG a=1 b`.
    Arg(Vec<ArgDefinition>),
    /// `CMD`.
    Cmd(CommandLine),
    /// `COPY`.
    Copy(CopyInstruction),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `ENV a=b c=d` or `ENV a b`.
    Env(Vec<KeyValue>),
    /// `EXPOSE 80/tcp 443`, sorted like BuildKit sorts them.
    Expose(Vec<String>),
    /// `HEALTHCHECK`.
    Healthcheck(HealthConfig),
    /// `LABEL a=b`.
    Label(Vec<KeyValue>),
    /// `MAINTAINER` (deprecated).
    Maintainer(String),
    /// `ONBUILD`.
    Onbuild(OnbuildInstruction),
    /// `RUN`.
    Run(RunInstruction),
    /// `SHELL ["..."]`.
    Shell(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `USER`.
    User(String),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `WORKDIR`.
    Workdir(String),
}

impl Instruction {
    /// The instruction keyword, upper case.
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::Add(_) => "ADD",
            Instruction::Arg(_) => "ARG",
            Instruction::Cmd(_) => "CMD",
            Instruction::Copy(_) => "COPY",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Label(_) => "LABEL",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Run(_) => "RUN",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Workdir(_) => "WORKDIR",
        }
    }
}

/// `FROM [--platform=p] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromInstruction {
    /// The base image or stage name, unexpanded (may use meta ARGs).
    pub base: String,
    /// The stage name, lower-cased.
    pub name: Option<String>,
    /// `--platform`, unexpanded (often `$BUILDPLATFORM`).
    pub platform: Option<String>,
}

/// What [`parse_instruction`] makes of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedInstruction {
    /// A `FROM`, which starts a stage.
    From(FromInstruction),
    /// Anything else.
    Command(Command),
}

/// The command of `RUN`, `CMD` and `ENTRYPOINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the argument vector. Shell form: one string, to be run
    /// with the stage's `SHELL`. May be empty (`CMD []`, a bare `RUN`).
    pub args: Vec<String>,
    /// Shell form: prepend the shell (BuildKit's `PrependShell`).
    pub shell_form: bool,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstruction {
    /// The command.
    pub command: CommandLine,
    /// Heredocs: with `RUN <<EOF` the first one is the script itself;
    /// others are files for the command (`RUN python3 <<EOF`).
    pub files: Vec<Heredoc>,
    /// `--mount` values, unexpanded; parse each with [`parse_mount`] and an
    /// expander at conversion time.
    pub mounts: Vec<String>,
    /// `--network`.
    pub network: Option<NetworkMode>,
    /// `--security`.
    pub security: Option<SecurityMode>,
    /// The names of the flags given (BuildKit records these for checks).
    pub flags_used: Vec<String>,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// The default sandboxed network.
    Default,
    /// No network.
    None,
    /// The host's network (needs the `network.host` entitlement).
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    /// The default.
    Sandbox,
    /// Privileged (needs the `security.insecure` entitlement).
    Insecure,
}

/// One `ARG` name with its optional default, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDefinition {
    /// The name.
    pub key: String,
    /// The default value, quotes still in.
    pub value: Option<String>,
}

/// An inline file from a heredoc in `COPY`/`ADD` sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// The heredoc name, used as the file name.
    pub path: String,
    /// The content, with tabs already chomped for `<<-`.
    pub data: String,
    /// Whether variables in the content are expanded.
    pub expand: bool,
}

/// The sources and destination of `COPY` and `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesAndDest {
    /// Source paths or URLs, unexpanded.
    pub sources: Vec<String>,
    /// Heredoc sources.
    pub contents: Vec<SourceContent>,
    /// The destination, unexpanded.
    pub dest: String,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInstruction {
    /// What and where.
    pub paths: SourcesAndDest,
    /// `--from`: a stage name or index, or an image.
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude`, repeatable.
    pub excludes: Vec<String>,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddInstruction {
    /// What and where.
    pub paths: SourcesAndDest,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// `--checksum`.
    pub checksum: Option<String>,
    /// `--unpack`; `None` when not given (archives from the context are
    /// unpacked, remote ones are not).
    pub unpack: Option<bool>,
    /// `--exclude`, repeatable.
    pub excludes: Vec<String>,
}

/// `HEALTHCHECK`, shaped like the OCI image config's `Healthcheck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// `--interval`; zero means inherit.
    pub interval: Duration,
    /// `--timeout`; zero means inherit.
    pub timeout: Duration,
    /// `--start-period`; zero means inherit.
    pub start_period: Duration,
    /// `--start-interval`; zero means inherit.
    pub start_interval: Duration,
    /// `--retries`; zero means inherit.
    pub retries: u32,
}

/// `ONBUILD`: a trigger stored in the image config, run by images built
/// `FROM` this one. Like BuildKit, the trigger is not checked here beyond
/// its keyword; [`OnbuildInstruction::trigger`] parses it on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnbuildInstruction {
    /// The trigger's source text, as stored in the image config.
    pub expression: String,
    /// The trigger as parsed.
    pub node: Node,
}

impl OnbuildInstruction {
    /// Parses the trigger as an instruction.
    pub fn trigger(&self) -> Result<ParsedInstruction, InstructionError> {
        parse_instruction(&self.node)
    }
}

/// What is wrong with an instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionErrorKind {
    /// A keyword that is not an instruction.
    #[error("unknown instruction: {keyword}{}", suggest::hint(suggestion))]
    UnknownInstruction {
        /// The keyword as written.
        keyword: String,
        /// A likely intended instruction.
        suggestion: Option<String>,
    },
    /// A bad flag.
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A bad `--mount`.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// No arguments where some are needed.
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    /// Not exactly one argument.
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    /// `COPY src` without a destination.
    #[error("{0} requires at least two arguments, but only one was provided. Destination could not be determined")]
    NoDestination(&'static str),
    /// `ENV =x`, `ARG =x`.
    #[error("{0} names can not be blank")]
    BlankName(&'static str),
    /// `FROM a b` or `FROM`.
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    /// `FROM a AS 1x`.
    #[error(
        "invalid name for build stage: {0:?}, name can't start with a number or contain symbols"
    )]
    InvalidStageName(String),
    /// `ONBUILD ONBUILD`.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    /// `ONBUILD FROM` or `ONBUILD MAINTAINER`.
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    /// `COPY a <<EOF`.
    #[error("{0} cannot accept a heredoc as a destination")]
    HeredocDestination(&'static str),
    /// `SHELL sh -c`.
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(&'static str),
    /// `HEALTHCHECK NONE x`.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    /// `HEALTHCHECK CMD` alone.
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckMissingCommand,
    /// `HEALTHCHECK FOO`.
    #[error("Unknown type {0:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType(String),
    /// A duration Go would not parse.
    #[error("{0}")]
    InvalidDuration(String),
    /// A duration between 0 and 1ms.
    #[error("Interval {0:?} cannot be less than 1ms")]
    IntervalTooShort(String),
    /// `--retries=x`.
    #[error("strconv.ParseInt: parsing {0:?}: invalid syntax")]
    InvalidRetries(String),
    /// `--retries=-1`.
    #[error("--retries cannot be negative ({0})")]
    NegativeRetries(i64),
    /// `VOLUME ""`.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// `RUN --network=foo`.
    #[error("unsupported network mode {0:?}")]
    NetworkMode(String),
    /// `RUN --security=foo`.
    #[error("unsupported security mode {0:?}")]
    SecurityMode(String),
    /// An instruction other than `ARG` before the first `FROM`.
    #[error("no build stage in current context")]
    NoStage,
}

/// An instruction error with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}: {kind}", span.start)]
pub struct InstructionError {
    /// The lines of the instruction.
    pub span: Span,
    /// The instruction's logical source line.
    pub source_line: String,
    /// What is wrong.
    pub kind: InstructionErrorKind,
}
