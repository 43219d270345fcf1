//! Flood control for one connection, the same on every face: lines and bytes, each a burst
//! and then a steady rate (GCRA rate limiters from `governor`). A line that would exceed
//! either waits (fake lag); the face cuts a client whose waiting input grows past its
//! receive queue.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, MonotonicClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// Flood control settings; plain values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodConfig {
    /// Lines a client may send at once before it is slowed.
    pub burst: u32,
    /// Lines per second it may send after that.
    pub lines_per_second: f64,
    /// Bytes it may send at once before it is slowed.
    pub burst_bytes: u32,
    /// Bytes per second it may send after that.
    pub bytes_per_second: u32,
    /// Unprocessed input held for a slowed client before it is disconnected.
    pub recvq_bytes: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            burst: 20,
            lines_per_second: 4.0,
            burst_bytes: 32 * 1024,
            bytes_per_second: 8 * 1024,
            recvq_bytes: 8192,
        }
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock>;

/// One connection's flood control.
pub struct FloodLimiter {
    lines: Limiter,
    bytes: Limiter,
    /// The line waiting to go has paid its line already (its bytes had to wait).
    is_line_paid: bool,
}

impl std::fmt::Debug for FloodLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloodLimiter").finish_non_exhaustive()
    }
}

impl FloodLimiter {
    /// A limiter with `config`'s quotas, its bursts full.
    pub fn new(config: &FloodConfig) -> Self {
        Self {
            lines: RateLimiter::direct_with_clock(
                quota(config.burst, every(config.lines_per_second)),
                MonotonicClock,
            ),
            bytes: RateLimiter::direct_with_clock(
                quota(
                    config.burst_bytes,
                    every(f64::from(config.bytes_per_second)),
                ),
                MonotonicClock,
            ),
            is_line_paid: false,
        }
    }

    /// Takes a line of `len` bytes if both quotas allow it now; else the instant to try
    /// again. A line longer than the byte burst is charged the whole burst.
    pub fn check(&mut self, len: usize) -> Result<(), Instant> {
        let clock = MonotonicClock;
        if !self.is_line_paid {
            if let Err(not_until) = self.lines.check() {
                return Err(later(not_until.wait_time_from(clock.now())));
            }
            self.is_line_paid = true;
        }
        let cells = u32::try_from(len.max(1)).unwrap_or(u32::MAX);
        let cells = NonZeroU32::new(cells).unwrap_or(NonZeroU32::MIN);
        let outcome = match self.bytes.check_n(cells) {
            Ok(outcome) => outcome,
            // Longer than the burst: it takes the whole burst.
            Err(governor::InsufficientCapacity(burst)) => {
                match self
                    .bytes
                    .check_n(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
                {
                    Ok(outcome) => outcome,
                    Err(_) => Ok(()),
                }
            }
        };
        match outcome {
            Ok(()) => {
                self.is_line_paid = false;
                Ok(())
            }
            Err(not_until) => Err(later(not_until.wait_time_from(clock.now()))),
        }
    }
}

fn later(wait: Duration) -> Instant {
    // At least a millisecond, so that a timer set to it is in the future.
    Instant::now() + wait.max(Duration::from_millis(1))
}

/// The time one cell takes to come back at `per_second`.
fn every(per_second: f64) -> Duration {
    Duration::from_secs_f64(1.0 / per_second.max(0.001))
}

/// `burst` cells at once, one more back every `each`: every limiter of the hub (flood
/// control, the connection and registration throttles) is made here.
pub(crate) fn quota(burst: u32, each: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(each.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// `count` cells per `period`, all of them at once to begin with.
pub(crate) fn quota_per(count: u32, period: Duration) -> Quota {
    quota(count, period / count.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_lines_then_a_wait_near_the_rate() {
        let mut limiter = FloodLimiter::new(&FloodConfig {
            burst: 3,
            lines_per_second: 2.0,
            ..FloodConfig::default()
        });
        assert!((0..3).all(|_| limiter.check(10).is_ok()));
        let retry = limiter.check(10).expect_err("the fourth line waits");
        let wait = retry - Instant::now();
        assert!(
            wait > Duration::from_millis(300) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
    }

    #[test]
    fn bytes_are_limited_too_and_a_waiting_line_pays_its_line_once() {
        let mut limiter = FloodLimiter::new(&FloodConfig {
            burst: 100,
            lines_per_second: 100.0,
            burst_bytes: 1000,
            bytes_per_second: 1000,
            recvq_bytes: 8192,
        });
        assert!(limiter.check(600).is_ok());
        // 400 bytes left in the burst: a 600-byte line waits about 0.2 s for its bytes.
        let retry = limiter.check(600).expect_err("the bytes wait");
        let wait = retry - Instant::now();
        assert!(wait > Duration::from_millis(100), "{wait:?}");
        assert!(limiter.is_line_paid);
        // A line longer than the whole burst is charged the burst, and still goes once it is
        // full again.
        let mut limiter = FloodLimiter::new(&FloodConfig {
            burst_bytes: 100,
            ..FloodConfig::default()
        });
        assert!(limiter.check(5000).is_ok());
        assert!(limiter.check(1).is_err());
    }
}
