//! Channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE, and MODE on a channel.

use std::time::{SystemTime, UNIX_EPOCH};

use teahouse_hub::{Refusal, RoomMember};
use teahouse_types::{
    MessageTarget, MessageText, ModeChange, Nick, RoomMode, RoomName, casefold, mask_matches,
};
use teahouse_wire::irc::{Message, irc_safe};

use super::{no_such_channel, parse_channel, refused};
use crate::cap::Cap;
use crate::render::channel as channel_name;
use crate::reply::{self, MAX_MODES};
use crate::session::Session;

/// Room parameters bigger than this are not worth answering line by line (a `JOIN` of a
/// thousand channels): the rest are ignored.
const MAX_CHANNELS_PER_COMMAND: usize = 32;

/// `JOIN #a,#b [key1,key2]` or `JOIN 0` (leave every channel).
pub(super) fn join(session: &mut Session, message: &Message) {
    if message.params[0] == "0" {
        let Some(profile) = session.hub().profile_of(session.id) else {
            return;
        };
        let info = session.hub().user_info(session.id, &profile.nick);
        for (room, _) in info.map(|i| i.rooms).unwrap_or_default() {
            if let Err(refusal) = session.hub().part(session.id, &room, None) {
                refused(session, &refusal);
            }
        }
        return;
    }
    let keys: Vec<&str> = message
        .params
        .get(1)
        .map(|k| k.split(',').collect())
        .unwrap_or_default();
    let channels: Vec<(String, Option<String>)> = message.params[0]
        .split(',')
        .filter(|n| !n.is_empty())
        .take(MAX_CHANNELS_PER_COMMAND)
        .enumerate()
        .map(|(i, name)| {
            let key = keys.get(i).copied().filter(|k| !k.is_empty());
            (name.to_owned(), key.map(str::to_owned))
        })
        .collect();
    join_each(session, channels.into_iter());
}

/// Joins the channels one after the other: each join may wait for the cluster to agree on
/// who founds a new room, and its replies come before the next channel's JOIN.
fn join_each(session: &mut Session, mut channels: std::vec::IntoIter<(String, Option<String>)>) {
    for (name, key) in channels.by_ref() {
        let Some(room) = parse_channel(&name) else {
            no_such_channel(session, &name);
            continue;
        };
        // Its JOIN line, topic and names go together, nothing from the room between them.
        session.begin_group();
        let (hub, id) = (session.hub().clone(), session.id);
        // `draft/read-marker`: the channel's marker comes after the JOIN, before NAMES'
        // end; read before the join, so that the join's replies go out in one piece.
        let wants_marker = session.caps.has(Cap::READ_MARKER);
        session.wait_for(
            async move {
                let marker = if wants_marker {
                    let target = MessageTarget::Room(room.clone());
                    Some(hub.read_marker(id, &target).await.ok().flatten())
                } else {
                    None
                };
                (hub.join(id, room, key.as_deref()).await, marker)
            },
            move |session, (outcome, marker)| {
                joined(session, outcome, marker);
                join_each(session, channels);
            },
        );
        return;
    }
}

/// The replies to one channel's join.
fn joined(
    session: &mut Session,
    outcome: Result<teahouse_hub::JoinOutcome, Refusal>,
    marker: Option<Option<SystemTime>>,
) {
    match outcome {
        Ok(outcome) => {
            if let Some(marker) = marker {
                let target = MessageTarget::Room(outcome.room.clone());
                super::read_marker::send_marker(session, &target, marker);
            }
            // The JOIN line itself comes from the hub, before any traffic of the room.
            if let Some(topic) = &outcome.topic {
                let chan = channel_name(outcome.room.as_str());
                session.numeric(reply::RPL_TOPIC, &[&chan, topic.text.as_str()]);
                let at = secs(topic.set_at);
                session.numeric_data(reply::RPL_TOPICWHOTIME, &[&chan, &topic.set_by, &at]);
            }
            // `no-implicit-names`: the client asks for NAMES when it wants them.
            if !session.caps.has(Cap::NO_IMPLICIT_NAMES) {
                send_names(session, &outcome.room, &outcome.members, outcome.is_secret);
            }
            super::metadata::after_join(session, &outcome.room);
            // Its JOIN line, topic and names go now, before the next channel's JOIN (all
            // of them at the end, in one batch, for a labeled JOIN).
            if session.label.is_none() {
                session.flush_replies();
            }
        }
        Err(Refusal::AlreadyInRoom(_)) => {}
        Err(refusal) => refused(session, &refusal),
    }
}

