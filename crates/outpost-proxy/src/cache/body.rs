//! The cache's response bodies: a stored object's chunks (`CachedBody`,
//! zero-copy slices of the stored `Bytes`), an origin body that feeds a
//! fill as the client reads it (`TeeBody`: the client's reads pull from
//! the origin, so backpressure is the client's and nothing is buffered
//! outside the fill's own bounded buffer), and a coalesced request's view
//! of another request's fill (`FollowBody`).

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use outpost_cache::{FillError, FillReader, FillWriter, Object};

use super::Resume;
use crate::body::{BoxError, OutBody};

/// How long a fill whose leading client went away keeps reading the
/// origin in the background so the object is still stored (and its
/// coalesced followers still answered). 60 s.
pub const BACKGROUND_FILL_TIMEOUT: Duration = Duration::from_secs(60);

/// The part of `chunk`, which starts at body offset `start`, that lies
/// inside `range`; `None` when none of it does.
fn clip(chunk: &Bytes, start: u64, range: &Range<u64>) -> Option<Bytes> {
    let end = start + chunk.len() as u64;
    let from = range.start.max(start);
    let to = range.end.min(end);
    // Both bounds lie inside this chunk, so the casts cannot truncate.
    (from < to).then(|| chunk.slice((from - start) as usize..(to - start) as usize))
}

/// A stored object's body, or one range of it.
pub struct CachedBody {
    object: Arc<Object>,
    range: Range<u64>,
    /// Index of the next stored chunk to look at.
    next: usize,
    /// Body offset where that chunk starts.
    offset: u64,
}

impl CachedBody {
    pub fn new(object: Arc<Object>, range: Range<u64>) -> Self {
        CachedBody {
            object,
            range,
            next: 0,
            offset: 0,
        }
    }

    /// The next slice inside the range, `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        let chunks = self.object.body();
        while let Some(chunk) = chunks.get(self.next) {
            let start = self.offset;
            self.next += 1;
            self.offset = start + chunk.len() as u64;
            if start >= self.range.end {
                break;
            }
            if let Some(part) = clip(chunk, start, &self.range) {
                return Some(part);
            }
        }
        self.next = chunks.len();
        None
    }

    pub fn is_end_stream(&self) -> bool {
        self.next >= self.object.body().len() || self.offset >= self.range.end
    }

    /// Bytes still to send.
    pub fn remaining(&self) -> u64 {
        if self.is_end_stream() {
            return 0;
        }
        self.range.end - self.range.start.max(self.offset)
    }
}

/// An origin body streamed to the client while each chunk is also handed
/// to the fill. Ends the fill (storing the object) at the end of the body;
/// an origin error aborts it. If the client goes away first, the rest is
/// read in the background (bounded by `limit` and
/// [`BACKGROUND_FILL_TIMEOUT`]) so the fill still completes.
pub struct TeeBody {
    inner: OutBody,
    writer: Option<FillWriter>,
    pushed: u64,
    /// Body bytes past which the fill cannot be stored anyway.
    limit: u64,
    /// The client's `Range`, when it asked for part of the body.
    range: Option<Range<u64>>,
}

impl TeeBody {
    pub fn new(inner: OutBody, writer: FillWriter, limit: u64) -> Self {
        TeeBody {
            inner,
            writer: Some(writer),
            pushed: 0,
            limit,
            range: None,
        }
    }

    /// An origin body that is not stored, only windowed (with
    /// [`window`](Self::window)) to the client's `Range`: nothing is read
    /// past what the client takes.
    pub fn without_fill(inner: OutBody) -> Self {
        TeeBody {
            inner,
            writer: None,
            pushed: 0,
            limit: 0,
            range: None,
        }
    }

    /// Sends the client only these body bytes; the fill still gets all of
    /// them (the rest in the background once the range is sent).
    pub fn window(mut self, range: Range<u64>) -> Self {
        self.range = Some(range);
        self
    }

    /// The part of `data` (which ended at `self.pushed`) inside the range.
    fn visible(&self, data: &Bytes) -> Option<Bytes> {
        match &self.range {
            Some(r) => clip(data, self.pushed - data.len() as u64, r),
            None => Some(data.clone()),
        }
    }

    /// Whether the client has had every byte it asked for.
    fn range_sent(&self) -> bool {
        self.range.as_ref().is_some_and(|r| self.pushed >= r.end)
    }

    fn push(&mut self, data: &Bytes) {
        self.pushed += data.len() as u64;
        if let Some(w) = &mut self.writer {
            // Past the limit the writer stops buffering by itself (and
            // tells its followers); keep it until the end so it can say so.
            w.push(data.clone());
        }
    }

