//! Request coalescing and streaming fills. The first request that misses
//! a key becomes the leader and gets a [`FillWriter`]: it forwards the
//! origin's head and body chunks to it as they arrive (while streaming them
//! to its own client). Concurrent requests for the key get a [`FillReader`]
//! that yields the same head and chunks as they arrive, so one origin fetch
//! answers all of them. When the leader finishes, a storable response is
//! inserted into the store; when it aborts, or the response turns out not
//! to be shareable, too large, or for another variant, readers get a
//! [`FillError`] and go to the origin themselves.
//!
//! Waiting is bounded by the caller (wrap [`FillReader::head`] in a timeout
//! of `RouteSettings::coalesce_wait`); the registry is bounded by
//! `CacheConfig::max_fills`, and buffered fill bytes by
//! `CacheConfig::max_fill_bytes`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use hashbrown::HashMap;
use http::header::{AUTHORIZATION, TRAILER};
use tokio::sync::watch;

use crate::cache::{CacheRequest, Core};
use crate::key::{CacheKey, VariantKey, Vary};
use crate::policy::{
    Admission, ExchangeTimes, NotStorable, RequestFacts, admit, merge_not_modified,
    not_modified_matches,
};
use crate::store::{Object, ObjectMeta, ResponseHead, parse_tags};

/// Why a coalesced reader cannot be answered from the fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    /// The leader gave up (origin error, client gone, writer dropped).
    #[error("the fill was aborted")]
    Aborted,
    /// The response may not be reused for other requests.
    #[error("the response is not shareable: {0}")]
    NotShareable(NotStorable),
    /// The body outgrew what a fill buffers; `delivered` bytes were
    /// already handed to this reader (a proxy may resume with a `Range`
    /// request from there, or reset its client stream).
    #[error("the response is too large to share after {delivered} bytes")]
    TooLarge {
        /// Body bytes this reader already yielded.
        delivered: u64,
    },
    /// The response varies on a header whose value differs in this
    /// reader's request.
    #[error("the response is for another variant")]
    VariantMismatch,
}

/// A 304 whose validator does not match the stored response: fetch again
/// without conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("304 validator does not match the stored response")]
pub struct ValidatorMismatch;

/// What finishing a fill did.
#[derive(Debug, Clone)]
pub enum FillOutcome {
    /// The response was stored.
    Stored(Arc<Object>),
    /// It was not, and why.
    NotStored(NotStorable),
}

/// A refreshed object after a 304.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The stored response with the 304's headers merged in: serve this.
    pub object: Arc<Object>,
    /// Whether it replaced the stored one (false when the merged headers
    /// no longer allow storing).
    pub stored: bool,
}

/// The head and reuse facts a leader published.
#[derive(Debug)]
struct Published {
    head: Arc<ResponseHead>,
    variant: VariantKey,
}

#[derive(Debug)]
enum End {
    Open,
    Done,
    Failed(FillError),
}

#[derive(Debug)]
struct FillState {
    head: Option<Published>,
    chunks: Vec<Bytes>,
    end: End,
}

/// One fill's state, shared by its writer and readers.
#[derive(Debug)]
pub(crate) struct FillShared {
    state: Mutex<FillState>,
    version: watch::Sender<u64>,
}

