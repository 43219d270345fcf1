//! The accept loop of the plain-text face.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use teahouse_hub::{ConnectionLimiter, Hub};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::TextConfig;
use crate::session::{self, Shared};

/// The first pause after a failed `accept` (out of file descriptors, say); it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while failures go on, so a full process table is not spun on.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause between failed `accept`s.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts plain-text connections on `listener` until `shutdown` is cancelled, running each
/// as a session task tracked by `tracker`.
///
/// Returns when `shutdown` is cancelled; sessions then say goodbye and end on their own (wait
/// for them with `tracker`).
pub async fn serve(
    listener: TcpListener,
    hub: Hub,
    limiter: ConnectionLimiter,
    config: TextConfig,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
    let span = info_span!("listener", proto = "text", addr = %addr);
    let shared = Arc::new(Shared {
        hub,
        config,
        shutdown: shutdown.clone(),
    });
    async move {
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    admit(stream, peer, &limiter, &shared, &tracker);
                }
                Err(error) => {
                    warn!(%error, backoff_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
        info!("listener stopped");
    }
    .instrument(span)
    .await;
}

fn admit(
    stream: TcpStream,
    peer: SocketAddr,
    limiter: &ConnectionLimiter,
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
) {
    let permit = match limiter.admit(peer.ip()) {
        Ok(permit) => permit,
        Err(refusal) => {
            debug!(%peer, %refusal, "connection refused");
            // A fresh socket's send buffer is empty, so this one line fits without waiting;
            // if it does not, the refused client simply gets no explanation.
            let line = teahouse_wire::text::encode_line(&shared.config.lang.limit(refusal));
            let _ = stream.try_write(&line);
            return;
        }
    };
    if let Err(error) = tune(&stream, shared.config.keepalive) {
        debug!(%peer, %error, "could not set socket options");
    }
    let shared = Arc::clone(shared);
    tracker.spawn(session::run(stream, peer, permit, shared));
}

/// No Nagle delay for chat lines, and TCP keepalive so a half-open peer is found and
/// announced as gone.
fn tune(stream: &TcpStream, keepalive: Duration) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let probes = TcpKeepalive::new()
        .with_time(keepalive)
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    SockRef::from(stream).set_tcp_keepalive(&probes)
}
