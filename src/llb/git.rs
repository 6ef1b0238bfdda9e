//! Git sources: identifiers and attributes as BuildKit's Go `llb.Git`
//! builds them, so that the same repository and ref is one op whichever
//! URL form (https, ssh, scp-like) named it.

use std::collections::BTreeMap;

use super::constraints::{Constrained, Constraints};
use super::source::source_state;
use super::state::{clean_path, State};
use super::{LlbError, Result};

/// A git repository (`git://host/path#ref:subdir`).
#[derive(Debug, Clone)]
pub struct Git {
    remote: String,
    id_base: String,
    ssh: bool,
    git_ref: Option<String>,
    subdir: Option<String>,
    keep_git_dir: bool,
    auth_token_secret: String,
    auth_header_secret: String,
    known_ssh_hosts: Option<String>,
    constraints: Constraints,
}

impl Git {
    /// A repository by URL: `https://host/path.git`, `ssh://...`,
    /// `git://...`, `git@host:path.git`, or a bare `host/path` (taken as
    /// https). A `#ref[:subdir]` fragment selects the checkout, as in
    /// Docker's remote-context syntax.
    pub fn new(url: &str) -> Result<Self> {
        let invalid = |reason: &str| LlbError::InvalidSource {
            kind: "git",
            value: url.to_string(),
            reason: reason.to_string(),
        };
        let (remote, fragment) = match url.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (url, None),
        };
        let (remote, host, path, ssh) =
            parse_git_remote(remote).ok_or_else(|| invalid("cannot parse remote URL"))?;
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        let mut git = Git {
            remote,
            id_base: format!("{host}{}", clean_path(&format!("/{path}"))),
            ssh,
            git_ref: None,
            subdir: None,
            keep_git_dir: false,
            auth_token_secret: "GIT_AUTH_TOKEN".to_string(),
            auth_header_secret: "GIT_AUTH_HEADER".to_string(),
            known_ssh_hosts: None,
            constraints: Constraints::new(),
        };
        if let Some(fragment) = fragment {
            let (r, sub) = match fragment.split_once(':') {
                Some((r, s)) => (r, Some(s)),
                None => (fragment, None),
            };
            if !r.is_empty() {
                git = git.git_ref(r);
            }
            if let Some(sub) = sub {
                git = git.subdir(sub);
            }
        }
        Ok(git)
    }

    /// Checks out this branch, tag or commit.
    pub fn git_ref(mut self, r: &str) -> Self {
        self.git_ref = Some(r.to_string());
        self
    }

    /// Uses only this subdirectory of the checkout.
    pub fn subdir(mut self, dir: &str) -> Self {
        let clean = clean_path(&format!("/{dir}"));
        let clean = clean.trim_start_matches('/');
        self.subdir = (!clean.is_empty()).then(|| clean.to_string());
        self
    }

    /// Keeps the `.git` directory (`git.keepgitdir`).
    pub fn keep_git_dir(mut self, keep: bool) -> Self {
        self.keep_git_dir = keep;
        self
    }

    /// Names the secret holding an HTTP auth token (default `GIT_AUTH_TOKEN`).
    pub fn auth_token_secret(mut self, id: &str) -> Self {
        self.auth_token_secret = id.to_string();
        self
    }

    /// Names the secret holding an HTTP auth header (default `GIT_AUTH_HEADER`).
    pub fn auth_header_secret(mut self, id: &str) -> Self {
        self.auth_header_secret = id.to_string();
        self
    }

    /// `known_hosts` lines for SSH remotes (`git.knownsshhosts`).
    pub fn known_ssh_hosts(mut self, hosts: &str) -> Self {
        self.known_ssh_hosts = Some(hosts.trim_end_matches('\n').to_string() + "\n");
        self
    }

    /// The state holding the checkout.
    pub fn into_state(self) -> State {
        let mut id = format!("git://{}", self.id_base);
        if self.git_ref.is_some() || self.subdir.is_some() {
            id.push('#');
            id.push_str(self.git_ref.as_deref().unwrap_or_default());
            if let Some(sub) = &self.subdir {
                id.push(':');
                id.push_str(sub);
            }
        }
        let mut attrs = BTreeMap::new();
        let mut caps = vec!["source.git", "source.git.fullurl"];
        if self.keep_git_dir {
            attrs.insert("git.keepgitdir".to_string(), "true".to_string());
            caps.push("source.git.keepgitdir");
        }
        attrs.insert("git.fullurl".to_string(), self.remote);
        if !self.auth_token_secret.is_empty() {
            attrs.insert("git.authtokensecret".to_string(), self.auth_token_secret);
        }
        if !self.auth_header_secret.is_empty() {
            attrs.insert("git.authheadersecret".to_string(), self.auth_header_secret);
        }
        if self.ssh {
            if let Some(hosts) = self.known_ssh_hosts {
                attrs.insert("git.knownsshhosts".to_string(), hosts);
            }
            attrs.insert("git.mountsshsock".to_string(), "default".to_string());
            caps.push("source.git.knownsshhosts");
            caps.push("source.git.mountsshsock");
        }
        source_state(id, attrs, caps, false, self.constraints)
    }
}

/// Splits a git remote into (full remote, host, path, is-ssh).
fn parse_git_remote(remote: &str) -> Option<(String, String, String, bool)> {
    for (scheme, ssh) in [
        ("https://", false),
        ("http://", false),
        ("git://", false),
        ("ssh://", true),
    ] {
        if let Some(rest) = remote.strip_prefix(scheme) {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            return Some((remote.to_string(), host.to_string(), path.to_string(), ssh));
        }
    }
    if remote.contains("://") {
        return None;
    }
    // scp-like `user@host:path`.
    if let Some((user_host, path)) = remote.split_once(':') {
        if let Some((_, host)) = user_host.split_once('@') {
            return Some((remote.to_string(), host.to_string(), path.to_string(), true));
        }
    }
    // No scheme: BuildKit retries as https.
    parse_git_remote(&format!("https://{remote}"))
}

impl Constrained for Git {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}
