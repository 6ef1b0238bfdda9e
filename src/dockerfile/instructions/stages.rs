//! Grouping instructions into build stages, with the `ARG`s before the first
//! `FROM` kept apart as meta args (they are in scope for `FROM` lines only).

use super::*;

/// `ARG`s before the first `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaArg {
    /// The lines of the `ARG` instruction.
    pub span: Span,
    /// Its source line.
    pub source: String,
    /// The names and defaults it declares.
    pub args: Vec<ArgDefinition>,
}

/// One build stage: a `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base image or stage, unexpanded.
    pub base: String,
    /// `--platform`, unexpanded.
    pub platform: Option<String>,
    /// The instructions of the stage, in order.
    pub commands: Vec<Command>,
    /// The lines of the `FROM`.
    pub span: Span,
    /// The `FROM` source line.
    pub source: String,
    /// Comment lines directly above the `FROM`.
    pub comments: Vec<String>,
}

/// All stages of a Dockerfile and its meta args.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stages {
    /// `ARG`s before the first `FROM`.
    pub meta_args: Vec<MetaArg>,
    /// The stages, in order; the last one is the default target.
    pub stages: Vec<Stage>,
}

impl Stages {
    /// The stage named `name` (stage names are case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<(usize, &Stage)> {
        let lower = name.to_lowercase();
        self.stages
            .iter()
            .enumerate()
            .find(|(_, s)| s.name.as_deref() == Some(lower.as_str()))
    }
}

/// Parses every node and groups the results into stages.
pub fn group_stages(nodes: &[Node]) -> Result<Stages, InstructionError> {
    let mut out = Stages::default();
    for node in nodes {
        match parse_instruction(node)? {
            ParsedInstruction::From(from) => out.stages.push(Stage {
                name: from.name,
                base: from.base,
                platform: from.platform,
                commands: Vec::new(),
                span: node.span,
                source: node.original.trim().to_string(),
                comments: node.comments.clone(),
            }),
            ParsedInstruction::Command(cmd) => match (out.stages.last_mut(), cmd.instruction) {
                (Some(stage), instruction) => stage.commands.push(Command { instruction, ..cmd }),
                (None, Instruction::Arg(args)) => out.meta_args.push(MetaArg {
                    span: cmd.span,
                    source: cmd.source,
                    args,
                }),
                (None, _) => {
                    return Err(InstructionError {
                        span: node.span,
                        source_line: node.original.trim().to_string(),
                        kind: InstructionErrorKind::NoStage,
                    })
                }
            },
        }
    }
    Ok(out)
}