/// `PART #a,#b [:reason]`.
pub(super) fn part(session: &mut Session, message: &Message) {
    let reason = message
        .params
        .get(1)
        .and_then(|r| MessageText::parse(r).ok());
    for name in message.params[0]
        .split(',')
        .filter(|n| !n.is_empty())
        .take(MAX_CHANNELS_PER_COMMAND)
    {
        let Some(room) = parse_channel(name) else {
            no_such_channel(session, name);
            continue;
        };
        if let Err(refusal) = session.hub().part(session.id, &room, reason.clone()) {
            refused(session, &refusal);
        }
    }
}

/// `TOPIC #chan [:topic]`: query, set, or (empty) clear.
pub(super) fn topic(session: &mut Session, message: &Message) {
    let name = &message.params[0];
    let Some(room) = parse_channel(name) else {
        no_such_channel(session, name);
        return;
    };
    match message.params.get(1) {
        None => match session.hub().room_info(&room) {
            Ok(info) => {
                let chan = channel_name(info.name.as_str());
                match info.topic {
                    Some(topic) => {
                        session.numeric(reply::RPL_TOPIC, &[&chan, topic.text.as_str()]);
                        let at = secs(topic.set_at);
                        session.numeric_data(reply::RPL_TOPICWHOTIME, &[&chan, &topic.set_by, &at]);
                    }
                    None => session.numeric(reply::RPL_NOTOPIC, &[&chan, "No topic is set"]),
                }
            }
            Err(refusal) => refused(session, &refusal),
        },
        Some(text) => {
            let text = irc_safe(text);
            let topic = if text.is_empty() {
                None
            } else {
                match MessageText::parse(&text) {
                    Ok(topic) => Some(topic),
                    Err(_) => return,
                }
            };
            if let Err(refusal) = session.hub().set_topic(session.id, &room, topic) {
                refused(session, &refusal);
            }
        }
    }
}

/// `NAMES [#chan]`.
pub(super) fn names(session: &mut Session, message: &Message) {
    let Some(name) = message.params.first().and_then(|n| n.split(',').next()) else {
        session.numeric(reply::RPL_ENDOFNAMES, &["*", "End of /NAMES list"]);
        return;
    };
    let members = parse_channel(name).and_then(|room| {
        let seen = session.hub().members_seen_by(session.id, &room).ok()?;
        Some((room, seen))
    });
    match members {
        Some((room, (members, is_secret))) => send_names(session, &room, &members, is_secret),
        None => session.numeric(reply::RPL_ENDOFNAMES, &[name, "End of /NAMES list"]),
    }
}

/// 353 lines (as many as the line limit needs) and 366; a secret channel's are marked `@`.
pub(crate) fn send_names(
    session: &mut Session,
    room: &RoomName,
    members: &[RoomMember],
    is_secret: bool,
) {
    let chan = channel_name(room.as_str());
    let kind = if is_secret { "@" } else { "=" };
    let is_multi = session.caps.has(Cap::MULTI_PREFIX);
    let is_userhost = session.caps.has(Cap::USERHOST_IN_NAMES);
    let mut line = String::new();
    for member in members {
        let mut entry = String::new();
        if member.status.is_operator {
            entry.push('@');
        }
        if member.status.is_voiced && (is_multi || !member.status.is_operator) {
            entry.push('+');
        }
        entry.push_str(member.profile.nick.as_str());
        if is_userhost {
            entry.push('!');
            entry.push_str(&member.profile.user);
            entry.push('@');
            entry.push_str(&member.profile.host);
        }
        if !line.is_empty() && line.len() + entry.len() + 1 > 400 {
            session.numeric(reply::RPL_NAMREPLY, &[kind, &chan, &line]);
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&entry);
    }
    if !line.is_empty() {
        session.numeric(reply::RPL_NAMREPLY, &[kind, &chan, &line]);
    }
    session.numeric(reply::RPL_ENDOFNAMES, &[&chan, "End of /NAMES list"]);
}

