//! Joining, leaving, kicking and inviting.

use std::sync::Arc;

use teahouse_types::{
    EventKind, HubEvent, LeaveReason, MemberStatus, MessageTarget, MessageText, Nick, RoomName,
    SessionId,
};
use tracing::debug;

use super::{
    Hub, Room, RoomMember, State, Topic, actor, member_of, operator_of, room_members, room_snapshot,
};
use crate::error::Refusal;
use crate::history::{Item, room_key};
use teahouse_store::HistoryQuery;

/// What [`Hub::join`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The room, as it is spelled by whoever created it.
    pub room: RoomName,
    /// Its topic, if set.
    pub topic: Option<Topic>,
    /// Its members after the join, the newcomer included, sorted by nick key.
    pub members: Vec<RoomMember>,
    /// Whether the room was created by this join (the newcomer is its operator).
    pub is_new: bool,
}

/// What [`Hub::invite`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The room, as spelled by the hub.
    pub room: RoomName,
    /// The invited user's nick.
    pub target: Nick,
    /// The invited user's away message, if away.
    pub away: Option<MessageText>,
}

impl Hub {
    /// Makes the session a member of `room`, creating the room if it does not exist (the
    /// creator is its operator). Every member, the newcomer first, gets [`EventKind::Joined`].
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`] without a nick, [`Refusal::AlreadyInRoom`],
    /// [`Refusal::Banned`], [`Refusal::InviteOnly`], [`Refusal::BadKey`],
    /// [`Refusal::RoomFull`], [`Refusal::SessionClosed`].
    pub fn join(
        &self,
        session: SessionId,
        room: RoomName,
        key: Option<&str>,
    ) -> Result<JoinOutcome, Refusal> {
        self.join_with_replay(session, room, key, 0)
    }

    /// [`Hub::join`], and then, if the hub keeps history, the last `replay` messages of the
    /// room for the newcomer as one [`EventKind::History`]: right after its own join and
    /// before anything it receives live, with no message in both.
    ///
    /// # Errors
    /// As [`Hub::join`].
    pub fn join_with_replay(
        &self,
        session: SessionId,
        room: RoomName,
        key: Option<&str>,
        replay: u32,
    ) -> Result<JoinOutcome, Refusal> {
        let (event, outcome, recipients) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let entry = sessions.get(&session).ok_or(Refusal::SessionClosed)?;
            let profile = entry.profile()?;
            let is_new = !rooms.contains_key(room.key());
            let slot = rooms
                .entry(room.key().into())
                .or_insert_with(|| Room::new(room.clone()));
            if slot.members.contains_key(&session) {
                return Err(Refusal::AlreadyInRoom(slot.name.clone()));
            }
            let is_invited = slot.invited.contains(&session);
            if !is_new && !is_invited {
                if slot.is_banned(&profile) {
                    return Err(Refusal::Banned(slot.name.clone()));
                }
                if slot.modes.is_invite_only {
                    return Err(Refusal::InviteOnly(slot.name.clone()));
                }
                if let Some(expected) = &slot.modes.key
                    && key != Some(&**expected)
                {
                    return Err(Refusal::BadKey(slot.name.clone()));
                }
                if let Some(limit) = slot.modes.limit
                    && slot.members.len() >= limit
                {
                    return Err(Refusal::RoomFull(slot.name.clone()));
                }
            }
            slot.invited.remove(&session);
            let status = MemberStatus {
                is_operator: is_new,
                is_voiced: false,
            };
            slot.members.insert(session, status);
            slot.snapshot = None;
            let room_name = slot.name.clone();
            let event = Arc::new(HubEvent::new(EventKind::Joined {
                room: room_name.clone(),
                who: profile,
                session,
            }));
            let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
            entry.rooms.push(room_name.clone());
            // The newcomer hears of its own join under the lock, so before any message that
            // a later fan-out (whose snapshot includes it) could bring it, and before the
            // replies its face queues next. Delivery only queues; it never blocks or calls
            // back into the hub.
            let is_overflowed = entry.sink.deliver(&event).is_err();
            if replay > 0
                && let Some(journal) = &self.inner.journal
            {
                let item = Item::Replay {
                    recipient: (session, Arc::clone(&entry.sink)),
                    target: MessageTarget::Room(room_name.clone()),
                    target_key: room_key(&room_name),
                    query: HistoryQuery::Before(self.replay_bound()),
                    limit: replay,
                    context: None,
                };
                if journal.queue.try_send(item).is_err() {
                    debug!(%session, "journal full: no replay on join");
                }
            }
            let slot = rooms.get_mut(room.key()).expect("room inserted above");
            let members = room_members(sessions, slot);
            let topic = slot.topic.clone();
            let recipients = room_snapshot(sessions, slot);
            drop(state);
            if is_overflowed {
                self.remove(session, LeaveReason::SendQueueExceeded);
                return Err(Refusal::SessionClosed);
            }
            (
                event,
                JoinOutcome {
                    room: room_name,
                    topic,
                    members,
                    is_new,
                },
                recipients,
            )
        };
        debug!(session_id = %session, room = %outcome.room, "joined room");
        self.fan_out(session, &recipients, &event, Some(session));
        Ok(outcome)
    }

    /// Takes the session out of `room`; the remaining members and the leaver get
    /// [`EventKind::Left`]. An emptied room is deleted.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub fn part(
        &self,
        session: SessionId,
        room: &RoomName,
        message: Option<MessageText>,
    ) -> Result<(), Refusal> {
        let (recipients, event) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let profile = actor(sessions, session)?;
            let (slot, _) = member_of(rooms, room, session)?;
            // Recipients include the leaver, taken before it is removed.
            let recipients = room_snapshot(sessions, slot);
            let event = EventKind::Left {
                room: slot.name.clone(),
                who: profile,
                reason: LeaveReason::Requested(message),
            };
            remove_member(sessions, rooms, session, room);
            (recipients, event)
        };
        debug!(session_id = %session, room = %room, "left room");
        self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        Ok(())
    }

    /// Removes `target` from `room` on an operator's order; every member, the target too,
    /// gets [`EventKind::Kicked`].
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotOperator`],
    /// [`Refusal::TargetNotInRoom`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn kick(
        &self,
        session: SessionId,
        room: &RoomName,
        target: &Nick,
        reason: Option<MessageText>,
    ) -> Result<(), Refusal> {
        let (recipients, event) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
                ..
            } = &mut *state;
            let by = actor(sessions, session)?;
            let slot = operator_of(rooms, room, session)?;
            let target_id = nicks
                .get(target.key())
                .copied()
                .filter(|id| slot.members.contains_key(id))
                .ok_or_else(|| Refusal::TargetNotInRoom {
                    nick: target.clone(),
                    room: slot.name.clone(),
                })?;
            let target_nick = sessions
                .get(&target_id)
                .and_then(|e| e.nick().cloned())
                .unwrap_or_else(|| target.clone());
            let recipients = room_snapshot(sessions, slot);
            let event = EventKind::Kicked {
                room: slot.name.clone(),
                by,
                target: target_nick,
                reason,
            };
            remove_member(sessions, rooms, target_id, room);
            (recipients, event)
        };
        debug!(session_id = %session, room = %room, "kicked member");
        self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        Ok(())
    }

    /// Invites `target` to `room`: they may then join past `+i`, `+k`, `+l` and bans once.
    /// The target and the room's operators get [`EventKind::Invited`].
    ///
    /// # Errors
    /// [`Refusal::NoSuchNick`], [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`],
    /// [`Refusal::NotOperator`] (in a `+i` room), [`Refusal::TargetAlreadyInRoom`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn invite(
        &self,
        session: SessionId,
        target: &Nick,
        room: &RoomName,
    ) -> Result<Invitation, Refusal> {
        let (recipients, event, invitation) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
                ..
            } = &mut *state;
            let by = actor(sessions, session)?;
            let target_id = *nicks
                .get(target.key())
                .ok_or_else(|| Refusal::NoSuchNick(target.clone()))?;
            let (slot, status) = member_of(rooms, room, session)?;
            if slot.modes.is_invite_only && !status.is_operator {
                return Err(Refusal::NotOperator(slot.name.clone()));
            }
            let target_entry = sessions.get(&target_id).ok_or(Refusal::SessionClosed)?;
            let target_nick = target_entry
                .nick()
                .cloned()
                .unwrap_or_else(|| target.clone());
            if slot.members.contains_key(&target_id) {
                return Err(Refusal::TargetAlreadyInRoom {
                    nick: target_nick,
                    room: slot.name.clone(),
                });
            }
            slot.invited.insert(target_id);
            let mut recipients = vec![(target_id, Arc::clone(&target_entry.sink))];
            for (id, status) in &slot.members {
                if status.is_operator
                    && *id != session
                    && let Some(op) = sessions.get(id)
                {
                    recipients.push((*id, Arc::clone(&op.sink)));
                }
            }
            let invitation = Invitation {
                room: slot.name.clone(),
                target: target_nick.clone(),
                away: target_entry.away.clone(),
            };
            let event = EventKind::Invited {
                room: slot.name.clone(),
                by,
                target: target_nick,
                session: target_id,
            };
            (recipients, event, invitation)
        };
        self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        Ok(invitation)
    }
}

/// Takes `session` out of `room` in the state (no events); deletes an emptied room.
fn remove_member(
    sessions: &mut super::Sessions,
    rooms: &mut std::collections::HashMap<Arc<str>, Room>,
    session: SessionId,
    room: &RoomName,
) {
    if let Some(slot) = rooms.get_mut(room.key()) {
        slot.members.remove(&session);
        slot.snapshot = None;
        if slot.members.is_empty() {
            rooms.remove(room.key());
        }
    }
    if let Some(entry) = sessions.get_mut(&session) {
        entry.rooms.retain(|r| r != room);
    }
}
