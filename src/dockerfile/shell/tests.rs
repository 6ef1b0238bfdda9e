use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn word(input: &str, pairs: &[(&str, &str)]) -> String {
    Lexer::new('\\')
        .process_word(input, &env(pairs))
        .unwrap_or_else(|e| panic!("{input}: {e}"))
        .value
}

fn words(input: &str, pairs: &[(&str, &str)]) -> Vec<String> {
    Lexer::new('\\')
        .process_words(input, &env(pairs))
        .unwrap_or_else(|e| panic!("{input}: {e}"))
}

fn error(input: &str, pairs: &[(&str, &str)]) -> ShellErrorKind {
    match Lexer::new('\\').process_word(input, &env(pairs)) {
        Ok(e) => panic!("{input}: expected an error, got {:?}", e.value),
        Err(e) => e.kind,
    }
}

#[test]
fn plain_and_quotes() {
    assert_eq!(word("hello", &[]), "hello");
    assert_eq!(word("he'll'o", &[]), "hello");
    assert_eq!(word("he\"ll\"o", &[]), "hello");
    assert_eq!(word("'$X'", &[("X", "1")]), "$X");
    assert_eq!(word("\"$X\"", &[("X", "1")]), "1");
    assert_eq!(word("\"a'b\"", &[]), "a'b");
    assert_eq!(word("'a\"b'", &[]), "a\"b");
    assert_eq!(word("'a\\'", &[]), "a\\");
}

#[test]
fn escapes() {
    assert_eq!(word("\\$X", &[("X", "1")]), "$X");
    assert_eq!(word("he\\\"llo", &[]), "he\"llo");
    assert_eq!(word("\"he\\llo\"", &[]), "he\\llo");
    assert_eq!(word("\"a\\\"b\"", &[]), "a\"b");
    assert_eq!(word("\"a\\$X\"", &[("X", "1")]), "a$X");
    assert_eq!(word("\"a\\\\b\"", &[]), "a\\b");
    assert_eq!(word("a\\", &[]), "a");
    assert_eq!(word("a\\ b", &[]), "a b");
}

#[test]
fn backtick_escape() {
    let lex = Lexer::new('`');
    let e = env(&[("X", "1")]);
    assert_eq!(
        lex.process_word("`$X", &e).map(|r| r.value),
        Ok("$X".into())
    );
    assert_eq!(
        lex.process_word("c:\\dir", &e).map(|r| r.value),
        Ok("c:\\dir".into())
    );
    assert_eq!(
        lex.process_word("\"a`\"b\"", &e).map(|r| r.value),
        Ok("a\"b".into())
    );
}

#[test]
fn simple_variables() {
    let e = [("PWD", "/home"), ("A_1", "x")];
    assert_eq!(word("$PWD", &e), "/home");
    assert_eq!(word("${PWD}", &e), "/home");
    assert_eq!(word("$PWD/sub", &e), "/home/sub");
    assert_eq!(word("${PWD}x", &e), "/homex");
    assert_eq!(word("$PWDx", &e), "");
    assert_eq!(word("$A_1", &e), "x");
    assert_eq!(word("$", &e), "$");
    assert_eq!(word("a$ b", &e), "a$ b");
    assert_eq!(word("$1", &e), "");
    assert_eq!(word("$12ab", &e), "ab");
    assert_eq!(word("x$/", &e), "x$/");
}

#[test]
fn default_and_alternative() {
    let e = [("SET", "v"), ("EMPTY", "")];
    assert_eq!(word("${UNSET:-d}", &e), "d");
    assert_eq!(word("${EMPTY:-d}", &e), "d");
    assert_eq!(word("${SET:-d}", &e), "v");
    assert_eq!(word("${UNSET-d}", &e), "d");
    assert_eq!(word("${EMPTY-d}", &e), "");
    assert_eq!(word("${SET-d}", &e), "v");
    assert_eq!(word("${UNSET:+a}", &e), "");
    assert_eq!(word("${EMPTY:+a}", &e), "");
    assert_eq!(word("${SET:+a}", &e), "a");
    assert_eq!(word("${UNSET+a}", &e), "");
    assert_eq!(word("${EMPTY+a}", &e), "a");
    assert_eq!(word("${UNSET:-$SET}", &e), "v");
    assert_eq!(word("${UNSET:-${EMPTY:-in}}", &e), "in");
    assert_eq!(word("${UNSET:-'q}'}", &e), "q}");
    assert_eq!(word("${UNSET:-a\\}b}", &e), "a}b");
}

