//! `REDACT target msgid [:reason]` (IRCv3 `draft/message-redaction`).

use teahouse_hub::{HistoryTarget, Refusal};
use teahouse_types::{MessageId, MessageText, Nick};
use teahouse_wire::irc::{Message, irc_safe};

use super::{parse_channel, truncate};
use crate::reply::TEXT_LEN;
use crate::session::Session;

/// Deletes a message of a channel or a conversation; the server tells everyone who could
/// have seen it (with the capability), the one redacting included.
pub(super) fn redact(session: &mut Session, message: &Message) {
    let (name, msgid) = (message.params[0].clone(), message.params[1].clone());
    let target = match parse_channel(&name) {
        Some(room) => HistoryTarget::Room(room),
        None => match Nick::parse(&name) {
            Ok(nick) => HistoryTarget::Direct(nick),
            Err(_) => {
                let text = format!("You cannot delete messages from {name}");
                session.fail("REDACT", "INVALID_TARGET", &[&name], &text);
                return;
            }
        },
    };
    let Ok(id) = msgid.parse::<u64>().map(MessageId::from_raw) else {
        let text = "This message does not exist or is too old";
        session.fail("REDACT", "UNKNOWN_MSGID", &[&name, &msgid], text);
        return;
    };
    let reason = message
        .params
        .get(2)
        .map(|r| irc_safe(truncate(r, TEXT_LEN)).into_owned())
        .and_then(|r| MessageText::parse(&r).ok());
    let (hub, id_of) = (session.hub().clone(), session.id);
    session.wait_for(
        async move { hub.redact(id_of, target, id, reason).await },
        move |session, result| match result {
            Ok(()) => {}
            Err(Refusal::NoSuchMessage) => session.fail(
                "REDACT",
                "UNKNOWN_MSGID",
                &[&name, &msgid],
                "This message does not exist or is too old",
            ),
            Err(Refusal::NotOperator(_) | Refusal::NoPrivileges) => session.fail(
                "REDACT",
                "REDACT_FORBIDDEN",
                &[&name, &msgid],
                "You are not authorised to delete this message",
            ),
            Err(Refusal::NotInRoom(_)) => {
                let text = format!("You cannot delete messages from {name}");
                session.fail("REDACT", "INVALID_TARGET", &[&name], &text);
            }
            Err(refusal) => super::refused(session, &refusal),
        },
    );
}
