//! Platforms (`linux/arm64`, `linux/arm/v7`, ...): parsing, normalisation,
//! the host platform and the toolchain names each platform goes by.
//!
//! Users type platforms in many spellings (`aarch64`, `armhf`, `x86_64`,
//! `linux/arm/7`). Everything downstream — LLB ops, cache keys, the image
//! index — must see exactly one spelling per platform, or the same build
//! would be cached twice and pushed under two names. This module parses and
//! normalises the way containerd's `platforms` package does, because BuildKit
//! (the reference) uses that package.

use std::fmt;
use std::str::FromStr;

use bollard_buildkit_proto::pb;
use thiserror::Error;

/// Why a platform string or platform could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlatformError {
    /// The specifier was empty (or only whitespace).
    #[error("empty platform specifier; expected os/arch[/variant], e.g. linux/arm64")]
    Empty,
    /// A `/`-separated part contained characters containerd rejects.
    #[error("invalid platform {spec:?}: part {part:?} may only contain letters, digits, '_', '.' and '-'")]
    InvalidPart {
        /// The whole specifier as typed.
        spec: String,
        /// The offending part.
        part: String,
    },
    /// A single-part specifier that is neither an OS nor an architecture.
    #[error("unknown operating system or architecture {0:?}; expected e.g. linux/amd64 or arm64")]
    UnknownOsOrArch(String),
    /// The OS part is not one Go/containerd knows.
    #[error("unknown operating system {os:?} in platform {spec:?}")]
    UnknownOs {
        /// The whole specifier as typed.
        spec: String,
        /// The OS part.
        os: String,
    },
    /// The architecture part is not one Go/containerd knows.
    #[error("unknown architecture {arch:?} in platform {spec:?}")]
    UnknownArch {
        /// The whole specifier as typed.
        spec: String,
        /// The architecture part.
        arch: String,
    },
    /// More than `os/arch/variant`.
    #[error("invalid platform {0:?}: too many parts, expected os/arch[/variant]")]
    TooManyParts(String),
    /// An `os(version)` part without its closing parenthesis.
    #[error("invalid platform {0:?}: unclosed '(' in OS version")]
    UnclosedOsVersion(String),
    /// An empty entry in a comma-separated list (`linux/amd64,,linux/arm64`).
    #[error("empty platform in list {0:?}")]
    EmptyListEntry(String),
    /// A valid platform crossbuild has no toolchain table for.
    #[error("no cross toolchain known for platform {0}; supported: {SUPPORTED_LIST}")]
    NoToolchain(String),
}

/// What [`PlatformError::NoToolchain`] lists as supported.
const SUPPORTED_LIST: &str = "linux/amd64, linux/386, linux/arm64, linux/arm/v6, linux/arm/v7, \
                              linux/riscv64, linux/ppc64le, linux/s390x, linux/mips64le, linux/loong64";

/// OS names Go (and so containerd) knows; anything else is a typo.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// Architecture names Go knows, after normalisation.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// An OCI platform, always held in normalised form.
///
/// Construct it by parsing ([`FromStr`]) or [`Platform::new`], both of which
/// normalise, so two `Platform`s that mean the same thing compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in Go's naming, e.g. `arm64`.
    pub architecture: String,
    /// CPU variant, e.g. `v7` for `arm`; `None` where it adds nothing.
    pub variant: Option<String>,
    /// OS version (Windows only in practice), e.g. `10.0.17763`.
    pub os_version: Option<String>,
    /// Required OS features (Windows only in practice).
    pub os_features: Vec<String>,
}

