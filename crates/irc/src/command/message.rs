//! PRIVMSG, NOTICE and TAGMSG.

use std::sync::Arc;

use teahouse_hub::{SayTarget, Sent};
use teahouse_types::{MessageKind, MessageTarget, MessageText, Nick};
use teahouse_wire::irc::{Message, client_only_tags};

use super::{parse_channel, refused};
use crate::cap::Cap;
use crate::render::{MessageLine, target_name};
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

/// `@+tag=value TAGMSG target[,target]`: client-only tags without text (typing notices,
/// reactions), passed to recipients that have `message-tags`. Without client-only tags there
/// is nothing to send; like NOTICE, it never gets an error reply that a client could loop on,
/// except for targets that do not exist.
pub(super) fn tagmsg(session: &mut Session, message: &Message) {
    let Some(tags) = client_only_tags(message) else {
        return;
    };
    let tags: Arc<str> = tags.into();
    for target in message.params[0]
        .split(',')
        .filter(|t| !t.is_empty())
        .take(MAX_TARGETS)
    {
        let Some(say_target) = parse_target(session, target, false) else {
            continue;
        };
        match session
            .hub()
            .send_tags(session.id, say_target, Arc::clone(&tags))
        {
            Ok(sent) => {
                // To oneself, the one copy is the one received.
                if session.caps.has(Cap::ECHO_MESSAGE)
                    && session.caps.has(Cap::MESSAGE_TAGS)
                    && !is_to_self(session, &sent)
                {
                    echo(session, &sent, Some(&tags), None);
                }
            }
            Err(refusal) => refused(session, &refusal),
        }
    }
}

/// A target as the hub names it, or the error reply (unless quiet) and `None`.
fn parse_target(session: &mut Session, target: &str, is_quiet: bool) -> Option<SayTarget> {
    if target.starts_with('#') {
        if let Some(room) = parse_channel(target) {
            return Some(SayTarget::Room(room));
        }
        if !is_quiet {
            session.numeric(reply::ERR_NOSUCHCHANNEL, &[target, "No such channel"]);
        }
        return None;
    }
    match Nick::parse(target) {
        Ok(nick) => Some(SayTarget::Nick(nick)),
        Err(_) => {
            if !is_quiet {
                session.numeric(reply::ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            None
        }
    }
}

/// Whether `sent` went to the sender's own nick.
fn is_to_self(session: &Session, sent: &Sent) -> bool {
    matches!(&sent.target, MessageTarget::Direct(to) if session.nick.as_ref() == Some(to))
}

/// The sender's own copy (`echo-message`), with the label of the command if any.
fn echo(
    session: &mut Session,
    sent: &Sent,
    client_tags: Option<&str>,
    body: Option<(MessageKind, &str)>,
) {
    let target = target_name(&sent.target);
    let has_tags = session.caps.has(Cap::MESSAGE_TAGS);
    let msgid = has_tags.then(|| sent.id.to_string());
    let line = MessageLine {
        time: sent.time,
        has_server_time: session.caps.has(Cap::SERVER_TIME),
        msgid: msgid.as_deref(),
        client_tags: client_tags.filter(|_| has_tags),
        from: &sent.from,
        has_account_tag: session.caps.has(Cap::ACCOUNT_TAG),
        target: &target,
        multiline: session.caps.has(Cap::MULTILINE) && session.caps.has(Cap::BATCH),
    };
    let bytes = match body {
        Some((kind, text)) => line.message(kind, text),
        None => line.tagmsg(),
    };
    session.send(bytes);
}

/// PRIVMSG or NOTICE (`is_notice`), from a line or a put-together `draft/multiline` batch.
pub(super) fn send(session: &mut Session, message: &Message, is_notice: bool) {
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
    // A line from the wire has no LF; only a `draft/multiline` batch, put together by
    // `multiline`, gives a text of several lines.
    let body = if body.contains('\n') {
        MessageText::parse_multiline(body)
    } else {
        MessageText::parse(body)
    };
    let Ok(body) = body else {
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
    let client_tags: Option<Arc<str>> = client_only_tags(message).map(Into::into);
    let is_single_target = targets.len() == 1;
    for target in targets {
        if super::account::is_nickserv(target) {
            if !is_notice && !body.is_multiline() {
                super::account::nickserv(session, text);
            }
            continue;
        }
        let Some(say_target) = parse_target(session, target, is_notice) else {
            continue;
        };
        let result = session.hub().say(
            session.id,
            say_target,
            kind,
            body.clone(),
            client_tags.clone(),
        );
        match result {
            Ok(sent) => {
                if let (MessageTarget::Direct(to), Some(away), false) =
                    (&sent.target, &sent.away, is_notice)
                {
                    session.numeric(reply::RPL_AWAY, &[to.as_str(), away.as_str()]);
                }
                // A message to oneself arrives once, as its echo, with `echo-message` or
                // without.
                if session.caps.has(Cap::ECHO_MESSAGE) || is_to_self(session, &sent) {
                    // Through the hub, so it comes once the message is stored. A lone
                    // echo is the command's reply: it carries the label.
                    let label = if is_single_target {
                        session.label.take().map(Into::into)
                    } else {
                        None
                    };
                    session
                        .hub()
                        .echo(session.id, Arc::clone(&sent.event), label);
                }
            }
            Err(refusal) if !is_notice => refused(session, &refusal),
            Err(_) => {}
        }
    }
}
