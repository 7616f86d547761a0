//! Limits (431, 414, 413), malformed requests (400) and request-smuggling
//! shapes, sent as raw bytes so nothing normalizes them first.

use crate::util::*;

async fn limited(origin: std::net::SocketAddr) -> Outpost {
    let limits = "[limits]\nmax_header_bytes = \"16KiB\"\nmax_headers = 20\nmax_uri_bytes = 256\nmax_body_bytes = 1000";
    Outpost::start(&proxy_config(origin, "", limits)).await
}

fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn header_limits_answer_431() {
    let origin = Origin::echo().await;
    let op = limited(origin.addr).await;
    let addr = op.addr("main").await;
    let big = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(status_of(&raw(addr, big.as_bytes()).await), 431);
    let mut many = String::from("GET / HTTP/1.1\r\nhost: x\r\n");
    for i in 0..30 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(status_of(&raw(addr, many.as_bytes()).await), 431);
    // At the limit is fine.
    let mut ok = String::from("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
    for i in 0..18 {
        ok.push_str(&format!("x-h{i}: v\r\n"));
    }
    ok.push_str("\r\n");
    assert_eq!(status_of(&raw(addr, ok.as_bytes()).await), 200);
    assert_eq!(origin.hits(), 1);
}

#[tokio::test]
async fn uri_limit_answers_414() {
    let origin = Origin::echo().await;
    let op = limited(origin.addr).await;
    let addr = op.addr("main").await;
    let long = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(300));
    assert_eq!(status_of(&raw(addr, long.as_bytes()).await), 414);
    let fits = format!(
        "GET /{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        "a".repeat(200)
    );
    assert_eq!(status_of(&raw(addr, fits.as_bytes()).await), 200);
}

#[tokio::test]
async fn body_limit_answers_413_declared_and_streamed() {
    let origin = Origin::echo().await;
    let op = limited(origin.addr).await;
    let addr = op.addr("main").await;
    let declared = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n{}",
        "a".repeat(5000)
    );
    assert_eq!(status_of(&raw(addr, declared.as_bytes()).await), 413);
    assert_eq!(
        origin.hits(),
        0,
        "a declared oversize body never reaches the origin"
    );
    let chunk = "a".repeat(600);
    let streamed = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    assert_eq!(status_of(&raw(addr, streamed.as_bytes()).await), 413);
    let fits = format!(
        "POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 1000\r\n\r\n{}",
        "a".repeat(1000)
    );
    assert_eq!(status_of(&raw(addr, fits.as_bytes()).await), 200);
}

#[tokio::test]
async fn malformed_requests_get_400() {
    let origin = Origin::echo().await;
    let op = limited(origin.addr).await;
    let addr = op.addr("main").await;
    let cases: &[&[u8]] = &[
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost x\r\n\r\n",
        b"GET / HTTP/9.9\r\nhost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nho\x00st: x\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ];
    for c in cases {
        let resp = raw(addr, c).await;
        assert_eq!(
            status_of(&resp),
            400,
            "{:?} -> {resp:?}",
            String::from_utf8_lossy(c)
        );
    }
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn smuggling_shapes_are_never_forwarded_ambiguously() {
    let origin = Origin::echo().await;
    let op = limited(origin.addr).await;
    let addr = op.addr("main").await;
    // Rejected outright.
    let rejected: &[&[u8]] = &[
        // Two different Content-Length values.
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3, 4\r\n\r\nabcd",
        // obs-fold (a header continued on the next line).
        b"GET / HTTP/1.1\r\nhost: x\r\nx-a: b\r\n c\r\n\r\n",
        // Transfer-Encoding whose final coding is not chunked.
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        // Transfer-Encoding on HTTP/1.0.
        b"POST / HTTP/1.0\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        // Invalid chunk size.
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        // Bare CR inside the head.
        b"GET / HTTP/1.1\r\nhost: x\rx-a: b\r\n\r\n",
        // Bare LF inside chunked framing, where CRLF is required.
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        // Space before the colon.
        b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length : 5\r\n\r\nabcde",
    ];
    for c in rejected {
        let resp = raw(addr, c).await;
        assert_eq!(
            status_of(&resp),
            400,
            "{:?} -> {resp:?}",
            String::from_utf8_lossy(c)
        );
    }
    // Content-Length together with Transfer-Encoding: chunked wins (RFC 9112
    // §6.3), Content-Length is dropped, the origin sees exactly one request with
    // the chunked body, and the client connection is closed after the response,
    // so a smuggled tail can never become a second request.
    let hits_before = origin.hits();
    let cl_te = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    let resp = raw(addr, cl_te).await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert_eq!(
        resp.matches("HTTP/1.1 ").count(),
        1,
        "exactly one response: {resp}"
    );
    assert!(!resp.contains("/smuggled"));
    assert_eq!(origin.hits(), hits_before + 1);
    assert!(resp.contains("\"body_len\":0"), "{resp}");
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    let origin = Origin::echo().await;
    let toml = proxy_config(origin.addr, "", "[timeouts]\nheader_read = \"300ms\"");
    let op = Outpost::start(&toml).await;
    let addr = op.addr("main").await;
    let started = std::time::Instant::now();
    // A slowloris: half a request head, then silence. raw() returns when the
    // server closes the connection (or after 2 s).
    let resp = raw(addr, b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: ").await;
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_millis(1500),
        "connection held for {waited:?}"
    );
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 408"),
        "{resp:?}"
    );
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn silent_connections_are_cut_off() {
    let origin = Origin::echo().await;
    let toml = proxy_config(origin.addr, "", "[timeouts]\nheader_read = \"300ms\"");
    let op = Outpost::start(&toml).await;
    let addr = op.addr("main").await;
    let started = std::time::Instant::now();
    // Connects and sends nothing at all (so not even the first bytes that
    // tell HTTP/1.1 from HTTP/2 arrive).
    let resp = raw(addr, b"").await;
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_millis(1500),
        "connection held for {waited:?}"
    );
    assert!(resp.is_empty(), "{resp:?}");
}

#[tokio::test]
async fn per_client_connection_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = Origin::echo().await;
    let toml = proxy_config(origin.addr, "", "[limits]\nmax_connections_per_client = 2");
    let op = Outpost::start(&toml).await;
    let addr = op.addr("main").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    // The third connection from the same client is closed at accept.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        third.read_to_end(&mut buf),
    )
    .await;
    assert!(
        matches!(n, Ok(Ok(0)) | Ok(Err(_))),
        "third connection was served: {:?}",
        String::from_utf8_lossy(&buf)
    );
    // Closing one frees its slot.
    drop(held.pop());
    let ok = wait_until_async(|| async {
        raw(
            addr,
            b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await
        .starts_with("HTTP/1.1 200")
    })
    .await;
    assert!(ok, "slot was not released");
}
