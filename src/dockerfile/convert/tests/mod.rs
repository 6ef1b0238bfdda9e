//! Converter tests: a fake resolver with canned image configs, helpers to
//! marshal and inspect the graphs, and tests by topic.

mod check_tests;
mod config_tests;
mod copy_tests;
mod run_tests;
mod source_map_tests;
mod stage_tests;

use std::collections::BTreeMap;
use std::sync::Mutex;

use bollard_buildkit_proto::pb;
use pb::op::Op;

use super::*;
use crate::dockerfile::parse;
use crate::image::{History, ImageConfig};
use crate::llb::{Graph, MarshalOptions};

/// Answers with a small config for every image except `missing`, and
/// records what it was asked.
#[derive(Default)]
pub(super) struct FakeResolver {
    pub calls: Mutex<Vec<(String, String)>>,
    pub configs: BTreeMap<String, ImageConfig>,
}

/// A config like a small Linux base image's, on `platform`.
pub(super) fn base_config(platform: &Platform) -> ImageConfig {
    let mut c = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone().unwrap_or_default(),
        ..Default::default()
    };
    c.rootfs.diff_ids = vec![format!("sha256:{}", "1".repeat(64))];
    c.history = vec![History {
        created_by: "/bin/sh -c #(nop) ADD file:abc in / ".into(),
        ..Default::default()
    }];
    c.config.env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()];
    c.config.cmd = vec!["/bin/sh".into()];
    c
}

#[async_trait::async_trait]
impl ImageResolver for FakeResolver {
    async fn resolve_oci_layout(
        &self,
        image: &OciLayoutImage,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        self.resolve(&format!("oci-layout:{}", image.reference), platform)
            .await
    }

    async fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        // A round trip, as a daemon's answer would be: lookups asked for
        // together overlap.
        tokio::task::yield_now().await;
        self.calls
            .lock()
            .map_err(|e| e.to_string())?
            .push((reference.to_string(), platform.to_string()));
        if reference.contains("missing") {
            return Err(format!("{reference}: not found"));
        }
        let mut config = match self.configs.get(reference) {
            Some(c) => c.clone(),
            None => base_config(platform),
        };
        config.architecture = platform.architecture.clone();
        Ok(ResolvedImage {
            digest: format!("sha256:{}", "a".repeat(64)),
            config,
        })
    }
}

pub(super) fn p(s: &str) -> Platform {
    s.parse().expect("platform")
}

/// Options for `targets` built on linux/amd64 from a local context.
pub(super) fn opts(targets: &[&str]) -> ConvertOptions {
    let mut o = ConvertOptions::new(p("linux/amd64"), llb::Local::new("context").into_state());
    o.target_platforms = targets.iter().map(|t| p(t)).collect();
    o
}

/// Converts `df` with a fresh fake resolver.
pub(super) fn run(df: &str, o: &ConvertOptions) -> Result<Vec<PlatformBuild>> {
    run_with(df, o, &FakeResolver::default())
}

pub(super) fn run_with(
    df: &str,
    o: &ConvertOptions,
    r: &FakeResolver,
) -> Result<Vec<PlatformBuild>> {
    let dockerfile = parse(df.as_bytes()).expect("parse");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(convert(&dockerfile, o, r))
}

/// Converts for one platform and returns the build.
pub(super) fn one(df: &str) -> PlatformBuild {
    run(df, &opts(&["linux/amd64"])).expect("convert").remove(0)
}

/// The decoded graph of a build.
pub(super) fn graph(b: &PlatformBuild) -> Graph {
    let def = llb::marshal_with(
        &b.state,
        &MarshalOptions {
            default_platform: b.platform.clone(),
        },
    )
    .expect("marshal");
    Graph::from_definition(&def).expect("graph")
}

/// Every exec op with its metadata, in definition order.
pub(super) fn execs(g: &Graph) -> Vec<(pb::ExecOp, pb::OpMetadata)> {
    g.order
        .iter()
        .filter_map(|d| match &g.ops[d].op {
            Some(Op::Exec(e)) => Some((e.clone(), g.metadata.get(d).cloned().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

/// Every file op with its metadata, in definition order.
pub(super) fn files(g: &Graph) -> Vec<(pb::Op, pb::OpMetadata)> {
    g.order
        .iter()
        .filter_map(|d| match &g.ops[d].op {
            Some(Op::File(_)) => Some((
                g.ops[d].clone(),
                g.metadata.get(d).cloned().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

/// Every source op identifier, in definition order.
pub(super) fn sources(g: &Graph) -> Vec<String> {
    g.order
        .iter()
        .filter_map(|d| match &g.ops[d].op {
            Some(Op::Source(s)) => Some(s.identifier.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn custom_name(md: &pb::OpMetadata) -> &str {
    md.description
        .get("llb.customname")
        .map(String::as_str)
        .unwrap_or_default()
}

pub(super) fn meta(e: &pb::ExecOp) -> pb::Meta {
    e.meta.clone().unwrap_or_default()
}

pub(super) fn env_of(e: &pb::ExecOp) -> Vec<String> {
    meta(e).env
}
