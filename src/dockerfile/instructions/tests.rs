use super::*;
use crate::dockerfile::parse;

/// Parses `FROM base` + `body` and returns the commands of the one stage.
fn commands(body: &str) -> Vec<Instruction> {
    let text = format!("FROM base\n{body}");
    let df = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    let stages = df.stages().unwrap_or_else(|e| panic!("{body:?}: {e}"));
    stages.stages[0]
        .commands
        .iter()
        .map(|c| c.instruction.clone())
        .collect()
}

fn one(body: &str) -> Instruction {
    let mut v = commands(body);
    assert_eq!(v.len(), 1, "{body:?}");
    v.remove(0)
}

/// The error for `FROM base` + `body`.
fn error(body: &str) -> InstructionError {
    let text = format!("FROM base\n{body}");
    let df = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    match df.stages() {
        Ok(s) => panic!("{body:?}: expected an error, got {s:?}"),
        Err(e) => e,
    }
}

fn msg(body: &str) -> String {
    error(body).kind.to_string()
}

#[test]
fn stages_and_meta_args() {
    let df = parse(b"ARG A=1 B\nARG C\n# the builder\nFROM --platform=$BUILDPLATFORM golang:$A AS Build\nRUN go build\nFROM scratch\nCOPY --from=build /out /\n")
        .expect("parses");
    let s = df.stages().expect("valid");
    assert_eq!(s.meta_args.len(), 2);
    assert_eq!(
        s.meta_args[0].args[0],
        ArgDefinition {
            key: "A".into(),
            value: Some("1".into())
        }
    );
    assert_eq!(
        s.meta_args[0].args[1],
        ArgDefinition {
            key: "B".into(),
            value: None
        }
    );
    assert_eq!(s.meta_args[1].span, Span { start: 2, end: 2 });
    assert_eq!(s.stages.len(), 2);
    let b = &s.stages[0];
    assert_eq!(b.name.as_deref(), Some("build"));
    assert_eq!(b.base, "golang:$A");
    assert_eq!(b.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(b.span, Span { start: 4, end: 4 });
    assert_eq!(b.comments, ["the builder"]);
    assert_eq!(b.commands.len(), 1);
    assert_eq!(b.commands[0].source, "RUN go build");
    assert_eq!(s.stages[1].name, None);
    assert_eq!(s.by_name("BUILD").map(|(i, _)| i), Some(0));
}

#[test]
fn from_errors() {
    let e = |t: &str| {
        parse(t.as_bytes())
            .expect("parses")
            .stages()
            .unwrap_err()
            .kind
    };
    assert_eq!(e("FROM a b\n"), InstructionErrorKind::FromArguments);
    assert_eq!(e("FROM a as b c\n"), InstructionErrorKind::FromArguments);
    assert_eq!(e("FROM\n"), InstructionErrorKind::FromArguments);
    assert_eq!(
        e("FROM a AS 1x\n"),
        InstructionErrorKind::InvalidStageName("1x".into())
    );
    assert_eq!(
        e("FROM a AS b$c\n"),
        InstructionErrorKind::InvalidStageName("b$c".into())
    );
    assert_eq!(e("FROM --foo=x a\n").to_string(), "unknown flag: foo");
    assert_eq!(e("RUN x\n"), InstructionErrorKind::NoStage);
    assert!(parse(b"FROM a aS my-stage_1.x\n")
        .expect("p")
        .stages()
        .is_ok());
}

#[test]
fn unknown_instruction_and_flag_name_the_line() {
    let e = error("RUN ok\nFOO bar\n");
    assert_eq!(e.to_string(), "line 3: unknown instruction: FOO");
    assert_eq!(e.source_line, "FOO bar");
    let e = error("COPY --foo=1 a b\n");
    assert_eq!(e.to_string(), "line 2: unknown flag: foo");
    assert_eq!(e.span, Span { start: 2, end: 2 });
    assert_eq!(msg("ENV --x=1 a=b\n"), "unknown flag: x");
    assert_eq!(msg("STOPSIGNAL --x SIGTERM\n"), "unknown flag: x");
    assert_eq!(
        msg("RUNN x\n"),
        "unknown instruction: RUNN (did you mean RUN?)"
    );
    assert_eq!(
        msg("copy --chmown=1 a b\n"),
        "unknown flag: chmown (did you mean --chown?)"
    );
}

#[test]
fn run_forms_and_flags() {
    let Instruction::Run(r) = one("RUN echo $HOME && ls\n") else {
        panic!()
    };
    assert_eq!(
        r.command,
        CommandLine {
            args: vec!["echo $HOME && ls".into()],
            shell_form: true
        }
    );
    let Instruction::Run(r) = one("RUN [\"ls\", \"-l\"]\n") else {
        panic!()
    };
    assert_eq!(
        r.command,
        CommandLine {
            args: vec!["ls".into(), "-l".into()],
            shell_form: false
        }
    );
    let Instruction::Run(r) = one(
        "RUN --mount=type=cache,target=/root/.cache,id=$ID --mount=type=secret,id=tok --network=none --security=insecure make\n",
    ) else {
        panic!()
    };
    assert_eq!(
        r.mounts,
        [
            "type=cache,target=/root/.cache,id=$ID",
            "type=secret,id=tok"
        ]
    );
    assert_eq!(r.network, Some(NetworkMode::None));
    assert_eq!(r.security, Some(SecurityMode::Insecure));
    assert_eq!(r.flags_used, ["mount", "network", "security"]);
    let m = parse_mount(&r.mounts[0], &mut |v| Ok(v.replace("$ID", "pip"))).expect("mount");
    assert_eq!((m.kind, m.id.as_str()), (MountType::Cache, "pip"));
    let Instruction::Run(r) = one("RUN --network=host --security=sandbox x\n") else {
        panic!()
    };
    assert_eq!(
        (r.network, r.security),
        (Some(NetworkMode::Host), Some(SecurityMode::Sandbox))
    );
    let Instruction::Run(r) = one("RUN --network=default x\n") else {
        panic!()
    };
    assert_eq!(r.network, Some(NetworkMode::Default));
    assert_eq!(
        msg("RUN --network=bridge x\n"),
        "unsupported network mode \"bridge\""
    );
    assert_eq!(
        msg("RUN --security=root x\n"),
        "unsupported security mode \"root\""
    );
    assert_eq!(
        msg("RUN --mount=from=$X,target=/a x\n"),
        "'from' doesn't support variable expansion, define alias stage instead"
    );
    assert_eq!(
        msg("RUN --network=none --network=host x\n"),
        "duplicate flag specified: network"
    );
}

#[test]
fn run_heredocs() {
    let Instruction::Run(r) = one("RUN <<EOF\nset -e\necho $X\nEOF\n") else {
        panic!()
    };
    assert_eq!(r.command.args, ["<<EOF"]);
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].content, "set -e\necho $X\n");
    assert!(r.files[0].expand);
    let Instruction::Run(r) = one("RUN python3 <<'PY' > out <<-SH\nprint(1)\nPY\n\techo\n\tSH\n")
    else {
        panic!()
    };
    assert_eq!(r.files.len(), 2);
    assert!(!r.files[0].expand);
    assert_eq!(r.files[1].chomped_content(), "echo\n");
}

