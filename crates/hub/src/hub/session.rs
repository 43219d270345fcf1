//! Who a session is (nick, user name, user modes, account) and its leaving.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_cluster::Claim;
use teahouse_types::{Change, LeaveReason, Nick, SessionId};
use tracing::{debug, info};

use super::Hub;
use crate::error::Refusal;
use crate::state::State;

/// What [`Hub::set_nick`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NickOutcome {
    /// The session had no nick and now has one.
    Registered(Nick),
    /// The session's nick changed from `old`; sessions sharing a room were told.
    Changed {
        /// The nick before.
        old: Nick,
        /// The nick now.
        new: Nick,
    },
    /// The session already had exactly this nick.
    Unchanged(Nick),
}

impl Hub {
    /// Decides and applies one command of `actor`'s: `decide` reads the state (under the
    /// lock) into the change to make, or `None` for nothing to do, and what the caller is
    /// told; the change is applied and its effects routed (`actor`'s later replies wait for
    /// them), and whatever must go at once is delivered after the lock is released.
    pub(crate) fn execute<T>(
        &self,
        actor: SessionId,
        decide: impl FnOnce(&State) -> Result<(Option<Change>, T), Refusal>,
    ) -> Result<T, Refusal> {
        let (now, out) = {
            let mut core = self.lock();
            let (change, out) = decide(&core.state)?;
            let Some(change) = change else {
                return Ok(out);
            };
            let fence = Self::fence_of(&core, actor);
            let effects = self.commit(&mut core, &change);
            (self.route(fence.as_ref(), effects), out)
        };
        self.deliver(&now);
        Ok(out)
    }

