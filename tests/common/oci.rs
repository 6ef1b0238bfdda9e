//! Reading `type=oci` export archives without unpacking them to disk: the
//! images per platform, their configs, and the file tree their layers add
//! up to (owners, modes, contents, links, whiteouts applied). Unpacking
//! with `tar` would lose owners when the tests do not run as root and
//! would follow the host's umask; reading the tar headers keeps exactly
//! what the image holds.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use sha2::Digest;

/// One image of an OCI archive: its config JSON and its layers, bottom
/// first, as uncompressed tar streams.
pub struct Image {
    /// The image config, as exported.
    pub config: serde_json::Value,
    /// The layers' tar streams.
    pub layers: Vec<Vec<u8>>,
}

/// The images of an OCI archive by platform (`linux/arm64`,
/// `linux/arm/v7`); attestation manifests (`unknown/unknown`) are left out.
pub fn read_archive(path: &Path) -> BTreeMap<String, Image> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let files: BTreeMap<String, Vec<u8>> = read_tar(&data)
        .into_iter()
        .filter_map(|e| match e.kind {
            Kind::File(bytes) => Some((e.path, bytes)),
            _ => None,
        })
        .collect();
    images(path, &files)
}

/// The images of an OCI layout directory (`tar=false` export), by
/// platform, like [`read_archive`]. Every blob's content is checked against
/// its file name.
pub fn read_layout(dir: &Path) -> BTreeMap<String, Image> {
    let mut files = BTreeMap::new();
    files.insert(
        "index.json".to_string(),
        std::fs::read(dir.join("index.json"))
            .unwrap_or_else(|e| panic!("{}/index.json: {e}", dir.display())),
    );
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            name,
            "blob content does not match its name"
        );
        files.insert(format!("blobs/sha256/{name}"), bytes);
    }
    images(dir, &files)
}

/// The images in an archive's or a layout's files (path → bytes).
fn images(path: &Path, files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Image> {
    let blob = |digest: &str| -> &Vec<u8> {
        let name = format!("blobs/{}", digest.replacen(':', "/", 1));
        files
            .get(&name)
            .unwrap_or_else(|| panic!("{}: no blob {digest}", path.display()))
    };
    let json = |bytes: &[u8]| -> serde_json::Value { serde_json::from_slice(bytes).unwrap() };
    let index = json(&files["index.json"]);
    let mut images = BTreeMap::new();
    let mut pending: Vec<serde_json::Value> = index["manifests"].as_array().unwrap().clone();
    while let Some(descriptor) = pending.pop() {
        let digest = descriptor["digest"].as_str().unwrap();
        let document = json(blob(digest));
        if let Some(children) = document["manifests"].as_array() {
            pending.extend(children.iter().cloned());
            continue;
        }
        let platform = &descriptor["platform"];
        let os = platform["os"].as_str().unwrap_or("unknown");
        let arch = platform["architecture"].as_str().unwrap_or("unknown");
        if arch == "unknown" {
            continue;
        }
        let mut id = format!("{os}/{arch}");
        if let Some(variant) = platform["variant"].as_str() {
            id = format!("{id}/{variant}");
        }
        let config = json(blob(document["config"]["digest"].as_str().unwrap()));
        let layers = document["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|layer| {
                let bytes = blob(layer["digest"].as_str().unwrap());
                let media_type = layer["mediaType"].as_str().unwrap_or("");
                decompress(media_type, bytes)
            })
            .collect();
        images.insert(id, Image { config, layers });
    }
    images
}

fn decompress(media_type: &str, bytes: &[u8]) -> Vec<u8> {
    let tool = if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        "gzip"
    } else if media_type.ends_with("+zstd") {
        "zstd"
    } else {
        return bytes.to_vec();
    };
    let mut child = std::process::Command::new(tool)
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "{tool} -dc failed on a layer");
    output.stdout
}

