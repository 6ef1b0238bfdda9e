//! Walking a context directory into the STAT sequence the daemon expects,
//! with fsutil's `FilterFS` semantics for include/exclude/follow paths.
//!
//! Order matters: BuildKit's receiver rejects anything but a depth-first
//! pre-order walk with each directory's entries sorted by byte value
//! ("changes out of order"). Reading each directory and sorting its names
//! gives exactly that, and sorts `a/b` before `a-c` as the validator wants.
//!
//! The walk never follows symlinks: a link is sent as a link, whatever it
//! points at, so nothing outside the context is ever read.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::follow::{dedupe_paths, follow_links};
use super::mode;
use super::pattern::{MatchInfo, Pattern, PatternMatcher};
use super::{FileSyncError, Stat};

/// Which parts of a directory to send; the metadata the daemon puts on a
/// `FileSync.DiffCopy` call (`include-patterns`, `exclude-patterns`,
/// `followpaths`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterOptions {
    /// When non-empty, only paths matching one of these (or inside a
    /// matching directory) are sent.
    pub include_patterns: Vec<String>,
    /// Paths matching these are not sent (`.dockerignore` semantics,
    /// `!pattern` re-includes).
    pub exclude_patterns: Vec<String>,
    /// Paths to send together with whatever their symlinks resolve to
    /// inside the context; they extend the include patterns.
    pub follow_paths: Vec<String>,
}

/// Walks `root` and calls `emit` with one [`Stat`] per entry to send, in
/// protocol order. Parent directories are always emitted before their
/// children, also when the parent itself was excluded but a child is
/// re-included. uid/gid are zero, as the Go client sends them.
///
/// An error from `emit` stops the walk and is returned unchanged.
pub fn walk<F>(root: &Path, opts: &FilterOptions, emit: F) -> Result<(), FileSyncError>
where
    F: FnMut(Stat) -> Result<(), FileSyncError>,
{
    let root = fs::canonicalize(root).map_err(|e| FileSyncError::io("resolve", root, e))?;
    let meta = fs::metadata(&root).map_err(|e| FileSyncError::io("stat", &root, e))?;
    if !meta.is_dir() {
        return Err(FileSyncError::io(
            "walk",
            &root,
            io::Error::from_raw_os_error(libc::ENOTDIR),
        ));
    }
    let filter = Filter::new(&root, opts)?;
    let mut walker = Walker {
        root,
        filter,
        seen_inodes: HashMap::new(),
        pending: Vec::new(),
        emit,
    };
    walker.walk_dir("", &MatchInfo::default(), &MatchInfo::default(), false)
}

/// The compiled filter plus fsutil's "can this directory be skipped whole"
/// flags, which decide whether excluded directories are descended into.
struct Filter {
    include: Option<PatternMatcher>,
    exclude: Option<PatternMatcher>,
    /// No include pattern has wildcards before its trailing `/*` or `/**`,
    /// so a directory no pattern starts with can be skipped.
    only_prefix_includes: bool,
    /// Same for the `!` exceptions of the exclude patterns.
    only_prefix_exclude_exceptions: bool,
}

/// Characters that make a pattern more than a plain path prefix.
const PATTERN_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

impl Filter {
    fn new(root: &Path, opts: &FilterOptions) -> Result<Self, FileSyncError> {
        let mut includes = opts.include_patterns.clone();
        if !opts.follow_paths.is_empty() {
            if let Some(targets) = follow_links(root, &opts.follow_paths)? {
                includes.extend(targets);
                includes = dedupe_paths(&includes).unwrap_or_default();
            }
        }
        let mut filter = Filter {
            include: None,
            exclude: None,
            only_prefix_includes: true,
            only_prefix_exclude_exceptions: true,
        };
        if !includes.is_empty() {
            let pm = PatternMatcher::new(&includes).map_err(|source| FileSyncError::Pattern {
                which: "include patterns",
                source,
            })?;
            filter.only_prefix_includes = !pm
                .patterns()
                .iter()
                .any(|p| !p.is_exclusion() && without_trailing_glob(p).contains(PATTERN_CHARS));
            filter.include = Some(pm);
        }
        if !opts.exclude_patterns.is_empty() {
            let pm = PatternMatcher::new(&opts.exclude_patterns).map_err(|source| {
                FileSyncError::Pattern {
                    which: "exclude patterns",
                    source,
                }
            })?;
            filter.only_prefix_exclude_exceptions = !pm
                .patterns()
                .iter()
                .any(|p| p.is_exclusion() && without_trailing_glob(p).contains(PATTERN_CHARS));
            filter.exclude = Some(pm);
        }
        Ok(filter)
    }
}

