//! Image reference normalisation as in Docker's `distribution/reference`
//! (`ParseNormalizedNamed` + `TagNameOnly`), which BuildKit's Go `llb.Image`
//! applies. The identifier ends up in the op and so in its digest: `busybox`
//! and `docker.io/library/busybox:latest` must be the same op.

use super::{LlbError, Result};

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const MAX_NAME_LEN: usize = 255;

/// Normalises an image reference: `busybox` → `docker.io/library/busybox:latest`,
/// `localhost:5000/app` → `localhost:5000/app:latest`; a digest is kept and
/// then no `latest` tag is added.
pub fn normalize_image_ref(reference: &str) -> Result<String> {
    let err = |reason: &str| LlbError::InvalidImageRef {
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    if reference.is_empty() {
        return Err(err("empty reference"));
    }
    if reference.len() == 64 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err("cannot specify 64-byte hexadecimal strings"));
    }
    let (name_and_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(i) if !name_and_tag[i..].contains('/') => {
            (&name_and_tag[..i], Some(&name_and_tag[i + 1..]))
        }
        _ => (name_and_tag, None),
    };
    let (domain, mut path) = split_domain(name);
    if domain == DEFAULT_DOMAIN && !path.contains('/') {
        path = format!("library/{path}");
    }
    if path.to_ascii_lowercase() != path {
        return Err(err("repository name must be lowercase"));
    }
    if !valid_domain(&domain) {
        return Err(err("invalid registry host"));
    }
    if !path.split('/').all(valid_path_component) {
        return Err(err("invalid repository path"));
    }
    if domain.len() + 1 + path.len() > MAX_NAME_LEN {
        return Err(err(
            "repository name must not be longer than 255 characters",
        ));
    }
    let mut out = format!("{domain}/{path}");
    match tag {
        Some(t) if valid_tag(t) => out.push_str(&format!(":{t}")),
        Some(_) => return Err(err("invalid tag")),
        None if digest.is_none() => out.push_str(":latest"),
        None => {}
    }
    if let Some(d) = digest {
        if !valid_digest(d) {
            return Err(err("invalid digest"));
        }
        out.push_str(&format!("@{d}"));
    }
    Ok(out)
}

/// `splitDockerDomain`: the first component is a registry only if it looks
/// like a host (has `.` or `:`, is `localhost`, or has uppercase letters).
fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_ascii_lowercase() != first =>
        {
            let domain = if first == LEGACY_DEFAULT_DOMAIN {
                DEFAULT_DOMAIN
            } else {
                first
            };
            (domain.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    }
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (h, Some(p)),
        _ => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(ipv6) = host.strip_prefix('[') {
        return ipv6.strip_suffix(']').is_some_and(|a| {
            !a.is_empty() && a.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
        });
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|c| word(*c) || *c == b'.' || *c == b'-')
}

/// `algorithm:hex`, with sha256 requiring exactly 64 lowercase hex digits.
fn valid_digest(d: &str) -> bool {
    let Some((algo, hex)) = d.split_once(':') else {
        return false;
    };
    let algo_ok = algo.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && algo
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_+.".contains(&c));
    let hex_ok = hex.len() >= 32
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    algo_ok && hex_ok && (algo != "sha256" || hex.len() == 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DGST: &str = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";

    #[test]
    fn normalises_like_distribution_reference() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest".to_string()),
            ("busybox:1.36", "docker.io/library/busybox:1.36".to_string()),
            (
                "library/busybox",
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest".to_string(),
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest".to_string(),
            ),
            ("user/app", "docker.io/user/app:latest".to_string()),
            ("localhost/app", "localhost/app:latest".to_string()),
            (
                "localhost:5000/busybox",
                "localhost:5000/busybox:latest".to_string(),
            ),
            ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b:v1".to_string()),
            ("ghcr.io/o/r:1.0-rc_1", "ghcr.io/o/r:1.0-rc_1".to_string()),
            ("[::1]:5000/app", "[::1]:5000/app:latest".to_string()),
            (
                &*format!("busybox@{DGST}"),
                format!("docker.io/library/busybox@{DGST}"),
            ),
            (
                &*format!("busybox:1@{DGST}"),
                format!("docker.io/library/busybox:1@{DGST}"),
            ),
            (
                "my-org/my__app.x",
                "docker.io/my-org/my__app.x:latest".to_string(),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalize_image_ref(input).as_deref(),
                Ok(want.as_str()),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_invalid_references() {
        let cases = [
            ("", "empty reference"),
            ("Busybox", "repository name must be lowercase"),
            (
                "docker.io/Library/busybox",
                "repository name must be lowercase",
            ),
            ("busybox:", "invalid tag"),
            ("busybox:-x", "invalid tag"),
            ("busybox@sha256:abc", "invalid digest"),
            ("bad_host-.com/x", "invalid registry host"),
            ("user/-app", "invalid repository path"),
            ("a..b", "invalid repository path"),
            ("-a", "invalid repository path"),
            ("host.-x:5000/app", "invalid registry host"),
            ("localhost:50x0/app", "invalid registry host"),
        ];
        for (input, reason) in cases {
            let err = normalize_image_ref(input).expect_err(input);
            assert_eq!(
                err,
                LlbError::InvalidImageRef {
                    reference: input.to_string(),
                    reason: reason.to_string()
                },
                "{input}"
            );
        }
        let hex = "a".repeat(64);
        assert!(normalize_image_ref(&hex).is_err());
        assert_eq!(
            normalize_image_ref("Busybox")
                .expect_err("upper")
                .to_string(),
            "invalid image reference \"Busybox\": repository name must be lowercase"
        );
    }
}
