//! NGINX `log_format` strings compiled into a matcher for text logs. The `combined` and
//! `common` formats (NGINX and Apache) are predefined templates. Matching walks the line
//! literal by literal with `memchr`, fills only the fields the run needs and stops after
//! the last needed variable.

use crate::fields::{Fields, Need, parse_bytes, parse_status, split_request, split_uri};
use crate::time::{parse_clf, parse_decimal, parse_epoch_secs, parse_iso8601};

/// NGINX's `combined` format (also Apache's `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`).
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// The Common Log Format (`%h %l %u %t "%r" %>s %b`).
pub const COMMON: &str =
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;

/// Why a `log_format` string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("log format has no variables")]
    NoVariables,
    #[error("variables ${0} and ${1} are adjacent with no literal text between them")]
    Adjacent(String, String),
}

/// A variable the analyzer understands; any other variable is matched and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    RemoteAddr,
    TimeLocal,
    TimeIso,
    Msec,
    Request,
    Method,
    RequestUri,
    Uri,
    Args,
    Status,
    BodyBytes,
    Referer,
    UserAgent,
    Host,
    RequestTime,
    Other,
}

impl Var {
    fn from_name(name: &str) -> Var {
        match name {
            "remote_addr" | "binary_remote_addr" | "realip_remote_addr" | "http_x_real_ip" => {
                Var::RemoteAddr
            }
            "time_local" => Var::TimeLocal,
            "time_iso8601" => Var::TimeIso,
            "msec" => Var::Msec,
            "request" => Var::Request,
            "request_method" => Var::Method,
            "request_uri" => Var::RequestUri,
            "uri" | "document_uri" => Var::Uri,
            "args" | "query_string" => Var::Args,
            "status" => Var::Status,
            "body_bytes_sent" | "bytes_sent" => Var::BodyBytes,
            "http_referer" => Var::Referer,
            "http_user_agent" => Var::UserAgent,
            "host" | "http_host" | "server_name" => Var::Host,
            "request_time" => Var::RequestTime,
            _ => Var::Other,
        }
    }

    fn need(self) -> Need {
        match self {
            Var::RemoteAddr => Need::IP,
            Var::TimeLocal | Var::TimeIso | Var::Msec => Need::TIME,
            Var::Request | Var::Method | Var::RequestUri | Var::Uri | Var::Args => Need::REQUEST,
            Var::Status => Need::STATUS,
            Var::BodyBytes => Need::BYTES,
            Var::Referer => Need::REFERER,
            Var::UserAgent => Need::UA,
            Var::Host => Need::HOST,
            Var::RequestTime => Need::DURATION,
            Var::Other => Need(0),
        }
    }
}

/// A compiled `log_format`: a leading literal, then (variable, following literal) pairs.
#[derive(Debug, Clone)]
pub struct Template {
    lead: Vec<u8>,
    segs: Vec<(Var, Vec<u8>)>,
}

impl Template {
    /// Compiles an NGINX `log_format` string (`$name` or `${name}` variables).
    pub fn compile(fmt: &str) -> Result<Template, TemplateError> {
        let mut lead = Vec::new();
        let mut segs: Vec<(Var, Vec<u8>, String)> = Vec::new();
        let mut rest = fmt;
        while let Some(pos) = rest.find('$') {
            let lit = &rest.as_bytes()[..pos];
            let after = &rest[pos + 1..];
            let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
                let end = inner.find('}').unwrap_or(inner.len());
                (&inner[..end], inner.get(end + 1..).unwrap_or(""))
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            if name.is_empty() {
                // A lone `$` is literal text.
                push_lit(&mut lead, &mut segs, &rest.as_bytes()[..pos + 1]);
                rest = after;
                continue;
            }
            push_lit(&mut lead, &mut segs, lit);
            if let Some((_, prev_lit, prev)) = segs.last() {
                if prev_lit.is_empty() {
                    return Err(TemplateError::Adjacent(prev.clone(), name.to_string()));
                }
            }
            segs.push((Var::from_name(name), Vec::new(), name.to_string()));
            rest = tail;
        }
        if segs.is_empty() {
            return Err(TemplateError::NoVariables);
        }
        push_lit(&mut lead, &mut segs, rest.as_bytes());
        Ok(Template {
            lead,
            segs: segs.into_iter().map(|(v, l, _)| (v, l)).collect(),
        })
    }

    /// The fields this template can provide.
    pub fn provides(&self) -> Need {
        self.segs.iter().fold(Need(0), |n, (v, _)| n | v.need())
    }

    /// Index of the last segment holding a needed field (parsing stops after it).
    pub fn last_needed(&self, need: Need) -> usize {
        self.segs
            .iter()
            .rposition(|(v, _)| need.has(v.need()))
            .unwrap_or(0)
    }

    /// Matches `line` up to segment `last`, converting only the `need`ed fields into `f`.
    /// Returns `None` when the line does not fit the template.
    pub fn parse<'a>(
        &self,
        line: &'a [u8],
        need: Need,
        last: usize,
        f: &mut Fields<'a>,
    ) -> Option<()> {
        let mut rest = line.strip_prefix(self.lead.as_slice())?;
        let n = self.segs.len();
        for (i, (var, lit)) in self.segs.iter().enumerate().take(last + 1) {
            let end = if i + 1 == n {
                // The last variable runs to the final literal at the end of the line.
                if !rest.ends_with(lit) {
                    return None;
                }
                rest.len() - lit.len()
            } else {
                find_lit(rest, lit)?
            };
            if need.has(var.need()) {
                assign(*var, &rest[..end], f)?;
            }
            rest = &rest[end + lit.len()..];
        }
        Some(())
    }
}

