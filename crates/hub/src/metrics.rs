//! What the hub counts for an operator's metrics: handles of the `metrics` facade, made
//! by the server from its own recorder (none by default: every handle does nothing), so
//! several servers in one process (the tests) keep their counts apart.

use std::sync::LazyLock;

use metrics::{Counter, Histogram};

/// The hub's counters and histograms.
#[derive(Clone)]
pub struct HubMetrics {
    /// Accounts registered.
    pub registrations: Counter,
    /// Password logins that succeeded.
    pub logins_ok: Counter,
    /// Password logins that failed (a wrong password, an unknown account, a lockout).
    pub logins_failed: Counter,
    /// Messages accepted from users (room and direct).
    pub messages_in: Counter,
    /// Messages put on recipients' queues.
    pub deliveries: Counter,
    /// Seconds from a message's acceptance to its delivery to every recipient (with
    /// history: stored first).
    pub fanout_seconds: Histogram,
    /// Sessions cut because they stopped reading (send queue exceeded).
    pub sendq_evictions: Counter,
    /// Sessions cut by flood control.
    pub flood_cuts: Counter,
    /// Seconds one store transaction of a batch of messages took.
    pub store_commit_seconds: Histogram,
    /// Messages in one store transaction.
    pub store_batch_size: Histogram,
}

impl Default for HubMetrics {
    fn default() -> Self {
        Self {
            registrations: Counter::noop(),
            logins_ok: Counter::noop(),
            logins_failed: Counter::noop(),
            messages_in: Counter::noop(),
            deliveries: Counter::noop(),
            fanout_seconds: Histogram::noop(),
            sendq_evictions: Counter::noop(),
            flood_cuts: Counter::noop(),
            store_commit_seconds: Histogram::noop(),
            store_batch_size: Histogram::noop(),
        }
    }
}

impl std::fmt::Debug for HubMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubMetrics").finish_non_exhaustive()
    }
}

/// Handles that count nothing, for a hub without a recorder.
pub(crate) static NOOP: LazyLock<HubMetrics> = LazyLock::new(HubMetrics::default);
