//! The hub's side of a session's outbound queue.

use std::sync::Arc;

use teahouse_types::HubEvent;

/// The recipient's queue is full; the hub removes that session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send queue exceeded")]
pub struct Overflow;

/// Where the hub delivers a session's events; implemented by each front-end.
///
/// Implementations encode the event (once per wire format, through the event's
/// `RenderCache`) and queue the bytes for the connection's writer.
pub trait EventSink: Send + Sync + 'static {
    /// Queues one event for this session. Must never block or wait on the client.
    ///
    /// # Errors
    /// [`Overflow`] when the session's bounded queue cannot take it: the hub then removes the
    /// session and tells its rooms it left because its send queue was exceeded. A sink that is
    /// already closing returns `Ok` and drops the event.
    fn deliver(&self, event: &Arc<HubEvent>) -> Result<(), Overflow>;

    /// Queues several room or direct messages ([`teahouse_types::EventKind::Message`]) in
    /// order: a run of messages fanned out to the same recipients. The default delivers
    /// them one by one; a sink overrides it to queue them in one go.
    ///
    /// # Errors
    /// As [`EventSink::deliver`].
    fn deliver_messages(&self, events: &[&Arc<HubEvent>]) -> Result<(), Overflow> {
        events.iter().try_for_each(|event| self.deliver(event))
    }
}
