//! `METADATA target GET|LIST|SET|CLEAR|SUB|UNSUB|SUBS|SYNC …` (IRCv3 `draft/metadata-2`):
//! key/value metadata of users and channels, such as an avatar or a display name.

use std::sync::Arc;

use teahouse_hub::{
    MAX_METADATA_KEYS, MAX_METADATA_SUBS, MAX_METADATA_VALUE_BYTES, MetadataName, Refusal,
    is_metadata_key,
};
use teahouse_types::{MessageTarget, Nick, RoomName};
use teahouse_wire::irc::Message;

use super::parse_channel;
use crate::cap::Cap;
use crate::render::{metadata_line, target_name};
use crate::reply;
use crate::session::Session;

/// The capability's value: the limits.
pub(crate) fn cap_value() -> String {
    format!(
        "draft/metadata-2=max-subs={MAX_METADATA_SUBS},max-keys={MAX_METADATA_KEYS},max-value-bytes={MAX_METADATA_VALUE_BYTES}"
    )
}

/// `761 me target key * :value`.
fn key_value(session: &mut Session, target: &str, key: &str, value: &str) {
    session.numeric(reply::RPL_KEYVALUE, &[target, key, "*", value]);
}

/// A batch of type `metadata` around `lines` (the lines alone without `batch`).
fn in_batch(session: &mut Session, target: &str, lines: Vec<bytes::Bytes>) {
    session.send_batch(&["metadata", target], None, lines);
}

fn parse_name(name: &str) -> Option<MetadataName> {
    if name == "*" {
        return Some(MetadataName::Me);
    }
    if let Some(room) = parse_channel(name) {
        return Some(MetadataName::Room(room));
    }
    Nick::parse(name).ok().map(MetadataName::Nick)
}

/// The `METADATA` command.
pub(super) fn metadata(session: &mut Session, message: &Message) {
    let name = message.params[0].clone();
    let sub = message.params[1].to_ascii_uppercase();
    let args: Vec<&str> = message.params[2..].iter().map(String::as_str).collect();
    match sub.as_str() {
        "SUB" => return subscribe(session, &args),
        "UNSUB" => {
            let (good, bad): (Vec<&str>, Vec<&str>) = args.iter().partition(|k| is_metadata_key(k));
            for key in bad {
                session.fail("METADATA", "KEY_INVALID", &[key], "Invalid key");
            }
            if let Err(refusal) = session.hub().unsubscribe_metadata(session.id, &good) {
                return super::refused(session, &refusal);
            }
            if !good.is_empty() {
                session.numeric(reply::RPL_METADATAUNSUBOK, &[&good.join(" ")]);
            }
            return;
        }
        "SUBS" => {
            let subs: Vec<String> = session
                .hub()
                .metadata_subscriptions(session.id)
                .iter()
                .map(|k| k.to_string())
                .collect();
            for chunk in subs.chunks(20) {
                session.numeric(reply::RPL_METADATASUBS, &[&chunk.join(" ")]);
            }
            return;
        }
        _ => {}
    }
    let Some(target) = parse_name(&name) else {
        session.fail("METADATA", "INVALID_TARGET", &[&name], "Invalid target");
        return;
    };
    match sub.as_str() {
        "GET" | "LIST" => {
            let (shown, values) = match session.hub().metadata(session.id, &target) {
                Ok(found) => found,
                Err(refusal) => return refused(session, &name, "*", &refusal),
            };
            let shown = target_name(&shown);
            if sub == "LIST" {
                let lines = values
                    .iter()
                    .map(|(k, v)| numeric_line(session, &shown, k, v))
                    .collect();
                in_batch(session, &shown, lines);
                return;
            }
            if args.is_empty() {
                super::need_more_params(session, "METADATA");
                return;
            }
            for key in args {
                if !is_metadata_key(key) {
                    session.fail("METADATA", "KEY_INVALID", &[key], "Invalid key");
                } else if let Some((_, value)) = values.iter().find(|(k, _)| &**k == key) {
                    key_value(session, &shown, key, value);
                } else {
                    session.numeric(reply::RPL_KEYNOTSET, &[&shown, key, "key not set"]);
                }
            }
        }
        "SET" => {
            let Some(key) = args.first().copied() else {
                super::need_more_params(session, "METADATA");
                return;
            };
            if !is_metadata_key(key) {
                session.fail("METADATA", "KEY_INVALID", &[key], "Invalid key");
                return;
            }
            let value = args.get(1).copied().filter(|v| !v.is_empty());
            if value.is_some_and(|v| v.len() > MAX_METADATA_VALUE_BYTES || v.contains('\0')) {
                session.fail(
                    "METADATA",
                    "VALUE_INVALID",
                    &[],
                    "Value is too long or not valid",
                );
                return;
            }
            match session.hub().set_metadata(session.id, &target, key, value) {
                Ok((shown, is_changed)) => {
                    let shown = target_name(&shown);
                    match value {
                        Some(value) => key_value(session, &shown, key, value),
                        None if is_changed => {
                            session.numeric(reply::RPL_KEYNOTSET, &[&shown, key, "key not set"]);
                        }
                        None => {
                            session.fail("METADATA", "KEY_NOT_SET", &[&shown, key], "Key not set")
                        }
                    }
                }
                Err(refusal) => refused(session, &name, key, &refusal),
            }
        }
        "CLEAR" => {
            let (shown, values) = match session.hub().metadata(session.id, &target) {
                Ok(found) => found,
                Err(refusal) => return refused(session, &name, "*", &refusal),
            };
            let shown = target_name(&shown);
            let mut lines = Vec::new();
            for (key, _) in &values {
                match session.hub().set_metadata(session.id, &target, key, None) {
                    Ok(_) => lines.push(numeric_line(session, &shown, key, "")),
                    Err(refusal) => return refused(session, &name, key, &refusal),
                }
            }
            in_batch(session, &shown, lines);
        }
        "SYNC" => sync(session, &target),
        _ => session.fail(
            "METADATA",
            "SUBCOMMAND_INVALID",
            &[&sub],
            "Invalid subcommand",
        ),
    }
}

