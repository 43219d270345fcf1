//! How many connections may be open, in all and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connection caps; plain settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once across every listener.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Whether loopback addresses are exempt from the per-address cap (local tests, bridges
    /// and bouncers all connect from there, as Ergo does by default).
    pub is_loopback_exempt: bool,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitRefusal {
    /// The server holds its maximum number of connections.
    #[error("server is full ({max} connections)")]
    ServerFull {
        /// The cap.
        max: usize,
    },
    /// This address holds its maximum number of connections.
    #[error("too many connections from your address ({max})")]
    TooManyFromAddress {
        /// The cap.
        max: usize,
    },
}

/// Counts open connections; cheap to clone, shared by every listener.
#[derive(Debug, Clone)]
pub struct ConnectionLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it gives the place back.
#[derive(Debug)]
pub struct ConnectionPermit {
    inner: Arc<Inner>,
    ip: Option<IpAddr>,
}

impl ConnectionLimiter {
    /// A limiter with nothing open.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                counts: Mutex::new(Counts::default()),
            }),
        }
    }

    /// Admits a connection from `ip`, or says why not.
    ///
    /// # Errors
    /// A [`LimitRefusal`] when a cap is reached.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionPermit, LimitRefusal> {
        let limits = &self.inner.limits;
        let mut counts = self.inner.lock();
        if counts.total >= limits.max_connections {
            return Err(LimitRefusal::ServerFull {
                max: limits.max_connections,
            });
        }
        let ip = canonical(ip);
        let is_counted = !(limits.is_loopback_exempt && ip.is_loopback());
        if is_counted {
            let n = counts.per_ip.entry(ip).or_insert(0);
            if *n >= limits.max_connections_per_ip {
                return Err(LimitRefusal::TooManyFromAddress {
                    max: limits.max_connections_per_ip,
                });
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(ConnectionPermit {
            inner: Arc::clone(&self.inner),
            ip: is_counted.then_some(ip),
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.inner.lock().total
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counting cannot panic half-way; a poisoned lock still holds valid counts.
        self.counts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut counts = self.inner.lock();
        counts.total -= 1;
        if let Some(ip) = self.ip
            && let Some(n) = counts.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }
}

/// An IPv4 client on a dual-stack socket shows as `::ffff:a.b.c.d`; count it as `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(total: usize, per_ip: usize) -> ConnectionLimiter {
        ConnectionLimiter::new(ConnectionLimits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            is_loopback_exempt: true,
        })
    }

    #[test]
    fn per_ip_cap_counts_and_releases() {
        let l = limiter(10, 2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = l.admit(ip).unwrap();
        let _b = l.admit(ip).unwrap();
        assert_eq!(
            l.admit(ip).unwrap_err(),
            LimitRefusal::TooManyFromAddress { max: 2 }
        );
        assert!(l.admit("192.0.2.2".parse().unwrap()).is_ok());
        drop(a);
        assert!(l.admit(ip).is_ok());
    }

    #[test]
    fn loopback_is_exempt_from_per_ip_but_not_total() {
        let l = limiter(3, 1);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let _p: Vec<_> = (0..3).map(|_| l.admit(lo).unwrap()).collect();
        assert_eq!(
            l.admit(lo).unwrap_err(),
            LimitRefusal::ServerFull { max: 3 }
        );
        assert_eq!(l.open_connections(), 3);
    }

    #[test]
    fn mapped_v4_counts_as_v4() {
        let l = limiter(10, 1);
        let _a = l.admit("192.0.2.1".parse().unwrap()).unwrap();
        assert!(l.admit("::ffff:192.0.2.1".parse().unwrap()).is_err());
    }
}
