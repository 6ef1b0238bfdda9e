//! Splitting one logical line (continuations already joined) into keyword,
//! flags and arguments, with the per-instruction argument rules of BuildKit's
//! `line_parsers.go`: JSON arrays, whitespace lists, `KEY=value` pairs, ...

use super::{KeyValue, Node, NodeArgs, ParseErrorKind, Span};

/// Whitespace as Go's `reWhitespace` (`[\t\v\f\r ]+`) sees it.
fn is_sep(c: char) -> bool {
    matches!(c, '\t' | '\u{0b}' | '\u{0c}' | '\r' | ' ')
}

/// Splits on runs of separator whitespace, like `reWhitespace.Split(s, -1)`.
fn split_whitespace_runs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_sep = false;
    for c in s.chars() {
        if is_sep(c) {
            if !in_sep {
                out.push(std::mem::take(&mut cur));
            }
            in_sep = true;
        } else {
            in_sep = false;
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Splits at the first run of separator whitespace, like
/// `reWhitespace.Split(s, 2)`.
fn split_once_whitespace(s: &str) -> (&str, Option<&str>) {
    match s.find(is_sep) {
        None => (s, None),
        Some(i) => {
            let rest = s[i..].trim_start_matches(is_sep);
            (&s[..i], Some(rest))
        }
    }
}

/// Parses one logical line into a [`Node`] (without heredocs or lines).
/// `depth` stops `ONBUILD ONBUILD ...` from recursing without bound; the
/// instruction layer rejects nested ONBUILD anyway.
pub(super) fn node_from_line(
    line: &str,
    escape: char,
    comments: Vec<String>,
    depth: usize,
) -> Result<Node, ParseErrorKind> {
    let trimmed = line.trim();
    let (keyword, rest) = split_once_whitespace(trimmed);
    let (args, flags) = match rest {
        Some(rest) => extract_builder_flags(rest),
        None => (String::new(), Vec::new()),
    };
    let args = args.trim();
    let lower = keyword.to_ascii_lowercase();
    let mut json = false;
    let node_args = match lower.as_str() {
        "add" | "copy" | "volume" => {
            let (words, is_json) = maybe_json_to_list(args)?;
            json = is_json;
            NodeArgs::Words(words)
        }
        "cmd" | "entrypoint" | "run" | "shell" => {
            let (words, is_json) = maybe_json(args)?;
            json = is_json;
            NodeArgs::Words(words)
        }
        "arg" => NodeArgs::Words(parse_words(args, escape)),
        "env" => NodeArgs::KeyValues(parse_name_val(args, "ENV", escape)?),
        "label" => NodeArgs::KeyValues(parse_name_val(args, "LABEL", escape)?),
        "expose" | "from" => NodeArgs::Words(whitespace_list(args)),
        "healthcheck" => {
            let (words, is_json) = health_config(args)?;
            json = is_json;
            NodeArgs::Words(words)
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => NodeArgs::Words(if args.is_empty() {
            vec![]
        } else {
            vec![args.to_string()]
        }),
        "onbuild" if !args.is_empty() && depth < 2 => {
            let child = node_from_line(args, escape, Vec::new(), depth + 1)?;
            NodeArgs::Sub(Box::new(child))
        }
        // Unknown instructions parse with no arguments; the instruction
        // layer reports them.
        _ => NodeArgs::Words(vec![]),
    };
    Ok(Node {
        keyword: keyword.to_string(),
        flags,
        args: node_args,
        json,
        heredocs: Vec::new(),
        original: line.to_string(),
        span: Span { start: 0, end: 0 },
        comments,
    })
}

/// Takes the leading `--flag[=value]` words off `line`. Quotes and a
/// backslash may appear inside a flag; a bare `--` ends the flags.
/// BuildKit always uses `\` here, whatever the escape directive says.
pub(super) fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut chars = line.char_indices().peekable();
    loop {
        let Some((pos, ch)) = chars.next() else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return (String::new(), words);
        };
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            // Only keep going if the next word starts with `--`.
            if ch != '-' || chars.peek().map(|(_, c)| *c) != Some('-') {
                return (line[pos..].to_string(), words);
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (line[pos..].to_string(), words);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    continue;
                }
                if ch == '\\' {
                    match chars.next() {
                        Some((_, next)) => word.push(next),
                        None => continue,
                    }
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                    continue;
                }
                if ch == '\\' {
                    match chars.next() {
                        Some((_, next)) => word.push(next),
                        None => phase = Phase::Word,
                    }
                    continue;
                }
                word.push(ch);
            }
            Phase::Spaces => {}
        }
    }
}

