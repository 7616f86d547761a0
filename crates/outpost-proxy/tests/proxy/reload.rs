//! Live reload keeps connections (WebSocket, HTTP/2) while routes and
//! listeners change; invalid configs are rejected whole; shutdown drains.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::tungstenite::Message;

use crate::streaming::ws_echo_origin;
use crate::util::*;

fn config(ws: std::net::SocketAddr, version: &str, extra_listener: bool) -> String {
    let extra = if extra_listener {
        "[[listeners]]\nname = \"extra\"\naddress = \"127.0.0.1:0\"\n"
    } else {
        ""
    };
    format!(
        r#"
[admin]
enabled = false
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
{extra}
[[pools]]
name = "ws"
origins = ["{ws}"]
[[routes]]
name = "ws"
path_prefix = "/ws"
pool = "ws"
[[routes]]
name = "version"
respond = {{ body = "{version}" }}
"#
    )
}

#[tokio::test]
async fn reload_keeps_websocket_and_h2_connections_while_routes_change() {
    let ws_origin = ws_echo_origin().await;
    let op = Outpost::start(&config(ws_origin, "v1", false)).await;
    let addr = op.addr("main").await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let ask = |h2: &mut hyper::client::conn::http2::SendRequest<Body>| {
        h2.send_request(
            Request::get(format!("http://{addr}/"))
                .body(full(""))
                .unwrap(),
        )
    };
    let body = ask(&mut h2)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "v1");

    let generation = op.reload(&config(ws_origin, "v2", true)).await.unwrap();
    assert_eq!(generation, 2);

    ws.send(Message::text("still here")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, Message::text("still here"));
    let body = ask(&mut h2)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        body, "v2",
        "the open HTTP/2 connection serves the new routes"
    );
    let extra = op.addr("extra").await;
    assert_eq!(
        get(&format!("http://{extra}/")).await.2,
        "v2",
        "added listener serves"
    );

    op.reload(&config(ws_origin, "v3", false)).await.unwrap();
    assert!(op.server.local_addr("extra").await.is_none());
    assert!(
        tokio::net::TcpStream::connect(extra).await.is_err(),
        "removed listener stops accepting"
    );
    ws.send(Message::text("and still")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("and still")
    );
    let body = ask(&mut h2)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "v3");
}

#[tokio::test]
async fn invalid_reload_keeps_the_old_config() {
    let ws_origin = ws_echo_origin().await;
    let good = config(ws_origin, "v1", false);
    let op = Outpost::start(&good).await;
    let url = op.url("main", "/").await;
    let bad = good
        .replace("pool = \"ws\"", "pool = \"nope\"")
        .replace("[access_log]", "[access_log]\nbogus = 1");
    let errors = op.reload(&bad).await.unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e == "routes[0].pool: no pool named \"nope\""),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.starts_with("access_log.bogus: unknown field `bogus`")),
        "{text:?}"
    );
    assert_eq!(get(&url).await.2, "v1");
    let garbage = op.reload("this is [not toml").await.unwrap_err();
    assert_eq!(garbage.len(), 1);
    assert_eq!(get(&url).await.2, "v1");
}

#[tokio::test]
async fn graceful_shutdown_completes_in_flight_requests() {
    let origin = Origin::start(|_req| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        http::Response::new(full("finished"))
    })
    .await;
    let toml = proxy_config(origin.addr, "", "");
    let op = Outpost::start(&toml).await;
    let addr = op.addr("main").await;
    let url = format!("http://{addr}/");
    let in_flight = tokio::spawn(async move { get(&url).await });
    assert!(wait_until(|| origin.hits() == 1).await);
    let drained = op.server.shutdown(Duration::from_secs(5)).await;
    assert!(drained, "shutdown waited for the connection to finish");
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::OK, b"finished".as_ref())
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// A connection that has sent nothing yet (plain, and TLS before its
/// handshake) is not waited for by a graceful shutdown, however long the
/// header read timeout.
#[tokio::test]
async fn shutdown_does_not_wait_for_silent_connections() {
    let origin = Origin::echo().await;
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "a", &["a.test"]);
    let toml = proxy_config(origin.addr, "", "[timeouts]\nheader_read = \"30s\"")
        + "[[listeners]]\nname = \"tls\"\naddress = \"127.0.0.1:0\"\n\
           [listeners.tls]\ncertificates = [{ cert = \"a.pem\", key = \"a.key\" }]\n";
    let op = Outpost::start_in(&toml, dir).await;
    let _plain = tokio::net::TcpStream::connect(op.addr("main").await)
        .await
        .unwrap();
    let _tls = tokio::net::TcpStream::connect(op.addr("tls").await)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    assert!(op.server.shutdown(Duration::from_secs(10)).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown waited {:?}",
        started.elapsed()
    );
}