#[test]
fn cmd_and_entrypoint() {
    assert_eq!(
        one("CMD [\"a\", \"b\"]\n"),
        Instruction::Cmd(CommandLine {
            args: vec!["a".into(), "b".into()],
            shell_form: false
        })
    );
    assert_eq!(
        one("CMD echo  hi\n"),
        Instruction::Cmd(CommandLine {
            args: vec!["echo  hi".into()],
            shell_form: true
        })
    );
    assert_eq!(
        one("ENTRYPOINT []\n"),
        Instruction::Entrypoint(CommandLine {
            args: vec![],
            shell_form: false
        })
    );
    assert_eq!(
        one("ENTRYPOINT\n"),
        Instruction::Entrypoint(CommandLine {
            args: vec![],
            shell_form: true
        })
    );
}

#[test]
fn env_label_arg() {
    let Instruction::Env(kv) = one("ENV A=1 B=\"two words\"\n") else {
        panic!()
    };
    assert_eq!(kv.len(), 2);
    assert_eq!(
        (kv[1].key.as_str(), kv[1].value.as_str()),
        ("B", "\"two words\"")
    );
    let Instruction::Env(kv) = one("ENV A 1 2 3\n") else {
        panic!()
    };
    assert_eq!((kv[0].value.as_str(), kv[0].legacy), ("1 2 3", true));
    let Instruction::Label(kv) = one("LABEL org.opencontainers.image.title=\"x y\" a=b\n") else {
        panic!()
    };
    assert_eq!(kv[0].key, "org.opencontainers.image.title");
    let Instruction::Arg(a) = one("ARG A B=2 C=\"x y\"\n") else {
        panic!()
    };
    assert_eq!(a.len(), 3);
    assert_eq!(a[2].value.as_deref(), Some("\"x y\""));
    assert_eq!(msg("ENV\n"), "ENV requires at least one argument");
    assert_eq!(msg("LABEL\n"), "LABEL requires at least one argument");
    assert_eq!(msg("ENV =x\n"), "ENV names can not be blank");
    assert_eq!(msg("ARG =x\n"), "ARG names can not be blank");
    assert_eq!(msg("ARG\n"), "ARG requires at least one argument");
}

