//! Parsing of human units in the config: durations (`250ms`, `30s`, `5m`, `1h`)
//! and byte sizes (`512`, `64KiB`, `1MiB`, `1GiB`, also `KB`/`MB`/`GB` as powers of 10).

use std::time::Duration;

use crate::raw::{RawDuration, RawSize};

pub fn duration(raw: &RawDuration) -> Result<Duration, String> {
    let text = match raw {
        RawDuration::Seconds(s) => return Ok(Duration::from_secs(*s)),
        RawDuration::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid duration {text:?}: expected a number and a unit like \"30s\" or \"250ms\"")
    })?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {text:?}: use ms, s, m or h"
            ));
        }
    };
    Ok(d)
}

pub fn size(raw: &RawSize) -> Result<u64, String> {
    let text = match raw {
        RawSize::Bytes(b) => return Ok(*b),
        RawSize::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid size {text:?}: expected a number and a unit like \"64KiB\"")
    })?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {text:?}: use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let t = |s: &str| duration(&RawDuration::Text(s.into()));
        assert_eq!(t("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(t("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(t("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(t("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(
            duration(&RawDuration::Seconds(7)),
            Ok(Duration::from_secs(7))
        );
        assert!(t("5 days").is_err());
        assert!(t("s").is_err());
    }

    #[test]
    fn sizes() {
        let t = |s: &str| size(&RawSize::Text(s.into()));
        assert_eq!(t("64KiB"), Ok(65536));
        assert_eq!(t("1GiB"), Ok(1 << 30));
        assert_eq!(t("10MB"), Ok(10_000_000));
        assert_eq!(t("12"), Ok(12));
        assert!(t("1TiB").is_err());
        assert!(t("99999999999999999999GiB").is_err());
    }
}
