use super::*;

fn p(s: &str) -> Dockerfile {
    parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn err(s: &[u8]) -> ParseError {
    match parse(s) {
        Ok(d) => panic!("{s:?}: expected an error, got {d:?}"),
        Err(e) => e,
    }
}

fn words(n: &Node) -> Vec<&str> {
    n.words().iter().map(String::as_str).collect()
}

#[test]
fn simple_instructions_with_lines() {
    let d = p("FROM alpine\n\nRUN echo hi\ncmd [\"sh\"]\n");
    assert_eq!(d.nodes.len(), 3);
    assert_eq!(d.nodes[0].keyword, "FROM");
    assert_eq!(words(&d.nodes[0]), ["alpine"]);
    assert_eq!(d.nodes[0].span, Span { start: 1, end: 1 });
    assert_eq!(d.nodes[1].span, Span { start: 3, end: 3 });
    assert_eq!(words(&d.nodes[1]), ["echo hi"]);
    assert!(!d.nodes[1].json);
    assert_eq!(d.nodes[2].keyword, "cmd");
    assert_eq!(words(&d.nodes[2]), ["sh"]);
    assert!(d.nodes[2].json);
    assert_eq!(d.escape, '\\');
}

#[test]
fn line_continuation() {
    let d = p("FROM a\nRUN echo a \\\n  b \\\n  c\nRUN x\n");
    assert_eq!(words(&d.nodes[1]), ["echo a   b   c"]);
    assert_eq!(d.nodes[1].span, Span { start: 2, end: 4 });
    assert_eq!(d.nodes[2].span, Span { start: 5, end: 5 });
    // Trailing whitespace after the escape still continues.
    let d = p("FROM a\nRUN a \\  \t\n b\n");
    assert_eq!(words(&d.nodes[1]), ["a  b"]);
    // An escaped escape at the end does not continue.
    let d = p("FROM a\nRUN a \\\\\nRUN b\n");
    assert_eq!(words(&d.nodes[1]), ["a \\\\"]);
    assert_eq!(d.nodes.len(), 3);
    // CRLF line endings.
    let d = p("FROM a\r\nRUN a \\\r\n b\r\n");
    assert_eq!(words(&d.nodes[1]), ["a  b"]);
}

#[test]
fn comments_and_blank_lines_inside_continuation() {
    let d = p("FROM a\nRUN a \\\n# comment\n  # indented comment\n\n   \n b\n");
    assert_eq!(words(&d.nodes[1]), ["a  b"]);
    assert_eq!(d.nodes[1].span, Span { start: 2, end: 7 });
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].message.contains("Empty continuation line"));
}

#[test]
fn continuation_at_end_of_file() {
    let d = p("FROM a\nRUN a \\");
    assert_eq!(words(&d.nodes[1]), ["a"]);
}

#[test]
fn comments_are_kept_for_the_next_instruction() {
    let d = p("# hello\n# world\nFROM a\n#\n# doc\nARG X\n");
    assert_eq!(d.nodes[0].comments, ["hello", "world"]);
    assert_eq!(d.nodes[1].comments, ["doc"]);
}

#[test]
fn directives() {
    let d = p("# syntax=docker/dockerfile:1\n# ESCAPE = `\n#check=skip=all\nFROM a\n");
    let dir = &d.directives;
    assert_eq!(
        dir.syntax.as_ref().map(|d| d.value.as_str()),
        Some("docker/dockerfile:1")
    );
    assert_eq!(
        dir.escape.as_ref().map(|d| (d.value.as_str(), d.line)),
        Some(("`", 2))
    );
    assert_eq!(
        dir.check.as_ref().map(|d| d.value.as_str()),
        Some("skip=all")
    );
    assert_eq!(d.escape, '`');
    assert!(d.nodes[0].comments.is_empty());
}

#[test]
fn directives_only_at_the_top() {
    let d = p("FROM a\n# escape=`\nRUN a \\\n b\n");
    assert!(d.directives.escape.is_none());
    assert_eq!(d.escape, '\\');
    // A comment ends the directives.
    let d = p("# comment\n# escape=`\nFROM a\n");
    assert!(d.directives.escape.is_none());
    // So does a blank line.
    let d = p("\n# syntax=x\nFROM a\n");
    assert!(d.directives.syntax.is_none());
    // And an unknown directive, which is a comment.
    let d = p("# foo=bar\n# syntax=x\nFROM a\n");
    assert!(d.directives.syntax.is_none());
    assert_eq!(d.nodes[0].comments, ["foo=bar", "syntax=x"]);
}

#[test]
fn directive_errors() {
    let e = err(b"# escape=x\nFROM a\n");
    assert_eq!(e.kind, ParseErrorKind::InvalidEscape("x".into()));
    assert_eq!(e.line, 1);
    let e = err(b"# syntax=a\n# syntax=b\nFROM a\n");
    assert_eq!(e.kind, ParseErrorKind::DuplicateDirective("syntax".into()));
    assert_eq!(e.line, 2);
}

