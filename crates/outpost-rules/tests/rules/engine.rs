//! Tests of `outpost_rules::engine`: rule order within phases, every action,
//! and how `allow`, `skip` and terminating actions change what runs next.

use std::sync::Arc;

use http::{HeaderName, StatusCode};
use outpost_rules::OwnedRequest;
use outpost_rules::engine::{
    Action, BlockResponse, HeaderEdit, Phase, Rule, RuleSet, Template, Terminal,
};
use outpost_rules::ip::Lists;
use outpost_rules::lang::compile;

fn rule(id: &str, phase: Phase, expr: &str, action: Action) -> Rule {
    Rule {
        id: Arc::from(id),
        phase,
        filter: compile(expr, &Lists::new()).unwrap_or_else(|e| panic!("{expr}: {e:?}")),
        action,
    }
}

fn req(line: &str, headers: &[&str]) -> OwnedRequest {
    let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    OwnedRequest::parse(line, [203, 0, 113, 9].into(), &headers).unwrap()
}

fn ids(set: &RuleSet, line: &str, headers: &[&str]) -> Vec<String> {
    let r = req(line, headers);
    set.evaluate(&r.view())
        .hits
        .iter()
        .map(|h| set.id(h.rule).to_string())
        .collect()
}

fn t(s: &str) -> Template {
    Template::parse(s).unwrap()
}

#[test]
fn an_empty_rule_set_decides_nothing() {
    let set = RuleSet::new(Vec::new());
    let r = req("GET http://a/", &[]);
    let v = set.evaluate(&r.view());
    assert!(v.is_empty() && v.terminal.is_none() && v.path.is_none());
}

#[test]
fn rules_run_in_order_firewall_before_transform_and_block_ends_everything() {
    let set = RuleSet::new(vec![
        rule("t1", Phase::Transform, "true", Action::Log),
        rule("f1", Phase::Firewall, "true", Action::Log),
        rule(
            "f2",
            Phase::Firewall,
            r#"http.request.uri.path == "/x""#,
            Action::Block(BlockResponse::default()),
        ),
        rule("f3", Phase::Firewall, "true", Action::Log),
    ]);
    assert_eq!(ids(&set, "GET http://a/", &[]), ["f1", "f3", "t1"]);
    let r = req("GET http://a/x", &[]);
    let v = set.evaluate(&r.view());
    assert_eq!(v.hits.len(), 2);
    assert!(matches!(v.terminal, Some(Terminal::Block(b)) if b.status == StatusCode::FORBIDDEN));
}

#[test]
fn allow_ends_the_security_phase_but_transforms_still_run() {
    let set = RuleSet::new(vec![
        rule(
            "ok",
            Phase::Firewall,
            r#"http.request.headers["x-key"] == "k""#,
            Action::Allow,
        ),
        rule(
            "deny",
            Phase::Firewall,
            "true",
            Action::Block(BlockResponse::default()),
        ),
        rule(
            "hdr",
            Phase::Transform,
            "true",
            Action::SetResponseHeader(HeaderName::from_static("x-a"), t("1")),
        ),
    ]);
    assert_eq!(ids(&set, "GET http://a/", &["X-Key: k"]), ["ok", "hdr"]);
    assert_eq!(ids(&set, "GET http://a/", &[]), ["deny"]);
}

#[test]
fn skip_turns_off_later_rules_and_phases() {
    let set = RuleSet::new(vec![
        rule(
            "skip-rule",
            Phase::Firewall,
            r#"http.request.uri.query == "a""#,
            Action::Skip {
                phases: vec![],
                rules: vec![2],
            },
        ),
        rule(
            "skip-phase",
            Phase::Firewall,
            r#"http.request.uri.query == "b""#,
            Action::Skip {
                phases: vec![Phase::Transform],
                rules: vec![],
            },
        ),
        rule(
            "block",
            Phase::Firewall,
            "true",
            Action::Block(BlockResponse::default()),
        ),
        rule("log", Phase::Transform, "true", Action::Log),
    ]);
    assert_eq!(ids(&set, "GET http://a/?a", &[]), ["skip-rule", "log"]);
    assert_eq!(ids(&set, "GET http://a/?b", &[]), ["skip-phase", "block"]);
    // Skipping the current phase stops it at once.
    let set2 = RuleSet::new(vec![
        rule(
            "self",
            Phase::Firewall,
            "true",
            Action::Skip {
                phases: vec![Phase::Firewall],
                rules: vec![],
            },
        ),
        rule(
            "block",
            Phase::Firewall,
            "true",
            Action::Block(BlockResponse::default()),
        ),
        rule("log", Phase::Transform, "true", Action::Log),
    ]);
    assert_eq!(ids(&set2, "GET http://a/", &[]), ["self", "log"]);
}

#[test]
fn transforms_accumulate_and_see_the_original_request() {
    let x = HeaderName::from_static("x-client");
    let c = HeaderName::from_static("cookie");
    let set = RuleSet::new(vec![
        rule(
            "set",
            Phase::Transform,
            "true",
            Action::SetRequestHeader(x.clone(), t("${client_ip} ${method}")),
        ),
        rule(
            "rm",
            Phase::Transform,
            "true",
            Action::RemoveRequestHeader(c.clone()),
        ),
        rule(
            "rw",
            Phase::Transform,
            "true",
            Action::Rewrite {
                path: Some(t("/v2${path}")),
                query: Some(t("")),
            },
        ),
        // Matches on the original path, not the rewritten one.
        rule(
            "rw2",
            Phase::Transform,
            r#"http.request.uri.path == "/a""#,
            Action::Rewrite {
                path: None,
                query: Some(t("?z=1")),
            },
        ),
        rule(
            "resp",
            Phase::Transform,
            "true",
            Action::SetResponseHeader(HeaderName::from_static("x-r"), t("${host}")),
        ),
    ]);
    let r = req("POST https://h.example/a?q=1", &[]);
    let v = set.evaluate(&r.view());
    assert_eq!(
        v.request_headers,
        [
            HeaderEdit::Set(&x, "203.0.113.9 POST".into()),
            HeaderEdit::Remove(&c)
        ]
    );
    assert_eq!(v.path.as_deref(), Some("/v2/a"));
    assert_eq!(v.query, Some(Some("z=1".into())));
    assert_eq!(v.response_headers[0].1, "h.example");
    let r = req("GET https://h.example/b?q=1", &[]);
    assert_eq!(
        set.evaluate(&r.view()).query,
        Some(None),
        "an empty query template removes the query"
    );
}

#[test]
fn redirect_renders_its_target_and_ends_evaluation() {
    let set = RuleSet::new(vec![
        rule(
            "https",
            Phase::Transform,
            "not ssl",
            Action::Redirect {
                status: StatusCode::PERMANENT_REDIRECT,
                target: t("https://${host}${uri}"),
            },
        ),
        rule("after", Phase::Transform, "true", Action::Log),
    ]);
    let r = req("GET http://h.example/p?q=1", &[]);
    let v = set.evaluate(&r.view());
    assert_eq!(
        v.terminal,
        Some(Terminal::Redirect {
            status: StatusCode::PERMANENT_REDIRECT,
            location: "https://h.example/p?q=1".into()
        })
    );
    assert_eq!(v.hits.len(), 1);
    assert_eq!(ids(&set, "GET https://h.example/p", &[]), ["after"]);
}
