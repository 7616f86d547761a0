//! Phase 7, upstream transport: our own connector for one backend (connect
//! timeout, TCP_NODELAY, TLS with configurable SNI and verification, ALPN) so
//! that connect failures are typed, never guessed from message text, and the
//! classification of client errors into kinds. Pools, balancing and health
//! live in `pool`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::body::BodyTooLarge;
use crate::error::ErrorKind;
use crate::h1pool::H1Error;

/// Why a connection to an origin could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connecting to {0} failed")]
    Connect(String, #[source] std::io::Error),
    #[error("connecting to {0} timed out")]
    Timeout(String),
    #[error("TLS handshake with {0} failed")]
    Tls(String, #[source] std::io::Error),
}

impl ConnectError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConnectError::Timeout(_) => ErrorKind::ConnectTimeout,
            ConnectError::Tls(..) => ErrorKind::UpstreamTls,
            ConnectError::Connect(..) => ErrorKind::ConnectFailed,
        }
    }
}

/// Dials one backend: a fixed address, with TLS (SNI and verification for
/// the origin's name) when the pool has TLS. hyper's client calls it with the
/// request URI, whose authority is the origin's name and is not used to dial.
#[derive(Clone)]
pub struct Connector {
    pub addr: SocketAddr,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    pub timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = UpstreamIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<UpstreamIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect().await })
    }
}

impl Connector {
    /// TCP (and TLS) to the backend within the connect timeout.
    pub async fn connect(&self) -> Result<UpstreamIo, ConnectError> {
        match tokio::time::timeout(self.timeout, self.dial()).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout(self.addr.to_string())),
        }
    }

    /// The bare stream, for Outpost's own HTTP/1.1 client (`h1pool`).
    pub async fn connect_io(&self) -> Result<MaybeTls, ConnectError> {
        self.connect().await.map(|u| u.io.into_inner())
    }

    async fn dial(&self) -> Result<UpstreamIo, ConnectError> {
        let label = || self.addr.to_string();
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| ConnectError::Connect(label(), e))?;
        let _ = tcp.set_nodelay(true);
        let Some((tls, name)) = &self.tls else {
            return Ok(UpstreamIo {
                io: TokioIo::new(MaybeTls::Plain(tcp)),
                h2: false,
            });
        };
        let stream = tls
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| ConnectError::Tls(label(), e))?;
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
        if let Some(h) = e.downcast_ref::<H1Error>() {
            saw_user_body |= matches!(h, H1Error::RequestBody(_));
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
