//! IRCv3 `draft/message-redaction`: deleting a message that was sent, from history and
//! from the screens of clients that understand `REDACT`.

use std::time::SystemTime;

use teahouse_types::{MessageId, MessageTarget, MessageText, Nick, SessionId, casefold};
use tracing::{info, warn};

use super::Hub;
use crate::error::Refusal;
use crate::history::{HistoryTarget, direct_key, room_key};
use crate::state::Redaction;

impl Hub {
    /// Deletes message `id` of `target` (a room the session is in, or its conversation
    /// with a nick): allowed to its author (by account if it was sent logged in, else by
    /// nick), a room's operators and server operators. It is deleted from the store
    /// first; then everyone who could have seen it gets
    /// [`teahouse_types::EventKind::Redacted`].
    ///
    /// # Errors
    /// [`Refusal::NoSuchMessage`], [`Refusal::NotOperator`], [`Refusal::NoPrivileges`],
    /// [`Refusal::NotInRoom`], [`Refusal::HistoryUnavailable`] (no history kept, or the
    /// store failed), [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub async fn redact(
        &self,
        session: SessionId,
        target: HistoryTarget,
        id: MessageId,
        reason: Option<MessageText>,
    ) -> Result<(), Refusal> {
        let store = self.history_store()?;
        let (_, nick, _) = self.session_view(session, &target)?;
        let key = match &target {
            HistoryTarget::Room(room) => room_key(room),
            HistoryTarget::Direct(other) => direct_key(&nick, other),
        };
        let raw = i64::try_from(id.get()).map_err(|_| Refusal::NoSuchMessage)?;
        let record = store
            .message(&key, raw)
            .await
            .map_err(|error| {
                warn!(%error, "history unavailable for a redaction");
                Refusal::HistoryUnavailable
            })?
            .ok_or(Refusal::NoSuchMessage)?;
        let account = self.account_of(session)?;
        let is_author = match (&record.sender_account, &account) {
            (Some(sent_as), Some(mine)) => casefold(sent_as) == casefold(mine),
            (Some(_), None) => false,
            (None, _) => casefold(&record.sender_nick) == nick.key(),
        };
        let author = Nick::parse(&record.sender_nick).map_err(|_| Refusal::NoSuchMessage)?;
        let message_target = match target {
            HistoryTarget::Room(room) => MessageTarget::Room(room),
            HistoryTarget::Direct(_) => MessageTarget::Direct(
                Nick::parse(&record.target).map_err(|_| Refusal::NoSuchMessage)?,
            ),
        };
        let redaction = || Redaction {
            target: message_target.clone(),
            author: author.clone(),
            is_author,
            id,
            reason: reason.clone(),
        };
        // Allowed? Asked before the store deletes, and decided again when applied.
        let now = SystemTime::now();
        self.lock().state.decide_redact(session, redaction(), now)?;
        store.delete_message(&key, raw).await.map_err(|error| {
            warn!(%error, "a redaction could not delete its message");
            Refusal::HistoryUnavailable
        })?;
        self.execute(session, |state| {
            Ok((Some(state.decide_redact(session, redaction(), now)?), ()))
        })?;
        info!(session_id = %session, message_id = %id, "message redacted");
        Ok(())
    }
}
