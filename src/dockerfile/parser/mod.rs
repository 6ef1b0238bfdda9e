//! Dockerfile text → [`Node`]s with line ranges, and no meaning yet.
//!
//! This follows BuildKit's `frontend/dockerfile/parser`: parser directives
//! at the very top, line continuation with the escape character, comments
//! and blank lines skipped inside continued instructions, heredocs for
//! `RUN`/`COPY`/`ADD`, JSON (exec) form detection and flags split from the
//! arguments. Instruction keywords are not checked here; that is the
//! instruction layer's job, so that its errors can name the instruction.

mod line;
#[cfg(test)]
mod tests;

use super::shell::{Lexer, NoEnv};

/// The default escape character.
pub const DEFAULT_ESCAPE: char = '\\';

/// BuildKit reads Dockerfiles with Go's `bufio.Scanner`, which refuses lines
/// longer than this many bytes (excluding the newline). We refuse them too:
/// the same Dockerfile should fail the same way with both, and it bounds
/// the work per line on hostile input.
pub const MAX_LINE_LENGTH: usize = 64 * 1024 - 1;

/// An inclusive range of 1-based line numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// The first line.
    pub start: usize,
    /// The last line (the heredoc terminator, for instructions with heredocs).
    pub end: usize,
}

/// A parser directive (`# syntax=...`, `# escape=...`, `# check=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The value, trimmed.
    pub value: String,
    /// The line it was found on.
    pub line: usize,
}

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` — the frontend image to use.
    pub syntax: Option<Directive>,
    /// `# escape=` — `\` or a backtick.
    pub escape: Option<Directive>,
    /// `# check=` — build check configuration (`skip=...;error=true`).
    pub check: Option<Directive>,
}

/// One heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 if none.
    pub file_descriptor: u32,
    /// Whether the content is subject to variable expansion (the delimiter
    /// was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the content lines (and the
    /// terminator may be indented with tabs).
    pub chomp: bool,
    /// The content, exactly as read, each line with its line ending. Not
    /// chomped; see [`Heredoc::chomped_content`].
    pub content: String,
}

impl Heredoc {
    /// The content with leading tabs removed from every line when the
    /// heredoc was written `<<-`; otherwise the content as is.
    pub fn chomped_content(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// A `KEY=value` pair of `ENV` or `LABEL`, unexpanded (quotes still in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, as written.
    pub key: String,
    /// The value, as written, quotes included.
    pub value: String,
    /// Written in the legacy `ENV key value` form (BuildKit's
    /// `LegacyKeyValueFormat` check warns about it).
    pub legacy: bool,
}

/// The arguments of a node, in the shape its instruction parses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeArgs {
    /// A list of words: JSON array elements, whitespace-separated words, or
    /// for shell form a single string with the rest of the line.
    Words(Vec<String>),
    /// `ENV` and `LABEL` pairs.
    KeyValues(Vec<KeyValue>),
    /// `ONBUILD`: the instruction it holds.
    Sub(Box<Node>),
}

/// One instruction as written, before any interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The keyword as written (`run`, `RUN`, `Run`, ...).
    pub keyword: String,
    /// The flags as written, e.g. `--from=build`, quotes removed.
    pub flags: Vec<String>,
    /// The arguments.
    pub args: NodeArgs,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// Heredocs, in the order of their delimiters on the line.
    pub heredocs: Vec<Heredoc>,
    /// The logical line: continuation lines joined, comments dropped.
    pub original: String,
    /// Where the instruction is in the file.
    pub span: Span,
    /// Comment lines directly above the instruction (without `#`).
    pub comments: Vec<String>,
}

impl Node {
    /// The keyword in lower case, for matching.
    pub fn keyword_lower(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }

    /// The plain word arguments (empty for `ENV`, `LABEL` and `ONBUILD`).
    pub fn words(&self) -> &[String] {
        match &self.args {
            NodeArgs::Words(w) => w,
            _ => &[],
        }
    }

    /// BuildKit allows heredocs only in shell-form `RUN`, `COPY` and `ADD`,
    /// also when wrapped in `ONBUILD`.
    fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.args, self.keyword_lower().as_str()) {
            (NodeArgs::Sub(child), "onbuild") => child,
            _ => self,
        };
        matches!(node.keyword_lower().as_str(), "run" | "copy" | "add") && !node.json
    }
}

/// A parse result that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What was found.
    pub message: String,
    /// Where.
    pub line: usize,
}

/// A parsed Dockerfile: directives and instruction nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives.
    pub directives: Directives,
    /// The escape character in effect.
    pub escape: char,
    /// The instructions, in order.
    pub nodes: Vec<Node>,
    /// Warnings (empty continuation lines).
    pub warnings: Vec<Warning>,
}

