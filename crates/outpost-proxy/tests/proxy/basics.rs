//! Routing, header handling, protocol combinations and upstream failures.

use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;

use crate::util::*;

#[tokio::test]
async fn routing_precedence_through_the_proxy() {
    let toml = r#"
[admin]
enabled = false
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[routes]]
name = "fallback"
respond = { body = "fallback" }
[[routes]]
name = "a-prefix"
hosts = ["a.test"]
path_prefix = "/"
respond = { body = "a-prefix" }
[[routes]]
name = "a-api"
hosts = ["a.test"]
path_prefix = "/api/"
respond = { body = "a-api" }
[[routes]]
name = "a-exact"
hosts = ["a.test"]
path_exact = "/api/status"
respond = { body = "a-exact" }
[[routes]]
name = "a-regex"
hosts = ["a.test"]
path_regex = '\.php$'
respond = { status = 403, body = "a-regex" }
[[routes]]
name = "a-post"
hosts = ["a.test"]
path_prefix = "/api/"
methods = ["POST"]
respond = { body = "a-post" }
[[routes]]
name = "wild"
hosts = ["*.a.test"]
respond = { body = "wild" }
"#;
    let op = Outpost::start(toml).await;
    let addr = op.addr("main").await;
    let client = h1_client();
    let cases = [
        ("GET", "a.test", "/api/status", "a-exact"),
        ("GET", "A.TEST:80", "/api/users", "a-api"),
        ("POST", "a.test", "/api/users", "a-post"),
        ("GET", "a.test", "/api/x.php", "a-regex"),
        ("GET", "a.test", "/index.html", "a-prefix"),
        ("GET", "www.a.test", "/", "wild"),
        ("GET", "other.test", "/", "fallback"),
    ];
    for (method, host, path, want) in cases {
        let req = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("host", host)
            .body(full(""))
            .unwrap();
        let (_, _, body) = send(&client, req).await;
        assert_eq!(body, want, "{method} {host}{path}");
    }
}