/// `LIST [#a,#b]`.
pub(super) fn list(session: &mut Session, message: &Message) {
    let filter = match message.params.first() {
        Some(param) => match ListFilter::parse(param) {
            Some(filter) => filter,
            None => {
                session.numeric(reply::ERR_UNKNOWNCOMMAND, &["LIST", "Invalid LIST filter"]);
                return;
            }
        },
        None => ListFilter::default(),
    };
    let now = SystemTime::now();
    session.numeric(reply::RPL_LISTSTART, &["Channel", "Users  Name"]);
    for room in session.hub().rooms() {
        if !filter.admits(&room, now) {
            continue;
        }
        // A secret channel is listed to its members only.
        if room.is_secret && !session.hub().is_member(session.id, &room.name) {
            continue;
        }
        let chan = channel_name(room.name.as_str());
        let topic = room.topic.as_ref().map_or("", |t| t.as_str());
        session.numeric(reply::RPL_LIST, &[&chan, &room.members.to_string(), topic]);
    }
    session.numeric(reply::RPL_LISTEND, &["End of /LIST"]);
}

/// What `LIST` is asked for: channel names, and the ELIST filters `M` (`mask`), `N`
/// (`!mask`), `U` (`<n`, `>n` members), `C` (`C<n`, `C>n`: created under / over `n`
/// minutes ago) and `T` (`T<n`, `T>n`: topic set under / over `n` minutes ago).
#[derive(Default)]
struct ListFilter {
    names: Vec<RoomName>,
    masks: Vec<String>,
    not_masks: Vec<String>,
    fewer_than: Option<usize>,
    more_than: Option<usize>,
    created_within: Option<u64>,
    created_before: Option<u64>,
    topic_within: Option<u64>,
    topic_before: Option<u64>,
}

impl ListFilter {
    /// `None` for a term that is none of these.
    fn parse(param: &str) -> Option<Self> {
        let mut filter = Self::default();
        for term in param.split(',').filter(|t| !t.is_empty()) {
            let number = |s: &str| s.parse::<u64>().ok();
            if let Some(n) = term.strip_prefix('<') {
                filter.fewer_than = Some(usize::try_from(number(n)?).ok()?);
            } else if let Some(n) = term.strip_prefix('>') {
                filter.more_than = Some(usize::try_from(number(n)?).ok()?);
            } else if let Some(n) = term.strip_prefix("C<").or(term.strip_prefix("c<")) {
                filter.created_within = Some(number(n)?);
            } else if let Some(n) = term.strip_prefix("C>").or(term.strip_prefix("c>")) {
                filter.created_before = Some(number(n)?);
            } else if let Some(n) = term.strip_prefix("T<").or(term.strip_prefix("t<")) {
                filter.topic_within = Some(number(n)?);
            } else if let Some(n) = term.strip_prefix("T>").or(term.strip_prefix("t>")) {
                filter.topic_before = Some(number(n)?);
            } else if let Some(mask) = term.strip_prefix('!') {
                filter
                    .not_masks
                    .push(casefold(mask.trim_start_matches('#')));
            } else if term.contains(['*', '?']) {
                filter.masks.push(casefold(term.trim_start_matches('#')));
            } else {
                filter.names.push(parse_channel(term)?);
            }
        }
        Some(filter)
    }

