//! PRIVMSG, NOTICE and TAGMSG.

use teahouse_hub::SayTarget;
use teahouse_types::{MessageKind, MessageTarget, MessageText, Nick};
use teahouse_wire::irc::Message;

use super::{parse_channel, refused};
use crate::cap::Cap;
use crate::render::{channel as channel_name, message_lines};
use crate::reply::{self, MAX_TARGETS};
use crate::session::Session;

/// `PRIVMSG target[,target] :text`.
pub(super) fn privmsg(session: &mut Session, message: &Message) {
    send(session, message, false);
}

/// `NOTICE target[,target] :text`: like PRIVMSG, but never answered with an error (notices
/// must not cause automatic replies).
pub(super) fn notice(session: &mut Session, message: &Message) {
    send(session, message, true);
}

/// `TAGMSG target`: client-only tags without text. Relaying client tags is not supported
/// yet, so there is nothing to deliver; it is accepted silently.
pub(super) fn tagmsg(_session: &mut Session, _message: &Message) {}

fn send(session: &mut Session, message: &Message, is_notice: bool) {
    let command = if is_notice { "NOTICE" } else { "PRIVMSG" };
    let Some(targets) = message.params.first().filter(|t| !t.is_empty()) else {
        if !is_notice {
            let text = format!("No recipient given ({command})");
            session.numeric(reply::ERR_NORECIPIENT, &[&text]);
        }
        return;
    };
    let Some(text) = message.params.get(1).filter(|t| !t.is_empty()) else {
        if !is_notice {
            session.numeric(reply::ERR_NOTEXTTOSEND, &["No text to send"]);
        }
        return;
    };
    let (kind, body) = if is_notice {
        (MessageKind::Notice, text.as_str())
    } else {
        match text
            .strip_prefix("\u{1}ACTION ")
            .map(|rest| rest.strip_suffix('\u{1}').unwrap_or(rest))
        {
            Some(action) if !action.is_empty() => (MessageKind::Action, action),
            _ => (MessageKind::Normal, text.as_str()),
        }
    };
    let Ok(body) = MessageText::parse(body) else {
        return;
    };
    let mut targets: Vec<&str> = targets.split(',').filter(|t| !t.is_empty()).collect();
    targets.dedup();
    if targets.len() > MAX_TARGETS {
        if !is_notice {
            let text = format!("Too many targets (at most {MAX_TARGETS}); the rest were dropped");
            session.numeric(reply::ERR_TOOMANYTARGETS, &[targets[MAX_TARGETS], &text]);
        }
        targets.truncate(MAX_TARGETS);
    }
    for target in targets {
        let say_target = if target.starts_with('#') {
            match parse_channel(target) {
                Some(room) => SayTarget::Room(room),
                None => {
                    if !is_notice {
                        session.numeric(reply::ERR_NOSUCHCHANNEL, &[target, "No such channel"]);
                    }
                    continue;
                }
            }
        } else {
            match Nick::parse(target) {
                Ok(nick) => SayTarget::Nick(nick),
                Err(_) => {
                    if !is_notice {
                        session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
                    }
                    continue;
                }
            }
        };
        match session
            .hub()
            .say(session.id, say_target, kind, body.clone())
        {
            Ok(sent) => {
                if let (MessageTarget::Direct(to), Some(away), false) =
                    (&sent.target, &sent.away, is_notice)
                {
                    session.numeric(reply::RPL_AWAY, &[to.as_str(), away.as_str()]);
                }
                if session.caps.has(Cap::ECHO_MESSAGE)
                    && let Some(profile) = session.hub().profile_of(session.id)
                {
                    let shown = match &sent.target {
                        MessageTarget::Room(room) => channel_name(room.as_str()),
                        MessageTarget::Direct(nick) => nick.as_str().to_owned(),
                    };
                    let msgid = session
                        .caps
                        .has(Cap::MESSAGE_TAGS)
                        .then(|| sent.id.to_string());
                    let echo = message_lines(
                        sent.time,
                        session.caps.has(Cap::SERVER_TIME),
                        msgid.as_deref(),
                        &profile,
                        session.caps.has(Cap::ACCOUNT_TAG),
                        &shown,
                        kind,
                        body.as_str(),
                    );
                    session.send(echo);
                }
            }
            Err(refusal) if !is_notice => refused(session, &refusal),
            Err(_) => {}
        }
    }
}
