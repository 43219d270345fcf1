//! Server-level commands: PING, PONG, QUIT, VERSION, TIME, LUSERS, MOTD.

use teahouse_types::{LeaveReason, MessageText};
use teahouse_wire::irc::Message;

use super::send_isupport;
use crate::reply;
use crate::session::Session;

/// `PING token`: answered with `PONG server :token`.
pub(super) fn ping(session: &mut Session, message: &Message) {
    let server = session.server_name().to_owned();
    let mut b = session.server_line();
    b.command("PONG")
        .param(&server)
        .trailing(&message.params[0]);
    session.send(b.finish());
}

/// `PONG token`: any line proves liveness, so there is nothing more to do.
pub(super) fn pong(_session: &mut Session, _message: &Message) {}

/// `QUIT [:reason]`: says goodbye, tells everyone, closes.
pub(super) fn quit(session: &mut Session, message: &Message) {
    let reason = message
        .params
        .first()
        .and_then(|r| MessageText::parse(r).ok());
    let shown = reason
        .as_ref()
        .map_or_else(|| "Quit".to_owned(), |r| format!("Quit: {r}"));
    let host = session.host.clone();
    session.send(reply::error_line(&format!(
        "Closing link: {host} ({shown})"
    )));
    session.close = Some(LeaveReason::Requested(reason));
}

/// `VERSION`: 351, then the ISUPPORT lines.
pub(super) fn version(session: &mut Session, _message: &Message) {
    let server = session.server_name().to_owned();
    session.numeric(
        reply::RPL_VERSION,
        &[crate::VERSION, &server, "teahouse chat server"],
    );
    send_isupport(session);
}

/// `TIME`: 391 with the server's time.
pub(super) fn time(session: &mut Session, _message: &Message) {
    let server = session.server_name().to_owned();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    session.numeric(reply::RPL_TIME, &[&server, &now]);
}

/// `LUSERS`.
pub(super) fn lusers(session: &mut Session, _message: &Message) {
    send_lusers(session);
}

/// `MOTD`.
pub(super) fn motd(session: &mut Session, _message: &Message) {
    send_motd(session);
}

/// 251, 253, 254, 255, 265, 266.
pub(crate) fn send_lusers(session: &mut Session) {
    let stats = session.hub().stats();
    let visible = stats.users - stats.invisible;
    let text = format!(
        "There are {visible} users and {} invisible on {} servers",
        stats.invisible, stats.servers
    );
    session.numeric(reply::RPL_LUSERCLIENT, &[&text]);
    if stats.operators > 0 {
        session.numeric(
            reply::RPL_LUSEROP,
            &[&stats.operators.to_string(), "operator(s) online"],
        );
    }
    if stats.unregistered > 0 {
        session.numeric(
            reply::RPL_LUSERUNKNOWN,
            &[&stats.unregistered.to_string(), "unknown connection(s)"],
        );
    }
    session.numeric(
        reply::RPL_LUSERCHANNELS,
        &[&stats.rooms.to_string(), "channels formed"],
    );
    let me = format!(
        "I have {} clients and {} servers",
        stats.local_users,
        stats.servers - 1
    );
    session.numeric(reply::RPL_LUSERME, &[&me]);
    let (users, max) = (stats.users.to_string(), stats.max_users.to_string());
    let local_users = stats.local_users.to_string();
    let local = format!("Current local users {local_users}, max {max}");
    session.numeric(reply::RPL_LOCALUSERS, &[&local_users, &max, &local]);
    let global = format!("Current global users {users}, max {max}");
    session.numeric(reply::RPL_GLOBALUSERS, &[&users, &max, &global]);
}

/// 375, 372…, 376; or 422 without a MOTD.
pub(crate) fn send_motd(session: &mut Session) {
    let motd = session.config().motd.clone();
    if motd.is_empty() {
        session.numeric(reply::ERR_NOMOTD, &["MOTD File is missing"]);
        return;
    }
    let server = session.server_name().to_owned();
    session.numeric(
        reply::RPL_MOTDSTART,
        &[&format!("- {server} Message of the day - ")],
    );
    for line in &motd {
        session.numeric(reply::RPL_MOTD, &[&format!("- {line}")]);
    }
    session.numeric(reply::RPL_ENDOFMOTD, &["End of /MOTD command."]);
}
