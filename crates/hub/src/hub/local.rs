//! Where this node delivers: the sinks of its own sessions, and each room's list of them.
//!
//! Not chat state: a sink is how a local session's events reach its connection, and a
//! room's recipient list is a cache of the state's members joined with those sinks. A
//! session of another node (later) is in the state and has no sink here.

use std::collections::HashMap;
use std::sync::Arc;

use teahouse_types::SessionId;

use crate::sink::EventSink;
use crate::state::{Audience, Effect, State};

use super::Resolved;

/// One recipient of a fan-out.
pub(crate) type Recipient = (SessionId, Arc<dyn EventSink>);

/// The recipients of one fan-out, copied out so the state lock can be released.
pub(crate) type Recipients = Arc<[Recipient]>;

/// This node's sinks, and the rooms' recipient lists.
#[derive(Default)]
pub(crate) struct Local {
    sinks: HashMap<SessionId, Arc<dyn EventSink>>,
    /// Each room's local members' sinks, with the room's epoch they were made at: rebuilt
    /// by the first fan-out after a membership change, so a busy room pays one copy per
    /// change rather than one per message.
    rooms: HashMap<Arc<str>, (u64, Recipients)>,
}

impl Local {
    /// Where `session`'s events go from now on.
    pub(crate) fn attach(&mut self, session: SessionId, sink: Arc<dyn EventSink>) {
        self.sinks.insert(session, sink);
    }

    /// Forgets the sink of a session that left.
    pub(crate) fn detach(&mut self, session: SessionId) {
        self.sinks.remove(&session);
    }

    /// Forgets the list of a room that was deleted.
    pub(crate) fn forget_room(&mut self, key: &str) {
        self.rooms.remove(key);
    }

    /// The sink of a local session.
    pub(crate) fn sink(&self, session: SessionId) -> Option<&Arc<dyn EventSink>> {
        self.sinks.get(&session)
    }

    /// The session as a recipient, if it is local.
    pub(crate) fn recipient(&self, session: SessionId) -> Option<Recipient> {
        self.sink(session).map(|sink| (session, Arc::clone(sink)))
    }

    /// The local recipients of an effect.
    pub(crate) fn resolve(&mut self, state: &State, effect: &Effect) -> Resolved {
        let (recipients, skip) = match &effect.audience {
            Audience::Room { room, except, also } => {
                let members = self.room(state, room.key());
                let recipients = match also.and_then(|id| self.recipient(id)) {
                    Some(extra) => members.iter().cloned().chain([extra]).collect(),
                    None => members,
                };
                (recipients, *except)
            }
            Audience::Sessions(sessions) => (
                sessions
                    .iter()
                    .filter_map(|id| self.recipient(*id))
                    .collect(),
                None,
            ),
        };
        Resolved {
            event: Arc::clone(&effect.event),
            recipients,
            skip,
        }
    }

    /// The room's local members (none if there is no such room).
    fn room(&mut self, state: &State, key: &str) -> Recipients {
        let Some(epoch) = state.room_epoch(key) else {
            return Arc::from([]);
        };
        if let Some((cached, recipients)) = self.rooms.get(key)
            && *cached == epoch
        {
            return Arc::clone(recipients);
        }
        let recipients: Recipients = state
            .room_members_by_key(key)
            .map(|members| members.filter_map(|id| self.recipient(id)).collect())
            .unwrap_or_else(|| Arc::from([]));
        let key = state.room_shared_key(key).unwrap_or_else(|| Arc::from(key));
        self.rooms.insert(key, (epoch, Arc::clone(&recipients)));
        recipients
    }
}