#[tokio::test]
async fn no_route_is_404() {
    let toml = r#"
[admin]
enabled = false
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[routes]]
name = "only"
hosts = ["known.test"]
respond = { body = "x" }
"#;
    let op = Outpost::start(toml).await;
    let (status, _, _) = get(&op.url("main", "/").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forwarded_and_hop_by_hop_headers() {
    let origin = Origin::echo().await;
    let op = Outpost::start(&proxy_config(origin.addr, "", "")).await;
    let addr = op.addr("main").await;
    let req = Request::get(format!("http://{addr}/path?q=1"))
        .header("host", "site.test")
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "x-hop")
        .header("x-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("te", "gzip")
        .header("proxy-authorization", "Basic eA==")
        .header("x-keep", "yes")
        .body(full(""))
        .unwrap();
    let (status, headers, body) = send(&h1_client(), req).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    let h = &v["headers"];
    assert_eq!(v["uri"], "/path?q=1");
    assert_eq!(h["x-forwarded-for"][0], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"][0], "http");
    assert_eq!(h["x-forwarded-host"][0], "site.test");
    assert_eq!(h["host"][0], "site.test");
    assert_eq!(h["via"][0], "1.1 outpost");
    assert_eq!(h["x-keep"][0], "yes");
    for gone in ["x-hop", "keep-alive", "te", "proxy-authorization"] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded");
    }
    let id = h["x-request-id"][0].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(headers["x-request-id"], id);
    assert!(
        !headers.contains_key("x-origin-hop"),
        "response hop-by-hop header leaked"
    );
    assert_eq!(headers["via"], "1.1 outpost");

    let req = Request::get(format!("http://{addr}/"))
        .header("x-request-id", "client-id-1")
        .body(full(""))
        .unwrap();
    let (_, headers, body) = send(&h1_client(), req).await;
    assert_eq!(json(&body)["headers"]["x-request-id"][0], "client-id-1");
    assert_eq!(headers["x-request-id"], "client-id-1");
}

#[tokio::test]
async fn h1_and_h2_on_both_sides() {
    let origin = Origin::echo().await;
    for (pool_proto, client_h2, want_origin_version) in [
        ("http1", false, "HTTP/1.1"),
        ("http1", true, "HTTP/1.1"),
        ("http2", false, "HTTP/2.0"),
        ("http2", true, "HTTP/2.0"),
    ] {
        let pool_keys = format!("protocol = \"{pool_proto}\"");
        let op = Outpost::start(&proxy_config(origin.addr, &pool_keys, "")).await;
        let client = if client_h2 { h2c_client() } else { h1_client() };
        let url = op.url("main", "/v").await;
        let resp = client
            .request(Request::post(&url).body(full("hello")).unwrap())
            .await
            .unwrap();
        let down_version = resp.version();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v = json(&body);
        assert_eq!(
            v["version"], want_origin_version,
            "pool {pool_proto}, client h2 {client_h2}"
        );
        assert_eq!(v["body_len"], 5);
        assert_eq!(
            down_version,
            if client_h2 {
                http::Version::HTTP_2
            } else {
                http::Version::HTTP_11
            }
        );
        if client_h2 {
            assert_eq!(v["headers"]["via"][0], "2 outpost");
        }
    }
}

#[tokio::test]
async fn keep_alive_reuses_origin_connections() {
    let origin = Origin::echo().await;
    let op = Outpost::start(&proxy_config(origin.addr, "", "")).await;
    let url = op.url("main", "/").await;
    let client = h1_client();
    for _ in 0..20 {
        let (s, _, _) = send(&client, Request::get(&url).body(full("")).unwrap()).await;
        assert_eq!(s, StatusCode::OK);
    }
    assert_eq!(origin.hits(), 20);
    assert_eq!(
        origin.conns(),
        1,
        "sequential requests reuse one origin connection"
    );
}

#[tokio::test]
async fn upstream_refused_is_502() {
    let dead = closed_port().await;
    let op = Outpost::start(&proxy_config(dead, "", "")).await;
    let (status, _, body) = get(&op.url("main", "/").await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body, "502 Bad Gateway\n", "no internal detail leaks");
}

#[tokio::test]
async fn upstream_too_slow_is_504() {
    let origin = Origin::start(|_req| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        http::Response::new(full("late"))
    })
    .await;
    let op = Outpost::start(&proxy_config(
        origin.addr,
        "response_timeout = \"300ms\"",
        "",
    ))
    .await;
    let started = std::time::Instant::now();
    let (status, _, _) = get(&op.url("main", "/").await).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn access_log_and_metrics_record_requests() {
    let origin = Origin::echo().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let toml = format!(
        r#"
[admin]
address = "127.0.0.1:0"
token = "0123456789abcdef-token"
[access_log]
path = "{}"
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[pools]]
name = "origin"
origins = ["{}"]
[[routes]]
name = "proxy"
pool = "origin"
"#,
        log.display(),
        origin.addr
    );
    let op = Outpost::start_in(&toml, dir).await;
    let url = op.url("main", "/logged?x=1").await;
    let req = Request::get(&url)
        .header("user-agent", "itest/1")
        .header("referer", "http://r.test/")
        .body(full(""))
        .unwrap();
    let (status, _, _) = send(&h1_client(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        wait_until(|| std::fs::read_to_string(&log)
            .map(|s| s.lines().count() >= 1)
            .unwrap_or(false))
        .await
    );
    let line = std::fs::read_to_string(&log).unwrap();
    let rec: outpost_logs::record::AccessRecord =
        serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(rec.status, 200);
    assert_eq!(rec.path, "/logged");
    assert_eq!(rec.query.as_deref(), Some("x=1"));
    assert_eq!(rec.route.as_deref(), Some("proxy"));
    assert_eq!(rec.user_agent.as_deref(), Some("itest/1"));
    assert_eq!(rec.referer.as_deref(), Some("http://r.test/"));
    assert_eq!(rec.upstream_addr, Some(origin.addr.to_string()));
    assert!(rec.bytes_out > 0);
    assert_eq!(rec.http_version, "HTTP/1.1");

    let admin = op.server.admin_addr().await.unwrap();
    let (status, _, body) = get(&format!("http://{admin}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(r#"outpost_requests_total{route="proxy",class="2xx"} 1"#),
        "{text}"
    );
    assert!(text.contains("outpost_request_duration_seconds_bucket"));
    assert!(text.contains("outpost_connections_open"));
    let (status, _, _) = get(&format!("http://{admin}/healthz")).await;
    assert_eq!(status, StatusCode::OK);

    // Rotation: move the file away, reopen, and the next record lands in a new file.
    let rotated = op.dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    op.server.reopen_logs();
    assert!(wait_until(|| log.exists()).await);
    let _ = get(&url).await;
    assert!(
        wait_until(|| std::fs::read_to_string(&log)
            .map(|s| s.lines().count() == 1)
            .unwrap_or(false))
        .await
    );
}

#[tokio::test]
async fn admin_reload_requires_the_token() {
    let toml = r#"
[admin]
address = "127.0.0.1:0"
token = "0123456789abcdef-token"
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[routes]]
name = "r"
respond = { body = "v1" }
"#;
    let op = Outpost::start(toml).await;
    let admin = op.server.admin_addr().await.unwrap();
    std::fs::write(op.config_path(), toml.replace("v1", "v2")).unwrap();
    let client = h1_client();
    let post = |auth: Option<&str>| {
        let mut b = Request::post(format!("http://{admin}/reload"));
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(full("")).unwrap()
    };
    let (s, _, _) = send(&client, post(None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = send(&client, post(Some("Bearer wrong-token-000000000"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, _, body) = get(&op.url("main", "/").await).await;
    assert_eq!(body, "v1");
    let (s, _, _) = send(&client, post(Some("Bearer 0123456789abcdef-token"))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, body) = get(&op.url("main", "/").await).await;
    assert_eq!(body, "v2");
}

#[tokio::test]
async fn ipv6_listener_and_origin() {
    let origin = Origin::start_on("[::1]:0", |req| async move { echo_response(req).await }).await;
    let origin_addr = origin.addr;
    let toml = proxy_config(origin_addr, "", "").replace("127.0.0.1:0", "[::1]:0");
    let op = Outpost::start(&toml).await;
    let addr = op.addr("main").await;
    assert!(addr.is_ipv6());
    let (status, _, body) = get(&format!("http://{addr}/six")).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["uri"], "/six");
    assert_eq!(v["headers"]["x-forwarded-for"][0], "::1");
}

#[tokio::test]
async fn a_client_that_leaves_early_is_still_logged() {
    let origin = Origin::start(|_req| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        http::Response::new(full("late"))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let toml = proxy_config(origin.addr, "", "").replace(
        "[access_log]\nenabled = false",
        &format!("[access_log]\npath = \"{}\"", log.display()),
    );
    let op = Outpost::start_in(&toml, dir).await;
    let addr = op.addr("main").await;
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /gone HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(wait_until(|| origin.hits() == 1).await);
    } // the client hangs up while the origin is still thinking
    assert!(wait_until(|| std::fs::read_to_string(&log).is_ok_and(|s| !s.is_empty())).await);
    let line = std::fs::read_to_string(&log).unwrap();
    let rec: outpost_logs::record::AccessRecord =
        serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(rec.status, 499);
    assert_eq!(rec.path, "/gone");
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_origin_is_retried_transparently() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An origin that answers one request per connection and then closes it
    // without saying so (no `Connection: close`), as idle-timeout reaping does.
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = tcp.local_addr().unwrap();
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let body = format!("conn {n}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                // Close a little later, once the proxy has parked the connection as idle.
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
    });
    let op = Outpost::start(&proxy_config(origin, "", "")).await;
    let url = op.url("main", "/").await;
    for i in 1..=3 {
        let (status, _, body) = get(&url).await;
        assert_eq!(status, StatusCode::OK, "request {i}");
        assert!(body.starts_with(b"conn "), "{body:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(conns.load(std::sync::atomic::Ordering::SeqCst) >= 3);
}

/// HTTP/2 with prior knowledge coalesces its writes like HTTP/2 over TLS:
/// a lone response must still leave at once, not wait for the next event
/// on the connection.
#[tokio::test]
async fn h2c_lone_responses_are_not_held() {
    let origin = Origin::echo().await;
    let op = Outpost::start(&proxy_config(origin.addr, "", "")).await;
    let url = op.url("main", "/").await;
    let client = h2c_client();
    for _ in 0..3 {
        let req = Request::get(&url).body(full("")).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), send(&client, req)).await;
        assert_eq!(got.expect("a lone h2c response stalled").0, StatusCode::OK);
    }
}