#[test]
fn required_variables() {
    let e = [("SET", "v"), ("EMPTY", "")];
    assert_eq!(word("${SET:?}", &e), "v");
    assert_eq!(word("${EMPTY?}", &e), "");
    assert_eq!(
        error("${UNSET?}", &e).to_string(),
        "UNSET: is not allowed to be unset"
    );
    assert_eq!(
        error("${EMPTY:?}", &e).to_string(),
        "EMPTY: is not allowed to be empty"
    );
    assert_eq!(error("${UNSET:?need it}", &e).to_string(), "UNSET: need it");
    assert_eq!(error("${UNSET?need it}", &e).to_string(), "UNSET: need it");
}

#[test]
fn prefix_and_suffix_removal() {
    let e = [("P", "a/b/c.tar.gz")];
    assert_eq!(word("${P#*/}", &e), "b/c.tar.gz");
    assert_eq!(word("${P##*/}", &e), "c.tar.gz");
    assert_eq!(word("${P%.*}", &e), "a/b/c.tar");
    assert_eq!(word("${P%%.*}", &e), "a/b/c");
    assert_eq!(word("${P#x}", &e), "a/b/c.tar.gz");
    assert_eq!(word("${P%?z}", &e), "a/b/c.tar.");
    assert_eq!(word("${P#a?b}", &e), "/c.tar.gz");
    assert_eq!(word("${UNSET#a}", &e), "");
    assert_eq!(word("${P#\\*}", &[("P", "*x")]), "x");
    assert_eq!(
        error("${P:#x}", &e),
        ShellErrorKind::UnsupportedModifier(":#".into())
    );
    assert!(matches!(
        error("${P#\\q}", &e),
        ShellErrorKind::InvalidPattern { .. }
    ));
}

#[test]
fn pattern_replacement() {
    let e = [("V", "foo.bar.baz")];
    assert_eq!(word("${V/./-}", &e), "foo-bar.baz");
    assert_eq!(word("${V//./-}", &e), "foo-bar-baz");
    assert_eq!(word("${V/b*/X}", &e), "foo.X");
    assert_eq!(word("${V/?oo/X}", &e), "X.bar.baz");
    assert_eq!(word("${V//a/}", &e), "foo.br.bz");
    assert_eq!(word("${V/nomatch/X}", &e), "foo.bar.baz");
    assert_eq!(word("${V/\\//X}", &[("V", "a/b")]), "aXb");
    assert_eq!(word("${UNSET/a/b}", &e), "");
    assert_eq!(error("${V/a", &e), ShellErrorKind::MissingSlash);
    assert_eq!(error("${V/a/b", &e), ShellErrorKind::MissingBrace);
}

#[test]
fn syntax_errors() {
    assert_eq!(error("${", &[]), ShellErrorKind::MissingBrace);
    assert_eq!(error("${}", &[]), ShellErrorKind::BadSubstitution);
    assert_eq!(error("${:x}", &[]), ShellErrorKind::BadSubstitution);
    assert_eq!(error("${{x}", &[]), ShellErrorKind::BadSubstitution);
    assert_eq!(error("${X", &[]), ShellErrorKind::MissingBrace);
    assert_eq!(error("${X:-a", &[]), ShellErrorKind::MissingBrace);
    assert_eq!(
        error("${X!}", &[]),
        ShellErrorKind::UnsupportedModifier("!".into())
    );
    assert_eq!(error("'abc", &[]), ShellErrorKind::UnterminatedSingleQuote);
    assert_eq!(error("\"abc", &[]), ShellErrorKind::UnterminatedDoubleQuote);
    let err = Lexer::new('\\').process_word("'x", &NoEnv).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to process \"'x\": unexpected end of statement while looking for matching single-quote"
    );
}

#[test]
fn word_splitting() {
    let e = [("X", "1  2"), ("E", "")];
    assert_eq!(words("a b  c", &e), ["a", "b", "c"]);
    assert_eq!(words("a $X b", &e), ["a", "1", "2", "b"]);
    assert_eq!(words("a \"$X\" b", &e), ["a", "1  2", "b"]);
    assert_eq!(words("'a b' c", &e), ["a b", "c"]);
    assert_eq!(words("a\\ b c", &e), ["a b", "c"]);
    assert_eq!(words("x$E y", &e), ["x", "y"]);
    assert_eq!(words("\"\" a", &e), ["a"]);
    assert_eq!(words("  ", &e), Vec::<String>::new());
    assert_eq!(word("a  $X", &e), "a  1  2");
}

#[test]
fn reports_matched_and_unmatched() {
    let e = env(&[("A", "1"), ("E", "")]);
    let r = Lexer::new('\\')
        .process_word("$A ${B:-x} $E ${C} '$D' \\$F \"$G\"", &e)
        .expect("expands");
    let names = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
    assert_eq!(names(&r.matched), ["A", "E"]);
    assert_eq!(names(&r.unmatched), ["B", "C", "G"]);
}

