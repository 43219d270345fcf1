//! What the hub delivers to sessions.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::id::{MessageId, SessionId};
use crate::mode::ModeChange;
use crate::nick::Nick;
use crate::profile::Profile;
use crate::room::RoomName;
use crate::text::MessageText;

/// One event, shared (behind an `Arc`) by every session it is delivered to.
///
/// The `cache` lets each wire format encode the event once and hand the same bytes to every
/// recipient that uses that format.
#[derive(Debug)]
pub struct HubEvent {
    /// What happened.
    pub kind: EventKind,
    /// When the hub made the event (IRC's `server-time`).
    pub time: SystemTime,
    /// Encodings of this event, one per wire-format key; filled by the first recipient.
    pub cache: RenderCache,
}

impl HubEvent {
    /// Wraps an event kind with an empty cache, made now.
    pub fn new(kind: EventKind) -> Self {
        Self::at(kind, SystemTime::now())
    }

    /// Wraps an event kind with an empty cache, made at `time` (a stored message keeps the
    /// time it was first sent).
    pub fn at(kind: EventKind, time: SystemTime) -> Self {
        Self {
            kind,
            time,
            cache: RenderCache::default(),
        }
    }
}

impl EventKind {
    /// Whether this is the last thing its recipient's connection gets: the face closes the
    /// connection once it is written.
    pub fn ends_session(&self) -> bool {
        matches!(self, Self::Disconnected { .. } | Self::ServerShutdown)
    }
}

