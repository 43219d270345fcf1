//! Metrics for Prometheus: this server's own recorder (not the process-wide one, so that
//! servers in one process keep their counts apart), the hub's handles made from it, the
//! connection counters by face, and the gauges read at scrape time. `GET /metrics` on the
//! web listener renders them, for loopback and the exempt ranges only.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder as _, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use teahouse_hub::{ConnectionLimiter, Hub, HubMetrics};

/// The faces, as the `face` label and the limiter's face numbers know them.
pub(crate) const FACES: [&str; 4] = ["text", "irc", "ircs", "web"];

/// How often histogram samples are folded in when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const META: Metadata<'static> = Metadata::new("teahouse", metrics::Level::INFO, None);

/// One server's metrics.
pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
    /// Connections accepted, by face.
    pub(crate) connections: [Counter; 4],
    open: [Gauge; 4],
    sessions: Gauge,
    users: Gauge,
    rooms: Gauge,
    accounts: Gauge,
    /// Nodes of the cluster reachable now, this one included.
    nodes: Gauge,
    /// Changes not sent to the other nodes (queue full, or NATS away); a counter, read from
    /// the bus at scrape time.
    bus_dropped: Counter,
    /// What the hub counts on.
    pub(crate) hub: HubMetrics,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let seconds = [
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
        ];
        let sizes = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &seconds)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("teahouse_store_batch_size".to_owned()),
                    &sizes,
                )
            });
        // The buckets are not empty, so this cannot fail; without them, summaries.
        let recorder = builder
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let r = &recorder;
        let counter = |name: &'static str, help: &'static str| {
            r.describe_counter(name.into(), None, help.into());
            r.register_counter(&Key::from_name(name), &META)
        };
        let gauge = |name: &'static str, help: &'static str| {
            r.describe_gauge(name.into(), None, help.into());
            r.register_gauge(&Key::from_name(name), &META)
        };
        let histogram = |name: &'static str, unit: Option<Unit>, help: &'static str| -> Histogram {
            r.describe_histogram(name.into(), unit, help.into());
            r.register_histogram(&Key::from_name(name), &META)
        };
        r.describe_counter(
            "teahouse_connections_total".into(),
            None,
            "Connections accepted, by face".into(),
        );
        r.describe_gauge(
            "teahouse_connections_open".into(),
            None,
            "Connections open now, by face".into(),
        );
        let by_face = |name: &'static str| {
            FACES.map(|face| Key::from_parts(name, vec![Label::new("face", face)]))
        };
        let connections =
            by_face("teahouse_connections_total").map(|k| r.register_counter(&k, &META));
        let open = by_face("teahouse_connections_open").map(|k| r.register_gauge(&k, &META));
        r.describe_gauge(
            "teahouse_build_info".into(),
            None,
            "Always 1; the version is the label".into(),
        );
        r.register_gauge(
            &Key::from_parts(
                "teahouse_build_info",
                vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
            ),
            &META,
        )
        .set(1.0);
        let hub = HubMetrics {
            registrations: counter("teahouse_registrations_total", "Accounts registered"),
            logins_ok: counter("teahouse_logins_ok_total", "Password logins that succeeded"),
            logins_failed: counter(
                "teahouse_logins_failed_total",
                "Password logins that failed (wrong password, unknown account, locked out)",
            ),
            messages_in: counter("teahouse_messages_in_total", "Messages accepted from users"),
            deliveries: counter(
                "teahouse_deliveries_total",
                "Messages put on recipients' queues (messages out)",
            ),
            fanout_seconds: histogram(
                "teahouse_fanout_seconds",
                Some(Unit::Seconds),
                "From a message's acceptance to its delivery to every recipient",
            ),
            sendq_evictions: counter(
                "teahouse_sendq_evictions_total",
                "Sessions cut because they stopped reading (send queue exceeded)",
            ),
            flood_cuts: counter("teahouse_flood_cuts_total", "Sessions cut by flood control"),
            store_commit_seconds: histogram(
                "teahouse_store_commit_seconds",
                Some(Unit::Seconds),
                "One store transaction of a batch of messages",
            ),
            store_batch_size: histogram(
                "teahouse_store_batch_size",
                Some(Unit::Count),
                "Messages in one store transaction",
            ),
        };
        Self {
            connections,
            open,
            sessions: gauge("teahouse_sessions", "Sessions attached to the hub"),
            users: gauge("teahouse_users", "Sessions with a completed registration"),
            rooms: gauge("teahouse_rooms", "Rooms that exist now"),
            accounts: gauge("teahouse_accounts", "Registered accounts"),
            nodes: gauge(
                "teahouse_cluster_nodes",
                "Nodes of the cluster reachable now, this one included",
            ),
            bus_dropped: counter(
                "teahouse_cluster_dropped_total",
                "Changes not sent to the other nodes (publish queue full, or NATS out of reach)",
            ),
            hub,
            recorder,
        }
    }

    /// The text Prometheus scrapes, its gauges read now.
    pub(crate) fn render(&self, hub: &Hub, limiter: &ConnectionLimiter) -> String {
        for (gauge, open) in self.open.iter().zip(limiter.open_by_face()) {
            gauge.set(open as f64);
        }
        let stats = hub.stats();
        self.sessions.set(hub.session_count() as f64);
        self.users.set(stats.users as f64);
        self.rooms.set(stats.rooms as f64);
        self.accounts.set(hub.registered_count() as f64);
        self.nodes.set(stats.servers as f64);
        self.bus_dropped.absolute(hub.bus_dropped());
        self.recorder.handle().render()
    }

    /// Folds histogram samples in every few seconds, until `stop`.
    pub(crate) async fn upkeep(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let handle = self.recorder.handle();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(UPKEEP_EVERY) => handle.run_upkeep(),
            }
        }
    }
}

/// Who may read `/metrics`: loopback, and the configured exempt ranges.
pub(crate) fn may_scrape(limiter: &ConnectionLimiter, ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback() || limiter.is_exempt(ip)
}

#[cfg(test)]
mod tests {
    use teahouse_hub::ConnectionLimits;

    use super::*;

    #[test]
    fn only_loopback_and_exempt_ranges_may_scrape() {
        let limiter = ConnectionLimiter::new(ConnectionLimits {
            exempt: vec!["10.0.0.0/8".parse().expect("range")],
            ..ConnectionLimits::default()
        });
        for (ip, may) in [
            ("127.0.0.1", true),
            ("::1", true),
            ("10.1.2.3", true),
            ("192.0.2.1", false),
            ("2001:db8::1", false),
        ] {
            assert_eq!(may_scrape(&limiter, ip.parse().expect("ip")), may, "{ip}");
        }
    }

    #[test]
    fn a_fresh_server_renders_its_build_and_zeroed_counters() {
        let metrics = Metrics::new();
        metrics.hub.messages_in.increment(2);
        let hub = Hub::new(teahouse_hub::HubConfig::default());
        let text = metrics.render(&hub, &ConnectionLimiter::new(ConnectionLimits::default()));
        assert!(text.contains("teahouse_messages_in_total 2"), "{text}");
        assert!(text.contains("# HELP teahouse_deliveries_total"), "{text}");
        assert!(
            text.contains("teahouse_connections_open{face=\"web\"} 0"),
            "{text}"
        );
    }
}
