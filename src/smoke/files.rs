//! Which files of an image to check, and checking them: the command's
//! binary (found on `PATH` as the runtime finds it, through a `#!` script
//! to its interpreter) and the files and directories named with
//! `--check-elf`, each read only as far as its ELF header.

use serde::Serialize;

use crate::elf::{self, ElfTarget};

/// Go's `os.FileMode` type bits, as fsutil's `Stat.mode` carries them.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_TYPE: u32 =
    MODE_DIR | MODE_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);

/// `PATH` when the image sets none (what BuildKit and Docker use).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// At most this many entries are looked at under one `--check-elf`
/// directory, so a check of `/` ends in bounded time.
pub const MAX_WALK_ENTRIES: usize = 20_000;

/// Bytes read from the command's file: an ELF header or a `#!` line.
const HEAD_LEN: usize = 256;

/// What kind of file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only seen in listings, which do not follow them).
    Symlink,
    /// Anything else (device, FIFO, socket).
    Other,
}

/// A file's kind, permission bits and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// The kind.
    pub kind: FileKind,
    /// Permission bits (`0o755`).
    pub perm: u32,
    /// Size in bytes.
    pub size: i64,
}

impl FileInfo {
    /// From fsutil's `Stat.mode` (Go's `os.FileMode` bits) and size.
    pub fn from_go_mode(mode: u32, size: i64) -> FileInfo {
        let kind = if mode & MODE_DIR != 0 {
            FileKind::Dir
        } else if mode & MODE_SYMLINK != 0 {
            FileKind::Symlink
        } else if mode & MODE_TYPE != 0 {
            FileKind::Other
        } else {
            FileKind::File
        };
        FileInfo {
            kind,
            perm: mode & 0o7777,
            size,
        }
    }
}

/// Read access to one image's files (a solved result on the daemon; a map
/// in the unit tests).
pub(crate) trait ImageFiles {
    /// The file at `path`, following symlinks; `None` if there is none.
    async fn stat(&self, path: &str) -> Result<Option<FileInfo>, String>;
    /// The first `len` bytes of the file at `path` (fewer if shorter).
    async fn read_head(&self, path: &str, len: usize) -> Result<Vec<u8>, String>;
    /// The entries of the directory `dir` (names, not paths), symlinks not
    /// followed.
    async fn list(&self, dir: &str) -> Result<Vec<(String, FileInfo)>, String>;
}

/// One ELF file checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfCheck {
    /// The file's path in the image.
    pub path: String,
    /// Why it was checked: `command`, `interpreter of /bin/x`, or
    /// `--check-elf /usr/bin`.
    pub role: String,
    /// What its header says.
    pub found: ElfTarget,
    /// What the platform needs (`None`: a platform without an ELF entry;
    /// not checked).
    pub expected: Option<ElfTarget>,
    /// `found` is what the platform needs (or nothing is expected).
    pub ok: bool,
}

impl ElfCheck {
    /// The sentence for a failed check.
    pub fn problem(&self, platform: &str) -> Option<String> {
        match (&self.ok, &self.expected) {
            (false, Some(expected)) => Some(format!(
                "{} ({}) is {}, but {platform} needs {expected}",
                self.path, self.role, self.found
            )),
            _ => None,
        }
    }
}

/// What the checks of one image found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Every ELF file looked at.
    pub checks: Vec<ElfCheck>,
    /// Why the image fails, beyond the ELF mismatches in `checks`.
    pub problems: Vec<String>,
}

impl Findings {
    fn add(&mut self, path: &str, role: &str, header: elf::ElfHeader, expected: Option<ElfTarget>) {
        self.checks.push(ElfCheck {
            path: path.to_string(),
            role: role.to_string(),
            found: header.target(),
            expected,
            ok: expected.is_none_or(|e| header.matches(&e)),
        });
    }
}

