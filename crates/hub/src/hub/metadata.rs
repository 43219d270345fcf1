//! IRCv3 `draft/metadata-2`: key/value metadata of users (an avatar, a display name) and
//! rooms, set by the user or a room's operators, told to those who share a room with the
//! user or are in the room. Kept in the hub's state: a user's go when the session ends, a
//! room's when the room does.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{Change, MessageTarget, MetadataTarget, Nick, RoomName, SessionId};

use super::Hub;
use crate::error::Refusal;
use crate::state::State;

/// One metadata key and its value.
pub type KeyValue = (Arc<str>, Arc<str>);

/// What a subscription did: the keys now subscribed (those that already were included), and
/// the first that did not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The keys subscribed.
    pub keys: Vec<Arc<str>>,
    /// The first key past the limit, if any (it and those after it were not processed).
    pub refused: Option<Arc<str>>,
}

/// How many metadata keys one session may subscribe to.
pub const MAX_METADATA_SUBS: usize = 50;

/// How many keys one user or room may have.
pub const MAX_METADATA_KEYS: usize = 20;

/// The longest value, in bytes (key and value must fit one IRC line).
pub const MAX_METADATA_VALUE_BYTES: usize = 300;

/// Whose metadata a command is about, as a client names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataName {
    /// The session itself (`*`).
    Me,
    /// A user by nick.
    Nick(Nick),
    /// A room.
    Room(RoomName),
}

/// Whether `key` is a metadata key: lower-case letters, digits and `_./-`, at most 64.
pub fn is_metadata_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_./-".contains(&b))
}

/// The target, resolved against the state: whose metadata, and how replies name it.
fn resolve(
    state: &State,
    session: SessionId,
    name: &MetadataName,
) -> Result<(MetadataTarget, MessageTarget), Refusal> {
    match name {
        MetadataName::Me => {
            let nick = state.nick_of(session)?.ok_or(Refusal::NotRegistered)?;
            Ok((MetadataTarget::User(session), MessageTarget::Direct(nick)))
        }
        MetadataName::Nick(nick) => {
            let holder = state
                .session_of(nick)
                .ok_or_else(|| Refusal::NoSuchNick(nick.clone()))?;
            let nick = state.nick_of(holder)?.ok_or(Refusal::NotRegistered)?;
            Ok((MetadataTarget::User(holder), MessageTarget::Direct(nick)))
        }
        MetadataName::Room(room) => {
            let info = state.room_info(room)?;
            Ok((
                MetadataTarget::Room(info.name.clone()),
                MessageTarget::Room(info.name),
            ))
        }
    }
}

impl Hub {
    /// The metadata of a user, or of a room the session is in (or any, for a server
    /// operator), with the target as replies name it.
    ///
    /// # Errors
    /// [`Refusal::NoSuchNick`], [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn metadata(
        &self,
        session: SessionId,
        name: &MetadataName,
    ) -> Result<(MessageTarget, Vec<KeyValue>), Refusal> {
        let core = self.lock();
        let (target, shown) = resolve(&core.state, session, name)?;
        if let MetadataTarget::Room(room) = &target
            && !core.state.is_member(session, room)
            && core.state.oper_of(session).is_none()
        {
            return Err(Refusal::NotInRoom(room.clone()));
        }
        Ok((shown, core.state.metadata_of(&target)))
    }

    /// Sets (or with `None` removes) a key of the session's own metadata, another user's
    /// (server operators) or a room's (its operators). Returns the target as replies name
    /// it and whether anything changed.
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NotOperator`], [`Refusal::MetadataLimit`],
    /// [`Refusal::NoSuchNick`], [`Refusal::NoSuchRoom`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub fn set_metadata(
        &self,
        session: SessionId,
        name: &MetadataName,
        key: &str,
        value: Option<&str>,
    ) -> Result<(MessageTarget, bool), Refusal> {
        let (key, value): (Arc<str>, Option<Arc<str>>) = (key.into(), value.map(Into::into));
        self.execute(session, |state| {
            let (target, shown) = resolve(state, session, name)?;
            let change = state.decide_metadata(
                session,
                target,
                key,
                value,
                MAX_METADATA_KEYS,
                SystemTime::now(),
            )?;
            let is_changed = change.is_some();
            Ok((change, (shown, is_changed)))
        })
    }

    /// Subscribes the session to metadata `keys` in order, up to [`MAX_METADATA_SUBS`] in
    /// all: the keys now subscribed, and the first that did not fit.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn subscribe_metadata(
        &self,
        session: SessionId,
        keys: &[&str],
    ) -> Result<Subscribed, Refusal> {
        let keys: Vec<Arc<str>> = keys.iter().map(|k| Arc::from(*k)).collect();
        self.execute(session, |state| {
            state.decide_metadata_subscribe(session, &keys, MAX_METADATA_SUBS)
        })
    }

    /// Unsubscribes the session from metadata `keys`.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn unsubscribe_metadata(&self, session: SessionId, keys: &[&str]) -> Result<(), Refusal> {
        let keys: Vec<Arc<str>> = keys.iter().map(|k| Arc::from(*k)).collect();
        self.execute(session, |_| {
            Ok((
                Some(Change::MetadataSubscribed {
                    session,
                    keys,
                    is_subscribed: false,
                }),
                (),
            ))
        })
    }

    /// The metadata keys the session subscribed to.
    pub fn metadata_subscriptions(&self, session: SessionId) -> Vec<Arc<str>> {
        self.lock().state.metadata_subscriptions(session)
    }

    /// A room's metadata and its members', each with its target, for a newcomer or a
    /// `METADATA #room SYNC`.
    pub fn room_metadata(&self, room: &RoomName) -> Vec<(MessageTarget, Arc<str>, Arc<str>)> {
        self.lock().state.room_metadata(room)
    }
}
