//! The hub: sessions, nicks, rooms, and fan-out.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use teahouse_types::{
    EventKind, HubEvent, LeaveReason, MessageId, MessageKind, MessageTarget, MessageText, Nick,
    RoomName, SessionId,
};
use tracing::{debug, info};

use crate::error::Refusal;
use crate::sink::EventSink;

/// Hub settings; plain values, filled by the server from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The longest message body accepted, in bytes of UTF-8. The text protocol's line limit
    /// bounds it anyway; this keeps every face (and stored history, later) to one limit.
    pub max_message_bytes: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4096,
        }
    }
}

/// Where a message is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayTarget {
    /// To every other member of a room the sender is in.
    Room(RoomName),
    /// To one user, by nick.
    Nick(Nick),
}

/// What [`Hub::set_nick`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NickOutcome {
    /// The session had no nick and now has one.
    Registered(Nick),
    /// The session's nick changed from `old`; sessions sharing a room were told.
    Changed {
        /// The nick before.
        old: Nick,
        /// The nick now.
        new: Nick,
    },
    /// The session already had exactly this nick.
    Unchanged(Nick),
}

/// What [`Hub::join`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The room, as it is spelled by whoever created it.
    pub room: RoomName,
    /// Its members after the join, the newcomer included, sorted by nick key.
    pub members: Vec<Nick>,
}

/// What [`Hub::say`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message's id.
    pub id: MessageId,
    /// When the hub accepted it.
    pub time: SystemTime,
    /// Who it was delivered to, by nick: the target nick for a direct message.
    pub target: MessageTarget,
}

/// One room, as listed by [`Hub::rooms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    /// The room's name.
    pub name: RoomName,
    /// How many members it has.
    pub members: usize,
}

/// A cheap-to-clone handle on the chat state.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: HubConfig,
    next_session: AtomicU64,
    next_message: AtomicU64,
    /// Short critical sections only, never held across fan-out or an `.await`.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, SessionEntry>,
    /// Casefolded nick key to its session.
    nicks: HashMap<Arc<str>, SessionId>,
    /// Casefolded room key to the room.
    rooms: HashMap<Arc<str>, Room>,
}

struct SessionEntry {
    nick: Option<Nick>,
    /// Rooms this session is in (a handful at most for a person; no order needed).
    rooms: Vec<RoomName>,
    sink: Arc<dyn EventSink>,
}

/// The recipients of one fan-out, copied out so the state lock can be released.
type Recipients = Arc<[(SessionId, Arc<dyn EventSink>)]>;

struct Room {
    name: RoomName,
    members: HashSet<SessionId>,
    /// The members' sinks, rebuilt after a membership change by the next fan-out, so a busy
    /// room pays one copy per change rather than one per message.
    snapshot: Option<Recipients>,
}

/// One attached session; dropping it removes the session from the hub (as a lost connection)
/// if it was not removed already, so nothing is left behind whatever ends the session.
pub struct SessionGuard {
    hub: Hub,
    id: SessionId,
}

impl SessionGuard {
    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The hub this session is attached to.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Removes the session now, telling everyone who shares a room why.
    pub fn quit(self, reason: LeaveReason) {
        self.hub.remove(self.id, reason);
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.hub.remove(self.id, LeaveReason::ConnectionLost);
    }
}

