//! The bench's own accounting, against a fake server that drops, duplicates and reorders
//! on purpose: each fault must show in the report.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::{BenchConfig, Pacing, Proto, Workload, run};

const MESSAGES: u32 = 100;

/// What the fake server does to the message with sequence number `seq`.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Drop,
    Hold,
    Duplicate,
    None,
}

fn fault(seq: u32) -> Fault {
    if seq % 10 == 3 {
        Fault::Drop
    } else if seq % 11 == 5 {
        Fault::Hold
    } else if seq.is_multiple_of(7) {
        Fault::Duplicate
    } else {
        Fault::None
    }
}

/// A plain-text "server" for `clients` clients: registers them, then relays what each says
/// to the others, applying [`fault`] to the n-th relayed line. The faithful one also sends,
/// before each line, the same payload as an earlier run would have sent it (as a replay of
/// stored history shows it): never counted as a delivery.
async fn fake_server(listener: TcpListener, clients: usize, is_faulty: bool) {
    let (lines_tx, mut lines_rx) = mpsc::channel::<(usize, String)>(1024);
    let mut writers = Vec::new();
    for index in 0..clients {
        let (stream, _) = listener.accept().await.unwrap();
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        let mut nick = String::new();
        reader.read_line(&mut nick).await.unwrap();
        writer.write_all(b"* In lobby (1): x\r\n").await.unwrap();
        let nick = nick.trim().to_owned();
        let tx = lines_tx.clone();
        tokio::spawn(async move {
            let mut line = String::new();
            while reader.read_line(&mut line).await.unwrap_or(0) > 0 {
                let _ = tx
                    .send((index, format!("{nick}: {}", line.trim_end())))
                    .await;
                line.clear();
            }
        });
        writers.push(writer);
    }
    let mut held: Option<(usize, String)> = None;
    let mut seq = 0;
    while let Some(line) = lines_rx.recv().await {
        let mut out = Vec::new();
        match if is_faulty { fault(seq) } else { Fault::None } {
            Fault::Drop => {}
            Fault::Hold => held = Some(line),
            Fault::Duplicate => {
                out.push(line.clone());
                out.push(line);
            }
            Fault::None => out.push(line),
        }
        if !out.is_empty()
            && let Some(h) = held.take()
        {
            out.push(h);
        }
        if !is_faulty {
            let stale = out
                .iter()
                .filter_map(|(from, line)| Some((*from, earlier_run(line)?)))
                .collect::<Vec<_>>();
            out.splice(0..0, stale);
        }
        for (from, line) in out {
            for (index, writer) in writers.iter_mut().enumerate() {
                if index != from {
                    writer
                        .write_all(format!("{line}\r\n").as_bytes())
                        .await
                        .unwrap();
                }
            }
        }
        seq += 1;
    }
}

/// `line` with its payload's run number changed: the line as a replay from another run
/// shows it.
fn earlier_run(line: &str) -> Option<String> {
    let header = crate::payload::decode(line.as_bytes())?;
    let mark = format!("TH1 {} ", header.run);
    let stale = format!("[12:00:00] TH1 {} ", header.run.wrapping_add(1));
    Some(line.replacen(&mark, &stale, 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_server_is_reported_as_faulty() {
    const CLIENTS: usize = 3;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(fake_server(listener, CLIENTS, true));
    let mut config = BenchConfig::new(
        addr,
        Proto::Text,
        Workload::Fanout {
            clients: CLIENTS,
            senders: 1,
            messages: MESSAGES as usize,
            pacing: Pacing::Open,
            silent: 0,
        },
    );
    // The dropped messages never come: stop waiting soon after the last delivery.
    config.stall_timeout = Duration::from_millis(500);
    config.connect_concurrency = 1;
    let report = run(config).await.unwrap();

    let receivers = (CLIENTS - 1) as u64;
    let count = |f: Fault| (0..MESSAGES).filter(|s| fault(*s) == f).count() as u64;
    // A held message arrives after a later one, unless nothing followed it.
    let held_and_released = count(Fault::Hold);
    assert_eq!(report.expected, Some(MESSAGES as u64 * receivers));
    assert_eq!(report.lost, Some(count(Fault::Drop) * receivers));
    assert_eq!(report.duplicated, Some(count(Fault::Duplicate) * receivers));
    assert_eq!(report.out_of_order, Some(held_and_released * receivers));
    assert_eq!(
        report.received,
        Some((MESSAGES as u64 - count(Fault::Drop) + count(Fault::Duplicate)) * receivers)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faithful_server_is_reported_clean() {
    // The same fake, with every fault off, and stale copies of every payload from another run.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(fake_server(listener, 3, false));
    let mut config = BenchConfig::new(
        addr,
        Proto::Text,
        Workload::Fanout {
            clients: 3,
            senders: 1,
            messages: 50,
            pacing: Pacing::Window(2),
            silent: 0,
        },
    );
    config.connect_concurrency = 1;
    let report = run(config).await.unwrap();
    assert_eq!(report.expected, Some(100));
    assert_eq!(report.received, Some(100));
    assert_eq!(report.lost, Some(0));
    assert_eq!(report.duplicated, Some(0));
    assert_eq!(report.out_of_order, Some(0));
    assert!(report.latency.is_some());
}
