//! [`Change`]: every change of the hub's chat state, recorded completely.
//!
//! The hub's state is written only by applying a `Change`. A command is decided against the
//! state (is the nick free, may this member speak?) into one `Change`, or refused; applying
//! it needs nothing but the state and the change itself: every id, every time (the time of
//! the events it makes too) and every target session is in it. So the changes one node applies, applied in the same order to
//! an empty state elsewhere, build the same state there, which is how nodes will share
//! rooms. Changes are serializable; [`Versioned`] carries one with the version of this
//! catalogue it was written in.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::NewerVersion;
use crate::event::{LeaveReason, MessageKind, MessageTarget};
use crate::id::{MessageId, SessionId};
use crate::mode::{MemberStatus, ModeChange, UserMode};
use crate::nick::Nick;
use crate::room::RoomName;
use crate::sink::LocalSink;
use crate::text::MessageText;

/// A room's topic, with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// The text.
    pub text: MessageText,
    /// Who set it (`nick!user@host`).
    pub set_by: Arc<str>,
    /// When.
    pub set_at: SystemTime,
}

/// A ban mask, with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The mask as given (`nick!user@host` with `*` and `?`).
    pub mask: Arc<str>,
    /// Who set it (their nick).
    pub set_by: Arc<str>,
    /// When.
    pub set_at: SystemTime,
}

/// Where a message goes, as decided: a room, or one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageTo {
    /// Every member of the room but the sender.
    Room(RoomName),
    /// One session, with the nick it had when the message was sent.
    Session {
        /// The recipient.
        session: SessionId,
        /// Its nick then.
        nick: Nick,
    },
}

/// One effective change of a room's modes, as it is announced; a member's status change
/// names the member's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeEdit {
    /// The change, as announced to the room.
    pub change: ModeChange,
    /// For `+o`/`-o`/`+v`/`-v`: the member whose status changes.
    pub member: Option<SessionId>,
}

