//! Wire formats of teahouse and the byte plumbing every front-end shares.
//!
//! - [`text`]: the plain-text protocol's framing (newline-delimited UTF-8 lines, bounded),
//!   its line encoder and the terminal-safety filter for text that other users wrote.
//! - [`conn`]: the cancel-safe read and write steps of a session loop.
//! - [`session`]: the session driver every face's connections run ([`session::drive`]),
//!   with the face's protocol plugged in as a [`session::Handler`].
//! - [`irc`]: the IRC line format with IRCv3 tags: a parser that never panics, an encoder,
//!   a builder for server lines, source splitting and mask matching.
//! - [`outbox`]: [`Outbox`], the bounded (in bytes) queue of encoded lines that one
//!   connection's writer drains in batches, and [`write_batch`], the vectored write of a batch.
//!
//! This crate knows nothing of the hub, of rooms or of sockets: it turns values into bytes
//! and bytes into values, and moves bytes between any `AsyncRead + AsyncWrite` stream and
//! a session.

pub mod conn;
pub mod irc;
pub mod outbox;
pub mod session;
pub mod text;

pub use outbox::{Outbox, OutboxClosed, PushError, write_batch};
