//! The config's rules through the proxy: firewall blocks and allows, IP lists
//! from files, transforms (header edits, rewrite, redirect, response
//! headers), skip, the access log's rule ids, per-rule metrics, and rules and
//! lists changing on reload.

use http::{Request, StatusCode};

use crate::util::*;

fn rules_config(origin: std::net::SocketAddr, log: &std::path::Path) -> String {
    format!(
        r#"
[admin]
address = "127.0.0.1:0"
[access_log]
path = "{log}"
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[pools]]
name = "origin"
origins = ["{origin}"]
[[routes]]
name = "proxy"
hosts = ["site.test"]
pool = "origin"

[lists.office]
entries = ["10.0.0.0/8", "2001:db8::/32"]
[lists.deny]
file = "deny.txt"

[[rules]]
id = "deny-list"
expression = "ip.src in $deny"
action = "block"
status = 451
body = "listed\n"
[[rules]]
id = "token"
expression = 'http.request.headers["x-token"] == "letmein"'
action = "allow"
[[rules]]
id = "admin"
expression = 'starts_with(http.request.uri.path, "/admin") and not ip.src in $office'
action = "block"
body = "admin is closed\n"
[[rules]]
id = "bots"
expression = 'lower(http.user_agent) contains "badbot"'
action = "block"
status = 429
content_type = "application/json"
body = '{{"error":"slow down"}}'
[[rules]]
id = "api-log"
expression = 'starts_with(http.request.uri.path, "/api")'
action = "log"
[[rules]]
id = "no-transforms"
expression = 'http.request.headers["x-skip"] == "1"'
action = "skip"
phases = ["transform"]

[[rules]]
id = "edge-ip"
phase = "transform"
expression = "true"
action = "set_request_header"
header = "x-edge-client"
value = "${{client_ip}} via ${{scheme}}"
[[rules]]
id = "drop-cookie"
phase = "transform"
expression = 'starts_with(http.request.uri.path, "/api")'
action = "remove_request_header"
header = "cookie"
[[rules]]
id = "v1"
phase = "transform"
expression = 'starts_with(http.request.uri.path, "/v1/")'
action = "rewrite"
path = "/v2${{path}}"
query = "rewritten=1"
[[rules]]
id = "old"
phase = "transform"
expression = 'http.request.uri.path == "/old"'
action = "redirect"
status = 301
target = "https://${{host}}/new${{query}}"
[[rules]]
id = "served-by"
phase = "transform"
expression = "true"
action = "set_response_header"
header = "x-served-by"
value = "outpost"
"#,
        log = log.display()
    )
}

async fn request(
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let mut b = Request::get(url).header("host", "site.test");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(&h1_client(), b.body(full("")).unwrap()).await
}

