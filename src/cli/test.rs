//! `crossbuild test`: runs a command in every platform's image through
//! BuildKit (emulated where the daemon's worker is not native), checks the
//! image's ELF files against each platform, and reports pass or fail per
//! platform. The image comes from a registry, or with `--from-build` from a
//! build in the same gateway session (exported only if every platform
//! passes).

use std::collections::BTreeMap;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::frontend as gw;
use clap::Args;
use crossbuild::client::build::{run_build, BuildSetup};
use crossbuild::client::build_options::process_env;
use crossbuild::client::gateway::GatewayBuild;
use crossbuild::client::progress::ProgressMode;
use crossbuild::client::session::DockerConfig;
use crossbuild::client::{self, Lookup};
use crossbuild::image::config::ImageConfig;
use crossbuild::image::registry::RegistryClient;
use crossbuild::llb::{self, Constrained, Image, MarshalOptions};
use crossbuild::platform::Platform;
use crossbuild::smoke::{self, PlatformReport, SmokeOptions, Subject};
use serde::Serialize;

use super::build::{self as build_cli, BuildArgs};
use super::Format;

/// Stdout and stderr kept per platform.
const OUTPUT_LIMIT: usize = 1 << 20;

/// Flags of `crossbuild test`. The positional argument is the image, or
/// with `--from-build` the build context; build's flags apply with
/// `--from-build`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Build the context (with build's flags) and test the result instead
    /// of an image; outputs (-t/--push/-o) are exported only if every
    /// platform passes.
    #[arg(long)]
    from_build: bool,
    /// A file, or a directory (walked, symlinks not followed), whose ELF
    /// files must match each platform; repeatable. The command's binary is
    /// always checked.
    #[arg(long = "check-elf", value_name = "PATH")]
    check_elf: Vec<String>,
    /// Seconds the command may run per platform before it is killed.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    build: BuildArgs,
    /// The command to run in each platform's image (after `--`), appended
    /// to the image's ENTRYPOINT as `docker run` does; default: its CMD.
    #[arg(last = true, index = 2, value_name = "CMD")]
    command: Vec<String>,
}

/// Everything `--format json` prints.
#[derive(Serialize)]
struct TestReport<'a> {
    /// The image tested (or `build:<context>`).
    subject: String,
    /// True if every platform passed.
    passed: bool,
    /// One report per platform, in the order asked.
    platforms: &'a [PlatformReport],
}

/// Runs `crossbuild test`; fails when any platform fails.
pub async fn run(lookup: &Lookup, args: TestArgs) -> Result<(), String> {
    if args.timeout == 0 {
        return Err("--timeout must be at least 1 second".to_string());
    }
    let options = SmokeOptions {
        command: args.command.clone(),
        check_elf: args.check_elf.clone(),
        timeout: Duration::from_secs(args.timeout),
        output_limit: OUTPUT_LIMIT,
    };
    let work = async {
        if args.from_build {
            test_build(lookup, &args, &options).await
        } else {
            test_image(lookup, &args, &options).await
        }
    };
    let (subject, reports, build_error) = tokio::select! {
        outcome = work => outcome?,
        signal = build_cli::interrupted() => {
            return Err(format!("{signal}: the test was cancelled"));
        }
    };
    print_reports(&subject, &reports, args.format)?;
    if let Some(error) = build_error {
        return Err(error);
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.platform.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} platform{} failed: {}",
            failed.len(),
            reports.len(),
            if reports.len() == 1 { "" } else { "s" },
            failed.join(", ")
        ))
    }
}

/// The subject's name, its reports, and a build error to report after
/// them.
type Tested = (String, Vec<PlatformReport>, Option<String>);

