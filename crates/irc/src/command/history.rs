//! `CHATHISTORY` (IRCv3 `draft/chathistory`): stored messages of a channel the client is
//! in, or of its direct conversation with a nick, as a `chathistory` batch.

use teahouse_hub::{HistoryQuery, HistoryTarget, Refusal};
use teahouse_types::{MessageId, Nick, RoomName};
use teahouse_wire::irc::Message;

use crate::session::Session;

/// The most messages one request returns (`CHATHISTORY` in ISUPPORT).
pub(crate) const MAX_LIMIT: u32 = 100;

/// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND target ref limit`,
/// `CHATHISTORY BETWEEN target ref ref limit`, `CHATHISTORY TARGETS ts ts limit`; a ref
/// is `msgid=…`, `timestamp=…` or (LATEST only) `*`.
pub(super) fn chathistory(session: &mut Session, message: &Message) {
    let sub = message.params[0].to_ascii_uppercase();
    let params = &message.params[1..];
    if sub == "TARGETS" {
        targets(session, params);
        return;
    }
    let (target, refs, limit) = match (sub.as_str(), params) {
        ("LATEST" | "BEFORE" | "AFTER" | "AROUND", [target, reference, limit]) => {
            (target, vec![reference.as_str()], limit)
        }
        ("BETWEEN", [target, first, second, limit]) => {
            (target, vec![first.as_str(), second.as_str()], limit)
        }
        ("LATEST" | "BEFORE" | "AFTER" | "AROUND" | "BETWEEN", _) => {
            session.fail(
                "CHATHISTORY",
                "INVALID_PARAMS",
                &[&sub],
                "Wrong number of parameters",
            );
            return;
        }
        _ => {
            session.fail(
                "CHATHISTORY",
                "INVALID_PARAMS",
                &[&sub],
                "Unknown subcommand",
            );
            return;
        }
    };
    let Some(limit) = limit.parse::<u32>().ok().filter(|l| *l > 0) else {
        session.fail("CHATHISTORY", "INVALID_PARAMS", &[&sub], "Invalid limit");
        return;
    };
    let limit = limit.min(MAX_LIMIT);
    let Some(history_target) = parse_target(target) else {
        session.fail(
            "CHATHISTORY",
            "INVALID_TARGET",
            &[&sub, target],
            "Invalid target",
        );
        return;
    };
    let is_latest = sub == "LATEST";
    let mut bounds = Vec::new();
    for (i, reference) in refs.iter().enumerate() {
        match parse_ref(
            reference,
            is_latest,
            sub == "AFTER" || (sub == "BETWEEN" && i == 0),
        ) {
            Some(bound) => bounds.push(bound),
            None => {
                session.fail(
                    "CHATHISTORY",
                    "INVALID_PARAMS",
                    &[&sub],
                    "Invalid message reference",
                );
                return;
            }
        }
    }
    let query = match (sub.as_str(), bounds.as_slice()) {
        ("LATEST", [after]) => HistoryQuery::Latest { after: *after },
        ("BEFORE", [Some(id)]) => HistoryQuery::Before(*id),
        ("AFTER", [Some(id)]) => HistoryQuery::After(*id),
        ("AROUND", [Some(id)]) => HistoryQuery::Around(*id),
        ("BETWEEN", [Some(a), Some(b)]) => HistoryQuery::Between(*a, *b),
        _ => {
            session.fail(
                "CHATHISTORY",
                "INVALID_PARAMS",
                &[&sub],
                "Invalid message reference",
            );
            return;
        }
    };
    let context = session.label.as_deref().map(Into::into);
    match session
        .hub()
        .request_history(session.id, history_target, query, limit, context)
    {
        // The answer comes as an event, with the label; nothing to acknowledge now.
        Ok(()) => session.label = None,
        Err(Refusal::NotInRoom(_) | Refusal::NoSuchRoom(_)) => {
            session.fail(
                "CHATHISTORY",
                "INVALID_TARGET",
                &[&sub, target],
                "You are not in that channel",
            );
        }
        Err(_) => session.fail(
            "CHATHISTORY",
            "MESSAGE_ERROR",
            &[&sub, target],
            "Messages could not be retrieved",
        ),
    }
}

