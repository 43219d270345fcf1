//! The accept loop every face shares: connection caps, socket options, accept back-off.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use socket2::{SockRef, TcpKeepalive};
use teahouse_hub::{ConnectionLimiter, ConnectionPermit, LimitRefusal, ServerBans};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::tls::{Service, Tls};

/// The first pause after a failed `accept` (out of file descriptors, say); it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while failures go on, so a full process table is not spun on.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause between failed `accept`s.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What a face gives the accept loop.
pub(crate) trait Face: Clone + Send + Sync + 'static {
    /// The line a refused connection gets before it is closed.
    fn refusal_line(&self, refusal: LimitRefusal) -> Bytes;
    /// What a client that speaks plain text to this face's TLS port is told before the
    /// close.
    fn plaintext_on_tls(&self) -> Bytes;
    /// The line a connection from a banned address gets before it is closed.
    fn banned_line(&self, reason: &str) -> Bytes;
    /// Runs one accepted connection (TCP, or TLS over it) to its end.
    fn run_session<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        permit: ConnectionPermit,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static;
}

/// How long a load balancer has to send its PROXY header.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a listener's sessions come from and go.
#[derive(Clone)]
pub(crate) struct AcceptContext {
    pub(crate) proto: &'static str,
    pub(crate) limiter: ConnectionLimiter,
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    pub(crate) keepalive: Duration,
    /// TLS, for a TLS listener: the handshake comes before the face's session.
    pub(crate) tls: Option<(Arc<Tls>, Service)>,
    /// Server bans: a banned address is refused here, before a session exists.
    pub(crate) bans: ServerBans,
    /// The face's number among [`crate::metrics::FACES`] (its open connections are
    /// counted under it) and its accepted-connections counter.
    pub(crate) face: usize,
    pub(crate) connections: metrics::Counter,
    /// Load balancers whose connections open with a PROXY header naming the client.
    pub(crate) proxy_from: Arc<[ipnet::IpNet]>,
    /// The hub, for the connections other nodes of a cluster hold.
    pub(crate) hub: teahouse_hub::Hub,
    /// Connections in the whole cluster, at most.
    pub(crate) cluster_max: Option<usize>,
}

