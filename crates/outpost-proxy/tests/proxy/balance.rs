//! Load balancing and origin health through the proxy, with real origins:
//! an origin killed under load (no failed GET; ejected within one health
//! interval; readmitted when back), least-request avoiding a slow backend,
//! Maglev agreeing across instances and remapping little when a backend is
//! added, the bounded-load cap, the retry budget, circuit breakers, DNS
//! re-resolution, and health surviving a reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::{TcpListener, UdpSocket};

use crate::util::*;

/// An origin that answers its own name, counts requests and the most it had
/// in flight at once, can be slowed down, and can be killed (listener and
/// every open connection closed) and started again on the same address.
struct Node {
    name: String,
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicUsize>,
    status: Arc<AtomicUsize>,
    /// Status of `/health` (the traffic status when 0).
    health: Arc<AtomicUsize>,
    kill: tokio::sync::watch::Sender<bool>,
}

impl Node {
    async fn start(name: &str) -> Node {
        Node::start_on(name, "127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_on(name: &str, bind: SocketAddr) -> Node {
        let mut node = Node {
            name: name.to_string(),
            addr: bind,
            hits: Arc::default(),
            in_flight: Arc::default(),
            peak: Arc::default(),
            delay_ms: Arc::default(),
            status: Arc::new(AtomicUsize::new(200)),
            health: Arc::default(),
            kill: tokio::sync::watch::channel(false).0,
        };
        node.addr = node.serve(bind).await;
        node
    }

    /// Binds and serves; returns the bound address.
    async fn serve(&self, bind: SocketAddr) -> SocketAddr {
        let tcp = TcpListener::bind(bind).await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (name, hits, in_flight, peak, delay, status) = (
            self.name.clone(),
            self.hits.clone(),
            self.in_flight.clone(),
            self.peak.clone(),
            self.delay_ms.clone(),
            (self.status.clone(), self.health.clone()),
        );
        let mut killed = self.kill.subscribe();
        tokio::spawn(async move {
            loop {
                let s = tokio::select! {
                    r = tcp.accept() => match r { Ok((s, _)) => s, Err(_) => return },
                    _ = killed.changed() => return,
                };
                let (name, hits, in_flight, peak, delay, status) = (
                    name.clone(),
                    hits.clone(),
                    in_flight.clone(),
                    peak.clone(),
                    delay.clone(),
                    status.clone(),
                );
                let mut killed = killed.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (name, hits, in_flight, peak, delay, status) = (
                            name.clone(),
                            hits.clone(),
                            in_flight.clone(),
                            peak.clone(),
                            delay.clone(),
                            status.clone(),
                        );
                        async move {
                            let (status, health) = status;
                            if req.uri().path() == "/health" {
                                let code = match health.load(Ordering::SeqCst) {
                                    0 => status.load(Ordering::SeqCst),
                                    h => h,
                                } as u16;
                                let mut r = Response::new(full(name));
                                *r.status_mut() = StatusCode::from_u16(code).unwrap();
                                return Ok::<_, std::convert::Infallible>(r);
                            }
                            hits.fetch_add(1, Ordering::SeqCst);
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            let d = delay.load(Ordering::SeqCst);
                            if d > 0 {
                                tokio::time::sleep(Duration::from_millis(d as u64)).await;
                            }
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            let code = status.load(Ordering::SeqCst) as u16;
                            let mut r = Response::new(full(name));
                            *r.status_mut() = StatusCode::from_u16(code).unwrap();
                            Ok(r)
                        }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = killed.changed() => {}
                    }
                });
            }
        });
        addr
    }

    /// Closes the listener and every connection, like a crashed process.
    fn kill(&self) {
        self.kill.send_replace(true);
    }

    async fn restart(&mut self) {
        self.kill = tokio::sync::watch::channel(false).0;
        self.serve(self.addr).await;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn pool_config(nodes: &[&Node], pool_extra: &str) -> String {
    let origins: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    origins_config(&origins, pool_extra)
}

/// One listener, the admin API on port 0, and pool `app` over `origins`
/// (`HOST:PORT`) with `pool_extra` lines, routed from everything.
fn origins_config(origins: &[String], pool_extra: &str) -> String {
    let origins: Vec<String> = origins.iter().map(|o| format!("\"{o}\"")).collect();
    format!(
        r#"
[admin]
address = "127.0.0.1:0"
[access_log]
enabled = false
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[pools]]
name = "app"
origins = [{}]
{pool_extra}
[[routes]]
name = "all"
pool = "app"
"#,
        origins.join(", ")
    )
}

