//! User commands: WHO, WHOIS, WHOWAS, AWAY, ISON, USERHOST, SETNAME, and MODE on a nick.

use std::time::SystemTime;

use teahouse_hub::UserInfo;
use teahouse_types::{MemberStatus, MessageText, Nick, RoomName};
use teahouse_wire::irc::{Message, irc_safe};

use super::{channel, parse_channel, refused};
use crate::cap::Cap;
use crate::render::channel as channel_name;
use crate::reply::{self, TEXT_LEN};
use crate::session::Session;

/// At most this many WHO replies for a mask: a whole-network WHO is not a way to make the
/// server write megabytes.
const MAX_WHO_REPLIES: usize = 500;

/// `MODE target …`: channel modes, or the user's own modes.
pub(super) fn mode(session: &mut Session, message: &Message) {
    let target = &message.params[0];
    if target.starts_with('#') {
        channel::mode(session, message);
        return;
    }
    let is_self = Nick::parse(target)
        .ok()
        .zip(session.nick.clone())
        .is_some_and(|(t, me)| t == me);
    if !is_self {
        let exists = Nick::parse(target)
            .ok()
            .and_then(|n| session.hub().user_info(session.id, &n))
            .is_some();
        if exists {
            session.numeric(
                reply::ERR_USERSDONTMATCH,
                &["Can't change mode for other users"],
            );
        } else {
            session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        }
        return;
    }
    let me = session.target();
    let Some(modestring) = message.params.get(1) else {
        let info = session
            .nick
            .clone()
            .and_then(|n| session.hub().user_info(session.id, &n));
        let modes = if info.is_some_and(|i| i.is_invisible) {
            "+i"
        } else {
            "+"
        };
        session.numeric(reply::RPL_UMODEIS, &[modes]);
        return;
    };
    let mut is_set = true;
    let mut applied = None;
    for letter in modestring.chars() {
        match letter {
            '+' => is_set = true,
            '-' => is_set = false,
            'i' => {
                if session.hub().set_invisible(session.id, is_set).is_ok() {
                    applied = Some(is_set);
                }
            }
            _ => session.numeric(reply::ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]),
        }
    }
    if let Some(is_set) = applied {
        let mut b = teahouse_wire::irc::LineBuilder::new();
        b.source(&me)
            .command("MODE")
            .param(&me)
            .trailing(if is_set { "+i" } else { "-i" });
        session.send(b.finish());
    }
}

/// `WHO mask`: a channel's members, or users matching a mask.
pub(super) fn who(session: &mut Session, message: &Message) {
    let mask = message.params.first().map_or("*", String::as_str);
    if let Some(room) = parse_channel(mask) {
        if let Ok((members, _)) = session.hub().members_seen_by(session.id, &room) {
            let chan = channel_name(room.as_str());
            for member in members {
                let flags = who_flags(
                    member.is_away,
                    member.status,
                    session.caps.has(Cap::MULTI_PREFIX),
                );
                who_reply(session, &chan, &member.profile, &flags);
            }
        }
    } else {
        let asker = session.id;
        for user in session.hub().find_users(asker, mask, MAX_WHO_REPLIES) {
            let (chan, status) = user
                .rooms
                .first()
                .map_or(("*".to_owned(), MemberStatus::default()), |(r, s)| {
                    (channel_name(r.as_str()), *s)
                });
            let flags = who_flags(
                user.away.is_some(),
                status,
                session.caps.has(Cap::MULTI_PREFIX),
            );
            who_reply(session, &chan, &user.profile, &flags);
        }
    }
    session.numeric(reply::RPL_ENDOFWHO, &[mask, "End of /WHO list"]);
}

fn who_flags(is_away: bool, status: MemberStatus, is_multi: bool) -> String {
    let mut flags = String::from(if is_away { "G" } else { "H" });
    if status.is_operator {
        flags.push('@');
    }
    if status.is_voiced && (is_multi || !status.is_operator) {
        flags.push('+');
    }
    flags
}

fn who_reply(session: &mut Session, chan: &str, profile: &teahouse_types::Profile, flags: &str) {
    let server = session.server_name().to_owned();
    let real = format!("0 {}", profile.realname);
    session.numeric(
        reply::RPL_WHOREPLY,
        &[
            chan,
            &profile.user,
            &profile.host,
            &server,
            profile.nick.as_str(),
            flags,
            &real,
        ],
    );
}

/// `WHOIS [server] nick`.
pub(super) fn whois(session: &mut Session, message: &Message) {
    let wanted = message.params.last().map_or("", String::as_str);
    let info = Nick::parse(wanted)
        .ok()
        .and_then(|nick| session.hub().user_info(session.id, &nick));
    let Some(info) = info else {
        session.numeric(reply::ERR_NOSUCHNICK, &[wanted, "No such nick/channel"]);
        session.numeric(reply::RPL_ENDOFWHOIS, &[wanted, "End of /WHOIS list"]);
        return;
    };
    send_whois(session, &info);
}

