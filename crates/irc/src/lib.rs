//! The IRC face of teahouse: real IRC clients (irssi, WeeChat, HexChat, bots) on the same
//! hub as the plain-text face, so `#lobby` here is room `lobby` there.
//!
//! Main items: [`IrcFace`] (what the server's accept loop hands each connection to) and
//! [`IrcConfig`]. Modules: `session` (one task per connection: read with flood control,
//! dispatch, write, liveness), `command/` (one module per command family), `cap` (IRCv3
//! capabilities), `reply` (numerics and their texts) and `render` (hub events to IRC lines,
//! encoded once per capability set). Flood control is the hub's `FloodLimiter`.
//!
//! The session is transport-agnostic: it runs on the shared session driver over any byte
//! stream (TCP today; TLS and WebSocket next). Channels are rooms as soon as they are parsed; this
//! crate keeps no chat state beyond the session.

mod cap;
mod command;
#[doc(hidden)]
pub mod fuzzing;
mod render;
mod reply;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use teahouse_hub::{ConnectionPermit, Hub, LimitRefusal};
use teahouse_wire::session::SessionConfig;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::render::IrcSink;
use crate::session::Shared;
pub use teahouse_hub::FloodConfig;

/// The version string clients see (`VERSION`, 002, 004).
pub const VERSION: &str = concat!("teahouse-", env!("CARGO_PKG_VERSION"));

/// Settings of the IRC face.
#[derive(Debug, Clone)]
pub struct IrcConfig {
    /// The server's name, the source of its numerics.
    pub server_name: String,
    /// The network name (`NETWORK` in ISUPPORT).
    pub network: String,
    /// Message of the day, one entry per line; empty sends 422.
    pub motd: Vec<String>,
    /// A connection password (`PASS`), if the server requires one.
    pub password: Option<String>,
    /// How long a connection may take to register (NICK, USER, CAP END).
    pub registration_timeout: Duration,
    /// After this long without a line from the client, the server sends a PING.
    pub ping_interval: Duration,
    /// After a PING, this long without a line closes the connection (`Ping timeout`).
    pub ping_timeout: Duration,
    /// Whether `REGISTER` needs an email address (`email-required`).
    pub is_email_required: bool,
    /// The connection settings every face shares.
    pub session: SessionConfig,
    /// Flood control; `None` turns it off (benchmarks).
    pub flood: Option<FloodConfig>,
    /// The strict transport security policy (`sts`), offered when the server has a TLS
    /// port.
    pub sts: Option<StsPolicy>,
    /// Whether this face's connections are TLS (their `sts` value is the policy's
    /// duration; a plain connection's is the port to upgrade to).
    pub is_secure: bool,
    /// How an operator's `REHASH` reloads the server's configuration; `None`: it cannot.
    pub rehash: Option<Rehash>,
}

/// The outcome of a reload: the error in words if it failed.
pub type RehashOutcome = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Reloads the server's configuration and answers with the outcome (the error in words).
#[derive(Clone)]
pub struct Rehash(pub Arc<dyn Fn() -> RehashOutcome + Send + Sync>);

impl std::fmt::Debug for Rehash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rehash")
    }
}

/// IRCv3 strict transport security: clients that see it on a plain connection reconnect
/// with TLS to `port`, and keep to TLS for `duration` after seeing it on a TLS one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StsPolicy {
    /// The TLS port.
    pub port: u16,
    /// How long a client keeps to TLS.
    pub duration: Duration,
}

impl Default for IrcConfig {
    fn default() -> Self {
        Self {
            server_name: "teahouse.local".to_owned(),
            network: "teahouse".to_owned(),
            motd: Vec::new(),
            password: None,
            registration_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(60),
            is_email_required: false,
            session: SessionConfig::default(),
            flood: Some(FloodConfig::default()),
            sts: None,
            is_secure: false,
            rehash: None,
        }
    }
}

/// The IRC face: turns accepted connections into sessions on the hub.
#[derive(Clone)]
pub struct IrcFace {
    /// What new sessions start with; a reload replaces it (sessions keep the one they
    /// started with).
    current: Arc<std::sync::RwLock<Arc<Shared>>>,
}

impl IrcFace {
    /// A face serving `hub` with `config`.
    pub fn new(hub: Hub, config: IrcConfig) -> Self {
        Self {
            current: Arc::new(std::sync::RwLock::new(Arc::new(Shared {
                hub,
                source: Arc::from(config.server_name.as_str()),
                no_user: Arc::from("*"),
                no_realname: Arc::from(""),
                config,
                created: SystemTime::now(),
            }))),
        }
    }

    /// New settings for the sessions that start from now on (a configuration reload: the
    /// MOTD, flood control, timeouts). Sessions already running keep theirs.
    pub fn reconfigure(&self, config: IrcConfig) {
        let old = self.shared();
        let new = Arc::new(Shared {
            hub: old.hub.clone(),
            source: Arc::from(config.server_name.as_str()),
            no_user: Arc::clone(&old.no_user),
            no_realname: Arc::clone(&old.no_realname),
            config,
            created: old.created,
        });
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = new;
    }

    /// The settings in force for new sessions.
    pub fn config(&self) -> IrcConfig {
        self.shared().config.clone()
    }

    fn shared(&self) -> Arc<Shared> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The line sent to a connection refused by a connection cap.
    pub fn refusal_line(&self, refusal: LimitRefusal) -> Bytes {
        reply::error_line(&format!("Closing link: {refusal}"))
    }

    /// The line for a connection from a banned address.
    pub fn banned_line(&self, reason: &str) -> Bytes {
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        reply::error_line(&format!("Closing link: Banned ({reason})"))
    }

    /// The line for a client that speaks plain IRC to the TLS port.
    pub fn plaintext_on_tls_line(&self) -> Bytes {
        reply::error_line(
            "Closing link: this port speaks IRC over TLS only (connect with TLS, or to the plain IRC port)",
        )
    }

    /// Runs one accepted connection (any byte stream) to its end; `permit` is held until
    /// then.
    ///
    /// Returns the session's future itself (no wrapper), so that an idle connection's task
    /// is no bigger than it must be.
    pub fn run_session<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        permit: ConnectionPermit,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        session::run(stream, peer, permit, self.shared())
    }
}
