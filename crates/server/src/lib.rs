//! The teahouse server as a library: configuration, listeners, wiring and shutdown.
//!
//! [`Config`] is the one configuration tree (TOML, unknown keys rejected, typed values).
//! [`Listeners::bind`] binds every enabled listener (so a caller can bind port 0 and read the
//! real address), and [`run`] wires the hub to the front-ends and serves until its shutdown
//! future completes: then it stops accepting, every session says goodbye, and it waits for
//! them up to a deadline.
//!
//! This is the only library that reads config files or picks backends; it installs no log
//! subscriber and reads no environment (the binary does both).

pub mod admin;
mod config;
mod error;
mod listener;
mod metrics;
mod proxy;
mod reload;
mod tls;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use teahouse_hub::{ConnectionLimiter, Hub, StoreSetup};
use teahouse_irc::IrcFace;
use teahouse_store::Store;
use teahouse_text::TextFace;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::listener::{AcceptContext, accept_loop};

pub use config::{
    Config, ConnectionSection, FloodSection, IrcSection, LimitsConfig, ListenAddr, OperatorSection,
    ServerSection, TextSection, TlsSection, WebSection,
};
pub use error::Error;
pub use reload::{ReloadHandle, Reloads};
pub use teahouse_text::Lang;
pub use teahouse_types::{NodeId, RoomName};
pub use tls::generate_self_signed;
pub use web::MAX_MESSAGE_BYTES as WS_MAX_MESSAGE_BYTES;

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets (`fuzz/`). Not an API.

    /// WebSocket frames from a client, read with the web face's limits until the first
    /// error or the end: how many messages came through.
    pub fn websocket(frames: &[u8]) -> usize {
        crate::web::fuzz_frames(frames)
    }

    /// A config file.
    pub fn config(text: &str) -> bool {
        crate::Config::from_toml(text).is_ok()
    }
}

/// The bound listeners, one per enabled face.
#[derive(Debug)]
pub struct Listeners {
    /// The plain-text face, unless disabled.
    pub text: Option<TcpListener>,
    /// The IRC face, unless disabled.
    pub irc: Option<TcpListener>,
    /// The IRC face over TLS, if enabled.
    pub ircs: Option<TcpListener>,
    /// The web face (HTTP and IRC over WebSocket), unless disabled.
    pub web: Option<TcpListener>,
}

impl Listeners {
    /// Binds every listener that `config` enables.
    ///
    /// # Errors
    /// [`Error::Bind`] naming the address that could not be bound.
    pub async fn bind(config: &Config) -> Result<Self, Error> {
        Ok(Self {
            text: bind(config.text.addr).await?,
            irc: bind(config.irc.addr).await?,
            ircs: bind(config.irc.tls_addr).await?,
            web: bind(config.web.addr).await?,
        })
    }