#[test]
fn skip_unset_env_keeps_references() {
    let lex = Lexer {
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let e = env(&[("A", "1")]);
    let w = |s: &str| lex.process_word(s, &e).map(|r| r.value);
    assert_eq!(w("$A $B"), Ok("1 $B".into()));
    assert_eq!(w("${B}"), Ok("${B}".into()));
    assert_eq!(w("${B:-x}"), Ok("${B:-x}".into()));
    assert_eq!(w("${B//a/b}"), Ok("${B//a/b}".into()));
}

#[test]
fn raw_quotes_and_escapes() {
    let lex = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        ..Lexer::new('\\')
    };
    let r = lex
        .process_words("a \"b c\" 'd' e\\ f", &NoEnv)
        .expect("ok");
    assert_eq!(r, ["a", "\"b c\"", "'d'", "e\\ f"]);
}

#[test]
fn slice_env_later_wins() {
    let e = vec![
        ("A".to_string(), "1".to_string()),
        ("A".to_string(), "2".to_string()),
    ];
    let r = Lexer::new('\\').process_word("$A", &e).expect("ok");
    assert_eq!(r.value, "2");
}

#[test]
fn unicode_names_and_values() {
    assert_eq!(word("$ÄB-${ÄB}", &[("ÄB", "ü")]), "ü-ü");
    assert_eq!(word("${V%é}", &[("V", "caféé")]), "café");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 100_000;
    let mut input = "${a:-".repeat(depth);
    input.push('x');
    input.push_str(&"}".repeat(depth));
    let start = std::time::Instant::now();
    assert_eq!(error(&input, &[]), ShellErrorKind::TooDeep);
    assert!(start.elapsed().as_secs() < 5);
    // Within the limit it works.
    let ok = format!("{}x{}", "${a:-".repeat(50), "}".repeat(50));
    assert_eq!(word(&ok, &[]), "x");
}

#[test]
fn long_words_are_linear() {
    let big = "a".repeat(5_000_000);
    let start = std::time::Instant::now();
    assert_eq!(word(&big, &[]).len(), 5_000_000);
    // A value at the size limit: quadratic matching would take minutes.
    let value = &big[..MAX_EXPANSION];
    let e = [("V", value)];
    assert_eq!(word("${V%%b*}", &e).len(), MAX_EXPANSION);
    assert!(start.elapsed().as_secs() < 10);
    let err = Lexer::new('\\')
        .process_word(&format!("'{big}"), &NoEnv)
        .unwrap_err();
    assert!(err.to_string().len() < 400);
}

#[test]
fn exponential_growth_stops_at_the_size_limit() {
    // Each level is ten copies of the previous one, as ARG lines would chain.
    let mut vars = vec![("a".to_string(), "xxxxxxxxxx".to_string())];
    let lexer = Lexer::new('\\');
    let mut failed_at = None;
    for level in 1..=10 {
        let prev = &vars[vars.len() - 1].0;
        let input = format!("${prev}").repeat(10);
        match lexer.process_word(&input, &vars) {
            Ok(e) => vars.push((format!("v{level}"), e.value)),
            Err(e) => {
                assert_eq!(e.kind, ShellErrorKind::TooLong);
                failed_at = Some(level);
                break;
            }
        }
    }
    // 10 × 10^5 bytes fits in 1 MiB, 10 × 10^6 does not.
    assert_eq!(failed_at, Some(6));
    // Quotes and replacement are bounded too.
    let big = "y".repeat(MAX_EXPANSION / 2 + 1);
    let pairs = [("big", big.as_str())];
    assert_eq!(error("\"$big$big\"", &pairs), ShellErrorKind::TooLong);
    assert_eq!(error("${big//?/$big}", &pairs), ShellErrorKind::TooLong);
    assert_eq!(word("${big}", &pairs).len(), big.len());
}

#[test]
fn plain_words_take_the_short_way_to_the_same_result() {
    let plain = [
        "",
        "make -C /src target4",
        "  leading and trailing  ",
        "tabs\tand\nnewlines\r\n",
        "no\u{a0}break\u{3000}ideographic",
        "/work/4",
        "ünïcödé wörds",
        "C:\\dir\\file",
    ];
    for lexer in [Lexer::new('\\'), Lexer::new('`')] {
        for word in plain {
            assert_eq!(
                lexer.process_word(word, &NoEnv),
                lexer.expand(word, &NoEnv),
                "{word:?}"
            );
        }
    }
}