/// Joins `name` to `dir` and removes `.`, `..` and doubled slashes (never
/// above `/`).
pub fn clean_path(dir: &str, name: &str) -> String {
    let joined = if name.starts_with('/') {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The `PATH` in `env` (`KEY=VALUE` entries), or the default.
pub fn path_of(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// Finds the file the runtime would execute for `argv0`: a path (relative
/// to `cwd`) if it has a slash, else the first executable regular file of
/// that name on `path`.
pub(crate) async fn resolve_command(
    files: &impl ImageFiles,
    argv0: &str,
    path: &str,
    cwd: &str,
) -> Result<String, String> {
    if argv0.contains('/') {
        let full = clean_path(if cwd.is_empty() { "/" } else { cwd }, argv0);
        return match files.stat(&full).await? {
            Some(info) if info.kind == FileKind::File => Ok(full),
            Some(_) => Err(format!("the command {argv0} is not a regular file")),
            None => Err(format!("the command {argv0} is not in the image")),
        };
    }
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let candidate = clean_path(dir, argv0);
        if let Some(info) = files.stat(&candidate).await? {
            if info.kind == FileKind::File && info.perm & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "the command {argv0} is not in the image (no executable file of that name on PATH={path})"
    ))
}

/// Checks the file the command runs: its ELF header, or for a `#!` script
/// its interpreter's.
pub(crate) async fn check_command(
    files: &impl ImageFiles,
    binary: &str,
    expected: Option<ElfTarget>,
    findings: &mut Findings,
) -> Result<(), String> {
    let head = files.read_head(binary, HEAD_LEN).await?;
    if elf::is_elf(&head) {
        match elf::parse_header(&head) {
            Ok(header) => findings.add(binary, "command", header, expected),
            Err(e) => findings.problems.push(format!("{binary} (command): {e}")),
        }
        return Ok(());
    }
    let Some(interpreter) = shebang_interpreter(&head) else {
        findings.problems.push(format!(
            "{binary} (command) is neither an ELF binary nor a #! script"
        ));
        return Ok(());
    };
    let role = format!("interpreter of {binary}");
    let full = clean_path("/", &interpreter);
    match files.stat(&full).await? {
        Some(info) if info.kind == FileKind::File => {}
        _ => {
            findings
                .problems
                .push(format!("{full} ({role}) is not in the image"));
            return Ok(());
        }
    }
    let head = files.read_head(&full, elf::HEADER_LEN).await?;
    match elf::parse_header(&head) {
        Ok(header) => findings.add(&full, &role, header, expected),
        Err(e) => findings.problems.push(format!("{full} ({role}): {e}")),
    }
    Ok(())
}

/// The interpreter path of a `#!` line, if `head` starts with one.
pub fn shebang_interpreter(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next().unwrap_or(rest);
    let line = std::str::from_utf8(line).ok()?;
    line.split_whitespace().next().map(str::to_string)
}

/// Checks a `--check-elf` path: a file must be ELF; a directory is walked
/// (symlinks not followed) and every ELF file in it checked.
pub(crate) async fn check_named(
    files: &impl ImageFiles,
    named: &str,
    expected: Option<ElfTarget>,
    findings: &mut Findings,
) -> Result<(), String> {
    let path = clean_path("/", named);
    let role = format!("--check-elf {named}");
    let Some(info) = files.stat(&path).await? else {
        findings
            .problems
            .push(format!("{path} ({role}) is not in the image"));
        return Ok(());
    };
    match info.kind {
        FileKind::File => {
            let head = files.read_head(&path, elf::HEADER_LEN).await?;
            match elf::parse_header(&head) {
                Ok(header) => findings.add(&path, &role, header, expected),
                Err(e) => findings.problems.push(format!("{path} ({role}): {e}")),
            }
        }
        FileKind::Dir => {
            let before = findings.checks.len();
            let mut pending = vec![path.clone()];
            let mut seen = 0usize;
            while let Some(dir) = pending.pop() {
                for (name, entry) in files.list(&dir).await? {
                    seen += 1;
                    if seen > MAX_WALK_ENTRIES {
                        findings.problems.push(format!(
                            "{path} ({role}): stopped after {MAX_WALK_ENTRIES} entries; name a smaller directory"
                        ));
                        return Ok(());
                    }
                    let child = clean_path(&dir, &name);
                    match entry.kind {
                        FileKind::Dir => pending.push(child),
                        // Smaller than any ELF header: not a binary.
                        FileKind::File if entry.size >= 52 => {
                            let head = files.read_head(&child, elf::HEADER_LEN).await?;
                            if let Ok(header) = elf::parse_header(&head) {
                                findings.add(&child, &role, header, expected);
                            }
                        }
                        _ => {}
                    }
                }
            }
            if findings.checks.len() == before {
                findings
                    .problems
                    .push(format!("{path} ({role}) holds no ELF files"));
            }
        }
        FileKind::Symlink | FileKind::Other => findings
            .problems
            .push(format!("{path} ({role}) is not a file or directory")),
    }
    Ok(())
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
