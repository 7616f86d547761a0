//! Phase 1 admission: the global connection cap and the per-client cap.
//!
//! A permit is taken at accept and released when the connection task ends
//! (drop). The per-client map holds only clients with open connections, so it
//! is bounded by `limits.max_connections`. IPv6 clients are counted per /64,
//! the smallest block one subscriber usually controls; IPv4 per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct ConnLimiter {
    total: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, u32>>,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerClient,
}

/// An admitted connection; dropping it gives the slots back.
pub struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    client: Option<IpAddr>,
}

impl ConnLimiter {
    /// Admits a connection from `ip` unless `max_total` connections are open,
    /// or `max_per_client` (0 = no per-client cap) are open from its block.
    pub fn try_acquire(
        self: &Arc<Self>,
        ip: IpAddr,
        max_total: usize,
        max_per_client: u32,
    ) -> Result<ConnPermit, Refused> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Total);
        }
        let mut permit = ConnPermit {
            limiter: self.clone(),
            client: None,
        };
        if max_per_client > 0 {
            let key = client_key(ip);
            let mut map = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(key).or_insert(0);
            if *n >= max_per_client {
                return Err(Refused::PerClient); // permit drop releases the total slot
            }
            *n += 1;
            permit.client = Some(key);
        }
        Ok(permit)
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.limiter.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(key) = self.client {
            let mut map = self
                .limiter
                .per_client
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

/// IPv4 (and IPv4-mapped IPv6) per address; other IPv6 per /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_total_and_per_client_and_releases() {
        let l = Arc::new(ConnLimiter::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let p1 = l.try_acquire(a, 3, 2).unwrap();
        let p2 = l.try_acquire(a, 3, 2).unwrap();
        assert_eq!(l.try_acquire(a, 3, 2).err(), Some(Refused::PerClient));
        let p3 = l.try_acquire(b, 3, 2).unwrap();
        assert_eq!(l.try_acquire(b, 3, 2).err(), Some(Refused::Total));
        assert_eq!(l.open(), 3);
        drop((p1, p2, p3));
        assert_eq!(l.open(), 0);
        assert!(
            l.per_client.lock().unwrap().is_empty(),
            "no entry outlives its connections"
        );
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = Arc::new(ConnLimiter::default());
        let _p = l
            .try_acquire("2001:db8:1:2::1".parse().unwrap(), 10, 1)
            .unwrap();
        assert!(
            l.try_acquire("2001:db8:1:2:ffff::9".parse().unwrap(), 10, 1)
                .is_err()
        );
        assert!(
            l.try_acquire("2001:db8:1:3::1".parse().unwrap(), 10, 1)
                .is_ok()
        );
        let _m = l
            .try_acquire("::ffff:192.0.2.9".parse().unwrap(), 10, 1)
            .unwrap();
        assert!(
            l.try_acquire("192.0.2.9".parse().unwrap(), 10, 1).is_err(),
            "mapped IPv4 is the same client"
        );
    }
}
