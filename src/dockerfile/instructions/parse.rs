//! Node → typed instruction, one function per instruction, mirroring
//! BuildKit's `instructions/parse.go` (argument counts, flag sets, order of
//! checks and error wording).

use std::time::Duration;

use super::duration::parse_go_duration;
use super::flags::{FlagKind, Flags};
use super::mount::check_mount_syntax;
use super::*;
use crate::dockerfile::parser::{parse_heredoc, NodeArgs};

type Res<T> = Result<T, InstructionErrorKind>;

use FlagKind::{Bool, Strings};
const STRING: FlagKind = FlagKind::String;

const FROM_FLAGS: &[(&str, FlagKind)] = &[("platform", STRING)];
const RUN_FLAGS: &[(&str, FlagKind)] = &[
    ("mount", Strings),
    ("network", STRING),
    ("security", STRING),
];
const COPY_FLAGS: &[(&str, FlagKind)] = &[
    ("from", STRING),
    ("chown", STRING),
    ("chmod", STRING),
    ("link", Bool),
    ("parents", Bool),
    ("exclude", Strings),
];
const ADD_FLAGS: &[(&str, FlagKind)] = &[
    ("chown", STRING),
    ("chmod", STRING),
    ("link", Bool),
    ("keep-git-dir", Bool),
    ("checksum", STRING),
    ("unpack", Bool),
    ("exclude", Strings),
];
const HEALTHCHECK_FLAGS: &[(&str, FlagKind)] = &[
    ("interval", STRING),
    ("timeout", STRING),
    ("start-period", STRING),
    ("start-interval", STRING),
    ("retries", STRING),
];

/// Every instruction keyword, for "did you mean" hints.
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses one node into a `FROM` or a command.
pub fn parse_instruction(node: &Node) -> Result<ParsedInstruction, InstructionError> {
    parse_node(node).map_err(|kind| InstructionError {
        span: node.span,
        source_line: node.original.trim().to_string(),
        kind,
    })
}

fn parse_node(node: &Node) -> Res<ParsedInstruction> {
    let args = node.words();
    let no_flags = || Flags::parse(&node.flags, &[]).map(|_| ());
    let instruction = match node.keyword_lower().as_str() {
        "from" => return parse_from(node).map(ParsedInstruction::From),
        "env" => {
            no_flags()?;
            Instruction::Env(key_values(node, "ENV")?)
        }
        "label" => {
            no_flags()?;
            Instruction::Label(key_values(node, "LABEL")?)
        }
        "maintainer" => Instruction::Maintainer(exactly_one(args, "MAINTAINER", no_flags)?),
        "workdir" => Instruction::Workdir(exactly_one(args, "WORKDIR", no_flags)?),
        "user" => Instruction::User(exactly_one(args, "USER", no_flags)?),
        // BuildKit ignores flags on STOPSIGNAL; we reject them like
        // everywhere else.
        "stopsignal" => Instruction::StopSignal(exactly_one(args, "STOPSIGNAL", no_flags)?),
        "add" => Instruction::Add(parse_add(node)?),
        "copy" => Instruction::Copy(parse_copy(node)?),
        "onbuild" => Instruction::Onbuild(parse_onbuild(node)?),
        "run" => Instruction::Run(parse_run(node)?),
        "cmd" => {
            no_flags()?;
            Instruction::Cmd(command_line(node))
        }
        "entrypoint" => {
            no_flags()?;
            Instruction::Entrypoint(command_line(node))
        }
        "healthcheck" => Instruction::Healthcheck(parse_healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(InstructionErrorKind::AtLeastOneArgument("EXPOSE"));
            }
            no_flags()?;
            let mut ports = args.to_vec();
            ports.sort();
            Instruction::Expose(ports)
        }
        "volume" => {
            if args.is_empty() {
                return Err(InstructionErrorKind::AtLeastOneArgument("VOLUME"));
            }
            no_flags()?;
            let volumes = args
                .iter()
                .map(|v| match v.trim() {
                    "" => Err(InstructionErrorKind::EmptyVolume),
                    v => Ok(v.to_string()),
                })
                .collect::<Res<Vec<_>>>()?;
            Instruction::Volume(volumes)
        }
        "arg" => Instruction::Arg(parse_arg(node, no_flags)?),
        "shell" => {
            no_flags()?;
            if args.is_empty() {
                return Err(InstructionErrorKind::AtLeastOneArgument("SHELL"));
            }
            if !node.json {
                return Err(InstructionErrorKind::NotJson("SHELL"));
            }
            Instruction::Shell(args.to_vec())
        }
        _ => {
            return Err(InstructionErrorKind::UnknownInstruction {
                keyword: node.keyword.clone(),
                suggestion: super::suggest::closest(&node.keyword, INSTRUCTIONS)
                    .map(str::to_string),
            })
        }
    };
    Ok(ParsedInstruction::Command(Command {
        span: node.span,
        source: node.original.trim().to_string(),
        instruction,
    }))
}

