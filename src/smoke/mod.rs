//! Cross-architecture smoke tests (`crossbuild test`): for each platform
//! of an image, run a command in that platform's image through BuildKit
//! (a gateway container; emulated by the daemon where its worker is not
//! native) and check that the ELF files in it are built for that platform.
//!
//! Running alone misses the classic multi-arch bug: an amd64 binary in the
//! arm64 image runs fine on an amd64 daemon. The ELF check catches it; the
//! run catches the rest (a missing dynamic loader, a crash under QEMU, a
//! wrong entrypoint).

pub mod files;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::container::{ProcessSpec, UNKNOWN_EXIT_STATUS};
use crate::client::gateway::GatewayBuild;
use crate::elf;
use crate::image::config::ImageConfig;
use crate::platform::Platform;

pub use files::ElfCheck;
use files::{FileInfo, Findings, ImageFiles};

/// One platform's image, solved on the daemon.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The platform it is for.
    pub platform: Platform,
    /// The solved root filesystem (a gateway ref id; empty for an empty
    /// image).
    pub root: String,
    /// Its image config (environment, working directory, user, command).
    pub config: ImageConfig,
}

/// What to test in every platform's image.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// The command, appended to the image's entrypoint as `docker run`
    /// does; empty: the image's own `CMD`.
    pub command: Vec<String>,
    /// Extra files or directories whose ELF files must match the platform.
    pub check_elf: Vec<String>,
    /// How long the command may run per platform.
    pub timeout: Duration,
    /// Bytes of stdout and of stderr kept per platform.
    pub output_limit: usize,
}

/// The verdict for one platform.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    /// The platform (`linux/arm/v7`).
    pub platform: String,
    /// No problems.
    pub passed: bool,
    /// The argv that ran (entrypoint + command).
    pub command: Vec<String>,
    /// The exit code, when the process ran to an end the daemon saw.
    pub exit_code: Option<u32>,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// Standard output (lossy UTF-8, up to the limit).
    pub stdout: String,
    /// Standard error (lossy UTF-8, up to the limit).
    pub stderr: String,
    /// Output bytes past the limit, not kept.
    pub dropped_output_bytes: u64,
    /// Every ELF file checked.
    pub elf: Vec<ElfCheck>,
    /// Why it failed, one sentence each; empty when it passed.
    pub problems: Vec<String>,
    /// Wall time of this platform's checks and run.
    pub seconds: f64,
}

/// Tests one platform's image: its config's platform, its ELF files, and
/// the command's run. Infrastructure errors (the daemon refusing a read)
/// become problems too, so one platform's trouble never hides the others'.
pub async fn test_platform(
    gateway: &GatewayBuild,
    subject: &Subject,
    options: &SmokeOptions,
) -> PlatformReport {
    let started = Instant::now();
    let platform = subject.platform.to_string();
    let config = &subject.config.config;
    let mut argv = config.entrypoint.clone();
    argv.extend(if options.command.is_empty() {
        config.cmd.clone()
    } else {
        options.command.clone()
    });
    let mut env = config.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={}", files::DEFAULT_PATH));
    }
    let mut report = PlatformReport {
        platform: platform.clone(),
        passed: false,
        command: argv.clone(),
        exit_code: None,
        timed_out: false,
        stdout: String::new(),
        stderr: String::new(),
        dropped_output_bytes: 0,
        elf: Vec::new(),
        problems: Vec::new(),
        seconds: 0.0,
    };
    if let Some(problem) = config_platform_problem(&subject.config, &subject.platform) {
        report.problems.push(problem);
    }
    if subject.root.is_empty() {
        report.problems.push("the image has no files".to_string());
    } else {
        let findings = check_files(gateway, subject, options, &argv, &env).await;
        report.problems.extend(findings.problems);
        for check in &findings.checks {
            report.problems.extend(check.problem(&platform));
        }
        report.elf = findings.checks;
        if argv.is_empty() {
            report.problems.push(
                "no command: the image has no ENTRYPOINT or CMD; give one after --".to_string(),
            );
        } else {
            run_command(gateway, subject, options, argv, env, &mut report).await;
        }
    }
    report.passed = report.problems.is_empty();
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// The config's own platform, when it names a different OS or
/// architecture (or a different variant) than the platform tested.
fn config_platform_problem(config: &ImageConfig, platform: &Platform) -> Option<String> {
    if config.architecture.is_empty() {
        return None;
    }
    let variant = (!config.variant.is_empty()).then_some(config.variant.as_str());
    let os = if config.os.is_empty() {
        "linux"
    } else {
        config.os.as_str()
    };
    let said = match Platform::new(os, &config.architecture, variant) {
        Ok(said) => said,
        Err(e) => return Some(format!("the image config's platform is invalid: {e}")),
    };
    // A config without a variant says nothing about it (normalising
    // `arm` alone would make it v7).
    let variant_differs = !config.variant.is_empty() && said.variant != platform.variant;
    (said.os != platform.os || said.architecture != platform.architecture || variant_differs)
        .then(|| format!("the image config says it is for {said}"))
}

async fn check_files(
    gateway: &GatewayBuild,
    subject: &Subject,
    options: &SmokeOptions,
    argv: &[String],
    env: &[String],
) -> Findings {
    let image = GatewayFiles {
        gateway,
        root: &subject.root,
    };
    let expected = elf::target_for(&subject.platform);
    let mut findings = Findings::default();
    if let Some(argv0) = argv.first() {
        let cwd = &subject.config.config.working_dir;
        let outcome = match files::resolve_command(&image, argv0, files::path_of(env), cwd).await {
            Ok(binary) => files::check_command(&image, &binary, expected, &mut findings).await,
            Err(problem) => {
                findings.problems.push(problem);
                Ok(())
            }
        };
        if let Err(e) = outcome {
            findings
                .problems
                .push(format!("checking the command's binary: {e}"));
        }
    }
    for named in &options.check_elf {
        if let Err(e) = files::check_named(&image, named, expected, &mut findings).await {
            findings
                .problems
                .push(format!("checking --check-elf {named}: {e}"));
        }
    }
    findings
}

