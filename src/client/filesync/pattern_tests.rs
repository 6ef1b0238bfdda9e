//! Cases ported from moby/patternmatcher's `patternmatcher_test.go`, so a
//! divergence from the Go behaviour shows up as a named failing case.

use super::*;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Fail,
    Exact,
    Inexact,
}
use Expect::*;

const MATCHES: &[(&str, &str, Expect)] = &[
    ("**", "file", Exact),
    ("**", "file/", Exact),
    ("**/", "file", Exact),
    ("**/", "file/", Exact),
    ("**", "/", Exact),
    ("**/", "/", Exact),
    ("**", "dir/file", Exact),
    ("**/", "dir/file", Exact),
    ("**", "dir/file/", Exact),
    ("**/", "dir/file/", Exact),
    ("**/**", "dir/file", Exact),
    ("**/**", "dir/file/", Exact),
    ("dir/**", "dir/file", Exact),
    ("dir/**", "dir/file/", Exact),
    ("dir/**", "dir/dir2/file", Exact),
    ("dir/**", "dir/dir2/file/", Exact),
    ("**/dir", "dir", Exact),
    ("**/dir", "dir/file", Inexact),
    ("**/dir2/*", "dir/dir2/file", Exact),
    ("**/dir2/*", "dir/dir2/file/", Inexact),
    ("**/dir2/**", "dir/dir2/dir3/file", Exact),
    ("**/dir2/**", "dir/dir2/dir3/file/", Exact),
    ("**file", "file", Exact),
    ("**file", "dir/file", Exact),
    ("**/file", "dir/file", Exact),
    ("**file", "dir/dir/file", Exact),
    ("**/file", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file.txt", Exact),
    ("**/file*txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt*", "dir/dir/file.txt", Exact),
    ("**/**/*.txt", "dir/dir/file.txt", Exact),
    ("**/**/*.txt2", "dir/dir/file.txt", Fail),
    ("**/*.txt", "file.txt", Exact),
    ("**/**/*.txt", "file.txt", Exact),
    ("a**/*.txt", "a/file.txt", Exact),
    ("a**/*.txt", "a/dir/file.txt", Exact),
    ("a**/*.txt", "a/dir/dir/file.txt", Exact),
    ("a/*.txt", "a/dir/file.txt", Fail),
    ("a/*.txt", "a/file.txt", Exact),
    ("a/*.txt**", "a/file.txt", Exact),
    ("a[b-d]e", "ae", Fail),
    ("a[b-d]e", "ace", Exact),
    ("a[b-d]e", "aae", Fail),
    ("a[^b-d]e", "aze", Exact),
    (".*", ".foo", Exact),
    (".*", "foo", Fail),
    ("abc.def", "abcdef", Fail),
    ("abc.def", "abc.def", Exact),
    ("abc.def", "abcZdef", Fail),
    ("abc?def", "abcZdef", Exact),
    ("abc?def", "abcdef", Fail),
    ("**/foo/bar", "foo/bar", Exact),
    ("**/foo/bar", "dir/foo/bar", Exact),
    ("**/foo/bar", "dir/dir2/foo/bar", Exact),
    ("abc/**", "abc", Fail),
    ("abc/**", "abc/def", Exact),
    ("abc/**", "abc/def/ghi", Exact),
    ("**/.foo", ".foo", Exact),
    ("**/.foo", "bar.foo", Fail),
    ("a(b)c/def", "a(b)c/def", Exact),
    ("a(b)c/def", "a(b)c/xyz", Fail),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", Exact),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    ("a\\\\", "a\\", Exact),
    ("a\\*b", "a*b", Exact),
];

const MULTI: &[(&[&str], &str, Expect)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", Fail),
    (
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        Exact,
    ),
    (
        &[
            "**",
            "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        ],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Fail,
    ),
    (
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Fail,
    ),
];

fn matcher(patterns: &[&str]) -> PatternMatcher {
    match PatternMatcher::new(patterns) {
        Ok(pm) => pm,
        Err(e) => panic!("{patterns:?}: {e}"),
    }
}

/// Walks the parents of `text` top-down the way fsutil's walker does.
fn via_parent_results(pm: &PatternMatcher, text: &str) -> bool {
    let parent = go_dir(text);
    let mut info = MatchInfo::default();
    if parent != "." {
        let dirs: Vec<&str> = parent.split('/').collect();
        for i in 1..=dirs.len() {
            info = pm
                .matches_using_parent_results(&dirs[..i].join("/"), &info)
                .1;
        }
    }
    pm.matches_using_parent_results(text, &info).0
}

#[test]
fn single_pattern_cases() {
    for &(pattern, text, expect) in MATCHES {
        let pm = matcher(&[pattern]);
        let desc = format!("pattern={pattern:?} text={text:?}");
        assert_eq!(pm.matches_exact(text), expect == Exact, "exact {desc}");
        assert_eq!(
            pm.matches_or_parent_matches(text),
            expect != Fail,
            "parent {desc}"
        );
        assert_eq!(
            via_parent_results(&pm, text),
            expect != Fail,
            "results {desc}"
        );
        let no_ctx = pm
            .matches_using_parent_results(text, &MatchInfo::default())
            .0;
        assert_eq!(no_ctx, expect != Fail, "no-context {desc}");
    }
}

#[test]
fn multi_pattern_cases() {
    for &(patterns, text, expect) in MULTI {
        let pm = matcher(patterns);
        let desc = format!("patterns={patterns:?} text={text:?}");
        assert_eq!(pm.matches_or_parent_matches(text), expect != Fail, "{desc}");
        assert_eq!(via_parent_results(&pm, text), expect != Fail, "{desc}");
    }
}

#[test]
fn simple_cases_from_go() {
    let m = |text: &str, patterns: &[&str]| matcher(patterns).matches_or_parent_matches(text);
    assert!(m("fileutils.go", &["*"]));
    assert!(m("fileutils.go", &["*.go"]));
    assert!(m("fileutils.go", &["!fileutils.go", "*.go"]));
    assert!(!m("docs/README.md", &["docs", "!docs/README.md"]));
    assert!(!m("fileutils.go", &["*.go", "!fileutils.go"]));
    assert!(!m("/any/path/there", &[]));
    // A folder exclusion followed by an exception re-includes the file.
    assert!(!m("docs/README.md", &["docs/", "!docs/README.md"]));
    assert!(!m("docs/README.md", &["docs/*", "!docs/README.md"]));
}

#[test]
fn pattern_list_parsing() {
    assert_eq!(
        PatternMatcher::new(&["!"]).err(),
        Some(PatternError::LoneExclamation)
    );
    assert_eq!(matcher(&["docs", "config", ""]).patterns().len(), 2);
    assert!(matcher(&["docs", "  !docs/README.md"]).exclusions());
    assert!(matcher(&["docs", "!docs/README.md  "]).exclusions());
    assert!(!matcher(&["docs"]).exclusions());
    let pm = matcher(&["./a/../b//c/", "!x"]);
    assert_eq!(pm.patterns()[0].as_str(), "b/c");
    assert_eq!(pm.patterns()[1].as_str(), "x");
    assert!(pm.patterns()[1].is_exclusion());
}

/// Go's filepath.Match table as run through patternmatcher's `Matches`.
#[test]
fn filepath_match_table() {
    let ok: &[(&str, &str, bool)] = &[
        ("abc", "abc", true),
        ("*", "abc", true),
        ("*c", "abc", true),
        ("a*", "a", true),
        ("a*", "abc", true),
        ("a*", "ab/c", true),
        ("a*/b", "abc/b", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[c]", "abc", true),
        ("ab[b-d]", "abc", true),
        ("ab[e-g]", "abc", false),
        ("ab[^c]", "abc", false),
        ("ab[^b-d]", "abc", false),
        ("ab[^e-g]", "abc", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        ("a?b", "a☺b", true),
        ("a[^a]b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("a[^a][^a][^a]b", "a☺b", false),
        ("[a-ζ]*", "α", true),
        ("*[a-ζ]", "A", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        ("[\\]a]", "]", true),
        ("[\\-]", "-", true),
        ("[x\\-]", "x", true),
        ("[x\\-]", "-", true),
        ("[x\\-]", "z", false),
        ("[\\-x]", "x", true),
        ("[\\-x]", "-", true),
        ("[\\-x]", "a", false),
        ("*x", "xxx", true),
    ];
    for &(pattern, text, want) in ok {
        let got = matcher(&[pattern]).matches_or_parent_matches(&clean_path(text));
        assert_eq!(got, want, "pattern={pattern:?} text={text:?}");
    }
    let bad = [
        "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[",
    ];
    for pattern in bad {
        assert!(
            matches!(
                PatternMatcher::new(&[pattern]),
                Err(PatternError::BadPattern(_))
            ),
            "{pattern:?} should be rejected"
        );
    }
}

#[test]
fn newline_rules_follow_go_regexp() {
    // `**` becomes `(.*/)?` and `.` does not match a newline in Go.
    assert!(!matcher(&["a/**/*.c"]).matches_exact("a/b\nc/d.c"));
    // `*` is `[^/]*`, which does match a newline.
    assert!(matcher(&["a*"]).matches_exact("a\nb"));
}

#[test]
fn clean_path_matches_go() {
    for (input, want) in [
        ("", "."),
        (".", "."),
        ("a/", "a"),
        ("a//b", "a/b"),
        ("./a/./b", "a/b"),
        ("a/../..", ".."),
        ("/../a", "/a"),
        ("/", "/"),
        ("a/b/../c", "a/c"),
    ] {
        assert_eq!(clean_path(input), want, "{input:?}");
    }
}

#[test]
fn match_name_is_filepath_match() {
    assert_eq!(match_name("*.txt", "a.txt"), Ok(true));
    assert_eq!(match_name("**", "abc"), Ok(true));
    assert_eq!(match_name("a?c", "abc"), Ok(true));
    assert_eq!(match_name("a\\*", "a*"), Ok(true));
    assert_eq!(match_name("a\\*", "ab"), Ok(false));
    assert!(match_name("[", "a").is_err());
}
