//! A write buffer under TLS on HTTP/2 connections, so the responses one
//! pass of the connection produces leave in one system call.
//!
//! The HTTP/2 codec flushes its transport after every DATA frame it hands
//! over (its `poll_ready` flushes whenever a payload is chained rather than
//! copied, which is any payload of 256 bytes or more), and tokio-rustls
//! writes every record to the socket as soon as it is sealed: a connection
//! answering ten streams in one pass made ten `sendto` calls of one 1 KiB
//! record each (strace, 12-06), one per response.
//!
//! [`Coalesce`] sits between the TLS stream and the socket. In
//! [`Coalesce::defer_flushes`] mode it keeps the records of one poll of the
//! connection's future and writes them at the first flush of a *later*
//! poll: the first flush that finds data marks the buffer with the current
//! poll's number (a counter the connection's task bumps on every poll, see
//! [`PollCount`]) and wakes the task, so a later poll comes even when no
//! byte arrives; the HTTP/2 connection flushes before every return to
//! `Pending`, so that later poll writes everything. Writes that would pass
//! [`CAPACITY`] drain the buffer first. Before the switch (during the TLS
//! handshake, and for the whole life of HTTP/1.1 connections, which
//! already write a whole response per call) it passes every call through.
//!
//! Bounds: at most [`CAPACITY`] bytes per connection, allocated on the
//! first buffered write and released when a write-out empties it, so an
//! idle keep-alive connection holds no buffer.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes buffered before they are written without waiting. 16 KiB (nginx's
/// `ssl_buffer_size` default).
pub const CAPACITY: usize = 16 * 1024;

/// Counts the polls of one connection's future; shared with its
/// [`Coalesce`].
#[derive(Clone, Default)]
pub struct PollCount(Arc<AtomicU32>);

impl PollCount {
    fn current(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Polls `fut`, counting the poll first.
    pub fn poll<F: Future + ?Sized>(
        &self,
        fut: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        self.0.fetch_add(1, Ordering::Relaxed);
        fut.poll(cx)
    }
}

pub struct Coalesce<T> {
    inner: T,
    buf: Vec<u8>,
    /// How much of `buf` is already written (a write-out cut short by a
    /// full socket resumes here).
    written: usize,
    /// Set by [`Coalesce::defer_flushes`]; `None` passes everything through.
    polls: Option<PollCount>,
    /// The poll in which buffered data was first held back.
    held_since: Option<u32>,
}

impl<T> Coalesce<T> {
    pub fn new(inner: T) -> Self {
        Coalesce {
            inner,
            buf: Vec::new(),
            written: 0,
            polls: None,
            held_since: None,
        }
    }

    /// From now on, flushes are held until a later poll of the future that
    /// `polls` counts (which must be the only future doing I/O on this).
    pub fn defer_flushes(&mut self, polls: PollCount) {
        self.polls = Some(polls);
    }

    fn is_empty(&self) -> bool {
        self.written >= self.buf.len()
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Writes out everything buffered, then frees the buffer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf = Vec::new();
        self.written = 0;
        self.held_since = None;
        Poll::Ready(Ok(()))
    }

    /// Makes room for `len` more bytes. `true`: they go in the buffer;
    /// `false`: they are written directly (pass-through mode, or too large
    /// to buffer; the buffer is empty then).
    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<bool>> {
        if self.polls.is_none() && self.is_empty() {
            return Poll::Ready(Ok(false));
        }
        if self.buf.len() + len > CAPACITY {
            ready!(self.poll_drain(cx))?;
        }
        if len >= CAPACITY {
            return Poll::Ready(Ok(false));
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(CAPACITY);
        }
        Poll::Ready(Ok(true))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if ready!(this.poll_room(cx, data.len()))? {
            this.buf.extend_from_slice(data);
            Poll::Ready(Ok(data.len()))
        } else {
            Pin::new(&mut this.inner).poll_write(cx, data)
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let len = bufs.iter().map(|b| b.len()).sum();
        if ready!(this.poll_room(cx, len))? {
            for b in bufs {
                this.buf.extend_from_slice(b);
            }
            Poll::Ready(Ok(len))
        } else {
            Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.is_empty()
            && let Some(polls) = &this.polls
        {
            let now = polls.current();
            match this.held_since {
                None => {
                    // Hold it for this poll; make sure a later one comes.
                    this.held_since = Some(now);
                    cx.waker().wake_by_ref();
                    return Poll::Ready(Ok(()));
                }
                Some(p) if p == now => return Poll::Ready(Ok(())),
                Some(_) => {}
            }
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::time::Duration;

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn nothing_arrives(b: &mut tokio::io::DuplexStream) -> bool {
        let mut probe = [0u8; 1];
        tokio::time::timeout(Duration::from_millis(50), b.read(&mut probe))
            .await
            .is_err()
    }

    #[tokio::test]
    async fn passes_through_until_told_to_defer() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = Coalesce::new(a);
        w.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        assert_eq!(w.buf.capacity(), 0);
    }

    #[tokio::test]
    async fn holds_flushes_within_a_poll_and_writes_them_in_the_next() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = Coalesce::new(a);
        let polls = PollCount::default();
        w.defer_flushes(polls.clone());

        // One poll of the "connection": three frames, each flushed.
        let mut woke = false;
        poll_fn(|cx| {
            polls.0.fetch_add(1, Ordering::Relaxed);
            for frame in [&b"one "[..], b"two ", b"three"] {
                assert!(Pin::new(&mut w).poll_write(cx, frame).is_ready());
                assert!(Pin::new(&mut w).poll_flush(cx).is_ready());
            }
            woke = true;
            Poll::Ready(())
        })
        .await;
        assert!(woke);
        assert!(nothing_arrives(&mut b).await, "held within the poll");

        // The next poll's flush writes all three at once.
        poll_fn(|cx| {
            polls.0.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut w).poll_flush(cx)
        })
        .await
        .unwrap();
        let mut got = vec![0u8; 13];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two three");
        assert_eq!(w.buf.capacity(), 0, "the buffer is released once drained");

        // Past the capacity: what is buffered goes first, then the large write.
        w.write_all(b"head").await.unwrap();
        let big = vec![b'x'; CAPACITY + 10];
        w.write_all(&big).await.unwrap();
        let mut got = vec![0u8; 4 + big.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..4], b"head");
        assert!(got[4..].iter().all(|&c| c == b'x'));
    }

    #[tokio::test]
    async fn a_held_flush_wakes_its_task() {
        let (a, _b) = tokio::io::duplex(1 << 20);
        let mut w = Coalesce::new(a);
        let polls = PollCount::default();
        w.defer_flushes(polls.clone());
        w.write_all(b"x").await.unwrap();
        let woken = Arc::new(AtomicU32::new(0));
        struct Count(Arc<AtomicU32>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let waker = std::task::Waker::from(Arc::new(Count(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut w).poll_flush(&mut cx).is_ready());
        assert_eq!(
            woken.load(Ordering::Relaxed),
            1,
            "a later poll is asked for"
        );
    }

    #[tokio::test]
    async fn a_full_peer_makes_writes_wait_not_grow() {
        let (a, _b) = tokio::io::duplex(64);
        let mut w = Coalesce::new(a);
        w.defer_flushes(PollCount::default());
        let chunk = [7u8; 1000];
        let res = tokio::time::timeout(Duration::from_millis(100), async {
            loop {
                w.write_all(&chunk).await.unwrap();
            }
        })
        .await;
        assert!(res.is_err(), "writes must block once the peer is full");
        assert!(w.buf.len() <= CAPACITY);
    }
}
