//! Deciding commands: whether each may happen, and exactly what it changes.
//!
//! Each `decide_…` reads the state and returns the one [`Change`] the command makes (or
//! `None` when it changes nothing), or the [`Refusal`] that says why not. Nothing here
//! writes: applying the change is [`State::apply`]'s work. Times and ids come in as
//! arguments, so a decision depends on the state and the request alone.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{
    Change, LeaveReason, MemberStatus, MessageId, MessageKind, MessageTarget, MessageText,
    MessageTo, MetadataTarget, ModeChange, ModeEdit, Nick, Profile, RoomMode, RoomName, SessionId,
    Topic, UserMode,
};

use super::RoomLimits;
use super::{Room, SessionRecord, State};
use crate::error::{CannotSend, Refusal};
use crate::hub::{Invitation, MAX_BANS, ModesOutcome, SayTarget};

/// A decided message: the change, and what its sender is told beside it.
#[derive(Debug)]
pub(crate) struct Route {
    /// The message, or tags, to apply.
    pub(crate) change: Change,
    /// For a direct message: the recipient's away message.
    pub(crate) away: Option<MessageText>,
}

/// Decided mode changes: the change (if any is effective) and what the operator is told.
#[derive(Debug)]
pub(crate) struct ModesDecision {
    /// The effective changes, to apply; `None` if none was.
    pub(crate) change: Option<Change>,
    /// What was applied and what was refused.
    pub(crate) outcome: ModesOutcome,
}

/// What a redaction is of: a stored message, and whether the one deleting it sent it.
pub(crate) struct Redaction {
    pub(crate) target: MessageTarget,
    pub(crate) author: Nick,
    pub(crate) is_author: bool,
    pub(crate) id: MessageId,
    pub(crate) reason: Option<MessageText>,
}

impl State {
    fn record(&self, session: SessionId) -> Result<&SessionRecord, Refusal> {
        self.sessions
            .get(&session)
            .map(|record| &**record)
            .ok_or(Refusal::SessionClosed)
    }

    /// The acting session's profile: it must exist and have a nick.
    fn actor(&self, session: SessionId) -> Result<Arc<Profile>, Refusal> {
        self.record(session)?
            .named()
            .cloned()
            .ok_or(Refusal::NotRegistered)
    }

    /// The room, and the acting session's standing in it.
    fn member_of(
        &self,
        room: &RoomName,
        session: SessionId,
    ) -> Result<(&Room, MemberStatus), Refusal> {
        let slot = self
            .rooms
            .get(room.key())
            .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
        let status = *slot
            .members
            .get(&session)
            .ok_or_else(|| Refusal::NotInRoom(slot.name.clone()))?;
        Ok((slot, status))
    }

    /// The room, when the acting session is one of its operators.
    fn operator_of(&self, room: &RoomName, session: SessionId) -> Result<&Room, Refusal> {
        let (slot, status) = self.member_of(room, session)?;
        if !status.is_operator {
            return Err(Refusal::NotOperator(slot.name.clone()));
        }
        Ok(slot)
    }

    /// The session holding `nick`.
    fn holder(&self, nick: &Nick) -> Option<SessionId> {
        self.nicks.get(nick.key()).copied()
    }

