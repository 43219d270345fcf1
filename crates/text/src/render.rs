//! Hub events to plain-text lines.

use std::sync::Arc;

use bytes::Bytes;
use teahouse_hub::{EventSink, Overflow};
use teahouse_types::{EventKind, HubEvent, MessageKind, MessageTarget, ReplyPlace};
use teahouse_wire::Outbox;
use teahouse_wire::text::{encode_line, terminal_safe};

use crate::lang::Lang;

/// The plain-text line for an event, or `None` if the text face shows nothing for it.
pub(crate) fn event(lang: Lang, kind: &EventKind) -> Option<Bytes> {
    let line = match kind {
        EventKind::History {
            target, messages, ..
        } => return history(lang, target, messages.as_deref()),
        EventKind::NotDelivered { .. } => lang.not_delivered().to_owned(),
        EventKind::Disconnected { reason } => lang.disconnected(&terminal_safe(reason)),
        EventKind::ServerShutdown => lang.shutting_down().to_owned(),
        EventKind::PeersReachable { reachable } => lang.peers_reachable(*reachable).to_owned(),
        // Shown by IRC clients that ask; a plain-text user is told of their own login.
        EventKind::AccountChanged { .. } => return None,
        // The plain-text face shows no echo of your own lines.
        EventKind::Echo { .. } => return None,
        EventKind::Joined { who, .. } => lang.entered(&who.nick),
        EventKind::Left { who, reason, .. } | EventKind::Quit { who, reason } => {
            lang.left(&who.nick, reason)
        }
        EventKind::Kicked {
            by, target, reason, ..
        } => {
            let reason = reason.as_ref().map(|r| terminal_safe(r.as_str()));
            lang.kicked(target, &by.nick, reason.as_deref())
        }
        EventKind::NickChanged { old, new } => lang.renamed(&old.nick, new),
        EventKind::Message {
            from,
            target,
            kind,
            text,
            ..
        } => {
            // A CTCP request or reply other than ACTION (`\x01VERSION\x01`) is for the
            // other user's IRC client, not for a person to read.
            if *kind != MessageKind::Action && text.as_str().starts_with('\x01') {
                return None;
            }
            let from = &from.nick;
            let line_of = |text: &str| {
                let text = terminal_safe(text);
                match (target, kind) {
                    (MessageTarget::Room(_), MessageKind::Normal) => lang.relayed(from, &text),
                    (MessageTarget::Direct(_), MessageKind::Normal) => {
                        lang.direct_in(from, &text)
                    }
                    (_, MessageKind::Action) => lang.action(from, &text),
                    (_, MessageKind::Notice) => lang.notice(from, &text),
                }
            };
            if text.is_multiline() {
                // A multi-line message (IRC `draft/multiline`): a line each, as sent.
                let mut out = bytes::BytesMut::new();
                for part in text.as_str().split('\n').filter(|p| !p.is_empty()) {
                    out.extend_from_slice(&encode_line(&line_of(part)));
                }
                return Some(out.freeze());
            }
            line_of(text.as_str())
        }
        EventKind::TopicChanged { by, topic, .. } => {
            let topic = topic.as_ref().map(|t| terminal_safe(t.as_str()));
            lang.topic_changed(&by.nick, topic.as_deref())
        }
        EventKind::ModesChanged { by, changes, .. } => lang.modes_changed(&by.nick, changes),
        // Client-only tags (typing notices and the like) mean nothing on a terminal.
        EventKind::Tags { .. } => return None,
        EventKind::Invited { room, by, .. } => lang.invited(&by.nick, room),
        // Nothing a person at a terminal needs to see.
        // A plain-text user has no user modes, so never hears WALLOPS.
        EventKind::AwayChanged { .. }
        | EventKind::RealnameChanged { .. }
        | EventKind::Wallops { .. }
        | EventKind::HostChanged { .. }
        | EventKind::ReadMarked { .. }
        | EventKind::MetadataChanged { .. }
        // A terminal cannot take back a line it printed.
        | EventKind::Redacted { .. }
        // MONITOR is an IRC command; a plain-text user never watches anyone.
        | EventKind::Monitored { .. }
        | EventKind::Watched { .. } => return None,
    };
    Some(encode_line(&line))
}

