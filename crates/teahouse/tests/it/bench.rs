//! `teahouse bench` against teahouse itself: every delivery accounted for, on every protocol.

use teahouse_bench::{BenchConfig, Pacing, Proto, Workload, run};
use teahouse_testkit::teahouse_server::ListenAddr;
use teahouse_testkit::{TestCa, TestServer};

async fn fanout(proto: Proto, pacing: Pacing) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("teahouse-bench-{proto:?}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca = TestCa::new(&dir)?;
    let (cert, key, _) = ca.issue(&format!("{proto:?}"))?;
    let server = TestServer::start_with(|c| {
        c.irc.flood.enabled = false;
        c.text.flood.enabled = false;
        if proto == Proto::Ircs {
            c.irc.tls_addr = ListenAddr::At(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            c.tls.cert = Some(cert);
            c.tls.key = Some(key);
        }
    })
    .await?;
    let addr = match proto {
        Proto::Text => server.text_addr,
        Proto::Irc => server.irc_addr,
        Proto::Ws => server.web_addr,
        Proto::Ircs => server
            .ircs_addr
            .ok_or_else(|| anyhow::anyhow!("no TLS port"))?,
    };
    let workload = Workload::Fanout {
        clients: 20,
        senders: 4,
        messages: 200,
        pacing,
        silent: 0,
    };
    let mut config = BenchConfig::new(addr, proto, workload);
    config.server_pid = Some(std::process::id());
    let report = run(config).await?;
    assert_eq!(report.expected, Some(4 * 200 * 19));
    assert_eq!(report.received, report.expected, "{report}");
    assert_eq!(report.lost, Some(0), "{report}");
    assert_eq!(report.duplicated, Some(0), "{report}");
    assert_eq!(report.out_of_order, Some(0), "{report}");
    assert!(report.server_cpu_seconds.is_some());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fanout_over_irc_accounts_for_every_delivery() -> anyhow::Result<()> {
    fanout(Proto::Irc, Pacing::Open).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fanout_over_irc_over_tls_accounts_for_every_delivery() -> anyhow::Result<()> {
    fanout(Proto::Ircs, Pacing::Open).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fanout_over_websocket_accounts_for_every_delivery() -> anyhow::Result<()> {
    fanout(Proto::Ws, Pacing::Open).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fanout_over_text_with_a_window_accounts_for_every_delivery() -> anyhow::Result<()> {
    fanout(Proto::Text, Pacing::Window(1)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_idle_and_churn_run_against_teahouse() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.irc.flood.enabled = false).await?;
    let idle = Workload::Idle {
        connections: 50,
        hold: std::time::Duration::ZERO,
    };
    let mut config = BenchConfig::new(server.irc_addr, Proto::Irc, idle);
    config.server_pid = Some(std::process::id());
    let report = run(config).await?;
    assert!(
        report.registrations_per_second.is_some_and(|r| r > 0.0),
        "{report}"
    );
    let churn = Workload::Churn {
        rate: 200.0,
        duration: std::time::Duration::from_millis(200),
    };
    let mut config = BenchConfig::new(server.irc_addr, Proto::Irc, churn);
    config.nick_prefix = "c".into();
    let report = run(config).await?;
    assert_eq!(report.failed, Some(0), "{report}");
    assert!(report.cycles.is_some_and(|c| c > 0), "{report}");
    Ok(())
}