impl Platform {
    /// Builds a normalised platform from its parts, as if typed `os/arch/variant`.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Result<Self, PlatformError> {
        let spec = match variant {
            Some(v) => format!("{os}/{architecture}/{v}"),
            None => format!("{os}/{architecture}"),
        };
        spec.parse()
    }

    /// The platform of the machine running crossbuild, as a Linux platform.
    ///
    /// The OS is always `linux`: containers run in a Linux VM even on macOS or
    /// Windows hosts, so the host *architecture* is what matters for deciding
    /// what runs natively.
    pub fn host() -> Self {
        let (arch, variant) = host_arch(std::env::consts::ARCH);
        Platform {
            os: "linux".to_string(),
            architecture: arch.to_string(),
            variant: variant.map(str::to_string),
            os_version: None,
            os_features: Vec::new(),
        }
    }

    /// The id BuildKit uses for this platform (e.g. in `refs.platforms`): the
    /// canonical formatting of the normalised platform.
    pub fn normalized_id(&self) -> String {
        self.to_string()
    }

    /// The LLB representation, for `pb::Op::platform`.
    pub fn to_pb(&self) -> pb::Platform {
        pb::Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            os_version: self.os_version.clone().unwrap_or_default(),
            os_features: self.os_features.clone(),
        }
    }

    /// Reads a platform back from LLB, normalising it.
    pub fn from_pb(p: &pb::Platform) -> Result<Self, PlatformError> {
        let variant = (!p.variant.is_empty()).then_some(p.variant.as_str());
        let mut platform = Platform::new(&p.os, &p.architecture, variant)?;
        platform.os_version = (!p.os_version.is_empty()).then(|| p.os_version.clone());
        platform.os_features = p.os_features.clone();
        Ok(platform)
    }

    /// Parses a comma-separated list (`--platform linux/amd64,linux/arm64`),
    /// trimming spaces and dropping duplicates while keeping first-seen order.
    pub fn parse_list(list: &str) -> Result<Vec<Platform>, PlatformError> {
        if list.trim().is_empty() {
            return Err(PlatformError::Empty);
        }
        let mut out: Vec<Platform> = Vec::new();
        for entry in list.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(PlatformError::EmptyListEntry(list.to_string()));
            }
            let p: Platform = entry.parse()?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Toolchain names for this platform, with QEMU judged against the host.
    pub fn toolchain(&self) -> Result<Toolchain, PlatformError> {
        self.toolchain_on(&Platform::host())
    }

    /// Toolchain names for this platform when building on `host`; `qemu` is
    /// `None` when `host` runs this platform's binaries natively.
    pub fn toolchain_on(&self, host: &Platform) -> Result<Toolchain, PlatformError> {
        let row = self.toolchain_row()?;
        let native = self.runs_natively_on(host);
        Ok(Toolchain {
            rust_triple: row.rust_gnu,
            rust_triple_musl: row.rust_musl,
            gnu_triple: row.gnu,
            goos: "linux",
            goarch: row.goarch,
            goarm: row.goarm,
            debian_arch: row.debian,
            qemu_binfmt: row.qemu,
            qemu: if native { None } else { Some(row.qemu) },
        })
    }

    /// Whether `host` executes this platform's binaries without emulation.
    ///
    /// Only the x86 family (amd64 running 386) is treated as compatible
    /// across architectures: arm64 CPUs without AArch32 are common in
    /// servers, so arm/v7 on arm64 is conservatively reported as emulated.
    pub fn runs_natively_on(&self, host: &Platform) -> bool {
        if self.os != host.os {
            return false;
        }
        if self.architecture == host.architecture {
            return self.variant == host.variant || self.architecture != "arm";
        }
        self.architecture == "386" && host.architecture == "amd64"
    }

    fn toolchain_row(&self) -> Result<&'static ToolchainRow, PlatformError> {
        let unsupported = || PlatformError::NoToolchain(self.to_string());
        if self.os != "linux" {
            return Err(unsupported());
        }
        TOOLCHAINS
            .iter()
            .find(|r| r.arch == self.architecture && r.variant == self.variant.as_deref())
            .ok_or_else(unsupported)
    }
}