/// Every way the hub's state changes. Applying one to a state needs nothing else.
///
/// Variants are only ever added (a node of an older version refuses what it does not know,
/// rather than misreading it); [`Change::VERSION`] counts additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A connection became a session: no nick yet, in no room.
    SessionStarted {
        /// The new session.
        session: SessionId,
        /// The host shown for it (its address).
        host: Arc<str>,
        /// Its user name until it gives one.
        user: Arc<str>,
        /// Its real name until it gives one.
        realname: Arc<str>,
        /// When it connected.
        at: SystemTime,
        /// Where its events go, on the node it is connected to; not part of the change as
        /// other nodes see it (never serialized: a session of another node has none).
        #[serde(skip)]
        sink: Option<LocalSink>,
    },
    /// Before its nick, the session gave its user name and real name (IRC `USER`).
    UserSet {
        /// The session.
        session: SessionId,
        /// The user name.
        user: Arc<str>,
        /// The real name.
        realname: Arc<str>,
    },
    /// The session took a nick: its first, or a new one (a rename).
    NickSet {
        /// The session.
        session: SessionId,
        /// The nick.
        nick: Nick,
        /// When.
        at: SystemTime,
    },
    /// The session completed its registration (IRC: the welcome burst; the plain-text
    /// face: its first nick): from now on it counts as a user, not a connection.
    Welcomed {
        /// The session.
        session: SessionId,
        /// When.
        at: SystemTime,
    },
    /// A named session changed its real name (IRC `SETNAME`).
    RealnameSet {
        /// The session.
        session: SessionId,
        /// The new real name.
        realname: Arc<str>,
        /// When.
        at: SystemTime,
    },
    /// The session became invisible (user mode `+i`) or visible.
    InvisibleSet {
        /// The session.
        session: SessionId,
        /// Whether it is invisible now.
        is_invisible: bool,
    },
    /// The session went away with a message, or came back (`None`).
    AwaySet {
        /// The session.
        session: SessionId,
        /// The away message.
        away: Option<MessageText>,
        /// When.
        at: SystemTime,
    },
    /// The session logged in to an account, or out (`None`).
    AccountSet {
        /// The session.
        session: SessionId,
        /// The account's name, as registered.
        account: Option<Arc<str>>,
        /// When.
        at: SystemTime,
    },
    /// An account was registered: its nick is protected from now on.
    AccountRegistered {
        /// The account's casefolded name.
        key: Arc<str>,
    },
    /// An account was deleted: its nick is free for anyone.
    AccountDropped {
        /// The account's casefolded name.
        key: Arc<str>,
    },
    /// The session entered a room, with this status; if `creates`, the room does not exist
    /// yet and is created then, with the default modes and this session as its founder.
    Joined {
        /// The session.
        session: SessionId,
        /// The room, spelled as it is (or will be, for a new room).
        room: RoomName,
        /// Its status there.
        status: MemberStatus,
        /// Whether this join creates the room.
        creates: bool,
        /// When (the room's creation time, if it creates it).
        at: SystemTime,
    },
    /// The session left a room; an emptied room is deleted.
    Parted {
        /// The session.
        session: SessionId,
        /// The room.
        room: RoomName,
        /// Its parting message.
        message: Option<MessageText>,
        /// When.
        at: SystemTime,
    },
    /// An operator removed a member from a room; an emptied room is deleted.
    Kicked {
        /// The operator.
        by: SessionId,
        /// The room.
        room: RoomName,
        /// The member removed.
        target: SessionId,
        /// The reason given.
        reason: Option<MessageText>,
        /// When.
        at: SystemTime,
    },
    /// A member invited a session to a room: it may join past `+i`, `+k`, `+l` and bans once.
    Invited {
        /// Who invited.
        by: SessionId,
        /// The room.
        room: RoomName,
        /// Who is invited.
        target: SessionId,
        /// When.
        at: SystemTime,
    },
    /// A member set a room's topic, or cleared it (`None`).
    TopicSet {
        /// Who.
        by: SessionId,
        /// The room.
        room: RoomName,
        /// The topic.
        topic: Option<Topic>,
        /// When.
        at: SystemTime,
    },
    /// An operator changed a room's modes; each edit is effective (none is a no-op).
    ModesChanged {
        /// The operator.
        by: SessionId,
        /// The room.
        room: RoomName,
        /// What changed, in order.
        edits: Vec<ModeEdit>,
        /// When (the time of any ban it sets).
        at: SystemTime,
    },
    /// The session became a server operator under the operator name `oper`, or stopped
    /// being one (`None`).
    OperatorSet {
        /// The session.
        session: SessionId,
        /// Its operator name.
        oper: Option<Arc<str>>,
    },
    /// The session set or unset one of its user modes.
    UserModeSet {
        /// The session.
        session: SessionId,
        /// Which mode.
        mode: UserMode,
        /// Set or unset.
        is_set: bool,
    },
    /// An operator gave the session another user name and host to show (IRC `CHGHOST`);
    /// its real address stays what connection limits and operator blocks see.
    HostSet {
        /// The session.
        session: SessionId,
        /// The user name shown.
        user: Arc<str>,
        /// The host shown.
        host: Arc<str>,
        /// When.
        at: SystemTime,
    },
    /// A message was deleted by its author, a room operator or a server operator (IRCv3
    /// `draft/message-redaction`); it is gone from the store, and those who could have
    /// seen it are told.
    Redacted {
        /// Who deleted it.
        by: SessionId,
        /// Where it was sent: the room, or the recipient of a direct message.
        target: MessageTarget,
        /// Who sent it (for a direct message, the other party to tell).
        author: Nick,
        /// Its id.
        id: MessageId,
        /// Why, if given.
        reason: Option<MessageText>,
        /// When.
        at: SystemTime,
    },
    /// A metadata key of a user or room was set, or removed (`None`) (IRCv3
    /// `draft/metadata-2`): those who share a room with the user (or are in the room) and
    /// those who monitor the user hear, but the one who made the change.
    MetadataSet {
        /// Who made the change.
        by: SessionId,
        /// Whose metadata.
        target: MetadataTarget,
        /// The key (lower case).
        key: Arc<str>,
        /// The value; `None` removes the key.
        value: Option<Arc<str>>,
        /// When.
        at: SystemTime,
    },
    /// The session subscribes to these metadata keys, or (`is_subscribed` false) no more:
    /// it hears only of changes to keys it subscribed to.
    MetadataSubscribed {
        /// The session.
        session: SessionId,
        /// The keys.
        keys: Vec<Arc<str>>,
        /// Subscribed, or unsubscribed.
        is_subscribed: bool,
    },
    /// An account's read marker for a target moved forward (IRCv3 `draft/read-marker`):
    /// every session logged in to it hears. The marker itself is kept by the store.
    ReadMarked {
        /// The account, as the sessions logged in to it carry its name (as registered).
        account: Arc<str>,
        /// The room, or the other side of a direct conversation.
        target: MessageTarget,
        /// The time of the last message read.
        at: SystemTime,
    },
    /// The session watches these nicks come and go (IRC `MONITOR +`).
    MonitorAdded {
        /// The session.
        session: SessionId,
        /// The nicks, as given.
        nicks: Vec<Nick>,
    },
    /// The session stops watching these nicks (IRC `MONITOR -`), or every one (`None`:
    /// `MONITOR C`).
    MonitorRemoved {
        /// The session.
        session: SessionId,
        /// The nicks; `None` for all.
        nicks: Option<Vec<Nick>>,
    },
    /// An operator's notice to everyone who hears WALLOPS.
    Wallops {
        /// The operator.
        from: SessionId,
        /// The text.
        text: MessageText,
        /// When.
        at: SystemTime,
    },
    /// A session sent a message (to a room, or to one session).
    Message {
        /// Its id.
        id: MessageId,
        /// The sender.
        from: SessionId,
        /// Where it goes.
        to: MessageTo,
        /// Plain, action or notice.
        kind: MessageKind,
        /// The text.
        text: MessageText,
        /// Client-only tags sent with it (IRCv3 `+key=value` pairs, escaped, `;`-joined).
        client_tags: Option<Arc<str>>,
        /// When the hub accepted it.
        at: SystemTime,
    },
    /// A session sent client-only tags without a message (IRC `TAGMSG`).
    Tags {
        /// Its id (shared with messages).
        id: MessageId,
        /// The sender.
        from: SessionId,
        /// Where they go.
        to: MessageTo,
        /// The tags.
        client_tags: Arc<str>,
        /// When the hub accepted them.
        at: SystemTime,
    },
    /// The session left the server: out of its rooms, its nick free.
    SessionEnded {
        /// The session.
        session: SessionId,
        /// Why (shown to those who shared a room with it).
        reason: LeaveReason,
        /// Set when someone else ended it (IRC: NickServ `GHOST`): what its connection is
        /// told before it is closed.
        disconnect: Option<Arc<str>>,
        /// When.
        at: SystemTime,
    },
}

