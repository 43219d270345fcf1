//! Where the hub delivers a session's events: the contract between the hub and a face.

use std::sync::Arc;

use crate::event::HubEvent;

/// The recipient's queue is full; the hub removes that session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send queue exceeded")]
pub struct Overflow;

/// Where the hub delivers a session's events; implemented by each front-end.
///
/// Implementations encode the event (once per wire format, through the event's
/// `RenderCache`) and queue the bytes for the connection's writer. The hub calls these
/// methods with its state lock held or from its delivery tasks: they must never block, and
/// never call back into the hub.
pub trait EventSink: Send + Sync + 'static {
    /// Queues one event for this session. Must never block or wait on the client.
    ///
    /// # Errors
    /// [`Overflow`] when the session's bounded queue cannot take it: the hub then removes the
    /// session and tells its rooms it left because its send queue was exceeded. A sink that is
    /// already closing returns `Ok` and drops the event.
    fn deliver(&self, event: &Arc<HubEvent>) -> Result<(), Overflow>;

    /// Queues several room or direct messages ([`crate::EventKind::Message`], or stored
    /// reactions, [`crate::EventKind::Tags`]) in order: a run of messages fanned out to the same recipients. The default delivers
    /// them one by one; a sink overrides it to queue them in one go.
    ///
    /// # Errors
    /// As [`EventSink::deliver`].
    fn deliver_messages(&self, events: &[&Arc<HubEvent>]) -> Result<(), Overflow> {
        events.iter().try_for_each(|event| self.deliver(event))
    }

    /// Queues an event that belongs to this session's own command: its own copy of a
    /// join, a nick change or a part (`after: None`: during the command, under the hub's
    /// lock), or a line of it that arrives later (`after: Some`, from
    /// [`EventSink::hold`]: an echo once the message is stored, a history it asked for).
    /// Such an event waits, like the command's replies, for the effects of the session's
    /// earlier commands to be delivered. The default delivers it at once.
    ///
    /// # Errors
    /// As [`EventSink::deliver`].
    fn deliver_own(
        &self,
        event: &Arc<HubEvent>,
        after: Option<ReplyPlace>,
    ) -> Result<(), Overflow> {
        let _ = after;
        self.deliver(event)
    }

    /// One effect of this session's current command is on its way to its recipients
    /// (queued behind messages being stored): the replies to the session's later commands
    /// must wait until it has been delivered everywhere. Called once per effect, in order.
    /// Returns what the command's own later lines wait for ([`EventSink::deliver_own`]).
    fn hold(&self) -> ReplyPlace {
        ReplyPlace(0)
    }

    /// The oldest effect announced with [`EventSink::hold`] has been delivered to every
    /// recipient: the replies that waited for it may go.
    fn release(&self) {}
}

/// A command's place among its session's replies: what its lines wait for, the effects of
/// the session's commands before it (counted by [`EventSink::hold`]). A line of the command
/// that arrives late (an echo once its message is stored) goes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyPlace(pub u32);

/// This node's handle on where a local session's events go, as the change that started the
/// session carries it: never serialized (a session of another node has none here),
/// compared by identity.
#[derive(Clone)]
pub struct LocalSink(pub Arc<dyn EventSink>);

impl std::fmt::Debug for LocalSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalSink")
    }
}

impl PartialEq for LocalSink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LocalSink {}