impl fmt::Display for Platform {
    /// `os[(os_version)]/arch[/variant]`, like containerd's `FormatAll`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.os)?;
        if let Some(v) = &self.os_version {
            write!(f, "({v})")?;
        }
        write!(f, "/{}", self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    /// Parses `os[/arch[/variant]]` or a lone `arch`, normalising like
    /// containerd: `aarch64` → `linux/arm64`, `armhf` → `linux/arm/v7`, ...
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(PlatformError::Empty);
        }
        let parts: Vec<&str> = trimmed.split('/').collect();
        if parts.len() > 3 {
            return Err(PlatformError::TooManyParts(spec.to_string()));
        }
        let (first, os_version) = split_os_version(spec, parts[0])?;
        for part in std::iter::once(first).chain(parts[1..].iter().copied()) {
            if part.is_empty()
                || !part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(PlatformError::InvalidPart {
                    spec: spec.to_string(),
                    part: part.to_string(),
                });
            }
        }
        let (os, arch, variant) = match parts.len() {
            1 => {
                let lower = first.to_ascii_lowercase();
                let os = normalize_os(&lower);
                if KNOWN_OS.contains(&os.as_str()) {
                    // A lone OS means "that OS on this machine's architecture".
                    let host = Platform::host();
                    (os, host.architecture, host.variant)
                } else {
                    let (arch, variant) = normalize_arch(&lower, "");
                    if !KNOWN_ARCH.contains(&arch.as_str()) {
                        return Err(PlatformError::UnknownOsOrArch(spec.to_string()));
                    }
                    ("linux".to_string(), arch, variant)
                }
            }
            2 if !KNOWN_OS.contains(&normalize_os(&first.to_ascii_lowercase()).as_str())
                && KNOWN_ARCH
                    .contains(&normalize_arch(&first.to_ascii_lowercase(), "").0.as_str()) =>
            {
                // `arm64/v8`, `amd64/v1`: an arch/variant pair on Linux.
                let (arch, variant) =
                    normalize_arch(&first.to_ascii_lowercase(), &parts[1].to_ascii_lowercase());
                ("linux".to_string(), arch, variant)
            }
            n => {
                let os = normalize_os(&first.to_ascii_lowercase());
                if !KNOWN_OS.contains(&os.as_str()) {
                    return Err(PlatformError::UnknownOs {
                        spec: spec.to_string(),
                        os: first.to_string(),
                    });
                }
                let variant_in = if n == 3 {
                    parts[2].to_ascii_lowercase()
                } else {
                    String::new()
                };
                let (arch, variant) = normalize_arch(&parts[1].to_ascii_lowercase(), &variant_in);
                if !KNOWN_ARCH.contains(&arch.as_str()) {
                    return Err(PlatformError::UnknownArch {
                        spec: spec.to_string(),
                        arch: parts[1].to_string(),
                    });
                }
                (os, arch, variant)
            }
        };
        Ok(Platform {
            os,
            architecture: arch,
            variant,
            os_version,
            os_features: Vec::new(),
        })
    }
}

/// Splits containerd's `os(version)` form.
fn split_os_version<'a>(
    spec: &str,
    part: &'a str,
) -> Result<(&'a str, Option<String>), PlatformError> {
    match part.split_once('(') {
        None => Ok((part, None)),
        Some((os, rest)) => {
            let version = rest
                .strip_suffix(')')
                .ok_or_else(|| PlatformError::UnclosedOsVersion(spec.to_string()))?;
            Ok((os, (!version.is_empty()).then(|| version.to_string())))
        }
    }
}

fn normalize_os(os: &str) -> String {
    match os {
        "macos" => "darwin".to_string(),
        other => other.to_string(),
    }
}

