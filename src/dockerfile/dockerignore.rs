//! `.dockerignore` → the list of exclude patterns sent with the context,
//! exactly as `moby/patternmatcher/ignorefile.ReadAll` produces it: comment
//! lines dropped, whitespace trimmed, `!` negation kept, each pattern
//! `filepath.Clean`ed and made relative to the context root.
//!
//! Matching the patterns against paths is the file sync's job (BuildKit
//! does it daemon-side); this module only reads the file.

/// Go's `bufio.Scanner` limit, which `ReadAll` inherits.
const MAX_LINE_LENGTH: usize = 64 * 1024 - 1;

/// Why a `.dockerignore` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerignoreError {
    /// The file is not UTF-8.
    #[error(".dockerignore line {0}: invalid UTF-8")]
    InvalidUtf8(usize),
    /// A line longer than Go's scanner accepts.
    #[error("error reading .dockerignore: line {0}: token too long")]
    LineTooLong(usize),
}

/// Reads `.dockerignore` content into exclude patterns.
pub fn read_patterns(content: &[u8]) -> Result<Vec<String>, DockerignoreError> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let mut patterns = Vec::new();
    for (i, raw) in content.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MAX_LINE_LENGTH {
            return Err(DockerignoreError::LineTooLong(line_no));
        }
        let line = std::str::from_utf8(raw).map_err(|_| DockerignoreError::InvalidUtf8(line_no))?;
        // Comments are recognised before trimming: " # x" is a pattern.
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean_path(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        patterns.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    Ok(patterns)
}

/// Go's `path/filepath.Clean` for Unix paths: the shortest equivalent path
/// by lexical processing.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Vec<String> {
        read_patterns(s.as_bytes()).expect("reads")
    }

    #[test]
    fn like_ignorefile_read_all() {
        let got = read(
            "# comment\n\n  *.md  \n!README.md\n! keep/this \n/abs/path\n./rel/../x/\n#not\n  # kept\n!\n/\nnode_modules\r\n",
        );
        assert_eq!(
            got,
            [
                "*.md",
                "!README.md",
                "!keep/this",
                "abs/path",
                "x",
                "# kept",
                "!",
                "/",
                "node_modules"
            ]
        );
    }

    #[test]
    fn bom_and_errors() {
        assert_eq!(read_patterns(b"\xEF\xBB\xBFa\nb").expect("ok"), ["a", "b"]);
        assert_eq!(
            read_patterns(b"a\n\xff"),
            Err(DockerignoreError::InvalidUtf8(2))
        );
        let long = "x".repeat(70_000);
        assert_eq!(
            read_patterns(long.as_bytes()),
            Err(DockerignoreError::LineTooLong(1))
        );
        assert!(read_patterns(b"").expect("ok").is_empty());
    }

    #[test]
    fn clean() {
        assert_eq!(clean_path(""), ".");
        assert_eq!(clean_path("a//b/./c/.."), "a/b");
        assert_eq!(clean_path("/../a"), "/a");
        assert_eq!(clean_path("../../a"), "../../a");
        assert_eq!(clean_path("a/../.."), "..");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("./"), ".");
    }
}