/// `CHATHISTORY TARGETS timestamp=… timestamp=… limit`: the channels you are in and the
/// nicks you have talked with whose latest message is between the two times (one updated
/// since is left out), each with that message's time, from the first time towards the
/// second (newest first when the first is the later), in a `draft/chathistory-targets`
/// batch.
fn targets(session: &mut Session, params: &[String]) {
    let [first, second, limit] = params else {
        session.fail(
            "CHATHISTORY",
            "INVALID_PARAMS",
            &["TARGETS"],
            "Wrong number of parameters",
        );
        return;
    };
    let Some(limit) = limit.parse::<u32>().ok().filter(|l| *l > 0) else {
        session.fail(
            "CHATHISTORY",
            "INVALID_PARAMS",
            &["TARGETS"],
            "Invalid limit",
        );
        return;
    };
    let bounds = [first, second].map(|r| {
        r.starts_with("timestamp=")
            .then(|| parse_ref(r, false, false))
            .flatten()
            .flatten()
    });
    let [Some(a), Some(b)] = bounds else {
        session.fail(
            "CHATHISTORY",
            "INVALID_PARAMS",
            &["TARGETS"],
            "Invalid timestamp",
        );
        return;
    };
    let (low, high) = (a.min(b), a.max(b));
    let newest_first = a > b;
    let label: Option<Box<str>> = session.label.take();
    let (hub, id) = (session.hub().clone(), session.id);
    session.waiting = Some(Box::pin(async move {
        let result = hub
            .history_targets(id, low - 1, high, limit.min(MAX_LIMIT), newest_first)
            .await;
        Box::new(move |session: &mut Session| {
            let Ok(found) = result else {
                session.fail(
                    "CHATHISTORY",
                    "MESSAGE_ERROR",
                    &["TARGETS"],
                    "Targets could not be retrieved",
                );
                return;
            };
            let lines = found
                .iter()
                .map(|(target, newest)| {
                    let mut line = session.server_line();
                    line.command("CHATHISTORY")
                        .param("TARGETS")
                        .param(&crate::render::target_name(target))
                        .param(&humantime::format_rfc3339_millis(*newest).to_string());
                    line.finish()
                })
                .collect();
            session.send_batch(&["draft/chathistory-targets"], label.as_deref(), lines);
        }) as crate::session::Continuation
    }));
}

pub(crate) fn parse_target(target: &str) -> Option<HistoryTarget> {
    match target.strip_prefix('#') {
        Some(room) => RoomName::parse(room).ok().map(HistoryTarget::Room),
        None => Nick::parse(target).ok().map(HistoryTarget::Direct),
    }
}

/// A message reference as an id bound: `msgid=N` is N; `timestamp=T` is the first id of
/// T's millisecond (or, for a lower bound, the last, so that T itself is excluded); `*`
/// (LATEST only) is no bound.
pub(crate) fn parse_ref(reference: &str, is_latest: bool, is_lower: bool) -> Option<Option<i64>> {
    if reference == "*" {
        return is_latest.then_some(None);
    }
    let (kind, value) = reference.split_once('=')?;
    let id = match kind {
        "msgid" => value.parse::<u64>().ok()?,
        "timestamp" => {
            let time = humantime::parse_rfc3339_weak(value).ok()?;
            let ms =
                u64::try_from(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()?;
            if is_lower {
                MessageId::first_at(ms + 1).get() - 1
            } else {
                MessageId::first_at(ms).get()
            }
        }
        _ => return None,
    };
    i64::try_from(id).ok().map(Some)
}
