//! ELF headers, and what they must say for each platform.
//!
//! The classic multi-arch bug is a binary of the wrong architecture inside
//! a platform's image (an amd64 binary in the arm64 image, copied from a
//! stage that was not cross-compiling). Running it does not always catch
//! that: on an amd64 machine the amd64 binary runs fine "in the arm64
//! image". The ELF header does: `e_machine`, the class (32/64-bit) and the
//! byte order must match the platform. This module reads the header from
//! its first bytes and compares it with the platform's expectation.

use std::fmt;

use serde::Serialize;

use crate::platform::Platform;

/// The four bytes every ELF file starts with.
pub const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];

/// Bytes to read to parse any ELF header (the 64-bit header's size; the
/// 32-bit one is 52).
pub const HEADER_LEN: usize = 64;

/// `e_machine` values of the architectures container platforms use.
pub mod machine {
    /// Intel 80386.
    pub const EM_386: u16 = 3;
    /// MIPS.
    pub const EM_MIPS: u16 = 8;
    /// 32-bit PowerPC.
    pub const EM_PPC: u16 = 20;
    /// 64-bit PowerPC (both byte orders).
    pub const EM_PPC64: u16 = 21;
    /// IBM S/390 (31- and 64-bit).
    pub const EM_S390: u16 = 22;
    /// 32-bit ARM.
    pub const EM_ARM: u16 = 40;
    /// AMD64 / x86-64.
    pub const EM_X86_64: u16 = 62;
    /// 64-bit ARM.
    pub const EM_AARCH64: u16 = 183;
    /// RISC-V (both widths).
    pub const EM_RISCV: u16 = 243;
    /// LoongArch.
    pub const EM_LOONGARCH: u16 = 258;
}

/// `EI_CLASS`: the word size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// `ELFCLASS32`.
    #[serde(rename = "32")]
    Elf32,
    /// `ELFCLASS64`.
    #[serde(rename = "64")]
    Elf64,
}

/// `EI_DATA`: the byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    /// `ELFDATA2LSB`.
    Little,
    /// `ELFDATA2MSB`.
    Big,
}