async fn test_image(
    lookup: &Lookup,
    args: &TestArgs,
    options: &SmokeOptions,
) -> Result<Tested, String> {
    if args.build.path.as_os_str() == "." {
        return Err(
            "give the image to test (crossbuild test IMAGE -- CMD), or --from-build to test a build"
                .to_string(),
        );
    }
    let image =
        llb::normalize_image_ref(&args.build.path.to_string_lossy()).map_err(|e| e.to_string())?;
    let build_only = args.build.build_only_flags();
    if !build_only.is_empty() {
        return Err(format!(
            "{} only apply with --from-build",
            build_only.join(", ")
        ));
    }
    let auth = docker_config()?;
    let platforms = match requested_platforms(&args.build.platforms)? {
        Some(platforms) => platforms,
        None => image_platforms(&image, auth.clone()).await?,
    };
    let progress = match &args.build.progress {
        Some(_) => build_cli::progress_mode(&args.build)?,
        None => ProgressMode::Quiet,
    };
    let daemon = client::connect(lookup).await.map_err(|e| e.to_string())?;
    let setup = BuildSetup {
        progress,
        registry_auth: Some(auth),
        ..Default::default()
    };
    let mut reports = Vec::new();
    run_build(&daemon, setup, async |gateway: &GatewayBuild| {
        let tests = platforms.iter().map(|platform| async {
            match solve_image(gateway, &image, platform).await {
                Ok(subject) => smoke::test_platform(gateway, &subject, options).await,
                Err(problem) => unavailable(platform, &options.command, problem),
            }
        });
        reports = futures::future::join_all(tests).await;
        // Nothing to export: the gateway build ends empty.
        Ok(gw::Result::default())
    })
    .await
    .map_err(|e| build_cli::render_build_error(e, progress))?;
    Ok((image, reports, None))
}

async fn test_build(
    lookup: &Lookup,
    args: &TestArgs,
    options: &SmokeOptions,
) -> Result<Tested, String> {
    let progress = build_cli::progress_mode(&args.build)?;
    let prepared = build_cli::prepare(lookup, &args.build, progress).await?;
    let requested = requested_platforms(&args.build.platforms)?;
    let source = &prepared.source;
    let mut reports = Vec::new();
    let outcome = run_build(
        &prepared.daemon,
        prepared.setup.clone(),
        async |gateway: &GatewayBuild| {
            let result = source.solve(gateway).await?;
            let subjects = subjects_of(&result, requested.as_deref())?;
            // Build everything first, so a build error is the build's and
            // the times below are the tests'.
            let builds = subjects
                .iter()
                .filter(|s| !s.root.is_empty())
                .map(|s| gateway.evaluate(&s.root));
            for built in futures::future::join_all(builds).await {
                built.map_err(|e| e.to_string())?;
            }
            let tests = subjects
                .iter()
                .map(|subject| smoke::test_platform(gateway, subject, options));
            reports = futures::future::join_all(tests).await;
            let failed: Vec<&str> = reports
                .iter()
                .filter(|r| !r.passed)
                .map(|r| r.platform.as_str())
                .collect();
            if failed.is_empty() {
                Ok(result)
            } else {
                // Failing the gateway build keeps the exporters from
                // pushing an image that does not work.
                Err(format!(
                    "smoke test failed on {}; nothing exported",
                    failed.join(", ")
                ))
            }
        },
    )
    .await;
    let subject = format!("build of {}", args.build.path.display());
    match outcome {
        Ok(outcome) => {
            build_cli::report(
                &outcome,
                &prepared.exports,
                args.build.metadata_file.as_deref(),
            )?;
            Ok((subject, reports, None))
        }
        // The reports say why; the build error only repeats it.
        Err(_) if !reports.is_empty() && reports.iter().any(|r| !r.passed) => {
            Ok((subject, reports, None))
        }
        Err(error) => Ok((
            subject,
            reports,
            Some(build_cli::render_build_error(
                prepared.source.place_failure(error),
                progress,
            )),
        )),
    }
}

