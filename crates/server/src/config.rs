//! The configuration tree, as read from TOML (see `teahouse.example.toml`).

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use teahouse_hub::FloodConfig;
use teahouse_hub::{ConnectionLimits, HubConfig};
use teahouse_irc::IrcConfig;
use teahouse_text::{Lang, TextConfig};
use teahouse_types::{NodeId, RoomName};
use teahouse_wire::session::SessionConfig;

use crate::error::Error;

/// Everything the server can be told. Every key has a default; unknown keys are refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Server-wide settings.
    pub server: ServerSection,
    /// Connection caps.
    pub limits: LimitsConfig,
    /// What every face's connections share: send queue, close grace, keepalive.
    pub connection: ConnectionSection,
    /// The plain-text face.
    pub text: TextSection,
    /// The IRC face.
    pub irc: IrcSection,
    /// The web face: the web client's page and IRC over WebSocket.
    pub web: WebSection,
    /// TLS for the IRC TLS port and the web listener.
    pub tls: TlsSection,
    /// Where accounts and history are kept.
    pub store: StoreSection,
    /// Message history.
    pub history: HistorySection,
    /// Accounts.
    pub accounts: AccountsSection,
    /// Server operators (`[[operators]]`): who may `OPER` up.
    pub operators: Vec<OperatorSection>,
    /// Several nodes as one server, through NATS (off unless `url` is set).
    pub cluster: ClusterSection,
}

/// Several nodes sharing rooms, nicknames and history: a NATS server with JetStream for
/// the changes and claims, and one PostgreSQL database (`[store] database_url`) for
/// accounts and history.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// The NATS server (`nats://127.0.0.1:4222`); unset, this node is alone.
    pub url: Option<String>,
    /// This node's name: the same across its restarts, unique in the cluster (letters,
    /// digits, `-`, `_`). Its number (`[server] node_id`) is taken from NATS by name.
    pub node_name: String,
    /// What this cluster's NATS subjects and buckets start with, so that several clusters
    /// can share one NATS server.
    pub prefix: String,
    /// How often a node says it is alive.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// A node not heard from for this long is gone: its users quit, their nicks are free.
    #[serde(with = "humantime_serde")]
    pub dead_after: Duration,
    /// Changes waiting to go to the other nodes, at most; past it they are dropped and
    /// counted, and the nodes resynchronise when they reach each other again.
    pub publish_queue: NonZeroUsize,
    /// Connections in the whole cluster, at most (each node's own cap is
    /// `[limits] max_connections`); unset, no cap but the nodes'.
    pub max_connections: Option<NonZeroUsize>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            url: None,
            node_name: "node".to_owned(),
            prefix: "teahouse".to_owned(),
            heartbeat: Duration::from_secs(1),
            dead_after: Duration::from_secs(10),
            publish_queue: NonZeroUsize::new(65_536).expect("not zero"),
            max_connections: None,
        }
    }
}

/// One server operator: the name given to `OPER`, the password's Argon2id hash (from
/// `teahouse admin hash-password`; never the password itself) and the hosts it may be used
/// from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSection {
    /// The name.
    pub name: String,
    /// The password's Argon2id hash, a PHC string (`$argon2id$v=19$…`).
    #[serde(deserialize_with = "password_hash")]
    pub password_hash: String,
    /// Host masks it may be used from (globs such as `127.0.0.1` or `10.*`); loopback only
    /// unless said otherwise.
    #[serde(default = "loopback_hosts")]
    pub hosts: Vec<String>,
}

/// An Argon2id PHC string; anything else (a password written in the clear) is refused.
fn password_hash<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let s = String::deserialize(deserializer)?;
    if teahouse_hub::is_password_hash(&s) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(
            "password_hash must be an Argon2id hash ($argon2id$…), never the password itself; \
             make one with `teahouse admin hash-password`",
        ))
    }
}

fn loopback_hosts() -> Vec<String> {
    vec!["127.0.0.1".to_owned(), "::1".to_owned()]
}

