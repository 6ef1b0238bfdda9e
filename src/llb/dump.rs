//! Reading a `pb::Definition` back: [`Graph`] decodes the ops by digest
//! (for round-trip tests and tools), [`dump_json`] prints them readably like
//! `buildctl debug dump-llb`, which is how humans review golden graphs.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;
use prost::Message;
use serde_json::{json, Map, Value};

use super::marshal::digest_of;
use super::{LlbError, Result};

/// A decoded definition: every op by digest, in definition order.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Ops by digest.
    pub ops: BTreeMap<String, pb::Op>,
    /// Digests in the order the definition lists them (inputs first,
    /// terminal op last).
    pub order: Vec<String>,
    /// Metadata by digest.
    pub metadata: BTreeMap<String, pb::OpMetadata>,
}

impl Graph {
    /// Decodes and checks a definition: every op decodes, every input
    /// exists, and a non-empty definition ends in a one-input terminal op.
    pub fn from_definition(def: &pb::Definition) -> Result<Graph> {
        let mut graph = Graph {
            metadata: def.metadata.clone(),
            ..Default::default()
        };
        for (index, bytes) in def.def.iter().enumerate() {
            let op = pb::Op::decode(bytes.as_slice()).map_err(|e| LlbError::Decode {
                index,
                reason: e.to_string(),
            })?;
            let digest = digest_of(bytes);
            graph.order.push(digest.clone());
            graph.ops.insert(digest, op);
        }
        for (digest, op) in &graph.ops {
            for input in &op.inputs {
                if !graph.ops.contains_key(&input.digest) {
                    return Err(LlbError::MissingInput {
                        op: digest.clone(),
                        input: input.digest.clone(),
                    });
                }
            }
        }
        if let Some(last) = graph.order.last() {
            let terminal = &graph.ops[last];
            if terminal.op.is_some() || terminal.inputs.len() != 1 {
                return Err(LlbError::BadTerminal);
            }
        }
        Ok(graph)
    }

    /// The terminal op's input: the result of the whole graph.
    pub fn root(&self) -> Option<&pb::Input> {
        self.order
            .last()
            .and_then(|d| self.ops.get(d))
            .and_then(|op| op.inputs.first())
    }

    /// The op a result input points at.
    pub fn op(&self, digest: &str) -> Option<&pb::Op> {
        self.ops.get(digest)
    }
}

/// One JSON object per op, in definition order: `digest`, readable `op`
/// and `metadata`.
pub fn dump_json(def: &pb::Definition) -> Result<Value> {
    let graph = Graph::from_definition(def)?;
    let entries = graph
        .order
        .iter()
        .map(|digest| {
            let op = &graph.ops[digest];
            let mut entry = Map::new();
            entry.insert("digest".into(), json!(digest));
            entry.insert("op".into(), op_json(op));
            if let Some(md) = graph.metadata.get(digest) {
                entry.insert("metadata".into(), metadata_json(md));
            }
            Value::Object(entry)
        })
        .collect();
    Ok(Value::Array(entries))
}

