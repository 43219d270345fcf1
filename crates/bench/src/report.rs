//! What a run measured: a table for people, one JSON object for scripts.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::tally::Tally;
use crate::{BenchConfig, Pacing, Proto, procstat};

/// The server's resource use over the measurement, when its pid was given.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct ServerUsage {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) rss_peak_bytes: Option<u64>,
}

impl ServerUsage {
    pub(crate) fn measure(pids: &[u32], cpu_before: Option<Duration>, peak: &AtomicU64) -> Self {
        let cpu_after = procstat::cpu_total(pids);
        let rss_now = procstat::rss_total(pids).unwrap_or(0);
        let peak = peak.load(Ordering::Relaxed).max(rss_now);
        Self {
            cpu_seconds: cpu_before
                .zip(cpu_after)
                .map(|(before, after)| after.saturating_sub(before).as_secs_f64()),
            rss_peak_bytes: (peak > 0).then_some(peak),
        }
    }
}

/// What a fan-out run counted.
pub(crate) struct Delivery {
    pub(crate) clients: usize,
    pub(crate) senders: usize,
    pub(crate) messages: usize,
    pub(crate) silent: usize,
    pub(crate) pacing: Pacing,
    pub(crate) expected: u64,
    pub(crate) tally: Tally,
    pub(crate) elapsed: Duration,
    pub(crate) usage: ServerUsage,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Maximum.
    pub max_us: u64,
}

impl Latency {
    fn from(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        })
    }
}

/// The result of one run: every field a workload measured, the rest `None`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `fanout`, `idle` or `churn`.
    pub workload: &'static str,
    /// The protocol spoken.
    pub proto: Proto,
    /// The server's address.
    pub addr: String,
    /// Clients (fanout) or connections (idle).
    pub clients: usize,
    /// Fanout: senders.
    pub senders: Option<usize>,
    /// Fanout: messages per sender.
    pub messages: Option<usize>,
    /// Fanout: clients that never read.
    pub silent: Option<usize>,
    /// Fanout: pacing.
    pub pacing: Option<Pacing>,
    /// Payload size in bytes.
    pub payload_bytes: usize,
    /// Fanout: deliveries expected.
    pub expected: Option<u64>,
    /// Fanout: payload lines received (duplicates included).
    pub received: Option<u64>,
    /// Fanout: expected deliveries that never came.
    pub lost: Option<u64>,
    /// Fanout: payloads received more than once.
    pub duplicated: Option<u64>,
    /// Fanout: payloads that came after a later one from the same sender.
    pub out_of_order: Option<u64>,
    /// Seconds from the first send to the last delivery (fanout), or of the run.
    pub seconds: f64,
    /// Fanout: distinct deliveries per second.
    pub deliveries_per_second: Option<f64>,
    /// Fanout: delivery latency; churn: cycle time.
    pub latency: Option<Latency>,
    /// Server CPU time over the measurement, when its pid was given.
    pub server_cpu_seconds: Option<f64>,
    /// Fanout: server CPU seconds per million deliveries.
    pub server_cpu_seconds_per_million: Option<f64>,
    /// Server peak resident memory during the run.
    pub server_rss_peak_bytes: Option<u64>,
    /// Idle: registrations per second.
    pub registrations_per_second: Option<f64>,
    /// Idle: server resident memory per connection (growth over the run / connections).
    pub server_rss_per_connection_bytes: Option<f64>,
    /// Churn: cycles completed.
    pub cycles: Option<u64>,
    /// Churn: cycles that failed.
    pub failed: Option<u64>,
    /// Churn: cycles per second.
    pub cycles_per_second: Option<f64>,
}

impl Report {
    fn base(config: &BenchConfig, workload: &'static str, clients: usize) -> Self {
        Self {
            workload,
            proto: config.proto,
            addr: config.addr.to_string(),
            clients,
            senders: None,
            messages: None,
            silent: None,
            pacing: None,
            payload_bytes: config.payload_bytes,
            expected: None,
            received: None,
            lost: None,
            duplicated: None,
            out_of_order: None,
            seconds: 0.0,
            deliveries_per_second: None,
            latency: None,
            server_cpu_seconds: None,
            server_cpu_seconds_per_million: None,
            server_rss_peak_bytes: None,
            registrations_per_second: None,
            server_rss_per_connection_bytes: None,
            cycles: None,
            failed: None,
            cycles_per_second: None,
        }
    }

