//! Compiling `[lists.NAME]` and `[[rules]]`: list entries (inline and from
//! files, every bad line reported with file and line), rule expressions
//! (type-checked, compiled once; diagnostics with a caret under the problem),
//! actions and their parameters, and cross-references (`skip` targets).

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode};
use outpost_rules::engine::{Action, BlockResponse, Phase, Rule, RuleSet, Template};
use outpost_rules::ip::{Cidr, IpList, Lists, parse_list};

use crate::compile::Ctx;
use crate::model::Security;
use crate::raw::{RawList, RawRule, RawSecurity};

/// Most named lists in one config. 1,000.
const MAX_LISTS: usize = 1_000;
/// Largest list file read. 64 MiB (about 4M entries).
const MAX_LIST_FILE_BYTES: u64 = 64 << 20;
/// Most bad lines of one list file reported (the rest are counted). 20.
const MAX_LINE_ERRORS: usize = 20;
/// Longest block body. 64 KiB.
const MAX_BODY_BYTES: usize = 64 << 10;

pub(super) fn lists(cx: &mut Ctx<'_>, value: Option<toml::Value>) -> Lists {
    let table = match value {
        None => return Lists::new(),
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            cx.err("lists", "expected a table of lists ([lists.NAME])");
            return Lists::new();
        }
    };
    if table.len() > MAX_LISTS {
        cx.err("lists", format!("at most {MAX_LISTS} lists are allowed"));
    }
    let mut out = Lists::new();
    for (name, v) in table.into_iter().take(MAX_LISTS) {
        let p = format!("lists.{name}");
        if !valid_list_name(&name) {
            cx.err(&p, format!("invalid list name {name:?}: use a letter or '_' then letters, digits or '_' (it is written $name in rules)"));
        }
        let Some(raw) = cx.de::<RawList>(&p, v) else {
            continue;
        };
        let mut cidrs = Vec::new();
        for (j, e) in raw.entries.iter().enumerate() {
            match e.trim().parse::<Cidr>() {
                Ok(c) => cidrs.push(c),
                Err(err) => cx.err(format!("{p}.entries[{j}]"), err.to_string()),
            }
        }
        if let Some(file) = &raw.file {
            read_list_file(cx, &format!("{p}.file"), file, &mut cidrs);
        }
        out.insert(name, Arc::new(IpList::new(cidrs)));
    }
    out
}

pub(super) fn security(cx: &mut Ctx<'_>, raw: &RawSecurity, lists: &Lists) -> Security {
    let mut deny_at_accept = Vec::new();
    for (i, name) in raw.deny_at_accept.iter().enumerate() {
        match lists.get(name.trim_start_matches('$')) {
            Some(l) => deny_at_accept.push(l.clone()),
            None => cx.err(
                format!("security.deny_at_accept[{i}]"),
                format!("no list named {name:?} (define it as [lists.{name}])"),
            ),
        }
    }
    Security { deny_at_accept }
}

fn valid_list_name(name: &str) -> bool {
    let mut b = name.bytes();
    name.len() <= 64
        && b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn read_list_file(cx: &mut Ctx<'_>, p: &str, file: &str, cidrs: &mut Vec<Cidr>) {
    let path = cx.resolve(file);
    let mut text = String::new();
    let read = std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_LIST_FILE_BYTES + 1).read_to_string(&mut text));
    if let Err(e) = read {
        cx.err(p, format!("cannot read list file {}: {e}", path.display()));
        return;
    }
    if text.len() as u64 > MAX_LIST_FILE_BYTES {
        cx.err(
            p,
            format!(
                "list file {} is larger than {} MiB",
                path.display(),
                MAX_LIST_FILE_BYTES >> 20
            ),
        );
        return;
    }
    let (good, bad) = parse_list(&text);
    cidrs.extend(good);
    for e in bad.iter().take(MAX_LINE_ERRORS) {
        cx.err(p, format!("{}:{}: {}", path.display(), e.line, e.message));
    }
    if bad.len() > MAX_LINE_ERRORS {
        cx.err(
            p,
            format!(
                "{}: {} more bad lines",
                path.display(),
                bad.len() - MAX_LINE_ERRORS
            ),
        );
    }
}

