//! Compile speed: Dockerfile text → one marshalled LLB definition per
//! target platform, for a 1,000-instruction Dockerfile and six platforms.
//! No daemon: base images resolve from a canned config. It calls what
//! `crossbuild build` and the frontend call (`convert::convert`, then
//! `convert::marshal_builds`), so the platforms' graphs are built and
//! marshalled on as many threads as the machine has cores: the figure is
//! wall-clock time, and it depends on the cores being free. Run with
//! `cargo bench --bench compile` (scripts/bench runs it and records it).
//! `COMPILE_BENCH_SPLIT=1` prints each run's parse / convert / marshal
//! times; `COMPILE_BENCH_DIGESTS=1` prints the digest of each definition,
//! which no optimisation may change.

use std::time::{Duration, Instant};

/// The allocator the `crossbuild` binary uses, so the figure is the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crossbuild::dockerfile::convert::{self, ConvertOptions, ImageResolver, ResolvedImage};
use crossbuild::image::ImageConfig;
use crossbuild::llb::{self, Local};
use crossbuild::platform::Platform;
use prost::Message;

/// Answers every image with the same small config, as a registry would.
struct CannedResolver;

#[async_trait::async_trait]
impl ImageResolver for CannedResolver {
    async fn resolve(
        &self,
        _reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let json = format!(
            r#"{{"architecture":"{}","os":"linux","config":{{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#,
            platform.architecture
        );
        Ok(ResolvedImage {
            digest: "sha256:4f6bd9ae4aa8be3f8b7cc6a9a4f4a0b1e3c6f4d1a2b3c4d5e6f708192a3b4c5d"
                .to_string(),
            config: ImageConfig::from_json(json.as_bytes()).map_err(|e| e.to_string())?,
        })
    }
}

/// Three stages: a build-platform stage, a middle stage and a runtime
/// stage, 1,000 instructions in all, mixing RUN, COPY, ENV, WORKDIR, ARG.
fn dockerfile() -> String {
    let mut text = String::from("ARG BASE=localhost:5000/busybox:latest\n");
    let stages = [
        (
            "FROM --platform=$BUILDPLATFORM $BASE AS build\nARG TARGETARCH\n",
            333,
        ),
        ("FROM $BASE AS middle\n", 333),
        (
            "FROM $BASE\nCOPY --from=build /out /out\nCOPY --from=middle /mid /mid\n",
            330,
        ),
    ];
    for (header, count) in stages {
        text.push_str(header);
        for i in 0..count {
            text.push_str(&match i % 5 {
                0 => format!("RUN echo step {i} $TARGETARCH > /tmp/{i}\n"),
                1 => format!("ENV VAR_{i}=value-{i}\n"),
                2 => format!("COPY file{i}.txt /files/\n"),
                3 => format!("WORKDIR /work/{i}\n"),
                _ => format!("RUN --mount=type=cache,target=/cache/{i} make -C /src target{i}\n"),
            });
        }
    }
    text
}

fn main() {
    let text = dockerfile();
    let platforms: Vec<Platform> = [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
        "linux/riscv64",
        "linux/ppc64le",
        "linux/s390x",
    ]
    .iter()
    .map(|p| p.parse().expect("platform"))
    .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let compile = || {
        let started = Instant::now();
        let parsed = crossbuild::dockerfile::parse(text.as_bytes()).expect("parse");
        let mut options = ConvertOptions::new(
            "linux/amd64".parse().expect("platform"),
            Local::new("context").into_state(),
        );
        options.target_platforms = platforms.clone();
        // As `crossbuild build` compiles: with the source map.
        options.source = Some(std::sync::Arc::new(llb::SourceFile {
            filename: "Dockerfile".to_string(),
            language: "Dockerfile".to_string(),
            data: text.as_bytes().to_vec(),
        }));
        let parsed_at = started.elapsed();
        let builds = runtime
            .block_on(convert::convert(&parsed, &options, &CannedResolver))
            .expect("convert");
        let converted_at = started.elapsed();
        // As the CLI and the frontend marshal: all platforms at once.
        let definitions = convert::marshal_builds(&builds).expect("marshal");
        let bytes: usize = definitions
            .iter()
            .flat_map(|definition| definition.def.iter().map(Vec::len))
            .sum();
        let total = started.elapsed();
        if std::env::var_os("COMPILE_BENCH_DIGESTS").is_some() {
            // What an optimisation must not change: every byte of every
            // definition (ops, metadata, source map).
            for definition in &definitions {
                eprintln!("{}", llb::digest_of(&definition.encode_to_vec()));
            }
        }
        if std::env::var_os("COMPILE_BENCH_SPLIT").is_some() {
            eprintln!(
                "parse {parsed_at:?} convert {:?} marshal {:?}",
                converted_at - parsed_at,
                total - converted_at
            );
        }
        (total, builds.len(), bytes)
    };
    // Warm up, then measure.
    let (_, graphs, bytes) = compile();
    let mut times: Vec<Duration> = (0..20).map(|_| compile().0).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "compile: {} instructions x {} platforms -> {} graphs, {} bytes of LLB; min {:.2} ms, median {:.2} ms",
        text.lines().count(),
        platforms.len(),
        graphs,
        bytes,
        ms(times[0]),
        ms(times[times.len() / 2])
    );
}
