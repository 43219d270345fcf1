//! Refusals: the expected "no" answers of hub commands.

use teahouse_types::{Nick, RoomName};

/// Why the hub refused a command. Not a fault: each front-end maps every variant to a reply.
///
/// Kept exhaustive on purpose: a new variant must break every front-end's `match` until it
/// is handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The session has no nick yet, and the command needs one.
    #[error("choose a nickname first")]
    NotRegistered,
    /// Another session uses this nick (compared casefolded).
    #[error("nickname {0} is already in use")]
    NickInUse(Nick),
    /// No session uses this nick.
    #[error("no such nick: {0}")]
    NoSuchNick(Nick),
    /// No room of that name exists.
    #[error("no such room: {0}")]
    NoSuchRoom(RoomName),
    /// The session is not a member of that room.
    #[error("you are not in room {0}")]
    NotInRoom(RoomName),
    /// The session is already a member of that room.
    #[error("you are already in room {0}")]
    AlreadyInRoom(RoomName),
    /// The message is longer than the hub accepts.
    #[error("message is longer than {max_bytes} bytes")]
    MessageTooLong {
        /// The limit, in bytes of UTF-8.
        max_bytes: usize,
    },
    /// The session has already left (it is being removed).
    #[error("session is closed")]
    SessionClosed,
}
