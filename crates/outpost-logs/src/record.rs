//! The access-log record: one JSON object per line, written by the proxy and read
//! back by `outpost logs`. This module owns the schema (documented in
//! `docs/access-log.md`); field names here are a public contract.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One request, as the access log records it. Optional fields are `null` when
/// they do not apply (no TLS, no upstream, no cache).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Time the request head was received, RFC 3339 UTC with milliseconds.
    pub ts: String,
    /// Name of the listener that accepted the connection.
    pub listener: String,
    pub client_ip: String,
    pub client_port: u16,
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Host from the `Host` header or `:authority`, without the port.
    pub host: String,
    pub path: String,
    /// Query string without the leading `?`; `null` when absent.
    pub query: Option<String>,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub http_version: String,
    /// `TLSv1.2` or `TLSv1.3`; `null` on cleartext.
    pub tls_version: Option<String>,
    pub status: u16,
    /// Request body bytes read from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// From request head received to the last response byte handed to the socket, in milliseconds.
    pub duration_ms: f64,
    /// The backend address (`IP:PORT`) of the last try; `null` for built-in origins and local answers.
    pub upstream_addr: Option<String>,
    /// Time from sending the last try to the origin until its response head arrived, in milliseconds.
    pub upstream_ms: Option<f64>,
    /// Tries made on backends (1 + retries); absent for built-in origins and local answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tries: Option<u32>,
    /// Name of the matched route; `null` when no route matched.
    pub route: Option<String>,
    pub request_id: String,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    /// Cache outcome (`hit`, `miss`, `stale`, ...); `null` until the route caches.
    pub cache_status: Option<String>,
    /// Ids of the rules that matched, in evaluation order (the last one
    /// decided when a rule answered: `block`, `redirect`); absent when none did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Why Outpost answered an error itself (`upstream_connect`, `upstream_timeout`, ...); `null` otherwise.
    pub error: Option<String>,
}

impl AccessRecord {
    /// The record as one JSON line, newline included.
    pub fn to_json_line(&self, out: &mut Vec<u8>) {
        // Serializing plain strings and numbers into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }
}

/// Formats `t` as RFC 3339 UTC with milliseconds, e.g. `2026-11-27T21:40:30.123Z`.
pub fn format_rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let millis = d.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            format_rfc3339_millis(UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
        let t = UNIX_EPOCH + Duration::from_millis(1_795_815_630_123);
        assert_eq!(format_rfc3339_millis(t), "2026-11-27T21:40:30.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_rfc3339_millis(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn json_line_round_trips() {
        let r = AccessRecord {
            status: 200,
            method: "GET".into(),
            ..Default::default()
        };
        let mut out = Vec::new();
        r.to_json_line(&mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let back: AccessRecord = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, r);
    }
}
