//! Marshalling a [`State`] into a `pb::Definition`: each op encoded once
//! (deduplicated by digest), inputs before the ops that use them, and a
//! terminal op last, exactly the shape Go's `llb.State.Marshal` produces so
//! that BuildKit can solve the result directly.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard_buildkit_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::platform::Platform;

use super::source_map::SourceMapBuilder;
use super::state::{Node, OpSpec, Output, State};
use super::Result;

/// Options for [`marshal_with`].
#[derive(Debug, Clone)]
pub struct MarshalOptions {
    /// Platform for platform-specific ops (images, execs) whose state and
    /// constraints name none; Go's llb uses the client's default platform.
    pub default_platform: Platform,
}

impl Default for MarshalOptions {
    fn default() -> Self {
        MarshalOptions {
            default_platform: Platform::host(),
        }
    }
}

/// The LLB digest of encoded bytes: `sha256:<hex>`.
pub fn digest_of(bytes: &[u8]) -> String {
    // Written out by hand: every op of every graph gets one, and the
    // generic hex encoders go through a char iterator.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digest = String::with_capacity(7 + 64);
    digest.push_str("sha256:");
    for byte in Sha256::digest(bytes) {
        digest.push(char::from(HEX[usize::from(byte >> 4)]));
        digest.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    digest
}

/// Marshals the graph behind `state` with the host as default platform.
/// Scratch marshals to an empty definition (nothing to solve).
pub fn marshal(state: &State) -> Result<pb::Definition> {
    marshal_with(state, &MarshalOptions::default())
}

/// Marshals the graph behind `state`.
pub fn marshal_with(state: &State, opts: &MarshalOptions) -> Result<pb::Definition> {
    let Some(root) = state.output() else {
        return Ok(pb::Definition::default());
    };
    let mut m = Marshaller {
        opts,
        memo: HashMap::new(),
        def: Vec::new(),
        metadata: BTreeMap::new(),
        sources: SourceMapBuilder::default(),
    };
    let root_input = m.input(root)?;

    // The terminal op only points at the result. It carries no platform or
    // constraints, and its metadata announces which optional features the
    // graph uses, as Go's llb does.
    let terminal = pb::Op {
        inputs: vec![root_input],
        ..Default::default()
    };
    let bytes = terminal.encode_to_vec();
    let digest = digest_of(&bytes);
    let mut caps = BTreeMap::from([
        ("constraints".to_string(), true),
        ("platform".to_string(), true),
    ]);
    for md in m.metadata.values() {
        if md.ignore_cache {
            caps.insert("meta.ignorecache".to_string(), true);
        }
        if !md.description.is_empty() {
            caps.insert("meta.description".to_string(), true);
        }
        if md.export_cache.is_some() {
            caps.insert("meta.exportcache".to_string(), true);
        }
    }
    m.add(
        bytes,
        digest,
        pb::OpMetadata {
            caps,
            ..Default::default()
        },
    );
    Ok(pb::Definition {
        def: m.def,
        metadata: m.metadata,
        source: m.sources.finish(),
    })
}

struct Marshaller<'a> {
    opts: &'a MarshalOptions,
    /// Digest per node already marshalled; keyed by address, which is
    /// stable because `Arc`s keep every node alive for the whole call.
    memo: HashMap<*const Node, String>,
    def: Vec<Vec<u8>>,
    metadata: BTreeMap<String, pb::OpMetadata>,
    sources: SourceMapBuilder,
}

