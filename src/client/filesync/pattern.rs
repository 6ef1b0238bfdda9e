//! `.dockerignore`-style path patterns with the exact semantics of Go's
//! `github.com/moby/patternmatcher`, which BuildKit and the docker CLI use for
//! include/exclude patterns of local sources.
//!
//! Matching the Go behaviour quirk for quirk matters: the daemon computes cache
//! keys from what we upload, so a pattern that selects a different set of
//! files than the Go client would changes build results. Go compiles most
//! patterns to a regular expression; we compile them to a small token list
//! and simulate it, which gives the same answers without a regex engine.
//!
//! Known deviation: inside `[...]` a `*` or `?` is a literal here (as in
//! `filepath.Match`), while Go's translation produces a mangled regex.

use std::fmt;

/// A pattern list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A lone `!` excludes nothing and is rejected by Go too.
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    /// The pattern is not valid `filepath.Match` syntax (e.g. an unclosed `[`).
    #[error("syntax error in pattern {0:?}")]
    BadPattern(String),
}

/// How one pattern is evaluated; mirrors patternmatcher's `matchType`, whose
/// fast paths have observable semantics (e.g. `**file` matches `xfile`).
#[derive(Debug, Clone)]
enum MatchKind {
    Exact,
    Prefix,
    Suffix,
    Glob(Vec<Token>),
}

/// One element of the compiled pattern; each corresponds to the regex
/// fragment Go would have produced.
#[derive(Debug, Clone)]
enum Token {
    /// A literal character.
    Lit(char),
    /// `?` → `[^/]`.
    AnyNoSlash,
    /// `*` → `[^/]*`.
    StarNoSlash,
    /// `**/` (or `**` not at the end) → `(.*/)?`.
    AnyDirs,
    /// Trailing `**` after other wildcards → `.*`.
    AnyRest,
    /// `[...]` character class.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One cleaned pattern of a [`PatternMatcher`].
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: MatchKind,
}

impl Pattern {
    /// The cleaned pattern text without the leading `!`; fsutil inspects it
    /// to decide whether an excluded directory can be skipped entirely.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether the pattern started with `!` (re-includes what earlier
    /// patterns matched).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// Whether `path` (slash-separated, relative) matches this pattern
    /// alone, without looking at parent directories.
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            MatchKind::Exact => path == self.cleaned,
            MatchKind::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchKind::Suffix => {
                let suffix = &self.cleaned[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            MatchKind::Glob(tokens) => glob_match(tokens, path),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cleaned)
    }
}

/// Per-pattern results for a directory, passed down to its children so that
/// a pattern matching a parent does not have to be re-evaluated (Go's
/// `MatchInfo`). The default value means "no information".
#[derive(Debug, Clone, Default)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// An ordered list of patterns; later patterns override earlier ones, and
/// `!pattern` re-includes paths (patternmatcher's `PatternMatcher`).
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// Parses patterns the way Go does: trim whitespace, drop empty lines,
    /// `filepath.Clean`, strip a leading `!`, validate the glob syntax.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut pm = PatternMatcher::default();
        for raw in patterns {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut p = clean_path(trimmed);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(PatternError::LoneExclamation);
                }
                exclusion = true;
                pm.exclusions = true;
                p = rest.to_string();
            }
            validate_glob(&p).map_err(|()| PatternError::BadPattern(p.clone()))?;
            let kind = compile(&p);
            pm.patterns.push(Pattern {
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(pm)
    }

    /// Whether any pattern is a `!` exception.
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// The parsed patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether the list matches `file` itself, ignoring parents (Go's
    /// `MatchesExact`).
    pub fn matches_exact(&self, file: &str) -> bool {
        let mut matched = false;
        for pattern in &self.patterns {
            // Only an exclusion can flip a match, only an inclusion a non-match.
            if pattern.exclusion != matched {
                continue;
            }
            if pattern.matches(file) {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether the list matches `file` or one of its parent directories: a
    /// pattern naming a directory covers everything inside it (Go's
    /// `MatchesOrParentMatches`).
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let parent = go_dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let hit = pattern.matches(file)
                || (parent != "." && any_parent_matches(pattern, &parent_dirs));
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Same answer as [`Self::matches_or_parent_matches`], but reuses the
    /// parent directory's per-pattern results so a walk costs one pattern
    /// evaluation per path (Go's `MatchesUsingParentResults`).
    pub fn matches_using_parent_results(
        &self,
        file: &str,
        parent_info: &MatchInfo,
    ) -> (bool, MatchInfo) {
        let parent_matched = &parent_info.parent_matched;
        let have_parent = parent_matched.len() == self.patterns.len() && !parent_matched.is_empty();
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut matched = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = have_parent && parent_matched[i];
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(file);
                if !hit && !have_parent {
                    let parent = go_dir(file);
                    if parent != "." {
                        let dirs: Vec<&str> = parent.split('/').collect();
                        hit = any_parent_matches(pattern, &dirs);
                    }
                }
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }
}

/// Whether `pattern` matches any ancestor prefix `d1`, `d1/d2`, ... of a path.
fn any_parent_matches(pattern: &Pattern, dirs: &[&str]) -> bool {
    (1..=dirs.len()).any(|n| pattern.matches(&dirs[..n].join("/")))
}

/// Go's `filepath.Dir` for slash paths: everything before the last `/`,
/// cleaned; `.` when there is no slash.
pub(crate) fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean_path(&path[..=i]),
        None => ".".to_string(),
    }
}

/// Go's `path.Clean`: collapse `//`, drop `.`, resolve `..` lexically,
/// remove a trailing slash; the empty path becomes `.`.
pub(crate) fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|last| *last != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Checks `filepath.Match` syntax, which Go runs on every pattern so that
/// malformed classes are reported up front rather than silently never
/// matching.
fn validate_glob(pattern: &str) -> Result<(), ()> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err(());
                }
                i += 2;
            }
            '[' => {
                i = parse_class(&chars, i + 1)?.0;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses a class body starting just after `[`; returns the index after the
/// closing `]` and the class. Follows `filepath.Match`'s grammar.
fn parse_class(chars: &[char], mut i: usize) -> Result<(usize, Token), ()> {
    let mut negated = false;
    if chars.get(i) == Some(&'^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((i + 1, Token::Class { negated, ranges }));
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, next) = class_char(chars, i + 1)?;
            hi = h;
            i = next;
        }
        ranges.push((lo, hi));
    }
}

