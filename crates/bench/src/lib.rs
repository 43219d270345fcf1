//! The load generator behind `teahouse bench`.
//!
//! Workloads ([`Workload`]): `fanout` (N clients in one room, S of them send M messages
//! each, open loop, closed loop with a window, or paced), `idle` (K registered connections
//! held; registration rate and server memory per connection) and `churn` (connect, register,
//! join, say a line, quit, at a target rate). Each speaks the plain-text protocol or IRC
//! ([`Proto`]), so it drives teahouse and any IRC server alike.
//!
//! Every fan-out payload carries its sender, sequence number and send time, so the report
//! ([`Report`]) accounts for every delivery: expected, received, lost, duplicated and out of
//! order, with latency percentiles from an HDR histogram and the server's CPU time and
//! memory read from `/proc` when its pid is given.
//!
//! This crate talks to servers over sockets only; it shares no code with the server.

mod client;
mod error;
mod fanout;
mod idle;
mod payload;
mod procstat;
mod report;
mod tally;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

pub use error::BenchError;
pub use report::Report;

/// The protocol the bench clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// teahouse's plain-text protocol.
    Text,
    /// IRC.
    Irc,
    /// IRC over WebSocket (`/ws`, text messages, one line per message).
    Ws,
    /// IRC over TLS (the server's certificate is not checked: loopback only).
    Ircs,
}

/// How fan-out senders pace themselves.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// As fast as the connection takes them.
    Open,
    /// At most this many unacknowledged messages per sender (a message is acknowledged when
    /// one chosen receiver gets it).
    Window(usize),
    /// This many messages per second per sender; latency counts from the scheduled time.
    Rate(f64),
}

/// What to run.
#[derive(Debug, Clone)]
pub enum Workload {
    /// N clients in one room; S of them send M messages each.
    Fanout {
        /// Clients.
        clients: usize,
        /// Senders among them.
        senders: usize,
        /// Messages per sender.
        messages: usize,
        /// Pacing.
        pacing: Pacing,
        /// Clients that never read (their deliveries are not expected).
        silent: usize,
    },
    /// K registered connections, held.
    Idle {
        /// Connections.
        connections: usize,
        /// How long to hold them once all are registered.
        hold: Duration,
    },
    /// Connect, register, join, say one line, quit; in a loop.
    Churn {
        /// Cycles started per second.
        rate: f64,
        /// For how long.
        duration: Duration,
    },
}

/// Settings of one bench run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The server's address (loopback).
    pub addr: SocketAddr,
    /// More servers' addresses (the nodes of one cluster): client `i` connects to the
    /// `i`-th address of `addr` and these, round the list.
    pub more_addrs: Vec<SocketAddr>,
    /// The protocol.
    pub proto: Proto,
    /// The workload.
    pub workload: Workload,
    /// Payload size in bytes (at least what the accounting header needs).
    pub payload_bytes: usize,
    /// The server's pid, for CPU and memory figures.
    pub server_pid: Option<u32>,
    /// More processes whose CPU and memory count with the server's (the other nodes of a
    /// cluster, and its NATS server).
    pub more_pids: Vec<u32>,
    /// IRC: `name password` to OPER with after registering (ngIRCd lifts penalties only for
    /// operators with `MODE +F`).
    pub irc_oper: Option<(String, String)>,
    /// IRC: user modes to set after OPER (e.g. `+F` for ngIRCd).
    pub irc_umode: Option<String>,
    /// The channel (IRC) to use; the text protocol uses the server's default room.
    pub channel: String,
    /// Connections opened at once while setting up.
    pub connect_concurrency: usize,
    /// Give up waiting for deliveries after this long without progress.
    pub stall_timeout: Duration,
    /// Print a progress line to stderr every second.
    pub is_progress: bool,
    /// Nick prefix, so runs against one server do not collide.
    pub nick_prefix: String,
}

impl BenchConfig {
    /// A config with defaults for everything but the target and workload.
    pub fn new(addr: SocketAddr, proto: Proto, workload: Workload) -> Self {
        Self {
            addr,
            more_addrs: Vec::new(),
            proto,
            workload,
            payload_bytes: 64,
            server_pid: None,
            more_pids: Vec::new(),
            irc_oper: None,
            irc_umode: None,
            channel: "#bench".to_owned(),
            connect_concurrency: 64,
            stall_timeout: Duration::from_secs(10),
            is_progress: false,
            nick_prefix: "b".to_owned(),
        }
    }
}

impl BenchConfig {
    /// The processes measured: the server, and the others that count with it.
    pub fn pids(&self) -> Vec<u32> {
        self.server_pid
            .into_iter()
            .chain(self.more_pids.iter().copied())
            .collect()
    }

    /// The address client `index` connects to.
    pub fn addr_for(&self, index: usize) -> SocketAddr {
        let nodes = 1 + self.more_addrs.len();
        match index % nodes {
            0 => self.addr,
            n => self.more_addrs[n - 1],
        }
    }
}

/// Runs one workload to its end.
///
/// # Errors
/// A [`BenchError`] when clients cannot connect or register, or the server misbehaves in
/// a way that stops the run (deliveries that merely go missing are reported, not errors).
pub async fn run(config: BenchConfig) -> Result<Report, BenchError> {
    match config.workload.clone() {
        Workload::Fanout {
            clients,
            senders,
            messages,
            pacing,
            silent,
        } => {
            let shape = fanout::Shape {
                clients,
                senders,
                messages,
                pacing,
                silent,
            };
            fanout::run(&config, shape).await
        }
        Workload::Idle { connections, hold } => idle::run_idle(&config, connections, hold).await,
        Workload::Churn { rate, duration } => idle::run_churn(&config, rate, duration).await,
    }
}

#[cfg(test)]
mod accounting_tests;
