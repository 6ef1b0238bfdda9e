use std::collections::BTreeMap;

use super::*;
use crate::elf::machine;
use crate::platform::Platform;

/// An image in memory: path -> (info, contents). Symlinks are given as
/// `Link(target)` and followed by `stat` like the daemon does.
#[derive(Default)]
struct MemImage {
    entries: BTreeMap<String, Entry>,
}

enum Entry {
    File(u32, Vec<u8>),
    Dir,
    Link(String),
}

impl MemImage {
    fn file(mut self, path: &str, perm: u32, data: Vec<u8>) -> Self {
        self.parents(path);
        self.entries
            .insert(path.to_string(), Entry::File(perm, data));
        self
    }
    fn link(mut self, path: &str, target: &str) -> Self {
        self.parents(path);
        self.entries
            .insert(path.to_string(), Entry::Link(target.to_string()));
        self
    }
    fn parents(&mut self, path: &str) {
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            let parent = if parent.is_empty() { "/" } else { parent };
            self.entries.insert(parent.to_string(), Entry::Dir);
            if parent == "/" {
                break;
            }
            dir = parent;
        }
    }
    fn resolve(&self, path: &str) -> Option<(&str, &Entry)> {
        let mut path = path.to_string();
        for _ in 0..10 {
            let (key, entry) = self.entries.get_key_value(&path)?;
            match entry {
                Entry::Link(target) => {
                    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
                    path = clean_path(if dir.is_empty() { "/" } else { dir }, target);
                }
                other => return Some((key.as_str(), other)),
            }
        }
        None
    }
    fn info(entry: &Entry) -> FileInfo {
        match entry {
            Entry::File(perm, data) => FileInfo {
                kind: FileKind::File,
                perm: *perm,
                size: data.len() as i64,
            },
            Entry::Dir => FileInfo {
                kind: FileKind::Dir,
                perm: 0o755,
                size: 0,
            },
            Entry::Link(_) => FileInfo {
                kind: FileKind::Symlink,
                perm: 0o777,
                size: 0,
            },
        }
    }
}

impl ImageFiles for MemImage {
    async fn stat(&self, path: &str) -> Result<Option<FileInfo>, String> {
        Ok(self.resolve(path).map(|(_, e)| MemImage::info(e)))
    }
    async fn read_head(&self, path: &str, len: usize) -> Result<Vec<u8>, String> {
        match self.resolve(path) {
            Some((_, Entry::File(_, data))) => Ok(data[..len.min(data.len())].to_vec()),
            _ => Err(format!("{path} is not a regular file")),
        }
    }
    async fn list(&self, dir: &str) -> Result<Vec<(String, FileInfo)>, String> {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        Ok(self
            .entries
            .iter()
            .filter_map(|(path, entry)| {
                let name = path.strip_prefix(&prefix)?;
                (!name.is_empty() && !name.contains('/'))
                    .then(|| (name.to_string(), MemImage::info(entry)))
            })
            .collect())
    }
}

fn elf64(machine: u16, big: bool) -> Vec<u8> {
    let mut h = vec![0u8; 200];
    h[..4].copy_from_slice(&crate::elf::MAGIC);
    h[4] = 2;
    h[5] = if big { 2 } else { 1 };
    let m = if big {
        machine.to_be_bytes()
    } else {
        machine.to_le_bytes()
    };
    h[18..20].copy_from_slice(&m);
    h
}

