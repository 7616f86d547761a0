//! Templates for values rules produce (redirect targets, rewritten paths,
//! header values): literal text with `${name}` placeholders filled from the
//! original request. Parsed once at config load; rendering only copies.

use std::fmt::Write as _;

use crate::Request;

/// Most bytes a template may have as written. 4 KiB.
pub const MAX_TEMPLATE_BYTES: usize = 4096;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// The placeholders a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    /// The path as received, e.g. `/a/b`.
    Path,
    /// `?` and the query when the request has one, else nothing.
    Query,
    /// Path and query as received.
    Uri,
    /// The request host, lowercase, without port.
    Host,
    /// `http` or `https`.
    Scheme,
    Method,
    ClientIp,
}

const VARS: &[(&str, Var)] = &[
    ("path", Var::Path),
    ("query", Var::Query),
    ("uri", Var::Uri),
    ("host", Var::Host),
    ("scheme", Var::Scheme),
    ("method", Var::Method),
    ("client_ip", Var::ClientIp),
];

impl Template {
    /// Parses `text`; `$$` is a literal `$`.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(format!("longer than {MAX_TEMPLATE_BYTES} bytes"));
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix('$') {
                lit.push('$');
                rest = r;
                continue;
            }
            let Some(body) = rest.strip_prefix('{') else {
                return Err("a `$` must start `${name}` (write `$$` for a literal `$`)".into());
            };
            let end = body.find('}').ok_or("unclosed `${`")?;
            let name = &body[..end];
            let var = VARS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let names: Vec<_> = VARS.iter().map(|(n, _)| format!("${{{n}}}")).collect();
                    format!(
                        "unknown placeholder `${{{name}}}`; expected one of {}",
                        names.join(", ")
                    )
                })?;
            if !lit.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(var));
            rest = &body[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template { parts })
    }

    /// The literal text, when the template has no placeholder.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Fills the placeholders from `req`.
    pub fn render(&self, req: &Request<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => push_var(&mut out, *v, req),
            }
        }
        out
    }
}

fn push_var(out: &mut String, var: Var, req: &Request<'_>) {
    match var {
        Var::Path => out.push_str(req.path),
        Var::Query => {
            if let Some(q) = req.query {
                out.push('?');
                out.push_str(q);
            }
        }
        Var::Uri => out.push_str(req.uri),
        Var::Host => out.push_str(req.host),
        Var::Scheme => out.push_str(if req.tls.is_some() { "https" } else { "http" }),
        Var::Method => out.push_str(req.method),
        Var::ClientIp => {
            let _ = write!(out, "{}", req.client_ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedRequest;

    #[test]
    fn renders_placeholders_from_the_request() {
        let r = OwnedRequest::parse("GET https://Old.example/a/b?x=1", [10, 0, 0, 1].into(), &[])
            .unwrap();
        let t = Template::parse(
            "${scheme}://new.example${path}${query} $$ ${method} ${client_ip} ${host}",
        )
        .unwrap();
        assert_eq!(
            t.render(&r.view()),
            "https://new.example/a/b?x=1 $ GET 10.0.0.1 old.example"
        );
        let r = OwnedRequest::parse("http://h/p", [10, 0, 0, 1].into(), &[]).unwrap();
        assert_eq!(
            Template::parse("${uri}${query}").unwrap().render(&r.view()),
            "/p"
        );
        assert_eq!(Template::parse("x").unwrap().as_literal(), Some("x"));
        assert!(
            Template::parse("${nope}")
                .unwrap_err()
                .contains("unknown placeholder `${nope}`")
        );
        assert!(Template::parse("a$b").is_err());
        assert!(Template::parse("${path").is_err());
    }
}
