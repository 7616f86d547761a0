//! Resolving origin names to addresses. Without configured servers the
//! system resolver answers (getaddrinfo: `/etc/hosts`, `resolv.conf`). With
//! `resolvers`, a small stub resolver asks those servers directly over UDP
//! for A and AAAA records (like nginx's `resolver`), so each pool can follow
//! its own DNS and the answer's TTL never pins a stale address: the pool
//! re-resolves on its own interval.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Most addresses taken from one answer (so from one origin name).
pub const MAX_ADDRESSES: usize = 64;
/// Largest DNS message accepted over UDP (the EDNS buffer size we announce).
const MAX_MESSAGE: usize = 1232;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    #[error("DNS answer malformed")]
    Malformed,
    #[error("DNS answer truncated (TC); use fewer addresses or the system resolver")]
    Truncated,
    #[error("DNS server answered rcode {0}")]
    Rcode(u8),
    #[error("invalid name for DNS")]
    BadName,
}

/// Addresses for `host:port`: an IP literal as is, a name by DNS.
pub async fn resolve(
    host: &str,
    port: u16,
    servers: &[SocketAddr],
    timeout: Duration,
) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let ips: Vec<IpAddr> = if servers.is_empty() {
        let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| format!("resolving {host} timed out"))?
            .map_err(|e| format!("resolving {host}: {e}"))?;
        found.map(|a| a.ip()).collect()
    } else {
        let mut last = format!("resolving {host}: no server answered");
        let mut found = None;
        for server in servers {
            match tokio::time::timeout(timeout, ask(*server, host)).await {
                Ok(Ok(ips)) => {
                    found = Some(ips);
                    break;
                }
                Ok(Err(e)) => last = format!("resolving {host} at {server}: {e}"),
                Err(_) => last = format!("resolving {host} at {server}: timed out"),
            }
        }
        found.ok_or(last)?
    };
    let mut addrs: Vec<SocketAddr> = ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs.truncate(MAX_ADDRESSES);
    Ok(addrs)
}

/// A and AAAA for `name` from one server.
async fn ask(server: SocketAddr, name: &str) -> std::io::Result<Vec<IpAddr>> {
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    let base = query_id();
    let invalid = |e: DnsError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    for (i, qtype) in [TYPE_A, TYPE_AAAA].into_iter().enumerate() {
        let q = query(base.wrapping_add(i as u16), name, qtype).map_err(invalid)?;
        sock.send(&q).await?;
    }
    let mut ips = Vec::new();
    let mut answered = [false; 2];
    let mut buf = vec![0u8; MAX_MESSAGE];
    while !(answered[0] && answered[1]) {
        let n = sock.recv(&mut buf).await?;
        let Some(id) = buf.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            continue;
        };
        let slot = usize::from(id.wrapping_sub(base));
        if slot > 1 || answered[slot] {
            continue; // not ours (or a duplicate): keep waiting
        }
        answered[slot] = true;
        ips.extend(parse_response(&buf[..n], id).map_err(invalid)?);
    }
    Ok(ips)
}

fn query_id() -> u16 {
    // Not a security boundary (the server is configured, on a trusted
    // network), but avoid predictable ids anyway.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (t ^ (t >> 16)) as u16
}

/// A recursive query for `name` with an EDNS OPT record.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(DnsError::BadName);
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(DnsError::BadName);
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = UDP payload size, ttl 0, no data.
    q.push(0);
    q.extend_from_slice(&TYPE_OPT.to_be_bytes());
    q.extend_from_slice(&(MAX_MESSAGE as u16).to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(q)
}