#[test]
fn backtick_escape() {
    let d = p("# escape=`\nFROM a\nRUN dir c:\\ `\n  /s\nCOPY a\\b c:\\\n");
    assert_eq!(words(&d.nodes[1]), ["dir c:\\   /s"]);
    assert_eq!(words(&d.nodes[2]), ["a\\b", "c:\\"]);
}

#[test]
fn bom_is_stripped() {
    let d = parse(b"\xEF\xBB\xBF# syntax=x\nFROM a\n").expect("parses");
    assert!(d.directives.syntax.is_some());
}

#[test]
fn keywords_are_case_insensitive_and_kept() {
    let d = p("from a AS b\nrUn x\n");
    assert_eq!(d.nodes[0].keyword, "from");
    assert_eq!(words(&d.nodes[0]), ["a", "AS", "b"]);
    assert_eq!(d.nodes[1].keyword_lower(), "run");
}

#[test]
fn flags_and_original() {
    let d = p("FROM a\nCOPY --from=b --chown=1:1 src /dst\nRUN --mount=type=cache,target=/c --network=none make\n");
    assert_eq!(d.nodes[1].flags, ["--from=b", "--chown=1:1"]);
    assert_eq!(words(&d.nodes[1]), ["src", "/dst"]);
    assert_eq!(d.nodes[1].original, "COPY --from=b --chown=1:1 src /dst");
    assert_eq!(
        d.nodes[2].flags,
        ["--mount=type=cache,target=/c", "--network=none"]
    );
    assert_eq!(words(&d.nodes[2]), ["make"]);
}

#[test]
fn env_and_label_forms() {
    let d = p("FROM a\nENV a=b c=\"d e\"\nENV legacy value with spaces\nLABEL \"k\"=v\n");
    let kv = |n: &Node| match &n.args {
        NodeArgs::KeyValues(kv) => kv.clone(),
        other => panic!("{other:?}"),
    };
    let env = kv(&d.nodes[1]);
    assert_eq!(
        (env[0].key.as_str(), env[0].value.as_str(), env[0].legacy),
        ("a", "b", false)
    );
    assert_eq!(env[1].value, "\"d e\"");
    let legacy = kv(&d.nodes[2]);
    assert_eq!(
        (
            legacy[0].key.as_str(),
            legacy[0].value.as_str(),
            legacy[0].legacy
        ),
        ("legacy", "value with spaces", true)
    );
    assert_eq!(kv(&d.nodes[3])[0].key, "\"k\"");
    assert_eq!(
        err(b"FROM a\nENV a\n").kind,
        ParseErrorKind::MissingValue("ENV".into())
    );
    assert_eq!(
        err(b"FROM a\nENV a=b c\n").kind,
        ParseErrorKind::MissingEquals("c".into())
    );
}

#[test]
fn json_and_shell_forms() {
    let d = p(
        "FROM a\nCMD [\"a\", \"b c\"]\nCMD [\"a\" \"b\"]\nCOPY [\"a b\", \"/c\"]\nVOLUME /a /b\n",
    );
    assert!(d.nodes[1].json);
    assert_eq!(words(&d.nodes[1]), ["a", "b c"]);
    assert!(!d.nodes[2].json);
    assert_eq!(words(&d.nodes[2]), ["[\"a\" \"b\"]"]);
    assert_eq!(words(&d.nodes[3]), ["a b", "/c"]);
    assert_eq!(words(&d.nodes[4]), ["/a", "/b"]);
    assert_eq!(
        err(b"FROM a\nCMD [1, 2]\n").kind,
        ParseErrorKind::NotStringArray
    );
}

#[test]
fn healthcheck_and_onbuild_nodes() {
    let d = p("FROM a\nHEALTHCHECK --interval=5s CMD [\"true\"]\nONBUILD RUN echo hi\n");
    assert_eq!(words(&d.nodes[1]), ["CMD", "true"]);
    assert!(d.nodes[1].json);
    let NodeArgs::Sub(child) = &d.nodes[2].args else {
        panic!("no child")
    };
    assert_eq!(child.keyword, "RUN");
    assert_eq!(words(child), ["echo hi"]);
}

