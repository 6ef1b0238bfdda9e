//! Deterministic fuzzing without libFuzzer: seeded random and mutated
//! inputs for the Dockerfile parser + word expansion, `.dockerignore`
//! patterns, platform parsing and the fsutil packet receiver. Each target
//! must return (Ok or Err) without panicking, in bounded time.
//!
//! `FUZZ_ITERATIONS` (default 2,000 per target) and `FUZZ_SEED` scale a
//! longer run: `FUZZ_ITERATIONS=200000 cargo test --release --test
//! fuzz_inputs` (numbers in TESTING.md). cargo-fuzz is not used: it is not
//! installed here and needs a nightly toolchain for its sanitizers.

use std::time::{Duration, Instant};

use crossbuild::client::filesync::{receive, Packet, PacketType, Stat};
use crossbuild::dockerfile::{self, dockerignore, shell};
use crossbuild::platform::Platform;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn seed(target: u64) -> Rng {
    let base = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_u64);
    Rng(base ^ target.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
}

/// Builds an input from `tokens` glued by random choices, with some raw
/// random bytes mixed in.
fn mutate(rng: &mut Rng, tokens: &[&str], max_pieces: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(max_pieces) + 1 {
        if rng.below(10) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(rng.pick(tokens).as_bytes());
        }
    }
    out
}

const DOCKERFILE_TOKENS: &[&str] = &[
    "FROM ",
    "busybox",
    " AS ",
    "b",
    "\n",
    "RUN ",
    "COPY ",
    "--from=",
    "ARG ",
    "ENV ",
    "a",
    "=",
    "$a",
    "${a",
    ":-",
    ":+",
    "#",
    "%",
    "//",
    "/",
    "}",
    "{",
    "\"",
    "'",
    "\\",
    "\\\n",
    "<<EOF",
    "<<-'EOF'",
    "EOF\n",
    "[\"sh\", \"-c\"]",
    "[",
    "]",
    " ",
    "\t",
    "# syntax=x\n",
    "# escape=`\n",
    "`",
    "--mount=type=cache,target=/x ",
    "--platform=$BUILDPLATFORM ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "CMD ",
    "SHELL ",
    "LABEL ",
    "EXPOSE ",
    "80/tcp",
    "WORKDIR ",
    "USER ",
    "é",
    "\r\n",
    "${a:?x}",
    "${a/?/x}",
    "${a##*}",
    "*",
    "?",
];

#[test]
fn dockerfile_parser_and_expansion() {
    let mut rng = seed(1);
    let lexer = shell::Lexer::new('\\');
    let env = vec![
        ("a".to_string(), "xyz".to_string()),
        ("b".to_string(), "$a$a".to_string()),
    ];
    let start = Instant::now();
    for i in 0..iterations() {
        let input = mutate(&mut rng, DOCKERFILE_TOKENS, 60);
        let one = Instant::now();
        if let Ok(df) = dockerfile::parse(&input) {
            let _ = df.stages();
        }
        if let Ok(text) = std::str::from_utf8(&input) {
            let _ = lexer.process_word(text, &env);
            let _ = lexer.process_words(text, &env);
        }
        assert!(
            one.elapsed() < Duration::from_secs(2),
            "input {i} took {:?}: {:?}",
            one.elapsed(),
            String::from_utf8_lossy(&input)
        );
    }
    eprintln!(
        "dockerfile: {} inputs in {:?}",
        iterations(),
        start.elapsed()
    );
}

const IGNORE_TOKENS: &[&str] = &[
    "*", "**", "?", "[", "]", "[^a-z]", "\\", "!", "/", "..", ".", "a", "b/", "#", "\n", " ",
    "\r\n", "[]", "[\\", "-", "é",
];

#[test]
fn dockerignore_patterns() {
    let mut rng = seed(2);
    let start = Instant::now();
    for _ in 0..iterations() {
        let input = mutate(&mut rng, IGNORE_TOKENS, 20);
        let Ok(patterns) = dockerignore::read_patterns(&input) else {
            continue;
        };
        if let Ok(matcher) = crossbuild::client::filesync::PatternMatcher::new(&patterns) {
            for path in ["a", "a/b", "b/a/c", ".", "x/../a", "é/a"] {
                let _ = matcher.matches_or_parent_matches(path);
            }
        }
    }
    eprintln!(
        "dockerignore: {} inputs in {:?}",
        iterations(),
        start.elapsed()
    );
}

const PLATFORM_TOKENS: &[&str] = &[
    "linux", "/", "amd64", "arm64", "arm", "v7", "v8", "aarch64", "x86_64", "windows", "darwin",
    "riscv64", "ppc64le", "s390x", ",", " ", "", "LINUX", "i386", "v", "é",
];

#[test]
fn platform_parsing() {
    let mut rng = seed(3);
    for _ in 0..iterations() {
        let input = String::from_utf8_lossy(&mutate(&mut rng, PLATFORM_TOKENS, 8)).into_owned();
        if let Ok(p) = input.parse::<Platform>() {
            // Whatever parses must print as something that parses again.
            let again: Platform = p.to_string().parse().expect("round trip");
            assert_eq!(again.to_string(), p.to_string(), "{input:?}");
        }
        let _ = Platform::parse_list(&input);
    }
}

/// A random packet: mostly plausible STAT/DATA/FIN with hostile paths.
fn random_packet(rng: &mut Rng) -> Packet {
    const PATHS: &[&str] = &[
        "a",
        "a/b",
        "b",
        "..",
        "../x",
        "/etc/x",
        "a/../../x",
        "",
        ".",
        "a//b",
        "c/d",
        "é",
        "a\0b",
    ];
    const MODES: &[u32] = &[
        0o644,
        0o755 | 1 << 31,
        0o777 | 1 << 27,
        0o644 | 1 << 25,
        1 << 24,
        0,
    ];
    let kind = rng.below(7) as i32;
    let stat = (rng.below(4) != 0).then(|| Stat {
        path: rng.pick(PATHS).to_string(),
        mode: *rng.pick(MODES),
        size: rng.below(100) as i64,
        linkname: if rng.below(3) == 0 {
            rng.pick(PATHS).to_string()
        } else {
            String::new()
        },
        ..Stat::default()
    });
    Packet {
        r#type: kind,
        stat,
        id: rng.below(8) as u32,
        data: (0..rng.below(40)).map(|_| rng.next() as u8).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsutil_receiver_with_random_packets() {
    let mut rng = seed(4);
    let start = Instant::now();
    let runs = iterations() / 10;
    for _ in 0..runs {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let mut packets: Vec<Result<Packet, String>> = (0..rng.below(30))
            .map(|_| Ok(random_packet(&mut rng)))
            .collect();
        if rng.below(2) == 0 {
            packets.push(Ok(Packet {
                r#type: PacketType::PacketFin as i32,
                ..Packet::default()
            }));
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Packet, ()>>(1024);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let incoming = futures::stream::iter(packets.clone());
        let result =
            tokio::time::timeout(Duration::from_secs(5), receive(&dest, incoming, tx)).await;
        assert!(result.is_ok(), "receiver hung on {packets:?}");
        drain.await.unwrap();
        // Nothing may appear next to the destination.
        let siblings: Vec<_> = std::fs::read_dir(parent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(siblings, ["dest"], "wrote outside dest: {packets:?}");
    }
    eprintln!("fsutil receiver: {runs} streams in {:?}", start.elapsed());
}