    fn admits(&self, room: &teahouse_hub::RoomSummary, now: SystemTime) -> bool {
        let minutes = |at: SystemTime| now.duration_since(at).unwrap_or_default().as_secs() / 60;
        let key = room.name.key();
        (self.names.is_empty() && self.masks.is_empty()
            || self.names.contains(&room.name)
            || self.masks.iter().any(|m| mask_matches(m, key)))
            && !self.not_masks.iter().any(|m| mask_matches(m, key))
            && self.fewer_than.is_none_or(|n| room.members < n)
            && self.more_than.is_none_or(|n| room.members > n)
            && self
                .created_within
                .is_none_or(|n| minutes(room.created) < n)
            && self
                .created_before
                .is_none_or(|n| minutes(room.created) > n)
            && self
                .topic_within
                .is_none_or(|n| room.topic_set_at.is_some_and(|at| minutes(at) < n))
            && self
                .topic_before
                .is_none_or(|n| room.topic_set_at.is_some_and(|at| minutes(at) > n))
    }
}

/// `KICK #chan nick[,nick] [:reason]`.
pub(super) fn kick(session: &mut Session, message: &Message) {
    let name = &message.params[0];
    let Some(room) = parse_channel(name) else {
        no_such_channel(session, name);
        return;
    };
    let reason = message
        .params
        .get(2)
        .and_then(|r| MessageText::parse(r).ok());
    for target in message.params[1]
        .split(',')
        .filter(|n| !n.is_empty())
        .take(MAX_MODES)
    {
        let Ok(nick) = Nick::parse(target) else {
            session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            continue;
        };
        if let Err(refusal) = session.hub().kick(session.id, &room, &nick, reason.clone()) {
            refused(session, &refusal);
        }
    }
}

/// `INVITE nick #chan`.
pub(super) fn invite(session: &mut Session, message: &Message) {
    let (target, name) = (&message.params[0], &message.params[1]);
    let Ok(nick) = Nick::parse(target) else {
        session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        return;
    };
    let Some(room) = parse_channel(name) else {
        no_such_channel(session, name);
        return;
    };
    match session.hub().invite(session.id, &nick, &room) {
        Ok(invitation) => {
            let chan = channel_name(invitation.room.as_str());
            session.numeric_data(reply::RPL_INVITING, &[invitation.target.as_str(), &chan]);
            if let Some(away) = invitation.away {
                session.numeric(
                    reply::RPL_AWAY,
                    &[invitation.target.as_str(), away.as_str()],
                );
            }
        }
        Err(refusal) => refused(session, &refusal),
    }
}

