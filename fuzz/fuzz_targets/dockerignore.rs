//! `.dockerignore` parsing and the pattern matcher built from it, matched
//! against a few paths: never a panic, whatever the patterns.

#![no_main]

use crossbuild::client::filesync::PatternMatcher;
use crossbuild::dockerfile::dockerignore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(patterns) = dockerignore::read_patterns(data) else {
        return;
    };
    if let Ok(matcher) = PatternMatcher::new(&patterns) {
        for path in ["a", "a/b", "b/a/c", ".", "x/../a", "é/a", "a/b/c/d/e"] {
            let _ = matcher.matches_or_parent_matches(path);
        }
    }
});
