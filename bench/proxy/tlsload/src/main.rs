//! tlsload: a TLS 1.3 full-handshake load generator for `bench/run proxy`.
//!
//! Each of `--concurrency` clients loops until `--duration` is over:
//! connect over TCP, do a full TLS 1.3 handshake (session resumption
//! disabled, so every handshake is a full one), send one
//! `GET PATH HTTP/1.1` with `Connection: close`, read the whole response,
//! and drop the connection. It runs on one thread (pin it with taskset).
//!
//! By default the client does not verify the server's certificate chain nor
//! its CertificateVerify signature: the server still does all of its work
//! (ECDHE + ECDSA sign), but the load generator, pinned to a single core,
//! stays cheaper than the server so that the server is the bottleneck.
//! `--verify-signature` adds the CertificateVerify check back.
//!
//! Output: `key: value` lines (handshakes, errors, rate, latency
//! percentiles in ms, negotiated protocol/suite/group/ALPN).
//!
//! Loopback only: the address must be in 127.0.0.0/8 or ::1.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Debug)]
struct Verifier {
    algs: WebPkiSupportedAlgorithms,
    check_signature: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self.check_signature {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
        } else {
            Ok(HandshakeSignatureValid::assertion())
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self.check_signature {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
        } else {
            Ok(HandshakeSignatureValid::assertion())
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

struct Args {
    addr: SocketAddr,
    path: String,
    host: String,
    concurrency: usize,
    duration: Duration,
    timeout: Duration,
    check_signature: bool,
}

const USAGE: &str = "usage: tlsload --addr 127.0.0.1:PORT [--path /1k] [--host localhost] \
     [--concurrency 32] [--duration SECS] [--timeout SECS] [--verify-signature]";

fn parse_args() -> Result<Args, String> {
    let mut addr = None;
    let mut path = "/1k".to_string();
    let mut host = "localhost".to_string();
    let mut concurrency = 32usize;
    let mut duration = 10f64;
    let mut timeout = 5f64;
    let mut check_signature = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => {
                addr = Some(
                    val()?
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("--addr: {e}"))?,
                )
            }
            "--path" => path = val()?,
            "--host" => host = val()?,
            "--concurrency" | "-c" => {
                concurrency = val()?.parse().map_err(|e| format!("--concurrency: {e}"))?
            }
            "--duration" | "-D" => {
                duration = val()?.parse().map_err(|e| format!("--duration: {e}"))?
            }
            "--timeout" => timeout = val()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--verify-signature" => check_signature = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    if !(1..=4096).contains(&concurrency) {
        return Err("--concurrency must be 1..=4096".into());
    }
    if !(0.1..=120.0).contains(&duration) || !(0.1..=60.0).contains(&timeout) {
        return Err("--duration must be 0.1..=120 s and --timeout 0.1..=60 s".into());
    }
    Ok(Args {
        addr,
        path,
        host,
        concurrency,
        duration: Duration::from_secs_f64(duration),
        timeout: Duration::from_secs_f64(timeout),
        check_signature,
    })
}

#[derive(Default)]
struct Stats {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    handshake_us: Vec<u32>,
    total_us: Vec<u32>,
    negotiated: Option<String>,
}

/// One connection: TCP connect, TLS handshake, one request, whole response.
/// Returns (handshake done, response done) offsets from `t0`.
async fn one(
    connector: &TlsConnector,
    name: &ServerName<'static>,
    addr: SocketAddr,
    request: &[u8],
    want_info: bool,
) -> Result<(Duration, Option<String>), String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let t_hs = Instant::now();
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let hs = t_hs.elapsed();
    let info = if want_info {
        let c = tls.get_ref().1;
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        Some(format!(
            "protocol: {}\nsuite: {}\ngroup: {}\nalpn: {}",
            or_dash(c.protocol_version().map(|v| format!("{v:?}"))),
            or_dash(
                c.negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
            ),
            or_dash(
                c.negotiated_key_exchange_group()
                    .map(|g| format!("{:?}", g.name()))
            ),
            or_dash(
                c.alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
            ),
        ))
    } else {
        None
    };
    tls.write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    tls.flush().await.map_err(|e| format!("flush: {e}"))?;

    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let mut need: Option<usize> = None;
    loop {
        if need.is_some_and(|n| buf.len() >= n) {
            break;
        }
        let n = match tls.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            // A server may close without close_notify once the response is out.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read: {e}")),
        };
        buf.extend_from_slice(&chunk[..n]);
        if need.is_none()
            && let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>())
                })
                .ok_or("response without content-length")?
                .map_err(|_| "bad content-length")?;
            need = Some(end + 4 + len);
        }
    }
    match need {
        Some(n) if buf.len() >= n => {}
        _ => return Err(format!("short response ({} bytes)", buf.len())),
    }
    if !buf.starts_with(b"HTTP/1.1 200") {
        let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(format!("status: {}", String::from_utf8_lossy(line)));
    }
    Ok((hs, info))
}