    /// The address the plain-text listener is bound to.
    pub fn text_addr(&self) -> Option<SocketAddr> {
        self.text.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address the IRC listener is bound to.
    pub fn irc_addr(&self) -> Option<SocketAddr> {
        self.irc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address the IRC TLS listener is bound to.
    pub fn ircs_addr(&self) -> Option<SocketAddr> {
        self.ircs.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address the web listener is bound to.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web.as_ref().and_then(|l| l.local_addr().ok())
    }
}

async fn bind(addr: ListenAddr) -> Result<Option<TcpListener>, Error> {
    match addr {
        ListenAddr::Off => Ok(None),
        ListenAddr::At(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|source| Error::Bind { addr, source }),
    }
}

/// Serves until `shutdown` completes, then closes every session and returns.
///
/// On shutdown: the listeners stop accepting, every session is told the server is shutting
/// down and gets `connection.close_grace` to take its last lines, and `run` returns once all
/// sessions have ended or `server.shutdown_timeout` has passed, whichever is first.
///
/// # Errors
/// [`Error::Store`] if the store cannot be opened, [`Error::Tls`] if a TLS listener has no
/// usable certificate (nothing is served then).
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    run_with_reloads(config, listeners, shutdown, None).await
}

/// [`run`], and the configuration is reloaded on every request of `reloads` (SIGHUP,
/// `REHASH`): what can change while running changes, connections stay.
///
/// # Errors
/// As [`run`].
pub async fn run_with_reloads(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    reloads: Option<Reloads>,
) -> Result<(), Error> {
    let tls = if config.needs_tls() {
        let files = config.tls_files()?;
        Some(Arc::new(tls::Tls::new(
            &files.cert,
            &files.key,
            config.tls.handshake_timeout,
            config.tls.max_handshakes.get(),
        )?))
    } else {
        None
    };
    for (old, new) in config.deprecated_keys() {
        warn!(
            key = old,
            instead = new,
            "config key has moved; it still counts, for now"
        );
    }
    let location = config.store.location();
    let store = Store::open(&location).await.map_err(Error::Store)?;
    info!(store = %location.display(), "store open");
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let registered = store
        .accounts()
        .await
        .map_err(Error::Store)?
        .into_iter()
        .map(|account| account.name_key)
        .collect();
    let last_message_id = store.max_message_id().await.map_err(Error::Store)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let bans = store.bans(now_ms).await.map_err(Error::Store)?;
    let setup = StoreSetup {
        store: store.clone(),
        accounts: config.account_config(),
        registered,
        history: config.history.enabled.then(|| config.history_config()),
        last_message_id,
        bans,
    };
    let mut hub_config = config.hub_config();
    let cluster = match config.nats_config() {
        Some(nats) => {
            if config.store.database_url.is_none() {
                warn!(
                    "a cluster node with its own SQLite store: history and accounts are not shared; give every node the same [store] database_url"
                );
            }
            let joined = teahouse_cluster::nats::NatsCluster::join(&nats)
                .await
                .map_err(Error::Cluster)?;
            hub_config.node = joined.0.node;
            Some(joined)
        }
        None => None,
    };
    let (hub, writer, cluster) = match cluster {
        Some((cluster, inbound)) => {
            let claims: Arc<dyn teahouse_cluster::Claims> = cluster.claims.clone();
            let bus: Arc<dyn teahouse_cluster::Bus> = cluster.bus.clone();
            let (hub, writer) =
                Hub::in_cluster(hub_config, setup, claims, Some(bus)).map_err(Error::Hub)?;
            tracker.spawn(follow_cluster(hub.clone(), inbound, token.clone()));
            (hub, writer, Some(cluster))
        }
        None => {
            let (hub, writer) = Hub::with_store(hub_config, setup).map_err(Error::Hub)?;
            (hub, writer, None)
        }
    };
    if let Some(writer) = writer {
        let stop = token.clone();
        tracker.spawn(async move { writer.run(stop.cancelled_owned()).await });
    }
    let limiter = ConnectionLimiter::new(config.limits.connection_limits());
    let metrics = Arc::new(metrics::Metrics::new());
    hub.set_metrics(metrics.hub.clone());
    tracker.spawn(Arc::clone(&metrics).upkeep(token.clone()));

    let proxy_from: Arc<[ipnet::IpNet]> = config.limits.proxy_from.clone().into();
    // What every accept loop shares; `face` numbers the face for the metrics and limits.
    let context = |proto: &'static str, face: usize, tls: Option<(Arc<tls::Tls>, tls::Service)>| {
        AcceptContext {
            proto,
            face,
            connections: metrics.connections[face].clone(),
            limiter: limiter.clone(),
            tracker: tracker.clone(),
            shutdown: token.clone(),
            keepalive: config.connection.keepalive,
            bans: hub.bans().clone(),
            tls,
            proxy_from: Arc::clone(&proxy_from),
            hub: hub.clone(),
            cluster_max: config
                .cluster
                .max_connections
                .map(std::num::NonZeroUsize::get),
        }
    };
    let ircs_port = listeners
        .ircs
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port());
    let rehash = reloads.as_ref().map(|reloads| {
        let handle = reloads.handle();
        teahouse_irc::Rehash(Arc::new(move || {
            let handle = handle.clone();
            Box::pin(async move { handle.reload().await })
        }))
    });
    let faces = reload::Faces {
        hub: hub.clone(),
        limiter: limiter.clone(),
        text: TextFace::new(hub.clone(), config.text_config()),
        irc: IrcFace::new(
            hub.clone(),
            config.irc_face_config(ircs_port, false, &rehash),
        ),
        ircs: IrcFace::new(
            hub.clone(),
            config.irc_face_config(ircs_port, true, &rehash),
        ),
        ircs_port,
        rehash,
    };
    let irc = faces.irc.clone();
    if let Some(listener) = listeners.text {
        if let Ok(addr) = listener.local_addr() {
            info!(proto = "text", %addr, lang = config.text.lang.code(), "listening");
        }
        let face = faces.text.clone();
        let ctx = context("text", 0, None);
        tracker.spawn(accept_loop(listener, face, ctx));
    }
    if let (Some(listener), Some(tls)) = (listeners.ircs, &tls) {
        if let Ok(addr) = listener.local_addr() {
            info!(proto = "ircs", %addr, server_name = %config.irc.server_name, "listening");
        }
        let face = faces.ircs.clone();
        let ctx = context("ircs", 2, Some((Arc::clone(tls), tls::Service::Irc)));
        tracker.spawn(accept_loop(listener, face, ctx));
    }
    if let Some(listener) = listeners.irc {
        if let Ok(addr) = listener.local_addr() {
            info!(proto = "irc", %addr, server_name = %config.irc.server_name, "listening");
        }
        let ctx = context("irc", 1, None);
        tracker.spawn(accept_loop(listener, irc.clone(), ctx));
    }
    if let Some(listener) = listeners.web {
        let web_tls = tls.as_ref().filter(|_| config.web.tls);
        if let Ok(addr) = listener.local_addr() {
            info!(proto = "web", %addr, tls = web_tls.is_some(), "listening");
            if web_tls.is_none() {
                web::warn_if_public(addr);
            }
        }
        let route = config.web.metrics.then(|| web::MetricsRoute {
            metrics: Arc::clone(&metrics),
            hub: hub.clone(),
            limiter: limiter.clone(),
        });
        let face = web::WebFace::new(
            irc,
            config.web_config(),
            tracker.clone(),
            token.clone(),
            route,
        );
        let ctx = context(
            "web",
            3,
            web_tls.map(|tls| (Arc::clone(tls), tls::Service::Web)),
        );
        tracker.spawn(accept_loop(listener, face, ctx));
    }

    let running = reload::Running {
        config: std::sync::Mutex::new(config.clone()),
        tls: tls.clone(),
        faces,
    };
    match reloads {
        Some(reloads) => {
            tokio::pin!(shutdown);
            reloads.serve(&running, shutdown).await;
        }
        None => shutdown.await,
    }
    info!(
        sessions = hub.session_count(),
        "shutting down: closing every session"
    );
    token.cancel();
    hub.shut_down();
    if let Some(cluster) = cluster {
        cluster.leave().await;
    }
    tracker.close();
    if tokio::time::timeout(config.server.shutdown_timeout, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            remaining = tracker.len(),
            "sessions did not end by the shutdown deadline; abandoning them"
        );
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

