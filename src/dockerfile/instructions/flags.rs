//! Instruction flags (`--from=build`, `--link`, repeated `--mount=...`),
//! checked like BuildKit's `BFlags`: each instruction declares the flags it
//! knows and their kind, and anything else is an error.

use std::collections::BTreeMap;

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// `--link`, `--link=true`, `--link=false`.
    Bool,
    /// `--from=x`; at most once.
    String,
    /// `--mount=...`; may repeat.
    Strings,
}

/// Flag errors, worded like BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A flag the instruction does not have.
    #[error("unknown flag: {name}{}", super::suggest::hint(suggestion))]
    Unknown {
        /// The flag name, without `--`.
        name: String,
        /// A likely intended flag, with `--`.
        suggestion: Option<String>,
    },
    /// A non-repeatable flag given twice.
    #[error("duplicate flag specified: {0}")]
    Duplicate(String),
    /// `--from` without `=value`, or `--link=`.
    #[error("missing a value on flag: {0}")]
    MissingValue(String),
    /// `--link=maybe`.
    #[error("expecting boolean value for flag {flag}, not: {value}")]
    NotBool {
        /// The flag.
        flag: String,
        /// What was given.
        value: String,
    },
}

/// The parsed flags of one instruction.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    strings: BTreeMap<&'static str, String>,
    lists: BTreeMap<&'static str, Vec<String>>,
    bools: BTreeMap<&'static str, bool>,
}

impl Flags {
    /// Parses `raw` (each starting with `--`, as the parser split them)
    /// against `known`. A bare `--` ends the flags.
    pub(crate) fn parse(
        raw: &[String],
        known: &[(&'static str, FlagKind)],
    ) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        for arg in raw {
            let Some(body) = arg.strip_prefix("--") else {
                // The parser only produces words starting with `--`.
                return Err(FlagError::Unknown {
                    name: arg.clone(),
                    suggestion: None,
                });
            };
            if body.is_empty() {
                break;
            }
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(name, kind)) = known.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                return Err(FlagError::Unknown {
                    name: name.to_string(),
                    suggestion: super::suggest::closest(name, &names).map(|s| format!("--{s}")),
                });
            };
            let seen = flags.strings.contains_key(name) || flags.bools.contains_key(name);
            if seen {
                return Err(FlagError::Duplicate(name.to_string()));
            }
            match kind {
                FlagKind::Bool => {
                    let b = match value.map(str::to_ascii_lowercase).as_deref() {
                        None => true,
                        Some("") => return Err(FlagError::MissingValue(name.to_string())),
                        Some("true") => true,
                        Some("false") => false,
                        Some(_) => {
                            return Err(FlagError::NotBool {
                                flag: name.to_string(),
                                value: value.unwrap_or_default().to_string(),
                            })
                        }
                    };
                    flags.bools.insert(name, b);
                }
                FlagKind::String => {
                    let v = value.ok_or_else(|| FlagError::MissingValue(name.to_string()))?;
                    flags.strings.insert(name, v.to_string());
                }
                FlagKind::Strings => {
                    let v = value.ok_or_else(|| FlagError::MissingValue(name.to_string()))?;
                    flags.lists.entry(name).or_default().push(v.to_string());
                }
            }
        }
        Ok(flags)
    }

    /// The value of a string flag, if given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.strings.get(name).cloned()
    }

    /// All values of a repeatable flag, in order.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.lists.get(name).cloned().unwrap_or_default()
    }

    /// A bool flag: `None` when not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.bools.get(name).copied()
    }

    /// Whether a bool flag was given and true.
    pub(crate) fn is_true(&self, name: &str) -> bool {
        self.bool(name).unwrap_or(false)
    }

    /// The names of the flags that were given, sorted.
    pub(crate) fn used(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .strings
            .keys()
            .chain(self.lists.keys())
            .chain(self.bools.keys())
            .map(|s| s.to_string())
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[(&str, FlagKind)] = &[
        ("from", FlagKind::String),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::Strings),
    ];

    fn parse(raw: &[&str]) -> Result<Flags, FlagError> {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        Flags::parse(&raw, KNOWN)
    }

    #[test]
    fn kinds() {
        let f = parse(&["--from=a", "--link", "--exclude=x", "--exclude=y"]).expect("ok");
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert!(f.is_true("link"));
        assert_eq!(f.list("exclude"), ["x", "y"]);
        assert_eq!(f.used(), ["exclude", "from", "link"]);
        let f = parse(&["--link=FALSE", "--from="]).expect("ok");
        assert_eq!(f.bool("link"), Some(false));
        assert_eq!(f.string("from").as_deref(), Some(""));
        let f = parse(&["--", "--bogus"]).expect("ok");
        assert!(f.used().is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(&["--foo"]).unwrap_err().to_string(),
            "unknown flag: foo"
        );
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            FlagError::Duplicate("from".into())
        );
        assert_eq!(
            parse(&["--link", "--link"]).unwrap_err(),
            FlagError::Duplicate("link".into())
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            FlagError::MissingValue("from".into())
        );
        assert_eq!(
            parse(&["--exclude"]).unwrap_err(),
            FlagError::MissingValue("exclude".into())
        );
        assert_eq!(
            parse(&["--link="]).unwrap_err(),
            FlagError::MissingValue("link".into())
        );
        assert_eq!(
            parse(&["--link=yes"]).unwrap_err().to_string(),
            "expecting boolean value for flag link, not: yes"
        );
    }
}
