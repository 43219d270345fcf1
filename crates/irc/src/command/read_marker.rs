//! `MARKREAD target [timestamp=…]` (IRCv3 `draft/read-marker`): where the user has read
//! to, shared by every client logged in to the same account.

use std::time::SystemTime;

use teahouse_hub::Refusal;
use teahouse_types::{MessageTarget, Nick};
use teahouse_wire::irc::Message;

use super::parse_channel;
use crate::render::target_name;
use crate::session::Session;

/// `timestamp=…` for a marker, `*` for none.
pub(crate) fn marker_param(at: Option<SystemTime>) -> String {
    at.map_or_else(
        || "*".to_owned(),
        |at| format!("timestamp={}", humantime::format_rfc3339_millis(at)),
    )
}

/// `:server MARKREAD target timestamp=…|*`.
pub(super) fn send_marker(session: &mut Session, target: &MessageTarget, at: Option<SystemTime>) {
    let mut b = session.server_line();
    b.command("MARKREAD")
        .param(&target_name(target))
        .param(&marker_param(at));
    session.send(b.finish());
}

/// `MARKREAD target` asks for the marker; `MARKREAD target timestamp=…` moves it.
pub(super) fn markread(session: &mut Session, message: &Message) {
    let Some(name) = message.params.first() else {
        session.fail("MARKREAD", "NEED_MORE_PARAMS", &[], "Missing parameters");
        return;
    };
    let target = match parse_channel(name) {
        Some(room) => MessageTarget::Room(room),
        None => match Nick::parse(name) {
            Ok(nick) => MessageTarget::Direct(nick),
            Err(_) => {
                session.fail("MARKREAD", "INVALID_PARAMS", &[name], "Invalid parameters");
                return;
            }
        },
    };
    let at = match message.params.get(1) {
        None => None,
        Some(param) => {
            let time = param
                .strip_prefix("timestamp=")
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
            let Some(time) = time else {
                session.fail("MARKREAD", "INVALID_PARAMS", &[param], "Invalid parameters");
                return;
            };
            Some(time)
        }
    };
    let (hub, id) = (session.hub().clone(), session.id);
    let name = name.clone();
    session.wait_for(
        async move {
            match at {
                None => hub
                    .read_marker(id, &target)
                    .await
                    .map(|m| (target, m, false)),
                Some(at) => hub
                    .mark_read(id, target.clone(), at)
                    .await
                    .map(|(m, is_moved)| (target, Some(m), is_moved)),
            }
        },
        move |session, result| match result {
            // Moved: every client of the account, this one included, hears it from the hub.
            Ok((_, _, true)) => {}
            Ok((target, marker, false)) => send_marker(session, &target, marker),
            Err(Refusal::NotLoggedIn) => session.fail(
                "MARKREAD",
                "ACCOUNT_REQUIRED",
                &[&name],
                "You must be logged in to an account to keep read markers",
            ),
            Err(_) => session.fail(
                "MARKREAD",
                "INTERNAL_ERROR",
                &[&name],
                "The read timestamp could not be set",
            ),
        },
    );
}
