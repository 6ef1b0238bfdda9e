//! `RUN --mount=type=...,target=...` specifications, parsed like BuildKit's
//! `commands_runmount.go`.
//!
//! Mount values may contain variables (`--mount=type=cache,id=$ID`), so, as
//! in BuildKit, the instruction layer only checks what it can without an
//! environment ([`check_mount_syntax`]), and the converter parses the mount
//! for real with an expander ([`parse_mount`]).

/// What is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A directory of the context or of another stage/image (the default).
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty in-memory filesystem.
    Tmpfs,
    /// A secret file (or environment variable) from the client.
    Secret,
    /// An SSH agent socket from the client.
    Ssh,
}

impl MountType {
    /// The name used in Dockerfiles.
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSharing {
    /// Used by all writers at once (the default).
    Shared,
    /// Each concurrent writer gets its own copy.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// One parsed `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `type=`.
    pub kind: MountType,
    /// `target=`, `dst=`, `destination=`.
    pub target: String,
    /// `source=`, `src=`.
    pub source: String,
    /// `from=`: a stage or image to mount from.
    pub from: String,
    /// `readonly`/`ro`/`rw`; when not given, bind, secret and ssh mounts are
    /// read-only and cache and tmpfs mounts are writable.
    pub read_only: bool,
    /// `id=`: the cache id, or the secret/ssh id.
    pub id: String,
    /// `sharing=` (cache mounts only).
    pub sharing: Option<CacheSharing>,
    /// `mode=` (octal; cache, secret and ssh mounts).
    pub mode: Option<u32>,
    /// `uid=` (cache, secret and ssh mounts).
    pub uid: Option<u32>,
    /// `gid=` (cache, secret and ssh mounts).
    pub gid: Option<u32>,
    /// `required` (secret and ssh mounts): fail when the client lacks it.
    pub required: bool,
    /// `size=` in bytes (tmpfs mounts).
    pub size_limit: Option<i64>,
    /// `env=` (secret mounts): expose the secret as this variable.
    pub env: Option<String>,
}

/// Why a `--mount` value is not valid; messages as BuildKit words them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// The value is not valid CSV.
    #[error("failed to parse csv mounts: {0}")]
    Csv(String),
    /// `type=foo`.
    #[error("unsupported mount type {0:?}")]
    UnsupportedType(String),
    /// A field without `=` that needs a value.
    #[error("invalid field '{0}' must be a key=value pair")]
    NotKeyValue(String),
    /// An unknown key.
    #[error("unexpected key '{key}' in '{field}'")]
    UnknownKey {
        /// The key.
        key: String,
        /// The whole field.
        field: String,
    },
    /// A key that does not apply to this mount type.
    #[error("unexpected key '{key}' for mount type '{kind}'")]
    KeyNotForType {
        /// The key.
        key: String,
        /// The mount type.
        kind: &'static str,
    },
    /// A field that does not apply to this mount type.
    #[error("invalid field '{key}' for mount type '{kind}'")]
    FieldNotForType {
        /// The key.
        key: String,
        /// The mount type.
        kind: &'static str,
    },
    /// A value that does not parse (bool, number, size, sharing mode).
    #[error("invalid value for {key}: {value}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `from=$VAR` (checked before expansion, like BuildKit).
    #[error("'from' doesn't support variable expansion, define alias stage instead")]
    FromWithVariable,
    /// `mode`, `uid` or `gid` on a bind or tmpfs mount.
    #[error("{0} not allowed for {1:?} type mounts")]
    FileInfoNotAllowed(&'static str, &'static str),
    /// Secret mount problems.
    #[error("{0}")]
    Secret(&'static str),
    /// The expander failed on a value.
    #[error("{0}")]
    Expand(String),
}

/// Splits a CSV record like Go's `encoding/csv` (one line, `"` quoting,
/// `""` for a quote inside quotes, no trimming).
fn csv_fields(s: &str) -> Result<Vec<String>, MountError> {
    let mut fields = Vec::new();
    if s.is_empty() {
        return Ok(fields);
    }
    let mut rest = s;
    loop {
        if let Some(mut quoted) = rest.strip_prefix('"') {
            let mut field = String::new();
            loop {
                let Some(i) = quoted.find('"') else {
                    return Err(MountError::Csv(
                        "extraneous or missing \" in quoted-field".into(),
                    ));
                };
                field.push_str(&quoted[..i]);
                let after = &quoted[i + 1..];
                if let Some(more) = after.strip_prefix('"') {
                    field.push('"');
                    quoted = more;
                } else if let Some(next) = after.strip_prefix(',') {
                    fields.push(field);
                    rest = next;
                    break;
                } else if after.is_empty() {
                    fields.push(field);
                    return Ok(fields);
                } else {
                    return Err(MountError::Csv(
                        "extraneous or missing \" in quoted-field".into(),
                    ));
                }
            }
        } else {
            let (field, next) = match rest.split_once(',') {
                Some((f, n)) => (f, Some(n)),
                None => (rest, None),
            };
            if field.contains('"') {
                return Err(MountError::Csv("bare \" in non-quoted-field".into()));
            }
            fields.push(field.to_string());
            match next {
                Some(n) => rest = n,
                None => return Ok(fields),
            }
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `64m`, `1.5GiB`, `512 kb`, `1024`.
pub(crate) fn ram_in_bytes(s: &str) -> Option<i64> {
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, mut unit) = s.split_at(num_len);
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let mut chars = unit.chars().peekable();
    let mut mult: f64 = 1.0;
    if let Some(c) = chars.peek().copied() {
        let exp = match c.to_ascii_lowercase() {
            'k' => Some(1),
            'm' => Some(2),
            'g' => Some(3),
            't' => Some(4),
            'p' => Some(5),
            _ => None,
        };
        if let Some(e) = exp {
            chars.next();
            mult = 1024f64.powi(e);
        }
    }
    if matches!(chars.peek(), Some('i' | 'I')) {
        chars.next();
    }
    if matches!(chars.peek(), Some('b' | 'B')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let bytes = value * mult;
    (bytes.is_finite() && bytes < i64::MAX as f64).then_some(bytes as i64)
}

/// The checks BuildKit makes when the instruction is parsed, before any
/// expansion: valid CSV, and no variable in `from=`.
pub fn check_mount_syntax(raw: &str) -> Result<(), MountError> {
    for field in csv_fields(raw)? {
        if let Some((key, value)) = field.split_once('=') {
            if key.eq_ignore_ascii_case("from") {
                if let Some(i) = value.find('$') {
                    if i != value.len() - 1 {
                        return Err(MountError::FromWithVariable);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Parses a `--mount` value, expanding each value with `expand` first (pass
/// an identity function when there is nothing to expand).
pub fn parse_mount(
    raw: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Mount, MountError> {
    let mut m = Mount {
        kind: MountType::Bind,
        target: String::new(),
        source: String::new(),
        from: String::new(),
        read_only: false,
        id: String::new(),
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size_limit: None,
        env: None,
    };
    let mut ro_auto = true;
    let secret_or_ssh = |m: &Mount| matches!(m.kind, MountType::Secret | MountType::Ssh);
    for field in csv_fields(raw)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => (m.read_only, ro_auto) = (true, false),
                "readwrite" | "rw" => (m.read_only, ro_auto) = (false, false),
                "required" if secret_or_ssh(&m) => m.required = true,
                "required" => {
                    return Err(MountError::KeyNotForType {
                        key,
                        kind: m.kind.as_str(),
                    })
                }
                _ => return Err(MountError::NotKeyValue(field)),
            }
            continue;
        };
        let value = expand(value).map_err(MountError::Expand)?;
        let invalid = |key: &str, value: &str| MountError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(MountError::UnsupportedType(value)),
                }
            }
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_bool(&value).ok_or_else(|| invalid(&key, &value))?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_bool(&value).ok_or_else(|| invalid(&key, &value))?;
                ro_auto = false;
            }
            "required" if secret_or_ssh(&m) => {
                m.required = parse_bool(&value).ok_or_else(|| invalid(&key, &value))?;
            }
            "required" => {
                return Err(MountError::KeyNotForType {
                    key,
                    kind: m.kind.as_str(),
                })
            }
            "source" | "src" => m.source = value,
            "from" => m.from = value,
            "id" => m.id = value,
            "sharing" => {
                if m.kind != MountType::Cache {
                    return Err(MountError::FieldNotForType {
                        key,
                        kind: m.kind.as_str(),
                    });
                }
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => return Err(invalid(&key, &value)),
                });
            }
            "mode" => {
                m.mode = Some(u32::from_str_radix(&value, 8).map_err(|_| invalid(&key, &value))?);
            }
            "uid" => m.uid = Some(value.parse().map_err(|_| invalid(&key, &value))?),
            "gid" => m.gid = Some(value.parse().map_err(|_| invalid(&key, &value))?),
            "env" => m.env = Some(value),
            "size" if m.kind == MountType::Tmpfs => {
                m.size_limit = Some(ram_in_bytes(&value).ok_or_else(|| invalid(&key, &value))?);
            }
            "size" => {
                return Err(MountError::FieldNotForType {
                    key,
                    kind: m.kind.as_str(),
                })
            }
            _ => return Err(MountError::UnknownKey { key, field }),
        }
    }
    let kind = m.kind.as_str();
    if !matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    ) {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(MountError::FileInfoNotAllowed(name, kind));
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if !m.from.is_empty() {
            return Err(MountError::Secret("secret mount should not have a from"));
        }
        if m.source.is_empty() && m.target.is_empty() && m.id.is_empty() {
            return Err(MountError::Secret(
                "invalid secret mount. one of source, target required",
            ));
        }
        if !m.source.is_empty() && !m.id.is_empty() {
            return Err(MountError::Secret("both source and id can't be set"));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(raw: &str) -> Result<Mount, MountError> {
        parse_mount(raw, &mut |s| Ok(s.to_string()))
    }

    #[test]
    fn defaults_per_type() {
        let m = mount("target=/src").expect("ok");
        assert_eq!((m.kind, m.read_only), (MountType::Bind, true));
        let m = mount("type=cache,target=/c").expect("ok");
        assert_eq!((m.kind, m.read_only), (MountType::Cache, false));
        let m = mount("type=tmpfs,dst=/t,size=64m").expect("ok");
        assert_eq!(
            (m.kind, m.read_only, m.size_limit),
            (MountType::Tmpfs, false, Some(64 << 20))
        );
        let m = mount("type=secret,id=tok").expect("ok");
        assert_eq!(
            (m.kind, m.read_only, m.id.as_str()),
            (MountType::Secret, true, "tok")
        );
        let m = mount("type=ssh").expect("ok");
        assert_eq!((m.kind, m.read_only), (MountType::Ssh, true));
    }

    #[test]
    fn every_option() {
        let m = mount(
            "type=cache,destination=/c,source=/s,from=build,id=go,sharing=LOCKED,mode=0700,uid=1000,gid=1001,rw=false",
        )
        .expect("ok");
        assert_eq!(m.target, "/c");
        assert_eq!(m.source, "/s");
        assert_eq!(m.from, "build");
        assert_eq!(m.id, "go");
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!(m.mode, Some(0o700));
        assert_eq!((m.uid, m.gid), (Some(1000), Some(1001)));
        assert!(m.read_only);
        let m = mount("type=bind,src=a,dst=/a,readwrite").expect("ok");
        assert!(!m.read_only);
        let m = mount("type=bind,target=/a,ro=false").expect("ok");
        assert!(!m.read_only);
        let m = mount("type=secret,id=aws,env=AWS_TOKEN,required").expect("ok");
        assert_eq!(m.env.as_deref(), Some("AWS_TOKEN"));
        assert!(m.required);
        let m = mount("type=ssh,required=false,mode=0600").expect("ok");
        assert!(!m.required);
        let m = mount("\"type=bind\",\"target=/a,b\"").expect("ok");
        assert_eq!(m.target, "/a,b");
    }

    #[test]
    fn errors() {
        let e = |s: &str| mount(s).unwrap_err().to_string();
        assert_eq!(e("type=foo"), "unsupported mount type \"foo\"");
        assert_eq!(
            e("target"),
            "invalid field 'target' must be a key=value pair"
        );
        assert_eq!(
            e("required"),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(e("bogus=1"), "unexpected key 'bogus' in 'bogus=1'");
        assert_eq!(
            e("sharing=shared"),
            "invalid field 'sharing' for mount type 'bind'"
        );
        assert_eq!(e("type=cache,sharing=x"), "invalid value for sharing: x");
        assert_eq!(e("type=cache,mode=9"), "invalid value for mode: 9");
        assert_eq!(e("type=cache,uid=-1"), "invalid value for uid: -1");
        assert_eq!(e("size=1m"), "invalid field 'size' for mount type 'bind'");
        assert_eq!(e("type=tmpfs,size=lots"), "invalid value for size: lots");
        assert_eq!(e("mode=0755"), "mode not allowed for \"bind\" type mounts");
        assert_eq!(
            e("type=tmpfs,uid=1"),
            "uid not allowed for \"tmpfs\" type mounts"
        );
        assert_eq!(
            e("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            e("type=secret,id=a,src=b"),
            "both source and id can't be set"
        );
        assert_eq!(
            e("type=secret,id=a,from=b"),
            "secret mount should not have a from"
        );
        assert_eq!(e("ro=maybe"), "invalid value for ro: maybe");
        assert!(e("a\"b").starts_with("failed to parse csv mounts"));
        assert!(e("\"ab").starts_with("failed to parse csv mounts"));
    }

    #[test]
    fn expansion_and_syntax_check() {
        let m = parse_mount("type=cache,id=$ID,target=/c", &mut |s| {
            Ok(s.replace("$ID", "x"))
        })
        .expect("ok");
        assert_eq!(m.id, "x");
        let e = parse_mount("target=$T", &mut |_| Err("T: not set".into())).unwrap_err();
        assert_eq!(e, MountError::Expand("T: not set".into()));
        assert!(check_mount_syntax("type=cache,id=$ID").is_ok());
        assert!(check_mount_syntax("from=x$").is_ok());
        assert_eq!(
            check_mount_syntax("from=$STAGE"),
            Err(MountError::FromWithVariable)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("1024"), Some(1024));
        assert_eq!(ram_in_bytes("1k"), Some(1024));
        assert_eq!(ram_in_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("2 mb"), Some(2 << 20));
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(ram_in_bytes(""), None);
        assert_eq!(ram_in_bytes("k"), None);
    }
}
