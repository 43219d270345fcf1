//! Where this node delivers: each room's list of its local members' sinks.
//!
//! Not chat state: a cache of the state's members joined with their sinks, rebuilt by the
//! first fan-out after a membership change, so that a busy room pays one copy per change
//! rather than one per message. A session of another node has no sink here; the nodes a
//! room's members are on are kept beside, for sending its messages only where they are.

use std::collections::HashMap;
use std::sync::Arc;

use teahouse_cluster::NodeSet;
use teahouse_types::{EventSink, LocalSink, SessionId};

use crate::state::{Audience, Effect, State};

use super::Resolved;

/// One recipient of a fan-out.
pub(crate) type Recipient = (SessionId, Arc<dyn EventSink>);

/// The recipients of one fan-out, copied out so the state lock can be released.
pub(crate) type Recipients = Arc<[Recipient]>;

/// Each room's local members' sinks.
#[derive(Default)]
pub(crate) struct Local {
    /// By room key, with the room's epoch the list was made at, and the nodes its members
    /// are on (all of them, this one included).
    rooms: HashMap<Arc<str>, (u64, Recipients, NodeSet)>,
}

impl Local {
    /// Forgets the list of a room that was deleted.
    pub(crate) fn forget_room(&mut self, key: &str) {
        self.rooms.remove(key);
    }

    /// The local recipients of an effect; `ended` is a session the change took out of the
    /// state, which may still be told (a disconnect notice).
    pub(crate) fn resolve(
        &mut self,
        state: &State,
        effect: &Effect,
        ended: Option<&(SessionId, Option<LocalSink>)>,
    ) -> Resolved {
        let recipient = |id: SessionId| match state.sink(id) {
            Some(sink) => Some((id, Arc::clone(sink))),
            None => ended
                .filter(|(gone, _)| *gone == id)
                .and_then(|(_, sink)| sink.as_ref())
                .map(|sink| (id, Arc::clone(&sink.0))),
        };
        let (recipients, skip) = match &effect.audience {
            Audience::Room { room, except, also } => {
                let (members, _) = self.room(state, room.key());
                let recipients = match also.and_then(recipient) {
                    Some(extra) => members.iter().cloned().chain([extra]).collect(),
                    None => members,
                };
                (recipients, *except)
            }
            Audience::Sessions(sessions) => (
                sessions.iter().filter_map(|id| recipient(*id)).collect(),
                None,
            ),
        };
        Resolved {
            event: Arc::clone(&effect.event),
            recipients,
            skip,
        }
    }

    /// The nodes the members of the room with key `key` are on (none if there is no such
    /// room), from the same cache as its recipients.
    pub(crate) fn room_nodes(&mut self, state: &State, key: &str) -> NodeSet {
        self.room(state, key).1
    }

    /// The room's local members and the nodes of all its members (none if there is no
    /// such room); rebuilt, both in one pass over the members, after a membership change.
    fn room(&mut self, state: &State, key: &str) -> (Recipients, NodeSet) {
        let Some(epoch) = state.room_epoch(key) else {
            return (Arc::from([]), NodeSet::EMPTY);
        };
        if let Some((cached, recipients, nodes)) = self.rooms.get(key)
            && *cached == epoch
        {
            return (Arc::clone(recipients), *nodes);
        }
        let mut nodes = NodeSet::EMPTY;
        let recipients: Recipients = state
            .room_members_by_key(key)
            .map(|members| {
                members
                    .filter_map(|id| {
                        nodes.insert(id.node());
                        state.sink(id).map(|sink| (id, Arc::clone(sink)))
                    })
                    .collect()
            })
            .unwrap_or_else(|| Arc::from([]));
        let key = state.room_shared_key(key).unwrap_or_else(|| Arc::from(key));
        self.rooms
            .insert(key, (epoch, Arc::clone(&recipients), nodes));
        (recipients, nodes)
    }
}
