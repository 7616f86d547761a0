//! Response bodies: one enum for every source (fixed bytes, origin stream, file)
//! so the hot path never boxes, and `CountedBody`/`LimitedBody` wrappers that
//! count bytes for the access log and enforce the request body limit while
//! streaming (nothing is buffered whole).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, ReadBuf};

use crate::observe::Pending;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bytes read from a file per body frame. 64 KiB.
const FILE_CHUNK: usize = 64 * 1024;

/// A response body from any source.
pub enum OutBody {
    Empty,
    Full(Option<Bytes>),
    /// An origin body from hyper's client; the guard keeps the request
    /// counted in flight on its backend until the body is done.
    Upstream(Incoming, Option<crate::pool::InFlight>),
    /// An HTTP/1.1 origin body read from its connection (`h1pool`).
    H1(crate::h1pool::H1Body),
    File(FileBody),
    /// A stored object's bytes, or a range of them (`cache`).
    Cached(crate::cache::CachedBody),
    /// An origin body that also feeds a cache fill (boxed: it holds an
    /// `OutBody` itself).
    Tee(Box<crate::cache::TeeBody>),
    /// Another request's fill, streamed as it arrives (coalesced misses).
    Follow(crate::cache::FollowBody),
}

impl OutBody {
    pub fn full(b: impl Into<Bytes>) -> Self {
        OutBody::Full(Some(b.into()))
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            OutBody::Empty => Poll::Ready(None),
            OutBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            OutBody::Upstream(inc, _) => Pin::new(inc).poll_frame(cx).map_err(Into::into),
            OutBody::H1(d) => Pin::new(d).poll_frame(cx),
            OutBody::File(f) => f.poll_chunk(cx),
            OutBody::Cached(c) => Poll::Ready(c.next_chunk().map(|b| Ok(Frame::data(b)))),
            OutBody::Tee(t) => Pin::new(&mut **t).poll_frame(cx),
            OutBody::Follow(f) => Pin::new(f).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Empty => true,
            OutBody::Full(b) => b.is_none(),
            OutBody::Upstream(inc, _) => inc.is_end_stream(),
            OutBody::H1(d) => d.is_end_stream(),
            OutBody::File(f) => f.remaining == 0,
            OutBody::Cached(c) => c.is_end_stream(),
            OutBody::Tee(t) => t.is_end_stream(),
            OutBody::Follow(f) => f.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Empty => SizeHint::with_exact(0),
            OutBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            OutBody::Upstream(inc, _) => inc.size_hint(),
            OutBody::H1(d) => d.size_hint(),
            OutBody::File(f) => SizeHint::with_exact(f.remaining),
            OutBody::Cached(c) => SizeHint::with_exact(c.remaining()),
            OutBody::Tee(t) => t.size_hint(),
            OutBody::Follow(f) => f.size_hint(),
        }
    }
}

/// Streams `remaining` bytes of an open file (already positioned) in chunks.
pub struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl FileBody {
    pub fn new(file: tokio::fs::File, len: u64) -> Self {
        FileBody {
            file,
            remaining: len,
            buf: Vec::new(),
        }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = (self.remaining as usize).min(FILE_CHUNK);
        if self.buf.len() != want {
            self.buf = vec![0; want];
        }
        let mut rb = ReadBuf::new(&mut self.buf);
        ready!(Pin::new(&mut self.file).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            return Poll::Ready(Some(Err("file shrank while being served".into())));
        }
        self.remaining -= n as u64;
        let mut chunk = std::mem::take(&mut self.buf);
        chunk.truncate(n);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }
}

/// Returned when a request body exceeds `limits.max_body_bytes`; the pipeline
/// finds it in an error's source chain and answers 413.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds {limit} bytes")]
pub struct BodyTooLarge {
    pub limit: u64,
}

/// The client's request body on its way to the origin: counts bytes into a
/// shared counter (for the access log) and fails once the limit is passed.
pub struct LimitedBody {
    /// `None` for the empty body of a retried request rebuilt from its head.
    inner: Option<Incoming>,
    limit: u64,
    seen: u64,
    counter: Arc<AtomicU64>,
}

impl LimitedBody {
    pub fn new(inner: Incoming, limit: u64, counter: Arc<AtomicU64>) -> Self {
        LimitedBody {
            inner: Some(inner),
            limit,
            seen: 0,
            counter,
        }
    }

    /// An empty body (a request without one, sent again on another backend).
    pub fn empty() -> Self {
        LimitedBody {
            inner: None,
            limit: 0,
            seen: 0,
            counter: Arc::default(),
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(inner) = &mut self.inner else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        match frame {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    let n = d.len() as u64;
                    self.seen += n;
                    self.counter.fetch_add(n, Ordering::Relaxed);
                    if self.seen > self.limit {
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge {
                            limit: self.limit,
                        }))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

/// Wraps a response body, counting bytes sent and completing the request's
/// observation (access-log record, metrics) exactly once, when the body ends or
/// is dropped (client gone, HEAD, 304).
pub struct CountedBody {
    inner: OutBody,
    sent: u64,
    pending: Option<Pending>,
}

impl CountedBody {
    pub fn new(inner: OutBody, pending: Option<Pending>) -> Self {
        CountedBody {
            inner,
            sent: 0,
            pending,
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(p) = self.pending.take() {
            p.finish(self.sent, complete);
        }
    }
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    this.sent += d.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
            }
            Some(Err(_)) => this.finish(false),
            None => this.finish(true),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CountedBody {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}