/// Applies what the other nodes of the cluster did, in the order it arrives: the changes
/// that are waiting together in one go (one lock, messages delivered in runs), up to 1024.
async fn follow_cluster(
    hub: Hub,
    mut inbound: tokio::sync::mpsc::Receiver<teahouse_cluster::nats::Inbound>,
    stop: CancellationToken,
) {
    use teahouse_cluster::NodeSet;
    use teahouse_cluster::nats::Inbound;
    const BATCH: usize = 1024;
    let mut held: Option<Inbound> = None;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let event = match held.take() {
            Some(event) => Some(event),
            None => tokio::select! {
                event = inbound.recv() => event,
                () = stop.cancelled() => None,
            },
        };
        let Some(event) = event else {
            return;
        };
        match event {
            Inbound::Change(node, change) => {
                batch.clear();
                batch.push(change);
                while batch.len() < BATCH {
                    match inbound.try_recv() {
                        Ok(Inbound::Change(next, change)) if next == node => batch.push(change),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                hub.apply_remote_batch(node, &batch);
            }
            Inbound::NodeUp(node) => {
                hub.send_snapshot(NodeSet::of(node));
                // It may have changed bans while out of sight; read them beside, so that
                // its snapshot, next, is not held up by the database.
                tokio::spawn(reload_bans(hub.clone(), node));
            }
            Inbound::SnapshotWanted(node) => hub.send_snapshot(NodeSet::of(node)),
            Inbound::ResyncWanted => hub.resync(),
            Inbound::NodeDown(node) => hub.end_node(node),
            Inbound::Snapshot(node, changes) => hub.apply_snapshot(node, &changes),
            Inbound::Reachable(reachable) => {
                hub.peers_reachable(reachable);
                // Bans set elsewhere meanwhile were told to nobody: read them again.
                if reachable {
                    reload_bans(hub.clone(), hub.config().node).await;
                }
            }
            // Read before anything that node sent later is applied: it sends this before
            // it disconnects the users a new ban matches, so once they are seen to go, the
            // ban is in force here too.
            Inbound::BansChanged(node) => reload_bans(hub.clone(), node).await,
        }
        // A long burst of changes does not keep the rest of this worker waiting.
        tokio::task::yield_now().await;
    }
}

/// Reads the server bans from the shared database again, because of `node`.
async fn reload_bans(hub: Hub, node: NodeId) {
    match hub.reload_bans().await {
        Ok(count) => info!(node = %node, bans = count, "server bans read again"),
        Err(error) => warn!(node = %node, %error, "server bans not read again"),
    }
}

impl listener::Face for TextFace {
    fn refusal_line(&self, refusal: teahouse_hub::LimitRefusal) -> bytes::Bytes {
        TextFace::refusal_line(self, refusal)
    }

    fn plaintext_on_tls(&self) -> bytes::Bytes {
        TextFace::plaintext_on_tls_line(self)
    }

    fn banned_line(&self, reason: &str) -> bytes::Bytes {
        TextFace::banned_line(self, reason)
    }

    fn run_session<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        permit: teahouse_hub::ConnectionPermit,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        TextFace::run_session(self, stream, peer, permit)
    }
}

impl listener::Face for IrcFace {
    fn refusal_line(&self, refusal: teahouse_hub::LimitRefusal) -> bytes::Bytes {
        IrcFace::refusal_line(self, refusal)
    }

    fn plaintext_on_tls(&self) -> bytes::Bytes {
        IrcFace::plaintext_on_tls_line(self)
    }

    fn banned_line(&self, reason: &str) -> bytes::Bytes {
        IrcFace::banned_line(self, reason)
    }

    fn run_session<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        permit: teahouse_hub::ConnectionPermit,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        IrcFace::run_session(self, stream, peer, permit)
    }
}
