//! The built-in static origin: content, validators, ranges, index files and
//! every traversal shape we know of.

use http::{Request, StatusCode};

use crate::util::*;

async fn site() -> (Outpost, tempfile::TempDir) {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(root.join("docs/index.html"), "<h1>docs</h1>").unwrap();
    std::fs::write(root.join("data.json"), "{\"a\":1}").unwrap();
    std::fs::write(root.join("digits.txt"), "0123456789").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("digits.txt"), root.join("inside-link.txt")).unwrap();
    let toml = r#"
[admin]
enabled = false
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[routes]]
name = "site"
static = { root = "site" }
"#;
    (Outpost::start_in(toml, dir).await, outside)
}

#[tokio::test]
async fn serves_files_with_types_and_index() {
    let (op, _o) = site().await;
    let (s, h, b) = get(&op.url("main", "/").await).await;
    assert_eq!((s, b.as_ref()), (StatusCode::OK, b"<h1>home</h1>".as_ref()));
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let (s, h, _) = get(&op.url("main", "/data.json").await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "application/json");
    let (s, h, _) = get(&op.url("main", "/docs?x=1").await).await;
    assert_eq!(s, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(h["location"], "/docs/?x=1");
    let (_, _, b) = get(&op.url("main", "/docs/").await).await;
    assert_eq!(b, "<h1>docs</h1>");
    let (s, _, _) = get(&op.url("main", "/missing").await).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, b) = get(&op.url("main", "/inside-link.txt").await).await;
    assert_eq!((s, b.as_ref()), (StatusCode::OK, b"0123456789".as_ref()));
    let req = Request::post(op.url("main", "/").await)
        .body(full(""))
        .unwrap();
    let (s, h, _) = send(&h1_client(), req).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h["allow"], "GET, HEAD");
}

#[tokio::test]
async fn conditional_requests_and_ranges() {
    let (op, _o) = site().await;
    let url = op.url("main", "/digits.txt").await;
    let (_, h, _) = get(&url).await;
    let etag = h["etag"].to_str().unwrap().to_string();
    let lm = h["last-modified"].to_str().unwrap().to_string();
    let c = h1_client();
    let with = |k: &str, v: &str| Request::get(&url).header(k, v).body(full("")).unwrap();
    assert_eq!(
        send(&c, with("if-none-match", &etag)).await.0,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        send(&c, with("if-none-match", "\"other\"")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&c, with("if-modified-since", &lm)).await.0,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        send(
            &c,
            with("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, h, b) = send(&c, with("range", "bytes=2-4")).await;
    assert_eq!(
        (s, b.as_ref()),
        (StatusCode::PARTIAL_CONTENT, b"234".as_ref())
    );
    assert_eq!(h["content-range"], "bytes 2-4/10");
    let (s, _, b) = send(&c, with("range", "bytes=-3")).await;
    assert_eq!(
        (s, b.as_ref()),
        (StatusCode::PARTIAL_CONTENT, b"789".as_ref())
    );
    let (s, h, _) = send(&c, with("range", "bytes=50-")).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(h["content-range"], "bytes */10");
    let req = Request::get(&url)
        .header("range", "bytes=0-1")
        .header("if-range", "\"stale\"")
        .body(full(""))
        .unwrap();
    let (s, _, b) = send(&c, req).await;
    assert_eq!(
        (s, b.len()),
        (StatusCode::OK, 10),
        "a stale If-Range gets the whole file"
    );
    let (s, h, b) = send(&c, Request::head(&url).body(full("")).unwrap()).await;
    assert_eq!((s, b.len()), (StatusCode::OK, 0));
    assert_eq!(h["content-length"], "10");
}

#[tokio::test]
async fn traversal_attempts_are_refused() {
    let (op, _o) = site().await;
    let addr = op.addr("main").await;
    for path in [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/etc/passwd",
        "/docs/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/docs%00.html",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let resp = raw(addr, req.as_bytes()).await;
        assert!(!resp.contains("top secret"), "{path} leaked: {resp}");
        let status: u16 = resp.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(status == 400 || status == 404, "{path} -> {status}");
    }
    for path in ["/escape.txt", "/escape-dir/secret.txt"] {
        let (s, _, b) = get(&op.url("main", path).await).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(!String::from_utf8_lossy(&b).contains("top secret"));
    }
}