pub(super) fn rules(cx: &mut Ctx<'_>, raw: &[Option<RawRule>], lists: &Lists) -> Arc<RuleSet> {
    // First definition wins, so a duplicate id cannot make `skip` point at a
    // different rule than the one the reader sees first.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (k, (_, r)) in enabled(raw).enumerate() {
        ids.entry(r.id.as_str()).or_insert(k);
    }
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for (i, r) in enabled(raw) {
        let p = format!("rules[{i}]");
        crate::compile::check_name(cx, &format!("{p}.id"), &r.id);
        if seen.insert(r.id.as_str(), i).is_some() {
            cx.err(format!("{p}.id"), format!("duplicate rule id {:?}", r.id));
        }
        let phase = match r.phase.as_deref().unwrap_or("firewall").parse::<Phase>() {
            Ok(ph) => ph,
            Err(m) => {
                cx.err(format!("{p}.phase"), m);
                Phase::Firewall
            }
        };
        let filter = outpost_rules::lang::compile(&r.expression, lists).map_err(|diags| {
            for d in diags {
                cx.err(
                    format!("{p}.expression"),
                    format!("rule {:?}: {}", r.id, d.render(&r.expression)),
                );
            }
        });
        let action = action(cx, &p, r, phase, out.len(), &ids);
        if let (Ok(filter), Some(action)) = (filter, action) {
            out.push(Rule {
                id: Arc::from(r.id.as_str()),
                phase,
                filter,
                action,
            });
        }
    }
    Arc::new(RuleSet::new(out))
}

/// Rules with `enabled = false` are dropped here: they are checked for
/// nothing and cost nothing.
fn enabled(raw: &[Option<RawRule>]) -> impl Iterator<Item = (usize, &RawRule)> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
        .filter(|(_, r)| r.enabled != Some(false))
}

/// Which optional fields each action takes.
const PARAMS: &[(&str, &[&str])] = &[
    ("block", &["status", "body", "content_type"]),
    ("allow", &[]),
    ("log", &[]),
    ("skip", &["phases", "rules"]),
    ("set_request_header", &["header", "value"]),
    ("remove_request_header", &["header"]),
    ("set_response_header", &["header", "value"]),
    ("rewrite", &["path", "query"]),
    ("redirect", &["status", "target"]),
];

fn action(
    cx: &mut Ctx<'_>,
    p: &str,
    r: &RawRule,
    phase: Phase,
    index: usize,
    ids: &HashMap<&str, usize>,
) -> Option<Action> {
    let ap = format!("{p}.action");
    if r.action == "challenge" {
        cx.err(ap, "action \"challenge\" is reserved for the DDoS defences (under-attack mode) and not available yet; use \"block\"");
        return None;
    }
    let Some((_, allowed)) = PARAMS.iter().find(|(name, _)| *name == r.action) else {
        let names: Vec<_> = PARAMS.iter().map(|(n, _)| *n).collect();
        cx.err(
            ap,
            format!(
                "unknown action {:?}; expected one of: {}",
                r.action,
                names.join(", ")
            ),
        );
        return None;
    };
    for (field, present) in present_params(r) {
        if present && !allowed.contains(&field) {
            cx.err(
                format!("{p}.{field}"),
                format!("does not apply to action {:?}", r.action),
            );
        }
    }
    if r.action == "allow" && phase != Phase::Firewall {
        cx.err(ap, "\"allow\" ends the security phases and only applies in the firewall phase; use \"skip\"");
        return None;
    }
    let before = cx.errors.len();
    let action = build_action(cx, p, r, index, ids);
    (cx.errors.len() == before).then_some(action).flatten()
}