/// The pattern without a trailing `/**` or `/*`: the directory prefix it
/// selects.
fn without_trailing_glob(p: &Pattern) -> &str {
    let s = p.as_str();
    let s = s.strip_suffix("/**").unwrap_or(s);
    s.strip_suffix("/*").unwrap_or(s)
}

/// Whether some pattern (inclusions when `exceptions` is false, `!`
/// exceptions when true) names a path inside `dir`, so walking into it may
/// still find something to send.
fn could_match_inside(pm: &PatternMatcher, dir: &str, exceptions: bool) -> bool {
    let dir_slash = format!("{dir}/");
    pm.patterns()
        .iter()
        .filter(|p| p.is_exclusion() == exceptions)
        .any(|p| format!("{}/", without_trailing_glob(p)).starts_with(&dir_slash))
}

/// A directory on the current walk path, held back until something inside
/// it (or itself) is sent.
struct PendingDir {
    stat: Stat,
    emitted: bool,
    /// The full local path when the directory's name is not UTF-8: it can
    /// be walked for filtering, but not sent.
    bad_name: Option<PathBuf>,
}

struct Walker<F> {
    root: PathBuf,
    filter: Filter,
    /// First sent path of each multiply-linked inode, keyed by (dev, ino).
    seen_inodes: HashMap<(u64, u64), String>,
    pending: Vec<PendingDir>,
    emit: F,
}