/// What happened.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// `who` entered `room`; delivered to every member, the newcomer too.
    Joined {
        /// The room entered.
        room: RoomName,
        /// Who entered.
        who: Arc<Profile>,
        /// The session that entered.
        session: SessionId,
    },
    /// `who` left `room` but stays connected; delivered to the remaining members and to the
    /// leaver.
    Left {
        /// The room left.
        room: RoomName,
        /// Who left.
        who: Arc<Profile>,
        /// Why.
        reason: LeaveReason,
    },
    /// `target` was removed from `room` by `by`; delivered to the members, the kicked one too.
    Kicked {
        /// The room.
        room: RoomName,
        /// The operator who kicked.
        by: Arc<Profile>,
        /// Who was removed.
        target: Nick,
        /// The reason given, if any.
        reason: Option<MessageText>,
    },
    /// `who` left the server; delivered once to every session that shared a room with it.
    Quit {
        /// Who left.
        who: Arc<Profile>,
        /// Why.
        reason: LeaveReason,
    },
    /// `old` is now called `new`; delivered once to every session sharing a room, and to the
    /// renamed session itself.
    NickChanged {
        /// The user as they were.
        old: Arc<Profile>,
        /// The new nick.
        new: Nick,
    },
    /// A chat message, to a room or directly to one nick.
    Message {
        /// Unique, increasing id.
        id: MessageId,
        /// Who said it.
        from: Arc<Profile>,
        /// Where it was said.
        target: MessageTarget,
        /// Plain, action (`/me`) or notice.
        kind: MessageKind,
        /// What was said.
        text: MessageText,
        /// Client-only tags sent with it (IRCv3 `+key=value` pairs, escaped, `;`-joined),
        /// passed through untouched; faces without tags ignore them.
        client_tags: Option<Arc<str>>,
    },
    /// Client-only tags without a message (IRC `TAGMSG`: typing notifications, reactions);
    /// routed like a message, shown only by faces that carry tags.
    Tags {
        /// Unique, increasing id (shared with messages).
        id: MessageId,
        /// Who sent them.
        from: Arc<Profile>,
        /// Where.
        target: MessageTarget,
        /// The tags (IRCv3 `+key=value` pairs, escaped, `;`-joined).
        client_tags: Arc<str>,
    },
    /// Stored messages of a room or a direct conversation, oldest first, for one session:
    /// on entering a room, or because it asked.
    History {
        /// The room, or the other party of the direct conversation.
        target: MessageTarget,
        /// The messages (each a [`EventKind::Message`] with its original id and time), or
        /// `None` if the store could not be read.
        messages: Option<Arc<[Arc<HubEvent>]>>,
        /// What the face attached to its request (IRC: the command's label), if anything.
        context: Option<Arc<str>>,
    },
    /// `who` logged in to an account (`who.account` is set) or out of it; delivered to the
    /// sessions sharing a room with them, and to them.
    AccountChanged {
        /// The user, as they are now.
        who: Arc<Profile>,
    },
    /// The session is being disconnected by someone else (IRC: NickServ GHOST); its face
    /// says why and closes the connection.
    Disconnected {
        /// Why, for the user.
        reason: String,
    },
    /// The sender's own copy of its message (IRC `echo-message`), delivered once the message
    /// is stored, with the label of the command that sent it.
    Echo {
        /// The message, as the others got it.
        message: Arc<HubEvent>,
        /// The sending command's label (IRC `labeled-response`), if any.
        label: Option<Arc<str>>,
    },
    /// The server is shutting down; the face says goodbye and closes the connection.
    ServerShutdown,
    /// The other nodes of the cluster went out of reach (`false`) or are back (`true`):
    /// rooms here keep working meanwhile; people on other nodes are seen to leave, and come
    /// back once the nodes reach each other again.
    PeersReachable {
        /// Whether they are reachable now.
        reachable: bool,
    },
    /// A message this session sent could not be stored, so nobody received it.
    NotDelivered {
        /// The message's id.
        id: MessageId,
        /// Where it was going.
        target: MessageTarget,
    },
    /// The topic of `room` was set (or cleared, `None`) by `by`; delivered to every member.
    TopicChanged {
        /// The room.
        room: RoomName,
        /// Who set it.
        by: Arc<Profile>,
        /// The new topic.
        topic: Option<MessageText>,
    },
    /// Modes of `room` were changed by `by`; delivered to every member.
    ModesChanged {
        /// The room.
        room: RoomName,
        /// Who changed them.
        by: Arc<Profile>,
        /// What changed, in order.
        changes: Vec<ModeChange>,
    },
    /// `by` invited `target` to `room`; delivered to the target and the room's operators.
    Invited {
        /// The room.
        room: RoomName,
        /// Who invited.
        by: Arc<Profile>,
        /// Who is invited.
        target: Nick,
        /// The invited session.
        session: SessionId,
    },
    /// A user's shown user name and host changed (IRC `CHGHOST`); to them and everyone
    /// sharing a room with them.
    HostChanged {
        /// Who they were.
        old: Arc<Profile>,
        /// Who they are.
        who: Arc<Profile>,
    },
    /// `by` deleted message `id` of `target` (IRCv3 `draft/message-redaction`).
    Redacted {
        /// Who deleted it.
        by: Arc<Profile>,
        /// Where it was sent.
        target: MessageTarget,
        /// Its id.
        id: MessageId,
        /// Why, if given.
        reason: Option<MessageText>,
    },
    /// A metadata key of a user (`target` is their nick) or a room changed (IRCv3
    /// `draft/metadata-2`); `None` if it was removed.
    MetadataChanged {
        /// The user or room.
        target: MessageTarget,
        /// The key.
        key: Arc<str>,
        /// The new value.
        value: Option<Arc<str>>,
    },
    /// The read marker of the recipient's account for `target` is now `at` (IRCv3
    /// `draft/read-marker`); to every session logged in to the account.
    ReadMarked {
        /// The room, or the other side of a direct conversation.
        target: MessageTarget,
        /// The time of the last message read.
        at: SystemTime,
    },
    /// Nicks a session monitors came online or went offline (IRC `MONITOR`): for that one
    /// session, named by its nick.
    Monitored {
        /// The watching session's nick (IRC numerics are addressed to it).
        watcher: Nick,
        /// Who came online.
        online: Vec<Arc<Profile>>,
        /// Who went offline.
        offline: Vec<Nick>,
    },
    /// An event about a monitored user (away, account, real name) for a watcher who shares
    /// no room with them: IRC `extended-monitor` clients get `event`, others nothing.
    Watched {
        /// The event as co-members get it.
        event: Arc<HubEvent>,
    },
    /// An operator's notice to everyone who hears WALLOPS (user mode `+w`).
    Wallops {
        /// The operator.
        from: Arc<Profile>,
        /// The text.
        text: MessageText,
    },
    /// `who` went away (with a message) or came back (`None`); delivered to sessions sharing
    /// a room.
    AwayChanged {
        /// Who.
        who: Arc<Profile>,
        /// The away message, or `None` when back.
        away: Option<MessageText>,
    },
    /// `who` changed their real name; delivered to sessions sharing a room.
    RealnameChanged {
        /// Who, with the new real name.
        who: Arc<Profile>,
    },
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageTarget {
    /// To every member of a room.
    Room(RoomName),
    /// Directly to one user (the recipient's nick at the time of sending).
    Direct(Nick),
}

/// The flavour of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    /// An ordinary line.
    Normal,
    /// An action (`/me waves`).
    Action,
    /// A notice (IRC `NOTICE`): never answered automatically.
    Notice,
}

/// Why someone left a room or the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaveReason {
    /// The user asked to leave, optionally with a parting message.
    Requested(Option<MessageText>),
    /// The connection closed without a goodbye (EOF, reset, timeout).
    ConnectionLost,
    /// The connection was idle or silent past its deadline.
    TimedOut,
    /// The client did not read fast enough; its send queue overflowed.
    SendQueueExceeded,
    /// The server is shutting down.
    ServerShutdown,
    /// The user's node was lost to the others (it stopped, or cannot be reached).
    NetSplit,
    /// A server operator disconnected the user (IRC `KILL`). Boxed: every session keeps a
    /// `LeaveReason` slot, and this is the one big variant.
    Killed(Box<Kill>),
}