#[test]
fn single_argument_instructions() {
    assert_eq!(one("USER app:app\n"), Instruction::User("app:app".into()));
    assert_eq!(
        one("WORKDIR /app dir\n"),
        Instruction::Workdir("/app dir".into())
    );
    assert_eq!(
        one("STOPSIGNAL SIGKILL\n"),
        Instruction::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER me <me@x>\n"),
        Instruction::Maintainer("me <me@x>".into())
    );
    assert_eq!(msg("USER\n"), "USER requires exactly one argument");
    assert_eq!(msg("WORKDIR\n"), "WORKDIR requires exactly one argument");
    assert_eq!(
        msg("STOPSIGNAL\n"),
        "STOPSIGNAL requires exactly one argument"
    );
    assert_eq!(
        msg("MAINTAINER\n"),
        "MAINTAINER requires exactly one argument"
    );
}

#[test]
fn expose_volume_shell() {
    assert_eq!(
        one("EXPOSE 8080 443/tcp 80\n"),
        Instruction::Expose(vec!["443/tcp".into(), "80".into(), "8080".into()])
    );
    assert_eq!(
        one("VOLUME /a /b\n"),
        Instruction::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        one("VOLUME [\"/a b\"]\n"),
        Instruction::Volume(vec!["/a b".into()])
    );
    assert_eq!(
        one("SHELL [\"pwsh\", \"-c\"]\n"),
        Instruction::Shell(vec!["pwsh".into(), "-c".into()])
    );
    assert_eq!(msg("EXPOSE\n"), "EXPOSE requires at least one argument");
    assert_eq!(msg("VOLUME\n"), "VOLUME requires at least one argument");
    assert_eq!(
        msg("VOLUME [\"\"]\n"),
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(
        msg("SHELL sh -c\n"),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(msg("SHELL []\n"), "SHELL requires at least one argument");
}

#[test]
fn copy_and_add() {
    let Instruction::Copy(c) = one(
        "COPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude=tmp a b /dst/\n",
    ) else {
        panic!()
    };
    assert_eq!(c.paths.sources, ["a", "b"]);
    assert_eq!(c.paths.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(
        (c.chown.as_deref(), c.chmod.as_deref()),
        (Some("1:2"), Some("755"))
    );
    assert!(c.link && c.parents);
    assert_eq!(c.excludes, ["*.md", "tmp"]);
    let Instruction::Copy(c) = one("COPY [\"a b\", \"/c d/\"]\n") else {
        panic!()
    };
    assert_eq!(
        (c.paths.sources.as_slice(), c.paths.dest.as_str()),
        (&["a b".to_string()][..], "/c d/")
    );
    assert!(!c.link);
    let Instruction::Add(a) = one(
        "ADD --chown=x --chmod=644 --link=false --keep-git-dir --checksum=sha256:abc --unpack=false --exclude=.git https://x/y.tar /z\n",
    ) else {
        panic!()
    };
    assert_eq!(a.paths.sources, ["https://x/y.tar"]);
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert!(a.keep_git_dir && !a.link);
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.excludes, [".git"]);
    let Instruction::Add(a) = one("ADD a b\n") else {
        panic!()
    };
    assert_eq!(a.unpack, None);
    assert_eq!(
        msg("COPY a\n"),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert!(msg("ADD a\n").starts_with("ADD requires at least two arguments"));
    assert_eq!(msg("ADD --from=x a b\n"), "unknown flag: from");
    assert_eq!(
        msg("COPY --link=maybe a b\n"),
        "expecting boolean value for flag link, not: maybe"
    );
}

#[test]
fn copy_heredoc_sources() {
    let Instruction::Copy(c) =
        one("COPY <<EOF <<-\"RAW\" file /dst/\nhello $X\nEOF\n\tkeep $X\n\tRAW\n")
    else {
        panic!()
    };
    assert_eq!(c.paths.sources, ["file"]);
    assert_eq!(c.paths.contents.len(), 2);
    assert_eq!(
        c.paths.contents[0],
        SourceContent {
            path: "EOF".into(),
            data: "hello $X\n".into(),
            expand: true
        }
    );
    assert_eq!(
        c.paths.contents[1],
        SourceContent {
            path: "RAW".into(),
            data: "keep $X\n".into(),
            expand: false
        }
    );
    assert_eq!(
        msg("COPY a <<EOF\nx\nEOF\n"),
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn healthcheck() {
    let Instruction::Healthcheck(h) = one(
        "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=1s --retries=3 CMD curl -f http://localhost/\n",
    ) else {
        panic!()
    };
    assert_eq!(h.test, ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(h.interval, Duration::from_secs(30));
    assert_eq!(h.timeout, Duration::from_secs(90));
    assert_eq!(h.start_period, Duration::from_secs(5));
    assert_eq!(h.start_interval, Duration::from_secs(1));
    assert_eq!(h.retries, 3);
    let Instruction::Healthcheck(h) = one("HEALTHCHECK cmd [\"/bin/check\", \"-q\"]\n") else {
        panic!()
    };
    assert_eq!(h.test, ["CMD", "/bin/check", "-q"]);
    assert_eq!(h.interval, Duration::ZERO);
    let Instruction::Healthcheck(h) = one("HEALTHCHECK none\n") else {
        panic!()
    };
    assert_eq!(h.test, ["NONE"]);
    let Instruction::Healthcheck(h) = one("HEALTHCHECK --interval=0s CMD x\n") else {
        panic!()
    };
    assert_eq!(h.interval, Duration::ZERO);
    assert_eq!(
        msg("HEALTHCHECK NONE x\n"),
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        msg("HEALTHCHECK CMD\n"),
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        msg("HEALTHCHECK FOO x\n"),
        "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        msg("HEALTHCHECK\n"),
        "HEALTHCHECK requires at least one argument"
    );
    assert_eq!(
        msg("HEALTHCHECK --interval=1us CMD x\n"),
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(
        msg("HEALTHCHECK --timeout=5 CMD x\n"),
        "time: missing unit in duration \"5\""
    );
    assert_eq!(
        msg("HEALTHCHECK --retries=-1 CMD x\n"),
        "--retries cannot be negative (-1)"
    );
    assert_eq!(
        msg("HEALTHCHECK --retries=x CMD x\n"),
        "strconv.ParseInt: parsing \"x\": invalid syntax"
    );
    assert_eq!(msg("HEALTHCHECK --foo=1 CMD x\n"), "unknown flag: foo");
}

#[test]
fn onbuild() {
    let Instruction::Onbuild(o) = one("ONBUILD RUN echo hi\n") else {
        panic!()
    };
    assert_eq!(o.expression, "RUN echo hi");
    let ParsedInstruction::Command(c) = o.trigger().expect("valid trigger") else {
        panic!()
    };
    assert_eq!(c.instruction.name(), "RUN");
    let Instruction::Onbuild(o) = one("onbuild COPY <<EOF /x\nhi\nEOF\n") else {
        panic!()
    };
    assert_eq!(o.expression, "COPY <<EOF /x\nhi\nEOF");
    // Like BuildKit, an unknown trigger is only found when the trigger runs.
    let Instruction::Onbuild(o) = one("ONBUILD BOGUS x\n") else {
        panic!()
    };
    assert!(o.trigger().is_err());
    assert_eq!(
        msg("ONBUILD ONBUILD RUN x\n"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        msg("ONBUILD FROM x\n"),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        msg("ONBUILD maintainer x\n"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(msg("ONBUILD\n"), "ONBUILD requires at least one argument");
}

#[test]
fn ten_thousand_stages_quickly() {
    let mut text = String::from("ARG BASE=alpine\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "FROM $BASE AS s{i}\nRUN --mount=type=cache,target=/c echo {i}\nCOPY --from=s0 /a /b\n"
        ));
    }
    let start = std::time::Instant::now();
    let df = parse(text.as_bytes()).expect("parses");
    let stages = df.stages().expect("valid");
    assert_eq!(stages.stages.len(), 10_000);
    assert_eq!(stages.stages[9_999].commands.len(), 2);
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn random_dockerfiles_never_panic() {
    use crate::dockerfile::shell::NoEnv;
    const PIECES: &[&str] = &[
        "FROM ",
        "RUN ",
        "COPY ",
        "ADD ",
        "ENV ",
        "ARG ",
        "ONBUILD ",
        "HEALTHCHECK ",
        "SHELL ",
        "LABEL ",
        "EXPOSE ",
        "VOLUME ",
        "CMD ",
        "--mount=",
        "type=cache,",
        "--from=",
        "--link",
        "--interval=",
        "<<EOF",
        "<<-'E'",
        "EOF",
        "\n",
        "\\\n",
        "\"",
        "'",
        "[",
        "]",
        "\"a\",",
        "${",
        "}",
        ":-",
        "$X",
        "=",
        " AS ",
        "#",
        " ",
        "\t",
        "é",
        "`",
        "# escape=`\n",
        "NONE",
        "CMD",
    ];
    let mut seed = 0x9e37_79b9_u32;
    for _ in 0..2_000 {
        let mut text = String::new();
        for _ in 0..40 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            text.push_str(PIECES[seed as usize % PIECES.len()]);
        }
        let Ok(df) = parse(text.as_bytes()) else {
            continue;
        };
        let Ok(stages) = df.stages() else { continue };
        let lex = df.lexer();
        for stage in &stages.stages {
            let _ = lex.process_word(&stage.base, &NoEnv);
            for cmd in &stage.commands {
                let _ = lex.process_words(&cmd.source, &NoEnv);
                if let Instruction::Run(run) = &cmd.instruction {
                    for m in &run.mounts {
                        let _ = parse_mount(m, &mut |v| {
                            lex.process_word(v, &NoEnv)
                                .map(|e| e.value)
                                .map_err(|e| e.to_string())
                        });
                    }
                }
            }
        }
    }
}