/// What went wrong while parsing, without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The file is not UTF-8.
    #[error("invalid UTF-8 in Dockerfile")]
    InvalidUtf8,
    /// A line longer than [`MAX_LINE_LENGTH`].
    #[error("dockerfile line greater than max allowed size of {MAX_LINE_LENGTH}")]
    LineTooLong,
    /// `# escape=` with something other than `\` or a backtick.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    /// The same directive twice.
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    /// A heredoc whose terminator never came.
    #[error(
        "unterminated heredoc: delimiter {delimiter:?} opened on line {start_line} is never closed"
    )]
    UnterminatedHeredoc {
        /// The delimiter that was looked for.
        delimiter: String,
        /// The line of the instruction that opened it.
        start_line: usize,
    },
    /// A JSON array with something other than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    /// Legacy `ENV key` without a value.
    #[error("{0} must have two arguments")]
    MissingValue(String),
    /// `ENV a=b c`: a word without `=` after `KEY=value` words.
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    /// Only comments, blank lines and directives.
    #[error("file with no instructions")]
    NoInstructions,
}

/// A parse error with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// The 1-based line where the problem is (the instruction's first line
    /// for problems with a whole instruction).
    pub line: usize,
    /// The text of that line, when it is known and is valid text.
    pub source_line: Option<String>,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// Tracks parser directives: they are only recognised before anything else.
struct DirectiveParser {
    done: bool,
    directives: Directives,
}

impl DirectiveParser {
    /// Looks at a line with leading whitespace removed. Returns the key of
    /// the directive it holds, if it is one.
    fn parse_line(&mut self, line: &str, number: usize) -> Result<Option<String>, ParseErrorKind> {
        if self.done {
            return Ok(None);
        }
        let parsed = line
            .strip_prefix('#')
            .and_then(|rest| parse_directive(rest.trim_start()));
        let Some((key, value)) = parsed else {
            self.done = true;
            return Ok(None);
        };
        let slot = match key.as_str() {
            "syntax" => &mut self.directives.syntax,
            "escape" => &mut self.directives.escape,
            "check" => &mut self.directives.check,
            // An unknown directive is a comment, and ends the directives.
            _ => {
                self.done = true;
                return Ok(None);
            }
        };
        if slot.is_some() {
            return Err(ParseErrorKind::DuplicateDirective(key));
        }
        *slot = Some(Directive {
            value: value.to_string(),
            line: number,
        });
        Ok(Some(key))
    }
}

/// Matches `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, returning the key in
/// lower case and the trimmed value.
fn parse_directive(s: &str) -> Option<(String, &str)> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\u{0c}' | '\r');
    let key_len = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(s.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let rest = s[key_len..]
        .trim_start_matches(is_space)
        .strip_prefix('=')?;
    let value = rest.trim_matches(is_space);
    if value.is_empty() {
        return None;
    }
    Some((s[..key_len].to_ascii_lowercase(), value))
}

/// Removes a trailing escape character (and spaces/tabs after it) that
/// continues the line. Mirrors BuildKit's regex
/// `([^\\])\\[ \t]*$|^\\[ \t]*$`: an escape preceded by another escape does
/// not continue the line.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    let Some(before) = t.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() || !before.ends_with(escape) {
        (before, false)
    } else {
        (line, true)
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Parses a Dockerfile into nodes.
pub fn parse(input: &[u8]) -> Result<Dockerfile, ParseError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(e) => {
            let valid = &input[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(ParseError {
                line,
                source_line: None,
                kind: ParseErrorKind::InvalidUtf8,
            });
        }
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, l) in lines.iter().enumerate() {
        if trim_newline(l).len() > MAX_LINE_LENGTH {
            return Err(ParseError {
                line: i + 1,
                source_line: None,
                kind: ParseErrorKind::LineTooLong,
            });
        }
    }
    Parser {
        lines: &lines,
        next: 0,
        escape: DEFAULT_ESCAPE,
        directives: DirectiveParser {
            done: false,
            directives: Directives::default(),
        },
    }
    .run()
}

struct Parser<'a> {
    lines: &'a [&'a str],
    /// Index of the next line to read; also the number of lines read.
    next: usize,
    escape: char,
    directives: DirectiveParser,
}