async fn client(
    connector: TlsConnector,
    name: ServerName<'static>,
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    deadline: Instant,
    timeout: Duration,
    want_info: bool,
) -> Stats {
    let mut st = Stats::default();
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let r = tokio::time::timeout(
            timeout,
            one(
                &connector,
                &name,
                addr,
                &request,
                want_info && st.negotiated.is_none(),
            ),
        )
        .await;
        let done = Instant::now();
        if done > deadline {
            break; // finished after the window: not counted
        }
        match r {
            Ok(Ok((hs, info))) => {
                st.ok += 1;
                st.handshake_us
                    .push(u32::try_from(hs.as_micros()).unwrap_or(u32::MAX));
                st.total_us
                    .push(u32::try_from((done - t0).as_micros()).unwrap_or(u32::MAX));
                if info.is_some() {
                    st.negotiated = info;
                }
            }
            Ok(Err(e)) => {
                st.errors += 1;
                st.first_error.get_or_insert(e);
            }
            Err(_) => {
                st.errors += 1;
                st.first_error.get_or_insert_with(|| "timeout".into());
            }
        }
    }
    st
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tlsload: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let base = ring::default_provider();
    let provider = CryptoProvider {
        // Same suite and group for every server: TLS 1.3 AES-128-GCM, X25519.
        cipher_suites: vec![ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        kx_groups: vec![ring::kx_group::X25519],
        ..base
    };
    let algs = provider.signature_verification_algorithms;
    let builder = match ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tlsload: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            algs,
            check_signature: args.check_signature,
        }))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    let Ok(name) = ServerName::try_from(args.host.clone()) else {
        eprintln!("tlsload: bad --host {}", args.host);
        return ExitCode::from(2);
    };
    let request = Arc::new(
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tlsload\r\nConnection: close\r\n\r\n",
            args.path, args.host
        )
        .into_bytes(),
    );

    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tlsload: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let deadline = started + args.duration;
    let all = rt.block_on(async {
        let tasks: Vec<_> = (0..args.concurrency)
            .map(|i| {
                tokio::spawn(client(
                    connector.clone(),
                    name.clone(),
                    args.addr,
                    request.clone(),
                    deadline,
                    args.timeout,
                    i == 0,
                ))
            })
            .collect();
        let mut all = Stats::default();
        for t in tasks {
            if let Ok(st) = t.await {
                all.ok += st.ok;
                all.errors += st.errors;
                if all.first_error.is_none() {
                    all.first_error = st.first_error;
                }
                if all.negotiated.is_none() {
                    all.negotiated = st.negotiated;
                }
                all.handshake_us.extend(st.handshake_us);
                all.total_us.extend(st.total_us);
            }
        }
        all
    });
    let secs = args.duration.as_secs_f64();
    let mut hs = all.handshake_us;
    let mut total = all.total_us;
    hs.sort_unstable();
    total.sort_unstable();
    println!("handshakes: {}", all.ok);
    println!("errors: {}", all.errors);
    println!("duration_s: {secs:.3}");
    println!("rate: {:.2}", all.ok as f64 / secs);
    println!("handshake_p50_ms: {:.3}", pct(&hs, 0.50));
    println!("handshake_p99_ms: {:.3}", pct(&hs, 0.99));
    println!("total_p50_ms: {:.3}", pct(&total, 0.50));
    println!("total_p99_ms: {:.3}", pct(&total, 0.99));
    println!("signature_checked: {}", args.check_signature);
    if let Some(n) = all.negotiated {
        println!("{n}");
    }
    if let Some(e) = all.first_error {
        println!("first_error: {e}");
    }
    if all.ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