/// Accounts: passwords are hashed with Argon2id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsSection {
    /// Argon2id memory cost in KiB: 19 MiB with 2 passes is OWASP's baseline. The server keeps
    /// this much per hashing slot (one per core, at most 4) once accounts are used.
    pub argon2_memory_kib: u32,
    /// Argon2id passes.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// The shortest password, in bytes: eight, as NIST's SP 800-63B asks at the least.
    pub min_password_bytes: NonZeroUsize,
    /// The longest password, in bytes: any passphrase fits, and one attempt's work is bounded.
    pub max_password_bytes: NonZeroUsize,
    /// New accounts one address may register per `registration_period` (exempt addresses
    /// aside); 0 turns the throttle off.
    pub registrations_per_period: u32,
    /// The registration throttle's period.
    #[serde(with = "humantime_serde")]
    pub registration_period: Duration,
    /// Wrong passwords allowed per account and per address within `failure_window`.
    pub max_failures: u32,
    /// The window wrong passwords are counted in.
    #[serde(with = "humantime_serde")]
    pub failure_window: Duration,
    /// Whether IRC `REGISTER` needs an email address (checked for form; no mail is sent).
    pub email_required: bool,
}

impl Default for AccountsSection {
    fn default() -> Self {
        let d = teahouse_hub::AccountConfig::default();
        Self {
            argon2_memory_kib: d.argon2_memory_kib,
            argon2_iterations: d.argon2_iterations,
            argon2_parallelism: d.argon2_parallelism,
            min_password_bytes: NonZeroUsize::new(d.min_password_bytes).expect("not zero"),
            max_password_bytes: NonZeroUsize::new(d.max_password_bytes).expect("not zero"),
            registrations_per_period: d.registration_rate.map_or(0, |(n, _)| n),
            registration_period: d
                .registration_rate
                .map_or(Duration::from_secs(600), |(_, p)| p),
            max_failures: d.max_failures,
            failure_window: d.failure_window,
            email_required: false,
        }
    }
}

/// Where accounts and history are kept: SQLite under `data_dir` unless `database_url` is
/// set.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// The directory of the embedded SQLite database (`teahouse.db`), created if missing;
    /// `:memory:` keeps everything in memory, gone at exit.
    pub data_dir: std::path::PathBuf,
    /// A PostgreSQL URL (`postgres://user:password@host/db`) to use instead of SQLite.
    /// Prefer the `TEAHOUSE_DATABASE_URL` environment variable: it keeps the password out
    /// of files and `ps`.
    pub database_url: Option<String>,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            data_dir: "teahouse-data".into(),
            database_url: None,
        }
    }
}

impl fmt::Debug for StoreSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSection")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.location().display())
            .finish()
    }
}

impl StoreSection {
    /// Where the store is.
    pub fn location(&self) -> teahouse_store::Location {
        match &self.database_url {
            Some(url) => teahouse_store::Location::Url(url.clone()),
            None if self.data_dir.as_os_str() == ":memory:" => teahouse_store::Location::Memory,
            None => teahouse_store::Location::DataDir(self.data_dir.clone()),
        }
    }
}

/// Message history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySection {
    /// Whether room and direct messages are stored (each is committed before anyone
    /// receives it). Off, nothing is stored and nothing is replayed.
    pub enabled: bool,
    /// How many earlier messages a plain-text user sees on entering a room: twenty is a
    /// screenful, enough to pick up a conversation.
    pub replay_lines: u32,
    /// Delete messages older than this (e.g. `90days`); unset keeps them.
    #[serde(with = "humantime_serde")]
    pub max_age: Option<Duration>,
    /// Keep at most this many messages per room or conversation; unset keeps them all.
    pub max_per_target: Option<u32>,
}

impl Default for HistorySection {
    fn default() -> Self {
        Self {
            enabled: true,
            replay_lines: 20,
            max_age: None,
            max_per_target: None,
        }
    }
}

/// Server-wide settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// How long shutdown waits for sessions to end before abandoning them. Five seconds:
    /// long enough for every client to get its goodbye, short enough for a service manager.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// The longest message body, in bytes, on every face.
    pub max_message_bytes: NonZeroUsize,
    /// Worker threads of the async runtime; 0 means one per core. Read by the binary when
    /// it builds the runtime.
    pub workers: usize,
    /// This server's number (0 to 63) among those sharing one database: part of every
    /// session and message id it makes, so give each its own.
    pub node_id: NodeId,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(5),
            max_message_bytes: NonZeroUsize::new(4096).expect("4096 is not zero"),
            workers: 0,
            node_id: NodeId::default(),
        }
    }
}

