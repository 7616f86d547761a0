//! HTTP/1.1 to one backend without a per-connection task.
//!
//! hyper's pooled client runs every origin connection as its own task and
//! hands each request to it over a channel, which costs two task switches per
//! request. Here the request's own task drives the connection: while waiting
//! for the response head (`drive`) and while streaming the response body
//! (`DrivenBody` polls the connection before the body). Idle connections wait
//! in a per-backend LIFO stack; one that the origin closed meanwhile is found at
//! reuse and the request, not yet sent, is retried once on a new connection.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::body::{BoxError, LimitedBody};
use crate::pool::{InFlight, Transport};
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
    /// The backend's connection slot (`circuit_breaker.max_connections`),
    /// released when the connection is dropped.
    _slot: OwnedSemaphorePermit,
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

/// Why a request could not be sent. `request` is handed back when nothing of
/// it was written, so the caller may try another backend with it.
pub struct SendError {
    pub error: BoxError,
    pub request: Option<Request<LimitedBody>>,
}

/// The backend's connections are all busy and `max_pending` requests already
/// wait for one (circuit breaking).
#[derive(Debug, thiserror::Error)]
#[error("backend connection limit reached")]
pub struct Overflow;

/// One backend's idle connections and connection limit.
pub struct H1Pool {
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    connector: Connector,
    /// One permit per connection this backend may have open.
    slots: Arc<Semaphore>,
    /// Requests waiting for a slot, bounded by `max_pending`.
    pending: AtomicUsize,
    max_pending: usize,
    /// Signalled when a connection is parked, for requests waiting on a slot.
    parked: Notify,
}

impl H1Pool {
    pub fn new(
        max_idle: usize,
        idle_timeout: Duration,
        connector: Connector,
        max_connections: usize,
        max_pending: usize,
    ) -> Self {
        H1Pool {
            idle: Mutex::new(Vec::new()),
            max_idle,
            idle_timeout,
            connector,
            slots: Arc::new(Semaphore::new(max_connections)),
            pending: AtomicUsize::new(0),
            max_pending,
            parked: Notify::new(),
        }
    }

    /// How this backend is dialed (health checks use the same).
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    fn checkout(&self) -> Option<H1Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
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

    fn checkin(&self, conn: H1Conn) {
        if conn.finished() || conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
            drop(idle);
            self.parked.notify_one();
        }
    }

    /// An idle connection, or a slot for a new one. When every slot is taken
    /// the request waits (up to the connect timeout) unless `max_pending`
    /// requests already do.
    async fn reserve(&self) -> Result<Result<H1Conn, OwnedSemaphorePermit>, BoxError> {
        if let Some(c) = self.checkout() {
            return Ok(Ok(c));
        }
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(Err(p));
        }
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Overflow.into());
        }
        let waited = tokio::time::timeout(self.connector.timeout, async {
            loop {
                tokio::select! {
                    p = self.slots.clone().acquire_owned() => return p.map(Err),
                    () = self.parked.notified() => {
                        if let Some(c) = self.checkout() {
                            return Ok(Ok(c));
                        }
                    }
                }
            }
        })
        .await;
        self.pending.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(r)) => Ok(r),
            _ => Err(Overflow.into()),
        }
    }

    async fn dial(&self, slot: OwnedSemaphorePermit) -> Result<H1Conn, BoxError> {
        let io = self.connector.connect().await?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await?;
        Ok(H1Conn {
            sender,
            conn: Some(Box::pin(conn.with_upgrades())),
            _slot: slot,
        })
    }

    /// Sends `req`, reusing an idle connection when there is one. Returns the
    /// response head and the connection, which must travel with the response
    /// body. A request never written (no connection, or a parked connection
    /// found closed twice) comes back in the error.
    pub async fn send(
        &self,
        mut req: Request<LimitedBody>,
    ) -> Result<(Response<Incoming>, H1Conn), SendError> {
        let mut retried = false;
        loop {
            let (mut c, reused) = match self.reserve().await {
                Ok(Ok(c)) => (c, true),
                Ok(Err(slot)) => match self.dial(slot).await {
                    Ok(c) => (c, false),
                    Err(error) => return Err(unsent(error, req)),
                },
                Err(error) => return Err(unsent(error, req)),
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
                let error = ready
                    .err()
                    .map_or_else(|| "connection closed".into(), Into::into);
                return Err(unsent(error, req));
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
                    Some(r) => return Err(unsent(e.into_error().into(), r)),
                    None => {
                        return Err(SendError {
                            error: e.into_error().into(),
                            request: None,
                        });
                    }
                },
            }
        }
    }
}

fn unsent(error: BoxError, req: Request<LimitedBody>) -> SendError {
    SendError {
        error,
        request: Some(req),
    }
}

/// An origin response body that keeps driving its connection and returns the
/// connection to the idle stack when the body has been read to the end.
pub struct DrivenBody {
    inner: Incoming,
    conn: Option<H1Conn>,
    /// The backend the connection goes back to; also keeps the request
    /// counted in flight until the body ends.
    home: Option<InFlight>,
}

impl DrivenBody {
    pub fn new(inner: Incoming, conn: H1Conn, home: InFlight) -> Self {
        DrivenBody {
            inner,
            conn: Some(conn),
            home: Some(home),
        }
    }

    fn release(&mut self) {
        if let (Some(conn), Some(home)) = (self.conn.take(), self.home.take())
            && let Transport::Http1(h1) = &home.backend().transport
        {
            h1.checkin(conn);
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
