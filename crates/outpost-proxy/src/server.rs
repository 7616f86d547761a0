//! Phase 1, accept, and the server's lifecycle: binding listeners, accepting
//! connections (global connection cap, TLS with SNI/ALPN), serving them with
//! hyper's HTTP/1.1 + HTTP/2 server under our limits, live reload (runtime
//! swap plus listener diff) and graceful drain.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use outpost_cache::Cache;
use outpost_config::{Config, ConfigError, Listener};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::coalesce::{Coalesce, PollCount};
use crate::conn_limit::{ConnLimiter, ConnPermit};
use crate::idle::IdleIo;
use crate::metrics::Metrics;
use crate::pipeline::{self, ConnInfo};
use crate::runtime::Runtime;

/// Pending connections queued by the kernel per listener. 1024.
const BACKLOG: i32 = 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration")]
    Config(Vec<ConfigError>),
    #[error("cannot bind {what} {addr}: {source}")]
    Bind {
        what: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// State shared by every connection: the current runtime, process metrics
/// and the cache store, which like the metrics lives as long as the process
/// (a reload swaps route settings, never the stored objects).
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    pub metrics: Arc<Metrics>,
    pub cache: Cache,
    connections: Arc<ConnLimiter>,
}

struct ListenerTask {
    configured: SocketAddr,
    local: SocketAddr,
    /// `true` asks the accept loop to stop and its connections to drain.
    drain: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

/// A running Outpost node.
pub struct Server {
    pub shared: Arc<Shared>,
    listeners: Mutex<HashMap<String, ListenerTask>>,
    /// Listeners removed by reloads whose connections may still be draining.
    retired: Mutex<Vec<watch::Sender<bool>>>,
    config_path: Option<PathBuf>,
    admin_addr: Mutex<Option<SocketAddr>>,
}

impl Server {
    /// Builds the runtime, binds every listener (and the admin listener) and
    /// starts accepting. `config_path` is what reloads re-read.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Result<Arc<Server>, StartError> {
        let metrics = Arc::new(Metrics::new());
        let cache = Cache::new(config.cache.clone())
            .map_err(|e| StartError::Config(vec![ConfigError::new("cache", e.to_string())]))?;
        metrics.register_cache(cache.clone());
        let admin = config.admin.clone();
        let listeners = config.listeners.clone();
        let rt = Runtime::build(config, None, metrics.clone(), cache.clone())
            .map_err(StartError::Config)?;
        rt.wait_resolved().await;
        metrics.config_generation.set(rt.generation as i64);
        let shared = Arc::new(Shared {
            runtime: ArcSwap::from_pointee(rt),
            metrics,
            cache,
            connections: Arc::new(ConnLimiter::default()),
        });
        let server = Arc::new(Server {
            shared,
            listeners: Mutex::new(HashMap::new()),
            retired: Mutex::new(Vec::new()),
            config_path,
            admin_addr: Mutex::new(None),
        });
        let mut bound = Vec::new();
        for l in &listeners {
            bound.push((
                l.clone(),
                bind(l.address).map_err(|source| StartError::Bind {
                    what: format!("listener {:?}", l.name),
                    addr: l.address,
                    source,
                })?,
            ));
        }
        {
            let mut map = server.listeners.lock().await;
            for (l, tcp) in bound {
                map.insert(l.name.clone(), server.spawn_listener(&l, tcp));
            }
        }
        if admin.enabled {
            let tcp = bind(admin.address).map_err(|source| StartError::Bind {
                what: "admin listener".into(),
                addr: admin.address,
                source,
            })?;
            *server.admin_addr.lock().await = tcp.local_addr().ok();
            crate::admin::spawn(tcp, server.clone());
        }
        Ok(server)
    }

    /// The bound address of a listener (useful with port 0).
    pub async fn local_addr(&self, listener: &str) -> Option<SocketAddr> {
        self.listeners.lock().await.get(listener).map(|t| t.local)
    }

    pub async fn admin_addr(&self) -> Option<SocketAddr> {
        *self.admin_addr.lock().await
    }