/// `--platform` parsed, or `None` when not given.
fn requested_platforms(flags: &[String]) -> Result<Option<Vec<Platform>>, String> {
    if flags.is_empty() {
        return Ok(None);
    }
    let mut platforms: Vec<Platform> = Vec::new();
    for flag in flags {
        let platform: Platform = flag.parse().map_err(|e| format!("--platform: {e}"))?;
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    Ok(Some(platforms))
}

/// The platforms of an image's index, read from its registry.
async fn image_platforms(image: &str, auth: DockerConfig) -> Result<Vec<Platform>, String> {
    let summary = RegistryClient::new(auth)
        .inspect(image)
        .await
        .map_err(|e| {
            format!("cannot list the platforms of {image} ({e}); give them with --platform")
        })?;
    let platforms = summary
        .platforms
        .iter()
        .filter(|p| p.platform != "unknown/unknown")
        .map(|p| {
            p.platform
                .parse::<Platform>()
                .map_err(|e| format!("{image} lists platform {}: {e}", p.platform))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if platforms.is_empty() {
        return Err(format!(
            "{image} names no platform; give them with --platform"
        ));
    }
    Ok(platforms)
}

/// Resolves `image` for `platform` and solves its root filesystem, pinned
/// to the manifest the config came from.
async fn solve_image(
    gateway: &GatewayBuild,
    image: &str,
    platform: &Platform,
) -> Result<Subject, String> {
    let resolved = gateway
        .resolve_image_config(image, platform)
        .await
        .map_err(|e| format!("cannot get {image} for {platform}: {e}"))?;
    let config = ImageConfig::from_json(&resolved.config)
        .map_err(|e| format!("the image config of {image} for {platform}: {e}"))?;
    let pinned = if resolved.digest.is_empty() || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}@{}", resolved.digest)
    };
    let state = Image::new(&pinned)
        .map_err(|e| e.to_string())?
        .platform(platform)
        .custom_name(format!("[{platform}] {image}"))
        .into_state();
    let definition = llb::marshal_with(
        &state,
        &MarshalOptions {
            default_platform: platform.clone(),
        },
    )
    .map_err(|e| e.to_string())?;
    let root = gateway
        .solve(definition, true)
        .await
        .map_err(|e| format!("cannot pull {image} for {platform}: {e}"))?
        .unwrap_or_default();
    Ok(Subject {
        platform: platform.clone(),
        root,
        config,
    })
}

/// The report of a platform whose image could not be had.
fn unavailable(platform: &Platform, command: &[String], problem: String) -> PlatformReport {
    PlatformReport {
        platform: platform.to_string(),
        passed: false,
        command: command.to_vec(),
        exit_code: None,
        timed_out: false,
        stdout: String::new(),
        stderr: String::new(),
        dropped_output_bytes: 0,
        elf: Vec::new(),
        problems: vec![problem],
        seconds: 0.0,
    }
}

/// The platforms of a build result with their refs and image configs.
fn subjects_of(
    result: &gw::Result,
    requested: Option<&[Platform]>,
) -> Result<Vec<Subject>, String> {
    let config_of = |key: &str| -> Result<ImageConfig, String> {
        match result.metadata.get(key) {
            Some(bytes) => ImageConfig::from_json(bytes)
                .map_err(|e| format!("the build's {key} is not an image config: {e}")),
            None => Ok(ImageConfig::default()),
        }
    };
    let parse = |id: &str| {
        id.parse::<Platform>()
            .map_err(|e| format!("the build returned platform {id:?}: {e}"))
    };
    let listed = listed_platforms(result);
    let mut subjects = Vec::new();
    match &result.result {
        Some(gw::result::Result::Refs(map)) => {
            let refs: BTreeMap<&str, &str> = map
                .refs
                .iter()
                .map(|(k, v)| (k.as_str(), v.id.as_str()))
                .collect();
            push_multi(&mut subjects, &listed, &refs, &config_of, &parse)?;
        }
        Some(gw::result::Result::RefsDeprecated(map)) => {
            let refs: BTreeMap<&str, &str> = map
                .refs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            push_multi(&mut subjects, &listed, &refs, &config_of, &parse)?;
        }
        Some(gw::result::Result::Ref(r)) => subjects.push(single(
            &r.id,
            &listed,
            requested,
            config_of("containerimage.config")?,
        )?),
        Some(gw::result::Result::RefDeprecated(id)) => subjects.push(single(
            id,
            &listed,
            requested,
            config_of("containerimage.config")?,
        )?),
        None => return Err("the build returned no result to test".to_string()),
    }
    Ok(subjects)
}

/// `refs.platforms` ids, in the build's order.
fn listed_platforms(result: &gw::Result) -> Vec<String> {
    result
        .metadata
        .get("refs.platforms")
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok())
        .and_then(|v| v.get("Platforms").cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.get("ID").and_then(|id| id.as_str()).map(str::to_string))
        .collect()
}

