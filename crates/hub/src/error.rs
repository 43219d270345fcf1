//! Refusals: the expected "no" answers of hub commands.

use teahouse_types::{Nick, RoomName};

/// Why a room refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannotSend {
    /// `+n`: only members may send to the room.
    NotMember,
    /// `+m`: only voiced members and operators may speak.
    Moderated,
    /// The sender matches a ban.
    Banned,
}

/// Why the hub refused a command. Not a fault: each front-end maps every variant to a reply.
///
/// Kept exhaustive on purpose: a new variant must break every front-end's `match` until it
/// is handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The server has more messages waiting to be stored than it queues; try again shortly.
    #[error("the server is busy; try again")]
    Busy,
    /// The session has no nick yet, and the command needs one.
    #[error("choose a nickname first")]
    NotRegistered,
    /// Another session uses this nick (compared casefolded).
    #[error("nickname {0} is already in use")]
    NickInUse(Nick),
    /// Whether the nick is free cannot be decided now: the other nodes of the cluster are
    /// out of reach (IRC's 437, as after a net split). Asking again later may succeed.
    #[error("nickname {0} cannot be checked with the other nodes now; try again shortly")]
    NickUnavailable(Nick),
    /// The nick is a registered account's, and the session is not logged in to it.
    #[error("nickname {0} is registered; log in to use it")]
    NickRegistered(Nick),
    /// An account of this name exists already.
    #[error("an account named {0} already exists")]
    AccountExists(Nick),
    /// Wrong account name or password (the same answer for both).
    #[error("wrong account name or password")]
    AuthFailed,
    /// Too many wrong passwords lately, for this account or from this address.
    #[error("too many failed logins; try again later")]
    RateLimited,
    /// Too many accounts registered from this address lately.
    #[error("too many accounts registered from your address lately; try again later")]
    TooManyRegistrations,
    /// The password is empty or too long.
    #[error("a password must be {min_bytes} to {max_bytes} bytes long")]
    BadPassword {
        /// The shortest allowed.
        min_bytes: usize,
        /// The longest allowed.
        max_bytes: usize,
    },
    /// The command needs the session to be logged in to an account.
    #[error("you are not logged in")]
    NotLoggedIn,
    /// History is off, or too busy to answer now.
    #[error("history is unavailable right now")]
    HistoryUnavailable,
    /// Accounts cannot be used right now (no store, or it is unreachable).
    #[error("accounts are unavailable right now")]
    AccountsUnavailable,
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
    /// The command needs room-operator rights.
    #[error("you are not an operator of {0}")]
    NotOperator(RoomName),
    /// The room does not take this message from this session.
    #[error("cannot send to {room}")]
    CannotSend {
        /// The room.
        room: RoomName,
        /// Why.
        reason: CannotSend,
    },
    /// `+i` and no invitation.
    #[error("{0} is invite-only")]
    InviteOnly(RoomName),
    /// `+k` and a missing or wrong key.
    #[error("wrong key for {0}")]
    BadKey(RoomName),
    /// `+l` and the room is full.
    #[error("{0} is full")]
    RoomFull(RoomName),
    /// The session matches a ban of the room.
    #[error("you are banned from {0}")]
    Banned(RoomName),
    /// The target of a kick or mode is not in the room.
    #[error("{nick} is not in {room}")]
    TargetNotInRoom {
        /// Who.
        nick: Nick,
        /// The room.
        room: RoomName,
    },
    /// The target of an invitation is already in the room.
    #[error("{nick} is already in {room}")]
    TargetAlreadyInRoom {
        /// Who.
        nick: Nick,
        /// The room.
        room: RoomName,
    },
    /// The message (or topic, or real name) is longer than the hub accepts.
    #[error("text is longer than {max_bytes} bytes")]
    MessageTooLong {
        /// The limit, in bytes of UTF-8.
        max_bytes: usize,
    },
    /// The command is for server operators only.
    #[error("permission denied: you are not a server operator")]
    NoPrivileges,
    /// The user is in as many rooms as one may be (IRC's `CHANLIMIT`).
    #[error("you are in as many rooms as you may be ({max}); leave one to join {room}")]
    TooManyRooms {
        /// The room asked for.
        room: RoomName,
        /// The cap.
        max: usize,
    },
    /// The user messaged as many different people directly as one may within a minute.
    #[error(
        "you messaged {max} different people in the last minute; wait before messaging {target}"
    )]
    TargetsTooFast {
        /// Whom the message was for.
        target: Nick,
        /// The cap.
        max: usize,
    },
    /// The server holds as many rooms as it may; this one would be new.
    #[error("the server has as many rooms as it may; {0} cannot be made now")]
    ServerRoomLimit(RoomName),
    /// The user is banned from the server (a K-line or D-line), for this reason.
    #[error("you are banned from this server: {0}")]
    ServerBanned(String),
    /// A ban's mask is none of an address or range, `$a:account`, or `nick!user@host`
    /// (or one that would match everyone).
    #[error(
        "a ban is on an address or range, $a:account, or a nick!user@host mask that is not everyone"
    )]
    BadBanMask,
    /// The target has as many metadata keys as it may.
    #[error("metadata limit reached")]
    MetadataLimit,
    /// No message with that id was sent there (or it is gone from history).
    #[error("no such message")]
    NoSuchMessage,
    /// No operator of that name may log in from this session's host.
    #[error("no operator block for your host")]
    NoOperHost,
    /// The session has already left (it is being removed).
    #[error("session is closed")]
    SessionClosed,
}

/// A hub that cannot be built as configured.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The account settings are not usable (Argon2 parameters out of range).
    #[error("invalid account settings: {0}")]
    AccountConfig(String),
}