    /// Sets the user name and real name of a session that has no nick yet (IRC `USER`).
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`] for a real name over the limit,
    /// [`Refusal::SessionClosed`].
    pub fn set_user(
        &self,
        session: SessionId,
        user: Arc<str>,
        realname: Arc<str>,
    ) -> Result<(), Refusal> {
        let max_bytes = self.inner.config.max_realname_bytes;
        if realname.len() > max_bytes {
            return Err(Refusal::MessageTooLong { max_bytes });
        }
        self.execute(session, |state| {
            Ok((Some(state.decide_user(session, user, realname)?), ()))
        })
    }

    /// Marks the session's registration complete (IRC: before its welcome burst): it counts
    /// as a user from now on (LUSERS). Doing it again changes nothing. A banned session is
    /// refused (the face closes it with the reason).
    ///
    /// # Errors
    /// [`Refusal::ServerBanned`], [`Refusal::NotRegistered`] without a nick,
    /// [`Refusal::SessionClosed`].
    pub fn welcome(&self, session: SessionId) -> Result<(), Refusal> {
        if let Some(reason) = self.ban_of(session) {
            info!(session_id = %session, addr = %self.host_of(session).unwrap_or_default(), %reason, "banned user refused");
            return Err(Refusal::ServerBanned(reason));
        }
        self.execute(session, |state| {
            Ok((state.decide_welcome(session, SystemTime::now())?, ()))
        })
    }

    /// Gives the session a nick (its first, or a new one), once every node agrees it is
    /// free ([`teahouse_cluster::Claims`]).
    ///
    /// A rename is announced with [`teahouse_types::EventKind::NickChanged`] to the session
    /// itself and to every session sharing a room with it.
    ///
    /// # Errors
    /// [`Refusal::NickInUse`] if another session has a nick with the same key (here or on
    /// another node); [`Refusal::NickRegistered`] if it is a registered account's and the
    /// session is not logged in to it; [`Refusal::SessionClosed`] if the session is gone.
    pub async fn set_nick(&self, session: SessionId, nick: Nick) -> Result<NickOutcome, Refusal> {
        // What the state refuses is refused without asking the cluster; a rename that
        // keeps the key (a change of case) needs no new claim.
        let is_claim_needed = {
            let core = self.lock();
            if core
                .state
                .decide_nick(session, &nick, SystemTime::now())?
                .is_none()
            {
                return Ok(NickOutcome::Unchanged(nick));
            }
            core.state
                .nick_of(session)?
                .is_none_or(|old| old.key() != nick.key())
        };
        let claim = Claim::Nick(nick.shared_key());
        if is_claim_needed {
            self.inner
                .claims
                .claim(&claim, session)
                .await
                .map_err(|refused| match refused {
                    teahouse_cluster::Refused::Taken => Refusal::NickInUse(nick.clone()),
                    teahouse_cluster::Refused::Unreachable => {
                        Refusal::NickUnavailable(nick.clone())
                    }
                })?;
        }
        let outcome = self.apply_nick(session, &nick);
        let is_taken = matches!(
            outcome,
            Ok(NickOutcome::Registered(_) | NickOutcome::Changed { .. })
        );
        if is_claim_needed && !is_taken {
            self.inner.claims.release(&claim, session);
        }
        outcome
    }

    /// [`Hub::set_nick`] once the nick is claimed.
    fn apply_nick(&self, session: SessionId, nick: &Nick) -> Result<NickOutcome, Refusal> {
        let (is_set, old) = self.execute(session, |state| {
            let change = state.decide_nick(session, nick, SystemTime::now())?;
            let old = state.nick_of(session)?;
            let is_set = change.is_some();
            Ok((change, (is_set, old)))
        })?;
        Ok(match (is_set, old) {
            (false, _) => NickOutcome::Unchanged(nick.clone()),
            (true, None) => NickOutcome::Registered(nick.clone()),
            (true, Some(old)) => {
                debug!(session_id = %session, "nick changed");
                NickOutcome::Changed {
                    old,
                    new: nick.clone(),
                }
            }
        })
    }

    /// Sets or clears the invisible user mode (hidden from WHO by strangers).
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn set_invisible(&self, session: SessionId, is_invisible: bool) -> Result<(), Refusal> {
        self.execute(session, |state| {
            Ok((Some(state.decide_invisible(session, is_invisible)?), ()))
        })
    }

    /// Removes a session: from its rooms, the nick registry and the hub. Every session that
    /// shared a room gets one [`teahouse_types::EventKind::Quit`] with `reason` (none at
    /// server shutdown, when everyone leaves at once). Removing a session that is already
    /// gone does nothing.
    pub(crate) fn remove(&self, session: SessionId, reason: LeaveReason) {
        self.inner.recent_targets.forget(session);
        let nick = self.profile_of(session).map(|p| p.nick.clone());
        let logged = reason.clone();
        let removed = self.execute(session, |state| {
            let change = state.decide_end(session, reason, SystemTime::now());
            let is_removed = change.is_some();
            Ok((change, is_removed))
        });
        if removed == Ok(true)
            && let Some(nick) = nick
        {
            let reason = match &logged {
                LeaveReason::Requested(_) => "quit",
                LeaveReason::ConnectionLost => "connection lost",
                LeaveReason::TimedOut => "timed out",
                LeaveReason::SendQueueExceeded => "send queue exceeded",
                LeaveReason::ServerShutdown => "server shutting down",
                LeaveReason::NetSplit => "net split",
                LeaveReason::Killed(_) => "killed",
            };
            info!(session_id = %session, %nick, reason, "session left");
        }
    }

    /// Logs the session in to `account` (or out, `None`); the sessions sharing a room with
    /// it, and itself, get [`teahouse_types::EventKind::AccountChanged`] once it has a nick.
    pub(crate) fn set_account(
        &self,
        session: SessionId,
        account: Option<Arc<str>>,
    ) -> Result<(), Refusal> {
        self.execute(session, |state| {
            Ok((
                Some(state.decide_account(session, account, SystemTime::now())?),
                (),
            ))
        })
    }

    /// The account a session is logged in to.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn account_of(&self, session: SessionId) -> Result<Option<Arc<str>>, Refusal> {
        self.lock().state.account_of(session)
    }

    /// How many accounts are registered.
    pub fn registered_count(&self) -> usize {
        self.lock().state.registered_count()
    }

    /// Whether `nick` is a registered account's.
    pub fn is_registered_name(&self, nick: &Nick) -> bool {
        self.lock().state.is_registered(nick.key())
    }

    /// Records that `nick`'s account now exists (its nick is protected), or no longer.
    pub(crate) fn set_registered_name(&self, nick: &Nick, is_registered: bool) {
        let change = if is_registered {
            Change::AccountRegistered {
                key: nick.shared_key(),
            }
        } else {
            Change::AccountDropped {
                key: nick.shared_key(),
            }
        };
        let mut core = self.lock();
        // Nobody hears of it: nothing to deliver.
        let _ = self.commit(&mut core, &change);
    }

    /// Disconnects the session using `nick` (IRC's NickServ `GHOST`), which must be the
    /// nick of the account `session` is logged in to; everyone sharing a room with it is
    /// told it quit, with who did it.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`] if `session` is not logged in to that nick's account,
    /// [`Refusal::NoSuchNick`] if nobody else uses it, [`Refusal::SessionClosed`].
    pub fn ghost(&self, session: SessionId, nick: &Nick) -> Result<(), Refusal> {
        let ghost = self.execute(session, |state| {
            let change = state.decide_ghost(session, nick, SystemTime::now())?;
            let ghost = match &change {
                Change::SessionEnded { session, .. } => Some(*session),
                _ => None,
            };
            Ok((Some(change), ghost))
        })?;
        if let Some(ghost) = ghost {
            info!(session_id = %ghost, by = %session, "ghost disconnected");
        }
        Ok(())
    }

    /// The nick of a session.
    pub(crate) fn nick_of(&self, session: SessionId) -> Result<Nick, Refusal> {
        self.lock()
            .state
            .nick_of(session)?
            .ok_or(Refusal::NotRegistered)
    }

    /// The host a session connects from.
    pub(crate) fn host_of(&self, session: SessionId) -> Result<Arc<str>, Refusal> {
        self.lock().state.host_of(session)
    }
}
