//! Outpost's own HTTP/1.1 client against origins scripted byte by byte:
//! every response framing, interim responses, broken and ambiguous
//! responses, connection reuse, and an origin that answers before the
//! upload is done.

use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::util::*;

fn script(method: &str, path: &str) -> Reply {
    match (method, path) {
        (_, "/chunked") => reply(
            "HTTP/1.1 200 OK\r\nTrailer: X-Trailer\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
            3,
            false,
        ),
        (_, "/close") => reply("HTTP/1.1 200 OK\r\n\r\nuntil the origin closes", 5, true),
        (_, "/both") => reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            64,
            false,
        ),
        (_, "/two-lengths") => reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            64,
            false,
        ),
        (_, "/interim") => reply(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            7,
            false,
        ),
        (_, "/garbage") => reply("NOT HTTP AT ALL\r\n\r\n", 64, false),
        (_, "/short") => reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
            64,
            true,
        ),
        ("HEAD", _) => reply("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", 64, false),
        _ => reply(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain",
            1,
            false,
        ),
    }
}

async fn head(url: &str) -> (StatusCode, http::HeaderMap) {
    let req = Request::builder()
        .method(Method::HEAD)
        .uri(url)
        .body(full(""))
        .unwrap();
    let (s, h, body) = send(&h1_client(), req).await;
    assert!(body.is_empty());
    (s, h)
}

