//! Server operators: OPER, KILL, WALLOPS, and INFO (which anyone may ask).

use teahouse_hub::{BanTarget, Refusal};
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

/// `KLINE [duration] mask [:reason]` and `DLINE [duration] address [:reason]`: an
/// operator bans a `nick!user@host` mask (or `user@host`, or `$a:account`), or an address
/// or CIDR range, for `duration` (minutes as a number, or `30m`, `2h`, `7d`; until lifted
/// without one). Stored, so it outlives a restart; whoever it matches now is disconnected.
/// Either command takes either kind of target.
pub(super) fn kline(session: &mut Session, message: &Message) {
    if !session.is_oper {
        refused(session, &Refusal::NoPrivileges);
        return;
    }
    let command = message.command.to_ascii_uppercase();
    let mut params = message.params.iter();
    let mut first = params.next().map_or("", String::as_str);
    let duration = match ban_duration(first) {
        Some(duration) => {
            first = params.next().map_or("", String::as_str);
            Some(duration)
        }
        None => None,
    };
    let target = match BanTarget::parse(first) {
        Ok(target) => target,
        Err(refusal) => {
            session.fail(&command, "INVALID_PARAMS", &[], &refusal.to_string());
            return;
        }
    };
    let reason = params
        .next()
        .map(|r| irc_safe(truncate(r, TEXT_LEN)).into_owned())
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "no reason given".to_owned());
    let (hub, id) = (session.hub().clone(), session.id);
    let shown = target.to_string();
    session.wait_for(
        async move {
            hub.add_ban(id, target, duration, &reason)
                .await
                .map(|n| (n, reason))
        },
        move |session, outcome| match outcome {
            Ok((killed, reason)) => {
                let how_long = duration.map_or_else(
                    || "until lifted".to_owned(),
                    |d| format!("for {}", humantime::format_duration(d)),
                );
                let text =
                    format!("Added ban on {shown} {how_long}: {reason} ({killed} disconnected)");
                session.server_notice(&text);
            }
            Err(refusal) => refused(session, &refusal),
        },
    );
}

/// `UNKLINE mask` and `UNDLINE address`: an operator lifts a ban.
pub(super) fn unkline(session: &mut Session, message: &Message) {
    if !session.is_oper {
        refused(session, &Refusal::NoPrivileges);
        return;
    }
    let command = message.command.to_ascii_uppercase();
    let target = match BanTarget::parse(&message.params[0]) {
        Ok(target) => target,
        Err(refusal) => {
            session.fail(&command, "INVALID_PARAMS", &[], &refusal.to_string());
            return;
        }
    };
    let (hub, id) = (session.hub().clone(), session.id);
    let shown = target.to_string();
    session.wait_for(
        async move { hub.remove_ban(id, &target).await },
        move |session, outcome| match outcome {
            Ok(true) => session.server_notice(&format!("Removed ban on {shown}")),
            Ok(false) => session.server_notice(&format!("No ban on {shown}")),
            Err(refusal) => refused(session, &refusal),
        },
    );
}

/// `STATS k` (K-lines: masks and accounts) and `STATS d` (D-lines: addresses), for
/// operators: one line per ban in force, with when it ends, who set it and why; then 219.
/// Other letters (and everyone but operators, for these) get only the end.
pub(super) fn stats(session: &mut Session, message: &Message) {
    let letter = message.params[0].chars().next().unwrap_or('*');
    let query = letter.to_ascii_lowercase();
    if matches!(query, 'k' | 'd') && !session.is_oper {
        refused(session, &Refusal::NoPrivileges);
        return;
    }
    if matches!(query, 'k' | 'd') {
        for ban in session.hub().bans().list() {
            let is_address = matches!(ban.target, BanTarget::Address(_));
            if is_address != (query == 'd') {
                continue;
            }
            let until = ban.expires.map_or_else(
                || "permanent".to_owned(),
                |at| humantime::format_rfc3339_seconds(at).to_string(),
            );
            let (numeric, kind) = if is_address {
                (reply::RPL_STATSDLINE, "D")
            } else {
                (reply::RPL_STATSKLINE, "K")
            };
            let text = format!("{} (set by {})", ban.reason, ban.set_by);
            let target = ban.target.to_string();
            session.numeric(
                numeric,
                &[kind, &target, &until, truncate(&irc_safe(&text), TEXT_LEN)],
            );
        }
    }
    let letter = letter.to_string();
    session.numeric(reply::RPL_ENDOFSTATS, &[&letter, "End of /STATS report"]);
}

/// A ban's duration: a number of minutes (as ircd-hybrid and Charybdis take it), or a
/// duration such as `30m` or `7d`; `None` if `text` is neither (it is the mask then).
fn ban_duration(text: &str) -> Option<std::time::Duration> {
    if let Ok(minutes) = text.parse::<u64>() {
        return (minutes > 0).then(|| std::time::Duration::from_secs(minutes.saturating_mul(60)));
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return humantime::parse_duration(text)
            .ok()
            .filter(|d| !d.is_zero());
    }
    None
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
