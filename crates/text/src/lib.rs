//! The seed's plain-text protocol: a chat room a person can use with `nc` or `telnet`.
//!
//! One UTF-8 line per message. The server asks for a nickname until a free, valid one is
//! given, puts the user in the default room and tells everyone; every other line is said to
//! the room, and lines starting with `/` are commands (`/help` lists them). `quit` leaves.
//! English or the seed's Chinese texts ([`Lang`]); all texts live in one table (`lang`).
//!
//! Main items: [`TextFace`] (what the server's accept loop hands each connection to) and
//! [`TextConfig`]. Modules: `session` (one task per connection: read, dispatch, write),
//! `command` (the `/` commands), `render` (hub events to lines) and `lang` (the texts).
//!
//! This crate owns no chat state: everything goes through the [`teahouse_hub::Hub`].

mod command;
mod lang;
mod render;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
pub use lang::Lang;
use teahouse_hub::{ConnectionPermit, Hub, LimitRefusal};
use teahouse_types::RoomName;
use teahouse_wire::session::SessionConfig;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::session::Shared;

/// The plain-text face: turns accepted connections into sessions on the hub.
#[derive(Clone)]
pub struct TextFace {
    /// What new sessions start with; a reload replaces it (sessions keep the one they
    /// started with).
    current: Arc<std::sync::RwLock<Arc<Shared>>>,
}

impl TextFace {
    /// A face serving `hub` with `config`.
    pub fn new(hub: Hub, config: TextConfig) -> Self {
        Self {
            current: Arc::new(std::sync::RwLock::new(Arc::new(Shared {
                hub,
                config,
                user: Arc::from("text"),
                realname: Arc::from("plain-text user"),
            }))),
        }
    }

    /// New settings for the sessions that start from now on (a configuration reload).
    pub fn reconfigure(&self, config: TextConfig) {
        let old = self.shared();
        let new = Arc::new(Shared {
            hub: old.hub.clone(),
            config,
            user: Arc::clone(&old.user),
            realname: Arc::clone(&old.realname),
        });
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = new;
    }

    fn shared(&self) -> Arc<Shared> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The one line sent to a connection refused by a connection cap.
    pub fn refusal_line(&self, refusal: LimitRefusal) -> Bytes {
        teahouse_wire::text::encode_line(&self.shared().config.lang.limit(refusal))
    }

    /// The line for a connection from a banned address.
    pub fn banned_line(&self, reason: &str) -> Bytes {
        teahouse_wire::text::encode_line(&self.shared().config.lang.address_banned(reason))
    }

    /// The line for a client that speaks plain text to a TLS port of this face.
    pub fn plaintext_on_tls_line(&self) -> Bytes {
        teahouse_wire::text::encode_line(self.shared().config.lang.plaintext_on_tls_port())
    }

    /// Runs one accepted connection (any byte stream) to its end; `permit` is held until
    /// then.
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

/// Settings of the plain-text face.
#[derive(Debug, Clone)]
pub struct TextConfig {
    /// The language of every text the server sends.
    pub lang: Lang,
    /// The room a user enters once their nickname is accepted.
    pub default_room: RoomName,
    /// The longest line accepted, in bytes, line ending excluded. A longer line is refused
    /// with an error and the connection stays; the server never buffers more than this (plus
    /// one read) for a connection.
    pub max_line_bytes: usize,
    /// How long a new connection may take to choose a nickname before it is closed.
    pub login_timeout: Duration,
    /// The connection settings every face shares.
    pub session: SessionConfig,
    /// How many earlier messages a user sees on entering a room (when the hub keeps
    /// history); 0 for none.
    pub history_lines: u32,
    /// Flood control; `None` turns it off (benchmarks).
    pub flood: Option<teahouse_hub::FloodConfig>,
}