/// containerd's `normalizeArch`, plus the distro spellings users paste from
/// `uname -m` and Debian (`i686`, `armel`, `ppc64el`, ...).
fn normalize_arch(arch: &str, variant: &str) -> (String, Option<String>) {
    let (arch, variant): (&str, String) = match arch {
        "i386" | "i686" | "x86" => ("386", String::new()),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64",
            if variant == "v1" {
                String::new()
            } else {
                variant.to_string()
            },
        ),
        "aarch64" | "arm64" => {
            // A bare version is a `v` version (`8.2` = `v8.2`); then
            // containerd's rules. Prefixing first keeps normalising
            // idempotent: `8.0` once became `v8.0`, which normalised again
            // to nothing (found by fuzzing).
            let versioned = if variant.starts_with('8') || variant.starts_with('9') {
                format!("v{variant}")
            } else {
                variant.to_string()
            };
            (
                "arm64",
                match versioned.as_str() {
                    "v8" | "v8.0" => String::new(),
                    "v9.0" => "v9".to_string(),
                    _ => versioned,
                },
            )
        }
        "armhf" => ("arm", "v7".to_string()),
        "armel" => ("arm", "v6".to_string()),
        "arm" => (
            "arm",
            match variant {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                v => v.to_string(),
            },
        ),
        "ppc64el" => ("ppc64le", variant.to_string()),
        "mips64el" => ("mips64le", variant.to_string()),
        "loongarch64" => ("loong64", variant.to_string()),
        other => (other, variant.to_string()),
    };
    (arch.to_string(), (!variant.is_empty()).then_some(variant))
}

/// Maps Rust's `std::env::consts::ARCH` to Go naming.
fn host_arch(rust_arch: &str) -> (&'static str, Option<&'static str>) {
    match rust_arch {
        "x86_64" => ("amd64", None),
        "x86" => ("386", None),
        "aarch64" => ("arm64", None),
        // Rust does not tell v6 from v7 here; v7 is what 32-bit ARM hosts
        // running container builds overwhelmingly are.
        "arm" => ("arm", Some("v7")),
        "riscv64" => ("riscv64", None),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
        "powerpc64" => ("ppc64", None),
        "s390x" => ("s390x", None),
        "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
        "mips64" => ("mips64", None),
        "loongarch64" => ("loong64", None),
        // An unknown host still gets a platform; amd64 is BuildKit's own
        // fallback default.
        _ => ("amd64", None),
    }
}

/// The names one platform goes by in the tools a cross-compiling
/// `$BUILDPLATFORM` stage drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toolchain {
    /// Rust target triple linking against glibc.
    pub rust_triple: &'static str,
    /// Rust target triple for static musl binaries.
    pub rust_triple_musl: &'static str,
    /// GNU triple: prefix of the Debian cross gcc/binutils (`<triple>-gcc`).
    pub gnu_triple: &'static str,
    /// Go `GOOS`.
    pub goos: &'static str,
    /// Go `GOARCH`.
    pub goarch: &'static str,
    /// Go `GOARM` (only for 32-bit ARM).
    pub goarm: Option<&'static str>,
    /// Debian architecture name (for `dpkg --add-architecture`, `:arch` packages).
    pub debian_arch: &'static str,
    /// QEMU binfmt name, whether or not emulation is needed.
    pub qemu_binfmt: &'static str,
    /// QEMU binfmt name if this platform needs emulation on the build host.
    pub qemu: Option<&'static str>,
}

struct ToolchainRow {
    arch: &'static str,
    variant: Option<&'static str>,
    rust_gnu: &'static str,
    rust_musl: &'static str,
    gnu: &'static str,
    goarch: &'static str,
    goarm: Option<&'static str>,
    debian: &'static str,
    qemu: &'static str,
}

