//! HTTP/1.1 to one backend on Outpost's own client codec (`h1codec`).
//!
//! The request's own task does all the work: it writes the request head
//! (and body, watching for an early response while it does), reads the
//! response head, and its response body ([`H1Body`]) reads the origin's
//! body from the same connection and puts the connection back on the
//! backend's idle stack once the body has ended. No connection task, no
//! channels: hyper's client spent two task switches, a channel and a
//! oneshot per request; replacing it cut a proxied request's user time by
//! about a third (31–34 µs to 21–25 µs side by side).
//!
//! Idle connections wait in a per-backend LIFO stack. One the origin closed
//! while it was parked is found at checkout (a read that does not block)
//! and skipped; a bodiless idempotent request that meets a connection
//! closed just after checkout is sent once more on a fresh connection.
//!
//! `max_idle` is the number of idle connections kept for good, not a cap
//! applied the moment a connection comes back: closing every connection
//! above it on return (what nginx's `keepalive N` does) makes bursty
//! traffic dial again a moment later, and at 256 concurrent requests over
//! a 64-connection cap half of all requests paid a connect and a close.
//! Connections above `max_idle` stay parked for [`SURPLUS_LINGER`] and are
//! then closed oldest first (HAProxy's `pool-purge-delay` idea), by the
//! next checkin or checkout or by the pool's sweep ([`H1Pool::sweep`]),
//! which also closes connections idle past `idle_timeout`. Every parked
//! connection holds one of the backend's `max_connections` slots, so the
//! stack never exceeds that.
//!
//! Bounds: per connection a read buffer of at most one response head
//! (`h1codec::MAX_HEAD_BYTES`) plus [`READ_CHUNK`], and a write buffer of
//! at most [`WRITE_HIGH`] plus one body frame.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::io::poll_read_buf;

use crate::body::{BoxError, LimitedBody};
use crate::h1codec::{
    self, ChunkedDecoder, Decoded, ParseError, RequestFraming, ResponseFraming, ResponseHead,
};
use crate::pool::{InFlight, Transport};
use crate::upstream::{Connector, MaybeTls};

/// Bytes read from an origin per read call (at most). 16 KiB.
pub const READ_CHUNK: usize = 16 * 1024;
/// Request bytes buffered before writing to the origin. 64 KiB.
pub const WRITE_HIGH: usize = 64 * 1024;
/// How long a connection above `max_idle_per_origin` stays parked before
/// it is closed. 2 s.
pub const SURPLUS_LINGER: Duration = Duration::from_secs(2);

/// Why an exchange with the origin failed.
#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    #[error("origin connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("origin closed the connection before a complete response")]
    Closed,
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The client's request body failed (client gone, or over the limit).
    #[error("request body")]
    RequestBody(#[source] BoxError),
}

/// One origin connection and its read buffer.
pub struct H1Conn {
    io: MaybeTls,
    buf: BytesMut,
    /// The backend's connection slot (`circuit_breaker.max_connections`),
    /// released when the connection is dropped.
    _slot: OwnedSemaphorePermit,
}