fn op_json(op: &pb::Op) -> Value {
    let mut o = Map::new();
    if !op.inputs.is_empty() {
        let inputs = op
            .inputs
            .iter()
            .map(|i| json!(format!("{}:{}", i.digest, i.index)))
            .collect();
        o.insert("inputs".into(), Value::Array(inputs));
    }
    if let Some(p) = &op.platform {
        let mut s = format!("{}/{}", p.os, p.architecture);
        if !p.variant.is_empty() {
            s = format!("{s}/{}", p.variant);
        }
        o.insert("platform".into(), json!(s));
    }
    if let Some(c) = op.constraints.as_ref().filter(|c| !c.filter.is_empty()) {
        o.insert("worker_constraints".into(), json!(c.filter));
    }
    let (kind, body) = match &op.op {
        None => ("terminal", Value::Null),
        Some(pb::op::Op::Source(s)) => (
            "source",
            json!({ "identifier": s.identifier, "attrs": s.attrs }),
        ),
        Some(pb::op::Op::Exec(e)) => ("exec", exec_json(e)),
        Some(pb::op::Op::File(f)) => (
            "file",
            Value::Array(f.actions.iter().map(file_action_json).collect()),
        ),
        Some(pb::op::Op::Merge(m)) => (
            "merge",
            json!({ "inputs": m.inputs.iter().map(|i| i.input).collect::<Vec<_>>() }),
        ),
        Some(pb::op::Op::Diff(d)) => (
            "diff",
            json!({
                "lower": d.lower.map_or(-1, |l| l.input),
                "upper": d.upper.map_or(-1, |u| u.input),
            }),
        ),
        Some(pb::op::Op::Build(b)) => (
            "build",
            json!({
                "builder": b.builder,
                "inputs": b.inputs.iter().map(|(k, v)| (k.clone(), json!(v.input))).collect::<Map<_, _>>(),
                "attrs": b.attrs,
            }),
        ),
    };
    if !body.is_null() {
        o.insert(kind.into(), body);
    } else {
        o.insert("kind".into(), json!(kind));
    }
    Value::Object(o)
}

fn exec_json(e: &pb::ExecOp) -> Value {
    let mut o = Map::new();
    if let Some(m) = &e.meta {
        o.insert("args".into(), json!(m.args));
        o.insert("env".into(), json!(m.env));
        o.insert("cwd".into(), json!(m.cwd));
        if !m.user.is_empty() {
            o.insert("user".into(), json!(m.user));
        }
        if !m.hostname.is_empty() {
            o.insert("hostname".into(), json!(m.hostname));
        }
        if !m.extra_hosts.is_empty() {
            let hosts: Vec<String> = m
                .extra_hosts
                .iter()
                .map(|h| format!("{}={}", h.host, h.ip))
                .collect();
            o.insert("extra_hosts".into(), json!(hosts));
        }
        if !m.ulimit.is_empty() {
            let limits: Vec<String> = m
                .ulimit
                .iter()
                .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
                .collect();
            o.insert("ulimit".into(), json!(limits));
        }
        if !m.valid_exit_codes.is_empty() {
            o.insert("valid_exit_codes".into(), json!(m.valid_exit_codes));
        }
    }
    let network = pb::NetMode::try_from(e.network).map_or("?", |n| n.as_str_name());
    let security = pb::SecurityMode::try_from(e.security).map_or("?", |s| s.as_str_name());
    o.insert("network".into(), json!(network));
    o.insert("security".into(), json!(security));
    let mounts: Vec<Value> = e.mounts.iter().map(mount_json).collect();
    o.insert("mounts".into(), Value::Array(mounts));
    if !e.secretenv.is_empty() {
        let envs: Vec<Value> = e
            .secretenv
            .iter()
            .map(|s| json!({ "id": s.id, "name": s.name, "optional": s.optional }))
            .collect();
        o.insert("secret_env".into(), Value::Array(envs));
    }
    Value::Object(o)
}

fn mount_json(m: &pb::Mount) -> Value {
    let kind = pb::MountType::try_from(m.mount_type).map_or("?", |t| t.as_str_name());
    let mut o = Map::new();
    o.insert("type".into(), json!(kind));
    o.insert("dest".into(), json!(m.dest));
    o.insert("input".into(), json!(m.input));
    o.insert("output".into(), json!(m.output));
    if m.readonly {
        o.insert("readonly".into(), json!(true));
    }
    if !m.selector.is_empty() {
        o.insert("selector".into(), json!(m.selector));
    }
    if let Some(c) = &m.cache_opt {
        let sharing = pb::CacheSharingOpt::try_from(c.sharing).map_or("?", |s| s.as_str_name());
        o.insert("cache".into(), json!({ "id": c.id, "sharing": sharing }));
    }
    if let Some(t) = &m.tmpfs_opt {
        o.insert("tmpfs".into(), json!({ "size": t.size }));
    }
    let secret = |id: &str, uid: u32, gid: u32, mode: u32, optional: bool| json!({ "id": id, "uid": uid, "gid": gid, "mode": format!("{mode:o}"), "optional": optional });
    if let Some(s) = &m.secret_opt {
        o.insert(
            "secret".into(),
            secret(&s.id, s.uid, s.gid, s.mode, s.optional),
        );
    }
    if let Some(s) = &m.ssh_opt {
        o.insert(
            "ssh".into(),
            secret(&s.id, s.uid, s.gid, s.mode, s.optional),
        );
    }
    Value::Object(o)
}