/// Accepts connections on `listener` until shutdown, running each as a tracked session task.
pub(crate) async fn accept_loop<F: Face>(listener: TcpListener, face: F, ctx: AcceptContext) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
    let span = info_span!("listener", proto = ctx.proto, addr = %addr);
    async move {
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                () = ctx.shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    let ip = peer.ip().to_canonical();
                    if ctx.proxy_from.iter().any(|net| net.contains(&ip)) {
                        let (face, ctx) = (face.clone(), ctx.clone());
                        let tracker = ctx.tracker.clone();
                        tracker.spawn(behind_balancer(stream, peer, face, ctx));
                    } else {
                        admit(stream, peer, &face, &ctx);
                    }
                }
                Err(error) => {
                    warn!(%error, backoff_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        () = ctx.shutdown.cancelled() => break,
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

/// A connection from a load balancer: its PROXY header first, then the client it names is
/// admitted as if it had connected itself.
async fn behind_balancer<F: Face>(
    mut stream: TcpStream,
    balancer: SocketAddr,
    face: F,
    ctx: AcceptContext,
) {
    match tokio::time::timeout(PROXY_HEADER_TIMEOUT, crate::proxy::read_header(&mut stream)).await {
        Ok(Ok(client)) => admit(stream, client.unwrap_or(balancer), &face, &ctx),
        Ok(Err(error)) => info!(%balancer, %error, "balancer connection refused"),
        Err(_) => info!(%balancer, "balancer connection refused: no PROXY header in time"),
    }
}

fn admit<F: Face>(stream: TcpStream, peer: SocketAddr, face: &F, ctx: &AcceptContext) {
    if let Some(reason) = ctx.bans.address_ban(peer.ip()) {
        info!(%peer, %reason, "connection from a banned address refused");
        if ctx.tls.is_none() {
            let _ = stream.try_write(&face.banned_line(&reason));
        }
        return;
    }
    let elsewhere = ctx.hub.connections_elsewhere(peer.ip());
    let permit = match ctx
        .limiter
        .admit_counting(peer.ip(), ctx.face, elsewhere, ctx.cluster_max)
    {
        Ok(permit) => permit,
        Err(refusal) => {
            debug!(%peer, %refusal, "connection refused");
            // A fresh socket's send buffer is empty, so this one line fits without waiting;
            // if it does not, the refused client simply gets no explanation. (A TLS client
            // could not read it: it is simply closed.)
            if ctx.tls.is_none() {
                let _ = stream.try_write(&face.refusal_line(refusal));
            }
            return;
        }
    };
    ctx.connections.increment(1);
    if let Err(error) = tune(&stream, ctx.keepalive) {
        debug!(%peer, %error, "could not set socket options");
    }
    match &ctx.tls {
        None => ctx.tracker.spawn(face.run_session(stream, peer, permit)),
        Some((tls, service)) => {
            ctx.tracker
                .spawn(Arc::clone(tls).serve(*service, face.clone(), stream, peer, permit))
        }
    };
}

/// No Nagle delay for chat lines, and a bound on how long a vanished (half-open) peer can
/// go unnoticed: when the line is idle, TCP keepalive sends three probes `keepalive` apart
/// (at most 10 s apart) after `keepalive` of silence; when data is in flight, keepalive does
/// not run, and `TCP_USER_TIMEOUT` drops the connection once data has gone unacknowledged
/// for as long. Either way the session ends and its rooms are told.
fn tune(stream: &TcpStream, keepalive: Duration) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let interval = keepalive.min(Duration::from_secs(10));
    let probes = TcpKeepalive::new()
        .with_time(keepalive)
        .with_interval(interval)
        .with_retries(3);
    let socket = SockRef::from(stream);
    socket.set_tcp_keepalive(&probes)?;
    socket.set_tcp_user_timeout(Some(keepalive + interval * 3))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use teahouse_hub::{ConnectionLimits, Hub, HubConfig};
    use teahouse_irc::IrcFace;
    use teahouse_text::TextFace;

    use super::*;
    use crate::Config;

    /// Every idle connection holds one session task, so its size is memory per connection
    /// (docs/BENCHMARKS.md). Tokio rounds a task up to a multiple of 128 bytes: the IRC
    /// session's future must stay within 896 bytes of task, or each connection pays 128
    /// more. A field added to a session lands here first; box what is rarely used.
    ///
    /// The bound is the workspace test build's: its dev-dependencies turn on tokio features
    /// the binary does not have (`process`), which make a few tokio types, and so this
    /// future, 24 bytes bigger. 792 here is 768 in the release binary: a task of 896 bytes.
    #[tokio::test]
    async fn session_futures_stay_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (stream, peer) = listener.accept().await.expect("accept");
        let limiter = ConnectionLimiter::new(ConnectionLimits {
            max_connections: 10,
            max_connections_per_ip: 10,
            ..ConnectionLimits::default()
        });
        let permit = limiter
            .admit(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .expect("admit");
        let config = Config::default();
        let hub = Hub::new(HubConfig::default());
        let irc = IrcFace::new(hub.clone(), config.irc_config());
        let future = Face::run_session(&irc, stream, peer, permit);
        let irc_size = std::mem::size_of_val(&future);
        drop(future);
        let (stream, peer) = {
            let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            listener.accept().await.expect("accept")
        };
        let permit = limiter
            .admit(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .expect("admit");
        let text = TextFace::new(hub, config.text_config());
        let future = Face::run_session(&text, stream, peer, permit);
        let text_size = std::mem::size_of_val(&future);
        assert!(irc_size <= 792, "IRC session future is {irc_size} bytes");
        assert!(text_size <= 792, "text session future is {text_size} bytes");
    }
}
