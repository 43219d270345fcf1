//! User commands: WHO, WHOIS, WHOWAS, AWAY, ISON, USERHOST, SETNAME, and MODE on a nick.

use std::time::SystemTime;

use teahouse_hub::UserInfo;
use teahouse_types::{MemberStatus, MessageText, Nick, RoomName, UserMode};
use teahouse_wire::irc::{Message, irc_safe};

use super::{channel, parse_channel, refused, truncate};
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
        let mut modes = String::from("+");
        if let Some(info) = info {
            for (on, letter) in [
                (info.profile.is_bot, 'B'),
                (info.is_invisible, 'i'),
                (info.oper.is_some(), 'o'),
                (info.is_wallops, 'w'),
            ] {
                if on {
                    modes.push(letter);
                }
            }
        }
        session.numeric(reply::RPL_UMODEIS, &[&modes]);
        return;
    };
    // The changes made, as `+i`, `-w`, … in order.
    let mut applied: Vec<(bool, char)> = Vec::new();
    for (is_set, letter) in super::mode_letters(modestring) {
        let changed = match letter {
            'i' => session.hub().set_invisible(session.id, is_set).is_ok(),
            'w' => session
                .hub()
                .set_user_mode(session.id, UserMode::Wallops, is_set)
                .unwrap_or(false),
            'B' => session
                .hub()
                .set_user_mode(session.id, UserMode::Bot, is_set)
                .unwrap_or(false),
            // `+o` only through OPER; `-o` gives it up.
            'o' if !is_set && session.is_oper => {
                session.is_oper = false;
                session.hub().oper_down(session.id).is_ok()
            }
            'o' => false,
            _ => {
                session.numeric(reply::ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]);
                false
            }
        };
        if changed {
            applied.push((is_set, letter));
        }
    }
    if !applied.is_empty() {
        let mut modes = String::new();
        let mut sign = None;
        for (is_set, letter) in applied {
            if sign != Some(is_set) {
                modes.push(if is_set { '+' } else { '-' });
                sign = Some(is_set);
            }
            modes.push(letter);
        }
        let mut b = teahouse_wire::irc::LineBuilder::new();
        b.source(&me).command("MODE").param(&me).trailing(&modes);
        session.send(b.finish());
    }
}

/// `WHO mask`: a channel's members, or users matching a mask.
pub(super) fn who(session: &mut Session, message: &Message) {
    let mask = message.params.first().map_or("*", String::as_str);
    // WHOX: `WHO mask %fields[,token]` asks for a 354 reply with just those fields.
    let whox = message.params.get(1).and_then(|p| Whox::parse(p));
    let is_multi = session.caps.has(Cap::MULTI_PREFIX);
    let mut rows: Vec<WhoRow> = Vec::new();
    if let Some(room) = parse_channel(mask) {
        if let Ok((members, _)) = session.hub().members_seen_by(session.id, &room) {
            let chan = channel_name(room.as_str());
            for member in members {
                let flags = who_flags(
                    &member.profile,
                    member.is_away,
                    member.is_oper,
                    member.status,
                    is_multi,
                );
                rows.push(WhoRow {
                    chan: chan.clone(),
                    profile: member.profile,
                    flags,
                    idle: None,
                    address: None,
                });
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
                &user.profile,
                user.away.is_some(),
                user.oper.is_some(),
                status,
                is_multi,
            );
            let idle = SystemTime::now()
                .duration_since(user.last_active)
                .unwrap_or_default()
                .as_secs();
            rows.push(WhoRow {
                chan,
                profile: user.profile,
                flags,
                idle: Some(idle),
                address: Some(user.address),
            });
        }
    }
    for row in &rows {
        match &whox {
            Some(whox) => whox.reply(session, row),
            None => who_reply(session, &row.chan, &row.profile, &row.flags),
        }
    }
    session.numeric(reply::RPL_ENDOFWHO, &[mask, "End of /WHO list"]);
}

