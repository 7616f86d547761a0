//! Coalescing and streaming fills: followers get the leader's bytes as
//! they stream, and are told to fetch themselves on abort, oversize, a
//! non-shareable response or another variant.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use outpost_cache::policy::ExchangeTimes;
use outpost_cache::{
    Cache, CacheConfig, CacheRequest, FillError, FillOutcome, FillReader, FillWriter, NotStorable,
    Outcome, RouteSettings,
};

use crate::util::{cache, get, head, request, t0};

fn lead(c: &Cache, req: &Arc<CacheRequest>) -> FillWriter {
    match c.lookup(req, t0()) {
        Outcome::Miss { writer, .. } => writer,
        other => panic!("expected leader, got {other:?}"),
    }
}

fn follow(c: &Cache, req: &Arc<CacheRequest>) -> FillReader {
    match c.lookup(req, t0()) {
        Outcome::Wait { reader, .. } => reader,
        other => panic!("expected follower, got {other:?}"),
    }
}

async fn read_all(mut r: FillReader) -> Result<Vec<u8>, FillError> {
    r.head().await?;
    let mut out = Vec::new();
    while let Some(chunk) = r.next_chunk().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[tokio::test]
async fn followers_receive_the_same_bytes_as_streamed() {
    let c = cache();
    let req = get(&c, "/co", &[]);
    let mut writer = lead(&c, &req);
    let readers: Vec<_> = (0..5)
        .map(|_| tokio::spawn(read_all(follow(&c, &req))))
        .collect();
    assert_eq!(c.metrics().coalesced_waits, 5);
    writer
        .start(
            &head(200, &[("cache-control", "max-age=60")]),
            ExchangeTimes::at(t0()),
        )
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..50u8 {
        let chunk = Bytes::from(vec![i; 1000 + i as usize]);
        sent.extend_from_slice(&chunk);
        writer.push(chunk);
        tokio::task::yield_now().await;
    }
    assert!(matches!(writer.finish(), FillOutcome::Stored(_)));
    for r in readers {
        assert_eq!(r.await.unwrap().unwrap(), sent);
    }
    // A reader that joins late still gets everything (the fill is done and
    // the object stored: it is a hit now).
    assert!(matches!(c.lookup(&req, t0()), Outcome::Hit { .. }));
    assert_eq!(c.fills_in_flight(), 0);
}

#[tokio::test]
async fn abort_tells_followers_to_fetch_themselves() {
    let c = cache();
    let req = get(&c, "/ab", &[]);
    let mut writer = lead(&c, &req);
    let mut reader = follow(&c, &req);
    writer
        .start(
            &head(200, &[("cache-control", "max-age=60")]),
            ExchangeTimes::at(t0()),
        )
        .unwrap();
    writer.push(Bytes::from_static(b"part"));
    reader.head().await.unwrap();
    assert_eq!(reader.next_chunk().await.unwrap().unwrap(), "part");
    writer.abort();
    assert_eq!(reader.next_chunk().await, Err(FillError::Aborted));
    // The key is free again: the next request leads a new fill.
    let _next = lead(&c, &req);
}

#[tokio::test]
async fn a_dropped_writer_is_an_abort() {
    let c = cache();
    let req = get(&c, "/drop", &[]);
    let writer = lead(&c, &req);
    let mut reader = follow(&c, &req);
    drop(writer);
    assert_eq!(reader.head().await, Err(FillError::Aborted));
}

#[tokio::test]
async fn oversize_fill_stops_buffering_and_releases_followers() {
    let c = cache();
    let route = Arc::new(RouteSettings {
        max_object_bytes: 10,
        ..RouteSettings::default()
    });
    let req = request(&c, &route, "GET", "/big", &[]);
    let mut writer = lead(&c, &req);
    let mut reader = follow(&c, &req);
    writer
        .start(
            &head(200, &[("cache-control", "max-age=60")]),
            ExchangeTimes::at(t0()),
        )
        .unwrap();
    writer.push(Bytes::from_static(b"0123456789"));
    reader.head().await.unwrap();
    assert_eq!(reader.next_chunk().await.unwrap().unwrap().len(), 10);
    writer.push(Bytes::from_static(b"x"));
    assert_eq!(
        reader.next_chunk().await,
        Err(FillError::TooLarge { delivered: 10 })
    );
    assert!(matches!(
        writer.finish(),
        FillOutcome::NotStored(NotStorable::TooLarge)
    ));
    assert_eq!(c.metrics().fills_too_large, 1);
    assert_eq!(c.metrics().objects, 0);
}

#[tokio::test]
async fn fill_buffer_budget_is_shared_and_released() {
    let c = Cache::new(CacheConfig {
        max_fill_bytes: 100,
        ..CacheConfig::default()
    })
    .unwrap();
    let a = get(&c, "/a", &[]);
    let b = get(&c, "/b", &[]);
    let mut wa = lead(&c, &a);
    let mut wb = lead(&c, &b);
    for w in [&mut wa, &mut wb] {
        w.start(
            &head(200, &[("cache-control", "max-age=60")]),
            ExchangeTimes::at(t0()),
        )
        .unwrap();
    }
    wa.push(Bytes::from(vec![0; 60]));
    wb.push(Bytes::from(vec![0; 60]));
    assert!(matches!(
        wb.finish(),
        FillOutcome::NotStored(NotStorable::TooLarge)
    ));
    assert!(matches!(wa.finish(), FillOutcome::Stored(_)));
    // Both released: a new fill can use the whole budget again.
    let mut wc = lead(&c, &get(&c, "/c", &[]));
    wc.start(
        &head(200, &[("cache-control", "max-age=60")]),
        ExchangeTimes::at(t0()),
    )
    .unwrap();
    wc.push(Bytes::from(vec![0; 100]));
    assert!(matches!(wc.finish(), FillOutcome::Stored(_)));
}

#[tokio::test]
async fn non_shareable_responses_release_followers() {
    let c = cache();
    let req = get(&c, "/private", &[]);
    let mut writer = lead(&c, &req);
    let mut reader = follow(&c, &req);
    let err = writer.start(
        &head(200, &[("cache-control", "private")]),
        ExchangeTimes::at(t0()),
    );
    assert_eq!(err, Err(NotStorable::Private));
    assert_eq!(
        reader.head().await,
        Err(FillError::NotShareable(NotStorable::Private))
    );
}

#[tokio::test]
async fn followers_of_another_variant_are_released() {
    let c = cache();
    let leader = get(&c, "/vary", &[("accept-language", "en")]);
    let other = get(&c, "/vary", &[("accept-language", "de")]);
    let same = get(&c, "/vary", &[("accept-language", "en")]);
    let mut writer = lead(&c, &leader);
    let mut r_other = follow(&c, &other);
    let r_same = follow(&c, &same);
    writer
        .start(
            &head(
                200,
                &[("cache-control", "max-age=60"), ("vary", "accept-language")],
            ),
            ExchangeTimes::at(t0()),
        )
        .unwrap();
    writer.push(Bytes::from_static(b"hello"));
    assert!(matches!(writer.finish(), FillOutcome::Stored(_)));
    assert_eq!(r_other.head().await, Err(FillError::VariantMismatch));
    assert_eq!(read_all(r_same).await.unwrap(), b"hello");
}

#[tokio::test(start_paused = true)]
async fn waiting_is_bounded_by_the_caller() {
    let c = cache();
    let req = get(&c, "/slow", &[]);
    let _writer = lead(&c, &req);
    let mut reader = follow(&c, &req);
    let wait = req.route().coalesce_wait;
    let res = tokio::time::timeout(wait, reader.head()).await;
    assert!(
        res.is_err(),
        "the leader never answered, so the wait times out"
    );
    c.counters().coalesce_timeouts();
    // The follower then fetches on its own, still able to store.
    let mut own = c.detached_fill(&req);
    own.start(
        &head(200, &[("cache-control", "max-age=60")]),
        ExchangeTimes::at(t0()),
    )
    .unwrap();
    own.push(Bytes::from_static(b"mine"));
    assert!(matches!(own.finish(), FillOutcome::Stored(_)));
    assert_eq!(c.metrics().coalesce_timeouts, 1);
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn the_registry_is_bounded() {
    let c = Cache::new(CacheConfig {
        max_fills: 2,
        ..CacheConfig::default()
    })
    .unwrap();
    let writers: Vec<_> = ["/1", "/2", "/3"]
        .iter()
        .map(|p| lead(&c, &get(&c, p, &[])))
        .collect();
    assert_eq!(c.fills_in_flight(), 2);
    // The third fill is not registered, so a request for /3 leads again.
    let _again = lead(&c, &get(&c, "/3", &[]));
    drop(writers);
    assert_eq!(c.fills_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_origin_request() {
    let c = cache();
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (c, barrier) = (c.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                let req = get(&c, "/herd", &[]);
                barrier.wait().await;
                match c.lookup(&req, t0()) {
                    Outcome::Miss { mut writer, .. } => {
                        // The one "origin request".
                        tokio::task::yield_now().await;
                        writer
                            .start(
                                &head(200, &[("cache-control", "max-age=60")]),
                                ExchangeTimes::at(t0()),
                            )
                            .unwrap();
                        writer.push(Bytes::from_static(b"origin"));
                        writer.finish();
                        (1, b"origin".to_vec())
                    }
                    Outcome::Wait { reader, .. } => (0, read_all(reader).await.unwrap()),
                    Outcome::Hit { object, .. } => (0, object.body().concat()),
                    other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    let mut origin_requests = 0;
    for t in tasks {
        let (n, body) = t.await.unwrap();
        origin_requests += n;
        assert_eq!(body, b"origin");
    }
    assert_eq!(origin_requests, 1);
}
