//! Active health checks: one probe of one backend, over a fresh connection
//! made exactly as traffic would make it (same address, TLS, SNI), so a check
//! passes only when a request could. HTTP checks read at most
//! `MAX_CHECK_BODY` bytes of the answer.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty, Limited};
use outpost_config::{HealthCheck, HealthKind};

use super::backend::Backend;
use crate::upstream::Connector;

/// Most body bytes read to look for `body_contains`. 64 KiB.
pub const MAX_CHECK_BODY: usize = 64 << 10;

/// Probes one backend; true when it passes within the check timeout.
pub async fn probe(check: &HealthCheck, connector: &Connector, backend: &Backend) -> bool {
    tokio::time::timeout(check.timeout, probe_inner(&check.kind, connector, backend))
        .await
        .unwrap_or(false)
}

async fn probe_inner(kind: &HealthKind, connector: &Connector, backend: &Backend) -> bool {
    let Ok(io) = connector.connect().await else {
        return false;
    };
    let HealthKind::Http {
        method,
        path,
        host,
        expect,
        body_contains,
    } = kind
    else {
        return true;
    };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, Empty<Bytes>>(io)
        .await
    else {
        return false;
    };
    let driver = tokio::spawn(conn);
    let host = host
        .clone()
        .unwrap_or_else(|| backend.authority.to_string());
    let Ok(req) = Request::builder()
        .method(method.as_str())
        .uri(path.as_str())
        .header(header::HOST, host)
        .header(header::USER_AGENT, "outpost-health-check")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
    else {
        return false;
    };
    let passed = match sender.send_request(req).await {
        Err(_) => false,
        Ok(resp) => {
            let status = resp.status().as_u16();
            if !(expect.0..=expect.1).contains(&status) {
                false
            } else if let Some(needle) = body_contains {
                body_has(resp.into_body(), needle.as_bytes()).await
            } else {
                true
            }
        }
    };
    driver.abort();
    passed
}

async fn body_has(body: hyper::body::Incoming, needle: &[u8]) -> bool {
    // A body over the cap fails the check: the check is misconfigured or
    // the backend is answering something else.
    match Limited::new(body, MAX_CHECK_BODY).collect().await {
        Ok(b) => b.to_bytes().windows(needle.len()).any(|w| w == needle),
        Err(_) => false,
    }
}

/// Feeds one probe result into the backend's thresholds. Returns true when
/// the backend changed state (healthy <-> unhealthy).
pub fn record(check: &HealthCheck, backend: &Backend, passed: bool) -> bool {
    let h = &backend.health;
    let unhealthy = h.unhealthy.load(Ordering::Relaxed);
    if passed {
        h.fails.store(0, Ordering::Relaxed);
        let n = h.passes.fetch_add(1, Ordering::Relaxed) + 1;
        if unhealthy && n >= check.healthy_threshold {
            h.unhealthy.store(false, Ordering::Relaxed);
            backend.metrics.healthy.set(1);
            tracing::info!(backend = %backend.label, "backend healthy again");
            return true;
        }
    } else {
        h.passes.store(0, Ordering::Relaxed);
        let n = h.fails.fetch_add(1, Ordering::Relaxed) + 1;
        if !unhealthy && n >= check.unhealthy_threshold {
            h.unhealthy.store(true, Ordering::Relaxed);
            backend.metrics.healthy.set(0);
            tracing::warn!(backend = %backend.label, "backend failed its health checks");
            return true;
        }
    }
    false
}

/// The delay before the next round: the interval plus up to `jitter`.
pub fn next_delay(check: &HealthCheck) -> Duration {
    let jitter_ms = check.jitter.as_millis() as u64;
    // Each node's thread-seeded generator: enough to keep a fleet from
    // checking in lockstep.
    check.interval + Duration::from_millis(outpost_lb::rng::below(jitter_ms + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bound_and_varies() {
        let mut check = HealthCheck {
            kind: HealthKind::Tcp,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            jitter: Duration::from_millis(500),
            healthy_threshold: 1,
            unhealthy_threshold: 1,
        };
        let delays: Vec<Duration> = (0..200).map(|_| next_delay(&check)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= check.interval && *d <= check.interval + check.jitter)
        );
        assert!(delays.iter().any(|d| *d != delays[0]), "no jitter at all");
        check.jitter = Duration::ZERO;
        assert_eq!(next_delay(&check), check.interval);
    }
}