fn target(p: &str) -> Option<ElfTarget> {
    crate::elf::target_for(&p.parse::<Platform>().unwrap())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn commands_are_found_on_path_like_the_runtime_finds_them() {
    let image = MemImage::default()
        .file("/bin/busybox", 0o755, elf64(machine::EM_AARCH64, false))
        .link("/bin/sh", "busybox")
        .file("/usr/local/bin/tool", 0o644, elf64(62, false)) // not executable
        .file("/opt/tool", 0o755, elf64(62, false));
    block_on(async {
        assert_eq!(
            resolve_command(&image, "sh", "/usr/local/bin:/bin", "/").await,
            Ok("/bin/sh".to_string())
        );
        // Not executable on the first PATH entry: skipped, like execvp.
        assert_eq!(
            resolve_command(&image, "tool", "/usr/local/bin:/opt", "/").await,
            Ok("/opt/tool".to_string())
        );
        assert_eq!(
            resolve_command(&image, "../opt/tool", "", "/bin").await,
            Ok("/opt/tool".to_string())
        );
        // Relative PATH entries are ignored (the runtime resolves against /).
        assert!(resolve_command(&image, "sh", "bin:.", "/")
            .await
            .unwrap_err()
            .contains("not in the image"));
        assert_eq!(
            resolve_command(&image, "/bin/nothing", DEFAULT_PATH, "/").await,
            Err("the command /bin/nothing is not in the image".to_string())
        );
        assert_eq!(
            resolve_command(&image, "/bin", DEFAULT_PATH, "/").await,
            Err("the command /bin is not a regular file".to_string())
        );
    });
}

#[test]
fn the_command_binary_must_match_the_platform() {
    let image = MemImage::default().file("/app", 0o755, elf64(machine::EM_X86_64, false));
    block_on(async {
        let mut findings = Findings::default();
        check_command(&image, "/app", target("linux/arm64"), &mut findings)
            .await
            .unwrap();
        assert!(findings.problems.is_empty());
        let check = &findings.checks[0];
        assert!(!check.ok);
        assert_eq!(
            check.problem("linux/arm64").unwrap(),
            "/app (command) is x86-64 (64-bit, little-endian), but linux/arm64 needs AArch64 (64-bit, little-endian)"
        );
        let mut findings = Findings::default();
        check_command(&image, "/app", target("linux/amd64"), &mut findings)
            .await
            .unwrap();
        assert!(findings.checks[0].ok);
        assert_eq!(findings.checks[0].problem("linux/amd64"), None);
    });
}

#[test]
fn scripts_are_checked_through_their_interpreter() {
    let image = MemImage::default()
        .file("/bin/busybox", 0o755, elf64(machine::EM_S390, true))
        .link("/bin/sh", "busybox")
        .file("/bin/greet", 0o755, b"#!/bin/sh -e\necho hi\n".to_vec())
        .file("/bin/orphan", 0o755, b"#! /usr/bin/python3\n".to_vec())
        .file("/bin/data", 0o755, b"just text, not a program".to_vec());
    block_on(async {
        let mut findings = Findings::default();
        check_command(&image, "/bin/greet", target("linux/s390x"), &mut findings)
            .await
            .unwrap();
        assert_eq!(findings.checks.len(), 1);
        assert_eq!(findings.checks[0].path, "/bin/sh");
        assert_eq!(findings.checks[0].role, "interpreter of /bin/greet");
        assert!(findings.checks[0].ok);

        let mut findings = Findings::default();
        check_command(&image, "/bin/orphan", target("linux/s390x"), &mut findings)
            .await
            .unwrap();
        assert_eq!(
            findings.problems,
            ["/usr/bin/python3 (interpreter of /bin/orphan) is not in the image"]
        );

        let mut findings = Findings::default();
        check_command(&image, "/bin/data", target("linux/s390x"), &mut findings)
            .await
            .unwrap();
        assert_eq!(
            findings.problems,
            ["/bin/data (command) is neither an ELF binary nor a #! script"]
        );
    });
    assert_eq!(shebang_interpreter(b"#!/bin/sh"), Some("/bin/sh".into()));
    assert_eq!(shebang_interpreter(b"#!\n"), None);
    assert_eq!(shebang_interpreter(b"\x7fELF"), None);
}

#[test]
fn named_directories_are_walked_and_every_elf_file_checked() {
    let image = MemImage::default()
        .file("/usr/bin/good", 0o755, elf64(machine::EM_AARCH64, false))
        .file(
            "/usr/bin/sub/wrong",
            0o755,
            elf64(machine::EM_X86_64, false),
        )
        .file("/usr/bin/script", 0o755, b"#!/bin/sh\n".repeat(10))
        .file("/usr/bin/tiny", 0o755, vec![0x7f, b'E', b'L', b'F'])
        .link("/usr/bin/elsewhere", "/etc")
        .file("/etc/passwd", 0o644, b"root:x:0:0::/:/bin/sh\n".repeat(4));
    block_on(async {
        let mut findings = Findings::default();
        check_named(&image, "/usr/bin/", target("linux/arm64"), &mut findings)
            .await
            .unwrap();
        assert!(findings.problems.is_empty(), "{:?}", findings.problems);
        let mut checked: Vec<(&str, bool)> = findings
            .checks
            .iter()
            .map(|c| (c.path.as_str(), c.ok))
            .collect();
        checked.sort();
        assert_eq!(
            checked,
            [("/usr/bin/good", true), ("/usr/bin/sub/wrong", false)]
        );
        assert_eq!(findings.checks[0].role, "--check-elf /usr/bin/");

        let mut findings = Findings::default();
        check_named(&image, "/etc", target("linux/arm64"), &mut findings)
            .await
            .unwrap();
        assert_eq!(
            findings.problems,
            ["/etc (--check-elf /etc) holds no ELF files"]
        );

        let mut findings = Findings::default();
        check_named(&image, "/etc/passwd", target("linux/arm64"), &mut findings)
            .await
            .unwrap();
        assert_eq!(
            findings.problems,
            ["/etc/passwd (--check-elf /etc/passwd): not an ELF file (starts with \"root\")"]
        );

        let mut findings = Findings::default();
        check_named(&image, "missing", target("linux/arm64"), &mut findings)
            .await
            .unwrap();
        assert_eq!(
            findings.problems,
            ["/missing (--check-elf missing) is not in the image"]
        );
    });
}

#[test]
fn platforms_without_an_elf_entry_are_listed_not_failed() {
    let image = MemImage::default().file("/app", 0o755, elf64(machine::EM_X86_64, false));
    block_on(async {
        let mut findings = Findings::default();
        check_command(&image, "/app", None, &mut findings)
            .await
            .unwrap();
        assert!(findings.checks[0].ok);
        assert_eq!(findings.checks[0].expected, None);
    });
}

#[test]
fn paths_are_cleaned_without_escaping_the_root() {
    assert_eq!(clean_path("/", "a/./b//c"), "/a/b/c");
    assert_eq!(clean_path("/x/y", "../../../etc"), "/etc");
    assert_eq!(clean_path("/x", "/abs/../p"), "/p");
    assert_eq!(clean_path("/", ""), "/");
    assert_eq!(path_of(&["A=1".into(), "PATH=/bin".into()]), "/bin");
    assert_eq!(path_of(&[]), DEFAULT_PATH);
}

#[test]
fn go_file_modes_map_to_kinds() {
    assert_eq!(FileInfo::from_go_mode(0o755, 3).kind, FileKind::File);
    assert_eq!(
        FileInfo::from_go_mode((1 << 31) | 0o755, 0).kind,
        FileKind::Dir
    );
    assert_eq!(
        FileInfo::from_go_mode((1 << 27) | 0o777, 0).kind,
        FileKind::Symlink
    );
    assert_eq!(
        FileInfo::from_go_mode((1 << 26) | (1 << 21) | 0o666, 0).kind,
        FileKind::Other
    );
    assert_eq!(FileInfo::from_go_mode((1 << 31) | 0o1777, 0).perm, 0o1777);
}
