//! Follow paths: turn `local.followpaths` into include patterns by resolving
//! symlinks inside the context, as fsutil's `FollowLinks` does.
//!
//! The daemon asks for e.g. `Dockerfile` plus whatever it links to. Symlink
//! targets are resolved *relative to the context root* (an absolute target
//! `/x` means `<context>/x`, `..` stops at the root), so resolution can never
//! name anything outside the context.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use super::pattern::{clean_path, go_dir, match_name};
use super::FileSyncError;

/// Symlink hops allowed while resolving one follow path; a guard against
/// pathological link farms (cycles already stop on revisits).
const MAX_DEPTH: usize = 255;

/// Resolves follow paths to the set of context-relative paths to include.
/// `None` means "the whole context" (one of them resolved to the root).
pub(crate) fn follow_links(
    root: &Path,
    paths: &[String],
) -> Result<Option<Vec<String>>, FileSyncError> {
    let mut resolver = Resolver {
        root,
        resolved: BTreeSet::new(),
    };
    for p in paths {
        resolver.append(p, 0)?;
    }
    let sorted: Vec<String> = resolver.resolved.into_iter().collect();
    Ok(dedupe_paths(&sorted))
}

/// Drops paths that lie under an earlier one; `.` anywhere means no filter.
/// Like Go's `dedupePaths` it only looks at the previous kept entry.
pub(crate) fn dedupe_paths(input: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut last = String::new();
    for s in input {
        if s == "." {
            return None;
        }
        if s.starts_with(&format!("{last}/")) {
            continue;
        }
        out.push(s.clone());
        last = s.clone();
    }
    Some(out)
}

struct Resolver<'a> {
    root: &'a Path,
    resolved: BTreeSet<String>,
}

impl Resolver<'_> {
    /// Walks `p` component by component; at each symlink, continues with its
    /// target(s) joined with the rest of the path.
    fn append(&mut self, p: &str, depth: usize) -> Result<(), FileSyncError> {
        if depth > MAX_DEPTH {
            return Err(FileSyncError::Protocol(format!(
                "too many levels of symbolic links resolving follow path {p:?}"
            )));
        }
        let mut rest = p.to_string();
        let mut current = ".".to_string();
        loop {
            let (first, remainder) = match rest.split_once('/') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (rest.clone(), None),
            };
            current = clean_path(&format!("{current}/{first}"));
            let targets = self.read_symlink(&current, true)?;
            rest = remainder.unwrap_or_default();
            if (rest.is_empty() || targets.is_some()) && self.resolved.contains(&current) {
                return Ok(());
            }
            if let Some(targets) = targets {
                self.resolved.insert(current);
                for target in targets {
                    self.append(&clean_path(&format!("{target}/{rest}")), depth + 1)?;
                }
                return Ok(());
            }
            if rest.is_empty() {
                self.resolved.insert(current);
                return Ok(());
            }
        }
    }

    /// The root-anchored target(s) of `p` if it is a symlink; with a wildcard
    /// in the last component, of every matching sibling that is a symlink.
    fn read_symlink(
        &self,
        p: &str,
        allow_wildcard: bool,
    ) -> Result<Option<Vec<String>>, FileSyncError> {
        let real = self.root.join(p);
        let base = p.rsplit('/').next().unwrap_or(p);
        if allow_wildcard && contains_wildcards(base) {
            let dir = go_dir(p);
            let entries = match fs::read_dir(self.root.join(&dir)) {
                Ok(entries) => entries,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(FileSyncError::io("read directory", self.root.join(&dir), e)),
            };
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry
                    .map_err(|e| FileSyncError::io("read directory", self.root.join(&dir), e))?;
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_string());
                }
            }
            names.sort();
            let mut out = Vec::new();
            for name in names {
                let matched = match_name(base, &name).map_err(|source| FileSyncError::Pattern {
                    which: "follow paths",
                    source,
                })?;
                if matched {
                    let child = clean_path(&format!("{dir}/{name}"));
                    if let Some(targets) = self.read_symlink(&child, false)? {
                        out.extend(targets);
                    }
                }
            }
            return Ok(if out.is_empty() { None } else { Some(out) });
        }
        let meta = match fs::symlink_metadata(&real) {
            Ok(meta) => meta,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(FileSyncError::io("stat", real, e)),
        };
        if !meta.file_type().is_symlink() {
            return Ok(None);
        }
        let link = fs::read_link(&real).map_err(|e| FileSyncError::io("read link", &real, e))?;
        let link = link
            .to_str()
            .ok_or_else(|| FileSyncError::NonUtf8Path(real.clone()))?
            .to_string();
        // Anchor at the context root: `..` cannot climb above it and an
        // absolute target is taken relative to the context.
        let anchored = if link.starts_with('/') {
            clean_path(&link)
        } else {
            clean_path(&format!("/{}/{link}", go_dir(p)))
        };
        Ok(Some(vec![anchored]))
    }
}

/// Whether a path element has an unescaped glob character.
fn contains_wildcards(name: &str) -> bool {
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Missing paths (or a file where a directory was expected) just resolve to
/// nothing, as in Go.
fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}