async fn metrics(op: &Outpost) -> String {
    let admin = op.server.admin_addr().await.unwrap();
    let (_, _, body) = get(&format!("http://{admin}/metrics")).await;
    String::from_utf8_lossy(&body).into_owned()
}

fn gauge(text: &str, name: &str, backend: SocketAddr) -> Option<i64> {
    let prefix = format!("{name}{{pool=\"app\",backend=\"{backend}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Runs `workers` clients sending GETs for `dur`; returns (ok, failed).
async fn load(url: String, workers: usize, dur: Duration) -> (usize, usize) {
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let end = Instant::now() + dur;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (url, ok, failed) = (url.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let client = h1_client();
            while Instant::now() < end {
                let req = Request::get(&url).body(full("")).unwrap();
                match client.request(req).await {
                    Ok(r) if r.status() == StatusCode::OK => {
                        let _ = http_body_util::BodyExt::collect(r.into_body()).await;
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => {
                        eprintln!("failed: {}", r.status());
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        eprintln!("failed: {e}");
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_origins_under_load_fails_no_get() {
    let a = Node::start("a").await;
    let mut b = Node::start("b").await;
    let c = Node::start("c").await;
    let interval = Duration::from_millis(500);
    let op = Outpost::start(&pool_config(
        &[&a, &b, &c],
        "[pools.health]\npath = \"/health\"\ninterval = \"500ms\"\ntimeout = \"250ms\"\njitter = \"0s\"\n\
         healthy_threshold = 1\nunhealthy_threshold = 1\n\
         [pools.outlier]\nbase_ejection = \"300ms\"\nmax_ejection = \"300ms\"",
    ))
    .await;
    let url = op.url("main", "/x").await;
    let traffic = tokio::spawn(load(url, 8, Duration::from_millis(3000)));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(b.hits() > 0, "b took traffic before the kill");
    b.kill();
    let killed_at = Instant::now();
    // Ejected (failed its active check) within one interval.
    let mut seen_down = None;
    while killed_at.elapsed() < interval * 3 {
        if gauge(&metrics(&op).await, "outpost_backend_healthy", b.addr) == Some(0) {
            seen_down = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let down = seen_down.expect("b marked unhealthy");
    assert!(
        down <= interval + Duration::from_millis(200),
        "b marked unhealthy after {down:?}, interval {interval:?}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let hits_while_down = b.hits();
    b.restart().await;
    let (ok, failed) = traffic.await.unwrap();
    assert_eq!(failed, 0, "{failed} of {} GETs failed", ok + failed);
    assert!(ok > 100, "only {ok} requests completed");
    // Readmitted: healthy again, and taking traffic.
    assert!(
        wait_until_async(|| async {
            gauge(&metrics(&op).await, "outpost_backend_healthy", b.addr) == Some(1)
        })
        .await
    );
    let before = b.hits();
    for _ in 0..30 {
        let (s, _, _) = get(&op.url("main", "/y").await).await;
        assert_eq!(s, StatusCode::OK);
    }
    assert!(
        b.hits() > before,
        "b readmitted (hits while down: {hits_while_down})"
    );
    let _ = (a.hits(), c.hits());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_request_sends_less_to_a_slow_backend() {
    let fast = Node::start("fast").await;
    let slow = Node::start("slow").await;
    slow.delay_ms.store(60, Ordering::SeqCst);
    let op = Outpost::start(&pool_config(
        &[&fast, &slow],
        "[pools.balance]\npolicy = \"least_request\"",
    ))
    .await;
    let (ok, failed) = load(op.url("main", "/").await, 8, Duration::from_millis(1500)).await;
    assert_eq!(failed, 0);
    assert!(ok > 50);
    assert!(
        slow.hits() * 4 < fast.hits(),
        "slow {} vs fast {}",
        slow.hits(),
        fast.hits()
    );
}

async fn backend_for(url: &str, user: &str) -> String {
    let req = Request::get(url)
        .header("x-user", user)
        .body(full(""))
        .unwrap();
    let (s, _, body) = send(&h1_client(), req).await;
    assert_eq!(s, StatusCode::OK);
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maglev_agrees_across_instances_and_remaps_little_when_a_backend_is_added() {
    let nodes = [
        Node::start("a").await,
        Node::start("b").await,
        Node::start("c").await,
        Node::start("d").await,
    ];
    let three: Vec<&Node> = nodes[..3].iter().collect();
    let extra = "[pools.balance]\npolicy = \"maglev\"\nhash_on = \"header:X-User\"";
    let one = Outpost::start(&pool_config(&three, extra)).await;
    // The second instance lists the origins in another order.
    let reversed: Vec<&Node> = nodes[..3].iter().rev().collect();
    let two = Outpost::start(&pool_config(&reversed, extra)).await;
    let (u1, u2) = (one.url("main", "/").await, two.url("main", "/").await);
    // 1,000 keys: the share that moves has a standard deviation of ~1.4
    // points around the ideal 25%, so the bound below holds with margin.
    let keys: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
    let mut before = Vec::new();
    for k in &keys {
        let b1 = backend_for(&u1, k).await;
        assert_eq!(b1, backend_for(&u2, k).await, "key {k}");
        assert_eq!(b1, backend_for(&u1, k).await, "key {k} is sticky");
        before.push(b1);
    }
    let all: Vec<&Node> = nodes.iter().collect();
    one.reload(&pool_config(&all, extra)).await.unwrap();
    let mut moved = 0;
    for (k, old) in keys.iter().zip(&before) {
        let now = backend_for(&u1, k).await;
        if &now != old {
            moved += 1;
        }
    }
    let share = moved as f64 / keys.len() as f64;
    assert!(share <= 0.25 + 0.07, "{moved} of {} keys moved", keys.len());
    assert!(moved > 0, "the new backend took no keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_load_caps_the_backend_of_a_hot_key() {
    let nodes = [
        Node::start("a").await,
        Node::start("b").await,
        Node::start("c").await,
    ];
    for n in &nodes {
        n.delay_ms.store(300, Ordering::SeqCst);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    let op = Outpost::start(&pool_config(
        &refs,
        "[pools.balance]\npolicy = \"maglev\"\nhash_on = \"header:x-user\"\nbounded_load = 1.25",
    ))
    .await;
    let url = op.url("main", "/").await;
    let total = 30;
    let tasks: Vec<_> = (0..total)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { backend_for(&url, "hot").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // capacity = ceil(c * (in flight + 1) / n) with at most `total` in flight.
    let cap = (1.25 * (total as f64) / 3.0).ceil() as usize;
    let peaks: Vec<usize> = nodes
        .iter()
        .map(|n| n.peak.load(Ordering::SeqCst))
        .collect();
    assert!(
        peaks.iter().all(|&p| p <= cap),
        "peaks {peaks:?}, cap {cap}"
    );
    assert_eq!(nodes.iter().map(Node::hits).sum::<usize>(), total);
}

/// An origin that accepts connections and closes them at once, counting them.
async fn resetting_origin() -> (SocketAddr, Arc<AtomicUsize>) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let n = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = tcp.accept().await {
            n.fetch_add(1, Ordering::SeqCst);
            // Wait for the request, then close without answering.
            let _ = s.readable().await;
            drop(s);
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_budget_stops_a_retry_storm() {
    let mut addrs = Vec::new();
    let mut counters = Vec::new();
    for _ in 0..3 {
        let (a, n) = resetting_origin().await;
        addrs.push(a.to_string());
        counters.push(n);
    }
    let toml = origins_config(
        &addrs,
        "[pools.outlier]\nenabled = false\n[pools.retry]\nmax_retries = 2\nbudget = 0.2\nbudget_min_per_second = 0",
    );
    let op = Outpost::start(&toml).await;
    let url = op.url("main", "/").await;
    let requests = 200;
    for _ in 0..requests {
        let (s, _, _) = get(&url).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
    }
    let tries: usize = counters.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    // Without a budget: 3 tries per request (600). With 20%: about 240.
    assert!(tries >= requests, "{tries}");
    assert!(
        tries <= requests + requests / 5 + 5,
        "{tries} tries for {requests} requests"
    );
    let text = metrics(&op).await;
    assert!(
        text.contains("outpost_upstream_retry_budget_exhausted_total{pool=\"app\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breakers_answer_503_at_once_when_full() {
    let slow = Node::start("slow").await;
    slow.delay_ms.store(500, Ordering::SeqCst);
    for limits in ["max_requests = 2", "max_connections = 2\nmax_pending = 0"] {
        let op = Outpost::start(&pool_config(
            &[&slow],
            &format!("[pools.circuit_breaker]\n{limits}\n[pools.outlier]\nenabled = false"),
        ))
        .await;
        let url = op.url("main", "/").await;
        let started = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move {
                    let (s, _, _) = get(&url).await;
                    (s, started.elapsed())
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        let full: Vec<_> = results
            .iter()
            .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
            .collect();
        assert_eq!(ok, 2, "{limits}: {results:?}");
        assert_eq!(full.len(), 3, "{limits}: {results:?}");
        assert!(
            full.iter().all(|(_, t)| *t < Duration::from_millis(400)),
            "{limits}: 503s were not immediate: {results:?}"
        );
    }
}

/// A DNS server for one name: answers A queries with the current address
/// (or SERVFAIL while `fail` is set), on 127.0.0.1 over UDP.
async fn dns_server(addr: Arc<std::sync::Mutex<[u8; 4]>>, fail: Arc<AtomicBool>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let q = &buf[..n];
            // Header, then the question up to and including QTYPE/QCLASS.
            let mut end = 12;
            while end < n && q[end] != 0 {
                end += usize::from(q[end]) + 1;
            }
            let qend = end + 5;
            let qtype = u16::from_be_bytes([q[end + 1], q[end + 2]]);
            let mut r = q[..qend].to_vec();
            r[2] = 0x81;
            r[3] = if fail.load(Ordering::SeqCst) {
                0x82
            } else {
                0x80
            };
            r[10] = 0;
            r[11] = 0;
            if qtype == 1 && !fail.load(Ordering::SeqCst) {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
                r.extend_from_slice(&*addr.lock().unwrap());
            } else {
                r[7] = 0;
            }
            let _ = sock.send_to(&r, peer).await;
        }
    });
    local
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_re_resolution_follows_a_changed_address_and_keeps_the_last_good_one() {
    // Two origins on one port, at 127.0.0.1 and 127.0.0.2 (all of 127/8 is loopback).
    let one = Node::start("one").await;
    let port = one.addr.port();
    let two = Node::start_on("two", format!("127.0.0.2:{port}").parse().unwrap()).await;
    let ip = Arc::new(std::sync::Mutex::new([127, 0, 0, 1]));
    let fail = Arc::new(AtomicBool::new(false));
    let dns = dns_server(ip.clone(), fail.clone()).await;
    let toml = origins_config(
        &[format!("api.outpost.test:{port}")],
        &format!("resolvers = [\"{dns}\"]\nresolve_interval = \"200ms\""),
    );
    let op = Outpost::start(&toml).await;
    let url = op.url("main", "/").await;
    let (s, _, body) = get(&url).await;
    assert_eq!((s, &body[..]), (StatusCode::OK, &b"one"[..]));
    *ip.lock().unwrap() = [127, 0, 0, 2];
    assert!(
        wait_until_async(|| async { get(&url).await.2 == "two" }).await,
        "the new address was not picked up"
    );
    // A failing resolver keeps the last good set.
    fail.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..5 {
        let (s, _, body) = get(&url).await;
        assert_eq!((s, &body[..]), (StatusCode::OK, &b"two"[..]));
    }
    let _ = two.hits();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ejection_survives_a_reload_that_keeps_the_backend() {
    let good = Node::start("good").await;
    let bad = Node::start("bad").await;
    bad.status.store(503, Ordering::SeqCst);
    let outlier =
        "[pools.outlier]\nconsecutive_5xx = 2\nbase_ejection = \"60s\"\nmax_ejected_percent = 50";
    let op = Outpost::start(&pool_config(&[&good, &bad], outlier)).await;
    let url = op.url("main", "/").await;
    for _ in 0..6 {
        get(&url).await;
    }
    assert_eq!(
        gauge(&metrics(&op).await, "outpost_backend_ejected", bad.addr),
        Some(1)
    );
    // A changed pool (new timeout) with the same backends.
    op.reload(&pool_config(
        &[&good, &bad],
        &format!("response_timeout = \"20s\"\n{outlier}"),
    ))
    .await
    .unwrap();
    let before = bad.hits();
    for _ in 0..20 {
        let (s, _, body) = get(&url).await;
        assert_eq!((s, &body[..]), (StatusCode::OK, &b"good"[..]));
    }
    assert_eq!(
        bad.hits(),
        before,
        "the ejected backend took traffic after the reload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_failure_is_retried_on_another_backend_and_logged_with_its_tries() {
    let dead = closed_port().await;
    let live = Node::start("live").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let toml = format!(
        r#"
[admin]
enabled = false
[access_log]
path = "{}"
[[listeners]]
name = "main"
address = "127.0.0.1:0"
[[pools]]
name = "app"
origins = ["{dead}", "{}"]
[pools.outlier]
enabled = false
[[routes]]
name = "all"
pool = "app"
"#,
        log.display(),
        live.addr
    );
    let op = Outpost::start_in(&toml, dir).await;
    let url = op.url("main", "/").await;
    // A POST with a body: nothing was sent to the dead backend, so it is safe.
    for _ in 0..4 {
        let req = Request::post(&url).body(full("payload")).unwrap();
        let (s, _, body) = send(&h1_client(), req).await;
        assert_eq!((s, &body[..]), (StatusCode::OK, &b"live"[..]));
    }
    let records: Vec<serde_json::Value> = {
        let mut text = String::new();
        wait_until(|| {
            text = std::fs::read_to_string(&log).unwrap_or_default();
            text.lines().count() >= 4
        })
        .await;
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert!(
        records
            .iter()
            .all(|r| r["upstream_addr"] == live.addr.to_string())
    );
    assert!(
        records.iter().any(|r| r["upstream_tries"] == 2),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_mode_spreads_over_all_backends_when_too_few_are_healthy() {
    let nodes = [
        Node::start("a").await,
        Node::start("b").await,
        Node::start("c").await,
    ];
    nodes[1].health.store(503, Ordering::SeqCst);
    nodes[2].health.store(503, Ordering::SeqCst);
    let refs: Vec<&Node> = nodes.iter().collect();
    let health = "[pools.health]\npath = \"/health\"\ninterval = \"100ms\"\njitter = \"0s\"\nunhealthy_threshold = 1";
    for (threshold, panic) in [(50, true), (0, false)] {
        let op = Outpost::start(&pool_config(
            &refs,
            &format!("[pools.balance]\npanic_threshold = {threshold}\n{health}"),
        ))
        .await;
        assert!(
            wait_until_async(|| async {
                let m = metrics(&op).await;
                gauge(&m, "outpost_backend_healthy", nodes[1].addr) == Some(0)
                    && gauge(&m, "outpost_backend_healthy", nodes[2].addr) == Some(0)
            })
            .await
        );
        let before: Vec<usize> = nodes.iter().map(Node::hits).collect();
        let url = op.url("main", "/").await;
        for _ in 0..30 {
            assert_eq!(get(&url).await.0, StatusCode::OK);
        }
        let got: Vec<usize> = nodes
            .iter()
            .zip(&before)
            .map(|(n, b)| n.hits() - b)
            .collect();
        let m = metrics(&op).await;
        if panic {
            assert!(got.iter().all(|&g| g > 0), "panic mode spreads: {got:?}");
            assert!(m.contains("outpost_pool_panic{pool=\"app\"} 1"), "{m}");
        } else {
            assert_eq!(got, [30, 0, 0], "panic mode off: only the healthy backend");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_match_the_body_and_tcp_checks_see_a_closed_port() {
    let a = Node::start("alpha").await;
    let b = Node::start("beta").await;
    let dead = closed_port().await;
    let body_check = "[pools.health]\npath = \"/health\"\nbody_contains = \"alp\"\ninterval = \"100ms\"\nunhealthy_threshold = 1";
    let op = Outpost::start(&pool_config(&[&a, &b], body_check)).await;
    assert!(
        wait_until_async(|| async {
            gauge(&metrics(&op).await, "outpost_backend_healthy", b.addr) == Some(0)
        })
        .await,
        "beta's body does not contain the text"
    );
    assert_eq!(
        gauge(&metrics(&op).await, "outpost_backend_healthy", a.addr),
        Some(1)
    );
    let toml = origins_config(
        &[a.addr.to_string(), dead.to_string()],
        "[pools.health]\ntype = \"tcp\"\ninterval = \"100ms\"\nunhealthy_threshold = 1",
    );
    let op = Outpost::start(&toml).await;
    assert!(
        wait_until_async(|| async {
            gauge(&metrics(&op).await, "outpost_backend_healthy", dead) == Some(0)
        })
        .await
    );
    assert_eq!(
        gauge(&metrics(&op).await, "outpost_backend_healthy", a.addr),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_try_slower_than_the_per_try_timeout_is_retried_elsewhere() {
    let slow = Node::start("slow").await;
    slow.delay_ms.store(3000, Ordering::SeqCst);
    let fast = Node::start("fast").await;
    let op = Outpost::start(&pool_config(
        &[&slow, &fast],
        "[pools.retry]\nper_try_timeout = \"200ms\"\n[pools.outlier]\nenabled = false",
    ))
    .await;
    let url = op.url("main", "/").await;
    for _ in 0..4 {
        let started = Instant::now();
        let (s, _, body) = get(&url).await;
        assert_eq!((s, &body[..]), (StatusCode::OK, &b"fast"[..]));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(slow.hits() >= 1, "the slow backend was tried");
    // A POST is not idempotent: its per-try timeout is final (504).
    let mut saw_timeout = false;
    for _ in 0..2 {
        let req = Request::post(&url).body(full("")).unwrap();
        let (s, _, _) = send(&h1_client(), req).await;
        saw_timeout |= s == StatusCode::GATEWAY_TIMEOUT;
    }
    assert!(saw_timeout, "a POST to the slow backend was retried");
}