    /// Re-reads the config file and applies it (SIGHUP, file change, admin API).
    pub async fn reload_from_file(&self) -> Result<u64, Vec<ConfigError>> {
        let Some(path) = &self.config_path else {
            return Err(vec![ConfigError::new(
                "",
                "server was started without a config file",
            )]);
        };
        match outpost_config::load_file(path) {
            Ok(c) => self.reload(c).await,
            Err(e) => {
                self.shared.metrics.reload(false);
                let errors = e.errors();
                for err in &errors {
                    tracing::error!(file = %path.display(), error = %err, "config reload rejected; still serving the previous config");
                }
                Err(errors)
            }
        }
    }

    /// Applies a new config atomically: builds its runtime (reusing unchanged
    /// pools), binds added listeners, swaps, then drains removed listeners.
    /// On any error nothing changes and the errors are returned.
    pub async fn reload(&self, config: Config) -> Result<u64, Vec<ConfigError>> {
        let result = self.try_reload(config).await;
        self.shared.metrics.reload(result.is_ok());
        match &result {
            Ok(g) => tracing::info!(generation = g, "config reloaded"),
            Err(errors) => {
                for e in errors {
                    tracing::error!(error = %e, "config reload rejected; still serving the previous config");
                }
            }
        }
        result
    }

    async fn try_reload(&self, config: Config) -> Result<u64, Vec<ConfigError>> {
        // Holding the listener map lock serializes reloads.
        let mut map = self.listeners.lock().await;
        let old = self.shared.runtime.load_full();
        let new_listeners = config.listeners.clone();
        if config.cache != *self.shared.cache.config() {
            tracing::warn!(
                "[cache] store settings changed; they apply at the next restart (the running store and its objects are kept)"
            );
        }
        let rt = Runtime::build(
            config,
            Some(&old),
            self.shared.metrics.clone(),
            self.shared.cache.clone(),
        )?;
        rt.wait_resolved().await;
        let mut added = Vec::new();
        let mut errors = Vec::new();
        for (i, l) in new_listeners.iter().enumerate() {
            let keep = map.get(&l.name).is_some_and(|t| t.configured == l.address);
            if !keep {
                match bind_replacing(l, &map) {
                    Ok(tcp) => added.push((l.clone(), tcp)),
                    Err(e) => errors.push(ConfigError::new(
                        format!("listeners[{i}].address"),
                        format!("cannot bind {}: {e}", l.address),
                    )),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let generation = rt.generation;
        self.shared.runtime.store(Arc::new(rt));
        self.shared.metrics.config_generation.set(generation as i64);
        let wanted: HashMap<&str, SocketAddr> = new_listeners
            .iter()
            .map(|l| (l.name.as_str(), l.address))
            .collect();
        let removed: Vec<String> = map
            .iter()
            .filter(|(name, t)| wanted.get(name.as_str()) != Some(&t.configured))
            .map(|(n, _)| n.clone())
            .collect();
        let mut retired = self.retired.lock().await;
        retired.retain(|s| s.receiver_count() > 0);
        for name in removed {
            if let Some(t) = map.remove(&name) {
                let _ = t.drain.send(true);
                t.accept.abort();
                retired.push(t.drain);
            }
        }
        for (l, tcp) in added {
            let task = self.spawn_listener(&l, tcp);
            map.insert(l.name.clone(), task);
        }
        Ok(generation)
    }

    /// Asks the access log to reopen its file (SIGUSR1, after rotation).
    pub fn reopen_logs(&self) {
        if let Some(l) = &self.shared.runtime.load().logger {
            l.reopen();
        }
    }

    /// Stops accepting, lets in-flight requests finish (HTTP/1.1 closes after
    /// the current response, HTTP/2 sends GOAWAY), and returns when every
    /// connection is closed or `deadline` has passed. Returns whether it drained fully.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        let mut senders = Vec::new();
        {
            let mut map = self.listeners.lock().await;
            for (_, t) in map.drain() {
                let _ = t.drain.send(true);
                t.accept.abort();
                senders.push(t.drain);
            }
            senders.append(&mut *self.retired.lock().await);
        }
        let all_closed = async {
            for s in &senders {
                s.closed().await;
            }
        };
        tokio::time::timeout(deadline, all_closed).await.is_ok()
    }

    fn spawn_listener(&self, l: &Listener, tcp: TcpListener) -> ListenerTask {
        let local = tcp.local_addr().unwrap_or(l.address);
        let (drain, rx) = watch::channel(false);
        let (open, total) = self.shared.metrics.listener(&l.name);
        let ctx = AcceptCtx {
            name: Arc::from(l.name.as_str()),
            shared: self.shared.clone(),
            open,
            total,
        };
        let accept = tokio::spawn(accept_loop(tcp, ctx, rx));
        tracing::info!(listener = %l.name, address = %local, "listening");
        ListenerTask {
            configured: l.address,
            local,
            drain,
            accept,
        }
    }
}

/// Binds with SO_REUSEADDR (fast restarts) and our backlog.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    TcpListener::from_std(sock.into())
}

/// Binding during reload: an address held by a listener that this reload
/// renames or moves is still in use, so say so clearly.
fn bind_replacing(
    l: &Listener,
    map: &HashMap<String, ListenerTask>,
) -> std::io::Result<TcpListener> {
    if l.address.port() != 0 && map.values().any(|t| t.local == l.address) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "address is held by another running listener; change it in a separate reload",
        ));
    }
    bind(l.address)
}

