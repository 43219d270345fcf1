//! Joining, leaving, kicking and inviting.

use std::time::SystemTime;

use teahouse_cluster::Claim;
use teahouse_store::HistoryQuery;
use teahouse_types::{Change, MessageTarget, MessageText, Nick, RoomName, SessionId, Topic};
use tracing::debug;

use super::Hub;
use crate::error::Refusal;
use crate::history::{Item, room_key};
use crate::state::RoomLimits;
use crate::state::RoomMember;

/// What [`Hub::join`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The room, as it is spelled by whoever created it.
    pub room: RoomName,
    /// Its topic, if set.
    pub topic: Option<Topic>,
    /// Its members after the join, the newcomer included, sorted by nick key.
    pub members: Vec<RoomMember>,
    /// Whether the room was created by this join (the newcomer is its operator).
    pub is_new: bool,
    /// Whether the room is secret (`+s`).
    pub is_secret: bool,
}

/// What [`Hub::invite`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The room, as spelled by the hub.
    pub room: RoomName,
    /// The invited user's nick.
    pub target: Nick,
    /// The invited user's away message, if away.
    pub away: Option<MessageText>,
}

impl Hub {
    /// Makes the session a member of `room`, creating the room if it does not exist (the
    /// creator is its operator, once every node agrees it creates it). Every member, the
    /// newcomer first, gets [`teahouse_types::EventKind::Joined`].
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`] without a nick, [`Refusal::AlreadyInRoom`],
    /// [`Refusal::Banned`], [`Refusal::InviteOnly`], [`Refusal::BadKey`],
    /// [`Refusal::RoomFull`], [`Refusal::SessionClosed`].
    pub async fn join(
        &self,
        session: SessionId,
        room: RoomName,
        key: Option<&str>,
    ) -> Result<JoinOutcome, Refusal> {
        self.join_with_replay(session, room, key, 0, |_| {}).await
    }

    /// [`Hub::join`], then `reply` and, if the hub keeps history, the last `replay` messages
    /// of the room for the newcomer as one [`teahouse_types::EventKind::History`]: right
    /// after its own join and before anything it receives live, with no message in both.
    ///
    /// `reply` queues the face's own answer to the join (its list of members) onto the
    /// newcomer's outbox. It runs under the hub's lock, as the join is applied, so that
    /// nothing comes between the newcomer's join, that answer and the replay: it must only
    /// queue, never call the hub.
    ///
    /// # Errors
    /// As [`Hub::join`].
    pub async fn join_with_replay(
        &self,
        session: SessionId,
        room: RoomName,
        key: Option<&str>,
        replay: u32,
        reply: impl FnOnce(&JoinOutcome) + Send,
    ) -> Result<JoinOutcome, Refusal> {
        let mut reply = Some(reply);
        // Whether this session's claim on creating the room was granted, once it asked.
        let mut founded: Option<bool> = None;
        let claim = Claim::Room(room.shared_key());
        loop {
            let is_founder = founded.unwrap_or(false);
            let attempt = Attempt {
                is_founder,
                has_asked: founded.is_some(),
                replay,
            };
            match self.try_join(session, &room, key, attempt, &mut reply) {
                Joining::Done(outcome) => {
                    if founded == Some(true) && !outcome.as_ref().is_ok_and(|o| o.is_new) {
                        // Someone else made the room meanwhile, or the join was refused.
                        self.inner.claims.release(&claim, session);
                    }
                    return outcome;
                }
                Joining::NeedsClaim => {
                    founded = Some(self.inner.claims.claim(&claim, session).await.is_ok());
                }
            }
        }
    }

    /// One attempt at a join: done, or the room must be created and nobody has asked the
    /// cluster who creates it yet.
    fn try_join(
        &self,
        session: SessionId,
        room: &RoomName,
        key: Option<&str>,
        attempt: Attempt,
        reply: &mut Option<impl FnOnce(&JoinOutcome)>,
    ) -> Joining {
        let Attempt {
            is_founder,
            has_asked,
            replay,
        } = attempt;
        let mut core = self.lock();
        let now = SystemTime::now();
        let limits = RoomLimits {
            per_user: self.config().max_rooms_per_user,
            total: self.config().max_rooms,
        };
        let change = match core
            .state
            .decide_join(session, room, key, is_founder, limits, now)
        {
            Ok(change) => change,
            Err(refusal) => return Joining::Done(Err(refusal)),
        };
        let is_new = matches!(change, Change::Joined { creates: true, .. });
        if is_new && !has_asked {
            return Joining::NeedsClaim;
        }
        let fence = Self::fence_of(&core, session);
        let effects = self.commit(&mut core, &change);
        let Some(view) = core.state.room_view(room) else {
            return Joining::Done(Err(Refusal::SessionClosed));
        };
        let name = view.name;
        // The newcomer hears of its own join here, under the lock: before any message
        // that a later fan-out (whose recipients include it) could bring it, and in place
        // before the replies its face queues next.
        let now = self.route(fence.as_ref(), effects);
        let outcome = JoinOutcome {
            room: name.clone(),
            topic: view.topic,
            members: view.members,
            is_new,
            is_secret: view.is_secret,
        };
        if let Some(reply) = reply.take() {
            reply(&outcome);
        }
        if replay > 0
            && let Some(journal) = &self.inner.journal
            && let Some(recipient) = fence
        {
            // Part of this join, in the journal after it: the messages sent before it, and
            // none the newcomer gets live; its later replies wait for them.
            let item = Item::Replay {
                recipient: recipient.clone(),
                target: MessageTarget::Room(name.clone()),
                target_key: room_key(&name),
                query: HistoryQuery::Before(self.replay_bound()),
                limit: replay,
                context: None,
            };
            if !journal.push(item, Some(recipient)) {
                debug!(%session, "journal full: no replay on join");
            }
        }
        drop(core);
        self.deliver(&now);
        debug!(session_id = %session, room = %name, "joined room");
        Joining::Done(Ok(outcome))
    }

    /// Takes the session out of `room`; the remaining members and the leaver get
    /// [`teahouse_types::EventKind::Left`]. An emptied room is deleted.
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub fn part(
        &self,
        session: SessionId,
        room: &RoomName,
        message: Option<MessageText>,
    ) -> Result<(), Refusal> {
        self.execute(session, |state| {
            let change = state.decide_part(session, room, message, SystemTime::now())?;
            Ok((Some(change), ()))
        })?;
        debug!(session_id = %session, room = %room, "left room");
        Ok(())
    }

    /// Removes `target` from `room` on an operator's order; every member, the target too,
    /// gets [`teahouse_types::EventKind::Kicked`].
    ///
    /// # Errors
    /// [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`], [`Refusal::NotOperator`],
    /// [`Refusal::TargetNotInRoom`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn kick(
        &self,
        session: SessionId,
        room: &RoomName,
        target: &Nick,
        reason: Option<MessageText>,
    ) -> Result<(), Refusal> {
        self.execute(session, |state| {
            let change = state.decide_kick(session, room, target, reason, SystemTime::now())?;
            Ok((Some(change), ()))
        })?;
        debug!(session_id = %session, room = %room, "kicked member");
        Ok(())
    }

    /// Invites `target` to `room`: they may then join past `+i`, `+k`, `+l` and bans once.
    /// The target and the room's operators get [`teahouse_types::EventKind::Invited`].
    ///
    /// # Errors
    /// [`Refusal::NoSuchNick`], [`Refusal::NoSuchRoom`], [`Refusal::NotInRoom`],
    /// [`Refusal::NotOperator`] (in a `+i` room), [`Refusal::TargetAlreadyInRoom`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn invite(
        &self,
        session: SessionId,
        target: &Nick,
        room: &RoomName,
    ) -> Result<Invitation, Refusal> {
        self.execute(session, |state| {
            let (change, invitation) =
                state.decide_invite(session, target, room, SystemTime::now())?;
            Ok((Some(change), invitation))
        })
    }
}

/// One attempt at a join: whether the newcomer founds the room (its claim was granted),
/// whether it has asked the cluster yet, and how many earlier messages it is to see.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    is_founder: bool,
    has_asked: bool,
    replay: u32,
}

/// Where one attempt at a join got to.
enum Joining {
    /// Joined, or refused.
    Done(Result<JoinOutcome, Refusal>),
    /// The join creates the room: ask the cluster who does, then try again.
    NeedsClaim,
}