/// What an ELF header says about the code in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ElfHeader {
    /// Word size.
    pub class: Class,
    /// Byte order.
    pub endian: Endian,
    /// `e_type`: 2 executable, 3 shared object (or PIE), 1 relocatable.
    pub file_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_flags` (ABI details, e.g. ARM's float ABI).
    pub flags: u32,
}

/// Why bytes are not a usable ELF header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// No `\x7fELF` at the start.
    #[error("not an ELF file (starts with {0})")]
    NotElf(String),
    /// Fewer bytes than the header needs.
    #[error("truncated ELF header ({0} bytes)")]
    Truncated(usize),
    /// `EI_CLASS` is neither 1 nor 2.
    #[error("invalid ELF class {0}")]
    BadClass(u8),
    /// `EI_DATA` is neither 1 nor 2.
    #[error("invalid ELF byte order {0}")]
    BadEndian(u8),
}

/// True if `bytes` start like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Parses the header at the start of `bytes`.
pub fn parse_header(bytes: &[u8]) -> Result<ElfHeader, ElfError> {
    if !is_elf(bytes) {
        let shown: String = bytes
            .iter()
            .take(4)
            .map(|b| match *b {
                b'!'..=b'~' => (*b as char).to_string(),
                other => format!("\\x{other:02x}"),
            })
            .collect();
        return Err(ElfError::NotElf(if shown.is_empty() {
            "nothing: the file is empty".to_string()
        } else {
            format!("\"{shown}\"")
        }));
    }
    if bytes.len() < 52 {
        return Err(ElfError::Truncated(bytes.len()));
    }
    let class = match bytes[4] {
        1 => Class::Elf32,
        2 => Class::Elf64,
        other => return Err(ElfError::BadClass(other)),
    };
    let endian = match bytes[5] {
        1 => Endian::Little,
        2 => Endian::Big,
        other => return Err(ElfError::BadEndian(other)),
    };
    let u16_at = |at: usize| {
        let pair = [bytes[at], bytes[at + 1]];
        match endian {
            Endian::Little => u16::from_le_bytes(pair),
            Endian::Big => u16::from_be_bytes(pair),
        }
    };
    // e_flags follows e_entry, e_phoff and e_shoff, which are words; it
    // ends at byte 52 at the latest, so the length check above covers it.
    let flags_at = match class {
        Class::Elf32 => 36,
        Class::Elf64 => 48,
    };
    let quad = [
        bytes[flags_at],
        bytes[flags_at + 1],
        bytes[flags_at + 2],
        bytes[flags_at + 3],
    ];
    let flags = match endian {
        Endian::Little => u32::from_le_bytes(quad),
        Endian::Big => u32::from_be_bytes(quad),
    };
    Ok(ElfHeader {
        class,
        endian,
        file_type: u16_at(16),
        machine: u16_at(18),
        flags,
    })
}

/// What the ELF files of a platform must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ElfTarget {
    /// `e_machine`.
    pub machine: u16,
    /// Word size.
    pub class: Class,
    /// Byte order.
    pub endian: Endian,
}

/// The ELF identity of a Linux platform's binaries; `None` for platforms
/// this table does not know (their files are not checked).
pub fn target_for(platform: &Platform) -> Option<ElfTarget> {
    use machine::*;
    use Class::*;
    use Endian::*;
    if platform.os != "linux" {
        return None;
    }
    let (machine, class, endian) = match platform.architecture.as_str() {
        "amd64" => (EM_X86_64, Elf64, Little),
        "386" => (EM_386, Elf32, Little),
        "arm64" => (EM_AARCH64, Elf64, Little),
        "arm" => (EM_ARM, Elf32, Little),
        "riscv64" => (EM_RISCV, Elf64, Little),
        "ppc64le" => (EM_PPC64, Elf64, Little),
        "ppc64" => (EM_PPC64, Elf64, Big),
        "s390x" => (EM_S390, Elf64, Big),
        "mips64le" => (EM_MIPS, Elf64, Little),
        "mips64" => (EM_MIPS, Elf64, Big),
        "mipsle" => (EM_MIPS, Elf32, Little),
        "mips" => (EM_MIPS, Elf32, Big),
        "loong64" => (EM_LOONGARCH, Elf64, Little),
        _ => return None,
    };
    Some(ElfTarget {
        machine,
        class,
        endian,
    })
}

/// The usual name of an `e_machine` value, as `file(1)` and `readelf`
/// print it.
pub fn machine_name(machine: u16) -> String {
    use machine::*;
    match machine {
        EM_386 => "Intel 80386".to_string(),
        EM_MIPS => "MIPS".to_string(),
        EM_PPC => "PowerPC".to_string(),
        EM_PPC64 => "PowerPC64".to_string(),
        EM_S390 => "IBM S/390".to_string(),
        EM_ARM => "ARM".to_string(),
        EM_X86_64 => "x86-64".to_string(),
        EM_AARCH64 => "AArch64".to_string(),
        EM_RISCV => "RISC-V".to_string(),
        EM_LOONGARCH => "LoongArch".to_string(),
        other => format!("machine {other}"),
    }
}

impl ElfHeader {
    /// The header's machine, class and byte order as a target, for
    /// comparing and printing.
    pub fn target(&self) -> ElfTarget {
        ElfTarget {
            machine: self.machine,
            class: self.class,
            endian: self.endian,
        }
    }

    /// True if the file's code is for `target`.
    pub fn matches(&self, target: &ElfTarget) -> bool {
        self.target() == *target
    }
}

impl fmt::Display for ElfTarget {
    /// `AArch64 (64-bit, little-endian)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match self.class {
            Class::Elf32 => 32,
            Class::Elf64 => 64,
        };
        let order = match self.endian {
            Endian::Little => "little-endian",
            Endian::Big => "big-endian",
        };
        write!(f, "{} ({bits}-bit, {order})", machine_name(self.machine))
    }
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
