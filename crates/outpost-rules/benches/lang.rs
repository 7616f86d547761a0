//! Criterion benchmarks for `outpost_rules::lang`: one typical rule, the same
//! rule as a CEL program (the `cel` crate, what a user would otherwise
//! embed), and 1,000 rules through a `FilterSet` against one request.
//!
//! Run with `cargo bench -p outpost-rules --bench lang`. Targets: one
//! typical rule <= 50 ns; 1,000 rules <= 10 us; >= 10x faster than CEL.
#![allow(
    clippy::unwrap_used,
    reason = "fixtures are constants; a failure should stop the bench loudly"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;

use cel::{Context, Env, Program};
use criterion::{Criterion, criterion_group, criterion_main};
use outpost_rules::ip::{IpList, Lists};
use outpost_rules::lang::{self, Filter, FilterSet};
use outpost_rules::{OwnedRequest, Request};

const TYPICAL: &str = r#"http.host == "example.com" and starts_with(http.request.uri.path, "/admin") and not ip.src in { 10.0.0.0/8 }"#;

/// The same rule in CEL. CEL has no CIDR type, so the client address is
/// bound as an integer and `10.0.0.0/8` becomes a range test: that is
/// cheaper for CEL than a prefix lookup, which keeps the comparison fair.
const TYPICAL_CEL: &str = r#"host == "example.com" && path.startsWith("/admin") && !(ip4 >= 167772160 && ip4 <= 184549375)"#;

fn request(line: &str, ip: &str) -> OwnedRequest {
    let headers = [
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0".to_owned(),
        "Accept: text/html".to_owned(),
        "Cookie: session=abc123; theme=dark".to_owned(),
        "X-Forwarded-For: 198.51.100.7".to_owned(),
    ];
    OwnedRequest::parse(line, ip.parse().unwrap(), &headers).unwrap()
}

fn lists() -> Lists {
    let list = IpList::new([
        "192.0.2.0/24".parse().unwrap(),
        "198.18.0.0/15".parse().unwrap(),
    ]);
    HashMap::from([("bad".to_owned(), Arc::new(list))])
}

fn compile(src: &str) -> Filter {
    lang::compile(src, &lists()).unwrap()
}

/// The CEL way: the program is compiled once; per request a context scope
/// is made and the fields are bound into it, then the program runs.
fn cel_eval(program: &Program, root: &Context<'_, '_>, r: &Request<'_>) -> bool {
    let mut ctx = root.new_inner_scope();
    ctx.add_variable_from_value("host", r.host);
    ctx.add_variable_from_value("path", r.path);
    let ip4 = match r.client_ip {
        IpAddr::V4(a) => i64::from(u32::from(a)),
        IpAddr::V6(_) => -1,
    };
    ctx.add_variable_from_value("ip4", ip4);
    program.execute(&ctx) == Ok(cel::Value::Bool(true))
}

fn typical(c: &mut Criterion) {
    let filter = compile(TYPICAL);
    let hit = request("GET https://example.com/admin/users?page=2", "203.0.113.9");
    let miss = request("GET https://example.com/blog/post", "203.0.113.9");
    let env = Arc::new(Env::stdlib());
    let program = env.compile(TYPICAL_CEL).unwrap();
    let root = Context::with_env(Arc::clone(&env));
    let mut g = c.benchmark_group("typical_rule");
    for (name, r) in [("match", &hit), ("no_match", &miss)] {
        let view = r.view();
        assert_eq!(filter.eval(&view), cel_eval(&program, &root, &view));
        g.bench_function(format!("outpost/{name}"), |b| {
            b.iter(|| filter.eval(black_box(&view)))
        });
        g.bench_function(format!("cel/{name}"), |b| {
            b.iter(|| cel_eval(&program, &root, black_box(&view)))
        });
    }
    // CEL's floor: variables bound once, outside the loop (not possible
    // for real requests, where they change every time).
    let view = hit.view();
    let mut bound = root.new_inner_scope();
    bound.add_variable_from_value("host", view.host);
    bound.add_variable_from_value("path", view.path);
    bound.add_variable_from_value("ip4", 3_405_803_785_i64);
    g.bench_function("cel_prebound/match", |b| {
        b.iter(|| program.execute(black_box(&bound)) == Ok(cel::Value::Bool(true)))
    });
    g.finish();
}

