//! Shell wildcard patterns for `${VAR#pat}`, `${VAR%pat}` and
//! `${VAR/pat/repl}`: `*`, `?` and literal characters, no bracket expressions,
//! exactly the subset BuildKit's `convertShellPatternToRegex` accepts.
//!
//! BuildKit compiles these to Go regular expressions; we match them with a
//! small state-set simulation instead, which runs in O(len(value) ×
//! len(pattern)) per search and so stays bounded on hostile input.

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
    /// Any other character, matched literally.
    Literal(char),
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles `pattern` with BuildKit's escape rules: a backslash before `}`
    /// or `/` is dropped (those had to be escaped to appear inside `${}`),
    /// a backslash before `*`, `?` or `\` makes it literal, and any other
    /// escape is an error.
    pub(crate) fn compile(pattern: &str) -> Result<Pattern, String> {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::One),
                '\\' => match chars.peek().copied() {
                    Some('}') | Some('/') => {}
                    Some(next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        tokens.push(Token::Literal(next));
                    }
                    Some(next) => return Err(format!("invalid escape '\\{next}'")),
                    None => return Err("invalid escape '\\'".to_string()),
                },
                other => tokens.push(Token::Literal(other)),
            }
        }
        Ok(Pattern { tokens })
    }

    /// The same pattern read backwards, used to turn a suffix search into a
    /// prefix search on the reversed value (as BuildKit does).
    pub(crate) fn reversed(&self) -> Pattern {
        let mut tokens = self.tokens.clone();
        tokens.reverse();
        Pattern { tokens }
    }

    /// Adds state `i` and everything reachable from it without consuming a
    /// character (a `*` may match nothing) to `set`, keeping for each state
    /// the earliest start position that reaches it.
    fn add_closure(&self, set: &mut [Option<usize>], mut i: usize, start: usize) {
        loop {
            match set[i] {
                Some(s) if s <= start => return,
                _ => set[i] = Some(start),
            }
            if i < self.tokens.len() && self.tokens[i] == Token::Star {
                i += 1;
            } else {
                return;
            }
        }
    }

    /// Advances every state in `from` over `c` into `to` (cleared first).
    fn step(&self, from: &[Option<usize>], to: &mut [Option<usize>], c: char) {
        to.iter_mut().for_each(|s| *s = None);
        for (i, start) in from.iter().enumerate() {
            let Some(start) = *start else { continue };
            match self.tokens.get(i) {
                Some(Token::Star) => self.add_closure(to, i, start),
                Some(Token::One) => self.add_closure(to, i + 1, start),
                Some(Token::Literal(l)) if *l == c => self.add_closure(to, i + 1, start),
                _ => {}
            }
        }
    }

    /// The byte lengths of the shortest and the longest prefix of `value`
    /// that the whole pattern matches, if any does.
    pub(crate) fn prefix_matches(&self, value: &str) -> Option<(usize, usize)> {
        let n = self.tokens.len();
        let mut cur = vec![None; n + 1];
        let mut next = vec![None; n + 1];
        self.add_closure(&mut cur, 0, 0);
        let mut found: Option<(usize, usize)> = None;
        let record = |end: usize, found: &mut Option<(usize, usize)>| {
            *found = Some(match *found {
                None => (end, end),
                Some((lo, _)) => (lo, end),
            });
        };
        if cur[n].is_some() {
            record(0, &mut found);
        }
        for (idx, c) in value.char_indices() {
            self.step(&cur, &mut next, c);
            std::mem::swap(&mut cur, &mut next);
            if cur.iter().all(Option::is_none) {
                break;
            }
            if cur[n].is_some() {
                record(idx + c.len_utf8(), &mut found);
            }
        }
        found
    }

    /// The leftmost match in `value` starting at or after byte `from`, and
    /// for that start the longest one, as `(start, end)` byte offsets.
    pub(crate) fn find(&self, value: &str, from: usize) -> Option<(usize, usize)> {
        let n = self.tokens.len();
        let mut cur = vec![None; n + 1];
        let mut next = vec![None; n + 1];
        let mut best: Option<(usize, usize)> = None;
        let tail = value.get(from..)?;
        let mut positions = tail.char_indices().map(|(i, c)| (from + i, Some(c)));
        let end_pos = value.len();
        let mut at_end = false;
        loop {
            let (pos, ch) = match positions.next() {
                Some(p) => p,
                None if !at_end => {
                    at_end = true;
                    (end_pos, None)
                }
                None => break,
            };
            // A new attempt may start here only while no match is known:
            // any later start loses to the one already found.
            if best.is_none() {
                self.add_closure(&mut cur, 0, pos);
            }
            if let Some(start) = cur[n] {
                best = match best {
                    Some((bs, _)) if bs < start => best,
                    _ => Some((start, pos)),
                };
            }
            if let Some((bs, _)) = best {
                for s in cur.iter_mut() {
                    if matches!(s, Some(st) if *st > bs) {
                        *s = None;
                    }
                }
                if cur.iter().all(Option::is_none) {
                    break;
                }
            }
            let Some(c) = ch else { break };
            self.step(&cur, &mut next, c);
            std::mem::swap(&mut cur, &mut next);
        }
        best
    }

    /// Replaces the first match (or every match, with `all`) of the pattern
    /// in `value` by `replacement`, following Go's `ReplaceAllString` rules
    /// for empty matches. The replacement is literal: unlike Go, `$1` is not
    /// special here.
    ///
    /// Returns `None` as soon as the result would grow past `max_len`
    /// bytes: every match of `?` in a 1 MB value replaced by a 1 MB string
    /// would otherwise ask for a terabyte.
    pub(crate) fn replace(
        &self,
        value: &str,
        replacement: &str,
        all: bool,
        max_len: usize,
    ) -> Option<String> {
        if !all {
            let out = match self.find(value, 0) {
                Some((s, e)) => format!("{}{}{}", &value[..s], replacement, &value[e..]),
                None => value.to_string(),
            };
            return (out.len() <= max_len).then_some(out);
        }
        let mut out = String::with_capacity(value.len().min(max_len));
        let mut last_end = 0;
        let mut search = 0;
        while search <= value.len() {
            let Some((s, e)) = self.find(value, search) else {
                break;
            };
            out.push_str(&value[last_end..s]);
            if e > last_end || s == 0 {
                out.push_str(replacement);
            }
            if out.len() > max_len {
                return None;
            }
            last_end = e;
            let width = value[search..].chars().next().map_or(0, char::len_utf8);
            if search + width > e {
                search += width;
            } else if search + 1 > e {
                search += 1;
            } else {
                search = e;
            }
            // Keep `search` on a character boundary; past the end we stop.
            while search < value.len() && !value.is_char_boundary(search) {
                search += 1;
            }
        }
        if last_end <= value.len() {
            out.push_str(&value[last_end..]);
        }
        (out.len() <= max_len).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::compile(s).expect("valid pattern")
    }

    #[test]
    fn prefix_shortest_and_longest() {
        assert_eq!(p("*o").prefix_matches("foo.bar.o"), Some((2, 9)));
        assert_eq!(p("f?o").prefix_matches("foo"), Some((3, 3)));
        assert_eq!(p("x").prefix_matches("foo"), None);
        assert_eq!(p("").prefix_matches("foo"), Some((0, 0)));
        assert_eq!(p("*").prefix_matches("ab"), Some((0, 2)));
    }

    #[test]
    fn find_leftmost_longest() {
        assert_eq!(p("o*").find("foo bar", 0), Some((1, 7)));
        assert_eq!(p("b?r").find("foo bar", 0), Some((4, 7)));
        assert_eq!(p("z").find("foo", 0), None);
    }

    #[test]
    fn replace_like_go() {
        assert_eq!(p("o").replace("foo", "0", true, usize::MAX).unwrap(), "f00");
        assert_eq!(
            p("o").replace("foo", "0", false, usize::MAX).unwrap(),
            "f0o"
        );
        assert_eq!(
            p("").replace("abc", "x", true, usize::MAX).unwrap(),
            "xaxbxcx"
        );
        assert_eq!(p("*").replace("abc", "x", true, usize::MAX).unwrap(), "x");
        assert_eq!(p("é").replace("déé", "e", true, usize::MAX).unwrap(), "dee");
    }

    #[test]
    fn replace_stops_at_the_size_limit() {
        assert_eq!(p("?").replace("aaaa", "bbbb", true, 10), None);
        assert_eq!(p("a").replace("aaaa", "bbbb", false, 6), None);
        assert_eq!(p("a").replace("aa", "b", true, 2).as_deref(), Some("bb"));
    }

    #[test]
    fn escapes() {
        assert_eq!(p("\\*").prefix_matches("*a"), Some((1, 1)));
        assert_eq!(p("a\\}").prefix_matches("a}"), Some((2, 2)));
        assert!(Pattern::compile("\\x").is_err());
        assert!(Pattern::compile("\\").is_err());
    }

    #[test]
    fn hostile_sizes_are_fast() {
        let value = "a".repeat(200_000);
        let pat = p("*b*");
        assert_eq!(pat.find(&value, 0), None);
        assert_eq!(pat.prefix_matches(&value), None);
    }
}
