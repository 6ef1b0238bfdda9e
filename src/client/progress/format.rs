//! Sizes, durations and times written the way BuildKit's own displays write
//! them, so crossbuild's output reads like the buildx output users know.

use super::state::Time;

/// Formats a byte count like Go's `units.Bytes` with `%.2f`: decimal units,
/// plain bytes below 1000 (`512B`, `1.20kB`, `12.35MB`).
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let magnitude = n.unsigned_abs();
    if magnitude < 1000 {
        return format!("{n}B");
    }
    let mut unit = 0;
    let mut base: u64 = 1;
    while unit + 1 < UNITS.len() && magnitude >= base.saturating_mul(1000) {
        base = base.saturating_mul(1000);
        unit += 1;
    }
    format!("{:.2}{}", n as f64 / base as f64, UNITS[unit])
}

/// Formats the seconds shown in front of a log line: more digits for short
/// times, as buildx does, so early lines stay distinguishable.
pub fn log_elapsed(secs: f64) -> String {
    let precision = if secs < 10.0 {
        3
    } else if secs < 100.0 {
        2
    } else {
        1
    };
    format!("{secs:.precision$}")
}

/// Formats a time as RFC 3339 in UTC with trailing zeros of the fraction
/// removed, which is how Go's `time.Time` marshals to JSON.
pub fn rfc3339(t: Time) -> String {
    let secs = t.0.div_euclid(1_000_000_000);
    let nanos = t.0.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let day_secs = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date
/// (Howard Hinnant's `civil_from_days`), to avoid a calendar dependency.
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// Cuts `s` to at most `width` characters. Counts chars, not display
/// columns: wide glyphs may still overflow, which only costs a wrapped line.
pub fn truncate(s: &str, width: usize) -> &str {
    match s.char_indices().nth(width) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_decimal_units() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(999), "999B");
        assert_eq!(bytes(1000), "1.00kB");
        assert_eq!(bytes(1_200_000), "1.20MB");
        assert_eq!(bytes(50_000_000), "50.00MB");
        assert_eq!(bytes(3_500_000_000), "3.50GB");
    }

    #[test]
    fn log_elapsed_precision_shrinks_with_time() {
        assert_eq!(log_elapsed(0.5123), "0.512");
        assert_eq!(log_elapsed(12.345), "12.35");
        assert_eq!(log_elapsed(123.45), "123.5");
    }

    #[test]
    fn rfc3339_matches_go() {
        assert_eq!(rfc3339(Time(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Time(1_700_000_000 * 1_000_000_000 + 120_000_000)),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(
            rfc3339(Time(951_782_400 * 1_000_000_000 + 1)),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(rfc3339(Time(-1_000_000_000)), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn truncate_counts_chars() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
