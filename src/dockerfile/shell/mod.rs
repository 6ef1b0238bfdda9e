//! Shell-style word expansion, as BuildKit's `shell/lex.go` does it.
//!
//! Dockerfile instructions keep their words unexpanded; the converter expands
//! them with the stage's environment (ARGs and ENVs in scope) through
//! [`Lexer::process_word`] (one string, e.g. `WORKDIR`, `USER`) or
//! [`Lexer::process_words`] (split into words after expansion, e.g. `EXPOSE`,
//! `COPY` sources). Both report which variables were referenced but not
//! defined, which BuildKit's `UndefinedVar` check is built on.
//!
//! Supported: `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`,
//! `${VAR+x}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR##pat}`,
//! `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`, `${VAR//pat/repl}`,
//! single and double quotes and the escape character.

mod pattern;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

use pattern::Pattern;

/// How deeply `${...}` may nest before expansion gives up. Real Dockerfiles
/// nest a handful of levels; the limit keeps hostile input from exhausting
/// the stack.
pub const MAX_NESTING: usize = 128;

/// The longest value one word may expand to, in bytes. Each `$a` in
/// `ARG b=$a$a$a$a$a$a$a$a$a$a` multiplies the size by ten, so ten such
/// lines would ask for gigabytes; Linux refuses a single environment
/// string over 128 KiB (`MAX_ARG_STRLEN`) anyway, so 1 MiB leaves room for
/// any real use and stops a bomb at its first oversized step.
pub const MAX_EXPANSION: usize = 1 << 20;

/// A source of variable values for expansion.
///
/// Implemented for the usual maps and for slices of pairs (where a later pair
/// overrides an earlier one, like repeated `ENV` lines do).
pub trait Env {
    /// The value of `name`, or `None` when it is not defined. A defined but
    /// empty variable is `Some("")`: `${VAR-x}` and `${VAR:-x}` differ on it.
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

impl<E: Env + ?Sized> Env for &E {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
}

/// An environment with no variables at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// The outcome of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded text, quotes removed, inner whitespace kept.
    pub value: String,
    /// The expanded text split into words: unquoted whitespace (including
    /// whitespace that came out of unquoted `$VAR`s) separates words, and
    /// empty words are dropped.
    pub words: Vec<String>,
    /// Variables that were referenced and defined.
    pub matched: BTreeSet<String>,
    /// Variables that were referenced but not defined (`UndefinedVar`).
    pub unmatched: BTreeSet<String>,
}

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellErrorKind {
    /// A `'` without its closing partner.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    /// A `"` without its closing partner.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// `${` without `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${VAR/pat` without the second `/`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:x}`, `${{x}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// An operator BuildKit does not support, e.g. `${VAR:#x}` or `${#VAR}`.
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR?msg}` / `${VAR:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message from the word, or the default one.
        message: String,
    },
    /// A bad wildcard pattern in `#`, `%` or `/` operators.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `${...}` nested deeper than [`MAX_NESTING`].
    #[error("variable substitutions nested deeper than {MAX_NESTING} levels")]
    TooDeep,
    /// The expansion grew past [`MAX_EXPANSION`] bytes.
    #[error("the expanded value is longer than {MAX_EXPANSION} bytes")]
    TooLong,
}

/// A word that could not be expanded, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {kind}")]
pub struct ShellError {
    /// The word (shortened if very long).
    pub word: String,
    /// What went wrong.
    pub kind: ShellErrorKind,
}

/// A word expander configured like BuildKit's `shell.Lex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character (`\` or, with `# escape=`, a backtick).
    pub escape: char,
    /// Keep quote characters in the output (used to detect quoted heredoc
    /// delimiters).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to undefined variables as written instead of
    /// replacing them by the empty string.
    pub skip_unset_env: bool,
}