struct AcceptCtx {
    name: Arc<str>,
    shared: Arc<Shared>,
    open: Gauge,
    total: Counter,
}

async fn accept_loop(tcp: TcpListener, ctx: AcceptCtx, drain: watch::Receiver<bool>) {
    let ctx = Arc::new(ctx);
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(listener = %ctx.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let rt = ctx.shared.runtime.load();
        // Phase 1 (accept): listed addresses are dropped before TLS or any read.
        if rt.config.security.denies(peer.ip()) {
            ctx.shared.metrics.connection_denied();
            drop(stream);
            continue;
        }
        let limits = &rt.config.limits;
        let permit = match ctx.shared.connections.try_acquire(
            peer.ip(),
            limits.max_connections,
            limits.max_connections_per_client,
        ) {
            Ok(p) => p,
            Err(refused) => {
                ctx.shared.metrics.connection_rejected(refused);
                drop(stream);
                continue;
            }
        };
        ctx.total.inc();
        ctx.open.inc();
        tokio::spawn(connection(stream, peer, ctx.clone(), drain.clone(), permit));
    }
}

/// One downstream connection, from TLS handshake to close.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<AcceptCtx>,
    drain: watch::Receiver<bool>,
    _permit: ConnPermit,
) {
    let _ = stream.set_nodelay(true);
    let rt = ctx.shared.runtime.load_full();
    let timeouts = rt.config.timeouts.clone();
    let tls = rt.tls.get(&*ctx.name).cloned();
    let builder = http_builder(&rt);
    drop(rt);
    match tls {
        None => {
            // HTTP/2 with prior knowledge opens with the connection
            // preface; its writes are coalesced as over TLS.
            let peek = tokio::time::timeout(timeouts.header_read, opens_with_h2_preface(&stream));
            let Some(Ok(h2)) = unless_draining(&drain, peek).await else {
                tracing::debug!(%peer, "nothing received within the header read timeout, or draining");
                ctx.open.dec();
                return;
            };
            let mut io = Coalesce::new(IdleIo::new(stream, timeouts.idle));
            let polls = PollCount::default();
            if h2 {
                io.defer_flushes(polls.clone());
            }
            let info = ConnInfo {
                listener: ctx.name.clone(),
                peer,
                client_ip: client_ip(peer),
                tls_version: None,
                sni: None,
            };
            serve(io, info, &ctx.shared, builder, drain, polls).await;
        }
        Some(sc) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(sc);
            let io = Coalesce::new(IdleIo::new(stream, timeouts.idle));
            let handshake = tokio::time::timeout(timeouts.header_read, acceptor.accept(io));
            match unless_draining(&drain, handshake).await {
                Some(Ok(Ok(mut tls))) => {
                    // HTTP/2: the records of one pass over the connection
                    // leave together (see `coalesce`).
                    let polls = PollCount::default();
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        tls.get_mut().0.defer_flushes(polls.clone());
                    }
                    let version = match tls.get_ref().1.protocol_version() {
                        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                        _ => "TLS",
                    };
                    let info = ConnInfo {
                        listener: ctx.name.clone(),
                        peer,
                        client_ip: client_ip(peer),
                        tls_version: Some(version),
                        sni: tls.get_ref().1.server_name().map(Arc::from),
                    };
                    serve(tls, info, &ctx.shared, builder, drain, polls).await;
                }
                Some(Ok(Err(e))) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Some(Err(_)) => tracing::debug!(%peer, "TLS handshake timed out"),
                None => tracing::debug!(%peer, "draining: TLS handshake abandoned"),
            }
        }
    }
    ctx.open.dec();
}

