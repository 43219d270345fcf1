//! The fan-out workload: N clients in one room, S senders, M messages each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{Conn, Reader, Writer, line_end, say_prefix, source_for};
use crate::error::BenchError;
use crate::payload::{self, Header};
use crate::report::{Delivery, Report, ServerUsage};
use crate::tally::Tally;
use crate::{BenchConfig, Pacing, procstat};

/// Lines written per `write` by an open-loop sender.
const OPEN_LOOP_BATCH: usize = 64;

/// The shape of a fan-out run.
pub(crate) struct Shape {
    pub(crate) clients: usize,
    pub(crate) senders: usize,
    pub(crate) messages: usize,
    pub(crate) pacing: Pacing,
    pub(crate) silent: usize,
}

/// What a receiver hands back.
struct Received {
    tally: Tally,
    last_delivery: Option<Instant>,
}

pub(crate) async fn run(config: &BenchConfig, shape: Shape) -> Result<Report, BenchError> {
    let Shape {
        clients,
        senders,
        messages,
        pacing,
        silent,
    } = shape;
    let senders = senders.min(clients);
    let silent = silent.min(clients - senders);
    let readers = clients - silent;
    let conns = connect_all(config, clients).await?;

    // Closed loop: one permit per unacknowledged message. A message is acknowledged when
    // its acker receives it: the first client that does not send, or the next client when
    // everyone sends.
    let window = match pacing {
        Pacing::Window(w) => w.max(1),
        _ => 0,
    };
    let windows: Arc<Vec<Semaphore>> =
        Arc::new((0..senders).map(|_| Semaphore::new(window)).collect());
    let acker = |sender: usize| {
        if senders < readers {
            senders
        } else {
            (sender + 1) % readers.max(1)
        }
    };

    let base = Instant::now();
    let run = run_id();
    let (go_tx, go_rx) = watch::channel(false);
    let cpu_before = procstat::cpu_total(&config.pids());
    let rss_peak = Arc::new(AtomicU64::new(0));
    let mut receivers = JoinSet::new();
    let mut sender_tasks = JoinSet::new();
    // Connections stay open until the end: a close would be announced mid-measurement.
    let mut held_conns = Vec::new();
    let mut held_writers = Vec::new();
    for (index, conn) in conns.into_iter().enumerate() {
        if index >= readers {
            // Silent clients never read.
            held_conns.push(conn);
            continue;
        }
        let Conn { reader, writer, .. } = conn;
        let expected = if index < senders {
            (senders - 1) * messages
        } else {
            senders * messages
        } as u64;
        let acks_for: Vec<usize> = (0..senders)
            .filter(|s| acker(*s) == index && *s != index)
            .collect();
        let windows_rx = Arc::clone(&windows);
        let stall = config.stall_timeout;
        let mut go = go_rx.clone();
        receivers.spawn(async move {
            let _ = go.wait_for(|g| *g).await;
            let shape = (senders, messages);
            let marks = (run, base);
            receive(
                reader,
                expected,
                shape,
                marks,
                stall,
                &acks_for,
                &windows_rx,
            )
            .await
        });
        if index < senders {
            let mut go = go_rx.clone();
            let windows = Arc::clone(&windows);
            let prefix = say_prefix(config.proto, &config.channel);
            let end = line_end(config.proto);
            let size = config.payload_bytes;
            sender_tasks.spawn(async move {
                let _ = go.wait_for(|g| *g).await;
                let plan = SendPlan {
                    run,
                    index,
                    messages,
                    pacing,
                    base,
                    prefix: &prefix,
                    end,
                    size,
                };
                send(writer, &plan, &windows).await
            });
        } else {
            held_writers.push(writer);
        }
    }
    let sampler = {
        let pids = config.pids();
        let peak = Arc::clone(&rss_peak);
        let is_progress = config.is_progress;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut ticks = 0u64;
            loop {
                tick.tick().await;
                if let Some(rss) = procstat::rss_total(&pids) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                ticks += 1;
                if is_progress && ticks.is_multiple_of(4) {
                    eprintln!(
                        "bench: fanout running, {:.0} s",
                        base.elapsed().as_secs_f64()
                    );
                }
            }
        })
    };
    let started = Instant::now();
    let _ = go_tx.send(true);
    while let Some(result) = sender_tasks.join_next().await {
        match result {
            Ok(Ok(writer)) => held_writers.push(writer),
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(BenchError::Closed { during: "sending" }),
        }
    }
    let mut total = Tally::new(0, 0);
    let mut last = started;
    while let Some(result) = receivers.join_next().await {
        if let Ok(received) = result {
            total.merge(&received.tally);
            if let Some(at) = received.last_delivery {
                last = last.max(at);
            }
        }
    }
    sampler.abort();
    let usage = ServerUsage::measure(&config.pids(), cpu_before, &rss_peak);
    drop(held_conns);
    drop(held_writers);
    // Every reading client gets every message but its own (senders all read).
    let expected = (senders * messages) as u64 * (readers as u64).saturating_sub(1);
    let elapsed = last.saturating_duration_since(started);
    Ok(Report::fanout(
        config,
        &Delivery {
            clients,
            senders,
            messages,
            silent,
            pacing,
            expected,
            tally: total,
            elapsed,
            usage,
        },
    ))
}