impl H1Conn {
    fn new(io: MaybeTls, slot: OwnedSemaphorePermit) -> Self {
        H1Conn {
            io,
            buf: BytesMut::new(),
            _slot: slot,
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` is the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Whether a parked connection can no longer be used: the origin closed
    /// it, reset it, or sent bytes nobody asked for. Does not block; with
    /// tokio's readiness tracking it costs no system call when nothing
    /// arrived.
    fn unusable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        !self.buf.is_empty() || self.poll_fill(&mut cx).is_ready()
    }

    /// The connection as a byte stream after a `101`, with whatever the
    /// origin already sent after the response head.
    pub fn into_upgraded(self) -> Upgraded {
        Upgraded {
            io: self.io,
            pre: self.buf.freeze(),
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
    /// Parked connections, oldest at the front; checkout takes the newest.
    idle: Mutex<VecDeque<Idle>>,
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
            idle: Mutex::new(VecDeque::new()),
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
        let now = Instant::now();
        loop {
            let (mut i, surplus) = {
                let mut idle = self.lock_idle();
                let i = idle.pop_back()?;
                (i, self.trim(&mut idle, now))
            };
            // Dropped outside the lock: closing a socket is a system call.
            drop(surplus);
            if now.saturating_duration_since(i.since) < self.idle_timeout && !i.conn.unusable() {
                return Some(i.conn);
            }
        }
    }

    fn checkin(&self, conn: H1Conn) {
        let now = Instant::now();
        let surplus = {
            let mut idle = self.lock_idle();
            idle.push_back(Idle { conn, since: now });
            self.trim(&mut idle, now)
        };
        self.parked.notify_one();
        drop(surplus);
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes out the oldest parked connection when there are more than
    /// `max_idle` and it has waited [`SURPLUS_LINGER`]; one per call, so
    /// a checkin or checkout never closes more than one socket.
    fn trim(&self, idle: &mut VecDeque<Idle>, now: Instant) -> Option<Idle> {
        let waited = now.saturating_duration_since(idle.front()?.since);
        if self.surplus(idle.len(), waited) {
            idle.pop_front()
        } else {
            None
        }
    }

    /// Whether the oldest of `parked` connections, parked for `waited`, is
    /// one too many and has lingered long enough to close.
    fn surplus(&self, parked: usize, waited: Duration) -> bool {
        parked > self.max_idle && waited >= SURPLUS_LINGER
    }

    /// Closes parked connections idle past `idle_timeout`, and those above
    /// `max_idle` parked for [`SURPLUS_LINGER`]: the pool's maintenance
    /// task calls this every second so an idle backend does not hold
    /// sockets the origin may have closed. Returns how many stay parked.
    pub fn sweep(&self, now: Instant) -> usize {
        let (closed, parked) = {
            let mut idle = self.lock_idle();
            let mut closed = Vec::new();
            while let Some(oldest) = idle.front() {
                let waited = now.saturating_duration_since(oldest.since);
                if !self.surplus(idle.len(), waited) && waited < self.idle_timeout {
                    break;
                }
                closed.extend(idle.pop_front());
            }
            (closed, idle.len())
        };
        // Closed outside the lock.
        drop(closed);
        parked
    }

    /// An idle connection (`true`: reused) or a new one. The slow path is
    /// boxed: waiting for a slot and dialing are large futures that would
    /// otherwise enlarge every request's future, which is moved by value.
    async fn connection(&self) -> Result<(H1Conn, bool), BoxError> {
        if let Some(c) = self.checkout() {
            return Ok((c, true));
        }
        Box::pin(async {
            match self.reserve().await? {
                Ok(c) => Ok((c, true)),
                Err(slot) => Ok((self.dial(slot).await?, false)),
            }
        })
        .await
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
        let io = self.connector.connect_io().await?;
        Ok(H1Conn::new(io, slot))
    }

    /// Sends `req` with `target` (origin-form) as its request line,
    /// reusing an idle connection when there is one, and returns the
    /// response head with a body that owns the connection. A request never
    /// written comes back in the error.
    pub async fn send(
        &self,
        req: Request<LimitedBody>,
        target: &str,
    ) -> Result<Response<H1Body>, SendError> {
        let (mut c, reused) = match self.connection().await {
            Ok(c) => c,
            Err(error) => return Err(unsent(error, req)),
        };
        let (parts, mut body) = req.into_parts();
        let framing = if body.is_end_stream() {
            RequestFraming::Empty
        } else {
            match body.size_hint().exact() {
                Some(n) => RequestFraming::Length(n),
                None => RequestFraming::Chunked,
            }
        };
        let mut out = BytesMut::new();
        h1codec::encode_request_head(&mut out, &parts.method, target, &parts.headers, framing);
        let head_request = parts.method == Method::HEAD;
        let sent = if framing == RequestFraming::Empty {
            let head = out.freeze();
            let mut r = exchange_bodiless(&mut c, &head, head_request).await;
            // A parked connection the origin closed after our check: nothing
            // was answered, so an idempotent request goes once more on a new
            // connection.
            if reused
                && matches!(&r, Err(H1Error::Closed | H1Error::Io(_)))
                && is_idempotent(&parts.method)
            {
                drop(c);
                c = match self.connection().await {
                    Ok((c, _)) => c,
                    Err(error) => return Err(failed(error)),
                };
                r = exchange_bodiless(&mut c, &head, head_request).await;
            }
            r
        } else {
            match upload(&mut c, out, &mut body, framing, head_request).await {
                Ok(Some(head)) => Ok(head),
                Ok(None) => read_head(&mut c, head_request).await,
                Err(e) => Err(e),
            }
        };
        let head = match sent {
            Ok(h) => h,
            Err(e) => return Err(failed(e.into())),
        };
        let mut resp = Response::new(H1Body::new(c, &head));
        *resp.status_mut() = head.status;
        *resp.version_mut() = head.version;
        *resp.headers_mut() = head.headers;
        Ok(resp)
    }
}

fn unsent(error: BoxError, req: Request<LimitedBody>) -> SendError {
    SendError {
        error,
        request: Some(req),
    }
}

fn failed(error: BoxError) -> SendError {
    SendError {
        error,
        request: None,
    }
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

async fn exchange_bodiless(
    c: &mut H1Conn,
    head: &Bytes,
    head_request: bool,
) -> Result<ResponseHead, H1Error> {
    write_all(c, head).await?;
    read_head(c, head_request).await
}

async fn write_all(c: &mut H1Conn, mut data: &[u8]) -> Result<(), H1Error> {
    poll_fn(|cx| {
        while !data.is_empty() {
            let n = ready!(Pin::new(&mut c.io).poll_write(cx, data))?;
            if n == 0 {
                return Poll::Ready(Err(H1Error::Closed));
            }
            data = &data[n..];
        }
        Pin::new(&mut c.io).poll_flush(cx).map_err(H1Error::from)
    })
    .await
}

async fn read_head(c: &mut H1Conn, head_request: bool) -> Result<ResponseHead, H1Error> {
    poll_fn(|cx| {
        loop {
            if !c.buf.is_empty()
                && let Some(h) = h1codec::parse_response_head(&mut c.buf, head_request)?
            {
                return Poll::Ready(Ok(h));
            }
            if ready!(c.poll_fill(cx))? == 0 {
                return Poll::Ready(Err(H1Error::Closed));
            }
        }
    })
    .await
}

/// Writes the head and streams the body. Returns a response head if the
/// origin answered before the body was sent (then the rest is not sent and
/// the connection is not reused).
async fn upload(
    c: &mut H1Conn,
    mut out: BytesMut,
    body: &mut LimitedBody,
    framing: RequestFraming,
    head_request: bool,
) -> Result<Option<ResponseHead>, H1Error> {
    let chunked = framing == RequestFraming::Chunked;
    let mut body_done = false;
    let mut body = Pin::new(body);
    let mut early = poll_fn(|cx| {
        loop {
            let mut progress = false;
            // An early answer (an error status, typically) ends the upload.
            match c.poll_fill(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(H1Error::Closed)),
                Poll::Ready(Ok(_)) => {
                    if let Some(h) = h1codec::parse_response_head(&mut c.buf, head_request)? {
                        return Poll::Ready(Ok(Some(h)));
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {}
            }
            while !body_done && out.len() < WRITE_HIGH {
                match body.as_mut().poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        match frame.into_data() {
                            Ok(data) if chunked => h1codec::encode_chunk(&mut out, &data),
                            Ok(data) => out.extend_from_slice(&data),
                            // Trailers end the body; a length-framed body
                            // has no place for them.
                            Err(frame) => {
                                if let (true, Ok(t)) = (chunked, frame.into_trailers()) {
                                    h1codec::encode_last_chunk(&mut out, &t);
                                    body_done = true;
                                }
                            }
                        }
                        progress = true;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Err(H1Error::RequestBody(e)));
                    }
                    Poll::Ready(None) => {
                        body_done = true;
                        if chunked {
                            out.extend_from_slice(h1codec::LAST_CHUNK);
                        }
                        progress = true;
                    }
                    Poll::Pending => break,
                }
            }
            if !out.is_empty() {
                match Pin::new(&mut c.io).poll_write(cx, &out) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(H1Error::Closed)),
                    Poll::Ready(Ok(n)) => {
                        out.advance(n);
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Pending => {}
                }
            }
            if out.is_empty() {
                // Flush what a TLS layer holds whenever the client body waits.
                match Pin::new(&mut c.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) if body_done => return Poll::Ready(Ok(None)),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    _ => {}
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    })
    .await?;
    if early.is_some() && !body_done {
        if let Some(h) = &mut early {
            h.reusable = false;
        }
    }
    Ok(early)
}

/// An origin response body read from its connection; at its end the
/// connection goes back to the backend's idle stack (when the response
/// allows reuse). Dropped early, it closes the connection.
pub struct H1Body {
    conn: Option<H1Conn>,
    state: BodyState,
    reusable: bool,
    /// The backend the connection goes back to; also keeps the request
    /// counted in flight until the body ends.
    home: Option<InFlight>,
}

enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
    Close,
    Upgrade,
    Done,
}

impl H1Body {
    fn new(conn: H1Conn, head: &ResponseHead) -> Self {
        let state = match head.framing {
            ResponseFraming::Empty | ResponseFraming::Length(0) => BodyState::Done,
            ResponseFraming::Length(n) => BodyState::Length(n),
            ResponseFraming::Chunked => BodyState::Chunked(ChunkedDecoder::default()),
            ResponseFraming::Close => BodyState::Close,
            ResponseFraming::Upgrade => BodyState::Upgrade,
        };
        H1Body {
            conn: Some(conn),
            state,
            reusable: head.reusable,
            home: None,
        }
    }

    /// Attaches the backend the request is counted against; the connection
    /// returns there. A body that ended already releases at once.
    pub fn set_home(&mut self, home: InFlight) {
        self.home = Some(home);
        if matches!(self.state, BodyState::Done) {
            self.release();
        }
    }

    /// The connection after a `101 Switching Protocols`.
    pub fn take_upgraded(&mut self) -> Option<Upgraded> {
        if !matches!(self.state, BodyState::Upgrade) {
            return None;
        }
        self.state = BodyState::Done;
        self.reusable = false;
        self.conn.take().map(H1Conn::into_upgraded)
    }

    fn release(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !self.reusable || !conn.buf.is_empty() {
            return;
        }
        if let Some(home) = &self.home
            && let Transport::Http1(h1) = &home.backend().transport
        {
            h1.checkin(conn);
        }
    }

    /// The body ended (with the origin's trailers, if it sent any): the
    /// connection goes back to the pool.
    fn end(
        &mut self,
        trailers: Option<http::HeaderMap>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = BodyState::Done;
        if self.home.is_some() {
            self.release();
        }
        Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))))
    }

    fn fail(&mut self, e: H1Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = BodyState::Done;
        self.conn = None;
        Poll::Ready(Some(Err(e.into())))
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(c) = &mut this.conn else {
                return Poll::Ready(None);
            };
            match &mut this.state {
                BodyState::Done | BodyState::Upgrade => return Poll::Ready(None),
                BodyState::Length(left) => {
                    if !c.buf.is_empty() {
                        let n = (c.buf.len() as u64).min(*left) as usize;
                        let data = c.buf.split_to(n).freeze();
                        *left -= n as u64;
                        if *left == 0 {
                            this.state = BodyState::Done;
                            if this.home.is_some() {
                                this.release();
                            }
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                BodyState::Chunked(dec) => match dec.decode(&mut c.buf) {
                    Ok(Decoded::Data(d)) => return Poll::Ready(Some(Ok(Frame::data(d)))),
                    Ok(Decoded::End) => {
                        let trailers = dec.take_trailers();
                        return this.end(trailers);
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => return this.fail(e.into()),
                },
                BodyState::Close => {
                    if !c.buf.is_empty() {
                        let data = c.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
            }
            match ready!(c.poll_fill(cx)) {
                Ok(0) if matches!(this.state, BodyState::Close) => return this.end(None),
                Ok(0) => return this.fail(H1Error::Closed),
                Ok(_) => {}
                Err(e) => return this.fail(e.into()),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, BodyState::Done | BodyState::Upgrade)
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            BodyState::Length(n) => SizeHint::with_exact(n),
            BodyState::Done | BodyState::Upgrade => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for H1Body {
    fn drop(&mut self) {
        // A body read to its end leaves a reusable connection; one cut short
        // leaves it mid-message, and dropping it closes it.
        if matches!(self.state, BodyState::Done) {
            self.release();
        }
    }
}

/// An origin connection after `101 Switching Protocols`: the bytes the
/// origin sent after the head come first, then the socket.
pub struct Upgraded {
    io: MaybeTls,
    pre: Bytes,
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