fn exactly_one(
    args: &[String],
    name: &'static str,
    no_flags: impl Fn() -> Result<(), FlagError>,
) -> Res<String> {
    let [one] = args else {
        return Err(InstructionErrorKind::ExactlyOneArgument(name));
    };
    no_flags()?;
    Ok(one.clone())
}

/// BuildKit's `handleJSONArgs`: exec form as is, shell form joined into one
/// string.
fn json_args(node: &Node) -> Vec<String> {
    let args = node.words();
    if args.is_empty() {
        return vec![];
    }
    if node.json {
        args.to_vec()
    } else {
        vec![args.join(" ")]
    }
}

fn command_line(node: &Node) -> CommandLine {
    CommandLine {
        args: json_args(node),
        shell_form: !node.json,
    }
}

fn key_values(node: &Node, name: &'static str) -> Res<Vec<KeyValue>> {
    let pairs = match &node.args {
        NodeArgs::KeyValues(kv) => kv.clone(),
        _ => vec![],
    };
    if pairs.is_empty() {
        return Err(InstructionErrorKind::AtLeastOneArgument(name));
    }
    if pairs.iter().any(|kv| kv.key.is_empty()) {
        return Err(InstructionErrorKind::BlankName(name));
    }
    Ok(pairs)
}

fn parse_from(node: &Node) -> Res<FromInstruction> {
    let args = node.words();
    let name = match args {
        [_] => None,
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(InstructionErrorKind::InvalidStageName(name.clone()));
            }
            Some(lower)
        }
        _ => return Err(InstructionErrorKind::FromArguments),
    };
    let flags = Flags::parse(&node.flags, FROM_FLAGS)?;
    Ok(FromInstruction {
        base: args[0].clone(),
        name,
        platform: flags.string("platform"),
    })
}

/// `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_arg(node: &Node, no_flags: impl Fn() -> Result<(), FlagError>) -> Res<Vec<ArgDefinition>> {
    let args = node.words();
    if args.is_empty() {
        return Err(InstructionErrorKind::AtLeastOneArgument("ARG"));
    }
    no_flags()?;
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some(("", _)) => Err(InstructionErrorKind::BlankName("ARG")),
            Some((k, v)) => Ok(ArgDefinition {
                key: k.to_string(),
                value: Some(v.to_string()),
            }),
            None => Ok(ArgDefinition {
                key: arg.clone(),
                value: None,
            }),
        })
        .collect()
}

fn parse_run(node: &Node) -> Res<RunInstruction> {
    let flags = Flags::parse(&node.flags, RUN_FLAGS)?;
    let mounts = flags.list("mount");
    for m in &mounts {
        check_mount_syntax(m)?;
    }
    let network = match flags.string("network").as_deref() {
        None => None,
        Some("default") => Some(NetworkMode::Default),
        Some("none") => Some(NetworkMode::None),
        Some("host") => Some(NetworkMode::Host),
        Some(other) => return Err(InstructionErrorKind::NetworkMode(other.to_string())),
    };
    let security = match flags.string("security").as_deref() {
        None => None,
        Some("sandbox") => Some(SecurityMode::Sandbox),
        Some("insecure") => Some(SecurityMode::Insecure),
        Some(other) => return Err(InstructionErrorKind::SecurityMode(other.to_string())),
    };
    Ok(RunInstruction {
        command: command_line(node),
        files: node.heredocs.clone(),
        mounts,
        network,
        security,
        flags_used: flags.used(),
    })
}

fn sources_and_dest(node: &Node, name: &'static str) -> Res<SourcesAndDest> {
    let args = node.words();
    let Some((dest, sources)) = args.split_last() else {
        return Err(InstructionErrorKind::NoDestination(name));
    };
    if parse_heredoc(dest).is_some() {
        return Err(InstructionErrorKind::HeredocDestination(name));
    }
    let mut paths = Vec::new();
    let mut contents = Vec::new();
    for src in sources {
        match parse_heredoc(src) {
            Some(h) => {
                let doc = node.heredocs.iter().find(|d| d.name == h.name);
                let data = doc.map(|d| {
                    Heredoc {
                        chomp: h.chomp,
                        ..d.clone()
                    }
                    .chomped_content()
                });
                contents.push(SourceContent {
                    path: h.name,
                    data: data.unwrap_or_default(),
                    expand: h.expand,
                });
            }
            None => paths.push(src.clone()),
        }
    }
    Ok(SourcesAndDest {
        sources: paths,
        contents,
        dest: dest.clone(),
    })
}