impl FillShared {
    fn new() -> Arc<FillShared> {
        Arc::new(FillShared {
            state: Mutex::new(FillState {
                head: None,
                chunks: Vec::new(),
                end: End::Open,
            }),
            version: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, FillState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state and wakes every reader.
    fn update(&self, f: impl FnOnce(&mut FillState)) {
        f(&mut self.lock());
        self.version.send_modify(|v| *v += 1);
    }
}

/// The result of asking the registry for a key.
pub(crate) enum Join {
    Leader(Arc<FillShared>, bool),
    Follower(Arc<FillShared>),
}

/// In-flight fills by primary key, at most `max` of them.
#[derive(Debug)]
pub(crate) struct FillRegistry {
    fills: Mutex<HashMap<CacheKey, Arc<FillShared>, foldhash::fast::RandomState>>,
    max: usize,
}

impl FillRegistry {
    pub fn new(max: usize) -> Self {
        FillRegistry {
            fills: Mutex::new(HashMap::default()),
            max,
        }
    }

    fn map(
        &self,
    ) -> MutexGuard<'_, HashMap<CacheKey, Arc<FillShared>, foldhash::fast::RandomState>> {
        self.fills.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the fill for `key`, or starts one. The bool says whether the
    /// new fill is registered (false when the registry is full: the
    /// leader then fetches alone, uncoalesced).
    pub fn join(&self, key: &CacheKey) -> Join {
        let mut map = self.map();
        if let Some(f) = map.get(key) {
            return Join::Follower(Arc::clone(f));
        }
        let shared = FillShared::new();
        if map.len() >= self.max {
            return Join::Leader(shared, false);
        }
        map.insert(key.clone(), Arc::clone(&shared));
        Join::Leader(shared, true)
    }

    /// Starts a fill only if none is in flight (background refreshes).
    pub fn lead_if_idle(&self, key: &CacheKey) -> Option<Arc<FillShared>> {
        match self.join(key) {
            Join::Leader(shared, true) => Some(shared),
            _ => None,
        }
    }

    /// A fill that is not registered (no followers can join it).
    pub fn detached() -> Arc<FillShared> {
        FillShared::new()
    }

    fn remove(&self, key: &CacheKey, shared: &Arc<FillShared>) {
        let mut map = self.map();
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, shared)) {
            map.remove(key);
        }
    }

    /// Fills in flight.
    pub fn len(&self) -> usize {
        self.map().len()
    }
}

/// A coalesced request's view of another request's fill.
#[derive(Debug)]
pub struct FillReader {
    shared: Arc<FillShared>,
    version: watch::Receiver<u64>,
    request: Arc<CacheRequest>,
    next: usize,
    delivered: u64,
}

impl FillReader {
    pub(crate) fn new(shared: Arc<FillShared>, request: Arc<CacheRequest>) -> Self {
        let version = shared.version.subscribe();
        FillReader {
            shared,
            version,
            request,
            next: 0,
            delivered: 0,
        }
    }

    /// Waits for the response head. Apply `coalesce_wait` around it.
    pub async fn head(&mut self) -> Result<Arc<ResponseHead>, FillError> {
        loop {
            self.version.borrow_and_update();
            {
                let state = self.shared.lock();
                if let Some(p) = &state.head {
                    let mine =
                        VariantKey::new(&Vary::parse(&p.head.headers), self.request.headers());
                    return match mine {
                        Some(v) if v == p.variant => Ok(Arc::clone(&p.head)),
                        _ => Err(FillError::VariantMismatch),
                    };
                }
                if let End::Failed(e) = state.end {
                    return Err(self.error(e));
                }
            }
            self.wait().await?;
        }
    }

    /// The next body chunk, `Ok(None)` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, FillError> {
        loop {
            self.version.borrow_and_update();
            {
                let state = self.shared.lock();
                if let Some(chunk) = state.chunks.get(self.next) {
                    self.next += 1;
                    self.delivered += chunk.len() as u64;
                    return Ok(Some(chunk.clone()));
                }
                match state.end {
                    End::Done => return Ok(None),
                    End::Failed(e) => return Err(self.error(e)),
                    End::Open => {}
                }
            }
            self.wait().await?;
        }
    }

    /// Body bytes yielded so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    fn error(&self, e: FillError) -> FillError {
        match e {
            FillError::TooLarge { .. } => FillError::TooLarge {
                delivered: self.delivered,
            },
            e => e,
        }
    }

    /// Waits for the next change; a writer gone without finishing is an
    /// abort.
    async fn wait(&mut self) -> Result<(), FillError> {
        self.version.changed().await.map_err(|_| FillError::Aborted)
    }
}

/// A fill that is buffering for the store (boxed: it is large and the
/// other states are tiny).
#[derive(Debug)]
struct Buffered {
    head: ResponseHead,
    meta: ObjectMeta,
    bytes: u64,
}

#[derive(Debug)]
enum WriterState {
    Pending,
    Buffering(Box<Buffered>),
    Passthrough(NotStorable),
    Done,
}

