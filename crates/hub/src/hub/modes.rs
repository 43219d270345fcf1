//! Changing room modes.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{EventKind, HubEvent, ModeChange, RoomMode, RoomName, SessionId};

use super::{Ban, Hub, State, actor, operator_of, room_snapshot};
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
    /// one [`EventKind::ModesChanged`].
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
        let (recipients, event, outcome) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
                ..
            } = &mut *state;
            let by = actor(sessions, session)?;
            let slot = operator_of(rooms, room, session)?;
            let mut outcome = ModesOutcome::default();
            for change in changes {
                let is_set = change.is_set;
                let modes = &mut slot.modes;
                let is_changed = match &change.mode {
                    RoomMode::TopicLock => flip(&mut modes.is_topic_locked, is_set),
                    RoomMode::NoExternal => flip(&mut modes.is_no_external, is_set),
                    RoomMode::Moderated => flip(&mut modes.is_moderated, is_set),
                    RoomMode::InviteOnly => flip(&mut modes.is_invite_only, is_set),
                    RoomMode::Key(key) => {
                        let new = is_set.then(|| Arc::clone(key));
                        let is_changed = modes.key != new;
                        modes.key = new;
                        is_changed
                    }
                    RoomMode::Limit(limit) => {
                        let new = is_set.then_some(*limit);
                        let is_changed = modes.limit != new;
                        modes.limit = new;
                        is_changed
                    }
                    RoomMode::Ban(mask) => {
                        let folded = teahouse_types::casefold(mask);
                        let existing = slot.bans.iter().position(|(_, f)| *f == folded);
                        match (is_set, existing) {
                            (true, None) if slot.bans.len() < MAX_BANS => {
                                slot.bans.push((
                                    Ban {
                                        mask: Arc::clone(mask),
                                        set_by: by.nick.as_str().into(),
                                        set_at: SystemTime::now(),
                                    },
                                    folded,
                                ));
                                true
                            }
                            (false, Some(index)) => {
                                slot.bans.remove(index);
                                true
                            }
                            _ => false,
                        }
                    }
                    RoomMode::Operator(nick) | RoomMode::Voice(nick) => {
                        let member = nicks
                            .get(nick.key())
                            .and_then(|id| slot.members.get_mut(id));
                        let Some(member) = member else {
                            let refusal = Refusal::TargetNotInRoom {
                                nick: nick.clone(),
                                room: slot.name.clone(),
                            };
                            outcome.refused.push((change, refusal));
                            continue;
                        };
                        if matches!(change.mode, RoomMode::Operator(_)) {
                            flip(&mut member.is_operator, is_set)
                        } else {
                            flip(&mut member.is_voiced, is_set)
                        }
                    }
                };
                if is_changed {
                    outcome.applied.push(change);
                }
            }
            let event = (!outcome.applied.is_empty()).then(|| EventKind::ModesChanged {
                room: slot.name.clone(),
                by,
                changes: outcome.applied.clone(),
            });
            (room_snapshot(sessions, slot), event, outcome)
        };
        if let Some(event) = event {
            self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        }
        Ok(outcome)
    }
}

/// Sets a flag; says whether it changed.
fn flip(flag: &mut bool, value: bool) -> bool {
    let is_changed = *flag != value;
    *flag = value;
    is_changed
}
