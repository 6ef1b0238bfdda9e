//! Go `os.FileMode` bits, the mode encoding of `fsutil.types.Stat`.
//!
//! The wire carries Go's portable layout (type bits at the top of the word),
//! not Unix `st_mode`, so both directions convert here.

/// `os.ModeDir`.
pub const DIR: u32 = 1 << 31;
/// `os.ModeAppend` (never produced on Unix).
pub const APPEND: u32 = 1 << 30;
/// `os.ModeExclusive` (never produced on Unix).
pub const EXCLUSIVE: u32 = 1 << 29;
/// `os.ModeTemporary` (never produced on Unix).
pub const TEMPORARY: u32 = 1 << 28;
/// `os.ModeSymlink`.
pub const SYMLINK: u32 = 1 << 27;
/// `os.ModeDevice` (block devices; with [`CHAR_DEVICE`] for char devices).
pub const DEVICE: u32 = 1 << 26;
/// `os.ModeNamedPipe`.
pub const NAMED_PIPE: u32 = 1 << 25;
/// `os.ModeSocket` (sockets are never sent).
pub const SOCKET: u32 = 1 << 24;
/// `os.ModeSetuid`.
pub const SETUID: u32 = 1 << 23;
/// `os.ModeSetgid`.
pub const SETGID: u32 = 1 << 22;
/// `os.ModeCharDevice`.
pub const CHAR_DEVICE: u32 = 1 << 21;
/// `os.ModeSticky`.
pub const STICKY: u32 = 1 << 20;
/// `os.ModeIrregular`.
pub const IRREGULAR: u32 = 1 << 19;
/// `os.ModePerm`.
pub const PERM: u32 = 0o777;
/// `os.ModeType`: any of these bits means "not a regular file".
pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | IRREGULAR;

const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;

/// Converts a Unix `st_mode` to Go's `FileMode` the way `os.Lstat` does.
pub fn from_unix(st_mode: u32) -> u32 {
    let mut mode = st_mode & PERM;
    mode |= match st_mode & S_IFMT {
        S_IFBLK => DEVICE,
        S_IFCHR => DEVICE | CHAR_DEVICE,
        S_IFDIR => DIR,
        S_IFIFO => NAMED_PIPE,
        S_IFLNK => SYMLINK,
        S_IFSOCK => SOCKET,
        S_IFREG => 0,
        _ => IRREGULAR,
    };
    if st_mode & 0o4000 != 0 {
        mode |= SETUID;
    }
    if st_mode & 0o2000 != 0 {
        mode |= SETGID;
    }
    if st_mode & 0o1000 != 0 {
        mode |= STICKY;
    }
    mode
}

/// The Unix permission word (`chmod` argument) for a Go `FileMode`.
pub fn to_unix_permissions(mode: u32) -> u32 {
    let mut perm = mode & PERM;
    if mode & SETUID != 0 {
        perm |= 0o4000;
    }
    if mode & SETGID != 0 {
        perm |= 0o2000;
    }
    if mode & STICKY != 0 {
        perm |= 0o1000;
    }
    perm
}

/// Whether the receiver may request content for an entry (fsutil's
/// `fileCanRequestData`; must agree on both sides).
pub fn is_regular(mode: u32) -> bool {
    mode & TYPE == 0
}

/// Whether the entry is a directory.
pub fn is_dir(mode: u32) -> bool {
    mode & DIR != 0
}

/// Whether the entry is a symbolic link.
pub fn is_symlink(mode: u32) -> bool {
    mode & SYMLINK != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_unix_types_and_special_bits() {
        assert_eq!(from_unix(0o100644), 0o644);
        assert_eq!(from_unix(0o040755), DIR | 0o755);
        assert_eq!(from_unix(0o120777), SYMLINK | 0o777);
        assert_eq!(from_unix(0o020666), DEVICE | CHAR_DEVICE | 0o666);
        assert_eq!(from_unix(0o060660), DEVICE | 0o660);
        assert_eq!(from_unix(0o010644), NAMED_PIPE | 0o644);
        assert_eq!(from_unix(0o104755), SETUID | 0o755);
        assert_eq!(from_unix(0o043777), DIR | SETGID | STICKY | 0o777);
        assert_eq!(
            to_unix_permissions(SETUID | SETGID | STICKY | 0o755),
            0o7755
        );
        assert!(is_regular(0o644) && !is_regular(DIR) && !is_regular(SYMLINK));
    }
}
