//! Recognising `RUN` steps that compile code.
//!
//! Compiling under QEMU user-mode emulation is commonly 5–20× slower than
//! natively, and it is the one cost of a multi-platform build that the
//! `FROM --platform=$BUILDPLATFORM` pattern removes. The plan points at such
//! steps; this is a heuristic on the command's words, so it names the tool
//! it saw and the user can judge.

/// Tools that compile when they appear as a command word.
const SINGLE: &[&str] = &[
    "make",
    "gmake",
    "cmake",
    "ninja",
    "gcc",
    "g++",
    "cc",
    "c++",
    "clang",
    "clang++",
    "rustc",
    "javac",
    "configure",
    "scons",
    "bazel",
];

/// Tool + subcommand pairs that compile.
const PAIRS: &[(&str, &[&str])] = &[
    ("go", &["build", "install"]),
    ("cargo", &["build", "install", "rustc"]),
    ("meson", &["compile"]),
    ("yarn", &["build"]),
    ("pnpm", &["build"]),
    ("mvn", &["package", "install", "compile"]),
    ("gradle", &["build", "assemble"]),
    ("./gradlew", &["build", "assemble"]),
    ("dotnet", &["build", "publish"]),
    ("pip", &["wheel"]),
];

/// Words (and shell keywords) after which the next word is the command.
const PREFIXES: &[&str] = &[
    "sudo", "env", "time", "exec", "nice", "command", "do", "then", "else", "!",
];

/// The compiling tool `command` (a shell command line, or an exec's
/// arguments joined by spaces) runs, e.g. `make` or `go build`; `None`
/// when it looks like it compiles nothing.
///
/// Only the command word of each simple command counts (after `VAR=x`
/// assignments and `sudo`/`env`), so `apk add gcc` or `echo make` do not.
pub fn compile_tool(command: &str) -> Option<String> {
    command
        .split(|c: char| ";&|\n(){}`".contains(c))
        .find_map(simple_command_tool)
}

fn simple_command_tool(segment: &str) -> Option<String> {
    let mut words = segment
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .filter(|w| !w.is_empty())
        .skip_while(|w| w.contains('=') || PREFIXES.contains(w) || w.starts_with('-'));
    let word = words.next()?;
    let next = words.next().unwrap_or_default();
    // `/usr/bin/gcc` and `./configure` are still gcc and configure.
    let base = word.rsplit('/').next().unwrap_or(word);
    if SINGLE.contains(&base) {
        return Some(base.to_string());
    }
    if let Some((tool, _)) = PAIRS
        .iter()
        .find(|(tool, subs)| (*tool == word || *tool == base) && subs.contains(&next))
    {
        return Some(format!("{tool} {next}"));
    }
    let after = words.next().unwrap_or_default();
    if base == "npm" && next == "run" && after.starts_with("build") {
        return Some(format!("npm run {after}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_usual_compilers() {
        let cases = [
            ("make", Some("make")),
            ("make -j4 install", Some("make")),
            ("cd src && ./configure && make", Some("configure")),
            ("CGO_ENABLED=0 go build -o /app .", Some("go build")),
            ("cargo build --release --locked", Some("cargo build")),
            ("/usr/bin/gcc -O2 -o hello hello.c", Some("gcc")),
            ("cc hello.c", Some("cc")),
            ("cmake -B build && cmake --build build", Some("cmake")),
            ("npm ci && npm run build:prod", Some("npm run build:prod")),
            ("apk add gcc && echo make", None),
            ("sudo -E make", Some("make")),
            ("set -e; for f in *.c; do gcc -c $f; done", Some("gcc")),
            ("echo hi > /t", None),
            ("go version", None),
            ("npm ci", None),
            ("makeself x", None),
            ("cargo fetch", None),
        ];
        for (command, want) in cases {
            assert_eq!(compile_tool(command).as_deref(), want, "{command}");
        }
    }
}
