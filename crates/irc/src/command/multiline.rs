//! `draft/multiline` from clients: `BATCH +id draft/multiline target`, the lines as
//! `@batch=id PRIVMSG target :line` (a `draft/multiline-concat` line continues the one
//! before), then `BATCH -id`; sent on as one message once the batch is closed.

use teahouse_wire::irc::{Message, Tag};

use crate::cap::Cap;
use crate::render::MULTILINE_MAX_LINES;
use crate::session::Session;

/// A multi-line message being received.
pub(crate) struct Multiline {
    id: String,
    target: String,
    /// `PRIVMSG` or `NOTICE`, from its first line.
    command: Option<String>,
    text: String,
    lines: usize,
    /// The opener's client-only tags: the message's.
    client_tags: Vec<Tag>,
    /// The opener's label (labeled-response): the whole batch answers it, so the opener
    /// gets no `ACK` of its own.
    label: Option<Box<str>>,
}

/// The most bytes of text (line breaks included) in one multi-line message, as the
/// capability's value says.
pub(crate) fn max_bytes(session: &Session) -> usize {
    session.hub().max_message_bytes()
}

/// The capability's value: its limits.
pub(crate) fn cap_value(session: &Session) -> String {
    format!(
        "draft/multiline=max-bytes={},max-lines={MULTILINE_MAX_LINES}",
        max_bytes(session)
    )
}

/// `BATCH +id type target…` or `BATCH -id`: only `draft/multiline` batches are taken from
/// clients.
pub(super) fn batch(session: &mut Session, message: &Message) {
    let reference = message.params[0].as_str();
    if let Some(id) = reference.strip_prefix('+') {
        let kind = message.params.get(1).map(String::as_str);
        let target = message.params.get(2);
        let (Some("draft/multiline"), Some(target), true) =
            (kind, target, session.caps.has(Cap::MULTILINE))
        else {
            session.fail("BATCH", "MULTILINE_INVALID", &[], "Unsupported batch");
            return;
        };
        if session.multiline.is_some() || id.is_empty() {
            session.multiline = None;
            session.fail("BATCH", "MULTILINE_INVALID", &[], "Invalid multiline batch");
            return;
        }
        session.multiline = Some(Box::new(Multiline {
            id: id.to_owned(),
            target: target.clone(),
            command: None,
            text: String::new(),
            lines: 0,
            client_tags: message
                .tags
                .iter()
                .filter(|t| t.key.starts_with('+'))
                .cloned()
                .collect(),
            label: session.label.take(),
        }));
        return;
    }
    let Some(id) = reference.strip_prefix('-') else {
        session.fail("BATCH", "MULTILINE_INVALID", &[], "Invalid multiline batch");
        return;
    };
    let Some(mut batch) = session.multiline.take() else {
        session.fail("BATCH", "MULTILINE_INVALID", &[], "No such batch");
        return;
    };
    if session.label.is_none()
        && let Some(label) = batch.label.take()
    {
        session.label = Some(label);
        session.begin_group();
    }
    if batch.id != id || batch.lines == 0 || batch.text.chars().all(|c| c == '\n') {
        session.fail("BATCH", "MULTILINE_INVALID", &[], "Invalid multiline batch");
        return;
    }
    let command = batch.command.take().unwrap_or_else(|| "PRIVMSG".to_owned());
    let is_notice = command == "NOTICE";
    // The whole message, as if it had come in one line with the opener's tags.
    let message = Message {
        tags: std::mem::take(&mut batch.client_tags),
        source: None,
        command,
        params: vec![
            std::mem::take(&mut batch.target),
            std::mem::take(&mut batch.text),
        ],
    };
    super::message::send(session, &message, is_notice);
}

/// A line with a `batch` tag: one line of the open multi-line message, or a mistake that
/// ends it.
pub(super) fn line(session: &mut Session, message: &Message, id: &str) {
    let Some(batch) = session.multiline.as_mut().filter(|b| b.id == id) else {
        session.multiline = None;
        session.fail("BATCH", "MULTILINE_INVALID", &[], "No such batch");
        return;
    };
    let command = message.command.to_ascii_uppercase();
    let is_same_kind = batch.command.as_ref().is_none_or(|c| *c == command);
    if !matches!(command.as_str(), "PRIVMSG" | "NOTICE") || !is_same_kind {
        session.multiline = None;
        session.fail("BATCH", "MULTILINE_INVALID", &[], "Invalid multiline batch");
        return;
    }
    let target = message.params.first().map_or("", String::as_str);
    if target != batch.target {
        let expected = batch.target.clone();
        session.multiline = None;
        session.fail(
            "BATCH",
            "MULTILINE_INVALID_TARGET",
            &[&expected, target],
            "Invalid multiline target",
        );
        return;
    }
    let text = message.params.get(1).map_or("", String::as_str);
    let is_concat = message.tag("draft/multiline-concat").is_some();
    if is_concat && (text.is_empty() || batch.lines == 0) {
        session.multiline = None;
        session.fail("BATCH", "MULTILINE_INVALID", &[], "Invalid multiline batch");
        return;
    }
    batch.command = Some(command);
    batch.lines += 1;
    if batch.lines > 1 && !is_concat {
        batch.text.push('\n');
    }
    batch.text.push_str(text);
    let limit = max_bytes(session);
    let Some(batch) = session.multiline.as_ref() else {
        return;
    };
    if batch.lines > MULTILINE_MAX_LINES {
        session.multiline = None;
        let max = MULTILINE_MAX_LINES.to_string();
        session.fail(
            "BATCH",
            "MULTILINE_MAX_LINES",
            &[&max],
            "Too many lines in the batch",
        );
    } else if batch.text.len() > limit {
        session.multiline = None;
        let max = limit.to_string();
        session.fail(
            "BATCH",
            "MULTILINE_MAX_BYTES",
            &[&max],
            "Too many bytes in the batch",
        );
    }
}
