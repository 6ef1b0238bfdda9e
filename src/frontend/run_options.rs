//! The frontend attributes BuildKit's Dockerfile frontend applies to every
//! `RUN` (`add-hosts`, `shm-size`, `ulimit`, `hostname`, `force-network-mode` and the
//! `BUILDKIT_SANDBOX_HOSTNAME` build arg), read with the rules and error
//! texts of its `dockerui` package (`attr.go`, `config.go`), so that a
//! value either frontend refuses is refused by both.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::client::csv_fields::split_fields;
use crate::dockerfile::convert::RunOptions;
use crate::llb::Ulimit;

use super::FrontendError;

/// The build arg that overrides the `hostname` attribute.
const HOSTNAME_ARG: &str = "BUILDKIT_SANDBOX_HOSTNAME";

fn option_error(key: &str, message: String) -> FrontendError {
    FrontendError::Option {
        key: key.to_string(),
        message,
    }
}

/// Reads the RUN options from `attrs`; `build_args` are the `build-arg:*`
/// attributes without their prefix.
pub(super) fn from_attrs(
    attrs: &BTreeMap<String, String>,
    build_args: &BTreeMap<String, String>,
) -> Result<RunOptions, FrontendError> {
    let hostname = build_args
        .get(HOSTNAME_ARG)
        .filter(|h| !h.is_empty())
        .or_else(|| attrs.get("hostname"))
        .filter(|h| !h.is_empty())
        .cloned();
    Ok(RunOptions {
        extra_hosts: extra_hosts(attrs.get("add-hosts").map_or("", String::as_str)).map_err(
            |m| {
                option_error(
                    "add-hosts",
                    format!("failed to parse additional hosts: {m}"),
                )
            },
        )?,
        shm_size: shm_size(attrs.get("shm-size").map_or("", String::as_str))
            .map_err(|m| option_error("shm-size", format!("failed to parse shm size: {m}")))?,
        ulimits: ulimits(attrs.get("ulimit").map_or("", String::as_str))
            .map_err(|m| option_error("ulimit", format!("failed to parse ulimit: {m}")))?,
        hostname,
        network: network_mode(attrs.get("force-network-mode").map_or("", String::as_str))
            .map_err(|m| option_error("force-network-mode", m))?,
    })
}

/// `force-network-mode` as BuildKit's dockerui reads it: empty or `sandbox`
/// keeps the default network, `none` and `host` replace it.
fn network_mode(value: &str) -> Result<Option<crate::llb::NetMode>, String> {
    match value {
        "" | "sandbox" => Ok(None),
        "none" => Ok(Some(crate::llb::NetMode::None)),
        "host" => Ok(Some(crate::llb::NetMode::Host)),
        other => Err(format!("invalid netmode {other}")),
    }
}

/// `name=ip,name=ip` (CSV), each lowercased; the address is written as Go's
/// `net.IP.String` writes it, which is what reaches the exec op.
fn extra_hosts(value: &str) -> Result<Vec<(String, String)>, String> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let mut hosts = Vec::new();
    for field in split_fields(value).map_err(|e| e.to_string())? {
        let field = field.to_lowercase();
        let (host, ip) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid key-value pair {field}"))?;
        let ip: IpAddr = ip.parse().map_err(|_| format!("failed to parse IP {ip}"))?;
        hosts.push((host.to_string(), go_ip_string(ip)));
    }
    Ok(hosts)
}

/// Go prints an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4
/// address; Rust keeps the IPv6 form.
fn go_ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// A number of bytes (`strconv.ParseInt`; the client turns `128m` into
/// bytes before it gets here).
fn shm_size(value: &str) -> Result<i64, String> {
    if value.is_empty() {
        return Ok(0);
    }
    value.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.ParseInt: parsing {value:?}: {why}")
    })
}

/// `name=soft[:hard]` fields (CSV).
fn ulimits(value: &str) -> Result<Vec<Ulimit>, String> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    split_fields(value)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|field| field.parse::<Ulimit>().map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn read(pairs: &[(&str, &str)]) -> Result<RunOptions, String> {
        let all = attrs(pairs);
        let build_args = all
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("build-arg:")?.to_string(), v.clone())))
            .collect();
        from_attrs(&all, &build_args).map_err(|e| e.to_string())
    }

    #[test]
    fn none_given_is_the_default() {
        assert_eq!(read(&[]), Ok(RunOptions::default()));
        assert_eq!(
            read(&[
                ("add-hosts", ""),
                ("shm-size", ""),
                ("ulimit", ""),
                ("hostname", "")
            ]),
            Ok(RunOptions::default())
        );
    }

    #[test]
    fn reads_buildkit_attribute_formats() {
        let options = read(&[
            (
                "add-hosts",
                "MyHost=10.1.2.3,\"v6=2001:DB8:0::1\",m=::ffff:1.2.3.4",
            ),
            ("shm-size", "134217728"),
            ("ulimit", "nofile=1024:2048,nproc=100"),
            ("hostname", "attr-host"),
        ])
        .expect("options");
        assert_eq!(
            options.extra_hosts,
            [
                ("myhost".to_string(), "10.1.2.3".to_string()),
                ("v6".to_string(), "2001:db8::1".to_string()),
                ("m".to_string(), "1.2.3.4".to_string()),
            ]
        );
        assert_eq!(options.shm_size, 128 << 20);
        assert_eq!(
            options
                .ulimits
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["nofile=1024:2048", "nproc=100:100"]
        );
        assert_eq!(options.hostname.as_deref(), Some("attr-host"));
    }

    #[test]
    fn sandbox_hostname_build_arg_wins_unless_empty() {
        let with_arg = read(&[
            ("hostname", "attr-host"),
            ("build-arg:BUILDKIT_SANDBOX_HOSTNAME", "arg-host"),
        ]);
        assert_eq!(
            with_arg.expect("options").hostname.as_deref(),
            Some("arg-host")
        );
        let empty_arg = read(&[
            ("hostname", "attr-host"),
            ("build-arg:BUILDKIT_SANDBOX_HOSTNAME", ""),
        ]);
        assert_eq!(
            empty_arg.expect("options").hostname.as_deref(),
            Some("attr-host")
        );
    }

    #[test]
    fn bad_values_name_the_attribute_as_buildkit_does() {
        let error = |k: &str, v: &str| read(&[(k, v)]).unwrap_err();
        assert_eq!(
            error("add-hosts", "nohost"),
            "invalid frontend option add-hosts: failed to parse additional hosts: invalid key-value pair nohost"
        );
        assert_eq!(
            error("add-hosts", "h=10.1.2"),
            "invalid frontend option add-hosts: failed to parse additional hosts: failed to parse IP 10.1.2"
        );
        assert_eq!(
            error("shm-size", "12xyz"),
            "invalid frontend option shm-size: failed to parse shm size: strconv.ParseInt: parsing \"12xyz\": invalid syntax"
        );
        assert_eq!(
            error("ulimit", "nofile=abc"),
            "invalid frontend option ulimit: failed to parse ulimit: strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            error("ulimit", "bogus=1"),
            "invalid frontend option ulimit: failed to parse ulimit: invalid ulimit type: bogus"
        );
    }
}
