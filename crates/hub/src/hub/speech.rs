//! Messages, topics, away and real names.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{
    EventKind, HubEvent, MessageId, MessageKind, MessageTarget, MessageText, Nick, Profile,
    RoomName, SessionId,
};

use super::{Hub, Recipients, State, Topic, actor, co_members, member_of, room_snapshot};
use crate::error::{CannotSend, Refusal};
use crate::history::Item;
use crate::sink::EventSink;

/// Where a message is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayTarget {
    /// To every other member of a room.
    Room(RoomName),
    /// To one user, by nick.
    Nick(Nick),
}

/// Where a message goes and who hears it.
struct Route {
    from: Arc<Profile>,
    /// The sender's own sink (the history writer tells it if the message cannot be stored).
    sender: Arc<dyn EventSink>,
    recipients: Recipients,
    target: MessageTarget,
    away: Option<MessageText>,
}

/// What [`Hub::say`] did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The message's id.
    pub id: MessageId,
    /// When the hub accepted it.
    pub time: SystemTime,
    /// Where it went, as the hub spells it.
    pub target: MessageTarget,
    /// For a direct message: the recipient's away message, if away.
    pub away: Option<MessageText>,
    /// The sender as the recipients saw them (for the sender's own copy).
    pub from: Arc<Profile>,
    /// The message event itself (for [`Hub::echo`]).
    pub event: Arc<HubEvent>,
}

