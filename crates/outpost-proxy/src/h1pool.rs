//! HTTP/1.1 to origins without a per-connection task.
//!
//! hyper's pooled client runs every origin connection as its own task and
//! hands each request to it over a channel, which costs two task switches per
//! request. Here the request's own task drives the connection: while waiting
//! for the response head (`drive`) and while streaming the response body
//! (`DrivenBody` polls the connection before the body). Idle connections wait
//! in a per-origin LIFO stack; one that the origin closed meanwhile is found at
//! reuse and the request, not yet sent, is retried once on a new connection.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use crate::body::{BoxError, LimitedBody};
use crate::upstream::Connector;

/// hyper's upgradeable connection future (its type is not nameable).
type Conn = dyn Future<Output = hyper::Result<()>> + Send;

/// One origin connection: the request handle and the connection state machine.
pub struct H1Conn {
    sender: SendRequest<LimitedBody>,
    /// `None` once the connection future has finished (closed or upgraded). It
    /// is dropped at once: it owns the dispatcher, and only dropping it tells
    /// a waiting request or body that the connection is gone.
    conn: Option<Pin<Box<Conn>>>,
}

impl H1Conn {
    /// Polls the connection so it makes I/O progress.
    fn poll_conn(&mut self, cx: &mut Context<'_>) {
        if let Some(c) = &mut self.conn
            && c.as_mut().poll(cx).is_ready()
        {
            self.conn = None;
        }
    }

    fn finished(&self) -> bool {
        self.conn.is_none()
    }

    /// Drives the connection to completion (for protocol upgrades, whose I/O
    /// is handed over when the connection future ends).
    pub async fn run(self) {
        if let Some(c) = self.conn {
            let _ = c.await;
        }
    }
}

struct Idle {
    conn: H1Conn,
    since: Instant,
}

/// Idle connections per origin (index into the pool's targets).
pub struct H1Pool {
    idle: Vec<Mutex<Vec<Idle>>>,
    max_idle: usize,
    idle_timeout: Duration,
    connector: Connector,
}

impl H1Pool {
    pub fn new(
        origins: usize,
        max_idle: usize,
        idle_timeout: Duration,
        connector: Connector,
    ) -> Self {
        H1Pool {
            idle: (0..origins).map(|_| Mutex::new(Vec::new())).collect(),
            max_idle,
            idle_timeout,
            connector,
        }
    }

    fn checkout(&self, target: usize) -> Option<H1Conn> {
        let mut idle = self.idle[target].lock().unwrap_or_else(|p| p.into_inner());
        while let Some(i) = idle.pop() {
            if i.since.elapsed() < self.idle_timeout
                && !i.conn.finished()
                && !i.conn.sender.is_closed()
            {
                return Some(i.conn);
            }
        }
        None
    }

    fn checkin(&self, target: usize, conn: H1Conn) {
        if conn.finished() || conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle[target].lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    async fn dial(&self, uri: &Uri) -> Result<H1Conn, BoxError> {
        let io = tower_service::Service::call(&mut self.connector.clone(), uri.clone()).await?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await?;
        Ok(H1Conn {
            sender,
            conn: Some(Box::pin(conn.with_upgrades())),
        })
    }

    /// Sends `req` to origin `target` (reached at `uri`), reusing an idle
    /// connection when there is one. Returns the response head and the
    /// connection, which must travel with the response body.
    pub async fn send(
        &self,
        target: usize,
        uri: &Uri,
        mut req: Request<LimitedBody>,
    ) -> Result<(Response<Incoming>, H1Conn), BoxError> {
        let mut retried = false;
        loop {
            let (mut c, reused) = match self.checkout(target) {
                Some(c) => (c, true),
                None => (self.dial(uri).await?, false),
            };
            let ready = poll_fn(|cx| {
                c.poll_conn(cx);
                c.sender.poll_ready(cx)
            })
            .await;
            if ready.is_err() || c.finished() {
                if reused {
                    // Closed while parked and found before anything was sent:
                    // discard it and take the next (each pass pops one, so
                    // this ends at a fresh dial).
                    continue;
                }
                return Err(ready
                    .err()
                    .map_or_else(|| "connection closed".into(), Into::into));
            }
            let fut = c.sender.try_send_request(req);
            let mut fut = std::pin::pin!(fut);
            let res = poll_fn(|cx| {
                c.poll_conn(cx);
                fut.as_mut().poll(cx)
            })
            .await;
            match res {
                Ok(resp) => return Ok((resp, c)),
                Err(mut e) => match e.take_message() {
                    // Never written: safe to try once more on a fresh connection.
                    Some(r) if reused && !retried => {
                        retried = true;
                        req = r;
                    }
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }
}

/// An origin response body that keeps driving its connection and returns the
/// connection to the idle stack when the body has been read to the end.
pub struct DrivenBody {
    inner: Incoming,
    conn: Option<H1Conn>,
    home: Option<(Arc<crate::upstream::UpstreamPool>, usize)>,
}

impl DrivenBody {
    pub fn new(
        inner: Incoming,
        conn: H1Conn,
        pool: Arc<crate::upstream::UpstreamPool>,
        target: usize,
    ) -> Self {
        DrivenBody {
            inner,
            conn: Some(conn),
            home: Some((pool, target)),
        }
    }

    fn release(&mut self) {
        if let (Some(conn), Some((pool, target))) = (self.conn.take(), self.home.take())
            && let crate::upstream::Transport::Http1(h1) = &pool.transport
        {
            h1.checkin(target, conn);
        }
    }
}

impl Body for DrivenBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(c) = &mut this.conn {
            c.poll_conn(cx);
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            None => this.release(),
            Some(Ok(_)) if this.inner.is_end_stream() => this.release(),
            Some(Err(_)) => this.conn = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for DrivenBody {
    fn drop(&mut self) {
        // A body read to its end leaves a reusable connection; a body cut short
        // leaves one in an unknown state, which is closed by dropping it.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}
