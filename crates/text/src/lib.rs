//! The seed's plain-text protocol: a chat room a person can use with `nc` or `telnet`.
//!
//! One UTF-8 line per message. The server asks for a nickname until a free, valid one is
//! given, puts the user in the default room and tells everyone; every other line is said to
//! the room, and lines starting with `/` are commands (`/help` lists them). `quit` leaves.
//! English or the seed's Chinese texts ([`Lang`]); all texts live in one table (`lang`).
//!
//! Main items: [`serve`] (the accept loop for one listener) and [`TextConfig`]. Modules:
//! `listener` (accept loop, connection caps, accept back-off), `session` (one task per
//! connection: read, dispatch, write), `command` (the `/` commands), `render` (hub events to
//! lines) and `lang` (the texts).
//!
//! This crate owns no chat state: everything goes through the [`teahouse_hub::Hub`].

mod command;
mod lang;
mod listener;
mod render;
mod session;

use std::time::Duration;

pub use lang::Lang;
pub use listener::serve;
use teahouse_types::RoomName;

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
    /// The most bytes queued for one connection; a client that falls this far behind is
    /// disconnected and its rooms are told it left.
    pub sendq_bytes: usize,
    /// How long a closing connection gets to take its last lines (goodbye, shutdown notice).
    pub close_grace: Duration,
    /// TCP keepalive idle time: a peer that vanished without a FIN or RST (half-open) is
    /// detected about this long plus 30 s after its last packet, and announced as gone.
    pub keepalive: Duration,
}
