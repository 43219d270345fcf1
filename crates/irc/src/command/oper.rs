//! Server operators: OPER, KILL, WALLOPS, and INFO (which anyone may ask).

use teahouse_hub::Refusal;
use teahouse_types::{MessageText, Nick};
use teahouse_wire::irc::{LineBuilder, Message, irc_safe};

use super::{refused, truncate};
use crate::reply::{self, TEXT_LEN};
use crate::session::Session;

/// `OPER name password`: 381 and user mode `+o` if an operator block of that name allows
/// this host and the password matches; 491 for no such block, 464 for a wrong password.
pub(super) fn oper(session: &mut Session, message: &Message) {
    let (name, password) = (message.params[0].clone(), message.params[1].clone());
    let (hub, id) = (session.hub().clone(), session.id);
    session.wait_for(
        async move { hub.oper_up(id, &name, &password).await },
        |session, result| match result {
            Ok(_) => {
                session.is_oper = true;
                session.numeric(reply::RPL_YOUREOPER, &["You are now an IRC operator"]);
                let me = session.target();
                let mut b = LineBuilder::new();
                b.source(&me).command("MODE").param(&me).trailing("+o");
                session.send(b.finish());
            }
            Err(Refusal::AuthFailed) => {
                session.numeric(reply::ERR_PASSWDMISMATCH, &["Password incorrect"]);
            }
            Err(refusal) => refused(session, &refusal),
        },
    );
}

/// `KILL nick [:reason]`: an operator disconnects a user.
pub(super) fn kill(session: &mut Session, message: &Message) {
    let target = &message.params[0];
    let Ok(nick) = Nick::parse(target) else {
        session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        return;
    };
    let reason = message
        .params
        .get(1)
        .map(|r| irc_safe(truncate(r, TEXT_LEN)).into_owned())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "no reason given".to_owned());
    if let Err(refusal) = session.hub().kill(session.id, &nick, &reason) {
        refused(session, &refusal);
    }
}

/// `REHASH`: an operator reloads the server's configuration. 382 once it is read; if it
/// could not be (a file that does not parse, a certificate that does not load), a `FAIL
/// REHASH` that says why, and the running configuration stays.
pub(super) fn rehash(session: &mut Session, _message: &Message) {
    if !session.is_oper {
        refused(session, &Refusal::NoPrivileges);
        return;
    }
    let Some(rehash) = session.config().rehash.clone() else {
        session.fail(
            "REHASH",
            "CANNOT_RELOAD",
            &[],
            "This server was started without a configuration to reload",
        );
        return;
    };
    session.wait_for((rehash.0)(), |session, outcome| match outcome {
        Ok(()) => session.numeric(reply::RPL_REHASHING, &["config", "Rehashing"]),
        Err(error) => {
            let text = format!("Configuration not reloaded, the running one stays: {error}");
            session.fail("REHASH", "CONFIG_ERROR", &[], truncate(&text, TEXT_LEN));
        }
    });
}

/// `WALLOPS :text`: an operator's notice to everyone with user mode `+w`.
pub(super) fn wallops(session: &mut Session, message: &Message) {
    let text = irc_safe(truncate(&message.params[0], TEXT_LEN)).into_owned();
    let Ok(text) = MessageText::parse(&text) else {
        session.numeric(
            reply::ERR_NEEDMOREPARAMS,
            &["WALLOPS", "Not enough parameters"],
        );
        return;
    };
    if let Err(refusal) = session.hub().wallops(session.id, text) {
        refused(session, &refusal);
    }
}

/// The longest host `CHGHOST` gives (`HOSTLEN` of most servers).
const HOST_LEN: usize = 63;

/// `CHGHOST nick [user] host`: an operator changes the user name and host a user shows
/// (a virtual host). Clients with `chghost` see `CHGHOST`.
pub(super) fn chghost(session: &mut Session, message: &Message) {
    let target = &message.params[0];
    let Ok(nick) = Nick::parse(target) else {
        session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        return;
    };
    let (user, host) = match message.params.get(2) {
        Some(host) => (Some(message.params[1].as_str()), host.as_str()),
        None => (None, message.params[1].as_str()),
    };
    // A host is letters, digits, `.`, `-`, `:` and `/`, and starts with neither `:` nor
    // `-`; a user name is what USER allows.
    let is_host = !host.is_empty()
        && host.len() <= HOST_LEN
        && !host.starts_with([':', '-'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:/_".contains(&b));
    let is_user = user.is_none_or(|u| {
        !u.is_empty() && u.len() <= 16 && u.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
    });
    if !is_host || !is_user {
        session.standard_reply("CHGHOST", "INVALID_HOST", &[], "Invalid user name or host");
        return;
    }
    let user = match user {
        Some(user) => user.to_owned(),
        None => match session.hub().user_info(session.id, &nick) {
            Some(info) => info.profile.user.to_string(),
            None => {
                session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
                return;
            }
        },
    };
    if let Err(refusal) = session.hub().change_host(session.id, &nick, &user, host) {
        refused(session, &refusal);
    }
}

/// `INFO`: what this server is.
pub(super) fn info(session: &mut Session, _message: &Message) {
    let lines = [
        format!("{} {}", "teahouse", crate::VERSION),
        "A chat server: plain text, IRC and IRC over WebSocket on one hub.".to_owned(),
        "Written in Rust; history in SQLite or PostgreSQL.".to_owned(),
    ];
    for line in &lines {
        session.numeric(reply::RPL_INFO, &[line]);
    }
    session.numeric(reply::RPL_ENDOFINFO, &["End of /INFO list"]);
}
