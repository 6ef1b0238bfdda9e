//! Resource limits of an exec (`pb::Ulimit`) and their text form,
//! docker/go-units' `ParseUlimit` (`nofile=1024:2048`). The same syntax
//! is used by buildx's `--ulimit` flag and by the `ulimit` attribute
//! BuildKit's Dockerfile frontend reads, so both sides parse it here.

use std::fmt;
use std::str::FromStr;

use bollard_buildkit_proto::pb;
use thiserror::Error;

/// The limit names go-units accepts (`as` is left out there too: Docker
/// cannot apply it at container start).
const NAMES: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// A `name=soft[:hard]` value that go-units would reject; the message is
/// go-units' own.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct UlimitError(String);

/// One resource limit for the command of an exec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ulimit {
    /// The limit's name (`nofile`, `nproc`, ...).
    pub name: String,
    /// The soft limit (-1 for unlimited).
    pub soft: i64,
    /// The hard limit (-1 for unlimited).
    pub hard: i64,
}

impl Ulimit {
    /// The limit as the exec op carries it.
    pub fn to_pb(&self) -> pb::Ulimit {
        pb::Ulimit {
            name: self.name.clone(),
            soft: self.soft,
            hard: self.hard,
        }
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with its error text.
fn parse_int(s: &str) -> Result<i64, UlimitError> {
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        UlimitError(format!("strconv.ParseInt: parsing {s:?}: {why}"))
    })
}

impl FromStr for Ulimit {
    type Err = UlimitError;

    /// `name=soft[:hard]`; without a hard limit it equals the soft one.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (name, limits) = value
            .split_once('=')
            .ok_or_else(|| UlimitError(format!("invalid ulimit argument: {value}")))?;
        if !NAMES.contains(&name) {
            return Err(UlimitError(format!("invalid ulimit type: {name}")));
        }
        let parts: Vec<&str> = limits.split(':').collect();
        let (soft, hard) = match parts.as_slice() {
            [soft] => {
                let soft = parse_int(soft)?;
                (soft, soft)
            }
            // go-units reads the hard limit first, so its error wins.
            [soft, hard] => {
                let hard = parse_int(hard)?;
                (parse_int(soft)?, hard)
            }
            _ => {
                return Err(UlimitError(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            )))
            }
        };
        if hard != -1 && soft > hard {
            return Err(UlimitError(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        Ok(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    }
}

impl fmt::Display for Ulimit {
    /// `name=soft:hard`, as Docker's `Ulimit.String` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}:{}", self.name, self.soft, self.hard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str, soft: i64, hard: i64) -> Ulimit {
        Ulimit {
            name: name.into(),
            soft,
            hard,
        }
    }

    #[test]
    fn parses_like_go_units() {
        assert_eq!("nofile=1024:2048".parse(), Ok(limit("nofile", 1024, 2048)));
        assert_eq!("nproc=512".parse(), Ok(limit("nproc", 512, 512)));
        assert_eq!("core=-1".parse(), Ok(limit("core", -1, -1)));
        assert_eq!("stack=100:-1".parse(), Ok(limit("stack", 100, -1)));
        assert_eq!(limit("nofile", 1, 2).to_string(), "nofile=1:2");
    }

    #[test]
    fn rejects_what_go_units_rejects() {
        let error = |v: &str| v.parse::<Ulimit>().unwrap_err().to_string();
        assert_eq!(error("nofile"), "invalid ulimit argument: nofile");
        assert_eq!(error("files=1"), "invalid ulimit type: files");
        assert_eq!(
            error("nofile=abc"),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            error("nofile=1:x"),
            "strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            error("nofile=99999999999999999999"),
            "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
        );
        assert_eq!(
            error("nofile=1:2:3"),
            "too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"
        );
        assert_eq!(
            error("nofile=20:10"),
            "ulimit soft limit must be less than or equal to hard limit: 20 > 10"
        );
    }
}