fn push_lit(lead: &mut Vec<u8>, segs: &mut [(Var, Vec<u8>, String)], lit: &[u8]) {
    match segs.last_mut() {
        Some((_, l, _)) => l.extend_from_slice(lit),
        None => lead.extend_from_slice(lit),
    }
}

/// Finds `lit` in `hay`: `memchr` on its first byte, then a compare.
#[inline]
fn find_lit(hay: &[u8], lit: &[u8]) -> Option<usize> {
    let (&first, tail) = lit.split_first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, &hay[from..]) {
        let at = from + i;
        if hay[at + 1..].starts_with(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[inline]
fn assign<'a>(var: Var, v: &'a [u8], f: &mut Fields<'a>) -> Option<()> {
    match var {
        Var::RemoteAddr => {
            if v.is_empty() {
                return None;
            }
            f.ip = v;
        }
        Var::TimeLocal => f.time_ms = Some(parse_clf(v)?),
        Var::TimeIso => f.time_ms = Some(parse_iso8601(v)?),
        Var::Msec => f.time_ms = Some(parse_epoch_secs(v)?),
        Var::Request => (f.method, f.path, f.query) = split_request(v),
        Var::Method => f.method = v,
        Var::RequestUri => (f.path, f.query) = split_uri(v),
        Var::Uri => f.path = v,
        Var::Args => f.query = if v == b"-" { b"" } else { v },
        Var::Status => f.status = parse_status(v)?,
        Var::BodyBytes => f.bytes = parse_bytes(v)?,
        Var::Referer => f.referer = v,
        Var::UserAgent => f.ua = v,
        Var::Host => f.host = v,
        Var::RequestTime => f.duration_ms = parse_decimal(v).map(|s| s * 1000.0),
        Var::Other => {}
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = br#"203.0.113.9 - bob [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 200 2326 "http://ex.com/" "Mozilla/4.08 \"x\"""#;

    #[test]
    fn combined_full() {
        let t = Template::compile(COMBINED).expect("compiles");
        let mut f = Fields::default();
        t.parse(LINE, Need::ALL, t.last_needed(Need::ALL), &mut f)
            .expect("parses");
        assert_eq!(f.ip, b"203.0.113.9");
        assert_eq!(f.time_ms, Some(971_211_336_000));
        assert_eq!(
            (f.method, f.path, f.query),
            (&b"GET"[..], &b"/a.gif"[..], &b"x=1"[..])
        );
        assert_eq!((f.status, f.bytes), (200, 2326));
        assert_eq!(f.referer, b"http://ex.com/");
        assert_eq!(f.ua, br#"Mozilla/4.08 \"x\""#);
    }

    #[test]
    fn early_stop_skips_the_rest() {
        let t = Template::compile(COMBINED).expect("compiles");
        let mut f = Fields::default();
        t.parse(
            b"1.2.3.4 - - [garbage",
            Need::IP,
            t.last_needed(Need::IP),
            &mut f,
        )
        .expect("ip only");
        assert_eq!(f.ip, b"1.2.3.4");
        assert!(
            t.parse(
                b"1.2.3.4 - - [garbage",
                Need::TIME,
                t.last_needed(Need::TIME),
                &mut f
            )
            .is_none()
        );
    }

    #[test]
    fn common_rejects_missing_fields_and_accepts_dash_bytes() {
        let t = Template::compile(COMMON).expect("compiles");
        let mut f = Fields::default();
        let ok = br#"::1 - - [10/Oct/2000:13:55:36 +0000] "HEAD / HTTP/1.1" 304 -"#;
        t.parse(ok, Need::ALL, t.last_needed(Need::ALL), &mut f)
            .expect("parses");
        assert_eq!((f.status, f.bytes), (304, 0));
        let bad = br#"::1 - - [10/Oct/2000:13:55:36 +0000] "HEAD / HTTP/1.1" 3x4 -"#;
        assert!(
            t.parse(bad, Need::ALL, t.last_needed(Need::ALL), &mut f)
                .is_none()
        );
    }

    #[test]
    fn custom_format_with_braces_and_request_time() {
        let t = Template::compile(
            "${remote_addr}|$host|$msec|$request_method $request_uri|$status|$request_time",
        )
        .expect("compiles");
        let mut f = Fields::default();
        t.parse(
            b"10.0.0.1|ex.com|1795815630.123|POST /login?next=/|401|0.250",
            Need::ALL,
            t.last_needed(Need::ALL),
            &mut f,
        )
        .expect("parses");
        assert_eq!(f.host, b"ex.com");
        assert_eq!(f.time_ms, Some(1_795_815_630_123));
        assert_eq!(
            (f.method, f.path, f.query),
            (&b"POST"[..], &b"/login"[..], &b"next=/"[..])
        );
        assert_eq!(f.duration_ms, Some(250.0));
        assert!(t.provides().has(Need::DURATION));
    }

    #[test]
    fn rejects_bad_formats() {
        assert_eq!(
            Template::compile("no vars").err(),
            Some(TemplateError::NoVariables)
        );
        assert!(matches!(
            Template::compile("$a$b"),
            Err(TemplateError::Adjacent(..))
        ));
    }
}