fn present_params(r: &RawRule) -> [(&'static str, bool); 10] {
    [
        ("status", r.status.is_some()),
        ("body", r.body.is_some()),
        ("content_type", r.content_type.is_some()),
        ("phases", r.phases.is_some()),
        ("rules", r.rules.is_some()),
        ("header", r.header.is_some()),
        ("value", r.value.is_some()),
        ("path", r.path.is_some()),
        ("query", r.query.is_some()),
        ("target", r.target.is_some()),
    ]
}

fn build_action(
    cx: &mut Ctx<'_>,
    p: &str,
    r: &RawRule,
    index: usize,
    ids: &HashMap<&str, usize>,
) -> Option<Action> {
    Some(match r.action.as_str() {
        "block" => Action::Block(block(cx, p, r)),
        "allow" => Action::Allow,
        "log" => Action::Log,
        "skip" => skip(cx, p, r, index, ids),
        "set_request_header" => Action::SetRequestHeader(header(cx, p, r)?, value(cx, p, r, true)?),
        "remove_request_header" => Action::RemoveRequestHeader(header(cx, p, r)?),
        "set_response_header" => {
            Action::SetResponseHeader(header(cx, p, r)?, value(cx, p, r, true)?)
        }
        "rewrite" => rewrite(cx, p, r)?,
        "redirect" => redirect(cx, p, r)?,
        _ => return None,
    })
}

fn block(cx: &mut Ctx<'_>, p: &str, r: &RawRule) -> BlockResponse {
    let mut b = BlockResponse::default();
    if let Some(s) = r.status {
        match StatusCode::from_u16(s) {
            Ok(s) if (400..=599).contains(&s.as_u16()) => b.status = s,
            _ => cx.err(
                format!("{p}.status"),
                format!("{s} is not a 4xx or 5xx status"),
            ),
        }
    }
    if let Some(body) = &r.body {
        if body.len() > MAX_BODY_BYTES {
            cx.err(
                format!("{p}.body"),
                format!("longer than {} KiB", MAX_BODY_BYTES >> 10),
            );
        }
        b.body = body.clone();
    }
    if let Some(ct) = &r.content_type {
        match HeaderValue::from_str(ct) {
            Ok(v) => b.content_type = v,
            Err(_) => cx.err(
                format!("{p}.content_type"),
                format!("invalid header value {ct:?}"),
            ),
        }
    }
    b
}

fn skip(
    cx: &mut Ctx<'_>,
    p: &str,
    r: &RawRule,
    index: usize,
    ids: &HashMap<&str, usize>,
) -> Action {
    let mut phases = Vec::new();
    for (j, name) in r.phases.iter().flatten().enumerate() {
        match name.parse::<Phase>() {
            Ok(ph) => phases.push(ph),
            Err(m) => cx.err(format!("{p}.phases[{j}]"), m),
        }
    }
    let mut rules = Vec::new();
    for (j, id) in r.rules.iter().flatten().enumerate() {
        match ids.get(id.as_str()) {
            Some(&k) if k > index => rules.push(k),
            Some(_) => cx.err(
                format!("{p}.rules[{j}]"),
                format!("rule {id:?} runs before this one; skip can only turn off later rules"),
            ),
            None => cx.err(
                format!("{p}.rules[{j}]"),
                format!("no enabled rule with id {id:?}"),
            ),
        }
    }
    if phases.is_empty() && rules.is_empty() {
        cx.err(
            format!("{p}.action"),
            "\"skip\" needs `phases` and/or `rules`",
        );
    }
    Action::Skip { phases, rules }
}

fn header(cx: &mut Ctx<'_>, p: &str, r: &RawRule) -> Option<HeaderName> {
    let Some(h) = &r.header else {
        cx.err(
            format!("{p}.header"),
            format!("action {:?} needs `header`", r.action),
        );
        return None;
    };
    match HeaderName::from_bytes(h.as_bytes()) {
        Ok(n) if !is_protected(&n) => Some(n),
        Ok(_) => {
            cx.err(
                format!("{p}.header"),
                format!("{h:?} is managed by the proxy and cannot be set or removed by rules"),
            );
            None
        }
        Err(_) => {
            cx.err(format!("{p}.header"), format!("invalid header name {h:?}"));
            None
        }
    }
}

/// Headers whose edits would break framing or the connection.
fn is_protected(n: &HeaderName) -> bool {
    use http::header::*;
    [
        CONNECTION,
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        HOST,
        TE,
        TRAILER,
        UPGRADE,
    ]
    .contains(n)
        || n.as_str() == "keep-alive"
        || n.as_str() == "proxy-connection"
}

fn template(cx: &mut Ctx<'_>, path: String, text: &str) -> Option<Template> {
    Template::parse(text).map_err(|m| cx.err(path, m)).ok()
}

fn value(cx: &mut Ctx<'_>, p: &str, r: &RawRule, required: bool) -> Option<Template> {
    let Some(v) = &r.value else {
        if required {
            cx.err(
                format!("{p}.value"),
                format!("action {:?} needs `value`", r.action),
            );
        }
        return None;
    };
    let t = template(cx, format!("{p}.value"), v)?;
    if let Some(lit) = t.as_literal()
        && HeaderValue::from_str(lit).is_err()
    {
        cx.err(
            format!("{p}.value"),
            format!("invalid header value {lit:?}"),
        );
        return None;
    }
    Some(t)
}

fn rewrite(cx: &mut Ctx<'_>, p: &str, r: &RawRule) -> Option<Action> {
    if r.path.is_none() && r.query.is_none() {
        cx.err(
            format!("{p}.action"),
            "\"rewrite\" needs `path` and/or `query`",
        );
        return None;
    }
    if let Some(path) = &r.path
        && !path.starts_with('/')
        && !path.starts_with("${path}")
        && !path.starts_with("${uri}")
    {
        cx.err(format!("{p}.path"), "must start with '/' (or ${path})");
    }
    // A template that fails records its error; `action` then drops the rule.
    let path = r
        .path
        .as_ref()
        .and_then(|t| template(cx, format!("{p}.path"), t));
    let query = r
        .query
        .as_ref()
        .and_then(|t| template(cx, format!("{p}.query"), t));
    Some(Action::Rewrite { path, query })
}

fn redirect(cx: &mut Ctx<'_>, p: &str, r: &RawRule) -> Option<Action> {
    let status = match r.status.unwrap_or(302) {
        s @ (301 | 302 | 303 | 307 | 308) => StatusCode::from_u16(s).ok(),
        s => {
            cx.err(
                format!("{p}.status"),
                format!("{s} is not a redirect status (301, 302, 303, 307 or 308)"),
            );
            None
        }
    };
    let target = match &r.target {
        Some(t) => template(cx, format!("{p}.target"), t),
        None => {
            cx.err(format!("{p}.target"), "\"redirect\" needs `target`");
            None
        }
    };
    Some(Action::Redirect {
        status: status?,
        target: target?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::load_str;

    const BASE: &str = "[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n";

    fn errors(extra: &str, base: &Path) -> Vec<String> {
        match load_str(&format!("{BASE}{extra}"), base) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn actions_and_their_parameters_are_checked_together() {
        let text = r#"
[[rules]]
id = "a"
expression = "true"
action = "challenge"
[[rules]]
id = "b"
expression = "true"
action = "log"
status = 403
[[rules]]
id = "c"
expression = "true"
action = "skip"
rules = ["a", "zz"]
[[rules]]
id = "d"
expression = "true"
action = "redirect"
status = 200
[[rules]]
id = "e"
phase = "transform"
expression = "true"
action = "allow"
[[rules]]
id = "f"
expression = "true"
action = "set_request_header"
header = "content-length"
value = "1"
[[rules]]
id = "g"
expression = "true"
action = "rewrite"
path = "x${nope}"
[[rules]]
id = "a"
phase = "ratelimit"
expression = "true"
action = "explode"
"#;
        let got = errors(text, Path::new("."));
        let want = [
            "rules[0].action: action \"challenge\" is reserved for the DDoS defences (under-attack mode) and not available yet; use \"block\"",
            "rules[1].status: does not apply to action \"log\"",
            "rules[2].rules[0]: rule \"a\" runs before this one; skip can only turn off later rules",
            "rules[2].rules[1]: no enabled rule with id \"zz\"",
            "rules[3].status: 200 is not a redirect status (301, 302, 303, 307 or 308)",
            "rules[4].action: \"allow\" ends the security phases and only applies in the firewall phase; use \"skip\"",
            "rules[5].header: \"content-length\" is managed by the proxy and cannot be set or removed by rules",
            "rules[6].path: must start with '/' (or ${path})",
            "rules[6].path: unknown placeholder `${nope}`; expected one of ${path}, ${query}, ${uri}, ${host}, ${scheme}, ${method}, ${client_ip}",
            "rules[3].target: \"redirect\" needs `target`",
        ];
        for w in want {
            assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
        }
        assert!(
            got.iter()
                .any(|g| g.starts_with("rules[7].id: duplicate rule id \"a\""))
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("rules[7].phase: unknown phase \"ratelimit\""))
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("rules[7].action: unknown action \"explode\""))
        );
    }

    #[test]
    fn list_files_report_bad_lines_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("deny.txt"),
            "# office\n10.0.0.0/8\n\nnot-an-ip\n1.2.3.4/24 # host bits\n",
        )
        .unwrap();
        let text = "[lists.deny]\nfile = \"deny.txt\"\nentries = [\"192.0.2.1\", \"300.1.1.1\"]\n[lists.\"bad name\"]\n[lists.missing]\nfile = \"nope.txt\"\n";
        let got = errors(text, dir.path());
        let file = dir.path().join("deny.txt");
        assert!(
            got.contains(
                &"lists.deny.entries[1]: not an IP address or CIDR block: \"300.1.1.1\""
                    .to_string()
            ),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with(&format!("lists.deny.file: {}:4: ", file.display()))),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with(&format!("lists.deny.file: {}:5: ", file.display()))),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("lists.bad name: invalid list name")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("lists.missing.file: cannot read list file")),
            "{got:#?}"
        );
    }

    #[test]
    fn good_rules_and_lists_compile_and_disabled_rules_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("deny.txt"), "10.0.0.0/8\n2001:db8::/32\n").unwrap();
        let text = r#"
[lists.deny]
file = "deny.txt"
entries = ["192.0.2.1"]
[[rules]]
id = "off"
enabled = false
expression = "true"
action = "block"
[[rules]]
id = "deny"
expression = "ip.src in $deny"
action = "block"
status = 451
body = "no"
[[rules]]
id = "to-https"
phase = "transform"
expression = "not ssl"
action = "redirect"
status = 308
target = "https://${host}${uri}"
"#;
        let c = load_str(&format!("{BASE}{text}"), dir.path()).unwrap();
        assert_eq!(c.lists["deny"].len(), 3);
        assert_eq!(c.rules.len(), 2);
        assert_eq!(&**c.rules.id(0), "deny");
        assert_eq!(c.rules.action(1).name(), "redirect");
    }
}