/// A `761` line, without queueing it (for a batch).
fn numeric_line(session: &Session, target: &str, key: &str, value: &str) -> bytes::Bytes {
    let me = session.target();
    let mut b = session.server_line();
    b.command(reply::RPL_KEYVALUE)
        .param(&me)
        .param(target)
        .param(key)
        .param("*");
    if !value.is_empty() {
        b.trailing(value);
    }
    b.finish()
}

fn refused(session: &mut Session, name: &str, key: &str, refusal: &Refusal) {
    match refusal {
        Refusal::NoPrivileges | Refusal::NotOperator(_) | Refusal::NotInRoom(_) => session.fail(
            "METADATA",
            "KEY_NO_PERMISSION",
            &[name, key],
            "You do not have permission to do that",
        ),
        Refusal::NoSuchNick(_) | Refusal::NoSuchRoom(_) => {
            session.fail("METADATA", "INVALID_TARGET", &[name], "Invalid target");
        }
        Refusal::MetadataLimit => session.fail(
            "METADATA",
            "LIMIT_REACHED",
            &[name],
            "Metadata limit reached",
        ),
        other => super::refused(session, other),
    }
}

fn subscribe(session: &mut Session, keys: &[&str]) {
    let (good, bad): (Vec<&str>, Vec<&str>) = keys.iter().partition(|k| is_metadata_key(k));
    for key in bad {
        session.fail("METADATA", "KEY_INVALID", &[key], "Invalid key");
    }
    let teahouse_hub::Subscribed {
        keys: done,
        refused,
    } = match session.hub().subscribe_metadata(session.id, &good) {
        Ok(outcome) => outcome,
        Err(refusal) => return super::refused(session, &refusal),
    };
    if let Some(key) = refused {
        session.fail(
            "METADATA",
            "TOO_MANY_SUBS",
            &[&key],
            "Too many subscriptions",
        );
    }
    if !done.is_empty() {
        let done: Vec<&str> = done.iter().map(|k| &**k).collect();
        session.numeric(reply::RPL_METADATASUBOK, &[&done.join(" ")]);
    }
}

/// `METADATA target SYNC`: the subscribed keys of the target (a channel: of its members
/// too), as `METADATA` lines in a `metadata` batch.
fn sync(session: &mut Session, target: &MetadataName) {
    let entries: Vec<(MessageTarget, Arc<str>, Arc<str>)> = match target {
        MetadataName::Room(room) => {
            if !session.hub().is_member(session.id, room) {
                let name = crate::render::channel(room.as_str());
                session.fail(
                    "METADATA",
                    "KEY_NO_PERMISSION",
                    &[&name, "*"],
                    "You are not in that channel",
                );
                return;
            }
            session.hub().room_metadata(room)
        }
        other => match session.hub().metadata(session.id, other) {
            Ok((shown, values)) => values
                .into_iter()
                .map(|(k, v)| (shown.clone(), k, v))
                .collect(),
            Err(refusal) => return refused(session, "*", "*", &refusal),
        },
    };
    let shown = match target {
        MetadataName::Room(room) => crate::render::channel(room.as_str()),
        MetadataName::Nick(nick) => nick.as_str().to_owned(),
        MetadataName::Me => session.target(),
    };
    send_sync(session, &shown, &entries);
}

/// The subscribed ones of `entries` as `METADATA` lines, in a batch.
pub(super) fn send_sync(
    session: &mut Session,
    shown: &str,
    entries: &[(MessageTarget, Arc<str>, Arc<str>)],
) {
    let subs = session.hub().metadata_subscriptions(session.id);
    let lines: Vec<bytes::Bytes> = entries
        .iter()
        .filter(|(_, key, _)| subs.contains(key))
        .map(|(target, key, value)| metadata_line(session.server_name(), target, key, Some(value)))
        .collect();
    if !lines.is_empty() {
        in_batch(session, shown, lines);
    }
}

/// After a JOIN: the channel's and its members' subscribed metadata.
pub(super) fn after_join(session: &mut Session, room: &RoomName) {
    if !session.caps.has(Cap::METADATA)
        || session.hub().metadata_subscriptions(session.id).is_empty()
    {
        return;
    }
    let entries = session.hub().room_metadata(room);
    send_sync(session, &crate::render::channel(room.as_str()), &entries);
}
