//! The idle and churn workloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{Conn, line_end, say_prefix, source_for};
use crate::error::BenchError;
use crate::report::{Report, ServerUsage};
use crate::{BenchConfig, procstat};

/// Opens and registers `connections` clients, holds them for `hold`, and reports the
/// registration rate and the server's memory per connection.
pub(crate) async fn run_idle(
    config: &BenchConfig,
    connections: usize,
    hold: Duration,
) -> Result<Report, BenchError> {
    let pids = config.pids();
    // One client registers first and stays: the server has then finished starting (a server
    // may take connections into its backlog while it still opens its store or hashes a
    // password, and that memory comes and goes), so the baseline and the rate are of
    // connections alone. Its nick is one past the others'.
    let mut warm = Conn::connect(
        config,
        connections,
        source_for(0, connections, config.addr_for(0)),
    )
    .await?;
    warm.register(config).await?;
    let rss_before = procstat::rss_total(&pids);
    let cpu_before = procstat::cpu_total(&pids);
    let limit = Arc::new(Semaphore::new(config.connect_concurrency.max(1)));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..connections {
        let config = config.clone();
        let limit = Arc::clone(&limit);
        let done = Arc::clone(&done);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let source = source_for(index, connections, config.addr_for(index));
            let mut conn = Conn::connect(&config, index, source).await?;
            conn.register(&config).await?;
            done.fetch_add(1, Ordering::Relaxed);
            Ok::<_, BenchError>(conn)
        });
    }
    let progress = config.is_progress.then(|| {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                eprintln!(
                    "bench: {} of {connections} registered",
                    done.load(Ordering::Relaxed)
                );
            }
        })
    });
    let mut held = Vec::with_capacity(connections);
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(conn)) => held.push(conn),
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(BenchError::Closed {
                    during: "registering",
                });
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(task) = progress {
        task.abort();
    }
    tokio::time::sleep(hold).await;
    let rss_after = procstat::rss_total(&pids);
    let peak = AtomicU64::new(rss_after.unwrap_or(0));
    let usage = ServerUsage::measure(&pids, cpu_before, &peak);
    let growth = rss_before.zip(rss_after).map(|(b, a)| a.saturating_sub(b));
    drop(held);
    drop(warm);
    Ok(Report::idle(config, connections, seconds, growth, usage))
}

/// Starts `rate` connect-register-join-say-quit cycles per second for `duration`.
pub(crate) async fn run_churn(
    config: &BenchConfig,
    rate: f64,
    duration: Duration,
) -> Result<Report, BenchError> {
    let pids = config.pids();
    let cpu_before = procstat::cpu_total(&pids);
    let in_flight = Arc::new(Semaphore::new(config.connect_concurrency.max(1) * 4));
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut index = 0usize;
    while started.elapsed() < duration {
        let at = started + period.mul_f64(index as f64);
        tokio::time::sleep_until(at).await;
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let config = config.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let begun = Instant::now();
            let mut conn = Conn::connect(&config, 1_000_000 + index, None).await?;
            conn.register(&config).await?;
            conn.join(&config).await?;
            let line = format!(
                "{}churn {index}{}",
                say_prefix(config.proto, &config.channel),
                line_end(config.proto)
            );
            conn.send(&line, "saying a line").await?;
            conn.quit(config.proto).await?;
            Ok::<_, BenchError>(begun.elapsed())
        });
        index += 1;
    }
    let mut cycles = 0;
    let mut failed = 0;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .expect("static histogram bounds are valid");
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(took)) => {
                cycles += 1;
                let _ = latency.record((took.as_micros() as u64).max(1));
            }
            _ => failed += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = AtomicU64::new(0);
    let usage = ServerUsage::measure(&pids, cpu_before, &peak);
    Ok(Report::churn(
        config, cycles, failed, seconds, &latency, usage,
    ))
}