impl Marshaller<'_> {
    fn input(&mut self, out: &Output) -> Result<pb::Input> {
        let digest = self.visit(&out.node)?;
        Ok(pb::Input {
            digest,
            index: out.index,
        })
    }

    /// Adds `out` to `inputs` unless an equal input is there; returns its index.
    fn add_input(&mut self, inputs: &mut Vec<pb::Input>, out: &Output) -> Result<i64> {
        let input = self.input(out)?;
        let pos = match inputs.iter().position(|i| *i == input) {
            Some(pos) => pos,
            None => {
                inputs.push(input);
                inputs.len() - 1
            }
        };
        Ok(pos as i64)
    }

    /// Records an op: its bytes the first time its digest is seen (two
    /// nodes can encode alike), and its metadata, a later node's replacing
    /// an earlier one's.
    fn add(&mut self, bytes: Vec<u8>, digest: String, metadata: pb::OpMetadata) {
        match self.metadata.entry(digest) {
            Entry::Vacant(entry) => {
                self.def.push(bytes);
                entry.insert(metadata);
            }
            Entry::Occupied(mut entry) => {
                entry.insert(metadata);
            }
        }
    }

    fn visit(&mut self, node: &Arc<Node>) -> Result<String> {
        let key = Arc::as_ptr(node);
        if let Some(d) = self.memo.get(&key) {
            return Ok(d.clone());
        }
        let c = &node.constraints;
        let default_platform = &self.opts.default_platform;
        let op_platform = |fallback: Option<&Platform>| {
            c.platform
                .as_ref()
                .or(fallback)
                .unwrap_or(default_platform)
                .to_pb()
        };
        let mut inputs = Vec::new();
        let (payload, platform, caps): (Payload<'_>, Option<pb::Platform>, Vec<&str>) = match &node
            .spec
        {
            OpSpec::Source(s) => {
                let platform = s.platform_specific.then(|| op_platform(None));
                let op = pb::SourceOp {
                    identifier: s.identifier.clone(),
                    attrs: s.attrs.clone(),
                };
                (
                    Payload::Owned(pb::op::Op::Source(op)),
                    platform,
                    s.caps.clone(),
                )
            }
            OpSpec::Exec(e) => {
                let platform = op_platform(e.platform.as_ref());
                // Everything but `meta` is copied; `meta` (args and the
                // whole environment, the bulk of an exec op) is encoded by
                // reference in `encode_op`.
                let mut mounts = e.exec.mounts.clone();
                for m in &e.mounts {
                    let mut mount = m.mount.clone();
                    if let Some(src) = &m.source {
                        mount.input = self.add_input(&mut inputs, src)?;
                    }
                    mounts.push(mount);
                }
                let rest = pb::ExecOp {
                    meta: None,
                    mounts,
                    network: e.exec.network,
                    security: e.exec.security,
                    secretenv: e.exec.secretenv.clone(),
                    cdi_devices: e.exec.cdi_devices.clone(),
                };
                let payload = Payload::Exec {
                    meta: e.exec.meta.as_ref(),
                    env: &e.env,
                    rest,
                };
                (payload, Some(platform), e.caps.clone())
            }
            OpSpec::File(f) => {
                let mut base = -1;
                if let Some(b) = &f.base {
                    base = self.add_input(&mut inputs, b)?;
                }
                let mut secondaries = Vec::with_capacity(f.actions.len());
                for (_, secondary) in &f.actions {
                    secondaries.push(match secondary {
                        Some(s) => self.add_input(&mut inputs, s)?,
                        None => -1,
                    });
                }
                let n_inputs = inputs.len() as i64;
                let last = f.actions.len().saturating_sub(1);
                let actions = f
                    .actions
                    .iter()
                    .zip(secondaries)
                    .enumerate()
                    .map(|(i, ((action, _), secondary))| pb::FileAction {
                        // Indexes past the inputs name earlier actions' results.
                        input: if i == 0 {
                            base
                        } else {
                            n_inputs + i as i64 - 1
                        },
                        secondary_input: secondary,
                        output: if i == last { 0 } else { -1 },
                        action: Some(action.clone()),
                    })
                    .collect();
                (
                    Payload::Owned(pb::op::Op::File(pb::FileOp { actions })),
                    None,
                    f.caps.clone(),
                )
            }
            OpSpec::Merge(states) => {
                let mut merge = pb::MergeOp::default();
                for s in states {
                    inputs.push(self.input(s)?);
                    merge.inputs.push(pb::MergeInput {
                        input: inputs.len() as i64 - 1,
                    });
                }
                (
                    Payload::Owned(pb::op::Op::Merge(merge)),
                    None,
                    vec!["mergeop"],
                )
            }
            OpSpec::Diff { lower, upper } => {
                let mut index = |s: &Option<Output>, inputs: &mut Vec<pb::Input>| -> Result<i64> {
                    match s {
                        Some(s) => {
                            inputs.push(self.input(s)?);
                            Ok(inputs.len() as i64 - 1)
                        }
                        None => Ok(-1),
                    }
                };
                let lower = pb::LowerDiffInput {
                    input: index(lower, &mut inputs)?,
                };
                let upper = pb::UpperDiffInput {
                    input: index(upper, &mut inputs)?,
                };
                let diff = pb::DiffOp {
                    lower: Some(lower),
                    upper: Some(upper),
                };
                (Payload::Owned(pb::op::Op::Diff(diff)), None, vec!["diffop"])
            }
            OpSpec::Build { source, filename } => {
                inputs.push(self.input(source)?);
                let mut attrs = BTreeMap::new();
                if let Some(f) = filename {
                    attrs.insert("llbbuild.filename".to_string(), f.clone());
                }
                let build = pb::BuildOp {
                    // -1 selects BuildKit's built-in LLB builder.
                    builder: -1,
                    inputs: BTreeMap::from([(
                        "buildkit.llb.definition".to_string(),
                        pb::BuildInput { input: 0 },
                    )]),
                    def: None,
                    attrs,
                };
                (
                    Payload::Owned(pb::op::Op::Build(build)),
                    Some(op_platform(None)),
                    vec!["source.buildop.llbfilename"],
                )
            }
        };
        let constraints = Some(pb::WorkerConstraints {
            filter: c.worker_constraints.clone(),
        });
        let bytes = encode_op(inputs, payload, platform, constraints);
        let digest = digest_of(&bytes);
        self.add(bytes, digest.clone(), c.metadata(&caps));
        if let Some(location) = &c.location {
            self.sources.add(&digest, location);
        }
        self.memo.insert(key, digest.clone());
        Ok(digest)
    }
}