    pub(crate) fn fanout(config: &BenchConfig, d: &Delivery) -> Self {
        let mut r = Self::base(config, "fanout", d.clients);
        let seconds = d.elapsed.as_secs_f64();
        r.senders = Some(d.senders);
        r.messages = Some(d.messages);
        r.silent = Some(d.silent);
        r.pacing = Some(d.pacing);
        r.expected = Some(d.expected);
        r.received = Some(d.tally.received);
        r.lost = Some(d.expected.saturating_sub(d.tally.distinct));
        r.duplicated = Some(d.tally.duplicates);
        r.out_of_order = Some(d.tally.out_of_order);
        r.seconds = seconds;
        r.deliveries_per_second = (seconds > 0.0).then(|| d.tally.distinct as f64 / seconds);
        r.latency = Latency::from(&d.tally.latency_us);
        r.server_cpu_seconds = d.usage.cpu_seconds;
        r.server_cpu_seconds_per_million = d
            .usage
            .cpu_seconds
            .filter(|_| d.tally.distinct > 0)
            .map(|cpu| cpu * 1e6 / d.tally.distinct as f64);
        r.server_rss_peak_bytes = d.usage.rss_peak_bytes;
        r
    }

    pub(crate) fn idle(
        config: &BenchConfig,
        connections: usize,
        seconds: f64,
        rss_growth: Option<u64>,
        usage: ServerUsage,
    ) -> Self {
        let mut r = Self::base(config, "idle", connections);
        r.seconds = seconds;
        r.registrations_per_second = (seconds > 0.0).then(|| connections as f64 / seconds);
        r.server_rss_per_connection_bytes = rss_growth
            .filter(|_| connections > 0)
            .map(|growth| growth as f64 / connections as f64);
        r.server_cpu_seconds = usage.cpu_seconds;
        r.server_rss_peak_bytes = usage.rss_peak_bytes;
        r
    }

    pub(crate) fn churn(
        config: &BenchConfig,
        cycles: u64,
        failed: u64,
        seconds: f64,
        latency: &Histogram<u64>,
        usage: ServerUsage,
    ) -> Self {
        let mut r = Self::base(config, "churn", 0);
        r.cycles = Some(cycles);
        r.failed = Some(failed);
        r.seconds = seconds;
        r.cycles_per_second = (seconds > 0.0).then(|| cycles as f64 / seconds);
        r.latency = Latency::from(latency);
        r.server_cpu_seconds = usage.cpu_seconds;
        r.server_rss_peak_bytes = usage.rss_peak_bytes;
        r
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, name: &str, value: String| {
            writeln!(f, "  {name:<28} {value}")
        };
        writeln!(
            f,
            "teahouse bench: {} over {:?} against {}",
            self.workload, self.proto, self.addr
        )?;
        row(f, "clients", self.clients.to_string())?;
        if let (Some(s), Some(m)) = (self.senders, self.messages) {
            row(f, "senders x messages", format!("{s} x {m}"))?;
        }
        if let Some(pacing) = self.pacing {
            row(f, "pacing", format!("{pacing:?}"))?;
        }
        if let Some(silent) = self.silent.filter(|s| *s > 0) {
            row(f, "clients that never read", silent.to_string())?;
        }
        if let Some(expected) = self.expected {
            row(f, "deliveries expected", expected.to_string())?;
            row(f, "received", self.received.unwrap_or(0).to_string())?;
            row(f, "lost", self.lost.unwrap_or(0).to_string())?;
            row(f, "duplicated", self.duplicated.unwrap_or(0).to_string())?;
            row(
                f,
                "out of order",
                self.out_of_order.unwrap_or(0).to_string(),
            )?;
        }
        row(f, "seconds", format!("{:.3}", self.seconds))?;
        if let Some(rate) = self.deliveries_per_second {
            row(f, "deliveries per second", format!("{rate:.0}"))?;
        }
        if let Some(l) = self.latency {
            row(
                f,
                "latency p50 / p99 / p99.9 / max",
                format!(
                    "{:.2} / {:.2} / {:.2} / {:.2} ms",
                    l.p50_us as f64 / 1e3,
                    l.p99_us as f64 / 1e3,
                    l.p999_us as f64 / 1e3,
                    l.max_us as f64 / 1e3
                ),
            )?;
        }
        if let Some(cpu) = self.server_cpu_seconds {
            row(f, "server CPU seconds", format!("{cpu:.2}"))?;
        }
        if let Some(per) = self.server_cpu_seconds_per_million {
            row(f, "server CPU s per million", format!("{per:.3}"))?;
        }
        if let Some(rss) = self.server_rss_peak_bytes {
            row(
                f,
                "server RSS peak",
                format!("{:.1} MiB", rss as f64 / 1048576.0),
            )?;
        }
        if let Some(rate) = self.registrations_per_second {
            row(f, "registrations per second", format!("{rate:.0}"))?;
        }
        if let Some(per) = self.server_rss_per_connection_bytes {
            row(
                f,
                "server RSS per connection",
                format!("{:.2} KB", per / 1000.0),
            )?;
        }
        if let (Some(c), Some(x)) = (self.cycles, self.failed) {
            row(f, "cycles (failed)", format!("{c} ({x})"))?;
        }
        if let Some(rate) = self.cycles_per_second {
            row(f, "cycles per second", format!("{rate:.0}"))?;
        }
        Ok(())
    }
}
