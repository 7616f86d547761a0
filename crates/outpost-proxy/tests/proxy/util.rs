//! Test harness: real sockets on 127.0.0.1:0. Starts Outpost in-process from a
//! TOML string, scripted origins (hyper, h1 + h2c), raw TCP clients for
//! malformed requests, and TLS material generated per test with rcgen.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use outpost_proxy::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// An Outpost instance started from TOML, with its temp dir kept alive.
pub struct Outpost {
    pub server: Arc<Server>,
    pub dir: tempfile::TempDir,
}

impl Outpost {
    pub async fn start(toml: &str) -> Outpost {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(toml, dir).await
    }

    pub async fn start_in(toml: &str, dir: tempfile::TempDir) -> Outpost {
        install_crypto();
        let path = dir.path().join("outpost.toml");
        std::fs::write(&path, toml).unwrap();
        let config =
            outpost_config::load_file(&path).unwrap_or_else(|e| panic!("{}", e.render(&path)));
        let server = Server::start(config, Some(path)).await.unwrap();
        Outpost { server, dir }
    }

    pub async fn addr(&self, listener: &str) -> SocketAddr {
        self.server
            .local_addr(listener)
            .await
            .expect("listener exists")
    }

    pub async fn url(&self, listener: &str, path: &str) -> String {
        format!("http://{}{}", self.addr(listener).await, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("outpost.toml")
    }

    /// Rewrites the config file and reloads from it.
    pub async fn reload(&self, toml: &str) -> Result<u64, Vec<outpost_config::ConfigError>> {
        std::fs::write(self.config_path(), toml).unwrap();
        self.server.reload_from_file().await
    }
}

/// A scripted origin: every request is handled by `f`; it counts requests.
pub struct Origin {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub conns: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub async fn start<F, Fut>(f: F) -> Origin
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
    {
        Origin::start_on("127.0.0.1:0", f).await
    }

    /// Like `start`, on a chosen bind address (e.g. `[::1]:0`).
    pub async fn start_on<F, Fut>(bind: &str, f: F) -> Origin
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
    {
        let tcp = TcpListener::bind(bind).await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let conns = Arc::new(AtomicUsize::new(0));
        let c = conns.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = tcp.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let f = f.clone();
                let h = h.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        h.fetch_add(1, Ordering::SeqCst);
                        let f = f.clone();
                        async move { Ok::<_, Infallible>(f(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        Origin {
            addr,
            hits,
            conns,
            task,
        }
    }

    /// An origin answering every request with a JSON echo of method, URI,
    /// version and headers.
    pub async fn echo() -> Origin {
        Origin::start(|req: Request<Incoming>| async move { echo_response(req).await }).await
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn conns(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }
}

pub async fn echo_response(req: Request<Incoming>) -> Response<Body> {
    let mut headers = serde_json::Map::new();
    for (k, v) in req.headers() {
        let entry = headers
            .entry(k.as_str().to_string())
            .or_insert_with(|| serde_json::Value::Array(vec![]));
        if let serde_json::Value::Array(a) = entry {
            a.push(serde_json::Value::String(
                v.to_str().unwrap_or("<bin>").to_string(),
            ));
        }
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let version = format!("{:?}", req.version());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    let v = serde_json::json!({ "method": method, "uri": uri, "version": version, "headers": headers, "body_len": body });
    Response::builder()
        .header("content-type", "application/json")
        .header("connection", "x-origin-hop")
        .header("x-origin-hop", "must be removed")
        .body(full(v.to_string()))
        .unwrap()
}

/// A port with nothing listening (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// HTTP/1.1 client with keep-alive.
pub fn h1_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// HTTP/2 cleartext (prior knowledge) client.
pub fn h2c_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

pub async fn get(url: &str) -> (StatusCode, http::HeaderMap, Bytes) {
    send(&h1_client(), Request::get(url).body(full("")).unwrap()).await
}

pub async fn send(
    client: &Client<HttpConnector, Body>,
    req: Request<Body>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let resp = client.request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

pub fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(b)))
}

/// Sends raw bytes and returns everything the server sends back until it
/// closes the connection or 2 s pass.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A self-signed certificate for `names`, written as PEM into `dir`.
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: Vec<u8>,
}

pub fn make_cert(dir: &Path, stem: &str, names: &[&str]) -> TestCert {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    TestCert {
        cert,
        key,
        der: ck.cert.der().to_vec(),
    }
}

/// A TLS client config that accepts any certificate (tests inspect which
/// certificate was presented instead) and offers the given ALPN protocols.
pub fn insecure_client(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    install_crypto();
    let mut cfg = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

#[derive(Debug)]
struct AcceptAll;

impl rustls::client::danger::ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Polls `f` every 10 ms until it returns true or 5 s pass.
pub async fn wait_until<F: FnMut() -> bool>(mut f: F) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Peak resident memory of this process, in KiB (VmHWM).
pub fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A config with one listener `main` on port 0 that proxies everything to
/// `origin` through pool `origin` (route `proxy`); no admin listener, no
/// access log. `pool_keys` adds lines to the pool; `sections` adds top-level
/// tables such as `[limits]`.
pub fn proxy_config(origin: SocketAddr, pool_keys: &str, sections: &str) -> String {
    format!(
        "{sections}\n[admin]\nenabled = false\n[access_log]\nenabled = false\n\
         [[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\n\
         [[pools]]\nname = \"origin\"\norigins = [\"{origin}\"]\n{pool_keys}\n\
         [[routes]]\nname = \"proxy\"\npool = \"origin\"\n"
    )
}

/// Like `wait_until` for an async condition: every 20 ms, for at most 5 s.
pub async fn wait_until_async<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..250 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A scripted reply: the bytes to write (in pieces, with a pause between
/// them, so heads and chunks arrive split) and whether to close afterwards.
pub struct Reply {
    pub pieces: Vec<Vec<u8>>,
    pub close: bool,
}

pub fn reply(bytes: &str, piece: usize, close: bool) -> Reply {
    Reply {
        pieces: bytes.as_bytes().chunks(piece).map(<[u8]>::to_vec).collect(),
        close,
    }
}

/// Starts an origin that reads request heads (requests carry no body) and
/// answers each with `script(method, path)`. Returns its address and the
/// number of connections it accepted.
pub async fn scripted<F>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(&str, &str) -> Reply + Send + Sync + 'static,
{
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    let script = Arc::new(script);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let script = script.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&got[..end]).into_owned();
                    got.drain(..end + 4);
                    let mut line = head.split(' ');
                    let (method, path) = (line.next().unwrap_or(""), line.next().unwrap_or(""));
                    let r = script(method, path);
                    for p in &r.pieces {
                        if s.write_all(p).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    if r.close {
                        let _ = s.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    (addr, conns)
}