fn parse_copy(node: &Node) -> Res<CopyInstruction> {
    if node.words().len() < 2 {
        return Err(InstructionErrorKind::NoDestination("COPY"));
    }
    let flags = Flags::parse(&node.flags, COPY_FLAGS)?;
    Ok(CopyInstruction {
        paths: sources_and_dest(node, "COPY")?,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.is_true("link"),
        parents: flags.is_true("parents"),
        excludes: flags.list("exclude"),
    })
}

fn parse_add(node: &Node) -> Res<AddInstruction> {
    if node.words().len() < 2 {
        return Err(InstructionErrorKind::NoDestination("ADD"));
    }
    let flags = Flags::parse(&node.flags, ADD_FLAGS)?;
    Ok(AddInstruction {
        paths: sources_and_dest(node, "ADD")?,
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.is_true("link"),
        keep_git_dir: flags.is_true("keep-git-dir"),
        checksum: flags.string("checksum"),
        unpack: flags.bool("unpack"),
        excludes: flags.list("exclude"),
    })
}

fn parse_onbuild(node: &Node) -> Res<OnbuildInstruction> {
    let NodeArgs::Sub(child) = &node.args else {
        return Err(InstructionErrorKind::AtLeastOneArgument("ONBUILD"));
    };
    Flags::parse(&node.flags, &[])?;
    let trigger = child.keyword.trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err(InstructionErrorKind::OnbuildChain),
        "MAINTAINER" | "FROM" => return Err(InstructionErrorKind::OnbuildTrigger(trigger)),
        _ => {}
    }
    // The original line without the leading `ONBUILD` and whitespace, plus
    // the heredocs, is what BuildKit stores in the image config.
    let original = node.original.trim_start();
    let mut expression = match original.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => original[7..].trim_start().to_string(),
        _ => original.to_string(),
    };
    for h in &node.heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    let mut trigger_node = (**child).clone();
    trigger_node.span = node.span;
    trigger_node.heredocs = node.heredocs.clone();
    Ok(OnbuildInstruction {
        expression,
        node: trigger_node,
    })
}

/// A duration flag: zero when absent or zero, otherwise at least 1ms.
fn interval(flags: &Flags, name: &str) -> Res<Duration> {
    let Some(value) = flags.string(name).filter(|v| !v.is_empty()) else {
        return Ok(Duration::ZERO);
    };
    let nanos = parse_go_duration(&value).map_err(InstructionErrorKind::InvalidDuration)?;
    if nanos == 0 {
        return Ok(Duration::ZERO);
    }
    if nanos < 1_000_000 {
        return Err(InstructionErrorKind::IntervalTooShort(name.to_string()));
    }
    Ok(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

fn parse_healthcheck(node: &Node) -> Res<HealthConfig> {
    let args = node.words();
    let Some(kind) = args.first() else {
        return Err(InstructionErrorKind::AtLeastOneArgument("HEALTHCHECK"));
    };
    let kind = kind.to_uppercase();
    let rest = &args[1..];
    // BuildKit does not look at flags for NONE; we still reject unknown ones.
    let flags = Flags::parse(&node.flags, HEALTHCHECK_FLAGS)?;
    let mut config = HealthConfig {
        test: vec![],
        interval: Duration::ZERO,
        timeout: Duration::ZERO,
        start_period: Duration::ZERO,
        start_interval: Duration::ZERO,
        retries: 0,
    };
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err(InstructionErrorKind::HealthcheckNoneArguments);
        }
        config.test = vec![kind];
        return Ok(config);
    }
    if kind != "CMD" {
        return Err(InstructionErrorKind::HealthcheckType(kind));
    }
    let cmd = if rest.is_empty() {
        vec![]
    } else if node.json {
        rest.to_vec()
    } else {
        vec![rest.join(" ")]
    };
    if cmd.is_empty() {
        return Err(InstructionErrorKind::HealthcheckMissingCommand);
    }
    config.test = std::iter::once(if node.json { "CMD" } else { "CMD-SHELL" }.to_string())
        .chain(cmd)
        .collect();
    config.interval = interval(&flags, "interval")?;
    config.timeout = interval(&flags, "timeout")?;
    config.start_period = interval(&flags, "start-period")?;
    config.start_interval = interval(&flags, "start-interval")?;
    if let Some(r) = flags.string("retries").filter(|r| !r.is_empty()) {
        let n: i64 = r
            .parse::<i32>()
            .map_err(|_| InstructionErrorKind::InvalidRetries(r.clone()))?
            .into();
        config.retries = u32::try_from(n).map_err(|_| InstructionErrorKind::NegativeRetries(n))?;
    }
    Ok(config)
}