/// Splits into words on unquoted whitespace, keeping quotes and escapes in
/// the words (they are removed later, at expansion).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    // An escape at the very end of the line is dropped;
                    // otherwise it is kept together with what it escapes.
                    let Some(next) = chars.next() else { continue };
                    word.push(ch);
                    word.push(next);
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                if ch == escape && q != '\'' {
                    let Some(next) = chars.next() else {
                        phase = Phase::Word;
                        continue;
                    };
                    word.push(ch);
                    word.push(next);
                    continue;
                }
                word.push(ch);
            }
            Phase::Spaces => {}
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// `ENV`/`LABEL`: either `KEY value...` (legacy, one pair, the value is the
/// rest of the line) or `KEY=value KEY2="v 2"`.
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<KeyValue>, ParseErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(vec![]);
    };
    if !first.contains('=') {
        let (k, v) = split_once_whitespace(rest);
        let Some(v) = v else {
            return Err(ParseErrorKind::MissingValue(key.to_string()));
        };
        return Ok(vec![KeyValue {
            key: k.to_string(),
            value: v.to_string(),
            legacy: true,
        }]);
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) => Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
                legacy: false,
            }),
            None => Err(ParseErrorKind::MissingEquals(word.clone())),
        })
        .collect()
}

fn whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return vec![];
    }
    split_whitespace_runs(rest)
}

/// A JSON array of strings, or why `rest` is not one. `Ok(None)` means "not
/// JSON at all" (shell form); an array with non-strings is an error.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, ParseErrorKind> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ParseErrorKind::NotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// JSON (exec) form, or the whole rest as one shell-form string.
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), ParseErrorKind> {
    if rest.is_empty() {
        return Ok((vec![], false));
    }
    Ok(match parse_json(rest)? {
        Some(words) => (words, true),
        None => (vec![rest.to_string()], false),
    })
}

/// JSON form, or a whitespace-separated list.
fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), ParseErrorKind> {
    Ok(match parse_json(rest)? {
        Some(words) => (words, true),
        None => (whitespace_list(rest), false),
    })
}

/// `HEALTHCHECK TYPE cmd...`: the type word, then CMD-like arguments.
fn health_config(rest: &str) -> Result<(Vec<String>, bool), ParseErrorKind> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((vec![], false));
    }
    let kind = &rest[..sep];
    let (mut cmd, json) = maybe_json(rest[sep..].trim_start())?;
    let mut words = vec![kind.to_string()];
    words.append(&mut cmd);
    Ok((words, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_split_from_arguments() {
        let (rest, flags) = extract_builder_flags("--from=build --chown=1:1 src dst");
        assert_eq!(flags, ["--from=build", "--chown=1:1"]);
        assert_eq!(rest, "src dst");
        let (rest, flags) = extract_builder_flags("--mount=type=cache,target=\"/a b\" make");
        assert_eq!(flags, ["--mount=type=cache,target=/a b"]);
        assert_eq!(rest, "make");
        let (rest, flags) = extract_builder_flags("--link -- --notaflag x");
        assert_eq!(flags, ["--link"]);
        assert_eq!(rest, " --notaflag x");
        let (rest, flags) = extract_builder_flags("--a --b");
        assert_eq!(flags, ["--a", "--b"]);
        assert_eq!(rest, "");
        let (rest, flags) = extract_builder_flags("-x y");
        assert!(flags.is_empty());
        assert_eq!(rest, "-x y");
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words("a=\"b c\" d='e f'", '\\'),
            ["a=\"b c\"", "d='e f'"]
        );
        assert_eq!(parse_words("a\\ b c", '\\'), ["a\\ b", "c"]);
        assert_eq!(parse_words("a=\"\"", '\\'), ["a=\"\""]);
        assert_eq!(parse_words("a`  b", '`'), ["a` ", "b"]);
        assert_eq!(parse_words("x\\", '\\'), ["x"]);
    }

    #[test]
    fn json_detection() {
        assert_eq!(
            maybe_json("[\"a\", \"b\"]"),
            Ok((vec!["a".into(), "b".into()], true))
        );
        assert_eq!(
            maybe_json("[\"a\" \"b\"]"),
            Ok((vec!["[\"a\" \"b\"]".into()], false))
        );
        assert_eq!(
            maybe_json("[\"a\"] x"),
            Ok((vec!["[\"a\"] x".into()], false))
        );
        assert_eq!(maybe_json("[1]"), Err(ParseErrorKind::NotStringArray));
        assert_eq!(maybe_json("[]"), Ok((vec![], true)));
        assert_eq!(maybe_json("echo [x]"), Ok((vec!["echo [x]".into()], false)));
    }
}
