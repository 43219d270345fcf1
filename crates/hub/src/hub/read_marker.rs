//! IRCv3 `draft/read-marker`: per account and target, the time of the last message the
//! user read, kept by the store and shared by every session logged in to the account.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use teahouse_types::{Change, MessageTarget, SessionId, casefold};
use tracing::warn;

use super::Hub;
use crate::error::Refusal;

/// The store's key for a target: `#` and the room's key, or the other nick's key.
fn target_key(target: &MessageTarget) -> String {
    match target {
        MessageTarget::Room(room) => format!("#{}", room.key()),
        MessageTarget::Direct(nick) => nick.key().to_owned(),
    }
}

fn millis(at: SystemTime) -> i64 {
    i64::try_from(crate::history::millis(at)).unwrap_or(i64::MAX)
}

fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn store_failed(error: teahouse_store::Error) -> Refusal {
    warn!(%error, "read markers unavailable");
    Refusal::AccountsUnavailable
}

impl Hub {
    /// The read marker of the session's account for `target`, if one was set.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`] without an account, [`Refusal::AccountsUnavailable`],
    /// [`Refusal::SessionClosed`].
    pub async fn read_marker(
        &self,
        session: SessionId,
        target: &MessageTarget,
    ) -> Result<Option<SystemTime>, Refusal> {
        let account = self.account_of(session)?.ok_or(Refusal::NotLoggedIn)?;
        let store = self.accounts()?.store();
        let stored = store
            .read_marker(&casefold(&account), &target_key(target))
            .await
            .map_err(store_failed)?;
        Ok(stored.map(time_of))
    }

    /// Moves the read marker of the session's account for `target` to `at` (never back,
    /// never past now), and tells every session of the account where it is now. Returns
    /// the marker: `at`, or the later one already stored (which only this session is told).
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`] without an account, [`Refusal::AccountsUnavailable`],
    /// [`Refusal::SessionClosed`].
    pub async fn mark_read(
        &self,
        session: SessionId,
        target: MessageTarget,
        at: SystemTime,
    ) -> Result<(SystemTime, bool), Refusal> {
        let account = self.account_of(session)?.ok_or(Refusal::NotLoggedIn)?;
        let key = casefold(&account);
        let at = time_of(millis(at.min(SystemTime::now())));
        let store = self.accounts()?.store();
        let now = store
            .set_read_marker(&key, &target_key(&target), millis(at))
            .await
            .map_err(store_failed)?;
        let marker = time_of(now);
        if marker > at {
            return Ok((marker, false));
        }
        self.execute(session, |_| {
            Ok((
                Some(Change::ReadMarked {
                    account,
                    target,
                    at: marker,
                }),
                (),
            ))
        })?;
        Ok((marker, true))
    }
}
