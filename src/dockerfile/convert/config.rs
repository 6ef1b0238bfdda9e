//! Image config bookkeeping: the empty image, environment updates, history
//! entries, and the Go formatting (`%q`, `%v`, `time.Duration`) BuildKit
//! uses in `created_by`, reproduced so histories read the same.

use crate::image::{Healthcheck, History, ImageConfig};
use crate::platform::Platform;

/// The `comment` of every history entry BuildKit's frontend writes.
pub(super) const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// `system.DefaultPathEnv` for Linux (and every OS but Windows).
pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// BuildKit's `emptyImage`: the config of `FROM scratch`.
pub(super) fn empty_image(p: &Platform) -> ImageConfig {
    let mut img = ImageConfig {
        architecture: p.architecture.clone(),
        os: p.os.clone(),
        os_version: p.os_version.clone().unwrap_or_default(),
        os_features: p.os_features.clone(),
        variant: p.variant.clone().unwrap_or_default(),
        ..Default::default()
    };
    img.config.working_dir = "/".to_string();
    if p.os != "windows" {
        img.config.env = vec![format!("PATH={DEFAULT_PATH}")];
    }
    img
}

/// Splits `KEY=value` (a missing `=` means an empty value).
pub(super) fn parse_key_value(kv: &str) -> (&str, &str) {
    kv.split_once('=').unwrap_or((kv, ""))
}

/// BuildKit's `addEnv`: replaces the variable in place or appends it.
pub(super) fn add_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    // `parse_key_value(e).0 == key` without scanning every entry for its
    // `=`: this runs for each ENV over the whole environment. A key with
    // a `=` never matches, as the key before an entry's first `=` has none.
    let same_key = |e: &str| {
        !key.contains('=')
            && e.strip_prefix(key)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
    };
    match env.iter_mut().find(|e| same_key(e)) {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// BuildKit's `commitToHistory`: steps that made a snapshot get the
/// ` # buildkit` suffix.
pub(super) fn commit(img: &mut ImageConfig, msg: String, with_layer: bool, snapshot: bool) {
    let created_by = if snapshot {
        format!("{msg} # buildkit")
    } else {
        msg
    };
    img.history.push(History {
        created: None,
        created_by,
        author: String::new(),
        comment: HISTORY_COMMENT.to_string(),
        empty_layer: !with_layer,
    });
}

/// Unix seconds as Go's `time.Time` marshals them to JSON in UTC
/// (`2023-11-14T22:13:20Z`), for `SOURCE_DATE_EPOCH`.
pub(super) fn rfc3339_seconds(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let day_secs = secs.rem_euclid(86_400);
    // Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a
    // proleptic Gregorian date, without a calendar dependency.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
}

/// Unix seconds as a [`std::time::SystemTime`] (before 1970 too).
pub(super) fn system_time(secs: i64) -> std::time::SystemTime {
    let offset = std::time::Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        std::time::UNIX_EPOCH + offset
    } else {
        std::time::UNIX_EPOCH - offset
    }
}

/// Go's `strconv.Quote`.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`.
pub(super) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `fmt.Sprintf("%v", []string{...})`: `[a b]`.
pub(super) fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `fmt.Sprintf("%q", &HealthConfig{...})`, which BuildKit writes
/// into the history: `&{["CMD" "true"] "30s" "5s" "0s" "0s" '\x03'}` — the
/// durations quoted through their `String()`, the retry count quoted as a
/// rune.
pub(super) fn go_quote_healthcheck(hc: &Healthcheck) -> String {
    format!(
        "&{{{} {} {} {} {} {}}}",
        go_quote_list(&hc.test),
        go_quote(&go_duration(hc.interval)),
        go_quote(&go_duration(hc.timeout)),
        go_quote(&go_duration(hc.start_period)),
        go_quote(&go_duration(hc.start_interval)),
        go_quote_rune(hc.retries)
    )
}

/// Go's `%q` of an integer: `strconv.QuoteRune`, with values that are no
/// Unicode scalar shown as U+FFFD as Go does.
pub(super) fn go_quote_rune(n: i64) -> String {
    let c = u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    let body = match c {
        '\'' => "\\'".to_string(),
        // Inside single quotes a double quote needs no escape.
        '"' => "\"".to_string(),
        c => {
            let quoted = go_quote(&c.to_string());
            quoted[1..quoted.len() - 1].to_string()
        }
    };
    format!("'{body}'")
}

/// Go's `time.Duration.String()` for a non-negative duration in ns.
pub(super) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let neg = nanos < 0;
    let n = nanos.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let secs_ns = n % 60_000_000_000;
    let mins_total = n / 60_000_000_000;
    let (hours, mins) = (mins_total / 60, mins_total % 60);
    let mut out = sign.to_string();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || mins > 0 {
        out.push_str(&format!("{mins}m"));
    }
    out.push_str(&format!("{}s", fraction(secs_ns, 1_000_000_000)));
    out
}

