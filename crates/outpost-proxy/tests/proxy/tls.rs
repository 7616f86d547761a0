//! TLS: SNI certificate selection with a default, ALPN h2, and TLS to origins
//! with a custom CA and SNI.

use std::sync::Arc;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::util::*;

async fn tls_outpost(dir: tempfile::TempDir) -> (Outpost, TestCert, TestCert) {
    let a = make_cert(dir.path(), "a", &["a.test"]);
    let b = make_cert(dir.path(), "b", &["b.test", "*.wild.test"]);
    let toml = r#"
[admin]
enabled = false
[access_log]
enabled = false
[[listeners]]
name = "tls"
address = "127.0.0.1:0"
[listeners.tls]
certificates = [{ cert = "a.pem", key = "a.key" }, { cert = "b.pem", key = "b.key" }]
[[routes]]
name = "r"
respond = { body = "over tls" }
"#;
    (Outpost::start_in(toml, dir).await, a, b)
}

async fn handshake(
    addr: std::net::SocketAddr,
    sni: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_string()).unwrap();
    TlsConnector::from(insecure_client(alpn))
        .connect(name, tcp)
        .await
        .unwrap()
}

fn presented(s: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn sni_picks_the_certificate_with_a_default() {
    let (op, a, b) = tls_outpost(tempfile::tempdir().unwrap()).await;
    let addr = op.addr("tls").await;
    assert_eq!(
        presented(&handshake(addr, "a.test", &[b"http/1.1"]).await),
        a.der
    );
    assert_eq!(
        presented(&handshake(addr, "b.test", &[b"http/1.1"]).await),
        b.der
    );
    assert_eq!(
        presented(&handshake(addr, "x.wild.test", &[b"http/1.1"]).await),
        b.der
    );
    assert_eq!(
        presented(&handshake(addr, "unknown.test", &[b"http/1.1"]).await),
        a.der,
        "first certificate is the default"
    );
}

#[tokio::test]
async fn alpn_h2_and_http11_over_tls() {
    let (op, _a, _b) = tls_outpost(tempfile::tempdir().unwrap()).await;
    let addr = op.addr("tls").await;
    let s = handshake(addr, "a.test", &[b"h2", b"http/1.1"]).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(Request::get("https://a.test/").body(full("")).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "over tls"
    );

    let s = handshake(addr, "a.test", &[b"http/1.1"]).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(
            Request::get("/")
                .header("host", "a.test")
                .body(full(""))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn certificates_reload_for_new_connections() {
    let (op, a, _b) = tls_outpost(tempfile::tempdir().unwrap()).await;
    let addr = op.addr("tls").await;
    assert_eq!(
        presented(&handshake(addr, "a.test", &[b"http/1.1"]).await),
        a.der
    );
    let old_conn = handshake(addr, "a.test", &[b"http/1.1"]).await;
    // Replace a.pem/a.key in place (as a certificate renewal would) and reload.
    let renewed = make_cert(op.dir.path(), "a", &["a.test"]);
    assert_ne!(renewed.der, a.der);
    let toml = std::fs::read_to_string(op.config_path()).unwrap();
    op.reload(&toml).await.unwrap();
    assert_eq!(
        presented(&handshake(addr, "a.test", &[b"http/1.1"]).await),
        renewed.der
    );
    // The connection opened before the reload still works.
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(old_conn))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(
            Request::get("/")
                .header("host", "a.test")
                .body(full(""))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// An HTTPS origin with its own certificate for `origin.test`.
async fn tls_origin(dir: &std::path::Path) -> (std::net::SocketAddr, TestCert) {
    install_crypto();
    let cert = make_cert(dir, "origin", &["origin.test"]);
    let chain = vec![rustls::pki_types::CertificateDer::from(cert.der.clone())];
    let key = rustls::pki_types::pem::PemObject::from_pem_file(&cert.key).unwrap();
    let mut sc = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(sc));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = tcp.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(s) = acceptor.accept(s).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|req| async move {
                    Ok::<_, std::convert::Infallible>(echo_response(req).await)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, cert)
}

#[tokio::test]
async fn tls_to_origin_verifies_with_custom_ca_and_sni() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, cert) = tls_origin(dir.path()).await;
    let other = make_cert(dir.path(), "other", &["other.test"]);
    let toml = format!(
        r#"
[admin]
enabled = false
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[pools]]
name = "good"
origins = ["{origin}"]
protocol = "auto"
tls = {{ sni = "origin.test", ca = "{}" }}
[[pools]]
name = "bad-ca"
origins = ["{origin}"]
tls = {{ sni = "origin.test", ca = "{}" }}
[[routes]]
name = "good"
path_prefix = "/good"
pool = "good"
[[routes]]
name = "bad"
path_prefix = "/bad"
pool = "bad-ca"
"#,
        cert.cert.display(),
        other.cert.display()
    );
    let op = Outpost::start_in(&toml, dir).await;
    let (s, _, body) = get(&op.url("main", "/good").await).await;
    assert_eq!(s, StatusCode::OK);
    let v = json(&body);
    assert_eq!(
        v["version"], "HTTP/2.0",
        "ALPN negotiated h2 with the origin"
    );
    let (s, _, _) = get(&op.url("main", "/bad").await).await;
    assert_eq!(
        s,
        StatusCode::BAD_GATEWAY,
        "an untrusted origin certificate is refused"
    );
}

/// Many concurrent HTTP/2 streams over TLS through the proxy, bodies from
/// 1 byte to 300 KiB: the write buffer under TLS (which holds what one poll
/// of the connection writes until the next) must deliver every byte of
/// every stream, small responses held back and large ones streamed past it.
#[tokio::test]
async fn many_h2_streams_over_tls_all_arrive_whole() {
    let origin = Origin::start(|req: Request<hyper::body::Incoming>| async move {
        let n: usize = req.uri().path()[1..].parse().unwrap_or(0);
        let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        http::Response::new(full(body))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "a", &["a.test"]);
    let toml = format!(
        r#"
[admin]
enabled = false
[access_log]
enabled = false
[[listeners]]
name = "tls"
address = "127.0.0.1:0"
[listeners.tls]
certificates = [{{ cert = "a.pem", key = "a.key" }}]
[[pools]]
name = "origin"
origins = ["{}"]
[[routes]]
name = "r"
pool = "origin"
"#,
        origin.addr
    );
    let op = Outpost::start_in(&toml, dir).await;
    let s = handshake(op.addr("tls").await, "a.test", &[b"h2"]).await;
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    // One small response alone: its frames are held by the poll that
    // wrote them, and only the wake that poll asked for sends them.
    for _ in 0..3 {
        let mut send = send.clone();
        let one = async move {
            let req = Request::get("https://a.test/1").body(full("")).unwrap();
            let resp = send.send_request(req).await.unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        };
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), one).await;
        assert_eq!(got.expect("a lone small response stalled").len(), 1);
    }
    let sizes = [1usize, 1024, 5000, 16 * 1024, 40_000, 300 * 1024];
    let mut all = Vec::new();
    for i in 0..96 {
        let n = sizes[i % sizes.len()];
        let mut send = send.clone();
        all.push(tokio::spawn(async move {
            let req = Request::get(format!("https://a.test/{n}"))
                .body(full(""))
                .unwrap();
            let resp = send.send_request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len(), n);
            assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        }));
    }
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        for t in all {
            t.await.unwrap();
        }
    })
    .await;
    // Held data that nobody writes out would stall until the next
    // HTTP/2 keep-alive ping, 20 s away.
    assert!(done.is_ok(), "some streams never completed");
}
