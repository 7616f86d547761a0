//! The fields and functions the language knows, with their types, and
//! "did you mean" suggestions for misspellings.

use super::runtime::{self, Getter};

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Str,
    Ip,
}

impl Ty {
    /// "a string", for messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Ty::Bool => "a boolean",
            Ty::Int => "an integer",
            Ty::Str => "a string",
            Ty::Ip => "an IP address",
        }
    }
}

/// How a field is read.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    Str(Getter),
    /// `http.cookie`.
    CookieHeader,
    Ssl,
    IpSrc,
    /// Multi-valued, `["name"]` required.
    Header,
    Arg,
    Cookie,
}

pub(crate) struct FieldDef {
    pub name: &'static str,
    /// Also decides the type: `Ssl` is a boolean, `IpSrc` an IP address,
    /// everything else a string.
    pub access: Access,
}

impl FieldDef {
    /// Whether the field needs `["name"]` and may have several values.
    pub(crate) fn keyed(&self) -> bool {
        matches!(self.access, Access::Header | Access::Arg | Access::Cookie)
    }
}

const fn f(name: &'static str, access: Access) -> FieldDef {
    FieldDef { name, access }
}

/// Every field, as documented in `docs/rules-language.md`.
pub(crate) const FIELDS: &[FieldDef] = &[
    f("ip.src", Access::IpSrc),
    f("http.host", Access::Str(runtime::host)),
    f("http.request.method", Access::Str(runtime::method)),
    f("http.request.uri", Access::Str(runtime::uri)),
    f("http.request.uri.path", Access::Str(runtime::path)),
    f("http.request.uri.query", Access::Str(runtime::query)),
    f("http.request.uri.args", Access::Arg),
    f("http.request.headers", Access::Header),
    f("http.cookie", Access::CookieHeader),
    f("http.request.cookies", Access::Cookie),
    f("http.user_agent", Access::Str(runtime::user_agent)),
    f("http.referer", Access::Str(runtime::referer)),
    f("http.request.version", Access::Str(runtime::version)),
    f("ssl", Access::Ssl),
    f("tls.version", Access::Str(runtime::tls_version)),
    f("tls.sni", Access::Str(runtime::tls_sni)),
];

/// Field names the index understands.
pub(crate) const HOST: &str = "http.host";
pub(crate) const PATH: &str = "http.request.uri.path";

pub(crate) fn field(name: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.name == name)
}

/// Functions and how many arguments each takes.
pub(crate) const FUNCTIONS: &[(&str, usize)] = &[
    ("lower", 1),
    ("upper", 1),
    ("url_decode", 1),
    ("len", 1),
    ("starts_with", 2),
    ("ends_with", 2),
    ("any", 1),
    ("all", 1),
];

/// `; did you mean "x"?` when a known name is close to `name`, else "".
pub(crate) fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let best = known
        .into_iter()
        .map(|k| (distance(name, k), k))
        .min_by_key(|&(d, _)| d);
    match best {
        Some((d, k)) if d <= (name.len() / 3).max(2) => format!("; did you mean \"{k}\"?"),
        _ => String::new(),
    }
}

/// Levenshtein distance over bytes (names are ASCII; others only ever
/// look less similar).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let names = FIELDS.iter().map(|f| f.name);
        assert_eq!(
            suggest("http.hots", names.clone()),
            "; did you mean \"http.host\"?"
        );
        assert_eq!(
            suggest("ip.source", names.clone()),
            "; did you mean \"ip.src\"?"
        );
        assert_eq!(suggest("zzzzzzzz", names), "");
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