    /// `USER` before the nick: the user name and real name.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_user(
        &self,
        session: SessionId,
        user: Arc<str>,
        realname: Arc<str>,
    ) -> Result<Change, Refusal> {
        self.record(session)?;
        Ok(Change::UserSet {
            session,
            user,
            realname,
        })
    }

    /// The session's registration completed; `None` if it was already.
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`] without a nick, [`Refusal::SessionClosed`].
    pub(crate) fn decide_welcome(
        &self,
        session: SessionId,
        at: SystemTime,
    ) -> Result<Option<Change>, Refusal> {
        let record = self.record(session)?;
        if record.nick().is_none() {
            return Err(Refusal::NotRegistered);
        }
        Ok((!record.is_welcomed).then_some(Change::Welcomed { session, at }))
    }

    /// The session monitors `nicks` as well (IRC `MONITOR +`), up to `limit` in all: the
    /// change (`None` if it already watches every one) and the nicks that did not fit.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_monitor_add(
        &self,
        session: SessionId,
        nicks: &[Nick],
        limit: usize,
    ) -> Result<(Option<Change>, Vec<Nick>), Refusal> {
        self.record(session)?;
        let watched = self.monitors.get(&session).map_or(&[][..], Vec::as_slice);
        let room = limit.saturating_sub(watched.len());
        let mut new: Vec<Nick> = Vec::new();
        let mut overflow: Vec<Nick> = Vec::new();
        for nick in nicks {
            if watched.contains(nick) || new.contains(nick) || overflow.contains(nick) {
                continue;
            }
            if new.len() < room {
                new.push(nick.clone());
            } else {
                overflow.push(nick.clone());
            }
        }
        let change = (!new.is_empty()).then_some(Change::MonitorAdded {
            session,
            nicks: new,
        });
        Ok((change, overflow))
    }

    /// The session stops monitoring `nicks` (all with `None`); `None` if it watches none
    /// of them.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_monitor_remove(
        &self,
        session: SessionId,
        nicks: Option<Vec<Nick>>,
    ) -> Result<Option<Change>, Refusal> {
        self.record(session)?;
        let watched = self.monitors.get(&session).map_or(&[][..], Vec::as_slice);
        let nicks = match nicks {
            None => (!watched.is_empty()).then_some(None),
            Some(nicks) => {
                let nicks: Vec<Nick> = nicks.into_iter().filter(|n| watched.contains(n)).collect();
                (!nicks.is_empty()).then_some(Some(nicks))
            }
        };
        Ok(nicks.map(|nicks| Change::MonitorRemoved { session, nicks }))
    }

    /// A nick for the session: its first or a new one; `None` if it has exactly this one.
    ///
    /// # Errors
    /// [`Refusal::NickInUse`], [`Refusal::NickRegistered`] (unless logged in to it),
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_nick(
        &self,
        session: SessionId,
        nick: &Nick,
        at: SystemTime,
    ) -> Result<Option<Change>, Refusal> {
        let record = self.record(session)?;
        if self.holder(nick).is_some_and(|holder| holder != session) {
            return Err(Refusal::NickInUse(nick.clone()));
        }
        if self.registered.contains(nick.key())
            && record
                .account()
                .is_none_or(|account| teahouse_types::casefold(account) != nick.key())
        {
            return Err(Refusal::NickRegistered(nick.clone()));
        }
        if record.nick().is_some_and(|n| n.as_str() == nick.as_str()) {
            return Ok(None);
        }
        // A look-alike of a held or registered name is taken too, unless that name is the
        // session's own (its nick now, or its account).
        let own_nick = record.nick().map(Nick::key);
        let own_account = record.account().map(|a| teahouse_types::casefold(a));
        if self.has_look_alike(nick.key(), own_nick, own_account.as_deref()) {
            return Err(Refusal::NickInUse(nick.clone()));
        }
        Ok(Some(Change::NickSet {
            session,
            nick: nick.clone(),
            at,
        }))
    }

    /// The nick the session has now, if any.
    pub(crate) fn nick_of(&self, session: SessionId) -> Result<Option<Nick>, Refusal> {
        Ok(self.record(session)?.nick().cloned())
    }

    /// User mode `+i` or `-i`.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_invisible(
        &self,
        session: SessionId,
        is_invisible: bool,
    ) -> Result<Change, Refusal> {
        self.record(session)?;
        Ok(Change::InvisibleSet {
            session,
            is_invisible,
        })
    }

    /// Becoming a server operator under `oper`, or no longer one (`None`); `None` if that
    /// changes nothing.
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub(crate) fn decide_oper(
        &self,
        session: SessionId,
        oper: Option<Arc<str>>,
    ) -> Result<Option<Change>, Refusal> {
        self.actor(session)?;
        let is_same = self.opers.get(&session) == oper.as_ref();
        Ok((!is_same).then_some(Change::OperatorSet { session, oper }))
    }

    /// The operator name of a session that is a server operator.
    pub(crate) fn oper_of(&self, session: SessionId) -> Option<&Arc<str>> {
        self.opers.get(&session)
    }

    /// Setting or unsetting a user mode; `None` if it is so already.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_user_mode(
        &self,
        session: SessionId,
        mode: UserMode,
        is_set: bool,
    ) -> Result<Option<Change>, Refusal> {
        let record = self.record(session)?;
        let current = match mode {
            UserMode::Wallops => record.is_wallops,
            UserMode::Bot => record.is_bot(),
        };
        Ok((current != is_set).then_some(Change::UserModeSet {
            session,
            mode,
            is_set,
        }))
    }

    /// An operator disconnecting `target` (`KILL`): everyone who shared a room with it
    /// hears `Killed (oper (reason))`, and its connection is told who did it.
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NoSuchNick`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_kill(
        &self,
        session: SessionId,
        target: &Nick,
        reason: &str,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        let by = self.actor(session)?;
        if !self.opers.contains_key(&session) {
            return Err(Refusal::NoPrivileges);
        }
        let victim = self
            .holder(target)
            .filter(|id| self.sessions.contains_key(id))
            .ok_or_else(|| Refusal::NoSuchNick(target.clone()))?;
        let why = MessageText::parse(reason)
            .or_else(|_| MessageText::parse("no reason given"))
            .map_err(|_| Refusal::SessionClosed)?;
        Ok(Change::SessionEnded {
            session: victim,
            reason: LeaveReason::Killed(Box::new(teahouse_types::Kill {
                by: by.nick.clone(),
                reason: why,
            })),
            disconnect: Some(format!("Killed by {}: {reason}", by.nick).into()),
            at,
        })
    }

    /// An operator's notice to everyone with user mode `+w` (`WALLOPS`).
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub(crate) fn decide_wallops(
        &self,
        session: SessionId,
        text: MessageText,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.actor(session)?;
        if !self.opers.contains_key(&session) {
            return Err(Refusal::NoPrivileges);
        }
        Ok(Change::Wallops {
            from: session,
            text,
            at,
        })
    }

    /// A message deleted: by its author (`is_author`), a room operator, or a server
    /// operator.
    ///
    /// # Errors
    /// [`Refusal::NotInRoom`] for a room the session is not in, [`Refusal::NotOperator`] and
    /// [`Refusal::NoPrivileges`] for someone else's message, [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_redact(
        &self,
        session: SessionId,
        redaction: Redaction,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.actor(session)?;
        let Redaction {
            target,
            author,
            is_author,
            id,
            reason,
        } = redaction;
        let is_oper = self.opers.contains_key(&session);
        if let MessageTarget::Room(room) = &target {
            let status = self
                .rooms
                .get(room.key())
                .and_then(|r| r.members.get(&session))
                .ok_or_else(|| Refusal::NotInRoom(room.clone()))?;
            if !is_author && !status.is_operator && !is_oper {
                return Err(Refusal::NotOperator(room.clone()));
            }
        } else if !is_author && !is_oper {
            return Err(Refusal::NoPrivileges);
        }
        Ok(Change::Redacted {
            by: session,
            target,
            author,
            id,
            reason,
            at,
        })
    }

    /// A metadata key set (or removed, `None`) on a user (themself, or anyone for a server
    /// operator) or a room (its operators, or a server operator). `None` when it changes
    /// nothing (the same value, or removing a key that is not set).
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NotOperator`], [`Refusal::NoSuchRoom`],
    /// [`Refusal::MetadataLimit`] past `max_keys` keys, [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_metadata(
        &self,
        session: SessionId,
        target: MetadataTarget,
        key: Arc<str>,
        value: Option<Arc<str>>,
        max_keys: usize,
        at: SystemTime,
    ) -> Result<Option<Change>, Refusal> {
        self.actor(session)?;
        let is_oper = self.opers.contains_key(&session);
        let slot = match &target {
            MetadataTarget::User(user) => {
                if *user != session && !is_oper {
                    return Err(Refusal::NoPrivileges);
                }
                self.record(*user)?;
                super::MetadataKey::User(*user)
            }
            MetadataTarget::Room(room) => {
                let slot = self
                    .rooms
                    .get(room.key())
                    .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
                let is_room_op = slot.members.get(&session).is_some_and(|s| s.is_operator);
                if !is_room_op && !is_oper {
                    return Err(Refusal::NotOperator(room.clone()));
                }
                super::MetadataKey::Room(room.shared_key())
            }
        };
        let keys = self.metadata.get(&slot);
        let current = keys.and_then(|k| k.get(&key));
        if current == value.as_ref() {
            return Ok(None);
        }
        if value.is_some() && current.is_none() && keys.map_or(0, |k| k.len()) >= max_keys {
            return Err(Refusal::MetadataLimit);
        }
        Ok(Some(Change::MetadataSet {
            by: session,
            target,
            key,
            value,
            at,
        }))
    }

    /// The session subscribes to `keys` in order, up to `limit` in all: the change, the
    /// keys now subscribed (those already were included), and the first that did not fit.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_metadata_subscribe(
        &self,
        session: SessionId,
        keys: &[Arc<str>],
        limit: usize,
    ) -> Result<(Option<Change>, crate::hub::Subscribed), Refusal> {
        self.record(session)?;
        let current = self
            .metadata_subs
            .get(&session)
            .map_or(&[][..], Vec::as_slice);
        let mut new: Vec<Arc<str>> = Vec::new();
        let mut done = Vec::new();
        let mut refused = None;
        for key in keys {
            if !current.contains(key) && !new.contains(key) {
                if current.len() + new.len() >= limit {
                    refused = Some(Arc::clone(key));
                    break;
                }
                new.push(Arc::clone(key));
            }
            done.push(Arc::clone(key));
        }
        let change = (!new.is_empty()).then_some(Change::MetadataSubscribed {
            session,
            keys: new,
            is_subscribed: true,
        });
        Ok((
            change,
            crate::hub::Subscribed {
                keys: done,
                refused,
            },
        ))
    }

    /// An operator changes the user name and host `target` shows (`CHGHOST`).
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NoSuchNick`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_host(
        &self,
        session: SessionId,
        target: &Nick,
        user: Arc<str>,
        host: Arc<str>,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.actor(session)?;
        if !self.opers.contains_key(&session) {
            return Err(Refusal::NoPrivileges);
        }
        let target = self
            .holder(target)
            .ok_or_else(|| Refusal::NoSuchNick(target.clone()))?;
        Ok(Change::HostSet {
            session: target,
            user,
            host,
            at,
        })
    }

    /// Away with a message, or back.
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub(crate) fn decide_away(
        &self,
        session: SessionId,
        away: Option<MessageText>,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.actor(session)?;
        Ok(Change::AwaySet { session, away, at })
    }

    /// A new real name (`SETNAME`).
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub(crate) fn decide_realname(
        &self,
        session: SessionId,
        realname: Arc<str>,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.actor(session)?;
        Ok(Change::RealnameSet {
            session,
            realname,
            at,
        })
    }

    /// Logged in to `account`, or out.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_account(
        &self,
        session: SessionId,
        account: Option<Arc<str>>,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.record(session)?;
        Ok(Change::AccountSet {
            session,
            account,
            at,
        })
    }

    /// Whether `key` is a registered account's name.
    pub(crate) fn is_registered(&self, key: &str) -> bool {
        self.registered.contains(key)
    }

    /// The session leaves; `None` if it is gone already.
    pub(crate) fn decide_end(
        &self,
        session: SessionId,
        reason: LeaveReason,
        at: SystemTime,
    ) -> Option<Change> {
        self.sessions
            .contains_key(&session)
            .then_some(Change::SessionEnded {
                session,
                reason,
                disconnect: None,
                at,
            })
    }

    /// Disconnecting the session that uses `nick` (NickServ `GHOST`), which must be the
    /// nick of the account `session` is logged in to.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`], [`Refusal::NoSuchNick`] if nobody else uses it,
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_ghost(
        &self,
        session: SessionId,
        nick: &Nick,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        let record = self.record(session)?;
        let is_owner = record
            .account()
            .is_some_and(|account| teahouse_types::casefold(account) == nick.key());
        if !is_owner {
            return Err(Refusal::NotLoggedIn);
        }
        let by = record.nick().unwrap_or(nick);
        let ghost = self
            .holder(nick)
            .filter(|id| *id != session && self.sessions.contains_key(id))
            .ok_or_else(|| Refusal::NoSuchNick(nick.clone()))?;
        let reason = format!("GHOST command used by {by}");
        Ok(Change::SessionEnded {
            session: ghost,
            reason: LeaveReason::Requested(MessageText::parse(&reason).ok()),
            disconnect: Some(reason.into()),
            at,
        })
    }

    /// Entering `room`. A room that does not exist is created; its creator is its operator
    /// if `is_founder` (the room's claim was granted to it).
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`], [`Refusal::AlreadyInRoom`], [`Refusal::Banned`],
    /// [`Refusal::InviteOnly`], [`Refusal::BadKey`], [`Refusal::RoomFull`],
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_join(
        &self,
        session: SessionId,
        room: &RoomName,
        key: Option<&str>,
        is_founder: bool,
        limits: RoomLimits,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        let profile = self.actor(session)?;
        let record = self.record(session)?;
        let is_member = self
            .rooms
            .get(room.key())
            .is_some_and(|slot| slot.members.contains_key(&session));
        if !is_member && record.rooms.len() >= limits.per_user {
            return Err(Refusal::TooManyRooms {
                room: room.clone(),
                max: limits.per_user,
            });
        }
        let Some(slot) = self.rooms.get(room.key()) else {
            if self.rooms.len() >= limits.total {
                return Err(Refusal::ServerRoomLimit(room.clone()));
            }
            return Ok(Change::Joined {
                session,
                room: room.clone(),
                status: MemberStatus {
                    is_operator: is_founder,
                    is_voiced: false,
                },
                creates: true,
                at,
            });
        };
        if slot.members.contains_key(&session) {
            return Err(Refusal::AlreadyInRoom(slot.name.clone()));
        }
        if !slot.invited.contains(&session) {
            if slot.is_banned(&profile) {
                return Err(Refusal::Banned(slot.name.clone()));
            }
            if slot.modes.is_invite_only {
                return Err(Refusal::InviteOnly(slot.name.clone()));
            }
            if let Some(expected) = &slot.modes.key
                && key != Some(&**expected)
            {
                return Err(Refusal::BadKey(slot.name.clone()));
            }
            if let Some(limit) = slot.modes.limit
                && slot.members.len() >= limit
            {
                return Err(Refusal::RoomFull(slot.name.clone()));
            }
        }
        Ok(Change::Joined {
            session,
            room: slot.name.clone(),
            status: MemberStatus::default(),
            creates: false,
            at,
        })
    }

    /// Leaving `room`.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_part(
        &self,
        session: SessionId,
        room: &RoomName,
        message: Option<MessageText>,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.actor(session)?;
        let (slot, _) = self.member_of(room, session)?;
        Ok(Change::Parted {
            session,
            room: slot.name.clone(),
            message,
            at,
        })
    }

    /// Removing `target` from `room` on an operator's order.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotOperator`],
    /// [`Refusal::NoSuchNick`], [`Refusal::TargetNotInRoom`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub(crate) fn decide_kick(
        &self,
        session: SessionId,
        room: &RoomName,
        target: &Nick,
        reason: Option<MessageText>,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        self.actor(session)?;
        let slot = self.operator_of(room, session)?;
        let target_id = self
            .holder(target)
            .ok_or_else(|| Refusal::NoSuchNick(target.clone()))?;
        if !slot.members.contains_key(&target_id) {
            return Err(Refusal::TargetNotInRoom {
                nick: target.clone(),
                room: slot.name.clone(),
            });
        }
        Ok(Change::Kicked {
            by: session,
            room: slot.name.clone(),
            target: target_id,
            reason,
            at,
        })
    }

    /// Inviting `target` to `room`.
    ///
    /// # Errors
    /// [`Refusal::NoSuchNick`], [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`],
    /// [`Refusal::NotOperator`] (in a `+i` room), [`Refusal::TargetAlreadyInRoom`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub(crate) fn decide_invite(
        &self,
        session: SessionId,
        target: &Nick,
        room: &RoomName,
        at: SystemTime,
    ) -> Result<(Change, Invitation), Refusal> {
        self.actor(session)?;
        let target_id = self
            .holder(target)
            .ok_or_else(|| Refusal::NoSuchNick(target.clone()))?;
        let (slot, status) = self.member_of(room, session)?;
        if slot.modes.is_invite_only && !status.is_operator {
            return Err(Refusal::NotOperator(slot.name.clone()));
        }
        let target_record = self.record(target_id)?;
        let target_nick = target_record
            .nick()
            .cloned()
            .unwrap_or_else(|| target.clone());
        if slot.members.contains_key(&target_id) {
            return Err(Refusal::TargetAlreadyInRoom {
                nick: target_nick,
                room: slot.name.clone(),
            });
        }
        let invitation = Invitation {
            room: slot.name.clone(),
            target: target_nick,
            away: target_record.away.clone(),
        };
        let change = Change::Invited {
            by: session,
            room: slot.name.clone(),
            target: target_id,
            at,
        };
        Ok((change, invitation))
    }

    /// Where a message from `session` to `target` goes, if the room's rules allow it: in a
    /// room, `+n` keeps out non-members, `+m` silences members without voice, and a ban
    /// silences a matching member without voice.
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`], [`Refusal::NoSuchRoom`], [`Refusal::CannotSend`],
    /// [`Refusal::NoSuchNick`], [`Refusal::SessionClosed`].
    pub(crate) fn decide_route(
        &self,
        session: SessionId,
        target: SayTarget,
    ) -> Result<(MessageTo, Option<MessageText>), Refusal> {
        let from = self.actor(session)?;
        match target {
            SayTarget::Room(room) => {
                let Some(slot) = self.rooms.get(room.key()) else {
                    return Err(Refusal::NoSuchRoom(room));
                };
                let cannot = |reason| Refusal::CannotSend {
                    room: slot.name.clone(),
                    reason,
                };
                match slot.members.get(&session) {
                    None if slot.modes.is_no_external => {
                        return Err(cannot(CannotSend::NotMember));
                    }
                    Some(status) if !status.is_operator && !status.is_voiced => {
                        if slot.modes.is_moderated {
                            return Err(cannot(CannotSend::Moderated));
                        }
                        if slot.is_banned(&from) {
                            return Err(cannot(CannotSend::Banned));
                        }
                    }
                    None if slot.is_banned(&from) => {
                        return Err(cannot(CannotSend::Banned));
                    }
                    _ => {}
                }
                Ok((MessageTo::Room(slot.name.clone()), None))
            }
            SayTarget::Nick(nick) => {
                let Some((to_id, to)) = self
                    .holder(&nick)
                    .and_then(|id| self.sessions.get(&id).map(|record| (id, record)))
                else {
                    return Err(Refusal::NoSuchNick(nick));
                };
                let to_nick = to.nick().cloned().unwrap_or(nick);
                let away = to.away.clone();
                let to = MessageTo::Session {
                    session: to_id,
                    nick: to_nick,
                };
                Ok((to, away))
            }
        }
    }

    /// A message, with the id and time the hub gave it.
    ///
    /// # Errors
    /// As [`State::decide_route`].
    #[expect(
        clippy::too_many_arguments,
        reason = "a message is these seven things; a struct would only rename them"
    )]
    pub(crate) fn decide_say(
        &self,
        session: SessionId,
        target: SayTarget,
        kind: MessageKind,
        text: MessageText,
        client_tags: Option<Arc<str>>,
        id: MessageId,
        at: SystemTime,
    ) -> Result<Route, Refusal> {
        let (to, away) = self.decide_route(session, target)?;
        Ok(Route {
            change: Change::Message {
                id,
                from: session,
                to,
                kind,
                text,
                client_tags,
                at,
            },
            away,
        })
    }

    /// Client-only tags without a message (`TAGMSG`), routed like a message.
    ///
    /// # Errors
    /// As [`State::decide_route`].
    pub(crate) fn decide_tags(
        &self,
        session: SessionId,
        target: SayTarget,
        client_tags: Arc<str>,
        id: MessageId,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        let (to, _) = self.decide_route(session, target)?;
        Ok(Change::Tags {
            id,
            from: session,
            to,
            client_tags,
            at,
        })
    }

    /// Setting (or clearing) the topic; under `+t` only operators may.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotOperator`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub(crate) fn decide_topic(
        &self,
        session: SessionId,
        room: &RoomName,
        topic: Option<MessageText>,
        at: SystemTime,
    ) -> Result<Change, Refusal> {
        let by = self.actor(session)?;
        let (slot, status) = self.member_of(room, session)?;
        if slot.modes.is_topic_locked && !status.is_operator {
            return Err(Refusal::NotOperator(slot.name.clone()));
        }
        Ok(Change::TopicSet {
            by: session,
            room: slot.name.clone(),
            topic: topic.map(|text| Topic {
                text,
                set_by: by.mask().into(),
                set_at: at,
            }),
            at,
        })
    }

    /// Mode changes on an operator's order. Changes that change nothing (setting what is
    /// set, given the changes before them) are dropped silently; a status change for
    /// someone who is not a member, or not there at all, is refused.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotOperator`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`]; per change (in the outcome):
    /// [`Refusal::NoSuchNick`], [`Refusal::TargetNotInRoom`].
    pub(crate) fn decide_modes(
        &self,
        session: SessionId,
        room: &RoomName,
        changes: Vec<ModeChange>,
        at: SystemTime,
    ) -> Result<ModesDecision, Refusal> {
        self.actor(session)?;
        let slot = self.operator_of(room, session)?;
        // The room as the changes so far leave it.
        let mut modes = slot.modes.clone();
        let mut bans: Vec<String> = slot.bans.iter().map(|(_, f)| f.clone()).collect();
        let mut statuses: Vec<(SessionId, MemberStatus)> = Vec::new();
        let mut outcome = ModesOutcome::default();
        let mut edits = Vec::new();
        for change in changes {
            let is_set = change.is_set;
            let mut member = None;
            let is_changed = match &change.mode {
                RoomMode::TopicLock => flip(&mut modes.is_topic_locked, is_set),
                RoomMode::NoExternal => flip(&mut modes.is_no_external, is_set),
                RoomMode::Moderated => flip(&mut modes.is_moderated, is_set),
                RoomMode::InviteOnly => flip(&mut modes.is_invite_only, is_set),
                RoomMode::Secret => flip(&mut modes.is_secret, is_set),
                RoomMode::Key(key) => replace(&mut modes.key, is_set.then(|| Arc::clone(key))),
                RoomMode::Limit(limit) => replace(&mut modes.limit, is_set.then_some(*limit)),
                RoomMode::Ban(mask) => {
                    let folded = teahouse_types::casefold(mask);
                    let existing = bans.iter().position(|f| *f == folded);
                    match (is_set, existing) {
                        (true, None) if bans.len() < MAX_BANS => {
                            bans.push(folded);
                            true
                        }
                        (false, Some(index)) => {
                            bans.remove(index);
                            true
                        }
                        _ => false,
                    }
                }
                RoomMode::Operator(nick) | RoomMode::Voice(nick) => {
                    if self.holder(nick).is_none() {
                        outcome
                            .refused
                            .push((change.clone(), Refusal::NoSuchNick(nick.clone())));
                        continue;
                    }
                    let Some((id, status)) = self.holder(nick).and_then(|id| {
                        let current = statuses
                            .iter()
                            .find(|(s, _)| *s == id)
                            .map(|(_, status)| *status);
                        current
                            .or_else(|| slot.members.get(&id).copied())
                            .map(|status| (id, status))
                    }) else {
                        let refusal = Refusal::TargetNotInRoom {
                            nick: nick.clone(),
                            room: slot.name.clone(),
                        };
                        outcome.refused.push((change, refusal));
                        continue;
                    };
                    let mut status = status;
                    let is_changed = if matches!(change.mode, RoomMode::Operator(_)) {
                        flip(&mut status.is_operator, is_set)
                    } else {
                        flip(&mut status.is_voiced, is_set)
                    };
                    statuses.retain(|(s, _)| *s != id);
                    statuses.push((id, status));
                    member = Some(id);
                    is_changed
                }
            };
            if is_changed {
                outcome.applied.push(change.clone());
                edits.push(ModeEdit { change, member });
            }
        }
        let change = (!edits.is_empty()).then(|| Change::ModesChanged {
            by: session,
            room: slot.name.clone(),
            edits,
            at,
        });
        Ok(ModesDecision { change, outcome })
    }
}

/// Sets a flag; says whether it changed.
fn flip(flag: &mut bool, value: bool) -> bool {
    let is_changed = *flag != value;
    *flag = value;
    is_changed
}

/// Sets a value; says whether it changed.
fn replace<T: PartialEq>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let is_changed = *slot != value;
    *slot = value;
    is_changed
}