fn push_multi(
    subjects: &mut Vec<Subject>,
    listed: &[String],
    refs: &BTreeMap<&str, &str>,
    config_of: &dyn Fn(&str) -> Result<ImageConfig, String>,
    parse: &dyn Fn(&str) -> Result<Platform, String>,
) -> Result<(), String> {
    let order: Vec<&str> = if listed.is_empty() {
        refs.keys().copied().collect()
    } else {
        listed.iter().map(String::as_str).collect()
    };
    for id in order {
        let root = refs.get(id).ok_or_else(|| {
            format!("the build lists platform {id} but returned no result for it")
        })?;
        subjects.push(Subject {
            platform: parse(id)?,
            root: root.to_string(),
            config: config_of(&format!("containerimage.config/{id}"))?,
        });
    }
    Ok(())
}

/// A single-platform result: its platform from `refs.platforms`, else the
/// config, else the one `--platform` asked.
fn single(
    root: &str,
    listed: &[String],
    requested: Option<&[Platform]>,
    config: ImageConfig,
) -> Result<Subject, String> {
    let platform = if let Some(id) = listed.first() {
        id.parse::<Platform>().map_err(|e| e.to_string())?
    } else if !config.architecture.is_empty() {
        let variant = (!config.variant.is_empty()).then_some(config.variant.as_str());
        Platform::new(&config.os, &config.architecture, variant).map_err(|e| e.to_string())?
    } else {
        match requested {
            Some([one]) => one.clone(),
            _ => {
                return Err(
                    "the build result names no platform; give exactly one --platform".to_string(),
                )
            }
        }
    };
    Ok(Subject {
        platform,
        root: root.to_string(),
        config,
    })
}

fn docker_config() -> Result<DockerConfig, String> {
    match DockerConfig::default_path(&process_env) {
        Some(path) => DockerConfig::load(&path).map_err(|e| e.to_string()),
        None => Ok(DockerConfig::default()),
    }
}

fn print_reports(subject: &str, reports: &[PlatformReport], format: Format) -> Result<(), String> {
    match format {
        Format::Json => {
            let report = TestReport {
                subject: subject.to_string(),
                passed: reports.iter().all(|r| r.passed),
                platforms: reports,
            };
            let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            outln!("{text}");
        }
        Format::Table => print_table(reports),
    }
    Ok(())
}