async fn run_command(
    gateway: &GatewayBuild,
    subject: &Subject,
    options: &SmokeOptions,
    argv: Vec<String>,
    env: Vec<String>,
    report: &mut PlatformReport,
) {
    let spec = ProcessSpec {
        args: argv,
        env,
        cwd: subject.config.config.working_dir.clone(),
        user: subject.config.config.user.clone(),
        timeout: options.timeout,
        output_limit: options.output_limit,
    };
    let outcome = match gateway
        .run_process(&subject.root, &subject.platform, &spec)
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            report
                .problems
                .push(format!("the command did not run: {e}"));
            return;
        }
    };
    report.exit_code = outcome.exit_code;
    report.timed_out = outcome.timed_out;
    report.stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
    report.stderr = String::from_utf8_lossy(&outcome.stderr).into_owned();
    report.dropped_output_bytes = outcome.dropped_bytes;
    if outcome.timed_out {
        report.problems.push(format!(
            "the command ran longer than {} s and was killed",
            options.timeout.as_secs()
        ));
    } else if let Some(problem) = exit_problem(&outcome.exit_code, &report.stderr, &outcome.error) {
        report.problems.push(problem);
    }
}

/// Why a finished process failed, if it did. runc reports a command it
/// cannot start on stderr with exit code 1 (or BuildKit's unknown status).
fn exit_problem(code: &Option<u32>, stderr: &str, error: &Option<String>) -> Option<String> {
    let start_failure = stderr
        .lines()
        .find(|l| l.contains("unable to start container process"));
    match code {
        Some(0) => None,
        Some(_) | None if start_failure.is_some() => Some(format!(
            "the command could not start: {}",
            start_failure.unwrap_or_default().trim()
        )),
        Some(code) if *code == UNKNOWN_EXIT_STATUS && error.is_some() => Some(format!(
            "the command failed: {}",
            error.as_deref().unwrap_or_default()
        )),
        Some(code) => Some(format!("the command exited with code {code}")),
        None => Some(format!(
            "the command ended without an exit code{}",
            error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )),
    }
}

/// An image's files as a gateway ref on the daemon.
struct GatewayFiles<'a> {
    gateway: &'a GatewayBuild,
    root: &'a str,
}

/// The daemon's words for a path that is not there.
fn is_not_found(message: &str) -> bool {
    message.contains("no such file or directory") || message.contains("not a directory")
}

impl ImageFiles for GatewayFiles<'_> {
    async fn stat(&self, path: &str) -> Result<Option<FileInfo>, String> {
        match self.gateway.stat_file(self.root, path).await {
            Ok(stat) => Ok(Some(FileInfo::from_go_mode(stat.mode, stat.size))),
            Err(e) if is_not_found(&e.to_string()) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn read_head(&self, path: &str, len: usize) -> Result<Vec<u8>, String> {
        self.gateway
            .read_file_range(self.root, path, 0, len as u64)
            .await
            .map_err(|e| e.to_string())
    }

    async fn list(&self, dir: &str) -> Result<Vec<(String, FileInfo)>, String> {
        let entries = self
            .gateway
            .read_dir(self.root, dir)
            .await
            .map_err(|e| e.to_string())?;
        Ok(entries
            .into_iter()
            .map(|stat| {
                // fsutil names entries relative to the directory listed.
                let name = stat.path.rsplit('/').next().unwrap_or_default().to_string();
                (name, FileInfo::from_go_mode(stat.mode, stat.size))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_problems_say_what_happened() {
        assert_eq!(exit_problem(&Some(0), "", &None), None);
        assert_eq!(
            exit_problem(&Some(3), "", &Some("exit code: 3".into())).as_deref(),
            Some("the command exited with code 3")
        );
        let runc = "runc run failed: unable to start container process: exec: \"/x\": stat /x: no such file or directory\n";
        assert_eq!(
            exit_problem(&Some(1), runc, &Some("exit code: 1".into())).as_deref(),
            Some("the command could not start: runc run failed: unable to start container process: exec: \"/x\": stat /x: no such file or directory")
        );
        assert_eq!(
            exit_problem(&Some(255), "", &Some("exec format error".into())).as_deref(),
            Some("the command failed: exec format error")
        );
        assert_eq!(
            exit_problem(&None, "", &None).as_deref(),
            Some("the command ended without an exit code")
        );
    }

    #[test]
    fn the_config_platform_must_match() {
        let mut config = ImageConfig::default();
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(config_platform_problem(&config, &arm64), None);
        config.os = "linux".into();
        config.architecture = "arm64".into();
        config.variant = "v8".into();
        assert_eq!(config_platform_problem(&config, &arm64), None);
        config.architecture = "amd64".into();
        config.variant = String::new();
        assert_eq!(
            config_platform_problem(&config, &arm64).as_deref(),
            Some("the image config says it is for linux/amd64")
        );
        let armv7: Platform = "linux/arm/v7".parse().unwrap();
        config.architecture = "arm".into();
        config.variant = "v6".into();
        assert_eq!(
            config_platform_problem(&config, &armv7).as_deref(),
            Some("the image config says it is for linux/arm/v6")
        );
        config.variant = String::new();
        assert_eq!(config_platform_problem(&config, &armv7), None);
    }
}
