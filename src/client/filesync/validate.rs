//! Checks on incoming STAT paths: fsutil's order validator plus the path
//! safety rules our receiver needs before touching the disk.

use std::collections::HashSet;

use super::pattern::{clean_path, go_dir};

/// fsutil's `Validator`: entries must come depth-first, pre-order, with
/// names strictly increasing within a directory, and every parent sent as a
/// directory first. Stricter than Go in one point: the parent must be
/// exactly the directory on top of the stack (Go only checks `<=`, which
/// lets an unsent parent slip through).
#[derive(Debug, Default)]
pub(crate) struct OrderValidator {
    /// Open directories from the root down: (dir path, last name seen in it).
    parents: Vec<(String, String)>,
}

impl OrderValidator {
    /// Accepts the next path or says why it is out of order.
    pub(crate) fn check(&mut self, path: &str, is_dir: bool) -> Result<(), String> {
        if self.parents.is_empty() {
            self.parents.push((String::new(), String::new()));
        }
        if path != clean_path(path) {
            return Err(format!("invalid unclean path {path:?}"));
        }
        if path.starts_with('/') {
            return Err(format!("absolute path {path:?} not allowed"));
        }
        let mut dir = go_dir(path);
        if dir == "." {
            dir.clear();
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        if dir == ".." || path.starts_with("../") {
            return Err(format!("invalid path {path:?}"));
        }
        // Deepest open directory whose path sorts at or before `dir`.
        let i = self
            .parents
            .iter()
            .rposition(|(d, _)| d.as_str() <= dir.as_str())
            .unwrap_or(0);
        self.parents.truncate(i + 1);
        let (top_dir, last) = &mut self.parents[i];
        if (i == 0 && !dir.is_empty()) || *top_dir != dir || last.as_str() >= base {
            let previous = if top_dir.is_empty() {
                last.clone()
            } else {
                format!("{top_dir}/{last}")
            };
            return Err(format!("changes out of order: {path:?} after {previous:?}"));
        }
        *last = base.to_string();
        if is_dir {
            self.parents.push((path.to_string(), String::new()));
        }
        Ok(())
    }
}

/// A path we are willing to create under the destination: relative, clean,
/// no `..` or `.` elements, no NUL.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && path == clean_path(path)
        && path.split('/').all(|part| part != ".." && part != ".")
}

/// fsutil's `Hardlinks` validator: a hard link may only name a regular file
/// sent earlier (and not itself a link).
#[derive(Debug, Default)]
pub(crate) struct HardlinkValidator {
    files: HashSet<String>,
}

impl HardlinkValidator {
    /// Records a regular file, or checks a hard link's target.
    pub(crate) fn check(&mut self, path: &str, linkname: &str) -> Result<(), String> {
        if linkname.is_empty() {
            self.files.insert(path.to_string());
            Ok(())
        } else if self.files.contains(linkname) {
            Ok(())
        } else {
            Err(format!(
                "invalid link {path:?} to unknown path {linkname:?}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(entries: &[(&str, bool)]) -> Result<(), String> {
        let mut v = OrderValidator::default();
        entries.iter().try_for_each(|(p, d)| v.check(p, *d))
    }

    #[test]
    fn accepts_component_order_and_rejects_string_order() {
        assert!(run(&[("a", true), ("a/b", false), ("a-c", false)]).is_ok());
        assert!(run(&[("a", true), ("a-c", false), ("a/b", false)]).is_err());
        assert!(run(&[("b", false), ("a", false)]).is_err());
        assert!(run(&[("a", false), ("a", false)]).is_err());
        assert!(run(&[("x/y", false)]).is_err(), "parent never sent");
        assert!(
            run(&[("a", true), ("b/c", false)]).is_err(),
            "parent never sent"
        );
        assert!(
            run(&[("a", false), ("a/b", false)]).is_err(),
            "parent is a file"
        );
        assert!(run(&[("./a", false)]).is_err());
        assert!(run(&[("/a", false)]).is_err());
        assert!(run(&[("../a", false)]).is_err());
        assert!(run(&[
            ("a", true),
            ("a/b", true),
            ("a/b/c", false),
            ("a/c", false),
            ("b", false)
        ])
        .is_ok());
    }

    #[test]
    fn safe_paths() {
        assert!(is_safe_relative("a/b"));
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/../../x",
            "/etc",
            "a//b",
            "a/./b",
            "a\0b",
        ] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn hardlinks_need_an_earlier_file() {
        let mut v = HardlinkValidator::default();
        assert!(v.check("b", "a").is_err());
        assert!(v.check("a", "").is_ok());
        assert!(v.check("b", "a").is_ok());
    }
}
