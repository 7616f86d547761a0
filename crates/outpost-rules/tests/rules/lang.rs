//! Tests of `outpost_rules::lang`: every field, operator, function and
//! logic operator evaluated against requests; error messages against golden
//! files; the parse/print round trip and the `FilterSet` index against
//! evaluating every filter, as property tests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use outpost_rules::OwnedRequest;
use outpost_rules::ip::{IpList, Lists};
use outpost_rules::lang::{
    self, Call, CmpOp, Compare, Expr, Field, FilterSet, In, Literal, Member, Set, Span, Value,
    ValueKind,
};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

fn lists() -> Lists {
    let mut l = HashMap::new();
    let list = IpList::new([
        "192.0.2.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ]);
    l.insert("bad_ips".to_owned(), Arc::new(list));
    l
}

/// A request from `line` with headers, from 203.0.113.7.
fn req(line: &str, headers: &[&str]) -> OwnedRequest {
    req_from("203.0.113.7", line, headers)
}

fn req_from(ip: &str, line: &str, headers: &[&str]) -> OwnedRequest {
    let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    OwnedRequest::parse(line, ip.parse().unwrap(), &headers).unwrap()
}

fn eval(expr: &str, r: &OwnedRequest) -> bool {
    let f = lang::compile(expr, &lists()).unwrap_or_else(|d| {
        let text: Vec<String> = d.iter().map(|d| d.render(expr)).collect();
        panic!("{expr}\n{}", text.join("\n"))
    });
    f.eval(&r.view())
}

/// Asserts each `(expression, expected)` on `r`.
fn check(r: &OwnedRequest, cases: &[(&str, bool)]) {
    for (expr, want) in cases {
        assert_eq!(eval(expr, r), *want, "{expr}");
    }
}

#[test]
fn single_valued_fields() {
    let r = req(
        "POST https://Example.com:8443/a%20b/c?x=1&y=%41",
        &[
            "User-Agent: curl/8",
            "Referer: https://ref/",
            "Cookie: s=1; t=2",
        ],
    );
    check(
        &r,
        &[
            (r#"http.host == "example.com""#, true),
            (r#"http.request.method == "POST""#, true),
            (r#"http.request.uri == "/a%20b/c?x=1&y=%41""#, true),
            (r#"http.request.uri.path == "/a%20b/c""#, true),
            (r#"http.request.uri.query == "x=1&y=%41""#, true),
            (r#"http.user_agent == "curl/8""#, true),
            (r#"http.referer == "https://ref/""#, true),
            (r#"http.cookie == "s=1; t=2""#, true),
            (r#"http.request.version == "HTTP/1.1""#, true),
            ("ssl", true),
            (r#"tls.version == "TLSv1.3""#, true),
            (r#"tls.sni == "example.com""#, true),
            ("ip.src == 203.0.113.7", true),
            ("ip.src != 203.0.113.7", false),
        ],
    );
    let plain = req("http://a/", &[]);
    check(
        &plain,
        &[
            ("ssl", false),
            ("not ssl", true),
            (r#"tls.version == "" and tls.sni == """#, true),
            (r#"http.request.uri.query == """#, true),
            (r#"http.user_agent == "" and http.cookie == """#, true),
        ],
    );
}

#[test]
fn multi_valued_fields_mean_any_value() {
    let r = req(
        "GET http://a/?tag=x&tag=y%20z&e=",
        &[
            "X-Forwarded-For: 1.1.1.1",
            "x-forwarded-for: 1.2.3.4",
            "Cookie: a=1; b=2",
            "Cookie: a=3",
        ],
    );
    check(
        &r,
        &[
            (
                r#"http.request.headers["X-Forwarded-For"] == "1.2.3.4""#,
                true,
            ),
            (
                r#"http.request.headers["x-forwarded-for"] == "1.1.1.1""#,
                true,
            ),
            (
                r#"http.request.headers["x-forwarded-for"] == "9.9.9.9""#,
                false,
            ),
            (r#"http.request.headers["missing"] == """#, false),
            (r#"not http.request.headers["missing"] == """#, true),
            (r#"http.request.uri.args["tag"] == "y z""#, true),
            (r#"http.request.uri.args["e"] == """#, true),
            (r#"http.request.uri.args["nope"] == """#, false),
            (r#"http.request.cookies["a"] == "3""#, true),
            (r#"http.request.cookies["b"] == "2""#, true),
            (r#"http.request.cookies["c"] == "2""#, false),
            (r#"http.cookie == "a=1; b=2; a=3""#, true),
        ],
    );
}

#[test]
fn any_and_all() {
    let r = req("GET http://a/", &["X-A: 1.2.3.4", "X-A: 5.6.7.8", "X-B: v"]);
    check(
        &r,
        &[
            (
                r#"any(http.request.headers["x-a"][*] contains "1.2.3.4")"#,
                true,
            ),
            (r#"all(http.request.headers["x-a"][*] contains ".")"#, true),
            (
                r#"all(http.request.headers["x-a"][*] contains "1.2")"#,
                false,
            ),
            (r#"all(http.request.headers["x-b"][*] == "v")"#, true),
            // No values: any() is false and all() is true, like Iterator::any/all.
            (r#"any(http.request.headers["x-c"][*] == "v")"#, false),
            (r#"all(http.request.headers["x-c"][*] == "v")"#, true),
            (
                r#"any(starts_with(http.request.headers["x-a"][*], "5.") and ends_with(http.request.headers["x-a"][*], ".8"))"#,
                true,
            ),
            (
                r#"any(starts_with(http.request.headers["x-a"][*], "1.") and ends_with(http.request.headers["x-a"][*], ".8"))"#,
                false,
            ),
            (r#"any(len(http.request.headers["x-a"][*]) == 7)"#, true),
            (
                r#"all(lower(http.request.headers["x-b"][*]) in { "v" "w" })"#,
                true,
            ),
        ],
    );
}

#[test]
fn string_operators() {
    let r = req("GET http://example.com/Admin/Panel?q=1", &["X-Id: abc123"]);
    check(
        &r,
        &[
            (r#"http.request.uri.path contains "Panel""#, true),
            (r#"http.request.uri.path contains "panel""#, false),
            (r#"http.request.uri.path matches r"^/admin/\w+$""#, false),
            (r#"http.request.uri.path matches r"(?i)^/admin/\w+$""#, true),
            (
                r#"http.request.headers["x-id"] matches "^[a-z]+[0-9]+$""#,
                true,
            ),
            (r#"http.request.uri.path wildcard "/admin/*""#, true),
            (r#"http.request.uri.path wildcard "/ADMIN/pan?l""#, true),
            (r#"http.request.uri.path wildcard "/admin""#, false),
            (r#"http.host wildcard "*.com""#, true),
            (
                r#"http.host < "f" and http.host > "e" and http.host <= "example.com""#,
                true,
            ),
            (r#"http.host >= "example.comx""#, false),
            (r#"http.request.method in { "GET" "HEAD" }"#, true),
            (r#"http.request.method in { "POST", "PUT" }"#, false),
            (r#"http.host != "example.org""#, true),
            (
                r#"http.host == http.host and http.host != http.request.method"#,
                true,
            ),
            (r#""example.com" == http.host"#, true),
        ],
    );
}

#[test]
fn functions() {
    let r = req("GET http://example.com/A%2Fb+c?x=1", &["X-Mixed: AbC"]);
    check(
        &r,
        &[
            (r#"lower(http.request.headers["x-mixed"]) == "abc""#, true),
            (r#"upper(http.request.headers["x-mixed"]) == "ABC""#, true),
            (r#"lower(http.request.headers["x-mixed"]) == "ABC""#, false),
            (
                r#"lower(http.request.headers["x-mixed"]) contains "bc""#,
                true,
            ),
            (
                r#"lower(http.request.headers["x-mixed"]) contains "Bc""#,
                false,
            ),
            (
                r#"lower(http.request.headers["x-mixed"]) contains "bd""#,
                false,
            ),
            (r#"lower(http.request.headers["x-mixed"]) != "abc""#, false),
            (r#"url_decode(http.request.uri.path) == "/A/b c""#, true),
            (
                r#"lower(url_decode(http.request.uri.path)) == "/a/b c""#,
                true,
            ),
            (r#"starts_with(http.request.uri.path, "/A")"#, true),
            (r#"ends_with(http.request.uri.path, "c")"#, true),
            (r#"ends_with(http.request.uri.path, "x")"#, false),
            ("len(http.host) == 11", true),
            ("len(http.host) > 20", false),
            ("len(http.host) in { 3 11 }", true),
            (r#"len("abc") == 3 and lower("ABC") == "abc""#, true),
            ("len(http.host) < len(http.request.uri)", true),
        ],
    );
    let long = format!("X-Long: {}", "A".repeat(1000));
    let r = req("GET http://a/", &[&long]);
    assert!(eval(
        r#"lower(http.request.headers["x-long"]) wildcard "a*a""#,
        &r
    ));
    assert!(eval(
        r#"len(lower(http.request.headers["x-long"])) == 1000"#,
        &r
    ));
}

#[test]
fn ip_operators_and_lists() {
    let inside = req_from("192.0.2.55", "GET http://a/", &[]);
    let v6 = req_from("2001:db8::1", "GET http://a/", &[]);
    let mapped = req_from("::ffff:10.1.2.3", "GET http://a/", &[]);
    let set = "ip.src in { 10.0.0.0/8 192.168.1.1 2001:db8::/32 }";
    check(
        &inside,
        &[
            (set, false),
            ("ip.src in $bad_ips", true),
            ("ip.src == 192.0.2.0/24", true),
        ],
    );
    check(
        &v6,
        &[
            (set, true),
            ("ip.src in $bad_ips", true),
            ("ip.src == 2001:db8::1", true),
        ],
    );
    check(
        &mapped,
        &[
            (set, true),
            ("ip.src in $bad_ips", false),
            ("ip.src != 10.0.0.0/8", false),
        ],
    );
}

#[test]
fn logic_operators() {
    let r = req("GET http://a/", &[]);
    check(
        &r,
        &[
            ("true and false", false),
            ("true && true", true),
            ("false or true", true),
            ("false || false", false),
            ("true xor true", false),
            ("true ^^ false", true),
            ("not true", false),
            ("!false", true),
            // not > and > xor > or
            ("true or true and false", true),
            ("(true or true) and false", false),
            ("not false and false", false),
            ("true xor true or true", true),
            ("true xor (true or true)", false),
            ("false and true xor true", true),
            ("ssl == false and true != false", true),
        ],
    );
}

#[test]
fn typical_rule() {
    let rule = r#"http.host == "example.com" and starts_with(http.request.uri.path, "/admin") and not ip.src in { 10.0.0.0/8 }"#;
    let yes = req("GET http://example.com/admin/users", &[]);
    let internal = req_from("10.9.8.7", "GET http://example.com/admin/users", &[]);
    let other = req("GET http://example.org/admin", &[]);
    assert!(eval(rule, &yes));
    assert!(!eval(rule, &internal));
    assert!(!eval(rule, &other));
}

#[test]
fn limits() {
    let at = format!("http.host == \"{}\"", "a".repeat(lang::MAX_STRING_LEN));
    assert!(lang::compile(&at, &lists()).is_ok());
    let over = format!("http.host == \"{}\"", "a".repeat(lang::MAX_STRING_LEN + 1));
    assert!(lang::compile(&over, &lists()).is_err());
    let huge = format!("http.host == \"a\"{}", " ".repeat(lang::MAX_SOURCE_LEN));
    assert!(lang::compile(&huge, &lists()).is_err());
    let exact = format!(
        "http.host == \"a\"{}",
        " ".repeat(lang::MAX_SOURCE_LEN - 16)
    );
    assert_eq!(exact.len(), lang::MAX_SOURCE_LEN);
    assert!(lang::compile(&exact, &lists()).is_ok());
    let set = |n: usize| format!("len(http.host) in {{ {} }}", "1 ".repeat(n));
    assert!(lang::compile(&set(lang::MAX_SET_MEMBERS), &lists()).is_ok());
    assert!(lang::compile(&set(lang::MAX_SET_MEMBERS + 1), &lists()).is_err());
    let deep = format!(
        "{}ssl{}",
        "(".repeat(lang::MAX_DEPTH + 1),
        ")".repeat(lang::MAX_DEPTH + 1)
    );
    assert!(lang::compile(&deep, &lists()).is_err());
    let ok = format!(
        "{}ssl{}",
        "(".repeat(lang::MAX_DEPTH),
        ")".repeat(lang::MAX_DEPTH)
    );
    assert!(lang::compile(&ok, &lists()).is_ok());
    // `matches` looks at the first MAX_REGEX_INPUT bytes only.
    let at = format!("X-Long: {}b", "a".repeat(lang::MAX_REGEX_INPUT - 1));
    let past = format!("X-Long: {}b", "a".repeat(lang::MAX_REGEX_INPUT));
    let rule = r#"http.request.headers["x-long"] matches "b""#;
    assert!(eval(rule, &req("GET http://a/", &[&at])));
    assert!(!eval(rule, &req("GET http://a/", &[&past])));
    let big_regex = r#"http.host matches "\\w{1000}\\w{1000}""#;
    assert!(lang::compile(big_regex, &lists()).is_err());
}

/// Every error case in `tests/golden/lang/errors.rules` (cases separated by
/// a line `----`) rendered with carets must equal `errors.golden`.
/// `UPDATE_GOLDEN=1` rewrites the golden file.
#[test]
fn error_messages_golden() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/lang");
    let input = std::fs::read_to_string(format!("{dir}/errors.rules")).unwrap();
    let mut out = String::new();
    for case in input.split("\n----\n") {
        let case = case.trim_end_matches('\n');
        out.push_str("== ");
        out.push_str(&case.replace('\n', "\n   "));
        out.push('\n');
        match lang::compile(case, &lists()) {
            Ok(_) => out.push_str("(compiled without errors)\n"),
            Err(diags) => {
                for d in diags {
                    out.push_str(&d.render(case));
                    out.push('\n');
                }
            }
        }
        out.push('\n');
    }
    let golden = format!("{dir}/errors.golden");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &out).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        want == out,
        "golden mismatch; rerun with UPDATE_GOLDEN=1 and review the diff\n{out}"
    );
}

// ---- parse -> print -> parse round trip ----

const KEYWORDS: &[&str] = &[
    "and", "or", "xor", "not", "in", "contains", "matches", "wildcard", "true", "false",
];

fn span() -> Span {
    Span::default()
}

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("http.host".to_owned()),
        Just("http.request.headers".to_owned()),
        Just("ip.src".to_owned()),
        "[a-z_][a-z0-9_]{0,5}(\\.[a-z_][a-z0-9_]{0,5}){0,2}",
    ]
    .prop_filter("keywords are reserved", |s| !KEYWORDS.contains(&s.as_str()))
}

fn cidr() -> impl Strategy<Value = outpost_rules::ip::Cidr> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, l)| {
            let mask = if l == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(l))
            };
            outpost_rules::ip::Cidr::new(IpAddr::from(std::net::Ipv4Addr::from(a & mask)), l)
                .unwrap()
        }),
        (any::<u128>(), 0u8..=128).prop_map(|(a, l)| {
            let mask = if l == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(l))
            };
            outpost_rules::ip::Cidr::new(IpAddr::from(std::net::Ipv6Addr::from(a & mask)), l)
                .unwrap()
        }),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Literal::Str),
        "[ -~é]{0,8}".prop_map(|s| Literal::Str(s.into_bytes())),
        (0..=i64::MAX).prop_map(Literal::Int),
        any::<bool>().prop_map(Literal::Bool),
        cidr().prop_map(Literal::Ip),
    ]
}

fn field() -> impl Strategy<Value = Field> {
    (ident(), proptest::option::of("[ -~]{0,6}"), any::<bool>()).prop_map(|(name, key, each)| {
        Field {
            name,
            key: key.map(String::into_bytes),
            each,
        }
    })
}

fn value(expr: BoxedStrategy<Expr>) -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        3 => field().prop_map(ValueKind::Field),
        3 => literal().prop_map(ValueKind::Lit),
        1 => (ident().prop_filter("no dots in calls", |s| !s.contains('.')),
              proptest::collection::vec(expr, 0..3))
            .prop_map(|(name, args)| ValueKind::Call(Call { name, args })),
    ];
    kind.prop_map(|kind| Value { kind, span: span() })
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    use CmpOp::*;
    proptest::sample::select(vec![Eq, Ne, Lt, Le, Gt, Ge, Contains, Matches, Wildcard])
}

fn set() -> impl Strategy<Value = Set> {
    let member = prop_oneof![
        "[a-z]{0,4}".prop_map(|s| Literal::Str(s.into_bytes())),
        (0..1000i64).prop_map(Literal::Int),
        cidr().prop_map(Literal::Ip),
    ]
    .prop_map(|lit| Member { lit, span: span() });
    prop_oneof![
        proptest::collection::vec(member, 0..4).prop_map(Set::Members),
        "[a-z_][a-z0-9_]{0,6}".prop_map(Set::List),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        value(
            Just(Expr::Value(Value {
                kind: ValueKind::Lit(Literal::Bool(true)),
                span: span()
            }))
            .boxed()
        )
        .prop_map(Expr::Value),
    ];
    leaf.prop_recursive(6, 48, 3, |inner| {
        let children = proptest::collection::vec(inner.clone(), 2..4);
        prop_oneof![
            children.clone().prop_map(Expr::Or),
            children.clone().prop_map(Expr::Xor),
            children.prop_map(Expr::And),
            inner.clone().prop_map(|e| Expr::Not(Box::new(e), span())),
            (
                value(inner.clone().boxed()),
                cmp_op(),
                value(inner.clone().boxed())
            )
                .prop_map(|(lhs, op, rhs)| Expr::Compare(Box::new(Compare {
                    lhs,
                    op,
                    op_span: span(),
                    rhs
                }))),
            (value(inner.clone().boxed()), set()).prop_map(|(lhs, set)| Expr::In(Box::new(In {
                lhs,
                set,
                set_span: span()
            }))),
            value(inner.boxed()).prop_map(Expr::Value),
        ]
    })
}

#[test]
fn print_then_parse_gives_the_same_tree() {
    // Generating deep trees recurses through proptest's strategies, which
    // needs more than a test thread's 2 MiB stack when unoptimised.
    let run = || {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(512));
        let result = runner.run(&expr(), |e| {
            let printed = e.to_string();
            let parsed = lang::parse(&printed).unwrap_or_else(|d| panic!("{printed}\n{d:?}"));
            prop_assert_eq!(&parsed, &e, "printed: {}", printed);
            prop_assert_eq!(parsed.to_string(), printed);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    };
    let big = std::thread::Builder::new().stack_size(64 << 20);
    big.spawn(run).unwrap().join().unwrap();
}

// ---- FilterSet index against evaluating every filter ----

const HOSTS: &[&str] = &["a.test", "b.test", "c.test", "d.test"];
const PATHS: &[&str] = &["/", "/a", "/a/b", "/ab", "/b/c", "/admin/x"];

fn rule() -> impl Strategy<Value = String> {
    let host = proptest::sample::select(HOSTS);
    let path = proptest::sample::select(PATHS);
    let atom = prop_oneof![
        host.clone().prop_map(|h| format!("http.host == \"{h}\"")),
        (host.clone(), host).prop_map(|(a, b)| format!("http.host in {{ \"{a}\" \"{b}\" }}")),
        path.clone()
            .prop_map(|p| format!("http.request.uri.path == \"{p}\"")),
        path.clone()
            .prop_map(|p| format!("starts_with(http.request.uri.path, \"{p}\")")),
        path.prop_map(|p| format!("http.request.uri.path contains \"{p}\"")),
        Just("ssl".to_owned()),
        Just("http.request.method == \"POST\"".to_owned()),
    ];
    atom.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) xor ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn request() -> impl Strategy<Value = OwnedRequest> {
    (
        proptest::sample::select(HOSTS),
        proptest::sample::select(PATHS),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(h, p, tls, post)| {
            let scheme = if tls { "https" } else { "http" };
            let method = if post { "POST" } else { "GET" };
            req(&format!("{method} {scheme}://{h}{p}"), &[])
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn index_matches_evaluating_everything(
        rules in proptest::collection::vec(rule(), 0..40),
        reqs in proptest::collection::vec(request(), 1..6),
        stop_after in 0usize..10,
        skip_mod in 2usize..5,
    ) {
        let filters = rules.iter().map(|r| lang::compile(r, &lists()).unwrap()).collect();
        let set = FilterSet::new(filters);
        for r in &reqs {
            let view = r.view();
            let want: Vec<usize> =
                (0..set.len()).filter(|&i| set.get(i).eval(&view)).collect();
            let mut got = Vec::new();
            set.for_each_match(&view, |_| false, |i| { got.push(i); true });
            prop_assert_eq!(&got, &want);
            // Early stop and skip behave like the same loop over every filter.
            let want: Vec<usize> = want.iter().copied().filter(|i| i % skip_mod != 0).take(stop_after + 1).collect();
            let mut got = Vec::new();
            set.for_each_match(&view, |i| i % skip_mod == 0, |i| { got.push(i); got.len() <= stop_after });
            prop_assert_eq!(got, want);
        }
    }
}

// ---- token soup: what the fuzz target checks, on stable ----

const TOKENS: &[&str] = &[
    "http.host",
    "ip.src",
    "ssl",
    "http.request.headers",
    "[\"x-a\"]",
    "[*]",
    "http.request.uri.path",
    "http.request.cookies",
    "http.request.uri.args",
    "tls.sni",
    "lower(",
    "len(",
    "any(",
    "all(",
    "starts_with(",
    "url_decode(",
    ")",
    "(",
    ",",
    "==",
    "!=",
    "<",
    ">=",
    "contains",
    "matches",
    "wildcard",
    "in",
    "{",
    "}",
    "$bad",
    "$nope",
    "and",
    "or",
    "xor",
    "not",
    "!",
    "&&",
    "||",
    "^^",
    "\"a\"",
    "\"\\x41*\"",
    "r\"(a\"",
    "\"[\"",
    "\"/p\"",
    "7",
    "99999999999999999999",
    "10.0.0.0/8",
    "::1",
    "1.2.3.4/33",
    "true",
    "false",
    "\n",
    "é",
    "'",
    "=",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn token_soup_never_panics_and_round_trips(
        picks in proptest::collection::vec(proptest::sample::select(TOKENS), 0..24),
    ) {
        let src = picks.join(" ");
        if let Ok(expr) = lang::parse(&src) {
            let printed = expr.to_string();
            prop_assert_eq!(lang::parse(&printed).unwrap(), expr, "{}", printed);
        }
        let r = req("POST https://a.test/p?x-a=1", &["X-A: v", "Cookie: x-a=1"]);
        match lang::compile(&src, &lists()) {
            Ok(f) => {
                let want = f.eval(&r.view());
                let set = FilterSet::new(vec![f]);
                let mut got = false;
                set.for_each_match(&r.view(), |_| false, |_| { got = true; true });
                prop_assert_eq!(got, want);
            }
            Err(d) => {
                prop_assert!(!d.is_empty());
                for d in d {
                    let _ = d.render(&src);
                }
            }
        }
    }
}