impl Lexer {
    /// A lexer with the given escape character and default options.
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Expands `word` into one string (BuildKit's `ProcessWordWithMatches`).
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<Expansion, ShellError> {
        if !word.contains(['$', '\'', '"', self.escape]) {
            // Nothing to expand, unquote or unescape: most words (paths,
            // commands) are like this, and a Dockerfile's words are expanded
            // once per target platform, some of them twice.
            return Ok(Expansion {
                value: word.to_string(),
                words: word.split_whitespace().map(str::to_string).collect(),
                matched: BTreeSet::new(),
                unmatched: BTreeSet::new(),
            });
        }
        self.expand(word, env)
    }

    /// [`Lexer::process_word`] character by character, for words with
    /// something to expand, unquote or unescape.
    fn expand(&self, word: &str, env: &dyn Env) -> Result<Expansion, ShellError> {
        let mut w = Word {
            lex: self,
            env,
            src: word,
            pos: 0,
            depth: 0,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match w.process_stop_on(None, self.raw_escapes) {
            Ok((value, words)) => Ok(Expansion {
                value,
                words,
                matched: w.matched,
                unmatched: w.unmatched,
            }),
            Err(kind) => Err(ShellError {
                word: shorten(word),
                kind,
            }),
        }
    }

    /// Expands `word` and splits the result into words (BuildKit's
    /// `ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        self.process_word(word, env).map(|e| e.words)
    }
}

/// Error messages quote the word; a 10 MB word should not become a 10 MB
/// message.
fn shorten(word: &str) -> String {
    const MAX: usize = 200;
    if word.len() <= MAX {
        return word.to_string();
    }
    let mut end = MAX;
    while !word.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &word[..end])
}

/// Accumulates the word list alongside the plain result.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

/// The state of one expansion: a cursor over the source word.
struct Word<'a> {
    lex: &'a Lexer,
    env: &'a dyn Env,
    src: &'a str,
    pos: usize,
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

type Res<T> = Result<T, ShellErrorKind>;