/// `MODE #chan [modestring [args…]]`.
pub(super) fn mode(session: &mut Session, message: &Message) {
    let name = &message.params[0];
    let Some(room) = parse_channel(name) else {
        no_such_channel(session, name);
        return;
    };
    let Some(modestring) = message.params.get(1) else {
        match session.hub().room_info(&room) {
            Ok(info) => {
                let chan = channel_name(info.name.as_str());
                let mut flags = String::from("+");
                let mut args = Vec::new();
                let m = &info.modes;
                for (on, letter) in [
                    (m.is_invite_only, 'i'),
                    (m.is_moderated, 'm'),
                    (m.is_no_external, 'n'),
                    (m.is_secret, 's'),
                    (m.is_topic_locked, 't'),
                ] {
                    if on {
                        flags.push(letter);
                    }
                }
                if let Some(key) = &m.key {
                    flags.push('k');
                    // Only members see the key itself.
                    if session.hub().is_member(session.id, &room) {
                        args.push(key.to_string());
                    } else {
                        args.push("*".to_owned());
                    }
                }
                if let Some(limit) = m.limit {
                    flags.push('l');
                    args.push(limit.to_string());
                }
                let mut params = vec![chan.as_str(), flags.as_str()];
                params.extend(args.iter().map(String::as_str));
                session.numeric_data(reply::RPL_CHANNELMODEIS, &params);
                let created = secs(info.created);
                session.numeric_data(reply::RPL_CREATIONTIME, &[&chan, &created]);
            }
            Err(refusal) => refused(session, &refusal),
        }
        return;
    };
    let mut args = message.params[2..].iter();
    let mut changes = Vec::new();
    let mut with_param = 0;
    let mut wants_ban_list = false;
    for (is_set, letter) in super::mode_letters(modestring) {
        let mode = match letter {
            't' => RoomMode::TopicLock,
            'n' => RoomMode::NoExternal,
            'm' => RoomMode::Moderated,
            'i' => RoomMode::InviteOnly,
            's' => RoomMode::Secret,
            'o' | 'v' | 'b' | 'k' | 'l' => {
                let needs_arg =
                    matches!(letter, 'o' | 'v' | 'b' | 'k') || (letter == 'l' && is_set);
                let arg = if needs_arg { args.next() } else { None };
                if needs_arg && arg.is_none() {
                    if letter == 'b' {
                        wants_ban_list = true;
                    } else if letter != 'k' {
                        super::need_more_params(session, "MODE");
                    }
                    if letter != 'k' {
                        continue;
                    }
                }
                with_param += 1;
                if with_param > MAX_MODES {
                    continue;
                }
                match letter {
                    'o' | 'v' => {
                        let target = arg.map_or("", String::as_str);
                        let Ok(nick) = Nick::parse(target) else {
                            session
                                .numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
                            continue;
                        };
                        if letter == 'o' {
                            RoomMode::Operator(nick)
                        } else {
                            RoomMode::Voice(nick)
                        }
                    }
                    'b' => RoomMode::Ban(normalize_mask(arg.map_or("", String::as_str)).into()),
                    'k' if is_set => {
                        let key = arg.map_or("", String::as_str);
                        if !is_valid_key(key) {
                            session
                                .numeric(reply::ERR_INVALIDKEY, &[name, "Key is not well-formed"]);
                            continue;
                        }
                        RoomMode::Key(key.into())
                    }
                    'k' => RoomMode::Key(arg.map_or("*", String::as_str).into()),
                    _ => match arg.map(|a| a.parse::<usize>()) {
                        Some(Ok(limit)) if limit > 0 => RoomMode::Limit(limit),
                        Some(_) => continue,
                        None => RoomMode::Limit(0),
                    },
                }
            }
            other => {
                let text = format!("is an unknown mode char to me for {name}");
                session.numeric(reply::ERR_UNKNOWNMODE, &[&other.to_string(), &text]);
                continue;
            }
        };
        changes.push(ModeChange { is_set, mode });
    }
    if wants_ban_list && changes.is_empty() {
        send_ban_list(session, &room);
        return;
    }
    if changes.is_empty() {
        return;
    }
    // Errors about the mode string come before the MODE line the hub sends.
    if session.label.is_none() {
        session.flush_replies();
    }
    match session.hub().change_modes(session.id, &room, changes) {
        Ok(outcome) => {
            for (_, refusal) in &outcome.refused {
                refused(session, refusal);
            }
        }
        Err(refusal) => refused(session, &refusal),
    }
}

fn send_ban_list(session: &mut Session, room: &RoomName) {
    match session.hub().room_info(room) {
        Ok(info) => {
            let chan = channel_name(info.name.as_str());
            for ban in &info.bans {
                let at = secs(ban.set_at);
                session.numeric_data(reply::RPL_BANLIST, &[&chan, &ban.mask, &ban.set_by, &at]);
            }
            session.numeric(reply::RPL_ENDOFBANLIST, &[&chan, "End of channel ban list"]);
        }
        Err(refusal) => refused(session, &refusal),
    }
}

/// A channel key a client can type back: 1 to `KEYLEN` bytes, no spaces, commas or
/// control characters (a JOIN's keys are a comma-separated list).
fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= reply::KEY_LEN
        && !key.chars().any(|c| c == ' ' || c == ',' || c.is_control())
}

/// A ban mask in full `nick!user@host` form: `bob` becomes `bob!*@*`, `*@host` becomes
/// `*!*@host`, as most servers do.
fn normalize_mask(mask: &str) -> String {
    let mask: String = mask
        .chars()
        .filter(|c| !c.is_control() && *c != ' ')
        .take(100)
        .collect();
    match (mask.contains('!'), mask.contains('@')) {
        (true, true) => mask,
        (true, false) => format!("{mask}@*"),
        (false, true) => format!("*!{mask}"),
        (false, false) => format!("{mask}!*@*"),
    }
}

/// Seconds since the Unix epoch, as IRC numerics write times.
pub(crate) fn secs(time: std::time::SystemTime) -> String {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string()
}