/// The A and AAAA addresses in a response to query `id`. NXDOMAIN and an
/// empty answer are an empty list; every length is checked.
pub fn parse_response(msg: &[u8], id: u16) -> Result<Vec<IpAddr>, DnsError> {
    let mut r = Reader { msg, pos: 0 };
    let got_id = r.u16()?;
    let flags = r.u16()?;
    let (qd, an) = (r.u16()?, r.u16()?);
    r.skip(4)?; // NS and AR counts: not read
    if got_id != id || flags & 0x8000 == 0 {
        return Err(DnsError::Malformed);
    }
    if flags & 0x0200 != 0 {
        return Err(DnsError::Truncated);
    }
    match (flags & 0x000f) as u8 {
        0 => {}
        3 => return Ok(Vec::new()),
        rcode => return Err(DnsError::Rcode(rcode)),
    }
    for _ in 0..qd {
        r.name()?;
        r.skip(4)?;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        r.name()?;
        let (rtype, class) = (r.u16()?, r.u16()?);
        r.skip(4)?; // TTL
        let len = usize::from(r.u16()?);
        let data = r.take(len)?;
        if class != CLASS_IN || out.len() >= MAX_ADDRESSES {
            continue;
        }
        match (rtype, len) {
            (TYPE_A, 4) => out.push(IpAddr::from(
                <[u8; 4]>::try_from(data).map_err(|_| DnsError::Malformed)?,
            )),
            (TYPE_AAAA, 16) => out.push(IpAddr::from(
                <[u8; 16]>::try_from(data).map_err(|_| DnsError::Malformed)?,
            )),
            (TYPE_A | TYPE_AAAA, _) => return Err(DnsError::Malformed),
            _ => {} // CNAME and others: the server already followed them
        }
    }
    Ok(out)
}

struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let end = self.pos.checked_add(n).ok_or(DnsError::Malformed)?;
        let s = self.msg.get(self.pos..end).ok_or(DnsError::Malformed)?;
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, n: usize) -> Result<(), DnsError> {
        self.take(n).map(|_| ())
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Skips a (possibly compressed) name. A pointer ends the name in place,
    /// so compression loops cannot make this spin.
    fn name(&mut self) -> Result<(), DnsError> {
        for _ in 0..128 {
            let len = self.take(1)?[0];
            match len {
                0 => return Ok(()),
                l if l & 0xc0 == 0xc0 => return self.skip(1),
                l if l & 0xc0 == 0 => self.skip(usize::from(l))?,
                _ => return Err(DnsError::Malformed),
            }
        }
        Err(DnsError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: u16, name: &str, records: &[(u16, &[u8])]) -> Vec<u8> {
        let q = query(id, name, TYPE_A).unwrap();
        let qlen = q.len() - 11; // without the OPT record
        let mut m = q[..qlen].to_vec();
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = records.len() as u8;
        m[11] = 0;
        for (t, data) in records {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 30]);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn parses_a_and_aaaa_with_compression() {
        let v6 = Ipv6Addr::LOCALHOST.octets();
        let m = answer(
            7,
            "api.internal",
            &[(1, &[10, 0, 0, 1]), (5, b"\x03abc\x00"), (28, &v6)],
        );
        let ips = parse_response(&m, 7).unwrap();
        assert_eq!(
            ips,
            vec![
                IpAddr::from([10, 0, 0, 1]),
                IpAddr::from(Ipv6Addr::LOCALHOST)
            ]
        );
    }

    #[test]
    fn rejects_wrong_id_truncation_and_short_messages() {
        let m = answer(7, "a.b", &[(1, &[1, 2, 3, 4])]);
        assert_eq!(parse_response(&m, 8), Err(DnsError::Malformed));
        for cut in 0..m.len() {
            assert!(parse_response(&m[..cut], 7).is_err(), "cut at {cut}");
        }
        let mut tc = m.clone();
        tc[2] |= 0x02;
        assert_eq!(parse_response(&tc, 7), Err(DnsError::Truncated));
        let mut bad_len = answer(7, "a.b", &[(1, &[1, 2, 3])]);
        bad_len[3] = 0x80;
        assert_eq!(parse_response(&bad_len, 7), Err(DnsError::Malformed));
    }

    #[test]
    fn nxdomain_is_empty_and_names_are_checked() {
        let mut m = answer(9, "x.y", &[]);
        m[3] = 0x83;
        assert_eq!(parse_response(&m, 9), Ok(vec![]));
        assert_eq!(query(1, "", TYPE_A), Err(DnsError::BadName));
        assert_eq!(query(1, &"a".repeat(64), TYPE_A), Err(DnsError::BadName));
        assert!(query(1, "example.com.", TYPE_A).is_ok());
    }
}