#[tokio::test]
async fn firewall_and_transform_rules_through_the_proxy() {
    let origin = Origin::echo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deny.txt"), "# nobody yet\n192.0.2.0/24\n").unwrap();
    let log = dir.path().join("access.log");
    let op = Outpost::start_in(&rules_config(origin.addr, &log), dir).await;
    let base = op.url("main", "").await;

    // Transforms on a plain request: header added from a template, response header set.
    let (status, headers, body) = request(&format!("{base}/page"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-served-by"], "outpost");
    let v = json(&body);
    assert_eq!(v["headers"]["x-edge-client"][0], "127.0.0.1 via http");

    // Firewall block with the configured status, body and content type; the
    // origin never sees it.
    let hits = origin.hits();
    let (status, headers, body) = request(&format!("{base}/admin/users"), &[]).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::FORBIDDEN, &b"admin is closed\n"[..])
    );
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let (status, headers, body) =
        request(&format!("{base}/"), &[("user-agent", "Mozilla BadBot/2")]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (headers["content-type"].to_str().unwrap(), &body[..]),
        ("application/json", &br#"{"error":"slow down"}"#[..])
    );
    assert_eq!(origin.hits(), hits);

    // `allow` skips the rest of the firewall (the admin block) but not the transforms.
    let (status, _, body) =
        request(&format!("{base}/admin/users"), &[("x-token", "letmein")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body)["headers"]["x-edge-client"][0],
        "127.0.0.1 via http"
    );

    // Rewrite of path and query; the cookie removed on /api; `log` does not change anything.
    let (status, _, body) = request(&format!("{base}/v1/items?x=1"), &[("cookie", "a=b")]).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["uri"], "/v2/v1/items?rewritten=1");
    assert_eq!(v["headers"]["cookie"][0], "a=b");
    let (_, _, body) = request(&format!("{base}/api/x"), &[("cookie", "a=b")]).await;
    assert!(json(&body)["headers"].get("cookie").is_none());

    // Redirect with the original query; skip turns the transforms off.
    let (status, headers, _) = request(&format!("{base}/old?q=2"), &[]).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(headers["location"], "https://site.test/new?q=2");
    let (status, headers, body) = request(&format!("{base}/old"), &[("x-skip", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("x-served-by").is_none());
    assert!(json(&body)["headers"].get("x-edge-client").is_none());

    // Over HTTP/2 too, and a blocked client is blocked whatever host it asks for.
    let req = Request::get(format!("{base}/admin"))
        .header("host", "site.test")
        .body(full(""))
        .unwrap();
    let (status, _, _) = send(&h2c_client(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let req = Request::get(format!("{base}/admin"))
        .header("host", "unknown.test")
        .body(full(""))
        .unwrap();
    assert_eq!(send(&h1_client(), req).await.0, StatusCode::FORBIDDEN);
    let req = Request::get(format!("{base}/page"))
        .header("host", "unknown.test")
        .body(full(""))
        .unwrap();
    assert_eq!(send(&h1_client(), req).await.0, StatusCode::NOT_FOUND);

    // The access log names the matched rules, in order; metrics count hits per rule.
    assert!(
        wait_until(|| std::fs::read_to_string(&log).is_ok_and(|s| s.lines().count() >= 11)).await
    );
    let records: Vec<outpost_logs::record::AccessRecord> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let blocked = records
        .iter()
        .find(|r| r.path == "/admin/users" && r.status == 403)
        .unwrap();
    assert_eq!(blocked.rules, ["admin"]);
    let api = records.iter().find(|r| r.path == "/api/x").unwrap();
    assert_eq!(
        api.rules,
        ["api-log", "edge-ip", "drop-cookie", "served-by"]
    );
    let admin = op.server.admin_addr().await.unwrap();
    let (_, _, body) = get(&format!("http://{admin}/metrics")).await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(r#"outpost_rule_hits_total{rule="admin",phase="firewall",action="block"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"outpost_rule_hits_total{rule="old",phase="transform",action="redirect"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"outpost_rule_hits_total{rule="deny-list",phase="firewall",action="block"} 0"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn rules_and_list_files_change_on_reload_and_a_bad_rule_keeps_the_old_ones() {
    let origin = Origin::echo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deny.txt"), "192.0.2.0/24\n").unwrap();
    let log = dir.path().join("access.log");
    let toml = rules_config(origin.addr, &log);
    let op = Outpost::start_in(&toml, dir).await;
    let url = op.url("main", "/page").await;
    assert_eq!(request(&url, &[]).await.0, StatusCode::OK);

    // The list file now holds the client.
    std::fs::write(
        op.dir.path().join("deny.txt"),
        "192.0.2.0/24\n127.0.0.0/8\n",
    )
    .unwrap();
    op.reload(&toml).await.unwrap();
    let (status, _, body) = request(&url, &[]).await;
    assert_eq!((status.as_u16(), &body[..]), (451, &b"listed\n"[..]));

    // A broken rule is rejected with its location; the running rules stay.
    let broken = toml.replace(
        r#"expression = "ip.src in $deny""#,
        r#"expression = "ip.src in $nope""#,
    );
    let errors = op.reload(&broken).await.unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.path == "rules[0].expression" && e.message.contains("nope")),
        "{errors:?}"
    );
    assert_eq!(request(&url, &[]).await.0.as_u16(), 451);

    // Removing the rule lets the client through again.
    let without = toml.replace(
        r#"expression = "ip.src in $deny""#,
        r#"expression = "false""#,
    );
    op.reload(&without).await.unwrap();
    assert_eq!(request(&url, &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn deny_at_accept_closes_listed_clients_before_reading() {
    let toml = r#"
[admin]
address = "127.0.0.1:0"
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[routes]]
name = "hello"
respond = { body = "hello" }
[lists.nobody]
entries = ["192.0.2.0/24"]
[security]
deny_at_accept = ["nobody"]
"#;
    let op = Outpost::start(toml).await;
    let addr = op.addr("main").await;
    let ok = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    op.reload(&toml.replace("192.0.2.0/24", "127.0.0.0/8"))
        .await
        .unwrap();
    let denied = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(denied, "");
    let admin = op.server.admin_addr().await.unwrap();
    let (_, _, body) = get(&format!("http://{admin}/metrics")).await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(r#"outpost_connections_rejected_total{reason="deny_at_accept"} 1"#),
        "{text}"
    );
}