/// An op's payload for [`encode_op`]: owned, or an exec op whose `meta`
/// stays borrowed from the graph.
enum Payload<'a> {
    Owned(pb::op::Op),
    Exec {
        /// `meta` without its `env`, which is `env`.
        meta: Option<&'a pb::Meta>,
        env: &'a [(String, String)],
        rest: pb::ExecOp,
    },
}

/// Encodes a `pb::Op` the way BuildKit itself does: inputs (tag 1), then
/// platform (10) and constraints (11), then the op oneof (2..7) last.
/// BuildKit's generated marshaller (vtprotobuf) writes a oneof after the
/// other fields, and the daemon re-encodes every op it loads and names it
/// by the digest of those bytes: in any other order the daemon's digests
/// would not be crossbuild's, and neither its cache keys nor the source
/// map (keyed by digest) would line up with Go clients' graphs.
///
/// An exec op is written without copying its `meta` or environment.
/// Protobuf messages concatenate, so an exec op is its `meta` field (tag
/// 1, first) followed by the rest of it, and `meta` is its `args` (tag 1),
/// then one `env` string (tag 2) per variable, then the rest of it.
fn encode_op(
    inputs: Vec<pb::Input>,
    payload: Payload<'_>,
    platform: Option<pb::Platform>,
    constraints: Option<pb::WorkerConstraints>,
) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

    let head = pb::Op {
        inputs,
        platform,
        constraints,
        op: None,
    };
    let (meta, env, rest) = match payload {
        Payload::Owned(op) => {
            let mut bytes = Vec::with_capacity(head.encoded_len() + op.encoded_len());
            head.encode_raw(&mut bytes);
            op.encode(&mut bytes);
            return bytes;
        }
        Payload::Exec { meta, env, rest } => (meta, env, rest),
    };
    // Every length is known up front, so the op is written once into a
    // buffer of its final size: exec ops are most of a graph's bytes, and
    // the environment most of theirs. `meta` itself (its args and a few
    // small fields) goes through a buffer of its own, to be split around
    // the environment.
    let mut meta_fields = Vec::new();
    let mut meta_len = 0;
    if let Some(meta) = meta {
        debug_assert!(meta.env.is_empty(), "the environment travels beside meta");
        meta_fields.reserve_exact(meta.encoded_len());
        meta.encode_raw(&mut meta_fields);
        let env_len: usize = env
            .iter()
            .map(|(k, v)| {
                let len = k.len() + 1 + v.len();
                1 + encoded_len_varint(len as u64) + len
            })
            .sum();
        meta_len = meta_fields.len() + env_len;
    }
    let meta_field_len = match meta {
        Some(_) => 1 + encoded_len_varint(meta_len as u64) + meta_len,
        None => 0,
    };
    let exec_len = meta_field_len + rest.encoded_len();
    let total = head.encoded_len() + 1 + encoded_len_varint(exec_len as u64) + exec_len;
    let mut bytes = Vec::with_capacity(total);
    head.encode_raw(&mut bytes);
    encode_key(2, WireType::LengthDelimited, &mut bytes);
    encode_varint(exec_len as u64, &mut bytes);
    if let Some(meta) = meta {
        let args_len = prost::encoding::string::encoded_len_repeated(1, &meta.args);
        encode_key(1, WireType::LengthDelimited, &mut bytes);
        encode_varint(meta_len as u64, &mut bytes);
        bytes.extend_from_slice(&meta_fields[..args_len]);
        for (k, v) in env {
            encode_key(2, WireType::LengthDelimited, &mut bytes);
            encode_varint((k.len() + 1 + v.len()) as u64, &mut bytes);
            bytes.extend_from_slice(k.as_bytes());
            bytes.push(b'=');
            bytes.extend_from_slice(v.as_bytes());
        }
        bytes.extend_from_slice(&meta_fields[args_len..]);
    }
    rest.encode_raw(&mut bytes);
    debug_assert_eq!(bytes.len(), total, "the lengths above are exact");
    bytes
}

