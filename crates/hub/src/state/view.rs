//! Read-only views of the state, for NAMES, WHO, WHOIS, WHOWAS, LIST and LUSERS.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{
    Ban, MemberStatus, MessageText, Nick, Profile, RoomModes, RoomName, SessionId, Topic,
};

use super::{Room, State};
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
    /// Whether they are a server operator.
    pub is_oper: bool,
}

/// A room as a newcomer sees it.
pub(crate) struct RoomView {
    pub(crate) name: RoomName,
    pub(crate) topic: Option<Topic>,
    pub(crate) members: Vec<RoomMember>,
    pub(crate) is_secret: bool,
}

/// One room, as listed by [`crate::Hub::rooms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    /// The room's name.
    pub name: RoomName,
    /// How many members it has.
    pub members: usize,
    /// Its topic, if set.
    pub topic: Option<MessageText>,
    /// Whether it is secret (`+s`): listed only to its members.
    pub is_secret: bool,
    /// When it was created.
    pub created: SystemTime,
    /// When its topic was set.
    pub topic_set_at: Option<SystemTime>,
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
    /// Whether they hear WALLOPS (`+w`).
    pub is_wallops: bool,
    /// Their operator name, if they are a server operator.
    pub oper: Option<Arc<str>>,
    /// The address they connect from (their host, unless an operator changed it).
    pub address: Arc<str>,
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
    /// Sessions that completed their registration.
    pub users: usize,
    /// Of those, invisible ones.
    pub invisible: usize,
    /// Connections still registering.
    pub unregistered: usize,
    /// Rooms.
    pub rooms: usize,
    /// The most users at once since start.
    pub max_users: usize,
    /// Server operators.
    pub operators: usize,
    /// Of the users, those connected to this node.
    pub local_users: usize,
    /// The nodes of the cluster reachable now, this one included (1 alone).
    pub servers: usize,
}

impl State {
    /// The members of a room, sorted by nick key.
    pub(crate) fn members(&self, room: &RoomName) -> Result<Vec<RoomMember>, Refusal> {
        let slot = self
            .rooms
            .get(room.key())
            .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
        Ok(self.room_members(slot))
    }

    /// The members of a room as `asker` may see them (NAMES, WHO): a secret room's only
    /// by its members (to others it does not exist), and an outsider sees no invisible
    /// member.
    pub(crate) fn members_seen_by(
        &self,
        asker: SessionId,
        room: &RoomName,
    ) -> Result<(Vec<RoomMember>, bool), Refusal> {
        let slot = self
            .rooms
            .get(room.key())
            .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
        let is_member = slot.members.contains_key(&asker);
        if slot.modes.is_secret && !is_member {
            return Err(Refusal::NoSuchRoom(room.clone()));
        }
        let members = self.room_members_where(slot, |record| is_member || !record.is_invisible);
        Ok((members, slot.modes.is_secret))
    }

    /// The room's member list, sorted by nick key.
    fn room_members(&self, room: &Room) -> Vec<RoomMember> {
        self.room_members_where(room, |_| true)
    }

    /// The room's members that `keep` picks, sorted by nick key.
    fn room_members_where(
        &self,
        room: &Room,
        keep: impl Fn(&super::SessionRecord) -> bool,
    ) -> Vec<RoomMember> {
        let mut members: Vec<RoomMember> = room
            .members
            .iter()
            .filter_map(|(id, status)| {
                let record = self.sessions.get(id).filter(|record| keep(record))?;
                Some(RoomMember {
                    profile: record.named().cloned()?,
                    status: *status,
                    is_away: record.away.is_some(),
                    is_oper: self.opers.contains_key(id),
                })
            })
            .collect();
        members.sort_by(|a, b| a.profile.nick.key().cmp(b.profile.nick.key()));
        members
    }

    /// A room's name, topic, members and secrecy, for a join's replies.
    pub(crate) fn room_view(&self, room: &RoomName) -> Option<RoomView> {
        let slot = self.rooms.get(room.key())?;
        Some(RoomView {
            name: slot.name.clone(),
            topic: slot.topic.clone(),
            members: self.room_members(slot),
            is_secret: slot.modes.is_secret,
        })
    }