/// Who killed a session, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kill {
    /// The operator's nick.
    pub by: Nick,
    /// Why.
    pub reason: MessageText,
}

/// Encodings of one event, keyed by a small number each wire format picks for itself.
///
/// The first [`RenderCache::CELLS`] encodings made sit in write-once cells: every later
/// recipient of those formats (nearly all of them: a room holds one or two kinds of
/// client) finds its bytes with an atomic load, and the threads that deliver one event to
/// different recipients at once never write to a shared cache line to find them. Further
/// encodings go to a mutex-guarded list, never locked while encoding.
#[derive(Debug, Default)]
pub struct RenderCache {
    cells: [OnceLock<(u32, Option<Bytes>)>; RenderCache::CELLS],
    rest: Mutex<Vec<(u32, Option<Bytes>)>>,
}

impl RenderCache {
    /// Encodings kept in lock-free cells.
    pub const CELLS: usize = 2;

    /// The encoding for `key`, computing it with `render` the first time.
    ///
    /// `None` means "this event shows nothing in this format", which is cached too. Two
    /// threads asking for a new key at once may both render it; the encodings are equal.
    #[inline]
    pub fn get_or_render(&self, key: u32, render: impl FnOnce() -> Option<Bytes>) -> Option<Bytes> {
        for cell in &self.cells {
            match cell.get() {
                Some((cached, bytes)) if *cached == key => return bytes.clone(),
                Some(_) => {}
                None => break,
            }
        }
        let mut render = Some(render);
        self.render_once(key, &mut || render.take().and_then(|render| render()))
    }

    /// The path of a key not found in the cells: render it (or find it in the list) and
    /// keep it. Out of line, so the common path above stays small.
    #[inline(never)]
    fn render_once(&self, key: u32, render: &mut dyn FnMut() -> Option<Bytes>) -> Option<Bytes> {
        let mut rendered = None;
        for cell in &self.cells {
            if let Some((cached, bytes)) = cell.get() {
                if *cached == key {
                    return bytes.clone();
                }
                continue;
            }
            let bytes = rendered.get_or_insert_with(&mut *render).clone();
            match cell.set((key, bytes.clone())) {
                Ok(()) => return bytes,
                // Another thread filled this cell first: with this key, or another.
                Err(_) if cell.get().is_some_and(|(cached, _)| *cached == key) => return bytes,
                Err(_) => {}
            }
        }
        let mut slots = self.slots();
        if let Some((_, bytes)) = slots.iter().find(|(k, _)| *k == key) {
            return bytes.clone();
        }
        let bytes = match rendered {
            Some(bytes) => bytes,
            None => render(),
        };
        slots.push((key, bytes.clone()));
        bytes
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<(u32, Option<Bytes>)>> {
        self.rest
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_once_per_key() {
        let cache = RenderCache::default();
        let mut calls = 0;
        for _ in 0..3 {
            let got = cache.get_or_render(1, || {
                calls += 1;
                Some(Bytes::from_static(b"x"))
            });
            assert_eq!(got.as_deref(), Some(&b"x"[..]));
        }
        assert_eq!(calls, 1);
        assert_eq!(cache.get_or_render(2, || None), None);
        assert_eq!(cache.get_or_render(2, || Some(Bytes::new())), None);
        assert_eq!(
            cache.get_or_render(3, || Some(Bytes::from_static(b"z"))),
            Some(Bytes::from_static(b"z"))
        );
        // Every key keeps its own encoding, the first one's cell and the list's alike.
        assert_eq!(cache.get_or_render(1, || None).as_deref(), Some(&b"x"[..]));
        assert_eq!(cache.get_or_render(3, || None).as_deref(), Some(&b"z"[..]));
        assert_eq!(cache.get_or_render(2, || Some(Bytes::new())), None);
    }

    #[test]
    fn threads_racing_for_keys_all_see_one_encoding_per_key() {
        let cache = RenderCache::default();
        std::thread::scope(|scope| {
            for thread in 0..4u32 {
                let cache = &cache;
                scope.spawn(move || {
                    for round in 0..100u32 {
                        let key = (thread + round) % 3;
                        let got = cache.get_or_render(key, || Some(Bytes::from(key.to_string())));
                        assert_eq!(got, Some(Bytes::from(key.to_string())));
                    }
                });
            }
        });
        assert_eq!(
            cache.slots().len(),
            1,
            "two keys in the cells, one in the list"
        );
    }
}