impl Word<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Processes until `stop` (consumed) or the end of the word.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        let quotes = !self.lex.skip_process_quotes;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += c.len_utf8();
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let s = self.process_dollar()?;
                    push_bounded(&mut result, &s)?;
                    words.add_string(&s);
                }
                '\'' if quotes => {
                    let s = self.process_single_quote()?;
                    push_bounded(&mut result, &s)?;
                    words.add_raw_string(&s);
                }
                '"' if quotes => {
                    let s = self.process_double_quote(raw_escapes)?;
                    push_bounded(&mut result, &s)?;
                    words.add_raw_string(&s);
                }
                _ => {
                    self.pos += c.len_utf8();
                    if c == self.lex.escape {
                        if raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some('}') => Err(ShellErrorKind::MissingBrace),
            Some('/') => Err(ShellErrorKind::MissingSlash),
            // Only `}` and `/` are used as stop characters.
            Some(_) => Err(ShellErrorKind::BadSubstitution),
            None => Ok((result, words.finish())),
        }
    }

    fn process_single_quote(&mut self) -> Res<String> {
        // Everything up to the next ' is literal; ' cannot be escaped.
        let mut result = String::new();
        self.next();
        if self.lex.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next() {
                None => return Err(ShellErrorKind::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self, raw_escapes: bool) -> Res<String> {
        // Literal except `$` expansions; the escape character only escapes
        // `"`, `$` and itself, and is kept before anything else.
        let mut result = String::new();
        self.next();
        if self.lex.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(ShellErrorKind::UnterminatedDoubleQuote),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let s = self.process_dollar()?;
                    push_bounded(&mut result, &s)?;
                }
                Some(c) => {
                    self.pos += c.len_utf8();
                    let mut out = c;
                    if c == self.lex.escape {
                        if raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                self.pos += n.len_utf8();
                                out = n;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(out);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Res<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(ShellErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(ShellErrorKind::BadSubstitution),
            Some(_) => {}
        }
        if self.depth >= MAX_NESTING {
            return Err(ShellErrorKind::TooDeep);
        }
        self.depth += 1;
        let r = self.process_braced();
        self.depth -= 1;
        r
    }

    /// The part of `${...}` after the opening brace.
    fn process_braced(&mut self) -> Res<String> {
        let name = self.process_name();
        let Some(mut op) = self.next() else {
            return Err(ShellErrorKind::MissingBrace);
        };
        let mut op_text = op.to_string();
        let mut null_is_unset = false;
        match op {
            '}' => {
                return Ok(match self.lookup(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            ':' => {
                null_is_unset = true;
                let Some(next) = self.next() else {
                    return Err(ShellErrorKind::MissingBrace);
                };
                op = next;
                op_text.push(op);
            }
            '/' => return self.process_replace(name),
            _ => {}
        }
        if !matches!(op, '+' | '-' | '?' | '#' | '%') {
            return Err(ShellErrorKind::UnsupportedModifier(op_text));
        }
        // Patterns keep their escapes so that `\*` stays literal.
        let raw = op == '#' || op == '%';
        if null_is_unset && raw {
            return Err(ShellErrorKind::UnsupportedModifier(op_text));
        }
        let (word, _) = self.process_stop_on(Some('}'), raw)?;
        let value = self.lookup(&name);
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{op_text}{word}}}"));
        }
        let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
        match op {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            '?' => match value {
                None => Err(required(name, word, "is not allowed to be unset")),
                Some(v) if null_is_unset && v.is_empty() => {
                    Err(required(name, word, "is not allowed to be empty"))
                }
                Some(v) => Ok(v),
            },
            _ => {
                // `#`/`%` remove the shortest match, `##`/`%%` the longest.
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let value = value.unwrap_or_default();
                let compiled =
                    Pattern::compile(pat).map_err(|reason| ShellErrorKind::InvalidPattern {
                        pattern: pat.to_string(),
                        reason,
                    })?;
                Ok(if op == '#' {
                    match compiled.prefix_matches(&value) {
                        Some((short, long)) => {
                            value[if greedy { long } else { short }..].to_string()
                        }
                        None => value,
                    }
                } else {
                    let reversed: String = value.chars().rev().collect();
                    match compiled.reversed().prefix_matches(&reversed) {
                        Some((short, long)) => {
                            let cut = if greedy { long } else { short };
                            value[..value.len() - cut].to_string()
                        }
                        None => value,
                    }
                })
            }
        }
    }

    /// `${VAR/pat/repl}` and `${VAR//pat/repl}`, after the first `/`.
    fn process_replace(&mut self, name: String) -> Res<String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let (pat, _) = self.process_stop_on(Some('/'), true)?;
        let (replacement, _) = self.process_stop_on(Some('}'), true)?;
        let value = self.lookup(&name);
        if value.is_none() && self.lex.skip_unset_env {
            let slashes = if all { "//" } else { "/" };
            return Ok(format!("${{{name}{slashes}{pat}/{replacement}}}"));
        }
        // An unset variable is empty, but the pattern must still be valid.
        let value = value.unwrap_or_default();
        let compiled = Pattern::compile(&pat).map_err(|reason| ShellErrorKind::InvalidPattern {
            pattern: pat.clone(),
            reason,
        })?;
        compiled
            .replace(&value, &replacement, all, MAX_EXPANSION)
            .ok_or(ShellErrorKind::TooLong)
    }

    /// Reads a variable name: letters, digits and `_`; or a run of digits
    /// (positional parameters); or one special parameter character.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += c.len_utf8();
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            self.pos += c.len_utf8();
            name.push(c);
        }
        name
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                if !self.matched.contains(name) {
                    self.matched.insert(name.to_string());
                }
                Some(v.to_string())
            }
            None => {
                if !self.unmatched.contains(name) {
                    self.unmatched.insert(name.to_string());
                }
                None
            }
        }
    }
}

/// Appends an expanded piece, refusing to grow past [`MAX_EXPANSION`].
/// Every piece is itself bounded (a variable's value was bounded when it was
/// defined), so checking after each append keeps memory within twice the
/// limit.
fn push_bounded(result: &mut String, piece: &str) -> Res<()> {
    if result.len().saturating_add(piece.len()) > MAX_EXPANSION {
        return Err(ShellErrorKind::TooLong);
    }
    result.push_str(piece);
    Ok(())
}

fn required(name: String, word: String, default: &str) -> ShellErrorKind {
    ShellErrorKind::Required {
        name,
        message: if word.is_empty() {
            default.to_string()
        } else {
            word
        },
    }
}