#[test]
fn heredocs() {
    let d = p(
        "FROM a\nRUN <<EOF\necho $X\nEOF\nCOPY <<-\"A\" <<'B' /dst/\n\tone\n\tA\ntwo\nB\nRUN x\n",
    );
    let run = &d.nodes[1];
    assert_eq!(run.span, Span { start: 2, end: 4 });
    assert_eq!(run.heredocs.len(), 1);
    let h = &run.heredocs[0];
    assert_eq!(
        (h.name.as_str(), h.expand, h.chomp, h.content.as_str()),
        ("EOF", true, false, "echo $X\n")
    );
    let copy = &d.nodes[2];
    assert_eq!(copy.span, Span { start: 5, end: 9 });
    assert_eq!(copy.heredocs.len(), 2);
    assert_eq!(copy.heredocs[0].name, "A");
    assert!(!copy.heredocs[0].expand);
    assert!(copy.heredocs[0].chomp);
    assert_eq!(copy.heredocs[0].content, "\tone\n");
    assert_eq!(copy.heredocs[0].chomped_content(), "one\n");
    assert_eq!(copy.heredocs[1].name, "B");
    assert!(!copy.heredocs[1].expand);
    assert_eq!(copy.heredocs[1].content, "two\n");
    assert_eq!(d.nodes[3].span, Span { start: 10, end: 10 });
}

#[test]
fn heredoc_variants() {
    let d = p("FROM a\nRUN 3<<EOF cat /proc/self/fd/3\nx\nEOF\nRUN [\"<<EOF\"]\nRUN echo \"<<EOF\"\nONBUILD RUN <<E\ny\nE\n");
    assert_eq!(d.nodes[1].heredocs[0].file_descriptor, 3);
    assert!(d.nodes[2].heredocs.is_empty());
    assert!(d.nodes[3].heredocs.is_empty());
    assert_eq!(d.nodes[4].heredocs[0].content, "y\n");
    // Only RUN, COPY and ADD take heredocs.
    let d = p("FROM a\nLABEL a=<<EOF\nRUN x\n");
    assert!(d.nodes[1].heredocs.is_empty());
    assert_eq!(d.nodes.len(), 3);
    // Partially quoted delimiter disables expansion too.
    assert_eq!(parse_heredoc("<<E\"O\"F").map(|h| h.expand), Some(false));
    assert_eq!(
        parse_heredoc("<<E\"O\"F").map(|h| h.name),
        Some("EOF".into())
    );
    assert!(parse_heredoc("<<").is_none());
    assert!(parse_heredoc("a<<EOF").is_none());
}

#[test]
fn unterminated_heredoc() {
    let e = err(b"FROM a\nRUN <<EOF\nno end\n");
    assert_eq!(e.line, 2);
    assert_eq!(
        e.kind,
        ParseErrorKind::UnterminatedHeredoc {
            delimiter: "EOF".into(),
            start_line: 2
        }
    );
    assert_eq!(e.source_line.as_deref(), Some("RUN <<EOF"));
    assert!(e.to_string().contains("\"EOF\""));
}

#[test]
fn no_instructions() {
    assert_eq!(err(b"").kind, ParseErrorKind::NoInstructions);
    assert_eq!(err(b"# only\n\n   \n").kind, ParseErrorKind::NoInstructions);
}

#[test]
fn invalid_utf8_names_the_line() {
    let e = err(b"FROM a\nRUN \xff\xfe\n");
    assert_eq!(e.kind, ParseErrorKind::InvalidUtf8);
    assert_eq!(e.line, 2);
}

#[test]
fn hostile_input_does_not_panic() {
    // Binary garbage that happens to be valid UTF-8, and some that is not.
    let mut seed = 0x1234_5678_u32;
    for _ in 0..200 {
        let mut buf = Vec::new();
        for _ in 0..512 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let alphabet = b"RUNCOPYFROM<<EOF\\`\"'[]{}$-=# \n\t\r\x00\xff";
            buf.push(alphabet[seed as usize % alphabet.len()]);
        }
        let _ = parse(&buf);
        let s = String::from_utf8_lossy(&buf).into_owned();
        let _ = parse(s.as_bytes());
    }
}

#[test]
fn very_long_line_is_rejected_quickly() {
    let mut s = b"FROM a\nRUN ".to_vec();
    s.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    let start = std::time::Instant::now();
    let e = err(&s);
    assert_eq!(e.kind, ParseErrorKind::LineTooLong);
    assert_eq!(e.line, 2);
    assert!(start.elapsed().as_secs() < 5);
    // Just under the limit is fine.
    let mut ok = b"FROM a\nRUN ".to_vec();
    ok.extend(std::iter::repeat_n(b'x', MAX_LINE_LENGTH - 4));
    assert!(parse(&ok).is_ok());
}

#[test]
fn deep_continuation_and_onbuild_chains() {
    let mut s = String::from("FROM a\nRUN x");
    s.push_str(&" \\\n y".repeat(200_000));
    let start = std::time::Instant::now();
    let d = p(&s);
    assert_eq!(d.nodes[1].span.end, 200_002);
    let chain = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(8000));
    let d = p(&chain);
    assert_eq!(d.nodes.len(), 2);
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn many_lines_parse_quickly() {
    let s = "FROM a AS s\nRUN echo hi\n".repeat(10_000);
    let start = std::time::Instant::now();
    assert_eq!(p(&s).nodes.len(), 20_000);
    assert!(start.elapsed().as_secs() < 5);
}
