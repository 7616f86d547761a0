//! Filters shared by every report: time window, status, client CIDR, path prefix, method.
//! Built once from command-line text (`Filter::build`), then checked per line without
//! allocation.

use std::net::IpAddr;

use crate::fields::{Fields, Need};
use crate::time::parse_time_arg;

/// A filter argument that could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("--since/--until: `{0}` is neither a duration (30m, 1h, 2d) nor an RFC 3339 time")]
    Time(String),
    #[error("--status: `{0}` is not a status (404) or class (5xx)")]
    Status(String),
    #[error("--ip: `{0}` is not an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)")]
    Cidr(String),
}

/// Raw filter arguments as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct FilterArgs {
    pub since: Option<String>,
    pub until: Option<String>,
    /// Comma-separated statuses or classes: `404,5xx`.
    pub status: Option<String>,
    pub ip: Vec<String>,
    pub path_prefix: Option<String>,
    /// Comma-separated methods, case-insensitive.
    pub method: Option<String>,
}

/// An IP prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: u128,
    mask: u128,
    v4: bool,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len.parse::<u32>().ok()?)),
            None => (s, None),
        };
        let (addr, v4, max) = match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (u128::from(u32::from(a)), true, 32),
            IpAddr::V6(a) => (u128::from(a), false, 128),
        };
        let len = len.unwrap_or(max);
        if len > max {
            return None;
        }
        let mask = if len == 0 {
            0
        } else {
            (u128::MAX << (max - len)) & (u128::MAX >> (128 - max))
        };
        Some(Cidr {
            addr: addr & mask,
            mask,
            v4,
        })
    }

    /// Whether the textual address `ip` is inside this prefix (false when unparsable).
    pub fn contains(&self, ip: &[u8]) -> bool {
        let Some(parsed) = std::str::from_utf8(ip)
            .ok()
            .and_then(|s| s.parse::<IpAddr>().ok())
        else {
            return false;
        };
        match (parsed, self.v4) {
            (IpAddr::V4(a), true) => u128::from(u32::from(a)) & self.mask == self.addr,
            (IpAddr::V6(a), false) => u128::from(a) & self.mask == self.addr,
            (IpAddr::V6(a), true) => a
                .to_ipv4_mapped()
                .is_some_and(|a| u128::from(u32::from(a)) & self.mask == self.addr),
            (IpAddr::V4(_), false) => false,
        }
    }
}

/// A status or a class of statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusMatch {
    Exact(u16),
    Class(u16),
}

/// The compiled filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    status: Vec<StatusMatch>,
    ip: Vec<Cidr>,
    path_prefix: Option<Vec<u8>>,
    method: Vec<Vec<u8>>,
}

impl Filter {
    /// Validates raw arguments; relative times count back from `now_ms`.
    pub fn build(args: &FilterArgs, now_ms: i64) -> Result<Filter, FilterError> {
        let time = |s: &Option<String>| -> Result<Option<i64>, FilterError> {
            s.as_deref()
                .map(|t| parse_time_arg(t, now_ms).ok_or_else(|| FilterError::Time(t.to_string())))
                .transpose()
        };
        let mut status = Vec::new();
        for item in args.status.iter().flat_map(|s| s.split(',')).map(str::trim) {
            status.push(
                parse_status_match(item).ok_or_else(|| FilterError::Status(item.to_string()))?,
            );
        }
        let ip = args
            .ip
            .iter()
            .map(|s| Cidr::parse(s.trim()).ok_or_else(|| FilterError::Cidr(s.clone())))
            .collect::<Result<_, _>>()?;
        let method = args
            .method
            .iter()
            .flat_map(|s| s.split(','))
            .map(|m| m.trim().to_ascii_uppercase().into_bytes())
            .collect();
        Ok(Filter {
            since: time(&args.since)?,
            until: time(&args.until)?,
            status,
            ip,
            path_prefix: args.path_prefix.clone().map(String::into_bytes),
            method,
        })
    }

    /// The fields the filter reads.
    pub fn need(&self) -> Need {
        let mut n = Need(0);
        if self.since.is_some() || self.until.is_some() {
            n |= Need::TIME;
        }
        if !self.status.is_empty() {
            n |= Need::STATUS;
        }
        if !self.ip.is_empty() {
            n |= Need::IP;
        }
        if self.path_prefix.is_some() || !self.method.is_empty() {
            n |= Need::REQUEST;
        }
        n
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.need() == Need(0)
    }

    #[inline]
    pub fn matches(&self, f: &Fields<'_>) -> bool {
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = f.time_ms else { return false };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        if !self.status.is_empty() && !self.status.iter().any(|m| status_matches(*m, f.status)) {
            return false;
        }
        if !self.ip.is_empty() && !self.ip.iter().any(|c| c.contains(f.ip)) {
            return false;
        }
        if self
            .path_prefix
            .as_ref()
            .is_some_and(|p| !f.path.starts_with(p))
        {
            return false;
        }
        self.method.is_empty() || self.method.iter().any(|m| m.eq_ignore_ascii_case(f.method))
    }
}

fn parse_status_match(s: &str) -> Option<StatusMatch> {
    let b = s.as_bytes();
    match b {
        [c @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
            Some(StatusMatch::Class(u16::from(c - b'0')))
        }
        _ => crate::fields::parse_status(b).map(StatusMatch::Exact),
    }
}

fn status_matches(m: StatusMatch, status: u16) -> bool {
    match m {
        StatusMatch::Exact(s) => s == status,
        StatusMatch::Class(c) => status / 100 == c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.1.0.0/16").expect("valid");
        assert!(c.contains(b"10.1.200.3"));
        assert!(!c.contains(b"10.2.0.1"));
        assert!(c.contains(b"::ffff:10.1.0.9"));
        assert!(!c.contains(b"garbage"));
        let v6 = Cidr::parse("2001:db8::/32").expect("valid");
        assert!(v6.contains(b"2001:db8:1::5"));
        assert!(!v6.contains(b"10.1.0.1"));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("valid")
                .contains(b"8.8.8.8")
        );
    }

    #[test]
    fn builds_and_matches() {
        let args = FilterArgs {
            since: Some("1h".into()),
            status: Some("5xx,404".into()),
            method: Some("get".into()),
            path_prefix: Some("/api".into()),
            ..Default::default()
        };
        let f = Filter::build(&args, 7_200_000).expect("valid");
        let mut line = Fields {
            time_ms: Some(3_600_000),
            status: 503,
            method: b"GET",
            path: b"/api/x",
            ..Default::default()
        };
        assert!(f.matches(&line));
        line.status = 404;
        assert!(f.matches(&line));
        line.status = 403;
        assert!(!f.matches(&line));
        line.status = 500;
        line.time_ms = Some(3_599_999);
        assert!(!f.matches(&line));
        assert_eq!(
            Filter::build(
                &FilterArgs {
                    status: Some("6xx".into()),
                    ..Default::default()
                },
                0
            )
            .err(),
            Some(FilterError::Status("6xx".into()))
        );
    }
}