#[tokio::test]
async fn every_response_framing_and_when_connections_are_reused() {
    let (origin, conns) = scripted(script).await;
    let op = Outpost::start(&proxy_config(origin, "", "")).await;
    let base = op.url("main", "").await;
    let at = |p: &str| format!("{base}{p}");

    // Content-Length, the head and body arriving one byte at a time.
    let (s, _, b) = get(&at("/plain")).await;
    assert_eq!((s, &b[..]), (StatusCode::OK, &b"plain"[..]));
    // Chunked with an extension and trailers, in 3-byte pieces; the same
    // connection serves both requests.
    for _ in 0..2 {
        let (s, _, b) = get(&at("/chunked")).await;
        assert_eq!((s, &b[..]), (StatusCode::OK, &b"hello world"[..]));
    }
    // The origin's trailers reach an HTTP/2 client (on its own connection
    // to Outpost; the origin connection is the same one).
    let resp = h2c_client()
        .request(Request::get(at("/chunked")).body(full("")).unwrap())
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    assert_eq!(
        body.trailers().expect("trailers forwarded")["x-trailer"],
        "1"
    );
    assert_eq!(body.to_bytes(), "hello world");
    // And an HTTP/1.1 client that accepts trailers, for the fields the
    // origin's `Trailer` header names.
    let req = Request::get(at("/chunked"))
        .header("te", "trailers")
        .body(full(""))
        .unwrap();
    let resp = h1_client().request(req).await.unwrap();
    assert_eq!(resp.headers()["trailer"], "X-Trailer");
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    assert_eq!(
        body.trailers().expect("h1 trailers forwarded")["x-trailer"],
        "1"
    );
    // A HEAD response: the length header stays, no body is read.
    let (s, h) = head(&at("/x")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-length"], "50");
    let (s, _, b) = get(&at("/plain")).await;
    assert_eq!((s, &b[..]), (StatusCode::OK, &b"plain"[..]));
    assert_eq!(conns.load(Ordering::SeqCst), 1, "one connection so far");

    // Interim 100 and 103 heads are skipped.
    let (s, _, b) = get(&at("/interim")).await;
    assert_eq!((s, &b[..]), (StatusCode::OK, &b"ok"[..]));
    assert_eq!(conns.load(Ordering::SeqCst), 1);

    // Delimited by close: complete body, and the connection is not reused.
    let (s, _, b) = get(&at("/close")).await;
    assert_eq!(
        (s, &b[..]),
        (StatusCode::OK, &b"until the origin closes"[..])
    );
    let (s, _, _) = get(&at("/plain")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        conns.load(Ordering::SeqCst),
        2,
        "a new connection after close"
    );

    // Transfer-Encoding wins over Content-Length, and that connection is
    // not trusted again.
    let (s, _, b) = get(&at("/both")).await;
    assert_eq!((s, &b[..]), (StatusCode::OK, &b"hello"[..]));
    let (s, _, _) = get(&at("/plain")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn broken_origin_responses_are_502_or_a_cut_body() {
    let (origin, _) = scripted(script).await;
    let op = Outpost::start(&proxy_config(origin, "", "")).await;
    let base = op.url("main", "").await;
    let (s, _, _) = get(&format!("{base}/two-lengths")).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "conflicting Content-Length");
    let (s, _, _) = get(&format!("{base}/garbage")).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "not HTTP");
    // The origin promised 100 bytes and closed after 10: the client sees
    // the head and those bytes, then the connection ends early.
    let addr = op.addr("main").await;
    let out = raw(
        addr,
        b"GET /short HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("content-length: 100"), "{out}");
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(body, "only ten b");
}

#[tokio::test]
async fn an_early_origin_answer_ends_the_upload() {
    // The origin rejects the upload after reading only the head, and keeps
    // the connection open without reading the body.
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope")
                    .await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
    });
    let op = Outpost::start(&proxy_config(origin, "", "")).await;
    let addr = op.addr("main").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let len = 64 * 1024 * 1024;
    s.write_all(
        format!("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'u'; 64 * 1024];
        for _ in 0..len / chunk.len() {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        while !out.windows(4).any(|w| w == b"nope") {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    assert!(got.is_ok(), "no answer while the upload was blocked");
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

/// Connections above `max_idle_per_origin` are not closed the moment they
/// come back: a second burst right after the first reuses all of them.
/// After `SURPLUS_LINGER` (2 s) and a sweep they are closed down to
/// `max_idle_per_origin`, so a third burst dials only the difference.
#[tokio::test]
async fn surplus_idle_connections_linger_then_are_trimmed() {
    let origin = Origin::start(|req: Request<hyper::body::Incoming>| async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        echo_response(req).await
    })
    .await;
    let op = Outpost::start(&proxy_config(origin.addr, "max_idle_per_origin = 2", "")).await;
    let url = op.url("main", "/").await;
    let client = h1_client();
    let burst = || async {
        let mut all = Vec::new();
        for _ in 0..8 {
            let client = client.clone();
            let req = Request::get(&url).body(full("")).unwrap();
            all.push(tokio::spawn(async move { send(&client, req).await.0 }));
        }
        for t in all {
            assert_eq!(t.await.unwrap(), StatusCode::OK);
        }
    };
    burst().await;
    assert_eq!(
        origin.conns(),
        8,
        "eight concurrent requests, eight connections"
    );
    burst().await;
    assert_eq!(
        origin.conns(),
        8,
        "a burst right after another reuses the surplus connections"
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let idle = format!(
        "outpost_backend_idle_connections{{pool=\"origin\",backend=\"{}\"}} 2",
        origin.addr
    );
    let text = op.server.shared.metrics.encode();
    assert!(text.contains(&idle), "{idle} not in:\n{text}");
    burst().await;
    assert_eq!(
        origin.conns(),
        14,
        "after the linger only max_idle_per_origin (2) connections were left to reuse"
    );
    assert_eq!(origin.hits(), 24);
}

/// A client's request trailers reach an HTTP/1.1 origin in the last chunk
/// (forbidden fields left out), from an HTTP/2 client and from a chunked
/// HTTP/1.1 upload.
#[tokio::test]
async fn request_trailers_reach_the_origin() {
    let origin = Origin::start(|req: Request<hyper::body::Incoming>| async move {
        let body = http_body_util::BodyExt::collect(req.into_body())
            .await
            .unwrap();
        let t = body.trailers().cloned().unwrap_or_default();
        let seen = format!(
            "{} sum={:?} length={:?}",
            String::from_utf8_lossy(&body.to_bytes()),
            t.get("x-sum"),
            t.get("content-length")
        );
        http::Response::new(full(seen))
    })
    .await;
    let op = Outpost::start(&proxy_config(origin.addr, "", "")).await;
    let url = op.url("main", "/upload").await;
    let with_trailers = || {
        let mut t = http::HeaderMap::new();
        t.insert("x-sum", http::HeaderValue::from_static("42"));
        t.insert("content-length", http::HeaderValue::from_static("999"));
        let frames: Vec<
            Result<http_body::Frame<bytes::Bytes>, Box<dyn std::error::Error + Send + Sync>>,
        > = vec![
            Ok(http_body::Frame::data(bytes::Bytes::from("abc"))),
            Ok(http_body::Frame::trailers(t)),
        ];
        http_body_util::BodyExt::boxed(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    };
    for client in [h2c_client(), h1_client()] {
        // hyper's HTTP/1.1 client sends only the trailers `Trailer` names.
        let req = Request::post(&url)
            .header("trailer", "x-sum, content-length")
            .body(with_trailers())
            .unwrap();
        let (s, _, b) = send(&client, req).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, "abc sum=Some(\"42\") length=None");
    }
}