impl<F> Walker<F>
where
    F: FnMut(Stat) -> Result<(), FileSyncError>,
{
    /// Walks the children of `rel` (`""` is the root, which is never sent).
    fn walk_dir(
        &mut self,
        rel: &str,
        include_info: &MatchInfo,
        exclude_info: &MatchInfo,
        skipped: bool,
    ) -> Result<(), FileSyncError> {
        let abs = self.root.join(rel);
        let entries = match fs::read_dir(&abs) {
            Ok(entries) => entries,
            // An unreadable directory that is filtered out anyway is fine.
            Err(e) if skipped && e.kind() == io::ErrorKind::PermissionDenied => return Ok(()),
            Err(e) => return Err(FileSyncError::io("read directory", abs, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| FileSyncError::io("read directory", &abs, e))?;
            names.push(entry.file_name());
        }
        // Byte order, as os.ReadDir sorts; OsString's Ord compares bytes.
        names.sort();

        for name in names {
            // A name that is not UTF-8 cannot go into the protobuf string of
            // a Stat (the daemon rejects such a message), but it only matters
            // if the entry is sent: filters see a lossy version, and the
            // error is raised when the entry (or something inside it) would
            // be emitted, so `.dockerignore` can exclude it and the
            // Dockerfile's own directory can still be read.
            let (name_str, bad_name) = match name.to_str() {
                Some(s) => (s.to_string(), None),
                None => (name.to_string_lossy().into_owned(), Some(abs.join(&name))),
            };
            let child = if rel.is_empty() {
                name_str
            } else {
                format!("{rel}/{name_str}")
            };
            let child_abs = abs.join(&name);
            let meta = match fs::symlink_metadata(&child_abs) {
                Ok(meta) => meta,
                // Vanished since readdir: nothing to send.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(FileSyncError::io("stat", child_abs, e)),
            };
            let is_dir = meta.is_dir();
            let mut skip = false;

            let mut child_include = MatchInfo::default();
            if let Some(pm) = &self.filter.include {
                let (matched, info) = pm.matches_using_parent_results(&child, include_info);
                child_include = info;
                if !matched {
                    if is_dir
                        && self.filter.only_prefix_includes
                        && !could_match_inside(pm, &child, false)
                    {
                        continue;
                    }
                    skip = true;
                }
            }
            let mut child_exclude = MatchInfo::default();
            if let Some(pm) = &self.filter.exclude {
                let (matched, info) = pm.matches_using_parent_results(&child, exclude_info);
                child_exclude = info;
                if matched {
                    if is_dir
                        && self.filter.only_prefix_exclude_exceptions
                        && (!pm.exclusions() || !could_match_inside(pm, &child, true))
                    {
                        continue;
                    }
                    skip = true;
                }
            }
            // Sockets cannot be recreated from a stream; Go would send them
            // as unreadable regular files.
            if meta.file_type().is_socket() {
                continue;
            }

            if is_dir {
                let stat = self.make_stat(&child_abs, &child, &meta)?;
                self.pending.push(PendingDir {
                    stat,
                    emitted: false,
                    bad_name,
                });
                if !skip {
                    self.emit_pending()?;
                }
                let result = self.walk_dir(&child, &child_include, &child_exclude, skip);
                self.pending.pop();
                result?;
            } else if !skip {
                if let Some(path) = bad_name {
                    return Err(FileSyncError::NonUtf8Path(path));
                }
                let stat = self.make_stat(&child_abs, &child, &meta)?;
                self.emit_pending()?;
                (self.emit)(stat)?;
            }
        }
        Ok(())
    }

    /// Sends the directories on the current path that were held back.
    fn emit_pending(&mut self) -> Result<(), FileSyncError> {
        for dir in self.pending.iter_mut().filter(|d| !d.emitted) {
            if let Some(path) = &dir.bad_name {
                return Err(FileSyncError::NonUtf8Path(path.clone()));
            }
            dir.emitted = true;
            (self.emit)(dir.stat.clone())?;
        }
        Ok(())
    }

    /// Builds the wire Stat for one entry (fsutil's `mkstat`).
    fn make_stat(&mut self, abs: &Path, rel: &str, meta: &Metadata) -> Result<Stat, FileSyncError> {
        let go_mode = mode::from_unix(meta.mode()) & !mode::SOCKET;
        let mut stat = Stat {
            path: rel.to_string(),
            mode: go_mode,
            uid: 0,
            gid: 0,
            mod_time: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ..Stat::default()
        };
        if meta.is_dir() {
            return Ok(stat);
        }
        stat.size = i64::try_from(meta.len()).unwrap_or(i64::MAX);
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            let target = fs::read_link(abs).map_err(|e| FileSyncError::io("read link", abs, e))?;
            stat.linkname = target
                .to_str()
                .ok_or_else(|| FileSyncError::NonUtf8Path(abs.to_path_buf()))?
                .to_string();
        } else if file_type.is_block_device() || file_type.is_char_device() {
            // Go's (old Linux) dev_t split.
            let rdev = meta.rdev();
            stat.devmajor = ((rdev >> 8) & 0xfff) as i64;
            stat.devminor = ((rdev & 0xff) | ((rdev >> 12) & 0xfff00)) as i64;
        } else if mode::is_regular(go_mode) && meta.nlink() > 1 {
            // Later names of an inode become hard links to the first one
            // sent. fsutil keeps the real size in this case, so do we.
            match self.seen_inodes.get(&(meta.dev(), meta.ino())) {
                Some(first) => stat.linkname = first.clone(),
                None => {
                    self.seen_inodes
                        .insert((meta.dev(), meta.ino()), rel.to_string());
                }
            }
        }
        Ok(stat)
    }
}