/// Connection caps, shared by every listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections open at once, in all. Each idle connection costs a few kilobytes; this
    /// keeps a runaway client population within a small machine's memory and file limits.
    pub max_connections: NonZeroUsize,
    /// Connections open at once from one IP address: enough for a household behind one NAT,
    /// few enough that one host cannot take the whole server.
    pub max_connections_per_ip: NonZeroUsize,
    /// Whether loopback clients are exempt from the per-address cap, the connection throttle
    /// and the per-address wrong-password count (tests, bridges and bouncers on the same
    /// machine).
    pub loopback_exempt: bool,
    /// New connections one address may open per `connection_period` (a burst that refills
    /// steadily; Ergo's default is 32 per 10 minutes); 0 turns the throttle off.
    pub connections_per_period: u32,
    /// The throttle's period.
    #[serde(with = "humantime_serde")]
    pub connection_period: Duration,
    /// Address ranges (CIDR, e.g. `10.0.0.0/8` or `2001:db8::/32`) exempt like loopback:
    /// a trusted bouncer or gateway that carries many users.
    pub exempt: Vec<ipnet::IpNet>,
    /// Load balancers (CIDR) that open every connection with a PROXY protocol header (v1
    /// or v2) naming the client: their connections must have one, everyone else's must
    /// not, and limits, bans, hosts and logs see the client's address. Off by default.
    pub proxy_from: Vec<ipnet::IpNet>,
    /// The most rooms one user may be in at once (IRC's `CHANLIMIT`).
    pub max_rooms_per_user: NonZeroUsize,
    /// The most rooms the server holds at once; past it, joining a new room is refused.
    pub max_rooms: NonZeroUsize,
    /// The most different people one user may message directly within a minute (someone
    /// messaged within the minute does not count again); 0 for no cap.
    pub direct_targets_per_minute: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = ConnectionLimits::default();
        let (per, period) = d.connection_rate.unwrap_or((0, Duration::from_secs(600)));
        Self {
            max_connections: NonZeroUsize::new(d.max_connections).expect("not zero"),
            max_connections_per_ip: NonZeroUsize::new(d.max_connections_per_ip).expect("not zero"),
            loopback_exempt: d.is_loopback_exempt,
            connections_per_period: per,
            connection_period: period,
            exempt: d.exempt,
            proxy_from: Vec::new(),
            max_rooms_per_user: NonZeroUsize::new(100).expect("not zero"),
            max_rooms: NonZeroUsize::new(50_000).expect("not zero"),
            direct_targets_per_minute: 20,
        }
    }
}

impl LimitsConfig {
    pub(crate) fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections.get(),
            max_connections_per_ip: self.max_connections_per_ip.get(),
            is_loopback_exempt: self.loopback_exempt,
            connection_rate: (self.connections_per_period > 0 && !self.connection_period.is_zero())
                .then_some((self.connections_per_period, self.connection_period)),
            exempt: self.exempt.clone(),
        }
    }
}

/// The plain-text face.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextSection {
    /// Where to listen, or `off`. Loopback by default, on the seed's port.
    pub addr: ListenAddr,
    /// `en` or `zh` (the seed's texts).
    #[serde(deserialize_with = "de_lang")]
    pub lang: Lang,
    /// The room a user enters once their nickname is accepted.
    #[serde(deserialize_with = "de_room")]
    pub default_room: RoomName,
    /// The longest line, in bytes: 4 KiB is several paragraphs, and bounds what the server
    /// buffers for each connection.
    pub max_line_bytes: NonZeroUsize,
    /// How long a new connection may take to choose a nickname.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    /// Flood control.
    pub flood: FloodSection,
    /// Deprecated: `connection.sendq_bytes` (still read, with a warning at start).
    pub sendq_bytes: Option<NonZeroUsize>,
    /// Deprecated: `connection.close_grace` (still read, with a warning at start).
    #[serde(with = "humantime_serde")]
    pub close_grace: Option<Duration>,
    /// Deprecated: `connection.keepalive` (still read, with a warning at start).
    #[serde(with = "humantime_serde")]
    pub keepalive: Option<Duration>,
}