/// The bytes BuildKit's marshaller gives `op`: its fields but the oneof in
/// tag order, then the oneof (see [`encode_op`]).
#[cfg(test)]
pub(crate) fn encode_like_buildkit(op: &pb::Op) -> Vec<u8> {
    let mut bytes = pb::Op {
        op: None,
        ..op.clone()
    }
    .encode_to_vec();
    if let Some(inner) = &op.op {
        inner.encode(&mut bytes);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `encode_op` must give the bytes BuildKit's marshaller gives for the
    /// same op, or every exec digest would differ from the daemon's.
    #[test]
    fn exec_encoding_matches_buildkits() {
        let env = vec![
            ("PATH".to_string(), "/bin".to_string()),
            ("A".to_string(), "1".to_string()),
        ];
        let meta = pb::Meta {
            args: vec!["/bin/sh".into(), "-c".into(), "make".into()],
            cwd: "/src".into(),
            user: "1000".into(),
            // Every field after `args` and `env`, so that the split in
            // `encode_op` is proven against all of them.
            proxy_env: Some(pb::ProxyEnv {
                http_proxy: "http://proxy:3128".into(),
                ..Default::default()
            }),
            extra_hosts: vec![
                pb::HostIp {
                    host: "myhost".into(),
                    ip: "10.1.2.3".into(),
                },
                pb::HostIp {
                    host: "v6".into(),
                    ip: "2001:db8::1".into(),
                },
            ],
            hostname: "builder".into(),
            ulimit: vec![
                pb::Ulimit {
                    name: "nofile".into(),
                    soft: 1024,
                    hard: 2048,
                },
                pb::Ulimit {
                    name: "core".into(),
                    soft: -1,
                    hard: -1,
                },
            ],
            cgroup_parent: "/custom".into(),
            remove_mount_stubs_recursive: true,
            valid_exit_codes: vec![0, 1],
            ..Default::default()
        };
        let rest = pb::ExecOp {
            meta: None,
            mounts: vec![
                pb::Mount {
                    input: 0,
                    dest: "/".into(),
                    output: 0,
                    ..Default::default()
                },
                pb::Mount {
                    input: -1,
                    dest: "/dev/shm".into(),
                    output: -1,
                    mount_type: pb::MountType::Tmpfs as i32,
                    tmpfs_opt: Some(pb::TmpfsOpt { size: 128 << 20 }),
                    ..Default::default()
                },
            ],
            network: pb::NetMode::Host as i32,
            security: pb::SecurityMode::Insecure as i32,
            secretenv: vec![pb::SecretEnv {
                id: "tok".into(),
                name: "TOKEN".into(),
                optional: true,
            }],
            cdi_devices: Vec::new(),
        };
        let inputs = vec![pb::Input {
            digest: "sha256:abc".into(),
            index: 0,
        }];
        let platform = Some(pb::Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            ..Default::default()
        });
        let constraints = Some(pb::WorkerConstraints::default());
        let whole = pb::Op {
            inputs: inputs.clone(),
            platform: platform.clone(),
            constraints: constraints.clone(),
            op: Some(pb::op::Op::Exec(pb::ExecOp {
                meta: Some(pb::Meta {
                    env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    ..meta.clone()
                }),
                ..rest.clone()
            })),
        };
        let payload = Payload::Exec {
            meta: Some(&meta),
            env: &env,
            rest,
        };
        assert_eq!(
            encode_op(inputs, payload, platform, constraints),
            encode_like_buildkit(&whole)
        );
    }

    /// Digests the Docker engine's BuildKit (28.5) reported in its progress
    /// stream for these two ops, which it names by the digest of its own
    /// encoding: an image source, and a `RUN` on it.
    #[test]
    fn digests_are_the_daemons() {
        let platform = Some(pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        });
        let image = pb::op::Op::Source(pb::SourceOp {
            identifier: "docker-image://localhost:5000/busybox:latest@sha256:f95174be056272423ca8b1318f59f585a9195771ae9bcd51b452aeab1a62142d".into(),
            attrs: Default::default(),
        });
        let image_bytes = encode_op(
            Vec::new(),
            Payload::Owned(image),
            platform.clone(),
            Some(pb::WorkerConstraints::default()),
        );
        let image_digest = digest_of(&image_bytes);
        assert_eq!(
            image_digest,
            "sha256:f21bf9b8c6eeb852d90435a8d7b74dbc13f9aad0ed6943cf4db865742b4c84ce"
        );
        let meta = pb::Meta {
            args: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
            cwd: "/".into(),
            remove_mount_stubs_recursive: true,
            ..Default::default()
        };
        let env = vec![("PATH".to_string(), "/bin".to_string())];
        let run = Payload::Exec {
            meta: Some(&meta),
            env: &env,
            rest: pb::ExecOp {
                mounts: vec![pb::Mount {
                    input: 0,
                    dest: "/".into(),
                    output: 0,
                    ..Default::default()
                }],
                ..Default::default()
            },
        };
        let run_bytes = encode_op(
            vec![pb::Input {
                digest: image_digest,
                index: 0,
            }],
            run,
            platform,
            Some(pb::WorkerConstraints::default()),
        );
        assert_eq!(
            digest_of(&run_bytes),
            "sha256:629506f405b65a2d63d72777ff27e91de6656d13fc971ff63cc6745a71eae779"
        );
    }
}