/// A replay of stored messages as one block of lines: a heading, each message as it was
/// shown live with its time, and a closing line. Nothing for an empty history.
fn history(
    lang: Lang,
    target: &MessageTarget,
    messages: Option<&[Arc<HubEvent>]>,
) -> Option<Bytes> {
    let Some(messages) = messages else {
        return Some(encode_line(lang.history_unavailable()));
    };
    let MessageTarget::Room(room) = target else {
        return None;
    };
    // What the plain-text face shows of each (reactions, say, it does not).
    let shown: Vec<(&Arc<HubEvent>, Bytes)> = messages
        .iter()
        .filter_map(|message| Some((message, event(lang, &message.kind)?)))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let mut out = bytes::BytesMut::new();
    out.extend_from_slice(&encode_line(&lang.history_start(room, shown.len())));
    for (message, line) in shown {
        let line =
            String::from_utf8_lossy(line.strip_suffix(b"\r\n").unwrap_or(&line)).into_owned();
        let time = humantime::format_rfc3339_seconds(message.time)
            .to_string()
            .replace('T', " ");
        out.extend_from_slice(&encode_line(&lang.history_line(&time, &line)));
    }
    out.extend_from_slice(&encode_line(lang.history_end()));
    Some(out.freeze())
}

/// A text session's sink: renders each event once per language (through the event's cache)
/// and queues the shared bytes on the connection's outbox.
pub(crate) struct TextSink {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) lang: Lang,
}

impl EventSink for TextSink {
    fn deliver(&self, event: &Arc<HubEvent>) -> Result<(), Overflow> {
        let Some(bytes) = self.encoded(event) else {
            return Ok(());
        };
        if self.outbox.offer(bytes, event.kind.ends_session()) {
            Ok(())
        } else {
            Err(Overflow)
        }
    }

    fn deliver_messages(&self, events: &[&Arc<HubEvent>]) -> Result<(), Overflow> {
        let lines = events.iter().filter_map(|event| self.encoded(event));
        if self.outbox.offer_all(lines) {
            Ok(())
        } else {
            Err(Overflow)
        }
    }
    fn deliver_own(
        &self,
        event: &Arc<HubEvent>,
        after: Option<ReplyPlace>,
    ) -> Result<(), Overflow> {
        let Some(bytes) = self.encoded(event) else {
            return Ok(());
        };
        if self.outbox.offer_own(bytes, after) {
            Ok(())
        } else {
            Err(Overflow)
        }
    }

    fn hold(&self) -> ReplyPlace {
        self.outbox.hold()
    }

    fn release(&self) {
        self.outbox.release();
    }
}

impl TextSink {
    /// The event in this session's language: encoded once per language and shared through
    /// the event's cache.
    fn encoded(&self, event: &HubEvent) -> Option<Bytes> {
        let lang = self.lang;
        event
            .cache
            .get_or_render(lang.render_key(), || self::event(lang, &event.kind))
    }
}

#[cfg(test)]
mod tests {
    use teahouse_types::{LeaveReason, MessageId, MessageText, Nick, Profile, RoomName, SessionId};

    use super::*;

    fn profile(nick: &Nick) -> Arc<Profile> {
        Arc::new(Profile {
            nick: nick.clone(),
            user: "text".into(),
            host: "127.0.0.1".into(),
            realname: "".into(),
            account: None,
            is_bot: false,
        })
    }

    fn line(lang: Lang, kind: EventKind) -> String {
        String::from_utf8(event(lang, &kind).unwrap().to_vec()).unwrap()
    }

    fn message(text: &str, target: MessageTarget, kind: MessageKind) -> EventKind {
        EventKind::Message {
            id: MessageId::from_raw(1),
            from: profile(&Nick::parse("小明").unwrap()),
            target,
            kind,
            text: MessageText::parse(text).unwrap(),
            client_tags: None,
        }
    }

    #[test]
    fn seed_texts_in_chinese() {
        let nick = Nick::parse("小明").unwrap();
        let room = RoomName::parse("lobby").unwrap();
        let who = profile(&nick);
        let joined = EventKind::Joined {
            room: room.clone(),
            who: who.clone(),
            session: SessionId::new(teahouse_types::NodeId::default(), 1),
        };
        assert_eq!(line(Lang::Zh, joined), "系统消息小明进入了聊天室\r\n");
        let quit = EventKind::Quit {
            who,
            reason: LeaveReason::ConnectionLost,
        };
        assert_eq!(line(Lang::Zh, quit), "系统消息小明退出了聊天室\r\n");
        let said = message("你好", MessageTarget::Room(room), MessageKind::Normal);
        assert_eq!(line(Lang::Zh, said), "小明:你好\r\n");
    }

    #[test]
    fn english_lines_and_control_characters_stripped() {
        let room = RoomName::parse("lobby").unwrap();
        let said = message(
            "\u{1b}[2Jhi\u{7}",
            MessageTarget::Room(room),
            MessageKind::Normal,
        );
        assert_eq!(line(Lang::En, said), "小明: [2Jhi\r\n");
        let dm = message(
            "psst",
            MessageTarget::Direct(Nick::parse("bob").unwrap()),
            MessageKind::Normal,
        );
        assert_eq!(line(Lang::En, dm), "[dm] 小明: psst\r\n");
    }
}
