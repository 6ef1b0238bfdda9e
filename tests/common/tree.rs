//! Building test trees and comparing two trees entry by entry.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// What a tree entry is, as compared between a context and an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory with its permission bits.
    Dir(u32),
    /// A regular file: permission bits, size and a content hash.
    File(u32, u64, String),
    /// A symlink and its target, verbatim.
    Symlink(String),
}

/// Every entry below `root`, keyed by relative path; symlinks are not
/// followed.
pub fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    walk(root, root, &mut entries);
    entries
}

fn walk(root: &Path, dir: &Path, entries: &mut BTreeMap<String, Entry>) {
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            entries.insert(rel, Entry::Symlink(target.to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            entries.insert(rel, Entry::Dir(mode));
            walk(root, &path, entries);
        } else {
            use sha2::Digest;
            let data = std::fs::read(&path).unwrap();
            let hash = hex::encode(sha2::Sha256::digest(&data));
            entries.insert(rel, Entry::File(mode, meta.size(), hash));
        }
    }
}

/// Asserts two snapshots are equal, naming the first entries that differ.
pub fn assert_same_tree(expected: &BTreeMap<String, Entry>, actual: &BTreeMap<String, Entry>) {
    let mut problems = Vec::new();
    for (path, entry) in expected {
        match actual.get(path) {
            None => problems.push(format!("missing {path}")),
            Some(found) if found != entry => {
                problems.push(format!("{path}: expected {entry:?}, found {found:?}"))
            }
            _ => {}
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            problems.push(format!("unexpected {path}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences, first: {:#?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
}

/// Writes `data` to `root/rel` with `mode`, creating parent directories.
pub fn write_file(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}
