//! Read-only views of the state for the cluster: a node's sessions, and its snapshot (the
//! changes that rebuild its sessions and their rooms from nothing).

use teahouse_types::{
    Change, MemberStatus, ModeChange, ModeEdit, NodeId, RoomMode, RoomName, SessionId, Topic,
    UserMode,
};

use super::{State, Who};

impl State {
    /// The sessions of `node`, oldest first.
    pub(crate) fn sessions_of(&self, node: NodeId) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self
            .sessions
            .keys()
            .copied()
            .filter(|id| id.node() == node)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The rooms `session` is in.
    pub(crate) fn rooms_of(&self, session: SessionId) -> Vec<RoomName> {
        self.sessions
            .get(&session)
            .map(|record| record.rooms.clone())
            .unwrap_or_default()
    }

    /// The address `session` connected from (whatever host an operator gave it since).
    pub(crate) fn real_host(&self, session: SessionId) -> Option<&std::sync::Arc<str>> {
        let record = self.sessions.get(&session)?;
        Some(
            self.real_hosts
                .get(&session)
                .unwrap_or_else(|| record.host()),
        )
    }

    /// `session`'s standing in the room with casefolded key `key`, if it is a member.
    pub(crate) fn member_status(&self, key: &str, session: SessionId) -> Option<MemberStatus> {
        self.rooms.get(key)?.members.get(&session).copied()
    }

    /// The session holding the nick with casefolded key `key`.
    pub(crate) fn nick_holder(&self, key: &str) -> Option<SessionId> {
        self.nicks.get(key).copied()
    }

    /// Whether a room with casefolded key `key` exists.
    pub(crate) fn has_room(&self, key: &str) -> bool {
        self.rooms.contains_key(key)
    }

    /// The room's topic.
    pub(crate) fn room_topic(&self, key: &str) -> Option<&Topic> {
        self.rooms.get(key).and_then(|room| room.topic.as_ref())
    }

    /// The changes that rebuild `node`'s sessions (who they are, their rooms with their
    /// status) and the topic and modes of those rooms, applied to a state that has none of
    /// them: what a node sends a peer that has just heard of it, or that may have missed
    /// some of its changes.
    pub(crate) fn snapshot_of(&self, node: NodeId) -> Vec<Change> {
        let mut out = Vec::new();
        for id in self.sessions_of(node) {
            let Some(record) = self.sessions.get(&id) else {
                continue;
            };
            let at = record.signon;
            let (user, host, realname, account, is_bot) = match &record.who {
                Who::Unnamed(who) => (
                    who.user.clone(),
                    who.host.clone(),
                    who.realname.clone(),
                    who.account.clone(),
                    who.is_bot,
                ),
                Who::Named(who) => (
                    who.user.clone(),
                    who.host.clone(),
                    who.realname.clone(),
                    who.account.clone(),
                    who.is_bot,
                ),
            };
            // The address it connected from, as its start said; the host an operator gave it
            // since, after.
            let real = self.real_hosts.get(&id).cloned();
            out.push(Change::SessionStarted {
                session: id,
                host: real.clone().unwrap_or_else(|| host.clone()),
                user: user.clone(),
                realname,
                at,
                sink: None,
            });
            if real.is_some() {
                out.push(Change::HostSet {
                    session: id,
                    user,
                    host,
                    at,
                });
            }
            if let Some(nick) = record.nick() {
                out.push(Change::NickSet {
                    session: id,
                    nick: nick.clone(),
                    at,
                });
            }
            if account.is_some() {
                out.push(Change::AccountSet {
                    session: id,
                    account,
                    at,
                });
            }
            for (mode, is_set) in [
                (UserMode::Bot, is_bot),
                (UserMode::Wallops, record.is_wallops),
            ] {
                if is_set {
                    out.push(Change::UserModeSet {
                        session: id,
                        mode,
                        is_set,
                    });
                }
            }
            if record.is_invisible {
                out.push(Change::InvisibleSet {
                    session: id,
                    is_invisible: true,
                });
            }
            if record.away.is_some() {
                out.push(Change::AwaySet {
                    session: id,
                    away: record.away.clone(),
                    at,
                });
            }
            if let Some(oper) = self.opers.get(&id) {
                out.push(Change::OperatorSet {
                    session: id,
                    oper: Some(oper.clone()),
                });
            }
            if record.is_welcomed {
                out.push(Change::Welcomed { session: id, at });
            }
            for name in &record.rooms {
                if let Some(room) = self.rooms.get(name.key()) {
                    out.push(Change::Joined {
                        session: id,
                        room: room.name.clone(),
                        status: room.members.get(&id).copied().unwrap_or_default(),
                        creates: true,
                        at: room.created,
                    });
                }
            }
        }
        let mut rooms: Vec<_> = self
            .rooms
            .values()
            .filter_map(|room| {
                let by = room.members.keys().filter(|s| s.node() == node).min()?;
                Some((room, *by))
            })
            .collect();
        rooms.sort_unstable_by(|a, b| a.0.name.key().cmp(b.0.name.key()));
        for (room, by) in rooms {
            if room.topic.is_some() {
                out.push(Change::TopicSet {
                    by,
                    room: room.name.clone(),
                    topic: room.topic.clone(),
                    at: room.topic.as_ref().map_or(room.created, |t| t.set_at),
                });
            }
            let modes = &room.modes;
            let mut set: Vec<RoomMode> = [
                (modes.is_topic_locked, RoomMode::TopicLock),
                (modes.is_no_external, RoomMode::NoExternal),
                (modes.is_moderated, RoomMode::Moderated),
                (modes.is_invite_only, RoomMode::InviteOnly),
                (modes.is_secret, RoomMode::Secret),
            ]
            .into_iter()
            .filter_map(|(on, mode)| on.then_some(mode))
            .collect();
            set.extend(modes.key.clone().map(RoomMode::Key));
            set.extend(modes.limit.map(RoomMode::Limit));
            set.extend(
                room.bans
                    .iter()
                    .map(|(ban, _)| RoomMode::Ban(ban.mask.clone())),
            );
            if !set.is_empty() {
                out.push(Change::ModesChanged {
                    by,
                    room: room.name.clone(),
                    edits: set
                        .into_iter()
                        .map(|mode| ModeEdit {
                            change: ModeChange { is_set: true, mode },
                            member: None,
                        })
                        .collect(),
                    at: room.created,
                });
            }
        }
        out
    }
}