fn send_whois(session: &mut Session, info: &UserInfo) {
    let p = &info.profile;
    let nick = p.nick.as_str();
    session.numeric(
        reply::RPL_WHOISUSER,
        &[nick, &p.user, &p.host, "*", &p.realname],
    );
    if !info.rooms.is_empty() {
        let is_multi = session.caps.has(Cap::MULTI_PREFIX);
        let list: Vec<String> = info
            .rooms
            .iter()
            .map(|(room, status): &(RoomName, MemberStatus)| {
                let mut entry = String::new();
                if status.is_operator {
                    entry.push('@');
                }
                if status.is_voiced && (is_multi || !status.is_operator) {
                    entry.push('+');
                }
                entry.push_str(&channel_name(room.as_str()));
                entry
            })
            .collect();
        session.numeric(reply::RPL_WHOISCHANNELS, &[nick, &list.join(" ")]);
    }
    let server = session.server_name().to_owned();
    let network = session.config().network.clone();
    session.numeric(reply::RPL_WHOISSERVER, &[nick, &server, &network]);
    if let Some(account) = &p.account {
        session.numeric(reply::RPL_WHOISACCOUNT, &[nick, account, "is logged in as"]);
    }
    if let Some(away) = &info.away {
        session.numeric(reply::RPL_AWAY, &[nick, away.as_str()]);
    }
    let idle = SystemTime::now()
        .duration_since(info.last_active)
        .map_or(0, |d| d.as_secs())
        .to_string();
    let signon = channel::secs(info.signon);
    session.numeric(
        reply::RPL_WHOISIDLE,
        &[nick, &idle, &signon, "seconds idle, signon time"],
    );
    session.numeric(reply::RPL_ENDOFWHOIS, &[nick, "End of /WHOIS list"]);
}

/// `WHOWAS nick [count]`.
pub(super) fn whowas(session: &mut Session, message: &Message) {
    let wanted = &message.params[0];
    let count = message
        .params
        .get(1)
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|c| *c > 0)
        .unwrap_or(10)
        .min(10);
    let gone = Nick::parse(wanted)
        .map(|nick| session.hub().whowas(&nick, count))
        .unwrap_or_default();
    if gone.is_empty() {
        session.numeric(
            reply::ERR_WASNOSUCHNICK,
            &[wanted, "There was no such nickname"],
        );
    }
    let server = session.server_name().to_owned();
    for departed in gone {
        let p = &departed.profile;
        session.numeric(
            reply::RPL_WHOWASUSER,
            &[p.nick.as_str(), &p.user, &p.host, "*", &p.realname],
        );
        let when = humantime::format_rfc3339_seconds(departed.at).to_string();
        session.numeric(reply::RPL_WHOISSERVER, &[p.nick.as_str(), &server, &when]);
    }
    session.numeric(reply::RPL_ENDOFWHOWAS, &[wanted, "End of WHOWAS"]);
}

/// `AWAY [:message]`.
pub(super) fn away(session: &mut Session, message: &Message) {
    let text = message
        .params
        .first()
        .filter(|t| !t.is_empty())
        .map(|t| irc_safe(truncate(t, TEXT_LEN)).into_owned())
        .and_then(|t| MessageText::parse(&t).ok());
    let is_away = text.is_some();
    match session.hub().set_away(session.id, text) {
        Ok(()) if is_away => {
            session.numeric(reply::RPL_NOWAWAY, &["You have been marked as being away"])
        }
        Ok(()) => session.numeric(
            reply::RPL_UNAWAY,
            &["You are no longer marked as being away"],
        ),
        Err(refusal) => refused(session, &refusal),
    }
}

/// `ISON nick nick…`.
pub(super) fn ison(session: &mut Session, message: &Message) {
    let mut online = Vec::new();
    for wanted in message
        .params
        .iter()
        .flat_map(|p| p.split(' '))
        .filter(|n| !n.is_empty())
        .take(64)
    {
        if let Some(info) = Nick::parse(wanted)
            .ok()
            .and_then(|n| session.hub().user_info(session.id, &n))
        {
            online.push(info.profile.nick.as_str().to_owned());
        }
    }
    session.numeric(reply::RPL_ISON, &[&online.join(" ")]);
}

/// `USERHOST nick{ nick}` (at most five).
pub(super) fn userhost(session: &mut Session, message: &Message) {
    let mut entries = Vec::new();
    for wanted in message.params.iter().take(5) {
        if let Some(info) = Nick::parse(wanted)
            .ok()
            .and_then(|n| session.hub().user_info(session.id, &n))
        {
            let p = &info.profile;
            let away = if info.away.is_some() { '-' } else { '+' };
            entries.push(format!("{}={away}{}@{}", p.nick, p.user, p.host));
        }
    }
    session.numeric(reply::RPL_USERHOST, &[&entries.join(" ")]);
}

/// `SETNAME :realname` (the `setname` capability).
pub(super) fn setname(session: &mut Session, message: &Message) {
    let realname = &message.params[0];
    let valid = !realname.is_empty() && !realname.chars().any(char::is_control);
    if !valid || session.hub().set_realname(session.id, realname).is_err() {
        let mut b = session.server_line();
        b.command("FAIL")
            .param("SETNAME")
            .param("INVALID_REALNAME")
            .trailing("Real name is not valid");
        session.send(b.finish());
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