/// The leader's side of a fill: feed it the origin's response.
///
/// Dropping it without [`finish`](Self::finish) aborts the fill.
#[derive(Debug)]
pub struct FillWriter {
    core: Arc<Core>,
    request: Arc<CacheRequest>,
    shared: Arc<FillShared>,
    revalidating: bool,
    state: WriterState,
}

impl FillWriter {
    pub(crate) fn new(
        core: Arc<Core>,
        request: Arc<CacheRequest>,
        shared: Arc<FillShared>,
        revalidating: bool,
    ) -> Self {
        FillWriter {
            core,
            request,
            shared,
            revalidating,
            state: WriterState::Pending,
        }
    }

    /// Marks this fill as a revalidation (for the 304/200 counters).
    pub(crate) fn revalidating(mut self) -> Self {
        self.revalidating = true;
        self
    }

    /// Hands over the origin's response head. `Ok` means the response will
    /// be stored if its body fits (say `stored` in `Cache-Status`) and is
    /// shared with coalesced readers; `Err` says why not (readers are told
    /// to fetch themselves). A 304 goes to [`not_modified`](Self::not_modified)
    /// instead.
    pub fn start(&mut self, head: &ResponseHead, times: ExchangeTimes) -> Result<(), NotStorable> {
        if self.revalidating && head.status.is_success() {
            self.core.metrics.revalidated_200();
        }
        let admitted = self.admit(head, times).and_then(|a| {
            let vary = Vary::parse(&head.headers);
            let variant =
                VariantKey::new(&vary, self.request.headers()).ok_or(NotStorable::Vary)?;
            Ok((a, vary, variant))
        });
        let (admission, vary, variant) = match admitted {
            Ok(x) => x,
            Err(reason) => {
                self.core.metrics.not_stored();
                self.fail(
                    FillError::NotShareable(reason),
                    WriterState::Passthrough(reason),
                );
                return Err(reason);
            }
        };
        // Trailers are not stored (RFC 9110 §6.5.1 lets a recipient drop
        // them), so neither is the field announcing them: coalesced readers
        // and later hits get the body without them. The fetching client
        // still gets the origin's trailers and its `Trailer` field.
        let mut head = head.clone();
        head.headers.remove(TRAILER);
        let published = Published {
            head: Arc::new(head.clone()),
            variant: variant.clone(),
        };
        self.shared.update(|s| s.head = Some(published));
        let tags = parse_tags(&head.headers, &self.request.route().tag_header);
        let meta = ObjectMeta {
            vary,
            variant,
            admission,
            times,
            tags,
        };
        self.state = WriterState::Buffering(Box::new(Buffered {
            head,
            meta,
            bytes: 0,
        }));
        Ok(())
    }

    fn admit(&self, head: &ResponseHead, times: ExchangeTimes) -> Result<Admission, NotStorable> {
        let facts = RequestFacts {
            method: self.request.method(),
            directives: self.request.directives(),
            authorization: self.request.headers().contains_key(AUTHORIZATION),
        };
        admit(
            self.request.route(),
            facts,
            head.status,
            &head.headers,
            times,
        )
    }

    /// Appends a body chunk (a cheap `Bytes` clone of what the leader
    /// sends its own client). Past the size limit or the fill budget the
    /// fill stops buffering and readers are told to fetch themselves.
    pub fn push(&mut self, chunk: Bytes) {
        let WriterState::Buffering(buffered) = &mut self.state else {
            return;
        };
        let bytes = &mut buffered.bytes;
        let len = chunk.len() as u64;
        let limit = self
            .request
            .route()
            .max_object_bytes
            .min(self.core.config.max_object_bytes);
        if *bytes + len > limit || !self.core.reserve_fill_bytes(len) {
            self.core.metrics.fills_too_large();
            self.core.metrics.not_stored();
            self.fail(
                FillError::TooLarge { delivered: 0 },
                WriterState::Passthrough(NotStorable::TooLarge),
            );
            return;
        }
        *bytes += len;
        self.shared.update(|s| s.chunks.push(chunk));
    }

