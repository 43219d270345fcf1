//! How many connections may be open, in all and per client address, and how fast one
//! address may open new ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::RateLimiter;
use governor::clock::MonotonicClock;
use governor::state::keyed::HashMapStateStore;
use ipnet::IpNet;

/// Connection caps; plain settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once across every listener.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Whether loopback addresses are exempt from the per-address cap and throttle (local
    /// tests, bridges and bouncers all connect from there, as Ergo does by default).
    pub is_loopback_exempt: bool,
    /// New connections one address may open per period (Ergo: 32 per 10 minutes), as a
    /// burst that refills steadily; `None` for no throttle.
    pub connection_rate: Option<(u32, Duration)>,
    /// Address ranges exempt from the per-address cap and throttle, besides loopback.
    pub exempt: Vec<IpNet>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 100_000,
            max_connections_per_ip: 16,
            is_loopback_exempt: true,
            connection_rate: Some((32, Duration::from_secs(600))),
            exempt: Vec::new(),
        }
    }
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
    /// This address opened too many connections lately.
    #[error("too many new connections from your address; try again in {} s", retry_after.as_secs().max(1))]
    TooFast {
        /// How long until the next one is let in.
        retry_after: Duration,
    },
}

/// Counts open connections; cheap to clone, shared by every listener.
#[derive(Debug, Clone)]
pub struct ConnectionLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    counts: Mutex<Counts>,
}

type Throttle = RateLimiter<IpAddr, HashMapStateStore<IpAddr>, MonotonicClock>;

/// New connections per address (keys forgotten once their burst is full again).
struct Rate(Throttle);

impl std::fmt::Debug for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rate").finish_non_exhaustive()
    }
}

/// Admissions between two sweeps of the throttle's keys.
const SWEEP_EVERY: u32 = 4096;

/// Faces the limiter counts open connections of (the server numbers them).
pub const FACES: usize = 4;

#[derive(Debug)]
struct Counts {
    limits: ConnectionLimits,
    rate: Option<Rate>,
    total: usize,
    /// Open connections by face.
    per_face: [usize; FACES],
    per_ip: HashMap<IpAddr, usize>,
    /// Throttle checks since its keys were last swept.
    since_sweep: u32,
}

fn throttle(limits: &ConnectionLimits) -> Option<Rate> {
    limits.connection_rate.map(|(per, period)| {
        let quota = crate::flood::quota_per(per, period);
        Rate(RateLimiter::hashmap_with_clock(quota, MonotonicClock))
    })
}

fn is_exempt(limits: &ConnectionLimits, ip: IpAddr) -> bool {
    is_exempt_address(limits.is_loopback_exempt, &limits.exempt, ip)
}

/// Whether `ip` is exempt from the per-address limits (caps, throttles, the wrong-password
/// count): loopback if `loopback` says so, and the `ranges`. The one rule every limit uses.
pub(crate) fn is_exempt_address(loopback: bool, ranges: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    (loopback && ip.is_loopback()) || ranges.iter().any(|net| net.contains(&ip))
}

/// One admitted connection; dropping it gives the place back.
#[derive(Debug)]
pub struct ConnectionPermit {
    inner: Arc<Inner>,
    ip: Option<IpAddr>,
    /// The face it is open on (in the padding after `ip`: no bigger for it).
    face: u8,
}