/// What every face's connections share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSection {
    /// Bytes queued for one connection before it is cut off as too slow: 256 KiB is
    /// thousands of chat lines, far more than a live reader ever lags.
    pub sendq_bytes: NonZeroUsize,
    /// How long a closing connection gets to take its last lines.
    #[serde(with = "humantime_serde")]
    pub close_grace: Duration,
    /// How soon a peer that vanished without closing is found: TCP keepalive starts probing
    /// after this much silence, and `TCP_USER_TIMEOUT` drops data left unacknowledged this
    /// long plus three probe intervals. One minute: quick enough that a room does not show a
    /// ghost for long, slow enough for a laptop waking from sleep.
    #[serde(with = "humantime_serde")]
    pub keepalive: Duration,
    /// How long output may wait without the client taking a byte of it before the client
    /// is cut ("send queue exceeded"): a reader of a byte a second goes after this, not
    /// when the kernel gives up minutes later.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
}

impl Default for ConnectionSection {
    fn default() -> Self {
        let d = SessionConfig::default();
        Self {
            sendq_bytes: NonZeroUsize::new(d.sendq_bytes).expect("not zero"),
            close_grace: d.close_grace,
            keepalive: d.keepalive,
            write_timeout: d.write_timeout,
        }
    }
}

impl Default for TextSection {
    fn default() -> Self {
        Self {
            addr: ListenAddr::At(SocketAddr::from(([127, 0, 0, 1], 4567))),
            lang: Lang::En,
            default_room: RoomName::parse("lobby").expect("lobby is a valid room name"),
            max_line_bytes: NonZeroUsize::new(4096).expect("not zero"),
            login_timeout: Duration::from_secs(60),
            flood: FloodSection::text_default(),
            sendq_bytes: None,
            close_grace: None,
            keepalive: None,
        }
    }
}

/// The IRC face.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IrcSection {
    /// Where to listen, or `off`. Loopback by default, on the usual IRC port.
    pub addr: ListenAddr,
    /// The server's name, the source of its replies.
    pub server_name: String,
    /// The network name clients show.
    pub network: String,
    /// Message of the day, one string per line; empty for none.
    pub motd: Vec<String>,
    /// A connection password clients must send with PASS; unset for none. Prefer the
    /// `TEAHOUSE_IRC_PASSWORD` environment variable to writing it here.
    pub password: Option<String>,
    /// How long a connection may take to register.
    #[serde(with = "humantime_serde")]
    pub registration_timeout: Duration,
    /// Idle time after which the server PINGs a client.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Time after an unanswered PING before the client is dropped.
    #[serde(with = "humantime_serde")]
    pub ping_timeout: Duration,
    /// Flood control.
    pub flood: FloodSection,
    /// Where to listen for IRC over TLS (6697 is usual), or `off`; needs `[tls]` `cert`
    /// and `key`.
    pub tls_addr: ListenAddr,
    /// Deprecated: `connection.sendq_bytes` (still read, with a warning at start).
    pub sendq_bytes: Option<NonZeroUsize>,
}

impl fmt::Debug for IrcSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrcSection")
            .field("addr", &self.addr)
            .field("server_name", &self.server_name)
            .field("network", &self.network)
            .field("motd", &self.motd)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("registration_timeout", &self.registration_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("flood", &self.flood)
            .field("tls_addr", &self.tls_addr)
            .field("sendq_bytes", &self.sendq_bytes)
            .finish()
    }
}

impl Default for IrcSection {
    fn default() -> Self {
        let defaults = IrcConfig::default();
        Self {
            addr: ListenAddr::At(SocketAddr::from(([127, 0, 0, 1], 6667))),
            server_name: defaults.server_name,
            network: defaults.network,
            motd: Vec::new(),
            password: None,
            registration_timeout: defaults.registration_timeout,
            ping_interval: defaults.ping_interval,
            ping_timeout: defaults.ping_timeout,
            flood: FloodSection::default(),
            tls_addr: ListenAddr::Off,
            sendq_bytes: None,
        }
    }
}