impl Change {
    /// The version of this catalogue: one more with every variant or field added.
    pub const VERSION: u16 = 7;
}

/// Whose metadata (IRCv3 `draft/metadata-2`) a change is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataTarget {
    /// A user, by session.
    User(SessionId),
    /// A room.
    Room(RoomName),
}

/// A change with the version of the catalogue it was written in, as it is stored or sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned {
    /// [`Change::VERSION`] of the writer.
    pub version: u16,
    /// The change.
    pub change: Change,
}

impl Versioned {
    /// Wraps a change in the current version.
    pub fn new(change: Change) -> Self {
        Self {
            version: Change::VERSION,
            change,
        }
    }

    /// The change, if this build knows its version.
    ///
    /// # Errors
    /// [`NewerVersion`] for a change of a later catalogue.
    pub fn into_change(self) -> Result<Change, NewerVersion> {
        if self.version > Change::VERSION {
            return Err(NewerVersion {
                found: self.version,
            });
        }
        Ok(self.change)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::id::NodeId;
    use crate::mode::RoomMode;

    #[test]
    fn every_kind_of_change_round_trips_through_serde() {
        let node = NodeId::new(2).unwrap();
        let (a, b) = (SessionId::new(node, 1), SessionId::new(node, 2));
        let at = UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        let nick = Nick::parse("Zoë").unwrap();
        let room = RoomName::parse("Tea").unwrap();
        let text = MessageText::parse("hi there").unwrap();
        let changes = vec![
            Change::SessionStarted {
                session: a,
                host: "127.0.0.1".into(),
                user: "*".into(),
                realname: "".into(),
                at,
                sink: None,
            },
            Change::UserSet {
                session: a,
                user: "~z".into(),
                realname: "Zoë Z".into(),
            },
            Change::NickSet {
                session: a,
                nick: nick.clone(),
                at,
            },
            Change::Welcomed { session: a, at },
            Change::RealnameSet {
                session: a,
                realname: "Z".into(),
                at,
            },
            Change::InvisibleSet {
                session: a,
                is_invisible: true,
            },
            Change::AwaySet {
                session: a,
                away: Some(text.clone()),
                at,
            },
            Change::AccountSet {
                session: a,
                account: Some("Zoë".into()),
                at,
            },
            Change::AccountRegistered { key: "zoë".into() },
            Change::AccountDropped { key: "zoë".into() },
            Change::Joined {
                session: a,
                room: room.clone(),
                status: MemberStatus {
                    is_operator: true,
                    is_voiced: false,
                },
                creates: true,
                at,
            },
            Change::Parted {
                session: a,
                room: room.clone(),
                message: None,
                at,
            },
            Change::Kicked {
                by: a,
                room: room.clone(),
                target: b,
                reason: Some(text.clone()),
                at,
            },
            Change::Invited {
                by: a,
                room: room.clone(),
                target: b,
                at,
            },
            Change::TopicSet {
                by: a,
                room: room.clone(),
                topic: Some(Topic {
                    text: text.clone(),
                    set_by: "Zoë!~z@127.0.0.1".into(),
                    set_at: at,
                }),
                at,
            },
            Change::ModesChanged {
                by: a,
                room: room.clone(),
                edits: vec![
                    ModeEdit {
                        change: ModeChange {
                            is_set: true,
                            mode: RoomMode::Ban("*!*@evil".into()),
                        },
                        member: None,
                    },
                    ModeEdit {
                        change: ModeChange {
                            is_set: true,
                            mode: RoomMode::Voice(Nick::parse("bob").unwrap()),
                        },
                        member: Some(b),
                    },
                ],
                at,
            },
            Change::Message {
                id: MessageId::new(1_764_000_000_123, node, 5),
                from: a,
                to: MessageTo::Session {
                    session: b,
                    nick: Nick::parse("bob").unwrap(),
                },
                kind: MessageKind::Action,
                text: text.clone(),
                client_tags: Some("+draft/reply=1".into()),
                at,
            },
            Change::OperatorSet {
                session: a,
                oper: Some("admin".into()),
            },
            Change::UserModeSet {
                session: a,
                mode: UserMode::Bot,
                is_set: true,
            },
            Change::Wallops {
                from: a,
                text: text.clone(),
                at,
            },
            Change::HostSet {
                session: a,
                user: "u".into(),
                host: "tea.example".into(),
                at,
            },
            Change::Redacted {
                by: a,
                target: MessageTarget::Direct(nick.clone()),
                author: nick.clone(),
                id: MessageId::new(1_764_000_000_123, node, 5),
                reason: Some(text.clone()),
                at,
            },
            Change::MetadataSet {
                by: a,
                target: MetadataTarget::Room(RoomName::parse("tea").unwrap()),
                key: "avatar".into(),
                value: Some("https://example.com/a.png".into()),
                at,
            },
            Change::MetadataSubscribed {
                session: a,
                keys: vec!["avatar".into()],
                is_subscribed: true,
            },
            Change::ReadMarked {
                account: "alice".into(),
                target: MessageTarget::Direct(nick.clone()),
                at,
            },
            Change::MonitorAdded {
                session: a,
                nicks: vec![nick.clone()],
            },
            Change::MonitorRemoved {
                session: a,
                nicks: None,
            },
            Change::Tags {
                id: MessageId::new(1_764_000_000_123, node, 6),
                from: a,
                to: MessageTo::Room(room.clone()),
                client_tags: "+typing=active".into(),
                at,
            },
            Change::SessionEnded {
                session: b,
                reason: LeaveReason::Requested(Some(text)),
                disconnect: Some("GHOST command used by Zoë".into()),
                at,
            },
        ];
        for change in changes {
            let json = serde_json::to_string(&Versioned::new(change.clone())).unwrap();
            let back: Versioned = serde_json::from_str(&json).unwrap();
            assert_eq!(back.into_change(), Ok(change), "{json}");
        }
    }

    #[test]
    fn a_change_of_a_newer_catalogue_is_refused() {
        let newer = Versioned {
            version: Change::VERSION + 1,
            change: Change::AccountDropped { key: "x".into() },
        };
        assert_eq!(
            newer.into_change(),
            Err(NewerVersion {
                found: Change::VERSION + 1
            })
        );
    }
}
