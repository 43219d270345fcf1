//! Messages, topics, away and real names.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{
    EventKind, HubEvent, MessageId, MessageKind, MessageTarget, MessageText, Nick, Profile,
    RoomName, SessionId,
};

use super::{Hub, Resolved};
use crate::error::Refusal;
use crate::history::Item;

/// Where a message is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayTarget {
    /// To every other member of a room.
    Room(RoomName),
    /// To one user, by nick.
    Nick(Nick),
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

impl Sent {
    /// What the message event says of itself.
    fn of(effect: &Resolved, id: MessageId, away: Option<MessageText>) -> Option<Self> {
        let (from, target) = match &effect.event.kind {
            EventKind::Message { from, target, .. } | EventKind::Tags { from, target, .. } => {
                (Arc::clone(from), target.clone())
            }
            _ => return None,
        };
        Some(Self {
            id,
            time: effect.event.time,
            target,
            away,
            from,
            event: Arc::clone(&effect.event),
        })
    }
}

impl Hub {
    /// Sends a message to a room (every other member) or to one user, with optional
    /// client-only tags (passed through to faces that carry them). With history on it is
    /// stored before anyone receives it, and the sender's later replies wait for that.
    ///
    /// In a room: `+n` keeps out non-members, `+m` silences members without voice, and a
    /// ban silences a matching member without voice.
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`], [`Refusal::NotRegistered`], [`Refusal::NoSuchRoom`],
    /// [`Refusal::CannotSend`], [`Refusal::NoSuchNick`], [`Refusal::Busy`] (too many
    /// messages waiting to be stored), [`Refusal::SessionClosed`].
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
        if let SayTarget::Nick(to) = &target {
            let max = self.inner.config.max_direct_targets_per_minute;
            if !self.inner.recent_targets.admit(session, to.key(), max) {
                return Err(Refusal::TargetsTooFast {
                    target: to.clone(),
                    max,
                });
            }
        }
        let (sent, now) = {
            let mut core = self.lock();
            // A place on the journal first: a message the server cannot take now changes
            // nothing. Queued under the lock, so the journal's order is the order the hub
            // accepted messages in; the writer delivers them once stored.
            let permit = self.reserve_store()?;
            let at = SystemTime::now();
            let id = self.next_message_id(at);
            let route = core
                .state
                .decide_say(session, target, kind, text, client_tags, id, at)?;
            let own = Self::fence_of(&core, session).ok_or(Refusal::SessionClosed)?;
            let effect = self
                .commit(&mut core, &route.change)
                .pop()
                .ok_or(Refusal::SessionClosed)?;
            let sent = Sent::of(&effect, id, route.away).ok_or(Refusal::SessionClosed)?;
            match permit {
                Some(permit) => {
                    Self::queue_stored(permit, effect, own);
                    self.publish_message(&mut core, &route.change);
                    (sent, None)
                }
                None => (sent, Some(effect)),
            }
        };
        self.metrics().messages_in.increment(1);
        if let Some(effect) = now {
            self.deliver(std::slice::from_ref(&effect));
        }
        Ok(sent)
    }

    /// Sends the sender its own copy of `message` (from [`Sent::event`]) as
    /// [`EventKind::Echo`]: with history on, after the message is stored (and not at all if
    /// it could not be), in order with everything else it gets.
    pub fn echo(&self, session: SessionId, message: Arc<HubEvent>, label: Option<Arc<str>>) {
        let Some(own) = Self::fence_of(&self.lock(), session) else {
            return;
        };
        let event = Arc::new(HubEvent::new(EventKind::Echo { message, label }));
        // With history, after the message in the journal: once it is stored, and in place
        // among the sender's replies.
        if let Some(journal) = &self.inner.journal {
            let item = Item::Deliver {
                event: Arc::clone(&event),
                recipients: Arc::from([own.clone()]),
                skip: None,
            };
            if journal.push(item, Some(own.clone())) {
                return;
            }
        }
        if own.1.deliver_own(&event, None).is_err() {
            self.metrics().sendq_evictions.increment(1);
            self.remove(session, teahouse_types::LeaveReason::SendQueueExceeded);
        }
    }

    /// Sends client-only tags without a message (IRC `TAGMSG`), routed and checked like
    /// [`Hub::say`]. Reactions (`+draft/react`, `+draft/unreact`) are stored like messages, with
    /// history on, before anyone receives them, so a reloaded conversation has them;
    /// anything else (typing notifications) is not stored.
    ///
    /// # Errors
    /// As [`Hub::say`].
    pub fn send_tags(
        &self,
        session: SessionId,
        target: SayTarget,
        client_tags: Arc<str>,
    ) -> Result<Sent, Refusal> {
        let is_kept = is_kept_in_history(&client_tags);
        let (sent, now) = {
            let mut core = self.lock();
            let permit = if is_kept { self.reserve_store()? } else { None };
            let at = SystemTime::now();
            let id = self.next_message_id(at);
            let change = core
                .state
                .decide_tags(session, target, client_tags, id, at)?;
            let fence = Self::fence_of(&core, session);
            let mut effects = self.commit(&mut core, &change);
            let sent = effects
                .first()
                .and_then(|effect| Sent::of(effect, id, None))
                .ok_or(Refusal::SessionClosed)?;
            match (permit, fence) {
                (Some(permit), Some(own)) => {
                    let effect = effects.pop().ok_or(Refusal::SessionClosed)?;
                    // Sent to oneself: that copy is the command's reply, in place now (the
                    // journal's delivery leaves a sender's own messages out, and TAGMSG has
                    // no stored echo as a message has).
                    if effect.reaches(own.0) {
                        let _ = own.1.deliver_own(&effect.event, None);
                    }
                    Self::queue_stored(permit, effect, own);
                    self.publish_message(&mut core, &change);
                    (sent, Vec::new())
                }
                (_, fence) => {
                    // Not stored (typing and the like): sent on in order all the same.
                    self.publish_message(&mut core, &change);
                    (sent, self.route(fence.as_ref(), effects))
                }
            }
        };
        self.deliver(&now);
        Ok(sent)
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
        self.execute(session, |state| {
            let change = state.decide_topic(session, room, topic, SystemTime::now())?;
            Ok((Some(change), ()))
        })
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
        self.execute(session, |state| {
            Ok((
                Some(state.decide_away(session, away, SystemTime::now())?),
                (),
            ))
        })
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
        self.execute(session, |state| {
            let change = state.decide_realname(session, realname.into(), SystemTime::now())?;
            Ok((Some(change), ()))
        })
    }
}

/// Whether client-only tags sent without a message are part of the conversation, to be
/// stored and replayed: a reaction (`+draft/react`) or its withdrawal (`+draft/unreact`).
/// Typing notifications and other tags are of the moment.
pub(crate) fn is_kept_in_history(client_tags: &str) -> bool {
    client_tags.split(';').any(|tag| {
        let key = tag.split_once('=').map_or(tag, |(key, _)| key);
        key == "+draft/react" || key == "+draft/unreact"
    })
}

#[cfg(test)]
mod tests {
    use super::is_kept_in_history;

    #[test]
    fn reactions_are_kept_and_typing_is_not() {
        assert!(is_kept_in_history("+draft/react=\u{1f44d};+draft/reply=1"));
        assert!(is_kept_in_history("+draft/reply=1;+draft/unreact=x"));
        assert!(!is_kept_in_history("+typing=active"));
        assert!(!is_kept_in_history("+draft/reactions=1;+draft/reply=1"));
        assert!(!is_kept_in_history(""));
    }
}
