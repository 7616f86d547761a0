//! Large bodies stream through with bounded memory, and WebSocket upgrades
//! are tunnelled.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use tokio_tungstenite::tungstenite::Message;

use crate::util::*;

/// 256 MiB each way: far more than the memory growth allowed below.
const BIG: u64 = 256 << 20;
const CHUNK: usize = 256 << 10;

fn generated_body(total: u64) -> Body {
    let chunks = (total / CHUNK as u64) as usize;
    let stream = futures_util::stream::iter((0..chunks).map(|_| {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(http_body::Frame::data(Bytes::from(
            vec![7u8; CHUNK],
        )))
    }));
    BodyExt::boxed(StreamBody::new(stream))
}

async fn count_body(mut body: hyper::body::Incoming) -> u64 {
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            n += d.len() as u64;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_upload_and_download_stream_with_bounded_memory() {
    let origin = Origin::start(|req: Request<hyper::body::Incoming>| async move {
        if req.method() == http::Method::POST {
            let n = count_body(req.into_body()).await;
            Response::new(full(n.to_string()))
        } else {
            Response::builder()
                .header("content-length", BIG.to_string())
                .body(generated_body(BIG))
                .unwrap()
        }
    })
    .await;
    let toml = proxy_config(origin.addr, "", "");
    let op = Outpost::start(&toml).await;
    let url = op.url("main", "/big").await;
    let before = peak_rss_kib();
    let client = h1_client();
    let req = Request::post(&url)
        .header("content-length", BIG.to_string())
        .body(generated_body(BIG))
        .unwrap();
    let (s, _, b) = send(&client, req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, BIG.to_string());
    let resp = client
        .request(Request::get(&url).body(full("")).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(count_body(resp.into_body()).await, BIG);
    let grew_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    assert!(
        grew_mib < 96,
        "peak RSS grew by {grew_mib} MiB while moving 2 x 256 MiB"
    );
}

#[tokio::test]
async fn websocket_echo_through_the_proxy() {
    let ws_origin = ws_echo_origin().await;
    let toml = proxy_config(ws_origin, "", "");
    let op = Outpost::start(&toml).await;
    let addr = op.addr("main").await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for i in 0..5 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, Message::text(format!("hello {i}")));
    }
    ws.send(Message::binary(vec![1u8; 100_000])).await.unwrap();
    let got = ws.next().await.unwrap().unwrap();
    assert_eq!(got.into_data().len(), 100_000);
}

/// A WebSocket origin that echoes every message.
pub async fn ws_echo_origin() -> std::net::SocketAddr {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