/// One possibly escaped class character (Go's `getEsc`): `-` and `]` must be
/// escaped, and the class must continue after it.
fn class_char(chars: &[char], mut i: usize) -> Result<(char, usize), ()> {
    let mut c = *chars.get(i).ok_or(())?;
    if c == '-' || c == ']' {
        return Err(());
    }
    if c == '\\' {
        i += 1;
        c = *chars.get(i).ok_or(())?;
    }
    i += 1;
    if i >= chars.len() {
        return Err(());
    }
    Ok((c, i))
}

/// Translates a validated pattern the way patternmatcher's `compile` does,
/// including its choice of fast path.
fn compile(pattern: &str) -> MatchKind {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regexp,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut detected = Detected::Exact;
    let mut pos = 0;
    let mut index = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        match ch {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                // `**/` is treated as `**`.
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                if pos >= chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        tokens.push(Token::AnyRest);
                        detected = Detected::Regexp;
                    }
                } else {
                    tokens.push(Token::AnyDirs);
                    detected = Detected::Regexp;
                }
                if index == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::StarNoSlash);
                detected = Detected::Regexp;
            }
            '?' => {
                tokens.push(Token::AnyNoSlash);
                detected = Detected::Regexp;
            }
            '\\' => {
                if let Some(&next) = chars.get(pos) {
                    pos += 1;
                    tokens.push(Token::Lit(next));
                    detected = Detected::Regexp;
                } else {
                    tokens.push(Token::Lit('\\'));
                }
            }
            '[' => match parse_class(&chars, pos) {
                Ok((next, class)) => {
                    pos = next;
                    tokens.push(class);
                    detected = Detected::Regexp;
                }
                // Unreachable after validation; treat as a literal.
                Err(()) => tokens.push(Token::Lit('[')),
            },
            ']' => {
                tokens.push(Token::Lit(']'));
                detected = Detected::Regexp;
            }
            other => tokens.push(Token::Lit(other)),
        }
        index += 1;
    }
    match detected {
        Detected::Exact => MatchKind::Exact,
        Detected::Prefix => MatchKind::Prefix,
        Detected::Suffix => MatchKind::Suffix,
        Detected::Regexp => MatchKind::Glob(tokens),
    }
}

/// Anchored match of the token list against `path`, simulated as a set of
/// reachable positions so there is no exponential backtracking. `.` in Go's
/// regex does not match a newline, negated classes and `[^/]` do.
fn glob_match(tokens: &[Token], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    let n = chars.len();
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    for token in tokens {
        let mut next = vec![false; n + 1];
        match token {
            Token::StarNoSlash | Token::AnyRest => {
                let stop = if matches!(token, Token::StarNoSlash) {
                    '/'
                } else {
                    '\n'
                };
                for p in 0..=n {
                    next[p] = reach[p] || (p > 0 && next[p - 1] && chars[p - 1] != stop);
                }
            }
            Token::AnyDirs => {
                // run: some reachable start q < p with no newline in chars[q..p].
                let mut run = false;
                for p in 0..=n {
                    if p > 0 {
                        run = (run || reach[p - 1]) && chars[p - 1] != '\n';
                    }
                    next[p] = reach[p] || (p > 0 && run && chars[p - 1] == '/');
                }
            }
            single => {
                for p in 0..n {
                    if reach[p] && single_matches(single, chars[p]) {
                        next[p + 1] = true;
                    }
                }
            }
        }
        reach = next;
        if !reach.iter().any(|r| *r) {
            return false;
        }
    }
    reach[n]
}

/// Whether a one-character token accepts `c`.
fn single_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Lit(l) => *l == c,
        Token::AnyNoSlash => c != '/',
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
        Token::StarNoSlash | Token::AnyRest | Token::AnyDirs => false,
    }
}

/// `filepath.Match` for one path element, used to expand wildcards in
/// follow paths: `*` and `?` never cross `/`, and `**` is just two stars.
pub(crate) fn match_name(pattern: &str, name: &str) -> Result<bool, PatternError> {
    validate_glob(pattern).map_err(|()| PatternError::BadPattern(pattern.to_string()))?;
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        match ch {
            '*' => tokens.push(Token::StarNoSlash),
            '?' => tokens.push(Token::AnyNoSlash),
            '\\' if pos < chars.len() => {
                tokens.push(Token::Lit(chars[pos]));
                pos += 1;
            }
            '[' => {
                let (next, class) = parse_class(&chars, pos)
                    .map_err(|()| PatternError::BadPattern(pattern.to_string()))?;
                pos = next;
                tokens.push(class);
            }
            other => tokens.push(Token::Lit(other)),
        }
    }
    Ok(glob_match(&tokens, name))
}

#[cfg(test)]
#[path = "pattern_tests.rs"]
mod tests;
