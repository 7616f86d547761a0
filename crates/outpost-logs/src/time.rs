//! Timestamps in access logs and on the command line: the CLF `[10/Oct/2000:13:55:36 -0700]`
//! form, RFC 3339 / ISO 8601, `$msec` epoch seconds, relative durations like `1h`, and the
//! UTC rendering used in reports. All instants are Unix milliseconds (`i64`).

use crate::record::civil_from_days;

/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60_000;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn month_from_abbr(b: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.as_slice() == b)
        .map(|i| i as u32 + 1)
}

fn checked_ms(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(((days * 86_400) + i64::from(h * 3600 + mi * 60 + s)) * 1000)
}

/// Parses a `[+-]hhmm` or `[+-]hh:mm` offset into seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<i64> {
    let (sign, rest) = match b.first()? {
        b'+' => (1, &b[1..]),
        b'-' => (-1, &b[1..]),
        _ => return None,
    };
    let (hh, mm) = match rest.len() {
        4 => (&rest[..2], &rest[2..]),
        5 if rest[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return None,
    };
    Some(sign * i64::from(digits(hh)? * 3600 + digits(mm)? * 60))
}

/// Parses the CLF time `10/Oct/2000:13:55:36 -0700` (brackets already removed).
pub fn parse_clf(b: &[u8]) -> Option<i64> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let ms = checked_ms(
        digits(&b[7..11])?,
        month_from_abbr(&b[3..6])?,
        digits(&b[0..2])?,
        digits(&b[12..14])?,
        digits(&b[15..17])?,
        digits(&b[18..20])?,
    )?;
    Some(ms - parse_offset(&b[21..])? * 1000)
}

/// Parses RFC 3339 / ISO 8601: `2026-11-27T21:40:30.123Z`, `2026-11-27T21:40:30+01:00`,
/// `2026-11-27 21:40` (space separator, seconds optional, UTC when no offset),
/// or a bare date `2026-11-27` (midnight UTC).
pub fn parse_iso8601(b: &[u8]) -> Option<i64> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if b.len() == 10 {
        return checked_ms(y, mo, d, 0, 0, 0);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (h, mi) = (digits(&b[11..13])?, digits(&b[14..16])?);
    let mut rest = &b[16..];
    let mut s = 0;
    if rest.first() == Some(&b':') && rest.len() >= 3 {
        s = digits(&rest[1..3])?;
        rest = &rest[3..];
    }
    let mut frac_ms = 0i64;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let f = &rest[1..1 + n];
        for (i, &c) in f.iter().take(3).enumerate() {
            frac_ms += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &rest[1 + n..];
    }
    let offset = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        _ => parse_offset(rest)?,
    };
    Some(checked_ms(y, mo, d, h, mi, s)? + frac_ms - offset * 1000)
}

/// Parses nginx `$msec`: seconds since the epoch with a millisecond fraction.
pub fn parse_epoch_secs(b: &[u8]) -> Option<i64> {
    let secs = parse_decimal(b)?;
    Some((secs * 1000.0).round() as i64)
}

/// Parses a plain non-negative decimal like `0.004` or `12` without allocating.
pub fn parse_decimal(b: &[u8]) -> Option<f64> {
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[..0]),
    };
    if int.is_empty() && frac.is_empty() || int.len() > 15 || frac.len() > 9 {
        return None;
    }
    let i = if int.is_empty() { 0 } else { digits_u64(int)? };
    let f = if frac.is_empty() {
        0
    } else {
        digits_u64(frac)?
    };
    Some(i as f64 + f as f64 / 10f64.powi(frac.len() as i32))
}

fn digits_u64(b: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Parses a duration like `90s`, `15m`, `1h`, `2d`, `1w` into milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1000,
        "m" | "min" => MINUTE_MS,
        "h" => 60 * MINUTE_MS,
        "d" => 24 * 60 * MINUTE_MS,
        "w" => 7 * 24 * 60 * MINUTE_MS,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|&v| v > 0)
}

/// Parses a `--since`/`--until` value: a duration (`1h` = one hour before `now_ms`) or an
/// absolute RFC 3339 time or date.
pub fn parse_time_arg(s: &str, now_ms: i64) -> Option<i64> {
    match parse_duration(s) {
        Some(d) => Some(now_ms - d),
        None => parse_iso8601(s.trim().as_bytes()),
    }
}

/// Renders an instant as `2026-11-27 21:40:30` UTC (seconds precision).
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Renders a duration in milliseconds as `1m`, `5m`, `1h`, `1d`, or seconds.
pub fn format_duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (604_800_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
    ];
    for (unit, name) in UNITS {
        if ms % unit == 0 && ms >= unit {
            return format!("{}{name}", ms / unit);
        }
    }
    format!("{}s", ms / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_with_offset() {
        // 2000-10-10T20:55:36Z
        assert_eq!(
            parse_clf(b"10/Oct/2000:13:55:36 -0700"),
            Some(971_211_336_000)
        );
        assert_eq!(parse_clf(b"10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf(b"10/Oct/2000:13:55:36"), None);
    }

    #[test]
    fn iso_variants() {
        let z = parse_iso8601(b"2026-11-27T21:40:30.123Z");
        assert_eq!(z, Some(1_795_815_630_123));
        assert_eq!(parse_iso8601(b"2026-11-27T22:40:30.123+01:00"), z);
        assert_eq!(parse_iso8601(b"2026-11-27 21:40"), Some(1_795_815_600_000));
        assert_eq!(parse_iso8601(b"2026-11-27"), Some(1_795_737_600_000));
        assert_eq!(parse_iso8601(b"2026-13-27"), None);
        assert_eq!(parse_iso8601(b"2026-11-27Tjunk"), None);
    }

    #[test]
    fn durations_and_args() {
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("15m"), Some(900_000));
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_time_arg("1h", 10_000_000), Some(6_400_000));
        assert_eq!(format_duration(3_600_000), "1h");
        assert_eq!(format_duration(300_000), "5m");
        assert_eq!(format_utc(1_795_815_630_123), "2026-11-27 21:40:30");
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0.250"), Some(0.25));
        assert_eq!(parse_decimal(b"12"), Some(12.0));
        assert_eq!(parse_decimal(b"-"), None);
        assert_eq!(parse_epoch_secs(b"1795815630.123"), Some(1_795_815_630_123));
    }
}
