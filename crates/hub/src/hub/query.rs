//! Read-only views of the state, for NAMES, WHO, WHOIS, WHOWAS, LIST and LUSERS.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{MemberStatus, MessageText, Nick, Profile, RoomModes, RoomName, SessionId};

use super::{Ban, Hub, Topic, room_members};
use crate::error::Refusal;

/// One member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMember {
    /// Who.
    pub profile: Arc<Profile>,
    /// Operator, voice.
    pub status: MemberStatus,
    /// Whether they are away.
    pub is_away: bool,
}

/// One room, as listed by [`Hub::rooms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    /// The room's name.
    pub name: RoomName,
    /// How many members it has.
    pub members: usize,
    /// Its topic, if set.
    pub topic: Option<MessageText>,
}

/// A room's settings, for MODE and TOPIC queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// The room's name.
    pub name: RoomName,
    /// When it was created.
    pub created: SystemTime,
    /// Its topic.
    pub topic: Option<Topic>,
    /// Its modes.
    pub modes: RoomModes,
    /// Its bans.
    pub bans: Vec<Ban>,
    /// How many members it has.
    pub members: usize,
}

/// A user, for WHOIS, WHO, ISON and USERHOST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Who.
    pub profile: Arc<Profile>,
    /// Their rooms with their standing in each (only rooms the asker may see).
    pub rooms: Vec<(RoomName, MemberStatus)>,
    /// Their away message.
    pub away: Option<MessageText>,
    /// Whether they are invisible (`+i`).
    pub is_invisible: bool,
    /// When they connected.
    pub signon: SystemTime,
    /// When they last spoke.
    pub last_active: SystemTime,
}

/// A user who left, for WHOWAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    /// Who they were.
    pub profile: Arc<Profile>,
    /// When they left.
    pub at: SystemTime,
}

/// Counts for LUSERS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Sessions with a nick.
    pub users: usize,
    /// Of those, invisible ones.
    pub invisible: usize,
    /// Sessions without a nick yet.
    pub unregistered: usize,
    /// Rooms.
    pub rooms: usize,
    /// The most users at once since start.
    pub max_users: usize,
}

impl Hub {
    /// The members of a room, sorted by nick key.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`].
    pub fn members(&self, room: &RoomName) -> Result<Vec<RoomMember>, Refusal> {
        let state = self.lock();
        let slot = state
            .rooms
            .get(room.key())
            .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
        Ok(room_members(&state.sessions, slot))
    }

    /// A room's settings.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`].
    pub fn room_info(&self, room: &RoomName) -> Result<RoomInfo, Refusal> {
        let state = self.lock();
        let slot = state
            .rooms
            .get(room.key())
            .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
        Ok(RoomInfo {
            name: slot.name.clone(),
            created: slot.created,
            topic: slot.topic.clone(),
            modes: slot.modes.clone(),
            bans: slot.bans.iter().map(|(ban, _)| ban.clone()).collect(),
            members: slot.members.len(),
        })
    }

    /// Whether `session` is a member of `room`.
    pub fn is_member(&self, session: SessionId, room: &RoomName) -> bool {
        let state = self.lock();
        state
            .rooms
            .get(room.key())
            .is_some_and(|slot| slot.members.contains_key(&session))
    }

    /// Every room with its member count and topic, sorted by name key.
    pub fn rooms(&self) -> Vec<RoomSummary> {
        let state = self.lock();
        let mut list: Vec<RoomSummary> = state
            .rooms
            .values()
            .map(|room| RoomSummary {
                name: room.name.clone(),
                members: room.members.len(),
                topic: room.topic.as_ref().map(|t| t.text.clone()),
            })
            .collect();
        list.sort_by(|a, b| a.name.key().cmp(b.name.key()));
        list
    }

    /// The user holding `nick`, as `asker` may see them: rooms are listed if the user is
    /// visible or shares them with the asker.
    pub fn user_info(&self, asker: SessionId, nick: &Nick) -> Option<UserInfo> {
        let state = self.lock();
        let id = state.nicks.get(nick.key())?;
        let entry = state.sessions.get(id)?;
        let rooms = entry
            .rooms
            .iter()
            .filter_map(|room| {
                let slot = state.rooms.get(room.key())?;
                let status = *slot.members.get(id)?;
                let is_shared = slot.members.contains_key(&asker);
                (!entry.is_invisible || is_shared || asker == *id)
                    .then(|| (slot.name.clone(), status))
            })
            .collect();
        Some(UserInfo {
            profile: entry.named().cloned()?,
            rooms,
            away: entry.away.clone(),
            is_invisible: entry.is_invisible,
            signon: entry.signon,
            last_active: entry.last_active,
        })
    }

    /// Users whose `nick!user@host` or nick matches `mask` (casefolded glob), as `asker`
    /// may see them (invisible users only if they share a room), at most `limit`.
    pub fn find_users(&self, asker: SessionId, mask: &str, limit: usize) -> Vec<UserInfo> {
        let folded = teahouse_types::casefold(mask);
        let state = self.lock();
        let asker_rooms: Vec<&str> = state
            .sessions
            .get(&asker)
            .map(|e| e.rooms.iter().map(|r| r.key()).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (id, entry) in &state.sessions {
            let Some(profile) = entry.named() else {
                continue;
            };
            let is_match = teahouse_types::mask_matches(&folded, profile.nick.key())
                || teahouse_types::mask_matches(
                    &folded,
                    &teahouse_types::casefold(&profile.mask()),
                );
            if !is_match {
                continue;
            }
            let is_shared = entry.rooms.iter().any(|r| asker_rooms.contains(&r.key()));
            if entry.is_invisible && !is_shared && *id != asker {
                continue;
            }
            let rooms = entry
                .rooms
                .iter()
                .filter_map(|room| {
                    let slot = state.rooms.get(room.key())?;
                    Some((slot.name.clone(), *slot.members.get(id)?))
                })
                .collect();
            out.push(UserInfo {
                profile: Arc::clone(profile),
                rooms,
                away: entry.away.clone(),
                is_invisible: entry.is_invisible,
                signon: entry.signon,
                last_active: entry.last_active,
            });
            if out.len() >= limit {
                break;
            }
        }
        out.sort_by(|a, b| a.profile.nick.key().cmp(b.profile.nick.key()));
        out
    }

    /// Who last held `nick`, newest first, at most `limit`.
    pub fn whowas(&self, nick: &Nick, limit: usize) -> Vec<Departed> {
        let state = self.lock();
        state
            .whowas
            .iter()
            .rev()
            .filter(|d| d.profile.nick == *nick)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Counts for LUSERS.
    pub fn stats(&self) -> Stats {
        let state = self.lock();
        let users = state.nicks.len();
        Stats {
            users,
            invisible: state
                .sessions
                .values()
                .filter(|e| e.nick().is_some() && e.is_invisible)
                .count(),
            unregistered: state.sessions.len() - users,
            rooms: state.rooms.len(),
            max_users: state.max_users,
        }
    }

    /// The profile of a session, once it has a nick.
    pub fn profile_of(&self, session: SessionId) -> Option<Arc<Profile>> {
        self.lock().sessions.get(&session)?.named().cloned()
    }

    /// How many sessions are attached.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }
}
