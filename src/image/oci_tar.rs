//! Reading the small files of an OCI layout archived as a tar (what
//! `-o type=oci,dest=x.tar` writes): `oci-layout`, `index.json`, and the
//! manifest, index and config blobs. Inspecting never needs a layer, so
//! large files are only listed, not kept, and the archive is read once
//! from start to end.
//!
//! A few dozen lines of ustar/PAX parsing rather than a tar crate: only
//! regular files' names and bytes are needed, and Go's `archive/tar`
//! (BuildKit's writer) emits plain ustar headers for the short names of a
//! layout, PAX records only for what does not fit.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Files larger than this are listed without their bytes: manifests,
/// indexes and configs are kilobytes; layers can be gigabytes.
const KEEP_LIMIT: u64 = 4 << 20;

/// The regular files of an archive: name (without `./`) to bytes, or
/// `None` for a file too large to keep.
pub type TarFiles = BTreeMap<String, Option<Vec<u8>>>;

/// Reads the regular files of the tar at `path`; an error says what is
/// wrong with the archive.
pub fn read_small_files(path: &Path) -> Result<TarFiles, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut files = TarFiles::new();
    let mut header = [0u8; 512];
    // Names from a PAX extended header or a GNU long-name entry apply to
    // the entry that follows.
    let mut next_name: Option<String> = None;
    loop {
        match read_block(&mut file, &mut header)? {
            false if files.is_empty() => return Err("empty archive".to_string()),
            false => return Ok(files),
            true => {}
        }
        if header.iter().all(|&b| b == 0) {
            return Ok(files);
        }
        if !checksum_ok(&header) {
            return Err("not a tar archive (bad header checksum)".to_string());
        }
        let size = parse_size(&header[124..136])?;
        let padded = size
            .div_ceil(512)
            .checked_mul(512)
            .ok_or("entry size out of range")?;
        let kind = header[156];
        let name = next_name.take().unwrap_or_else(|| header_name(&header));
        match kind {
            // Names and PAX records are short; a huge one is a broken or
            // hostile archive, not something to allocate for.
            b'x' | b'L' if size > KEEP_LIMIT => {
                return Err("not a tar archive (oversized extended header)".to_string())
            }
            b'x' | b'L' => {
                let data = read_data(&mut file, size, padded)?;
                next_name = if kind == b'L' {
                    Some(trim_nul(&data))
                } else {
                    pax_path(&data)
                };
            }
            b'0' | 0 if size <= KEEP_LIMIT => {
                let data = read_data(&mut file, size, padded)?;
                files.insert(clean_name(&name), Some(data));
            }
            b'0' | 0 => {
                skip(&mut file, padded)?;
                files.insert(clean_name(&name), None);
            }
            _ => skip(&mut file, padded)?,
        }
    }
}

/// Fills `block`; false at a clean end of file.
fn read_block(file: &mut std::fs::File, block: &mut [u8; 512]) -> Result<bool, String> {
    let mut read = 0;
    while read < block.len() {
        match file.read(&mut block[read..]) {
            Ok(0) if read == 0 => return Ok(false),
            Ok(0) => return Err("truncated archive".to_string()),
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    Ok(true)
}

fn read_data(file: &mut std::fs::File, size: u64, padded: u64) -> Result<Vec<u8>, String> {
    let mut data = vec![0u8; size as usize];
    file.read_exact(&mut data)
        .map_err(|_| "truncated archive".to_string())?;
    skip(file, padded - size)?;
    Ok(data)
}

fn skip(file: &mut std::fs::File, bytes: u64) -> Result<(), String> {
    let offset = i64::try_from(bytes).map_err(|_| "entry too large".to_string())?;
    file.seek(SeekFrom::Current(offset))
        .map(|_| ())
        .map_err(|e| format!("cannot read: {e}"))
}

/// The header checksum: the sum of its bytes with the checksum field read
/// as spaces.
fn checksum_ok(header: &[u8; 512]) -> bool {
    let Ok(expected) = parse_octal(&header[148..156]) else {
        return false;
    };
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    sum == expected
}

/// A size field: octal, or GNU base-256 when the high bit is set.
fn parse_size(field: &[u8]) -> Result<u64, String> {
    if field[0] & 0x80 != 0 {
        let mut value: u64 = (field[0] & 0x7f) as u64;
        for &b in &field[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(b as u64))
                .ok_or("entry size out of range")?;
        }
        return Ok(value);
    }
    parse_octal(field).map_err(|()| "not a tar archive (bad size field)".to_string())
}

fn parse_octal(field: &[u8]) -> Result<u64, ()> {
    let text = std::str::from_utf8(field).map_err(|_| ())?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| ())
}