/// 1,000 rules the way a large site writes them: mostly per host and path,
/// some per host only, some per path only, and a tenth that look at every
/// request (IP lists, user agents, headers, regexes).
fn thousand_rules() -> Vec<String> {
    (0..1000)
        .map(|i| {
            let (h, p) = (i % 97, i % 13);
            match i % 10 {
                0..=4 => format!(
                    r#"http.host == "h{h}.example" and starts_with(http.request.uri.path, "/p{p}/") and not ip.src in {{ 10.0.0.0/8 192.168.0.0/16 }}"#
                ),
                5 => format!(
                    r#"http.host in {{ "h{h}.example" "www.h{h}.example" }} and http.request.method in {{ "POST" "PUT" }}"#
                ),
                6 => format!(
                    r#"http.host == "h{h}.example" and http.request.uri.path matches "^/p{p}/[0-9]+$""#
                ),
                7 => format!(
                    r#"starts_with(http.request.uri.path, "/api/v{p}/") and http.request.headers["authorization"] contains "Basic ""#
                ),
                8 => format!(
                    r#"http.request.uri.path == "/p{p}/login" and http.request.method == "POST""#
                ),
                _ => match i % 4 {
                    0 => "ip.src in $bad".to_owned(),
                    1 => format!(r#"lower(http.user_agent) contains "bot{i}""#),
                    2 => format!(r#"http.request.headers["x-forwarded-for"] == "192.0.2.{}""#, i % 250),
                    _ => format!(r#"any(http.request.cookies["session"][*] == "evil{i}")"#),
                },
            }
        })
        .collect()
}

fn many(c: &mut Criterion) {
    let rules = thousand_rules();
    let filters: Vec<Filter> = rules.iter().map(|s| compile(s)).collect();
    let set = FilterSet::new(filters);
    let r = request("POST https://h7.example/p7/123", "203.0.113.9");
    let view = r.view();
    let mut matched = 0;
    set.for_each_match(
        &view,
        |_| false,
        |_| {
            matched += 1;
            true
        },
    );
    let indexed_count = {
        let mut n = 0;
        set.for_each_match(
            &view,
            |_| {
                n += 1;
                true
            },
            |_| true,
        );
        n
    };
    eprintln!("1000 rules: {matched} match, {indexed_count} evaluated after indexing");
    let mut g = c.benchmark_group("rules_1000");
    g.bench_function("filter_set", |b| {
        b.iter(|| {
            let mut n = 0u32;
            set.for_each_match(
                black_box(&view),
                |_| false,
                |_| {
                    n += 1;
                    true
                },
            );
            n
        })
    });
    g.bench_function("every_filter_no_index", |b| {
        b.iter(|| {
            (0..set.len())
                .filter(|&i| set.get(i).eval(black_box(&view)))
                .count()
        })
    });
    g.finish();
}

/// One rule of each kind that the index cannot skip, to see where the
/// 1,000-rule time goes.
fn kinds(c: &mut Criterion) {
    let r = request("POST https://h7.example/p7/123", "203.0.113.9");
    let view = r.view();
    let mut g = c.benchmark_group("rule_kinds");
    for (name, src) in [
        ("ip_list", "ip.src in $bad"),
        (
            "lower_contains",
            r#"lower(http.user_agent) contains "bot9""#,
        ),
        (
            "header_eq",
            r#"http.request.headers["x-forwarded-for"] == "192.0.2.9""#,
        ),
        (
            "any_cookie",
            r#"any(http.request.cookies["session"][*] == "evil9")"#,
        ),
        ("regex", r#"http.request.uri.path matches "^/p7/[0-9]+$""#),
        ("wildcard", r#"http.host wildcard "*.example""#),
    ] {
        let f = compile(src);
        g.bench_function(name, |b| b.iter(|| f.eval(black_box(&view))));
    }
    g.finish();
}

criterion_group!(benches, typical, many, kinds);
criterion_main!(benches);
