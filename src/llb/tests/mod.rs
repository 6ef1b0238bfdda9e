//! Graph-level tests: every op kind and option as it lands in the marshalled
//! `pb::Op`, dedup and determinism, digests shared across platforms, round
//! trips, the JSON dump, and golden root digests.

mod exec;
mod file;
mod graph;
mod sources;

pub(super) use bollard_buildkit_proto::pb;

pub(super) use super::*;
pub(super) use crate::platform::Platform;

pub(super) fn plat(s: &str) -> Platform {
    s.parse().expect("platform")
}

pub(super) fn opts() -> MarshalOptions {
    MarshalOptions {
        default_platform: plat("linux/amd64"),
    }
}

pub(super) fn graph(state: &State) -> Graph {
    let def = marshal_with(state, &opts()).expect("marshal");
    Graph::from_definition(&def).expect("decode")
}

/// The op that produced `state`, and its metadata.
pub(super) fn root_op(state: &State) -> (pb::Op, pb::OpMetadata, i64) {
    let g = graph(state);
    let root = g.root().expect("root").clone();
    (
        g.ops[&root.digest].clone(),
        g.metadata[&root.digest].clone(),
        root.index,
    )
}

pub(super) fn source(op: &pb::Op) -> &pb::SourceOp {
    match &op.op {
        Some(pb::op::Op::Source(s)) => s,
        other => panic!("not a source: {other:?}"),
    }
}

pub(super) fn exec(op: &pb::Op) -> &pb::ExecOp {
    match &op.op {
        Some(pb::op::Op::Exec(e)) => e,
        other => panic!("not an exec: {other:?}"),
    }
}

pub(super) fn file(op: &pb::Op) -> &pb::FileOp {
    match &op.op {
        Some(pb::op::Op::File(f)) => f,
        other => panic!("not a file op: {other:?}"),
    }
}

pub(super) fn caps(md: &pb::OpMetadata) -> Vec<&str> {
    md.caps.keys().map(String::as_str).collect()
}

pub(super) fn root_digest(state: &State) -> String {
    graph(state).root().expect("root").digest.clone()
}

pub(super) fn busybox() -> State {
    Image::new("busybox")
        .expect("image")
        .platform(&plat("linux/amd64"))
        .into_state()
}