    fn finish(&mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.finish();
        }
    }

    pub fn is_end_stream(&self) -> bool {
        self.range_sent() || self.inner.is_end_stream()
    }

    pub fn size_hint(&self) -> SizeHint {
        match &self.range {
            Some(r) => SizeHint::with_exact(r.end.saturating_sub(r.start.max(self.pushed))),
            None => self.inner.size_hint(),
        }
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            // Past the client's range the body ends here; dropping it
            // finishes the fill in the background.
            if this.range_sent() {
                return Poll::Ready(None);
            }
            let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
            match frame {
                Some(Ok(f)) => {
                    let data = match f.into_data() {
                        Ok(data) => data,
                        // Trailers are not stored; a client taking the
                        // whole body still gets them.
                        Err(trailers) if this.range.is_none() => {
                            return Poll::Ready(Some(Ok(trailers)));
                        }
                        Err(_) => continue,
                    };
                    this.push(&data);
                    if this.inner.is_end_stream() {
                        this.finish();
                    }
                    if let Some(visible) = this.visible(&data) {
                        return Poll::Ready(Some(Ok(Frame::data(visible))));
                    }
                }
                // Dropping the writer aborts the fill: followers fetch themselves.
                Some(Err(e)) => {
                    this.writer = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    this.finish();
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        TeeBody::is_end_stream(self)
    }

    fn size_hint(&self) -> SizeHint {
        TeeBody::size_hint(self)
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        if self.inner.is_end_stream() {
            let _ = writer.finish();
            return;
        }
        if self.pushed > self.limit {
            return;
        }
        // The client went away mid-body: finish reading on a task, so the
        // object is stored and coalesced followers get their bytes.
        let inner = std::mem::replace(&mut self.inner, OutBody::Empty);
        let (pushed, limit) = (self.pushed, self.limit);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let drain = drain_into(inner, writer, pushed, limit);
                let _ = tokio::time::timeout(BACKGROUND_FILL_TIMEOUT, drain).await;
            });
        }
    }
}

/// Reads `body` to its end into `writer` and finishes the fill; stops
/// (aborting it) on an origin error or once more than `limit` bytes
/// (counting `pushed` already given) arrived.
pub async fn drain_into(mut body: OutBody, mut writer: FillWriter, mut pushed: u64, limit: u64) {
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return;
        };
        if let Some(d) = frame.data_ref() {
            pushed += d.len() as u64;
            writer.push(d.clone());
            if pushed > limit {
                return;
            }
        }
    }
    let _ = writer.finish();
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// A coalesced request's body: the leader's chunks as they arrive, or the
/// bytes of one range of them. When the fill outgrows its buffer (too large
/// to share) and the response has a strong `ETag`, the rest comes from the
/// origin by a range request of this client's own ([`Resume`]); a fill
/// that fails otherwise (leader gone with the origin, no way to resume)
/// ends this body with an error, which resets the client's stream.
pub struct FollowBody {
    chunks: ChunkStream,
    done: bool,
    /// Only these body bytes are sent (a `Range` request).
    range: Option<Range<u64>>,
    /// Body offset of the next chunk.
    offset: u64,
}

/// Where a follower's bytes come from.
enum Source {
    Fill(FillReader, Option<Box<Resume>>),
    /// The origin's answer to the resume request, with leading bytes still
    /// to skip (an origin that answered the whole body).
    Origin(OutBody, u64),
}

impl Source {
    async fn next(self) -> Option<(Result<Bytes, BoxError>, Option<Source>)> {
        match self {
            Source::Fill(mut reader, resume) => match reader.next_chunk().await {
                Ok(Some(c)) => Some((Ok(c), Some(Source::Fill(reader, resume)))),
                Ok(None) => None,
                Err(FillError::TooLarge { delivered }) if resume.is_some() => {
                    let resume = resume?;
                    match resume.fetch(delivered).await {
                        Ok((body, skip)) => Box::pin(Source::Origin(body, skip).next()).await,
                        Err(e) => Some((Err(e), None)),
                    }
                }
                Err(e) => Some((Err(Box::new(e)), None)),
            },
            Source::Origin(mut body, mut skip) => loop {
                match body.frame().await? {
                    Ok(frame) => {
                        let Ok(mut data) = frame.into_data() else {
                            continue;
                        };
                        if skip > 0 {
                            let n = skip.min(data.len() as u64);
                            skip -= n;
                            // n <= data.len(), so the cast cannot truncate.
                            data = data.slice(n as usize..);
                        }
                        if !data.is_empty() {
                            return Some((Ok(data), Some(Source::Origin(body, skip))));
                        }
                    }
                    Err(e) => return Some((Err(e), None)),
                }
            },
        }
    }
}

impl FollowBody {
    pub fn new(reader: FillReader, range: Option<Range<u64>>, resume: Option<Resume>) -> Self {
        let chunks = futures_util::stream::unfold(
            Some(Source::Fill(reader, resume.map(Box::new))),
            |s| async { s?.next().await },
        );
        FollowBody {
            chunks: Box::pin(chunks),
            done: false,
            range,
            offset: 0,
        }
    }

    /// The part of `chunk` (which starts at `self.offset`) inside the
    /// range; advances the offset. `None` when nothing of it is.
    fn window(&mut self, chunk: Bytes) -> Option<Bytes> {
        let start = self.offset;
        self.offset = start + chunk.len() as u64;
        match &self.range {
            Some(r) => clip(&chunk, start, r),
            None => Some(chunk),
        }
    }

    /// Whether every byte of the range has been sent.
    fn range_done(&self) -> bool {
        self.range.as_ref().is_some_and(|r| self.offset >= r.end)
    }

    pub fn is_end_stream(&self) -> bool {
        self.done
    }

    pub fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

impl Body for FollowBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if self.done || self.range_done() {
                self.done = true;
                return Poll::Ready(None);
            }
            match ready!(self.chunks.as_mut().poll_next(cx)) {
                Some(Ok(b)) => {
                    if let Some(b) = self.window(b) {
                        return Poll::Ready(Some(Ok(Frame::data(b))));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    self.done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        FollowBody::size_hint(self)
    }
}