/// `n / unit` with Go's shortest fractional digits.
fn fraction(n: u64, unit: u64) -> String {
    let whole = n / unit;
    let rem = n % unit;
    if rem == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let frac = format!("{rem:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Docker's `nat.ParsePortSpecs` for `EXPOSE`: `80`, `80/udp`,
/// `8000-8002/tcp`, `ip:host:container/proto` (only the container port
/// counts); ranges expand to one port each.
pub(super) fn parse_ports(spec: &str) -> Result<Vec<String>, String> {
    let (raw, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let container = raw.rsplit(':').next().unwrap_or(raw);
    let invalid = || format!("invalid containerPort: {container}");
    let (start, end) = match container.split_once('-') {
        Some((a, b)) => (a, b),
        None => (container, container),
    };
    let start: u16 = start.parse().map_err(|_| invalid())?;
    let end: u16 = end.parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// moby's `signal.ParseSignal`: a number above zero, or a known signal
/// name with or without `SIG`.
pub(super) fn check_signal(raw: &str) -> Result<(), String> {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
        "RTMIN", "RTMAX", "UNUSED",
    ];
    let invalid = || format!("Invalid signal: {raw}");
    if let Ok(n) = raw.parse::<i64>() {
        return if n == 0 { Err(invalid()) } else { Ok(()) };
    }
    let upper = raw.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |prefix: &str, max: u32| {
        name.strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=max).contains(&n))
    };
    if NAMES.contains(&name) || rt("RTMIN+", 15) || rt("RTMAX-", 14) {
        Ok(())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into(), "echo \"hi\"\n".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\"\n"]"#
        );
        assert_eq!(go_list(&["/a".into(), "/b".into()]), "[/a /b]");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500), "1.5µs");
    }

    #[test]
    fn healthcheck_history_is_go_quoted() {
        // As the reference frontend wrote them (Docker 28.5).
        let hc = Healthcheck {
            test: vec![
                "CMD-SHELL".into(),
                "wget -q -O- http://localhost/ || exit 1".into(),
            ],
            interval: 30_000_000_000,
            timeout: 5_000_000_000,
            start_period: 10_000_000_000,
            start_interval: 2_000_000_000,
            retries: 4,
        };
        assert_eq!(
            go_quote_healthcheck(&hc),
            r#"&{["CMD-SHELL" "wget -q -O- http://localhost/ || exit 1"] "30s" "5s" "10s" "2s" '\x04'}"#
        );
        let none = Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(
            go_quote_healthcheck(&none),
            r#"&{["NONE"] "0s" "0s" "0s" "0s" '\x00'}"#
        );
        assert_eq!(go_quote_rune(10), r"'\n'");
        assert_eq!(go_quote_rune(65), "'A'");
        assert_eq!(go_quote_rune(39), r"'\''");
        assert_eq!(go_quote_rune(34), "'\"'");
        assert_eq!(go_quote_rune(127), r"'\x7f'");
        assert_eq!(go_quote_rune(-1), "'\u{fffd}'");
    }

    #[test]
    fn ports_and_signals() {
        assert_eq!(parse_ports("80").expect("ok"), ["80/tcp"]);
        assert_eq!(parse_ports("53/UDP").expect("ok"), ["53/udp"]);
        assert_eq!(
            parse_ports("8000-8002").expect("ok"),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(
            parse_ports("x/tcp").expect_err("bad"),
            "invalid containerPort: x"
        );
        assert_eq!(
            parse_ports("80/foo").expect_err("bad"),
            "invalid proto: foo"
        );
        assert!(check_signal("SIGTERM").is_ok());
        assert!(check_signal("kill").is_ok());
        assert!(check_signal("9").is_ok());
        assert!(check_signal("SIGRTMIN+3").is_ok());
        assert_eq!(
            check_signal("SIGFOO").expect_err("bad"),
            "Invalid signal: SIGFOO"
        );
        assert!(check_signal("0").is_err());
    }

    #[test]
    fn epoch_times() {
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_seconds(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_seconds(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn env_updates_in_place() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        add_env(&mut env, "PATH", "/usr/bin");
        add_env(&mut env, "B", "x=y");
        assert_eq!(env, ["PATH=/usr/bin", "A=1", "B=x=y"]);
        // Prefixes of other keys, entries without `=` and keys with one
        // match as `parse_key_value` splits them.
        let mut env = vec![
            "PATH2=a".to_string(),
            "BARE".to_string(),
            "K=v=w".to_string(),
        ];
        add_env(&mut env, "PATH", "p");
        add_env(&mut env, "BARE", "b");
        add_env(&mut env, "K=v", "x");
        assert_eq!(env, ["PATH2=a", "BARE=b", "K=v=w", "PATH=p", "K=v=x"]);
    }
}