impl<'a> Parser<'a> {
    fn error(&self, line: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line,
            source_line: line
                .checked_sub(1)
                .and_then(|i| self.lines.get(i))
                .map(|l| trim_newline(l).to_string()),
            kind,
        }
    }

    /// Strips the line ending (and, for the first line of an instruction,
    /// leading whitespace), checks for a directive, and blanks comments.
    fn process_line<'l>(
        &mut self,
        raw: &'l str,
        strip_left: bool,
    ) -> Result<(&'l str, bool), ParseError> {
        let mut token = trim_newline(raw);
        if strip_left {
            token = token.trim_start();
        }
        let number = self.next;
        let key = self
            .directives
            .parse_line(token, number)
            .map_err(|k| self.error(number, k))?;
        if key.as_deref() == Some("escape") {
            let value = token.trim_start_matches('#').trim_start();
            let value = parse_directive(value).map_or("", |(_, v)| v);
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(self.error(number, ParseErrorKind::InvalidEscape(other.to_string())))
                }
            };
        }
        let is_directive = key.is_some();
        Ok((if is_comment(token) { "" } else { token }, is_directive))
    }

    fn read(&mut self) -> Option<&'a str> {
        let l = self.lines.get(self.next).copied();
        if l.is_some() {
            self.next += 1;
        }
        l
    }

    fn run(mut self) -> Result<Dockerfile, ParseError> {
        let mut nodes = Vec::new();
        let mut warnings = Vec::new();
        let mut comments: Vec<String> = Vec::new();
        while let Some(raw) = self.read() {
            let start_line = self.next;
            if is_comment(raw) {
                let c = raw.trim_start()[1..].trim();
                if c.is_empty() {
                    comments.clear();
                } else {
                    comments.push(c.to_string());
                }
            }
            let (token, is_directive) = self.process_line(raw, true)?;
            if is_directive {
                comments.pop();
            }
            let (first, mut ended) = trim_continuation(token, self.escape);
            if ended && first.is_empty() {
                continue;
            }
            let mut logical = first.to_string();
            let mut empty_continuation = false;
            while !ended {
                let Some(raw) = self.read() else { break };
                let (token, _) = self.process_line(raw, false)?;
                if is_comment(raw) {
                    continue;
                }
                if token.trim_start().is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (part, end) = trim_continuation(token, self.escape);
                logical.push_str(part);
                ended = end;
            }
            if empty_continuation {
                warnings.push(Warning {
                    message: format!("Empty continuation line found in: {logical}"),
                    line: self.next,
                });
            }
            let mut node =
                line::node_from_line(&logical, self.escape, std::mem::take(&mut comments), 0)
                    .map_err(|k| self.error(start_line, k))?;
            if node.can_contain_heredoc() && logical.contains("<<") {
                for mut heredoc in heredocs_from_line(&logical) {
                    self.read_heredoc(&mut heredoc, start_line)?;
                    node.heredocs.push(heredoc);
                }
            }
            node.span = Span {
                start: start_line,
                end: self.next,
            };
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(ParseError {
                line: self.next,
                source_line: None,
                kind: ParseErrorKind::NoInstructions,
            });
        }
        Ok(Dockerfile {
            directives: self.directives.directives,
            escape: self.escape,
            nodes,
            warnings,
        })
    }

    /// Reads heredoc content lines up to the terminator.
    fn read_heredoc(&mut self, heredoc: &mut Heredoc, start_line: usize) -> Result<(), ParseError> {
        while let Some(raw) = self.read() {
            let mut candidate = trim_newline(raw);
            if heredoc.chomp {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == heredoc.name {
                return Ok(());
            }
            heredoc.content.push_str(raw);
        }
        Err(self.error(
            start_line,
            ParseErrorKind::UnterminatedHeredoc {
                delimiter: heredoc.name.clone(),
                start_line,
            },
        ))
    }
}

/// Finds the heredoc delimiters on an instruction line. BuildKit lexes the
/// line with `\` as escape, keeping quotes and escapes, and ignores lexing
/// errors (the line then has no heredocs).
fn heredocs_from_line(line: &str) -> Vec<Heredoc> {
    let lex = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let Ok(words) = lex.process_words(line, &NoEnv) else {
        return vec![];
    };
    words.iter().filter_map(|w| parse_heredoc(w)).collect()
}

/// Parses one word as a heredoc opener: `^(\d*)<<(-?)([^<]*)$` whose last
/// part is a single (possibly quoted) word. Quoting any part of the
/// delimiter turns expansion off.
pub fn parse_heredoc(word: &str) -> Option<Heredoc> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let file_descriptor = word[..digits].parse::<u32>().unwrap_or(0);
    let lex = Lexer {
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let words = lex.process_words(rest, &NoEnv).ok()?;
    let [name] = words.as_slice() else {
        return None;
    };
    let raw = Lexer {
        raw_quotes: true,
        ..lex
    }
    .process_words(rest, &NoEnv)
    .ok()?;
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    Some(Heredoc {
        name: name.clone(),
        file_descriptor,
        expand,
        chomp,
        content: String::new(),
    })
}