/// One user in a WHO reply.
struct WhoRow {
    chan: String,
    profile: std::sync::Arc<teahouse_types::Profile>,
    flags: String,
    /// Seconds since they last spoke, where known.
    idle: Option<u64>,
    /// Their real address, where known (their host otherwise).
    address: Option<std::sync::Arc<str>>,
}

/// The fields a WHOX query asks for (`%tcuihsnfdlaor`) and its token.
struct Whox {
    fields: String,
    token: String,
}

impl Whox {
    /// `%fields[,token]`; `None` if it is not a WHOX query. The token is at most three
    /// digits, as the WHOX convention has it; anything else is dropped.
    fn parse(param: &str) -> Option<Self> {
        let spec = param.strip_prefix('%')?;
        let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
        let token =
            if !token.is_empty() && token.len() <= 3 && token.bytes().all(|b| b.is_ascii_digit()) {
                token.to_owned()
            } else {
                "0".to_owned()
            };
        Some(Self {
            fields: fields.to_owned(),
            token,
        })
    }

    /// `354 me [token] [channel] [user] [ip] [host] [server] [nick] [flags] [hops] [idle]
    /// [account] [oplevel] [:realname]`: the asked fields, in this fixed order.
    fn reply(&self, session: &mut Session, row: &WhoRow) {
        let has = |c: char| self.fields.contains(c);
        let p = &row.profile;
        let server = session.server_name().to_owned();
        // The address is for operators; others see the placeholder, as on Ergo.
        let ip = if session.is_oper {
            row.address.as_deref().unwrap_or(&p.host).to_owned()
        } else {
            "255.255.255.255".to_owned()
        };
        let idle = row.idle.unwrap_or(0).to_string();
        let account = p.account.as_deref().unwrap_or("0").to_owned();
        let mut params: Vec<&str> = Vec::new();
        for (letter, value) in [
            ('t', self.token.as_str()),
            ('c', row.chan.as_str()),
            ('u', &p.user),
            ('i', &ip),
            ('h', &p.host),
            ('s', &server),
            ('n', p.nick.as_str()),
            ('f', &row.flags),
            ('d', "0"),
            ('l', &idle),
            ('a', &account),
            ('o', "n/a"),
        ] {
            if has(letter) {
                params.push(value);
            }
        }
        if has('r') {
            params.push(&p.realname);
            session.numeric(reply::RPL_WHOSPCRPL, &params);
        } else {
            session.numeric_data(reply::RPL_WHOSPCRPL, &params);
        }
    }
}

/// `H` here or `G` gone, `*` a server operator, `B` a bot, then the channel prefixes.
fn who_flags(
    profile: &teahouse_types::Profile,
    is_away: bool,
    is_oper: bool,
    status: MemberStatus,
    is_multi: bool,
) -> String {
    let mut flags = String::from(if is_away { "G" } else { "H" });
    if is_oper {
        flags.push('*');
    }
    if profile.is_bot {
        flags.push('B');
    }
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
    if info.oper.is_some() {
        session.numeric(reply::RPL_WHOISOPERATOR, &[nick, "is an IRC operator"]);
    }
    if p.is_bot {
        let network = session.config().network.clone();
        session.numeric(
            reply::RPL_WHOISBOT,
            &[nick, &format!("is a Bot on {network}")],
        );
    }
    if let Some(account) = &p.account {
        session.numeric(reply::RPL_WHOISACCOUNT, &[nick, account, "is logged in as"]);
    }
    // Where the user really connects from: for operators, and for the user themself.
    if session.is_oper || session.nick.as_ref() == Some(&p.nick) {
        let mask = format!("{}@{}", p.user, info.address);
        session.numeric(
            reply::RPL_WHOISACTUALLY,
            &[nick, &mask, &info.address, "Actual user@host, Actual IP"],
        );
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
        session.fail("SETNAME", "INVALID_REALNAME", &[], "Real name is not valid");
    }
}