/// The web face: an HTTP listener serving the web client and IRC over WebSocket at `/ws`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// Where to listen, or `off`. Loopback by default.
    pub addr: ListenAddr,
    /// Origins (`https://chat.example.org`) whose pages may open `/ws` besides the page's
    /// own; `"*"` allows any. The default, none, keeps other sites' pages from using a
    /// visitor's browser to chat as them.
    pub allowed_origins: Vec<String>,
    /// How long a connection may take to send a request's head (a slow-loris bound).
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// How long a connection may serve plain HTTP (page loads) before it is closed; a
    /// WebSocket is not cut by this.
    #[serde(with = "humantime_serde")]
    pub http_timeout: Duration,
    /// The most bytes of a request's head: 16 KiB is several times a browser's (cookies
    /// included); hyper refuses bigger heads with 431. At least 8192.
    pub max_header_bytes: NonZeroUsize,
    /// Whether the listener speaks HTTPS (and WSS) instead of HTTP; needs `[tls]` `cert`
    /// and `key`.
    pub tls: bool,
    /// Whether `GET /metrics` serves Prometheus metrics, to loopback and `limits.exempt`
    /// clients only (others get a 404).
    pub metrics: bool,
}

/// TLS: the certificate both TLS listeners present, and the bounds on handshakes. The files
/// are read again on reload (SIGHUP, `REHASH`): the next client gets the new certificate,
/// connected ones keep theirs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// The certificate chain, PEM, the server's own certificate first (Let's Encrypt's
    /// `fullchain.pem`; `teahouse admin gen-cert` makes a self-signed one to try TLS out).
    pub cert: Option<std::path::PathBuf>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<std::path::PathBuf>,
    /// How long a client may take over its TLS handshake.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// TLS handshakes in progress at once (each costs CPU and a few kilobytes); a client
    /// over the cap is closed at once, which bounds what a handshake flood can take.
    pub max_handshakes: NonZeroUsize,
    /// How long IRC clients that saw the `sts` policy keep to TLS: a month, as Ergo
    /// suggests. `0s` tells them to forget it (for moving off TLS).
    #[serde(with = "humantime_serde")]
    pub sts_duration: Duration,
    /// Whether to advertise `sts` when the IRC TLS port is on. Off for a self-signed
    /// certificate: a client that upgrades would then refuse it.
    pub sts: bool,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            handshake_timeout: Duration::from_secs(10),
            max_handshakes: NonZeroUsize::new(256).expect("not zero"),
            sts_duration: Duration::from_secs(30 * 86_400),
            sts: true,
        }
    }
}

impl Default for WebSection {
    fn default() -> Self {
        Self {
            addr: ListenAddr::At(SocketAddr::from(([127, 0, 0, 1], 8080))),
            allowed_origins: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            http_timeout: Duration::from_secs(60),
            max_header_bytes: NonZeroUsize::new(16 * 1024).expect("not zero"),
            tls: false,
            metrics: true,
        }
    }
}

/// Flood control (`[irc.flood]`, `[text.flood]`): a client may send `burst` lines and
/// `burst_bytes` bytes at once, then `lines_per_second` and `bytes_per_second`; beyond that
/// its lines are delayed (fake lag), and once `recvq_bytes` of its input wait unprocessed it
/// is disconnected with `Excess Flood`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodSection {
    /// Whether flood control is on (turn it off only for benchmarks).
    pub enabled: bool,
    /// Lines at once: enough for a client's connect burst (CAP, NICK, USER, a few JOINs),
    /// or a pasted paragraph.
    pub burst: u32,
    /// Lines per second after the burst: brisk typing, not a script.
    pub lines_per_second: f64,
    /// Bytes at once.
    pub burst_bytes: u32,
    /// Bytes per second after the burst.
    pub bytes_per_second: u32,
    /// Unprocessed input held for a slowed client before it is cut off (at least the
    /// longest line).
    pub recvq_bytes: NonZeroUsize,
}

impl Default for FloodSection {
    fn default() -> Self {
        let defaults = FloodConfig::default();
        Self {
            enabled: true,
            burst: defaults.burst,
            lines_per_second: defaults.lines_per_second,
            burst_bytes: defaults.burst_bytes,
            bytes_per_second: defaults.bytes_per_second,
            recvq_bytes: NonZeroUsize::new(defaults.recvq_bytes).expect("not zero"),
        }
    }
}