/// One entry of a file tree, compared between two images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it is, with its contents or target.
    pub kind: EntryKind,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
}

/// The type of an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file: size and sha256 of its contents (the text itself
    /// when short and printable, so that diffs are readable).
    File(u64, String),
    /// A symlink and its target.
    Symlink(String),
    /// A hard link to another path of the image.
    Hardlink(String),
    /// A device, fifo or other special file (the tar type flag).
    Special(char),
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = format!("{:04o} {}:{}", self.mode, self.uid, self.gid);
        match &self.kind {
            EntryKind::Dir => write!(f, "dir {owner}"),
            EntryKind::File(size, content) => write!(f, "file {owner} {size} bytes {content}"),
            EntryKind::Symlink(target) => write!(f, "symlink {owner} -> {target}"),
            EntryKind::Hardlink(target) => write!(f, "hardlink {owner} => {target}"),
            EntryKind::Special(flag) => write!(f, "special({flag}) {owner}"),
        }
    }
}

/// The file tree the layers add up to, keyed by path without a leading
/// slash, with OCI whiteouts applied.
pub fn file_tree(layers: &[Vec<u8>]) -> BTreeMap<String, Entry> {
    let mut tree = BTreeMap::new();
    for layer in layers {
        let entries = read_tar(layer);
        // Whiteouts hide what lower layers had, never what this layer adds.
        for entry in &entries {
            let (dir, name) = split(&entry.path);
            if name == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                tree.retain(|p: &String, _| !p.starts_with(&prefix));
            } else if let Some(hidden) = name.strip_prefix(".wh.") {
                let hidden = join(dir, hidden);
                let prefix = format!("{hidden}/");
                tree.retain(|p: &String, _| *p != hidden && !p.starts_with(&prefix));
            }
        }
        for entry in entries {
            if split(&entry.path).1.starts_with(".wh.") {
                continue;
            }
            let kind = match entry.kind {
                Kind::Dir => EntryKind::Dir,
                Kind::File(bytes) => EntryKind::File(bytes.len() as u64, describe(&bytes)),
                Kind::Symlink(t) => EntryKind::Symlink(t),
                Kind::Hardlink(t) => EntryKind::Hardlink(t),
                Kind::Special(c) => EntryKind::Special(c),
            };
            if kind != EntryKind::Dir {
                let prefix = format!("{}/", entry.path);
                tree.retain(|p: &String, _| !p.starts_with(&prefix));
            }
            let value = Entry {
                kind,
                mode: entry.mode & 0o7777,
                uid: entry.uid,
                gid: entry.gid,
            };
            tree.insert(entry.path, value);
        }
    }
    tree
}

/// The entries of one layer as they are written, whiteouts included
/// (shown as `whiteout` entries), so that two layers can be compared
/// entry by entry: the final tree can agree while the layers that build
/// it do not (a file added and later deleted, a directory stub).
pub fn layer_entries(layer: &[u8]) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    for entry in read_tar(layer) {
        let kind = match entry.kind {
            Kind::Dir => EntryKind::Dir,
            Kind::File(bytes) => EntryKind::File(bytes.len() as u64, describe(&bytes)),
            Kind::Symlink(t) => EntryKind::Symlink(t),
            Kind::Hardlink(t) => EntryKind::Hardlink(t),
            Kind::Special(c) => EntryKind::Special(c),
        };
        let value = Entry {
            kind,
            mode: entry.mode & 0o7777,
            uid: entry.uid,
            gid: entry.gid,
        };
        entries.insert(entry.path, value);
    }
    entries
}

/// The modification time of every entry of one layer, whiteouts
/// included, for the cases that pin times (`SOURCE_DATE_EPOCH` with
/// `rewrite-timestamp`).
pub fn layer_mtimes(layer: &[u8]) -> BTreeMap<String, u64> {
    read_tar(layer)
        .into_iter()
        .map(|entry| (entry.path, entry.mtime))
        .collect()
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Short printable contents verbatim, the rest as a hash.
fn describe(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.len() <= 200 && !text.chars().any(|c| c.is_control() && c != '\n') => {
            format!("{text:?}")
        }
        _ => format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes))),
    }
}

