//! Changing room modes.

use std::time::SystemTime;

use teahouse_types::{ModeChange, RoomName, SessionId};

use super::Hub;
use crate::error::Refusal;

/// How many bans one room keeps (IRC's `MAXLIST`): enough for any real room, and a bound
/// on what one operator can make the server store.
pub const MAX_BANS: usize = 100;

/// What [`Hub::change_modes`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModesOutcome {
    /// The changes applied, in order (announced to the room).
    pub applied: Vec<ModeChange>,
    /// The changes refused, each with why.
    pub refused: Vec<(ModeChange, Refusal)>,
}

impl Hub {
    /// Applies mode changes to `room` on an operator's order. Changes that change nothing
    /// (setting what is set) are dropped silently; the rest are announced to every member in
    /// one [`teahouse_types::EventKind::ModesChanged`].
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotOperator`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`]; per change (in the outcome):
    /// [`Refusal::TargetNotInRoom`].
    pub fn change_modes(
        &self,
        session: SessionId,
        room: &RoomName,
        changes: Vec<ModeChange>,
    ) -> Result<ModesOutcome, Refusal> {
        self.execute(session, |state| {
            let decision = state.decide_modes(session, room, changes, SystemTime::now())?;
            Ok((decision.change, decision.outcome))
        })
    }
}