/// Runs `fut` unless the listener starts draining first (`None` then): a
/// connection that has not sent a request yet is not waited for.
async fn unless_draining<F: Future>(drain: &watch::Receiver<bool>, fut: F) -> Option<F::Output> {
    let mut rx = drain.clone();
    tokio::select! {
        out = fut => Some(out),
        Ok(_) = rx.wait_for(|d| *d) => None,
    }
}

/// Whether the first bytes the client sent are the start of the HTTP/2
/// connection preface (`PRI * HTTP/2.0…`), read without consuming them.
/// Two bytes tell it from every HTTP/1.1 method; a connection closed or
/// failing before that is left to the HTTP server to report.
async fn opens_with_h2_preface(stream: &TcpStream) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut first = [0u8; 2];
    loop {
        match stream.peek(&mut first).await {
            Ok(0) | Err(_) => return false,
            Ok(2) => return first == PREFACE[..2],
            Ok(_) if first[0] != PREFACE[0] => return false,
            // One byte so far, and it is `P`: wait for the next.
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

fn client_ip(peer: SocketAddr) -> Arc<str> {
    Arc::from(peer.ip().to_canonical().to_string())
}

/// hyper's server with our limits. Defaults are documented on `Limits` and `Timeouts`.
fn http_builder(rt: &Runtime) -> auto::Builder<TokioExecutor> {
    let limits = &rt.config.limits;
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(rt.config.timeouts.header_read)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(limits.max_header_bytes as u32)
        // Rapid-reset (CVE-2023-44487) style abuse: bound resets a client may cause.
        .max_pending_accept_reset_streams(Some(64))
        .max_local_error_reset_streams(Some(256))
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

async fn serve<I>(
    io: I,
    info: ConnInfo,
    shared: &Arc<Shared>,
    builder: auto::Builder<TokioExecutor>,
    mut drain: watch::Receiver<bool>,
    polls: PollCount,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let info = Arc::new(info);
    let shared = shared.clone();
    // The request's future is boxed: it is several KiB (every phase's
    // state), and hyper moves the future it is given by value, into each
    // HTTP/2 stream's task and its cells (memmove was 8% of an HTTP/2
    // request's CPU); a box moves as one pointer.
    let svc = service_fn(move |req| {
        let rt = shared.runtime.load_full();
        let info = info.clone();
        Box::pin(async move { Ok::<_, Infallible>(pipeline::handle(req, &info, rt).await) })
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    tokio::pin!(conn);
    if *drain.borrow() {
        conn.as_mut().graceful_shutdown();
    }
    // Every poll of the connection is counted: a coalescing TLS transport
    // holds what one poll writes until the next.
    tokio::select! {
        r = poll_fn(|cx| polls.poll(conn.as_mut(), cx)) => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection closed with error");
            }
            return;
        }
        _ = drain.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = poll_fn(|cx| polls.poll(conn.as_mut(), cx)).await;
}