impl FloodSection {
    /// The text face's defaults: its lines may be 4 KiB, so it holds more.
    fn text_default() -> Self {
        Self {
            recvq_bytes: NonZeroUsize::new(16 * 1024).expect("not zero"),
            ..Self::default()
        }
    }

    /// The limiter's settings, or `None` when it is off; the receive queue holds at least
    /// one line of `max_line_bytes`.
    fn config(&self, max_line_bytes: usize) -> Option<FloodConfig> {
        self.enabled.then(|| FloodConfig {
            burst: self.burst.max(1),
            lines_per_second: self.lines_per_second.max(0.01),
            burst_bytes: self.burst_bytes.max(1),
            bytes_per_second: self.bytes_per_second.max(1),
            recvq_bytes: self.recvq_bytes.get().max(max_line_bytes + 2),
        })
    }
}

impl Config {
    /// Parses a TOML config.
    ///
    /// # Errors
    /// [`Error::ParseConfig`], naming the key and line at fault.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|source| Error::ParseConfig { path: None, source })
    }

    /// Reads and parses a TOML config file.
    ///
    /// # Errors
    /// [`Error::ReadConfig`] or [`Error::ParseConfig`].
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| Error::ParseConfig {
            path: Some(path.to_owned()),
            source,
        })
    }

    /// The cluster's settings, if this node is one of several.
    pub(crate) fn nats_config(&self) -> Option<teahouse_cluster::nats::NatsConfig> {
        let url = self.cluster.url.as_ref()?;
        let mut nats = teahouse_cluster::nats::NatsConfig::new(url, &self.cluster.node_name);
        nats.prefix.clone_from(&self.cluster.prefix);
        nats.heartbeat = self.cluster.heartbeat;
        nats.dead_after = self.cluster.dead_after;
        nats.publish_queue = self.cluster.publish_queue.get();
        Some(nats)
    }

    pub(crate) fn hub_config(&self) -> HubConfig {
        HubConfig {
            node: self.server.node_id,
            max_message_bytes: self.server.max_message_bytes.get(),
            max_rooms_per_user: self.limits.max_rooms_per_user.get(),
            max_rooms: self.limits.max_rooms.get(),
            max_direct_targets_per_minute: self.limits.direct_targets_per_minute,
            operators: self
                .operators
                .iter()
                .map(|o| teahouse_hub::OperatorConfig {
                    name: o.name.clone(),
                    password_hash: o.password_hash.clone(),
                    hosts: o.hosts.clone(),
                })
                .collect(),
            ..HubConfig::default()
        }
    }

    /// The connection settings every face shares. A key of an older config file that
    /// moved to `[connection]` still counts where it is set ([`Config::deprecated_keys`]).
    pub(crate) fn session_config(&self) -> SessionConfig {
        let c = &self.connection;
        let sendq = self.text.sendq_bytes.or(self.irc.sendq_bytes);
        SessionConfig {
            sendq_bytes: sendq.unwrap_or(c.sendq_bytes).get(),
            close_grace: self.text.close_grace.unwrap_or(c.close_grace),
            keepalive: self.text.keepalive.unwrap_or(c.keepalive),
            write_timeout: c.write_timeout,
        }
    }

    /// The keys of an older config file that this one still reads in their new place, each
    /// with where it belongs now: for a warning at start.
    pub fn deprecated_keys(&self) -> Vec<(&'static str, &'static str)> {
        let mut keys = Vec::new();
        if self.text.sendq_bytes.is_some() {
            keys.push(("text.sendq_bytes", "connection.sendq_bytes"));
        }
        if self.irc.sendq_bytes.is_some() {
            keys.push(("irc.sendq_bytes", "connection.sendq_bytes"));
        }
        if self.text.close_grace.is_some() {
            keys.push(("text.close_grace", "connection.close_grace"));
        }
        if self.text.keepalive.is_some() {
            keys.push(("text.keepalive", "connection.keepalive"));
        }
        keys
    }

    pub(crate) fn irc_config(&self) -> IrcConfig {
        let irc = &self.irc;
        IrcConfig {
            server_name: irc.server_name.clone(),
            network: irc.network.clone(),
            motd: irc.motd.clone(),
            password: irc.password.clone(),
            registration_timeout: irc.registration_timeout,
            ping_interval: irc.ping_interval,
            ping_timeout: irc.ping_timeout,
            is_email_required: self.accounts.email_required,
            session: self.session_config(),
            flood: irc.flood.config(512),
            sts: None,
            is_secure: false,
            rehash: None,
        }
    }

    /// The IRC face's settings for the plain (`is_secure` false) or TLS listener: `sts`
    /// offered when the TLS port `ircs_port` is on, `REHASH` through `rehash`.
    pub(crate) fn irc_face_config(
        &self,
        ircs_port: Option<u16>,
        is_secure: bool,
        rehash: &Option<teahouse_irc::Rehash>,
    ) -> IrcConfig {
        let sts = ircs_port
            .filter(|_| self.tls.sts)
            .map(|port| teahouse_irc::StsPolicy {
                port,
                duration: self.tls.sts_duration,
            });
        IrcConfig {
            sts,
            is_secure,
            rehash: rehash.clone(),
            ..self.irc_config()
        }
    }

    /// Whether a listener needs TLS.
    pub(crate) fn needs_tls(&self) -> bool {
        self.irc.tls_addr != ListenAddr::Off || (self.web.tls && self.web.addr != ListenAddr::Off)
    }

    /// The certificate and key files, which a listener with TLS needs.
    pub(crate) fn tls_files(&self) -> Result<crate::tls::TlsFiles, Error> {
        match (&self.tls.cert, &self.tls.key) {
            (Some(cert), Some(key)) => Ok(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => Err(Error::Tls(
                "a TLS listener needs a certificate and its key: set [tls] cert and key, \
                 or --tls-cert and --tls-key (`teahouse admin gen-cert` makes a self-signed \
                 pair to try it out)"
                    .to_owned(),
            )),
        }
    }

    pub(crate) fn web_config(&self) -> crate::web::WebConfig {
        let web = &self.web;
        crate::web::WebConfig {
            allowed_origins: web.allowed_origins.clone(),
            handshake_timeout: web.handshake_timeout,
            http_timeout: web.http_timeout,
            // hyper's floor for its read buffer.
            max_header_bytes: web.max_header_bytes.get().max(8192),
        }
    }

    pub(crate) fn text_config(&self) -> TextConfig {
        TextConfig {
            lang: self.text.lang,
            default_room: self.text.default_room.clone(),
            max_line_bytes: self.text.max_line_bytes.get(),
            login_timeout: self.text.login_timeout,
            session: self.session_config(),
            history_lines: if self.history.enabled {
                self.history.replay_lines
            } else {
                0
            },
            flood: self.text.flood.config(self.text.max_line_bytes.get()),
        }
    }

    /// The account settings for the hub.
    pub fn account_config(&self) -> teahouse_hub::AccountConfig {
        let a = &self.accounts;
        teahouse_hub::AccountConfig {
            argon2_memory_kib: a.argon2_memory_kib,
            argon2_iterations: a.argon2_iterations,
            argon2_parallelism: a.argon2_parallelism,
            min_password_bytes: a.min_password_bytes.get(),
            max_password_bytes: a.max_password_bytes.get(),
            registration_rate: (a.registrations_per_period > 0 && !a.registration_period.is_zero())
                .then_some((a.registrations_per_period, a.registration_period)),
            max_failures: a.max_failures,
            failure_window: a.failure_window,
            is_loopback_exempt: self.limits.loopback_exempt,
            exempt: self.limits.exempt.clone(),
        }
    }

    pub(crate) fn history_config(&self) -> teahouse_hub::HistoryConfig {
        teahouse_hub::HistoryConfig {
            max_age: self.history.max_age,
            max_per_target: self.history.max_per_target,
            delivery_tasks: match self.server.workers {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                workers => workers,
            },
            ..teahouse_hub::HistoryConfig::default()
        }
    }
}