impl Hub {
    /// Sends a message to a room (every other member) or to one user, with optional
    /// client-only tags (passed through to faces that carry them).
    ///
    /// In a room: `+n` keeps out non-members, `+m` silences members without voice, and a
    /// ban silences a matching member without voice.
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`], [`Refusal::NotRegistered`], [`Refusal::NoSuchRoom`],
    /// [`Refusal::CannotSend`], [`Refusal::NoSuchNick`], [`Refusal::SessionClosed`].
    pub fn say(
        &self,
        session: SessionId,
        target: SayTarget,
        kind: MessageKind,
        text: MessageText,
        client_tags: Option<Arc<str>>,
    ) -> Result<Sent, Refusal> {
        let max_bytes = self.inner.config.max_message_bytes;
        if text.as_str().len() > max_bytes {
            return Err(Refusal::MessageTooLong { max_bytes });
        }
        let mut state = self.lock();
        let route = Self::route(&mut state, session, target)?;
        let now = SystemTime::now();
        let id = self.next_message_id(now);
        let event = Arc::new(HubEvent::at(
            EventKind::Message {
                id,
                from: Arc::clone(&route.from),
                target: route.target.clone(),
                kind,
                text,
                client_tags,
            },
            now,
        ));
        if let Some(journal) = &self.inner.journal {
            // Queued under the lock, so the journal's order is the order the hub accepted
            // messages in; the writer delivers them once stored.
            let sender = (session, Arc::clone(&route.sender));
            journal
                .queue
                .try_send(Item::Message {
                    event: Arc::clone(&event),
                    recipients: route.recipients,
                    sender,
                })
                .map_err(|_| Refusal::Busy)?;
            drop(state);
        } else {
            drop(state);
            self.fan_out(session, &route.recipients, &event, Some(session));
        }
        Ok(Sent {
            id,
            time: now,
            target: route.target,
            away: route.away,
            from: route.from,
            event,
        })
    }

    /// Sends the sender its own copy of `message` (from [`Sent::event`]) as
    /// [`EventKind::Echo`]: with history on, after the message is stored (and not at all if
    /// it could not be), in order with everything else it gets.
    pub fn echo(&self, session: SessionId, message: Arc<HubEvent>, label: Option<Arc<str>>) {
        let Some(sink) = self
            .lock()
            .sessions
            .get(&session)
            .map(|entry| Arc::clone(&entry.sink))
        else {
            return;
        };
        let event = Arc::new(HubEvent::new(EventKind::Echo { message, label }));
        let own = [(session, sink)];
        if let Some(journal) = &self.inner.journal {
            let item = Item::Deliver {
                event: Arc::clone(&event),
                recipients: Arc::from(own.clone()),
                skip: None,
            };
            if journal.queue.try_send(item).is_ok() {
                return;
            }
        }
        self.deliver_now(&own, &event, None);
    }

    /// Sends client-only tags without a message (IRC `TAGMSG`), routed and checked like
    /// [`Hub::say`].
    ///
    /// # Errors
    /// As [`Hub::say`].
    pub fn send_tags(
        &self,
        session: SessionId,
        target: SayTarget,
        client_tags: Arc<str>,
    ) -> Result<Sent, Refusal> {
        let route = Self::route(&mut self.lock(), session, target)?;
        let now = SystemTime::now();
        let id = self.next_message_id(now);
        let event = Arc::new(HubEvent::at(
            EventKind::Tags {
                id,
                from: Arc::clone(&route.from),
                target: route.target.clone(),
                client_tags,
            },
            now,
        ));
        self.fan_out(session, &route.recipients, &event, Some(session));
        Ok(Sent {
            id,
            time: event.time,
            target: route.target,
            away: None,
            from: route.from,
            event,
        })
    }

    /// Who a message from `session` to `target` reaches, if the room's rules allow it.
    fn route(state: &mut State, session: SessionId, target: SayTarget) -> Result<Route, Refusal> {
        let State {
            sessions,
            nicks,
            rooms,
            ..
        } = state;
        let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
        let from = entry.profile()?;
        let sender = Arc::clone(&entry.sink);
        entry.last_active = SystemTime::now();
        match target {
            SayTarget::Room(room) => {
                let Some(slot) = rooms.get_mut(room.key()) else {
                    return Err(Refusal::NoSuchRoom(room));
                };
                let cannot = |reason| Refusal::CannotSend {
                    room: slot.name.clone(),
                    reason,
                };
                match slot.members.get(&session) {
                    None if slot.modes.is_no_external => {
                        return Err(cannot(CannotSend::NotMember));
                    }
                    Some(status) if !status.is_operator && !status.is_voiced => {
                        if slot.modes.is_moderated {
                            return Err(cannot(CannotSend::Moderated));
                        }
                        if slot.is_banned(&from) {
                            return Err(cannot(CannotSend::Banned));
                        }
                    }
                    None if slot.is_banned(&from) => {
                        return Err(cannot(CannotSend::Banned));
                    }
                    _ => {}
                }
                let recipients = room_snapshot(sessions, slot);
                let target = MessageTarget::Room(slot.name.clone());
                Ok(Route {
                    from,
                    sender,
                    recipients,
                    target,
                    away: None,
                })
            }
            SayTarget::Nick(nick) => {
                let Some((to_id, to)) = nicks
                    .get(nick.key())
                    .and_then(|id| sessions.get(id).map(|e| (*id, e)))
                else {
                    return Err(Refusal::NoSuchNick(nick));
                };
                let to_nick = to.nick().cloned().unwrap_or(nick);
                let recipients: Recipients = Arc::from([(to_id, Arc::clone(&to.sink))]);
                Ok(Route {
                    from,
                    sender,
                    recipients,
                    target: MessageTarget::Direct(to_nick),
                    away: to.away.clone(),
                })
            }
        }
    }

    /// Sets (or with `None` clears) the topic of `room`; every member gets
    /// [`EventKind::TopicChanged`]. Under `+t` only operators may.
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`], [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`],
    /// [`Refusal::NotOperator`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn set_topic(
        &self,
        session: SessionId,
        room: &RoomName,
        topic: Option<MessageText>,
    ) -> Result<(), Refusal> {
        let max_bytes = self.inner.config.max_topic_bytes;
        if topic.as_ref().is_some_and(|t| t.as_str().len() > max_bytes) {
            return Err(Refusal::MessageTooLong { max_bytes });
        }
        let (recipients, event) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let by = actor(sessions, session)?;
            let (slot, status) = member_of(rooms, room, session)?;
            if slot.modes.is_topic_locked && !status.is_operator {
                return Err(Refusal::NotOperator(slot.name.clone()));
            }
            slot.topic = topic.clone().map(|text| Topic {
                text,
                set_by: by.mask().into(),
                set_at: SystemTime::now(),
            });
            let event = EventKind::TopicChanged {
                room: slot.name.clone(),
                by,
                topic,
            };
            (room_snapshot(sessions, slot), event)
        };
        self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        Ok(())
    }

    /// Marks the session away with a message, or back with `None`; sessions sharing a room
    /// get [`EventKind::AwayChanged`].
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn set_away(&self, session: SessionId, away: Option<MessageText>) -> Result<(), Refusal> {
        let max_bytes = self.inner.config.max_topic_bytes;
        if away.as_ref().is_some_and(|t| t.as_str().len() > max_bytes) {
            return Err(Refusal::MessageTooLong { max_bytes });
        }
        let (recipients, event) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
            let who = entry.profile()?;
            entry.away = away.clone();
            (
                co_members(sessions, rooms, session),
                EventKind::AwayChanged { who, away },
            )
        };
        self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        Ok(())
    }

    /// Changes the real name; sessions sharing a room, and the session itself, get
    /// [`EventKind::RealnameChanged`].
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn set_realname(&self, session: SessionId, realname: &str) -> Result<(), Refusal> {
        let max_bytes = self.inner.config.max_realname_bytes;
        if realname.len() > max_bytes {
            return Err(Refusal::MessageTooLong { max_bytes });
        }
        let (recipients, event) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
            entry.edit(|_, identity| identity.realname = realname.into());
            let who = entry.profile()?;
            let own = Arc::clone(&entry.sink);
            let mut recipients = co_members(sessions, rooms, session);
            recipients.push((session, own));
            (recipients, EventKind::RealnameChanged { who })
        };
        self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        Ok(())
    }
}
