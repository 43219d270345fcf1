//! Delivering what a change made: through the journal, in order, when history is on;
//! straight to the sinks when it is off.
//!
//! With history on, a room or direct message reaches anyone only once it is stored, so it
//! waits in the journal; everything else a session's command causes (a join, a part, a
//! rename) goes through the journal too, behind it, so that everyone gets a session's
//! doings in the order it did them. And a command's effects come before the reply to the
//! session's next command: each journal item [`EventSink::hold`]s its session's later
//! replies until it has been delivered everywhere ([`EventSink::release`]).

use std::sync::Arc;

use teahouse_types::{EventKind, EventSink, HubEvent, LeaveReason, ReplyPlace, SessionId};
use tracing::{debug, info};

use super::{Core, Hub, Recipient, Recipients};
use crate::error::Refusal;
use crate::history::{Fence, Item, Queued};

/// An event and this node's sinks that get it.
#[derive(Clone)]
pub(crate) struct Resolved {
    /// The event.
    pub(crate) event: Arc<HubEvent>,
    /// Its recipients here.
    pub(crate) recipients: Recipients,
    /// A recipient left out (a message's sender).
    pub(crate) skip: Option<SessionId>,
}

impl Resolved {
    /// Whether `session` gets this event: one of its recipients, and not the one left out.
    pub(crate) fn reaches(&self, session: SessionId) -> bool {
        self.skip != Some(session) && self.recipients.iter().any(|(r, _)| *r == session)
    }
}

impl Hub {
    /// A place on the journal for something to store, reserved before the command is
    /// decided so that one the server cannot take now changes nothing; `None` without
    /// history.
    ///
    /// # Errors
    /// [`Refusal::Busy`] when the journal is full.
    pub(crate) fn reserve_store(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Permit<'_, Queued>>, Refusal> {
        match &self.inner.journal {
            Some(journal) => journal
                .queue
                .try_reserve()
                .map(Some)
                .map_err(|_| Refusal::Busy),
            None => Ok(None),
        }
    }

    /// Puts a message (or a reaction) on the journal in its reserved place: stored, then
    /// delivered to its recipients (but its sender), the sender's later replies held until
    /// then.
    pub(crate) fn queue_stored(
        permit: tokio::sync::mpsc::Permit<'_, Queued>,
        effect: Resolved,
        sender: Recipient,
    ) {
        permit.send(Queued {
            item: Item::Message {
                event: effect.event,
                recipients: effect.recipients,
                sender: sender.clone(),
            },
            fence: Some(Fence::hold(sender)),
        });
    }

    /// Hands the effects of `actor`'s command on, under the lock that applied them.
    ///
    /// The actor's own copy of each (its own join, part, rename) is delivered here and now,
    /// in place among its replies ([`EventSink::deliver_own`]). Everyone else's goes, with
    /// history, onto the journal in order, each item holding the actor's later replies
    /// until it is delivered; returned instead is what must be delivered at once (everything
    /// without history; whatever a full journal did not take), to be delivered once the lock
    /// is released.
    pub(crate) fn route(&self, actor: Option<&Recipient>, effects: Vec<Resolved>) -> Vec<Resolved> {
        let mut now = Vec::new();
        for mut effect in effects {
            if let Some((id, sink)) = actor
                && effect.reaches(*id)
            {
                if sink.deliver_own(&effect.event, None).is_err() {
                    // Its queue is closed now; its session ends at its next turn.
                    debug!(session_id = %id, "own copy overflowed the send queue");
                }
                if effect.recipients.len() == 1 {
                    continue;
                }
                effect.skip = Some(*id);
            }
            let Some(journal) = &self.inner.journal else {
                now.push(effect);
                continue;
            };
            let item = Item::Deliver {
                event: Arc::clone(&effect.event),
                recipients: Arc::clone(&effect.recipients),
                skip: effect.skip,
            };
            if !journal.push(item, actor.cloned()) {
                debug!("journal full or closed: delivering at once");
                now.push(effect);
            }
        }
        now
    }

    /// Delivers effects now; sessions whose queue overflows are removed, and their rooms
    /// told.
    pub(crate) fn deliver(&self, effects: &[Resolved]) {
        for effect in effects {
            self.deliver_now(&effect.recipients, &effect.event, effect.skip);
        }
    }

    /// Delivers `event` now to every recipient but `skip`; sessions whose queue overflows
    /// are removed, and their rooms told, in a loop (never recursion).
    pub(crate) fn deliver_now(
        &self,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        event: &Arc<HubEvent>,
        skip: Option<SessionId>,
    ) {
        self.deliver_now_where(recipients, event, skip, None, |_| true);
    }