/// One row per supported Linux platform.
const TOOLCHAINS: &[ToolchainRow] = &[
    ToolchainRow {
        arch: "amd64",
        variant: None,
        rust_gnu: "x86_64-unknown-linux-gnu",
        rust_musl: "x86_64-unknown-linux-musl",
        gnu: "x86_64-linux-gnu",
        goarch: "amd64",
        goarm: None,
        debian: "amd64",
        qemu: "x86_64",
    },
    ToolchainRow {
        arch: "386",
        variant: None,
        rust_gnu: "i686-unknown-linux-gnu",
        rust_musl: "i686-unknown-linux-musl",
        gnu: "i686-linux-gnu",
        goarch: "386",
        goarm: None,
        debian: "i386",
        qemu: "i386",
    },
    ToolchainRow {
        arch: "arm64",
        variant: None,
        rust_gnu: "aarch64-unknown-linux-gnu",
        rust_musl: "aarch64-unknown-linux-musl",
        gnu: "aarch64-linux-gnu",
        goarch: "arm64",
        goarm: None,
        debian: "arm64",
        qemu: "aarch64",
    },
    // arm/v6 has no Debian port of its own: Debian's `armel` (soft float,
    // ARMv5TE baseline) is the Debian userland that runs on ARMv6, so the
    // glibc target must use the same soft-float ABI (`gnueabi`) to link
    // against armel libraries with `arm-linux-gnueabi-gcc`. A static musl
    // binary carries no libc ABI, so it takes ARMv6 hard float like Alpine's
    // arm/v6 port does.
    ToolchainRow {
        arch: "arm",
        variant: Some("v6"),
        rust_gnu: "arm-unknown-linux-gnueabi",
        rust_musl: "arm-unknown-linux-musleabihf",
        gnu: "arm-linux-gnueabi",
        goarch: "arm",
        goarm: Some("6"),
        debian: "armel",
        qemu: "arm",
    },
    ToolchainRow {
        arch: "arm",
        variant: Some("v7"),
        rust_gnu: "armv7-unknown-linux-gnueabihf",
        rust_musl: "armv7-unknown-linux-musleabihf",
        gnu: "arm-linux-gnueabihf",
        goarch: "arm",
        goarm: Some("7"),
        debian: "armhf",
        qemu: "arm",
    },
    ToolchainRow {
        arch: "riscv64",
        variant: None,
        rust_gnu: "riscv64gc-unknown-linux-gnu",
        rust_musl: "riscv64gc-unknown-linux-musl",
        gnu: "riscv64-linux-gnu",
        goarch: "riscv64",
        goarm: None,
        debian: "riscv64",
        qemu: "riscv64",
    },
    ToolchainRow {
        arch: "ppc64le",
        variant: None,
        rust_gnu: "powerpc64le-unknown-linux-gnu",
        rust_musl: "powerpc64le-unknown-linux-musl",
        gnu: "powerpc64le-linux-gnu",
        goarch: "ppc64le",
        goarm: None,
        debian: "ppc64el",
        qemu: "ppc64le",
    },
    ToolchainRow {
        arch: "s390x",
        variant: None,
        rust_gnu: "s390x-unknown-linux-gnu",
        rust_musl: "s390x-unknown-linux-musl",
        gnu: "s390x-linux-gnu",
        goarch: "s390x",
        goarm: None,
        debian: "s390x",
        qemu: "s390x",
    },
    ToolchainRow {
        arch: "mips64le",
        variant: None,
        rust_gnu: "mips64el-unknown-linux-gnuabi64",
        rust_musl: "mips64el-unknown-linux-muslabi64",
        gnu: "mips64el-linux-gnuabi64",
        goarch: "mips64le",
        goarm: None,
        debian: "mips64el",
        qemu: "mips64el",
    },
    ToolchainRow {
        arch: "loong64",
        variant: None,
        rust_gnu: "loongarch64-unknown-linux-gnu",
        rust_musl: "loongarch64-unknown-linux-musl",
        gnu: "loongarch64-linux-gnu",
        goarch: "loong64",
        goarm: None,
        debian: "loong64",
        qemu: "loongarch64",
    },
];

#[cfg(test)]
#[path = "platform_tests.rs"]
mod tests;
