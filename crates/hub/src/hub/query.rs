//! Read-only views of the state, for NAMES, WHO, WHOIS, WHOWAS, LIST and LUSERS.

use std::sync::Arc;

use teahouse_types::{Nick, Profile, RoomName, SessionId};

use super::{Hub, Recipient};
use crate::error::Refusal;
use crate::history::HistoryTarget;
use crate::state::{Departed, RoomInfo, RoomMember, RoomSummary, Stats, UserInfo};

impl Hub {
    /// The members of a room, sorted by nick key.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`].
    pub fn members(&self, room: &RoomName) -> Result<Vec<RoomMember>, Refusal> {
        self.lock().state.members(room)
    }

    /// A room's settings.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`].
    pub fn room_info(&self, room: &RoomName) -> Result<RoomInfo, Refusal> {
        self.lock().state.room_info(room)
    }

    /// The members of a room as `asker` may see them (NAMES, WHO): a secret room is
    /// unknown to outsiders, who see no invisible members either; and whether it is secret.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], also for a secret room `asker` is not in.
    pub fn members_seen_by(
        &self,
        asker: SessionId,
        room: &RoomName,
    ) -> Result<(Vec<RoomMember>, bool), Refusal> {
        self.lock().state.members_seen_by(asker, room)
    }

    /// Whether `session` is a member of `room`.
    pub fn is_member(&self, session: SessionId, room: &RoomName) -> bool {
        self.lock().state.is_member(session, room)
    }

    /// Every room with its member count and topic, sorted by name key.
    pub fn rooms(&self) -> Vec<RoomSummary> {
        self.lock().state.rooms()
    }

    /// The user holding `nick`, as `asker` may see them: rooms are listed if the user is
    /// visible or shares them with the asker.
    pub fn user_info(&self, asker: SessionId, nick: &Nick) -> Option<UserInfo> {
        self.lock().state.user_info(asker, nick)
    }

    /// Users whose `nick!user@host` or nick matches `mask` (casefolded glob), as `asker`
    /// may see them (invisible users only if they share a room), at most `limit`.
    pub fn find_users(&self, asker: SessionId, mask: &str, limit: usize) -> Vec<UserInfo> {
        self.lock().state.find_users(asker, mask, limit)
    }

    /// Who last held `nick`, newest first, at most `limit`.
    pub fn whowas(&self, nick: &Nick, limit: usize) -> Vec<Departed> {
        self.lock().state.whowas(nick, limit)
    }

    /// Counts for LUSERS.
    pub fn stats(&self) -> Stats {
        let mut stats = self.lock().state.stats();
        if let Some(bus) = &self.inner.bus {
            stats.servers = 1 + bus.peers().iter().count();
        }
        stats
    }

    /// The profile of a session, once it has a nick.
    pub fn profile_of(&self, session: SessionId) -> Option<Arc<Profile>> {
        self.lock().state.profile(session)
    }

    /// How many sessions are attached.
    pub fn session_count(&self) -> usize {
        self.lock().state.session_count()
    }

    /// The session as a recipient, its nick, and whether it is in the target room.
    pub(crate) fn session_view(
        &self,
        session: SessionId,
        target: &HistoryTarget,
    ) -> Result<(Recipient, Nick, bool), Refusal> {
        let core = self.lock();
        let nick = core.state.nick_of(session)?.ok_or(Refusal::NotRegistered)?;
        let recipient = Self::fence_of(&core, session).ok_or(Refusal::SessionClosed)?;
        let is_member = match target {
            HistoryTarget::Room(room) => core.state.is_member(session, room),
            HistoryTarget::Direct(_) => false,
        };
        Ok((recipient, nick, is_member))
    }

    /// The session's nick and rooms.
    pub(crate) fn nick_and_rooms(
        &self,
        session: SessionId,
    ) -> Result<(Nick, Vec<RoomName>), Refusal> {
        self.lock().state.nick_and_rooms(session)
    }
}