    /// Ends the body: stores the response if it was admitted and fits, and
    /// lets readers finish.
    pub fn finish(mut self) -> FillOutcome {
        match std::mem::replace(&mut self.state, WriterState::Done) {
            WriterState::Buffering(buffered) => {
                let Buffered { head, meta, bytes } = *buffered;
                let chunks = self.shared.lock().chunks.clone();
                self.core.release_fill_bytes(bytes);
                let object = Arc::new(Object::new(head, chunks, meta));
                let stored = self
                    .core
                    .store
                    .insert(self.request.key(), Arc::clone(&object));
                self.shared.update(|s| s.end = End::Done);
                self.deregister();
                match stored {
                    Ok(()) => {
                        self.core.metrics.stores();
                        FillOutcome::Stored(object)
                    }
                    Err(_) => {
                        self.core.metrics.not_stored();
                        FillOutcome::NotStored(NotStorable::TooLarge)
                    }
                }
            }
            WriterState::Passthrough(reason) => {
                self.deregister();
                FillOutcome::NotStored(reason)
            }
            WriterState::Pending | WriterState::Done => {
                self.fail(FillError::Aborted, WriterState::Done);
                FillOutcome::NotStored(NotStorable::Incomplete)
            }
        }
    }

    /// Ends a revalidation answered 304: merges its headers into `stored`
    /// (RFC 9111 §4.3.4), stores the refreshed object when still allowed,
    /// and answers readers with it. A validator mismatch aborts the fill.
    pub fn not_modified(
        mut self,
        stored: &Object,
        response: &ResponseHead,
        times: ExchangeTimes,
    ) -> Result<Refreshed, ValidatorMismatch> {
        if !not_modified_matches(&stored.head().headers, &response.headers) {
            self.fail(FillError::Aborted, WriterState::Done);
            return Err(ValidatorMismatch);
        }
        self.revalidating = false;
        let head = ResponseHead::new(
            stored.head().status,
            merge_not_modified(&stored.head().headers, &response.headers),
        );
        let body = stored.body().to_vec();
        let admitted = self.start(&head, times);
        self.core.metrics.revalidated_304();
        let mut out = None;
        if let Ok(()) = admitted {
            for chunk in &body {
                self.push(chunk.clone());
            }
            if let FillOutcome::Stored(object) = self.finish() {
                out = Some(Refreshed {
                    object,
                    stored: true,
                });
            }
        }
        // Not storable any more (or no longer fits): serve it this once.
        Ok(out.unwrap_or_else(|| Refreshed {
            object: Arc::new(Object::new(head, body, unstored_meta(stored, times))),
            stored: false,
        }))
    }

    /// Gives up: readers are told to fetch themselves.
    pub fn abort(mut self) {
        self.fail(FillError::Aborted, WriterState::Done);
    }

    fn fail(&mut self, error: FillError, next: WriterState) {
        if let WriterState::Buffering(buffered) = &self.state {
            self.core.release_fill_bytes(buffered.bytes);
        }
        self.state = next;
        self.shared.update(|s| {
            s.chunks = Vec::new();
            s.end = End::Failed(error);
        });
        self.deregister();
    }

    fn deregister(&self) {
        self.core.fills.remove(self.request.key(), &self.shared);
    }
}

impl Drop for FillWriter {
    fn drop(&mut self) {
        if !matches!(self.state, WriterState::Done | WriterState::Passthrough(_)) {
            self.fail(FillError::Aborted, WriterState::Done);
        } else {
            self.deregister();
        }
    }
}

/// Metadata for a refreshed object that is served but not stored.
fn unstored_meta(stored: &Object, times: ExchangeTimes) -> ObjectMeta {
    ObjectMeta {
        vary: stored.vary().clone(),
        variant: stored.variant().clone(),
        admission: Admission {
            freshness: *stored.freshness(),
            source: crate::policy::LifetimeSource::MaxAge,
            corrected_initial_age: std::time::Duration::ZERO,
        },
        times,
        tags: Vec::new(),
    }
}

/// Reserves and releases the global fill buffer budget.
impl Core {
    fn reserve_fill_bytes(&self, n: u64) -> bool {
        let max = self.config.max_fill_bytes;
        self.fill_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                (cur + n <= max).then_some(cur + n)
            })
            .is_ok()
    }

    fn release_fill_bytes(&self, n: u64) {
        self.fill_bytes.fetch_sub(n, Ordering::Relaxed);
    }
}