/// The ustar name: prefix (if any) and name.
fn header_name(header: &[u8; 512]) -> String {
    let name = trim_nul(&header[0..100]);
    let prefix = if &header[257..262] == b"ustar" {
        trim_nul(&header[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

fn trim_nul(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The `path` record of a PAX extended header (`<len> path=<value>\n`).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .filter_map(|line| line.split_once(' ').map(|(_, record)| record))
        .find_map(|record| record.strip_prefix("path=").map(str::to_string))
}

fn clean_name(name: &str) -> String {
    name.trim_start_matches("./").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ustar header for a regular file.
    fn header(name: &str, size: usize, kind: u8) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        seal(&mut h);
        h
    }

    /// Writes the header's checksum, after any field was changed.
    fn seal(h: &mut [u8; 512]) {
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    }

    fn entry(out: &mut Vec<u8>, name: &str, data: &[u8], kind: u8) {
        out.extend_from_slice(&header(name, data.len(), kind));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    #[test]
    fn regular_files_and_pax_names_are_read() {
        let mut tar = Vec::new();
        entry(&mut tar, "./oci-layout", b"{}", b'0');
        entry(&mut tar, "blobs/", b"", b'5');
        entry(
            &mut tar,
            "PaxHeaders/x",
            b"30 path=blobs/sha256/long-name\n",
            b'x',
        );
        entry(&mut tar, "ignored", b"abc", b'0');
        tar.extend_from_slice(&[0u8; 1024]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, &tar).unwrap();
        let files = read_small_files(&path).unwrap();
        assert_eq!(files["oci-layout"].as_deref(), Some(&b"{}"[..]));
        assert_eq!(
            files["blobs/sha256/long-name"].as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(files.len(), 2, "{:?}", files.keys());
    }

    #[test]
    fn a_file_that_is_no_tar_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        std::fs::write(&path, vec![b'a'; 1024]).unwrap();
        let err = read_small_files(&path).unwrap_err();
        assert!(err.contains("not a tar archive"), "{err}");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read_small_files(&path).unwrap_err(), "empty archive");
        // A truncated entry.
        let mut tar = Vec::new();
        entry(&mut tar, "index.json", &[b'{'; 600], b'0');
        tar.truncate(700);
        std::fs::write(&path, &tar).unwrap();
        assert_eq!(read_small_files(&path).unwrap_err(), "truncated archive");
    }

    /// Sizes a hostile header can claim: no huge allocation, no overflow.
    #[test]
    fn absurd_sizes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        // A PAX header claiming 8 GiB (octal 100000000000).
        let mut pax = header("PaxHeaders/x", 0, b'x');
        pax[124..136].copy_from_slice(b"100000000000");
        seal(&mut pax);
        std::fs::write(&path, pax).unwrap();
        let err = read_small_files(&path).unwrap_err();
        assert!(err.contains("oversized extended header"), "{err}");
        // A base-256 size of u64::MAX.
        let mut big = header("blob", 0, b'0');
        big[124] = 0x80;
        big[125..136].fill(0xff);
        seal(&mut big);
        std::fs::write(&path, big).unwrap();
        let err = read_small_files(&path).unwrap_err();
        assert!(err.contains("out of range"), "{err}");
    }
}