/// A raw tar entry.
struct TarEntry {
    path: String,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    /// Whole seconds since the epoch.
    mtime: u64,
}

enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Hardlink(String),
    Special(char),
}

/// Reads a tar stream as Go's `archive/tar` writes it: ustar headers with
/// PAX extended headers (long names, big ids) and GNU long names.
fn read_tar(data: &[u8]) -> Vec<TarEntry> {
    let mut entries = Vec::new();
    let mut offset = 0;
    let mut pax: BTreeMap<String, String> = BTreeMap::new();
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    while offset + 512 <= data.len() {
        let header = &data[offset..offset + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let mut size = octal(&header[124..136]);
        if let Some(s) = pax.get("size") {
            size = s.parse().unwrap();
        }
        let body_start = offset + 512;
        let body = &data[body_start..body_start + size as usize];
        offset = body_start + (size as usize).div_ceil(512) * 512;
        let flag = header[156] as char;
        match flag {
            'x' => {
                pax = parse_pax(body);
                continue;
            }
            'g' => continue,
            'L' => {
                long_name = Some(c_string(body));
                continue;
            }
            'K' => {
                long_link = Some(c_string(body));
                continue;
            }
            _ => {}
        }
        let name = c_string(&header[0..100]);
        let prefix = c_string(&header[345..500]);
        let ustar_name = if prefix.is_empty() || &header[257..262] != b"ustar" {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = pax
            .remove("path")
            .or(long_name.take())
            .unwrap_or(ustar_name);
        let link = pax
            .remove("linkpath")
            .or(long_link.take())
            .unwrap_or_else(|| c_string(&header[157..257]));
        let uid = pax
            .remove("uid")
            .map(|v| v.parse().unwrap())
            .unwrap_or_else(|| octal(&header[108..116]));
        let gid = pax
            .remove("gid")
            .map(|v| v.parse().unwrap())
            .unwrap_or_else(|| octal(&header[116..124]));
        // PAX times may carry a fraction; whole seconds are what
        // SOURCE_DATE_EPOCH pins.
        let mtime = pax
            .remove("mtime")
            .and_then(|v| v.split('.').next().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| octal(&header[136..148]));
        pax.clear();
        let kind = match flag {
            '0' | '\0' | '7' => Kind::File(body.to_vec()),
            '1' => Kind::Hardlink(normalize(&link)),
            '2' => Kind::Symlink(link),
            '5' => Kind::Dir,
            other => Kind::Special(other),
        };
        let path = normalize(&path);
        if path.is_empty() {
            continue;
        }
        entries.push(TarEntry {
            path,
            kind,
            mode: octal(&header[100..108]) as u32,
            uid,
            gid,
            mtime,
        });
    }
    entries
}

fn normalize(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A tar number: octal text, or base-256 when the high bit is set.
fn octal(field: &[u8]) -> u64 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return field[1..]
            .iter()
            .fold(u64::from(field[0] & 0x7f), |n, &b| (n << 8) | u64::from(b));
    }
    let text = c_string(field);
    let text = text.trim();
    if text.is_empty() {
        0
    } else {
        u64::from_str_radix(text, 8).unwrap()
    }
}

/// PAX records: `<len> <key>=<value>\n`.
fn parse_pax(body: &[u8]) -> BTreeMap<String, String> {
    let mut records = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let len: usize = std::str::from_utf8(&rest[..space])
            .unwrap()
            .parse()
            .unwrap();
        let record = &rest[space + 1..len - 1];
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            records.insert(
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                String::from_utf8_lossy(&record[eq + 1..]).into_owned(),
            );
        }
        rest = &rest[len..];
    }
    records
}