/// Connects, registers and joins `clients` clients, a bounded number at a time.
async fn connect_all(config: &BenchConfig, clients: usize) -> Result<Vec<Conn>, BenchError> {
    let limit = Arc::new(Semaphore::new(config.connect_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for index in 0..clients {
        let config = config.clone();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let source = source_for(index, clients, config.addr_for(index));
            let mut conn = Conn::connect(&config, index, source).await?;
            conn.register(&config).await?;
            conn.join(&config).await?;
            Ok::<_, BenchError>((index, conn))
        });
    }
    let mut conns: Vec<Option<Conn>> = (0..clients).map(|_| None).collect();
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok((index, conn))) => conns[index] = Some(conn),
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(BenchError::Closed {
                    during: "setting up",
                });
            }
        }
    }
    let mut conns: Vec<Conn> = conns.into_iter().flatten().collect();
    // Several nodes: each must know every member before anyone speaks, or a message
    // would miss the members whose joins it has not heard of yet.
    if !config.more_addrs.is_empty() && config.proto != crate::Proto::Text {
        for conn in conns.iter_mut().take(1 + config.more_addrs.len()) {
            conn.wait_members(config, clients).await?;
        }
    }
    Ok(conns)
}

/// A number for this run, different from any earlier run's (of this or another bench
/// process) in all likelihood: the clock's nanoseconds mixed with the process id.
fn run_id() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = nanos ^ (u128::from(std::process::id()) << 32);
    (mixed ^ (mixed >> 32) ^ (mixed >> 64)) as u32
}

/// What one sender sends.
struct SendPlan<'a> {
    run: u32,
    index: usize,
    messages: usize,
    pacing: Pacing,
    base: Instant,
    prefix: &'a str,
    end: &'a str,
    size: usize,
}

impl SendPlan<'_> {
    fn line(&self, buf: &mut String, seq: usize, sent: Instant) {
        buf.push_str(self.prefix);
        let header = Header {
            run: self.run,
            sender: self.index as u32,
            seq: seq as u32,
            sent_ns: sent.saturating_duration_since(self.base).as_nanos() as u64,
        };
        payload::encode(header, self.size, buf);
        buf.push_str(self.end);
    }
}

/// Sends one sender's messages; gives the writer back so the connection stays open.
async fn send(
    mut writer: Writer,
    plan: &SendPlan<'_>,
    windows: &[Semaphore],
) -> Result<Writer, BenchError> {
    let io = |source| BenchError::Io {
        during: "sending",
        source,
    };
    let mut buf = String::with_capacity(OPEN_LOOP_BATCH * (plan.prefix.len() + plan.size + 2));
    match plan.pacing {
        Pacing::Open => {
            for chunk_start in (0..plan.messages).step_by(OPEN_LOOP_BATCH) {
                buf.clear();
                let now = Instant::now();
                for seq in chunk_start..(chunk_start + OPEN_LOOP_BATCH).min(plan.messages) {
                    plan.line(&mut buf, seq, now);
                }
                writer.write_all(buf.as_bytes()).await.map_err(io)?;
            }
        }
        Pacing::Window(_) => {
            for seq in 0..plan.messages {
                if let Ok(permit) = windows[plan.index].acquire().await {
                    permit.forget();
                }
                buf.clear();
                plan.line(&mut buf, seq, Instant::now());
                writer.write_all(buf.as_bytes()).await.map_err(io)?;
            }
        }
        Pacing::Rate(rate) => {
            let start = Instant::now();
            let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
            for seq in 0..plan.messages {
                let at = start + period.mul_f64(seq as f64);
                tokio::time::sleep_until(at).await;
                buf.clear();
                // Latency counts from the scheduled time, so a stall is never hidden.
                plan.line(&mut buf, seq, at);
                writer.write_all(buf.as_bytes()).await.map_err(io)?;
            }
        }
    }
    Ok(writer)
}

async fn receive(
    reader: BufReader<Reader>,
    expected: u64,
    (senders, messages): (usize, usize),
    (run, base): (u32, Instant),
    stall: Duration,
    acks_for: &[usize],
    windows: &[Semaphore],
) -> Received {
    let mut reader = reader;
    let mut tally = Tally::new(senders, messages);
    let mut last_delivery = None;
    let mut buf = Vec::with_capacity(512);
    while tally.distinct < expected {
        buf.clear();
        let read = tokio::time::timeout(stall, reader.read_until(b'\n', &mut buf)).await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
        let Some(header) = payload::decode(&buf).filter(|h| h.run == run) else {
            continue;
        };
        let now = Instant::now();
        let sent = Duration::from_nanos(header.sent_ns);
        let latency = now.saturating_duration_since(base + sent);
        tally.record(header.sender, header.seq, latency.as_micros() as u64);
        last_delivery = Some(now);
        if acks_for.contains(&(header.sender as usize)) {
            windows[header.sender as usize].add_permits(1);
        }
    }
    Received {
        tally,
        last_delivery,
    }
}