/// A listener address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddr {
    /// Disabled.
    Off,
    /// Listen here (port 0 picks a free port).
    At(SocketAddr),
}

impl FromStr for ListenAddr {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "off" {
            Ok(Self::Off)
        } else {
            s.parse().map(Self::At)
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::At(addr) => addr.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "expected an address like 127.0.0.1:4567 or `off`, got {s:?}"
            ))
        })
    }
}

fn de_lang<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Lang, D::Error> {
    let s = String::deserialize(deserializer)?;
    Lang::parse(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("expected `en` or `zh`, got {s:?}")))
}

fn de_room<'de, D: Deserializer<'de>>(deserializer: D) -> Result<RoomName, D::Error> {
    let s = String::deserialize(deserializer)?;
    RoomName::parse(&s).map_err(|e| serde::de::Error::custom(format!("room name {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let text = include_str!("../../../teahouse.example.toml");
        let config = Config::from_toml(text).expect("example config parses");
        let defaults = Config::default();
        assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn unknown_key_and_bad_values_are_named() {
        let err = Config::from_toml("[text]\nadress = \"x\"\n").unwrap_err();
        assert!(format!("{:?}", err).contains("adress"), "{err:?}");
        let err = Config::from_toml("[text]\nlang = \"fr\"\n").unwrap_err();
        assert!(format!("{:?}", err).contains("fr"), "{err:?}");
        let err = Config::from_toml("[text]\nlogin_timeout = \"soon\"\n").unwrap_err();
        assert!(format!("{:?}", err).contains("login_timeout"), "{err:?}");
        let err = Config::from_toml("[limits]\nmax_connections = 0\n").unwrap_err();
        assert!(format!("{:?}", err).contains("max_connections"), "{err:?}");
    }

    #[test]
    fn operators_need_an_argon2id_hash_and_default_to_loopback() {
        let hash = teahouse_hub::hash_new_password(
            &teahouse_hub::AccountConfig {
                argon2_memory_kib: 8,
                argon2_iterations: 1,
                ..teahouse_hub::AccountConfig::default()
            },
            "password",
        )
        .unwrap();
        let text = format!("[[operators]]\nname = \"admin\"\npassword_hash = \"{hash}\"\n");
        let config = Config::from_toml(&text).unwrap();
        assert_eq!(config.operators[0].hosts, ["127.0.0.1", "::1"]);
        assert_eq!(config.hub_config().operators[0].password_hash, hash);
        let err =
            Config::from_toml("[[operators]]\nname = \"admin\"\npassword_hash = \"hunter2\"\n")
                .unwrap_err();
        assert!(
            format!("{err:?}").contains("teahouse admin hash-password"),
            "{err}"
        );
    }

    #[test]
    fn irc_password_is_redacted_in_debug() {
        let config = Config::from_toml("[irc]\npassword = \"hunter2\"\n").unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.irc.password.as_deref(), Some("hunter2"));
    }

    #[test]
    fn keys_that_moved_to_connection_are_still_read_and_named() {
        let config = Config::from_toml(
            "[text]\nkeepalive = \"5s\"\nsendq_bytes = 1000\n[irc]\nsendq_bytes = 2000\n",
        )
        .unwrap();
        let session = config.session_config();
        assert_eq!(session.keepalive, Duration::from_secs(5));
        assert_eq!(session.sendq_bytes, 1000);
        assert_eq!(
            config.deprecated_keys(),
            [
                ("text.sendq_bytes", "connection.sendq_bytes"),
                ("irc.sendq_bytes", "connection.sendq_bytes"),
                ("text.keepalive", "connection.keepalive"),
            ]
        );
        assert!(Config::default().deprecated_keys().is_empty());
    }

    #[test]
    fn node_ids_above_63_are_refused() {
        let err = Config::from_toml("[server]\nnode_id = 64\n").unwrap_err();
        assert!(format!("{:?}", err).contains("node id 64"), "{err:?}");
        let config = Config::from_toml("[server]\nnode_id = 7\n").unwrap();
        assert_eq!(config.hub_config().node.get(), 7);
    }

    #[test]
    fn off_disables_a_listener() {
        let config = Config::from_toml("[text]\naddr = \"off\"\nlang = \"zh\"\n").unwrap();
        assert_eq!(config.text.addr, ListenAddr::Off);
        assert_eq!(config.text.lang, Lang::Zh);
    }
}