    /// [`Hub::deliver_now`] to the recipients `keep` picks (one part of a split delivery);
    /// to `own`'s session, in its place among its replies.
    pub(crate) fn deliver_now_where(
        &self,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        event: &Arc<HubEvent>,
        skip: Option<SessionId>,
        own: Option<(SessionId, ReplyPlace)>,
        keep: impl Fn(SessionId) -> bool,
    ) {
        let mut overflowed = Vec::new();
        let delivered = deliver_all(recipients, event, skip, own, &keep, &mut overflowed);
        if matches!(event.kind, EventKind::Message { .. }) {
            self.metrics().deliveries.increment(delivered);
        }
        self.evict_overflowed(overflowed);
    }

    /// Delivers a run of messages, each `(event, sender)`, to the recipients `keep` picks,
    /// each of them getting the run but its own messages in one go; sessions whose queue
    /// overflows are removed as in [`Hub::deliver_now`].
    pub(crate) fn deliver_messages_where(
        &self,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        run: &[(&Arc<HubEvent>, SessionId)],
        keep: impl Fn(SessionId) -> bool,
    ) {
        let mut overflowed = Vec::new();
        let mut mine = Vec::with_capacity(run.len());
        let mut delivered = 0u64;
        for (id, sink) in recipients {
            if !keep(*id) {
                continue;
            }
            mine.clear();
            mine.extend(
                run.iter()
                    .filter(|(_, sender)| sender != id)
                    .map(|(event, _)| *event),
            );
            if mine.is_empty() {
                continue;
            }
            if sink.deliver_messages(&mine).is_err() {
                overflowed.push(*id);
            } else {
                delivered += mine.len() as u64;
            }
        }
        self.metrics().deliveries.increment(delivered);
        self.evict_overflowed(overflowed);
    }

    /// Removes the sessions whose queue overflowed in a delivery and tells their rooms,
    /// which may overflow more queues: worked off in a loop, never by recursion, so a
    /// cascade of slow clients cannot exhaust the stack. With history, the quit goes on the
    /// journal like any other, behind what the session said before it.
    fn evict_overflowed(&self, mut overflowed: Vec<SessionId>) {
        while let Some(id) = overflowed.pop() {
            info!(session_id = %id, "send queue exceeded");
            self.metrics().sendq_evictions.increment(1);
            let now = {
                let mut core = self.lock();
                let Some(change) = core.state.decide_end(
                    id,
                    LeaveReason::SendQueueExceeded,
                    std::time::SystemTime::now(),
                ) else {
                    continue;
                };
                let effects = self.commit(&mut core, &change);
                self.route(None, effects)
            };
            for effect in &now {
                deliver_all(
                    &effect.recipients,
                    &effect.event,
                    effect.skip,
                    None,
                    &|_| true,
                    &mut overflowed,
                );
            }
        }
    }

    /// A local session as the actor of its command, for delivering its own copies and
    /// holding its replies behind its effects.
    pub(crate) fn fence_of(core: &Core, session: SessionId) -> Option<Recipient> {
        core.state
            .sink(session)
            .map(|sink| (session, Arc::clone(sink)))
    }
}

impl crate::history::Journal {
    /// Queues `item`, holding `actor`'s later replies until it is delivered; `false` if the
    /// journal is full or closed (nothing is held then).
    pub(crate) fn push(&self, item: Item, actor: Option<Recipient>) -> bool {
        let Ok(permit) = self.queue.try_reserve() else {
            return false;
        };
        let fence = actor.map(Fence::hold);
        permit.send(Queued { item, fence });
        true
    }
}

/// Delivers `event` to every recipient `keep` picks but `skip` (to `own`'s session in its
/// place among its replies); collects those whose queue overflowed.
fn deliver_all(
    recipients: &[(SessionId, Arc<dyn EventSink>)],
    event: &Arc<HubEvent>,
    skip: Option<SessionId>,
    own: Option<(SessionId, ReplyPlace)>,
    keep: &impl Fn(SessionId) -> bool,
    overflowed: &mut Vec<SessionId>,
) -> u64 {
    let mut count = 0;
    for (id, sink) in recipients {
        if Some(*id) == skip || !keep(*id) {
            continue;
        }
        let delivered = match own {
            Some((session, after)) if session == *id => sink.deliver_own(event, Some(after)),
            _ => sink.deliver(event),
        };
        if delivered.is_err() {
            overflowed.push(*id);
        } else {
            count += 1;
        }
    }
    count
}
