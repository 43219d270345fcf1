//! Where teahouse keeps what must survive a restart: accounts and message history.
//!
//! [`Store`] is the one interface, with two backends from the same SQL: SQLite, embedded, in
//! a file under the data directory (the default: nothing to install), and PostgreSQL for an
//! installation that grows (`--database-url postgres://…`). Both run through sqlx's `Any`
//! driver with runtime-checked queries, so every statement here is written once, in the SQL
//! both understand (`$1` parameters, `ON CONFLICT`, window functions).
//!
//! Opening a store runs the embedded schema migrations (append-only; the schema version is
//! the newest applied one) and, for SQLite, takes an exclusive lock on the data directory,
//! turns on WAL and `synchronous=FULL`: a committed transaction is on disk.
//!
//! Main types: [`Store`], [`Location`], [`MessageRecord`], [`AccountRecord`],
//! [`HistoryQuery`]. This crate knows nothing of nicks, rooms or protocols beyond the plain
//! strings and numbers it stores: the hub decides what they mean. It does not hash
//! passwords either (the hub does, with Argon2id); it stores the PHC strings it is given.

mod account;
mod ban;
mod error;
mod history;
mod open;

use std::fs::File;
use std::path::PathBuf;

use sqlx::AnyPool;

pub use crate::error::Error;

/// The file name of the SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "teahouse.db";

/// The lock file that keeps a second server off the same data directory.
pub const LOCK_FILE: &str = "teahouse.lock";

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// SQLite in `teahouse.db` under this directory (created if missing).
    DataDir(PathBuf),
    /// SQLite in memory: gone when the process ends (tests, `--data-dir :memory:`).
    Memory,
    /// A database URL (`postgres://…`, or `sqlite://…`).
    Url(String),
}

impl Location {
    /// The location for logs and errors, without any password.
    pub fn display(&self) -> String {
        match self {
            Self::DataDir(dir) => dir.join(SQLITE_FILE).display().to_string(),
            Self::Memory => "memory".to_owned(),
            Self::Url(url) => open::redact_url(url),
        }
    }
}

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// The casefolded name (the key).
    pub name_key: String,
    /// The name as registered.
    pub name: String,
    /// The password's Argon2id hash, PHC string format.
    pub password_hash: String,
    /// When it was registered, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Its SCRAM-SHA-256 keys (`SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey`), once
    /// derived from the password.
    pub scram: Option<String>,
}

/// A stored server ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    /// What is banned: `mask` (a nick!user@host glob), `address` (an IP or CIDR range) or
    /// `account`.
    pub kind: String,
    /// The mask, range or account name (casefolded).
    pub mask: String,
    /// Why, as told to the banned.
    pub reason: String,
    /// The operator who set it.
    pub set_by: String,
    /// When, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Until when; `None` until lifted.
    pub expires_ms: Option<i64>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Unique and time-ordered.
    pub id: i64,
    /// Server time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// What it belongs to: a casefolded `#room`, or `@a @b` for a direct conversation.
    pub target_key: String,
    /// The room name or recipient nick as sent.
    pub target: String,
    /// 0 message, 1 notice, 2 action, 3 reaction (client-only tags, no text; stable codes).
    pub kind: i32,
    /// The sender's nick.
    pub sender_nick: String,
    /// The sender's user name.
    pub sender_user: String,
    /// The sender's host.
    pub sender_host: String,
    /// The sender's account, if logged in.
    pub sender_account: Option<String>,
    /// The text.
    pub body: String,
    /// Its client-only tags as sent (`+draft/reply=…;+…`), if any.
    pub tags: Option<String>,
}

/// A message to store, borrowing its text from wherever the caller keeps it (the hub's
/// event), so storing copies each string once, into the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage<'a> {
    /// Unique and time-ordered.
    pub id: i64,
    /// Server time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// What it belongs to: a casefolded `#room`, or `@a @b` for a direct conversation.
    pub target_key: String,
    /// The room name or recipient nick as sent.
    pub target: &'a str,
    /// 0 message, 1 notice, 2 action, 3 reaction (client-only tags, no text; stable codes).
    pub kind: i32,
    /// The sender's nick.
    pub sender_nick: &'a str,
    /// The sender's user name.
    pub sender_user: &'a str,
    /// The sender's host.
    pub sender_host: &'a str,
    /// The sender's account, if logged in.
    pub sender_account: Option<&'a str>,
    /// The text.
    pub body: &'a str,
    /// Its client-only tags as sent, if any.
    pub tags: Option<&'a str>,
}

impl MessageRecord {
    /// This record as a message to store.
    pub fn as_new(&self) -> NewMessage<'_> {
        NewMessage {
            id: self.id,
            time_ms: self.time_ms,
            target_key: self.target_key.clone(),
            target: &self.target,
            kind: self.kind,
            sender_nick: &self.sender_nick,
            sender_user: &self.sender_user,
            sender_host: &self.sender_host,
            sender_account: self.sender_account.as_deref(),
            body: &self.body,
            tags: self.tags.as_deref(),
        }
    }
}

/// Which messages of one target to fetch; bounds are message ids and exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The newest, optionally only those after an id.
    Latest {
        /// Only messages after this id.
        after: Option<i64>,
    },
    /// The newest before an id.
    Before(i64),
    /// The oldest after an id.
    After(i64),
    /// Half before an id, the rest from it on.
    Around(i64),
    /// Between two ids, from the first towards the second (either order).
    Between(i64, i64),
}

/// The store: a connection pool to SQLite or PostgreSQL. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Held open for as long as any clone lives: the data directory's lock.
    _lock: Option<std::sync::Arc<File>>,
}
