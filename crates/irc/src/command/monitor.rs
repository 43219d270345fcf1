//! `MONITOR`: watching nicks come online and go offline (IRCv3 `monitor`, with
//! `extended-monitor` for their away, account and real-name changes).

use std::sync::Arc;

use teahouse_types::{Nick, Profile};
use teahouse_wire::irc::Message;

use super::{need_more_params, refused};
use crate::reply;
use crate::session::Session;

/// The most bytes of nicks in one 730–732 reply: the rest goes on another line.
const LIST_BYTES: usize = 400;

/// `MONITOR + a,b` / `- a,b` / `C` / `L` / `S`.
pub(super) fn monitor(session: &mut Session, message: &Message) {
    let sub = message.params[0].to_ascii_uppercase();
    let targets = || -> Vec<&str> {
        message
            .params
            .get(1)
            .map(|list| list.split(',').filter(|t| !t.is_empty()).collect())
            .unwrap_or_default()
    };
    match sub.as_str() {
        "+" | "-" => {
            if message.params.len() < 2 {
                need_more_params(session, "MONITOR");
                return;
            }
            // Names that are not nicks can never come online: skipped, as Ergo does.
            let nicks: Vec<Nick> = targets()
                .into_iter()
                .filter_map(|t| Nick::parse(t).ok())
                .collect();
            if sub == "+" {
                add(session, &nicks);
            } else if let Err(refusal) = session.hub().monitor_remove(session.id, Some(nicks)) {
                refused(session, &refusal);
            }
        }
        "C" => {
            if let Err(refusal) = session.hub().monitor_remove(session.id, None) {
                refused(session, &refusal);
            }
        }
        "L" => {
            let status = session.hub().monitor_status(session.id);
            let nicks: Vec<String> = status.iter().map(|(n, _)| n.as_str().to_owned()).collect();
            lists(session, reply::RPL_MONLIST, &nicks);
            session.numeric(reply::RPL_ENDOFMONLIST, &["End of MONITOR list"]);
        }
        "S" => {
            let status = session.hub().monitor_status(session.id);
            status_replies(session, &status);
        }
        _ => {
            session.numeric(
                reply::ERR_UNKNOWNCOMMAND,
                &["MONITOR", "Unknown MONITOR subcommand"],
            );
        }
    }
}

fn add(session: &mut Session, nicks: &[Nick]) {
    match session.hub().monitor_add(session.id, nicks) {
        Ok(outcome) => {
            status_replies(session, &outcome.status);
            if !outcome.overflow.is_empty() {
                let limit = teahouse_hub::MAX_MONITOR.to_string();
                let rest: Vec<&str> = outcome.overflow.iter().map(Nick::as_str).collect();
                session.numeric(
                    reply::ERR_MONLISTFULL,
                    &[&limit, &rest.join(","), "Monitor list is full."],
                );
            }
        }
        Err(refusal) => refused(session, &refusal),
    }
}

/// 730 for the online ones (as `nick!user@host`), 731 for the others.
fn status_replies(session: &mut Session, status: &[(Nick, Option<Arc<Profile>>)]) {
    let online: Vec<String> = status
        .iter()
        .filter_map(|(_, who)| who.as_ref())
        .map(|who| format!("{}!{}@{}", who.nick, who.user, who.host))
        .collect();
    let offline: Vec<String> = status
        .iter()
        .filter(|(_, who)| who.is_none())
        .map(|(nick, _)| nick.as_str().to_owned())
        .collect();
    lists(session, reply::RPL_MONONLINE, &online);
    lists(session, reply::RPL_MONOFFLINE, &offline);
}

/// `code :a,b,c` lines, as many as the items need.
fn lists(session: &mut Session, code: &str, items: &[String]) {
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + 1 + item.len() > LIST_BYTES {
            session.numeric(code, &[&line]);
            line.clear();
        }
        if !line.is_empty() {
            line.push(',');
        }
        line.push_str(item);
    }
    if !line.is_empty() {
        session.numeric(code, &[&line]);
    }
}