impl Hub {
    /// An empty hub.
    pub fn new(config: HubConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                next_session: AtomicU64::new(1),
                next_message: AtomicU64::new(1),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Attaches a new session, without a nick and in no room; events for it go to `sink`.
    pub fn attach(&self, sink: Arc<dyn EventSink>) -> SessionGuard {
        let id = SessionId::from_raw(self.inner.next_session.fetch_add(1, Ordering::Relaxed));
        self.lock().sessions.insert(
            id,
            SessionEntry {
                nick: None,
                rooms: Vec::new(),
                sink,
            },
        );
        SessionGuard {
            hub: self.clone(),
            id,
        }
    }

    /// Gives the session a nick (its first, or a new one).
    ///
    /// A rename is announced with [`EventKind::NickChanged`] to the session itself and to every
    /// session sharing a room with it.
    ///
    /// # Errors
    /// [`Refusal::NickInUse`] if another session has a nick with the same key;
    /// [`Refusal::SessionClosed`] if the session is gone.
    pub fn set_nick(&self, session: SessionId, nick: Nick) -> Result<NickOutcome, Refusal> {
        let (outcome, recipients) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
                ..
            } = &mut *state;
            let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
            if let Some(&holder) = nicks.get(nick.key())
                && holder != session
            {
                return Err(Refusal::NickInUse(nick));
            }
            let old = entry.nick.replace(nick.clone());
            match old {
                None => {
                    nicks.insert(nick.key().into(), session);
                    (NickOutcome::Registered(nick), None)
                }
                Some(old) if old.as_str() == nick.as_str() => (NickOutcome::Unchanged(nick), None),
                Some(old) => {
                    nicks.remove(old.key());
                    nicks.insert(nick.key().into(), session);
                    let mut recipients = co_members(sessions, rooms, session);
                    recipients.push((session, Arc::clone(&entry_sink(sessions, session))));
                    (
                        NickOutcome::Changed {
                            old,
                            new: nick.clone(),
                        },
                        Some(recipients),
                    )
                }
            }
        };
        if let (NickOutcome::Changed { old, new }, Some(recipients)) = (&outcome, recipients) {
            debug!(session_id = %session, old = %old, new = %new, "nick changed");
            let event = Arc::new(HubEvent::new(EventKind::NickChanged {
                old: old.clone(),
                new: new.clone(),
            }));
            self.fan_out(&recipients, &event, None);
        }
        Ok(outcome)
    }

    /// Makes the session a member of `room`, creating the room if it does not exist.
    ///
    /// Every member, the newcomer first, gets [`EventKind::Joined`].
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`] without a nick, [`Refusal::AlreadyInRoom`],
    /// [`Refusal::SessionClosed`].
    pub fn join(&self, session: SessionId, room: RoomName) -> Result<JoinOutcome, Refusal> {
        let (event, outcome, recipients) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
            let nick = entry.nick.clone().ok_or(Refusal::NotRegistered)?;
            let slot = rooms.entry(room.key().into()).or_insert_with(|| Room {
                name: room.clone(),
                members: HashSet::new(),
                snapshot: None,
            });
            if !slot.members.insert(session) {
                return Err(Refusal::AlreadyInRoom(slot.name.clone()));
            }
            slot.snapshot = None;
            entry.rooms.push(slot.name.clone());
            let room_name = slot.name.clone();
            let event = Arc::new(HubEvent::new(EventKind::Joined {
                room: room_name.clone(),
                nick,
                session,
            }));
            // The newcomer hears of its own join under the lock, so before any message that
            // a later fan-out (whose snapshot includes it) could bring it. Delivery only
            // queues; it never blocks or calls back into the hub.
            let overflowed = entry.sink.deliver(&event).is_err();
            let members = member_nicks(sessions, &rooms[room.key()]);
            let recipients = room_recipients(sessions, rooms, room.key());
            drop(state);
            if overflowed {
                self.remove(session, LeaveReason::SendQueueExceeded);
                return Err(Refusal::SessionClosed);
            }
            (
                event,
                JoinOutcome {
                    room: room_name,
                    members,
                },
                recipients,
            )
        };
        debug!(session_id = %session, room = %outcome.room, "joined room");
        self.fan_out(&recipients, &event, Some(session));
        Ok(outcome)
    }

    /// Takes the session out of `room`; the remaining members and the leaver get
    /// [`EventKind::Left`]. An emptied room is deleted.
    ///
    /// # Errors
    /// [`Refusal::NotInRoom`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn part(
        &self,
        session: SessionId,
        room: &RoomName,
        message: Option<MessageText>,
    ) -> Result<(), Refusal> {
        let (recipients, nick, room_name) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let entry = sessions.get(&session).ok_or(Refusal::SessionClosed)?;
            let nick = entry.nick.clone().ok_or(Refusal::NotRegistered)?;
            let Some(slot) = rooms.get_mut(room.key()) else {
                return Err(Refusal::NotInRoom(room.clone()));
            };
            if !slot.members.contains(&session) {
                return Err(Refusal::NotInRoom(slot.name.clone()));
            }
            // Recipients include the leaver, taken before it is removed.
            let recipients = room_snapshot(sessions, slot);
            slot.members.remove(&session);
            slot.snapshot = None;
            let room_name = slot.name.clone();
            if slot.members.is_empty() {
                rooms.remove(room.key());
            }
            if let Some(entry) = sessions.get_mut(&session) {
                entry.rooms.retain(|r| r != room);
            }
            (recipients, nick, room_name)
        };
        debug!(session_id = %session, room = %room_name, "left room");
        let event = Arc::new(HubEvent::new(EventKind::Left {
            room: room_name,
            nick,
            reason: LeaveReason::Requested(message),
        }));
        self.fan_out(&recipients, &event, None);
        Ok(())
    }

    /// Sends a message to a room (every other member) or to one user.
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`], [`Refusal::NotRegistered`], [`Refusal::NoSuchRoom`],
    /// [`Refusal::NotInRoom`] (a room's members only may speak in it), [`Refusal::NoSuchNick`],
    /// [`Refusal::SessionClosed`].
    pub fn say(
        &self,
        session: SessionId,
        target: SayTarget,
        kind: MessageKind,
        text: MessageText,
    ) -> Result<Sent, Refusal> {
        let max_bytes = self.inner.config.max_message_bytes;
        if text.as_str().len() > max_bytes {
            return Err(Refusal::MessageTooLong { max_bytes });
        }
        let (from, recipients, target) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
            } = &mut *state;
            let entry = sessions.get(&session).ok_or(Refusal::SessionClosed)?;
            let from = entry.nick.clone().ok_or(Refusal::NotRegistered)?;
            match target {
                SayTarget::Room(room) => {
                    let Some(slot) = rooms.get_mut(room.key()) else {
                        return Err(Refusal::NoSuchRoom(room));
                    };
                    if !slot.members.contains(&session) {
                        return Err(Refusal::NotInRoom(slot.name.clone()));
                    }
                    let recipients = room_snapshot(sessions, slot);
                    (from, recipients, MessageTarget::Room(slot.name.clone()))
                }
                SayTarget::Nick(nick) => {
                    let Some(to) = nicks.get(nick.key()).and_then(|id| sessions.get(id)) else {
                        return Err(Refusal::NoSuchNick(nick));
                    };
                    let to_nick = to
                        .nick
                        .clone()
                        .expect("a session in the nick registry has a nick");
                    let to_id = nicks[nick.key()];
                    let recipients: Recipients = Arc::from([(to_id, Arc::clone(&to.sink))]);
                    (from, recipients, MessageTarget::Direct(to_nick))
                }
            }
        };
        let id = MessageId::from_raw(self.inner.next_message.fetch_add(1, Ordering::Relaxed));
        let time = SystemTime::now();
        let event = Arc::new(HubEvent::new(EventKind::Message {
            id,
            time,
            from,
            target: target.clone(),
            kind,
            text,
        }));
        self.fan_out(&recipients, &event, Some(session));
        Ok(Sent { id, time, target })
    }

    /// The members of a room, sorted by nick key.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`].
    pub fn members(&self, room: &RoomName) -> Result<Vec<Nick>, Refusal> {
        let state = self.lock();
        let slot = state
            .rooms
            .get(room.key())
            .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
        Ok(member_nicks(&state.sessions, slot))
    }

    /// Every room with its member count, sorted by name key.
    pub fn rooms(&self) -> Vec<RoomSummary> {
        let state = self.lock();
        let mut list: Vec<RoomSummary> = state
            .rooms
            .values()
            .map(|room| RoomSummary {
                name: room.name.clone(),
                members: room.members.len(),
            })
            .collect();
        list.sort_by(|a, b| a.name.key().cmp(b.name.key()));
        list
    }

    /// The nick of a session, if it has one.
    pub fn nick_of(&self, session: SessionId) -> Option<Nick> {
        self.lock().sessions.get(&session)?.nick.clone()
    }

    /// How many sessions are attached.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Removes a session: from its rooms, the nick registry and the hub. Every session that
    /// shared a room gets one [`EventKind::Quit`] with `reason`. Removing a session that is
    /// already gone does nothing.
    fn remove(&self, session: SessionId, reason: LeaveReason) {
        let (recipients, nick) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
            } = &mut *state;
            let Some(entry) = sessions.remove(&session) else {
                return;
            };
            let Some(nick) = entry.nick else {
                return;
            };
            nicks.remove(nick.key());
            let mut recipients = Vec::new();
            let mut seen = HashSet::new();
            for room in &entry.rooms {
                let Some(slot) = rooms.get_mut(room.key()) else {
                    continue;
                };
                slot.members.remove(&session);
                slot.snapshot = None;
                for member in &slot.members {
                    if seen.insert(*member)
                        && let Some(other) = sessions.get(member)
                    {
                        recipients.push((*member, Arc::clone(&other.sink)));
                    }
                }
                if slot.members.is_empty() {
                    rooms.remove(room.key());
                }
            }
            (recipients, nick)
        };
        info!(session_id = %session, nick = %nick, reason = ?reason, "session left");
        if reason == LeaveReason::ServerShutdown {
            // Everyone is leaving at once and has been told why; nobody needs to hear of
            // each of the others.
            return;
        }
        let event = Arc::new(HubEvent::new(EventKind::Quit { nick, reason }));
        self.fan_out(&recipients, &event, None);
    }

    /// Hands `event` to every recipient but `skip`, with no lock held; sessions whose queue
    /// overflowed are removed afterwards.
    fn fan_out(
        &self,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        event: &Arc<HubEvent>,
        skip: Option<SessionId>,
    ) {
        let mut overflowed = Vec::new();
        for (id, sink) in recipients {
            if Some(*id) == skip {
                continue;
            }
            if sink.deliver(event).is_err() {
                overflowed.push(*id);
            }
        }
        for id in overflowed {
            info!(session_id = %id, "send queue exceeded");
            self.remove(id, LeaveReason::SendQueueExceeded);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything that could
        // panic, so a poisoned lock still guards valid state.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

fn entry_sink(sessions: &HashMap<SessionId, SessionEntry>, id: SessionId) -> Arc<dyn EventSink> {
    Arc::clone(&sessions[&id].sink)
}

/// The sinks of every session sharing at least one room with `session`, each once.
fn co_members(
    sessions: &HashMap<SessionId, SessionEntry>,
    rooms: &HashMap<Arc<str>, Room>,
    session: SessionId,
) -> Vec<(SessionId, Arc<dyn EventSink>)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for room in &sessions[&session].rooms {
        let Some(slot) = rooms.get(room.key()) else {
            continue;
        };
        for member in &slot.members {
            if *member != session
                && seen.insert(*member)
                && let Some(other) = sessions.get(member)
            {
                out.push((*member, Arc::clone(&other.sink)));
            }
        }
    }
    out
}

fn room_recipients(
    sessions: &HashMap<SessionId, SessionEntry>,
    rooms: &mut HashMap<Arc<str>, Room>,
    key: &str,
) -> Recipients {
    let slot = rooms.get_mut(key).expect("caller checked the room exists");
    room_snapshot(sessions, slot)
}

/// The room's recipient list, rebuilt if membership changed since the last fan-out.
fn room_snapshot(sessions: &HashMap<SessionId, SessionEntry>, room: &mut Room) -> Recipients {
    if let Some(snapshot) = &room.snapshot {
        return Arc::clone(snapshot);
    }
    let snapshot: Recipients = room
        .members
        .iter()
        .filter_map(|id| sessions.get(id).map(|s| (*id, Arc::clone(&s.sink))))
        .collect();
    room.snapshot = Some(Arc::clone(&snapshot));
    snapshot
}

fn member_nicks(sessions: &HashMap<SessionId, SessionEntry>, room: &Room) -> Vec<Nick> {
    let mut nicks: Vec<Nick> = room
        .members
        .iter()
        .filter_map(|id| sessions.get(id)?.nick.clone())
        .collect();
    nicks.sort_by(|a, b| a.key().cmp(b.key()));
    nicks
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