fn chown_json(c: &Option<pb::ChownOpt>) -> Value {
    let user = |u: &Option<pb::UserOpt>| match u.as_ref().and_then(|u| u.user.as_ref()) {
        Some(pb::user_opt::User::ById(id)) => json!(id),
        Some(pb::user_opt::User::ByName(n)) => json!({ "name": n.name, "input": n.input }),
        None => Value::Null,
    };
    match c {
        Some(c) => json!({ "user": user(&c.user), "group": user(&c.group) }),
        None => Value::Null,
    }
}

fn file_action_json(a: &pb::FileAction) -> Value {
    use pb::file_action::Action;
    let body = match &a.action {
        Some(Action::Mkdir(m)) => json!({ "mkdir": {
            "path": m.path, "mode": format!("{:o}", m.mode), "make_parents": m.make_parents,
            "owner": chown_json(&m.owner), "timestamp": m.timestamp,
        }}),
        Some(Action::Mkfile(m)) => json!({ "mkfile": {
            "path": m.path, "mode": format!("{:o}", m.mode), "data": String::from_utf8_lossy(&m.data),
            "owner": chown_json(&m.owner), "timestamp": m.timestamp,
        }}),
        Some(Action::Rm(r)) => json!({ "rm": {
            "path": r.path, "allow_not_found": r.allow_not_found, "allow_wildcard": r.allow_wildcard,
        }}),
        Some(Action::Symlink(s)) => json!({ "symlink": {
            "oldpath": s.oldpath, "newpath": s.newpath, "owner": chown_json(&s.owner), "timestamp": s.timestamp,
        }}),
        Some(Action::Copy(c)) => json!({ "copy": {
            "src": c.src, "dest": c.dest, "owner": chown_json(&c.owner),
            "mode": if c.mode >= 0 { json!(format!("{:o}", c.mode)) } else { json!(-1) },
            "mode_str": c.mode_str, "follow_symlink": c.follow_symlink, "dir_copy_contents": c.dir_copy_contents,
            "attempt_unpack": c.attempt_unpack_docker_compatibility, "create_dest_path": c.create_dest_path,
            "allow_wildcard": c.allow_wildcard, "allow_empty_wildcard": c.allow_empty_wildcard,
            "timestamp": c.timestamp, "include_patterns": c.include_patterns, "exclude_patterns": c.exclude_patterns,
            "always_replace_existing": c.always_replace_existing_dest_paths,
        }}),
        None => Value::Null,
    };
    json!({ "input": a.input, "secondary_input": a.secondary_input, "output": a.output, "action": body })
}

fn metadata_json(md: &pb::OpMetadata) -> Value {
    let mut o = Map::new();
    if md.ignore_cache {
        o.insert("ignore_cache".into(), json!(true));
    }
    if !md.description.is_empty() {
        o.insert("description".into(), json!(md.description));
    }
    if !md.caps.is_empty() {
        o.insert("caps".into(), json!(md.caps.keys().collect::<Vec<_>>()));
    }
    if let Some(g) = &md.progress_group {
        o.insert(
            "progress_group".into(),
            json!({ "id": g.id, "name": g.name, "weak": g.weak }),
        );
    }
    Value::Object(o)
}