fn print_table(reports: &[PlatformReport]) {
    outln!(
        "{:<16} {:<6} {:>4}  {:<12} {:>6}  OUTPUT",
        "PLATFORM",
        "RESULT",
        "EXIT",
        "ELF",
        "TIME"
    );
    for report in reports {
        let wrong = report.elf.iter().filter(|c| !c.ok).count();
        let elf = match (report.elf.len(), wrong) {
            (0, _) => "-".to_string(),
            (n, 0) => format!("{n} ok"),
            (n, w) => format!("{w} of {n} wrong"),
        };
        let exit = match (report.timed_out, report.exit_code) {
            (true, _) => "kill".to_string(),
            (false, Some(code)) => code.to_string(),
            (false, None) => "-".to_string(),
        };
        let output = report
            .stdout
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let output: String = output.chars().take(100).collect();
        outln!(
            "{:<16} {:<6} {:>4}  {:<12} {:>5.1}s  {output}",
            report.platform,
            if report.passed { "pass" } else { "FAIL" },
            exit,
            elf,
            report.seconds
        );
    }
    let failed: Vec<&PlatformReport> = reports.iter().filter(|r| !r.passed).collect();
    if !failed.is_empty() {
        outln!();
    }
    for report in failed {
        for problem in &report.problems {
            outln!("{}: {problem}", report.platform);
        }
        let tail: Vec<&str> = report.stderr.lines().rev().take(5).collect();
        for line in tail.into_iter().rev() {
            outln!("  {} stderr | {line}", report.platform);
        }
    }
    outln!();
    outln!(
        "{} of {} platform{} passed",
        reports.iter().filter(|r| r.passed).count(),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(arch: &str) -> Vec<u8> {
        format!(r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Cmd":["sh"]}}}}"#)
            .into_bytes()
    }

    #[test]
    fn multi_platform_results_keep_the_build_order() {
        let result = gw::Result {
            result: Some(gw::result::Result::Refs(gw::RefMap {
                refs: [("linux/s390x", "r2"), ("linux/amd64", "r1")]
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            gw::Ref {
                                id: v.to_string(),
                                def: None,
                            },
                        )
                    })
                    .collect(),
            })),
            metadata: [
                (
                    "containerimage.config/linux/amd64".to_string(),
                    config("amd64"),
                ),
                (
                    "containerimage.config/linux/s390x".to_string(),
                    config("s390x"),
                ),
                (
                    "refs.platforms".to_string(),
                    br#"{"Platforms":[{"ID":"linux/s390x"},{"ID":"linux/amd64"}]}"#.to_vec(),
                ),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let subjects = subjects_of(&result, None).unwrap();
        let got: Vec<(String, &str, &str)> = subjects
            .iter()
            .map(|s| {
                (
                    s.platform.to_string(),
                    s.root.as_str(),
                    s.config.architecture.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("linux/s390x".to_string(), "r2", "s390x"),
                ("linux/amd64".to_string(), "r1", "amd64")
            ]
        );
        assert_eq!(subjects[0].config.config.cmd, ["sh"]);
    }

    #[test]
    fn a_single_result_takes_its_platform_from_the_config_or_the_flag() {
        let mut result = gw::Result {
            result: Some(gw::result::Result::Ref(gw::Ref {
                id: "r".to_string(),
                def: None,
            })),
            metadata: [("containerimage.config".to_string(), config("riscv64"))]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let subjects = subjects_of(&result, None).unwrap();
        assert_eq!(subjects[0].platform.to_string(), "linux/riscv64");

        // An --llb build: no config, no refs.platforms.
        result.metadata.clear();
        assert_eq!(
            subjects_of(&result, None).unwrap_err(),
            "the build result names no platform; give exactly one --platform"
        );
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let subjects = subjects_of(&result, Some(std::slice::from_ref(&arm64))).unwrap();
        assert_eq!(subjects[0].platform, arm64);

        result.result = None;
        assert_eq!(
            subjects_of(&result, None).unwrap_err(),
            "the build returned no result to test"
        );
    }

    #[test]
    fn a_listed_platform_without_a_result_is_an_error() {
        let result = gw::Result {
            result: Some(gw::result::Result::Refs(gw::RefMap::default())),
            metadata: [(
                "refs.platforms".to_string(),
                br#"{"Platforms":[{"ID":"linux/arm64"}]}"#.to_vec(),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        assert_eq!(
            subjects_of(&result, None).unwrap_err(),
            "the build lists platform linux/arm64 but returned no result for it"
        );
    }
}