impl ConnectionLimiter {
    /// A limiter with nothing open.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                counts: Mutex::new(Counts {
                    rate: throttle(&limits),
                    limits,
                    total: 0,
                    per_face: [0; FACES],
                    per_ip: HashMap::new(),
                    since_sweep: 0,
                }),
            }),
        }
    }

    /// New caps (a configuration reload). Open connections stay, also over a lower cap; a
    /// changed throttle starts afresh.
    pub fn set_limits(&self, limits: ConnectionLimits) {
        let mut counts = self.inner.lock();
        if counts.limits.connection_rate != limits.connection_rate {
            counts.rate = throttle(&limits);
        }
        counts.limits = limits;
    }

    /// Whether `ip` is exempt from the per-address cap and throttle.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        is_exempt(&self.inner.lock().limits, ip)
    }

    /// Admits a connection from `ip`, or says why not.
    ///
    /// # Errors
    /// A [`LimitRefusal`] when a cap is reached.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionPermit, LimitRefusal> {
        self.admit_as(ip, 0)
    }

    /// [`ConnectionLimiter::admit`], counted as open on `face` (0 to 3, as the server
    /// numbers its faces).
    ///
    /// # Errors
    /// A [`LimitRefusal`] when a cap is reached.
    pub fn admit_as(&self, ip: IpAddr, face: usize) -> Result<ConnectionPermit, LimitRefusal> {
        self.admit_counting(ip, face, (0, 0), None)
    }

    /// [`ConnectionLimiter::admit_as`], counting `elsewhere` (connections open on the
    /// other nodes of a cluster: in all, and from `ip`) against the per-address cap and
    /// `cluster_max` (connections in the whole cluster, if capped).
    ///
    /// # Errors
    /// A [`LimitRefusal`] when a cap is reached.
    pub fn admit_counting(
        &self,
        ip: IpAddr,
        face: usize,
        elsewhere: (usize, usize),
        cluster_max: Option<usize>,
    ) -> Result<ConnectionPermit, LimitRefusal> {
        let face = face.min(FACES - 1);
        let mut guard = self.inner.lock();
        let counts = &mut *guard;
        let limits = &counts.limits;
        if counts.total >= limits.max_connections {
            return Err(LimitRefusal::ServerFull {
                max: limits.max_connections,
            });
        }
        if let Some(max) = cluster_max
            && counts.total + elsewhere.0 >= max
        {
            return Err(LimitRefusal::ServerFull { max });
        }
        let ip = ip.to_canonical();
        let is_counted = !is_exempt(limits, ip);
        if is_counted {
            if counts.per_ip.get(&ip).copied().unwrap_or(0) + elsewhere.1
                >= limits.max_connections_per_ip
            {
                return Err(LimitRefusal::TooManyFromAddress {
                    max: limits.max_connections_per_ip,
                });
            }
            if let Some(Rate(rate)) = &counts.rate {
                counts.since_sweep += 1;
                if counts.since_sweep >= SWEEP_EVERY {
                    counts.since_sweep = 0;
                    rate.retain_recent();
                    rate.shrink_to_fit();
                }
                if let Err(not_until) = rate.check_key(&ip) {
                    use governor::clock::Clock as _;
                    return Err(LimitRefusal::TooFast {
                        retry_after: not_until.wait_time_from(MonotonicClock.now()),
                    });
                }
            }
            *counts.per_ip.entry(ip).or_insert(0) += 1;
        }
        counts.total += 1;
        counts.per_face[face] += 1;
        Ok(ConnectionPermit {
            inner: Arc::clone(&self.inner),
            ip: is_counted.then_some(ip),
            face: u8::try_from(face).unwrap_or(0),
        })
    }

    /// Connections open now on each face.
    pub fn open_by_face(&self) -> [usize; FACES] {
        self.inner.lock().per_face
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
        counts.per_face[usize::from(self.face)] -= 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(total: usize, per_ip: usize) -> ConnectionLimiter {
        ConnectionLimiter::new(ConnectionLimits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..ConnectionLimits::default()
        })
    }

    #[test]
    fn one_exemption_rule_for_loopback_ranges_and_mapped_addresses() {
        let ranges = ["10.0.0.0/8".parse().unwrap()];
        assert!(is_exempt_address(true, &[], "127.0.0.1".parse().unwrap()));
        assert!(!is_exempt_address(false, &[], "127.0.0.1".parse().unwrap()));
        assert!(is_exempt_address(
            false,
            &ranges,
            "::ffff:10.1.1.1".parse().unwrap()
        ));
        assert!(!is_exempt_address(
            true,
            &ranges,
            "192.0.2.1".parse().unwrap()
        ));
    }

    #[test]
    fn an_address_opening_too_many_is_throttled_and_exempt_ranges_are_not() {
        let l = ConnectionLimiter::new(ConnectionLimits {
            connection_rate: Some((3, Duration::from_secs(600))),
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
            ..ConnectionLimits::default()
        });
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            drop(l.admit(ip).unwrap());
        }
        // Closed again, but opened too fast: the fourth waits about 200 s.
        match l.admit(ip) {
            Err(LimitRefusal::TooFast { retry_after }) => {
                assert!(retry_after > Duration::from_secs(150), "{retry_after:?}")
            }
            other => panic!("{other:?}"),
        }
        assert!(l.admit("192.0.2.8".parse().unwrap()).is_ok());
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        let _held: Vec<_> = (0..20).map(|_| l.admit(inside).unwrap()).collect();
        assert!(l.is_exempt("::ffff:10.9.9.9".parse().unwrap()));
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