    /// A room's settings.
    pub(crate) fn room_info(&self, room: &RoomName) -> Result<RoomInfo, Refusal> {
        let slot = self
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
    pub(crate) fn is_member(&self, session: SessionId, room: &RoomName) -> bool {
        self.rooms
            .get(room.key())
            .is_some_and(|slot| slot.members.contains_key(&session))
    }

    /// Every room with its member count and topic, sorted by name key.
    pub(crate) fn rooms(&self) -> Vec<RoomSummary> {
        let mut list: Vec<RoomSummary> = self
            .rooms
            .values()
            .map(|room| RoomSummary {
                name: room.name.clone(),
                members: room.members.len(),
                topic: room.topic.as_ref().map(|t| t.text.clone()),
                is_secret: room.modes.is_secret,
                created: room.created,
                topic_set_at: room.topic.as_ref().map(|t| t.set_at),
            })
            .collect();
        list.sort_by(|a, b| a.name.key().cmp(b.name.key()));
        list
    }

    /// The user holding `nick`, as `asker` may see them: a room is listed if the asker
    /// shares it, or if neither the user is invisible nor the room secret.
    pub(crate) fn user_info(&self, asker: SessionId, nick: &Nick) -> Option<UserInfo> {
        let id = self.nicks.get(nick.key())?;
        let record = self.sessions.get(id)?;
        let rooms = record
            .rooms
            .iter()
            .filter_map(|room| {
                let slot = self.rooms.get(room.key())?;
                let status = *slot.members.get(id)?;
                let is_shared = slot.members.contains_key(&asker) || asker == *id;
                let is_hidden = record.is_invisible || slot.modes.is_secret;
                (!is_hidden || is_shared).then(|| (slot.name.clone(), status))
            })
            .collect();
        Some(UserInfo {
            profile: record.named().cloned()?,
            rooms,
            away: record.away.clone(),
            is_invisible: record.is_invisible,
            is_wallops: record.is_wallops,
            oper: self.opers.get(id).cloned(),
            address: Arc::clone(self.real_hosts.get(id).unwrap_or_else(|| record.host())),
            signon: record.signon,
            last_active: record.last_active,
        })
    }

    /// Users whose `nick!user@host` or nick matches `mask` (casefolded glob), as `asker`
    /// may see them (invisible users only if they share a room, or to a server operator),
    /// at most `limit`.
    pub(crate) fn find_users(&self, asker: SessionId, mask: &str, limit: usize) -> Vec<UserInfo> {
        let folded = teahouse_types::casefold(mask);
        let asker_rooms: Vec<&str> = self
            .sessions
            .get(&asker)
            .map(|e| e.rooms.iter().map(|r| r.key()).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (id, record) in &self.sessions {
            let Some(profile) = record.named() else {
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
            let is_shared = record.rooms.iter().any(|r| asker_rooms.contains(&r.key()));
            let is_oper = self.opers.contains_key(&asker);
            if record.is_invisible && !is_shared && *id != asker && !is_oper {
                continue;
            }
            // Secret rooms only to those in them.
            let rooms = record
                .rooms
                .iter()
                .filter_map(|room| {
                    let slot = self.rooms.get(room.key())?;
                    let is_shown =
                        !slot.modes.is_secret || *id == asker || slot.members.contains_key(&asker);
                    let status = *slot.members.get(id)?;
                    is_shown.then(|| (slot.name.clone(), status))
                })
                .collect();
            out.push(UserInfo {
                profile: Arc::clone(profile),
                rooms,
                away: record.away.clone(),
                is_invisible: record.is_invisible,
                is_wallops: record.is_wallops,
                oper: self.opers.get(id).cloned(),
                address: Arc::clone(self.real_hosts.get(id).unwrap_or_else(|| record.host())),
                signon: record.signon,
                last_active: record.last_active,
            });
            if out.len() >= limit {
                break;
            }
        }
        out.sort_by(|a, b| a.profile.nick.key().cmp(b.profile.nick.key()));
        out
    }

    /// Who last held `nick`, newest first, at most `limit`.
    pub(crate) fn whowas(&self, nick: &Nick, limit: usize) -> Vec<Departed> {
        self.whowas
            .iter()
            .rev()
            .filter(|d| d.profile.nick == *nick)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Counts for LUSERS.
    pub(crate) fn stats(&self) -> Stats {
        let users = self.users;
        Stats {
            users,
            invisible: self
                .sessions
                .values()
                .filter(|e| e.is_welcomed && e.is_invisible)
                .count(),
            unregistered: self.sessions.len().saturating_sub(users),
            rooms: self.rooms.len(),
            max_users: self.max_users,
            operators: self.opers.len(),
            local_users: self
                .sessions
                .values()
                .filter(|e| e.is_welcomed && e.sink.is_some())
                .count(),
            servers: 1,
        }
    }

    /// How many sessions there are.
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The account a session is logged in to.
    pub(crate) fn account_of(&self, session: SessionId) -> Result<Option<Arc<str>>, Refusal> {
        Ok(self
            .sessions
            .get(&session)
            .ok_or(Refusal::SessionClosed)?
            .account()
            .cloned())
    }

    /// The host a session connects from (its real address, whatever it shows).
    /// The address the session connects from (its real host, as an address).
    pub(crate) fn address_of(&self, session: SessionId) -> Option<std::net::IpAddr> {
        self.host_of(session).ok()?.parse().ok()
    }

    /// Every session with a nick, and its profile.
    pub(crate) fn named_sessions(&self) -> impl Iterator<Item = (SessionId, Arc<Profile>)> + '_ {
        self.sessions
            .iter()
            .filter_map(|(id, record)| record.named().map(|p| (*id, Arc::clone(p))))
    }

    pub(crate) fn host_of(&self, session: SessionId) -> Result<Arc<str>, Refusal> {
        let record = self.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
        Ok(Arc::clone(
            self.real_hosts
                .get(&session)
                .unwrap_or_else(|| record.host()),
        ))
    }

    /// The session's nick and rooms.
    pub(crate) fn nick_and_rooms(
        &self,
        session: SessionId,
    ) -> Result<(Nick, Vec<RoomName>), Refusal> {
        let record = self.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
        let nick = record.nick().cloned().ok_or(Refusal::NotRegistered)?;
        Ok((nick, record.rooms.clone()))
    }

    /// The user holding `nick`, if one is online (registered, not just connecting): what
    /// `MONITOR` reports.
    pub(crate) fn online(&self, nick: &Nick) -> Option<Arc<Profile>> {
        let session = *self.nicks.get(nick.key())?;
        let record = self.sessions.get(&session)?;
        if !record.is_welcomed {
            return None;
        }
        record.named().cloned()
    }

    /// The nicks the session monitors, as it gave them.
    pub(crate) fn monitored(&self, session: SessionId) -> Vec<Nick> {
        self.monitors.get(&session).cloned().unwrap_or_default()
    }

    /// The session holding `nick`.
    pub(crate) fn session_of(&self, nick: &Nick) -> Option<SessionId> {
        self.nicks.get(nick.key()).copied()
    }

    /// The metadata of a user or room, by key.
    pub(crate) fn metadata_of(
        &self,
        target: &teahouse_types::MetadataTarget,
    ) -> Vec<(Arc<str>, Arc<str>)> {
        let slot = match target {
            teahouse_types::MetadataTarget::User(session) => super::MetadataKey::User(*session),
            teahouse_types::MetadataTarget::Room(room) => {
                super::MetadataKey::Room(room.shared_key())
            }
        };
        self.metadata
            .get(&slot)
            .map(|keys| {
                keys.iter()
                    .map(|(k, v)| (Arc::clone(k), Arc::clone(v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A room's metadata and its members' (by nick), for a newcomer or a `SYNC`.
    pub(crate) fn room_metadata(
        &self,
        room: &RoomName,
    ) -> Vec<(teahouse_types::MessageTarget, Arc<str>, Arc<str>)> {
        let Some(slot) = self.rooms.get(room.key()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let target = teahouse_types::MetadataTarget::Room(slot.name.clone());
        for (key, value) in self.metadata_of(&target) {
            out.push((
                teahouse_types::MessageTarget::Room(slot.name.clone()),
                key,
                value,
            ));
        }
        let mut members: Vec<&SessionId> = slot.members.keys().collect();
        members.sort_unstable();
        for member in members {
            let Some(nick) = self.sessions.get(member).and_then(|r| r.nick()) else {
                continue;
            };
            for (key, value) in self.metadata_of(&teahouse_types::MetadataTarget::User(*member)) {
                out.push((
                    teahouse_types::MessageTarget::Direct(nick.clone()),
                    key,
                    value,
                ));
            }
        }
        out
    }

    /// The metadata keys the session subscribed to.
    pub(crate) fn metadata_subscriptions(&self, session: SessionId) -> Vec<Arc<str>> {
        self.metadata_subs
            .get(&session)
            .cloned()
            .unwrap_or_default()
    }
}
