//! Phase 7, upstream: pools of origins behind hyper's pooled client, with our own
//! connector (connect timeout, TCP_NODELAY, TLS with configurable SNI and
//! verification, ALPN) so that connect failures are typed, never guessed from
//! message text. Round-robin for now; the load-balancing work replaces `pick`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::{Authority, Scheme};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use outpost_config::{Pool, UpstreamProtocol};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::body::{BodyTooLarge, LimitedBody};
use crate::error::ErrorKind;

/// Why a connection to an origin could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("resolving {0} failed")]
    Resolve(String, #[source] std::io::Error),
    #[error("connecting to {0} failed")]
    Connect(String, #[source] std::io::Error),
    #[error("connecting to {0} timed out")]
    Timeout(String),
    #[error("TLS handshake with {0} failed")]
    Tls(String, #[source] std::io::Error),
    #[error("invalid origin URI")]
    BadUri,
}

impl ConnectError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConnectError::Timeout(_) => ErrorKind::ConnectTimeout,
            ConnectError::Tls(..) => ErrorKind::UpstreamTls,
            ConnectError::Resolve(..) | ConnectError::Connect(..) | ConnectError::BadUri => {
                ErrorKind::ConnectFailed
            }
        }
    }
}

/// Dials origins for one pool.
#[derive(Clone)]
pub struct Connector {
    tls: Option<(TlsConnector, Option<ServerName<'static>>)>,
    timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = UpstreamIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or(ConnectError::BadUri)?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().ok_or(ConnectError::BadUri)?;
            let label = format!("{host}:{port}");
            match tokio::time::timeout(this.timeout, this.dial(&host, port, &label)).await {
                Ok(r) => r,
                Err(_) => Err(ConnectError::Timeout(label)),
            }
        })
    }
}

impl Connector {
    async fn dial(&self, host: &str, port: u16, label: &str) -> Result<UpstreamIo, ConnectError> {
        let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| ConnectError::Resolve(label.to_string(), e))?
                .collect(),
        };
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or_else(|| ConnectError::Connect(label.to_string(), last))?;
        let _ = tcp.set_nodelay(true);
        let Some((tls, sni)) = &self.tls else {
            return Ok(UpstreamIo {
                io: TokioIo::new(MaybeTls::Plain(tcp)),
                h2: false,
            });
        };
        let name = match sni {
            Some(n) => n.clone(),
            None => ServerName::try_from(host.to_string()).map_err(|_| ConnectError::BadUri)?,
        };
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectError::Tls(label.to_string(), e))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(UpstreamIo {
            io: TokioIo::new(MaybeTls::Tls(Box::new(stream))),
            h2,
        })
    }
}

/// A connection to an origin, plain or TLS.
pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// What hyper's client drives: the connection plus whether ALPN chose h2.
pub struct UpstreamIo {
    io: TokioIo<MaybeTls>,
    h2: bool,
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        let c = Connected::new();
        if self.h2 { c.negotiated_h2() } else { c }
    }
}

impl Read for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// One origin of a pool: the URI prefix requests are sent to.
pub struct Target {
    pub scheme: Scheme,
    pub authority: Authority,
    /// `host:port` for logs.
    pub label: String,
}

/// A pool's runtime: its origins, how it reaches them, and the round-robin
/// cursor.
pub struct UpstreamPool {
    pub config: Pool,
    pub targets: Vec<Target>,
    next: AtomicUsize,
    pub transport: Transport,
}

/// How a pool reaches its origins.
pub enum Transport {
    /// HTTP/1.1-only pools: the task-free path (`h1pool`).
    Http1(crate::h1pool::H1Pool),
    /// HTTP/2 and ALPN-negotiated pools: hyper's pooled client.
    Pooled(Box<Client<Connector, LimitedBody>>),
}

impl UpstreamPool {
    pub fn new(config: &Pool) -> Result<Arc<Self>, String> {
        let tls = match &config.tls {
            None => None,
            Some(t) => {
                let cc = crate::tls::client_config(t, config.protocol)?;
                let sni = match &t.sni {
                    Some(n) => Some(ServerName::try_from(n.clone()).map_err(|e| e.to_string())?),
                    None => None,
                };
                Some((TlsConnector::from(cc), sni))
            }
        };
        let scheme = if tls.is_some() {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let connector = Connector {
            tls,
            timeout: config.connect_timeout,
        };
        let transport = if config.protocol == UpstreamProtocol::Http1 {
            Transport::Http1(crate::h1pool::H1Pool::new(
                config.origins.len(),
                config.max_idle_per_origin,
                config.idle_timeout,
                connector,
            ))
        } else {
            let mut b = Client::builder(TokioExecutor::new());
            b.timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(config.idle_timeout)
                .pool_max_idle_per_host(config.max_idle_per_origin)
                .set_host(true)
                .http2_only(config.protocol == UpstreamProtocol::Http2);
            Transport::Pooled(Box::new(b.build(connector)))
        };
        let targets = config
            .origins
            .iter()
            .map(|o| {
                let label = o.to_string();
                let authority = label
                    .parse::<Authority>()
                    .map_err(|e| format!("origin {label}: {e}"))?;
                Ok(Target {
                    scheme: scheme.clone(),
                    authority,
                    label,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Arc::new(UpstreamPool {
            config: config.clone(),
            targets,
            next: AtomicUsize::new(0),
            transport,
        }))
    }

    /// Round-robin choice of the next origin: its index and address.
    pub fn pick(&self) -> (usize, &Target) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len();
        (i, &self.targets[i])
    }
}

/// Classifies a client error by walking its source chain for our typed errors.
pub fn classify(err: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut is_connect = false;
    let mut saw_user_body = false;
    while let Some(e) = src {
        if let Some(c) = e.downcast_ref::<ConnectError>() {
            return c.kind();
        }
        if e.downcast_ref::<BodyTooLarge>().is_some() {
            return ErrorKind::BodyTooLarge;
        }
        if let Some(l) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            is_connect |= l.is_connect();
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_user() {
                saw_user_body = true;
            }
            if h.is_timeout() {
                return ErrorKind::ResponseTimeout;
            }
        }
        src = e.source();
    }
    if saw_user_body {
        ErrorKind::ClientBody
    } else if is_connect {
        ErrorKind::ConnectFailed
    } else {
        ErrorKind::UpstreamProtocol
    }
}
