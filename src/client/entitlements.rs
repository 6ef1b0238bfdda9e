//! Entitlements: the privileges a build asks the daemon for (`--allow
//! network.host`, `--allow security.insecure`), and BuildKit's refusals
//! said in plain words. A build needs two yeses: the client must request
//! the entitlement, and the daemon's configuration must permit it; BuildKit
//! names each missing yes in its own terms, which rarely tell a user what
//! to change.

/// The entitlements `--allow` accepts, with the Dockerfile feature that
/// needs each.
const KNOWN: [(&str, &str); 2] = [
    ("network.host", "RUN --network=host"),
    ("security.insecure", "RUN --security=insecure"),
];

/// An `--allow` value crossbuild does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--allow {0:?}: unknown entitlement; expected network.host or security.insecure")]
pub struct UnknownEntitlement(pub String);

/// Checks `--allow` values (comma lists or repeated flags, as in buildx)
/// and returns each entitlement once, in the order given.
pub fn parse_allow(values: &[String]) -> Result<Vec<String>, UnknownEntitlement> {
    let mut allowed: Vec<String> = Vec::new();
    for value in values.iter().flat_map(|v| v.split(',')) {
        let name = value.trim();
        if !KNOWN.iter().any(|(known, _)| *known == name) {
            return Err(UnknownEntitlement(name.to_string()));
        }
        if !allowed.iter().any(|a| a == name) {
            allowed.push(name.to_string());
        }
    }
    Ok(allowed)
}

/// Rewrites BuildKit's refusal of an entitlement into what the user must
/// do; `None` when `message` is not such a refusal. BuildKit's words stay
/// at the end, for searching.
pub fn explain_refusal(message: &str) -> Option<String> {
    for (name, feature) in KNOWN {
        // The client did not request it (solver/llbsolver ValidateEntitlements).
        if message.contains(&format!("{name} is not allowed"))
            && !message.contains("granting entitlement")
        {
            return Some(format!(
                "the build uses {feature}, which needs the {name} entitlement: pass --allow {name} \
                 (the daemon must permit it too) (BuildKit: {message})"
            ));
        }
        // The client requested it, the daemon's configuration does not permit it
        // (util/entitlements WhiteList).
        if message.contains(&format!("granting entitlement {name} is not allowed")) {
            let docker_key = name.replace('.', "-");
            return Some(format!(
                "the daemon does not permit the {name} entitlement that {feature} needs: a Docker \
                 engine permits it with \"builder\": {{\"entitlements\": {{\"{docker_key}\": true}}}} \
                 in its daemon.json, a buildkitd with --allow-insecure-entitlement {name} \
                 (BuildKit: {message})"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_takes_known_entitlements_once() {
        let values = [
            "security.insecure".to_string(),
            "network.host,security.insecure".to_string(),
        ];
        assert_eq!(
            parse_allow(&values).unwrap(),
            ["security.insecure", "network.host"]
        );
        assert_eq!(
            parse_allow(&["device".to_string()]).unwrap_err(),
            UnknownEntitlement("device".to_string())
        );
    }

    #[test]
    fn refusals_say_what_to_change() {
        let not_requested =
            explain_refusal("failed to load LLB: security.insecure is not allowed").unwrap();
        assert!(
            not_requested.starts_with(
                "the build uses RUN --security=insecure, which needs the security.insecure entitlement: pass --allow security.insecure"
            ),
            "{not_requested}"
        );
        assert!(not_requested
            .ends_with("(BuildKit: failed to load LLB: security.insecure is not allowed)"));

        let not_permitted = explain_refusal(
            "granting entitlement security.insecure is not allowed by build daemon configuration",
        )
        .unwrap();
        assert!(
            not_permitted.starts_with(
                "the daemon does not permit the security.insecure entitlement that RUN --security=insecure needs"
            ),
            "{not_permitted}"
        );
        assert!(
            not_permitted.contains(r#""builder": {"entitlements": {"security-insecure": true}}"#),
            "{not_permitted}"
        );
        let host = explain_refusal("network.host is not allowed").unwrap();
        assert!(host.contains("--allow network.host"), "{host}");

        assert_eq!(
            explain_refusal("process did not complete successfully"),
            None
        );
    }
}
