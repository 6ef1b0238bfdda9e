//! What the daemon's workers can run, and how: natively, through QEMU
//! emulation, or not at all.
//!
//! BuildKit lists, per worker, every platform it can execute: first the
//! host's own, then whatever the CPU runs directly (`amd64/v2..v4` levels it
//! detected) and whatever the kernel's binfmt_misc handlers emulate. The
//! list does not say which entries are emulated, so the rule here is:
//!
//! - the worker's first platform is native;
//! - a listed platform the native CPU executes itself is native too: the
//!   same architecture with another variant (`amd64/v3` on amd64), and
//!   `386` on amd64 — except `arm` variants on arm64, which
//!   [`Platform::runs_natively_on`] conservatively counts as emulated
//!   because many arm64 server CPUs lack AArch32;
//! - `386` on amd64 counts as native even when not listed, because
//!   BuildKit's platform matcher accepts it there without an emulator;
//! - every other listed platform is emulated;
//! - a platform no worker lists cannot run.

use serde::Serialize;

use crate::client::workers::Worker;
use crate::platform::Platform;

/// How a platform's code gets executed by the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Support {
    /// A worker's CPU executes it directly.
    Native,
    /// A worker lists it only through a binfmt (QEMU) handler.
    Emulated,
    /// No worker lists it.
    Unsupported,
}

/// One worker's platforms, split by [`Support`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerPlatforms {
    /// The worker's id.
    pub id: String,
    /// The worker's own platform (its first).
    #[serde(serialize_with = "display")]
    pub native: Platform,
    /// Other platforms its CPU executes directly.
    #[serde(serialize_with = "display_all")]
    pub compatible: Vec<Platform>,
    /// Platforms it runs through emulation.
    #[serde(serialize_with = "display_all")]
    pub emulated: Vec<Platform>,
}

/// Platforms appear in JSON as `os/arch[/variant]`, as everywhere else.
fn display<S: serde::Serializer>(p: &Platform, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

fn display_all<S: serde::Serializer>(ps: &[Platform], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ps.iter().map(Platform::to_string))
}

impl WorkerPlatforms {
    /// Splits one worker's list; `None` for a worker that lists nothing
    /// usable (no platforms, or none that parse).
    pub fn from_worker(worker: &Worker) -> Option<WorkerPlatforms> {
        // A platform BuildKit prints but we cannot parse is skipped: it
        // cannot be a target crossbuild was asked for either.
        let mut listed = worker
            .platforms
            .iter()
            .filter_map(|p| p.parse::<Platform>().ok());
        let native = listed.next()?;
        let mut out = WorkerPlatforms {
            id: worker.id.clone(),
            native: native.clone(),
            compatible: Vec::new(),
            emulated: Vec::new(),
        };
        for platform in listed {
            if platform == native
                || out.compatible.contains(&platform)
                || out.emulated.contains(&platform)
            {
                continue;
            }
            if platform.runs_natively_on(&native) {
                out.compatible.push(platform);
            } else {
                out.emulated.push(platform);
            }
        }
        Some(out)
    }

    /// How this worker runs `platform`.
    pub fn support(&self, platform: &Platform) -> Support {
        let x86_on_amd64 = platform.architecture == "386"
            && platform.os == self.native.os
            && self.native.architecture == "amd64";
        if *platform == self.native || self.compatible.contains(platform) || x86_on_amd64 {
            Support::Native
        } else if self.emulated.contains(platform) {
            Support::Emulated
        } else {
            Support::Unsupported
        }
    }
}

/// All workers of a daemon.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DaemonPlatforms {
    /// The workers in the daemon's order.
    pub workers: Vec<WorkerPlatforms>,
}

impl DaemonPlatforms {
    /// From the daemon's worker list.
    pub fn from_workers(workers: &[Worker]) -> DaemonPlatforms {
        DaemonPlatforms {
            workers: workers
                .iter()
                .filter_map(WorkerPlatforms::from_worker)
                .collect(),
        }
    }

    /// The best any worker offers for `platform`.
    pub fn support(&self, platform: &Platform) -> Support {
        self.workers
            .iter()
            .map(|w| w.support(platform))
            .min()
            .unwrap_or(Support::Unsupported)
    }

    /// The first worker's native platform: `$BUILDPLATFORM`.
    pub fn build_platform(&self) -> Option<&Platform> {
        self.workers.first().map(|w| &w.native)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().expect("platform")
    }

    fn worker(platforms: &[&str]) -> Worker {
        Worker {
            id: "w".to_string(),
            platforms: platforms.iter().map(|s| s.to_string()).collect(),
            labels: Default::default(),
        }
    }

    #[test]
    fn first_is_native_variants_compatible_rest_emulated() {
        // What Docker's BuildKit lists on this project's amd64 test machine.
        let daemon = DaemonPlatforms::from_workers(&[worker(&[
            "linux/amd64",
            "linux/amd64/v2",
            "linux/amd64/v3",
            "linux/arm64",
            "linux/riscv64",
            "linux/arm",
            "linux/arm/v6",
            "linux/amd64/v2",
        ])]);
        assert_eq!(daemon.build_platform(), Some(&p("linux/amd64")));
        assert_eq!(daemon.support(&p("linux/amd64")), Support::Native);
        assert_eq!(daemon.support(&p("linux/amd64/v3")), Support::Native);
        assert_eq!(daemon.support(&p("linux/386")), Support::Native);
        assert_eq!(daemon.support(&p("linux/arm64")), Support::Emulated);
        assert_eq!(daemon.support(&p("linux/arm/v7")), Support::Emulated);
        assert_eq!(daemon.support(&p("linux/arm/v6")), Support::Emulated);
        assert_eq!(daemon.support(&p("linux/amd64/v4")), Support::Unsupported);
        assert_eq!(daemon.support(&p("linux/mips64le")), Support::Unsupported);
        assert_eq!(daemon.workers[0].compatible.len(), 2, "duplicates dropped");
    }

    #[test]
    fn arm_on_arm64_is_emulated_and_the_best_worker_wins() {
        let daemon = DaemonPlatforms::from_workers(&[
            worker(&["linux/arm64", "linux/arm/v7", "linux/amd64"]),
            worker(&["linux/amd64"]),
        ]);
        assert_eq!(daemon.support(&p("linux/arm/v7")), Support::Emulated);
        assert_eq!(daemon.support(&p("linux/amd64")), Support::Native);
        assert_eq!(daemon.build_platform(), Some(&p("linux/arm64")));
        assert_eq!(
            DaemonPlatforms::from_workers(&[worker(&[])]).support(&p("linux/amd64")),
            Support::Unsupported
        );
    }
}
