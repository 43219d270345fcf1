//! Accounts over IRC: SASL `PLAIN` and `SCRAM-SHA-256` (`AUTHENTICATE`), the IRCv3
//! `draft/account-registration` `REGISTER` command, and the `NickServ` service for clients
//! and people who expect one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use teahouse_hub::{Hub, Refusal, ScramExchange};
use teahouse_types::Nick;
use teahouse_wire::irc::{LineBuilder, Message};

use crate::reply;
use crate::session::{Continuation, Session};

/// The longest SASL chunk (IRCv3 `sasl`): a chunk this long means more follow.
const SASL_CHUNK_BYTES: usize = 400;

/// The most SASL payload a session may send, base64: a PLAIN payload with the longest
/// account name and password fits many times over.
const SASL_MAX_BYTES: usize = 2048;

/// The service's name and mask.
const NICKSERV: &str = "NickServ";

/// The mechanisms `AUTHENTICATE` takes, as 908 and `CAP LS 302` list them.
pub(crate) const SASL_MECHANISMS: &str = "PLAIN,SCRAM-SHA-256";

/// A SASL exchange in progress: where it is, and the chunks of the client's current
/// message so far.
#[derive(Default)]
pub(crate) struct Sasl {
    step: Step,
    buffer: String,
}

#[derive(Default)]
enum Step {
    /// `PLAIN`: one message, the credentials.
    #[default]
    Plain,
    /// `SCRAM-SHA-256`, waiting for the client's first message.
    ScramFirst,
    /// Waiting for the client's final message (its proof).
    ScramFinal(Box<ScramExchange>),
    /// The proof was right and the server's signature sent; the client's empty answer
    /// ends the exchange.
    ScramVerified(Nick),
}

/// `AUTHENTICATE mechanism`, then `AUTHENTICATE base64-chunk`… (`+` for empty), or
/// `AUTHENTICATE *` to abort.
pub(super) fn authenticate(session: &mut Session, message: &Message) {
    let param = message.params[0].as_str();
    if param == "*" {
        if session.sasl.take().is_some() {
            session.numeric(reply::ERR_SASLABORTED, &["SASL authentication aborted"]);
        } else {
            sasl_fail(session);
        }
        return;
    }
    let Some(sasl) = session.sasl.as_mut() else {
        if session
            .hub()
            .account_of(session.id)
            .ok()
            .flatten()
            .is_some()
        {
            session.numeric(
                reply::ERR_SASLALREADY,
                &["You have already authenticated using SASL"],
            );
            return;
        }
        let step = if param.eq_ignore_ascii_case("PLAIN") {
            Step::Plain
        } else if param.eq_ignore_ascii_case("SCRAM-SHA-256") {
            Step::ScramFirst
        } else {
            session.numeric_data(
                reply::RPL_SASLMECHS,
                &[SASL_MECHANISMS, "are available SASL mechanisms"],
            );
            sasl_fail(session);
            return;
        };
        session.sasl = Some(Box::new(Sasl {
            step,
            buffer: String::new(),
        }));
        send_authenticate(session, "");
        return;
    };
    if param.len() > SASL_CHUNK_BYTES || sasl.buffer.len() + param.len() > SASL_MAX_BYTES {
        session.sasl = None;
        session.numeric(reply::ERR_SASLTOOLONG, &["SASL message too long"]);
        return;
    }
    if param != "+" {
        sasl.buffer.push_str(param);
    }
    if param.len() == SASL_CHUNK_BYTES {
        return;
    }
    let Some(sasl) = session.sasl.take() else {
        return;
    };
    let Sasl { step, buffer } = *sasl;
    match step {
        Step::Plain => plain(session, &buffer),
        Step::ScramFirst => scram_first(session, &buffer),
        Step::ScramFinal(exchange) => scram_final(session, &exchange, &buffer),
        Step::ScramVerified(account) if buffer.is_empty() => {
            logged_in(session, &account);
            session.numeric(reply::RPL_SASLSUCCESS, &["SASL authentication successful"]);
        }
        Step::ScramVerified(_) => sasl_fail(session),
    }
}

/// The `PLAIN` credentials, checked.
fn plain(session: &mut Session, payload: &str) {
    let Some((account, password)) = decode_plain(payload) else {
        sasl_fail(session);
        return;
    };
    let (hub, id) = (session.hub().clone(), session.id);
    wait(session, async move {
        let result = hub.log_in(id, &account, &password).await;
        Box::new(move |session: &mut Session| match result {
            Ok(account) => {
                logged_in(session, &account);
                session.numeric(reply::RPL_SASLSUCCESS, &["SASL authentication successful"]);
            }
            Err(_) => sasl_fail(session),
        }) as Continuation
    });
}

/// The client's first SCRAM message: answered with the server's (salt, rounds, nonce).
fn scram_first(session: &mut Session, payload: &str) {
    let Some(message) = decode_text(payload) else {
        sasl_fail(session);
        return;
    };
    let (hub, id) = (session.hub().clone(), session.id);
    wait(session, async move {
        let result = hub.scram_start(id, &message).await;
        Box::new(move |session: &mut Session| match result {
            Ok((exchange, server_first)) => {
                send_authenticate(session, &server_first);
                session.sasl = Some(Box::new(Sasl {
                    step: Step::ScramFinal(Box::new(exchange)),
                    buffer: String::new(),
                }));
            }
            Err(_) => sasl_fail(session),
        }) as Continuation
    });
}

/// The client's proof: if right, the server's signature, and the exchange waits for the
/// client's empty answer.
fn scram_final(session: &mut Session, exchange: &ScramExchange, payload: &str) {
    let Some(message) = decode_text(payload) else {
        sasl_fail(session);
        return;
    };
    match session.hub().scram_finish(session.id, exchange, &message) {
        Ok((server_final, account)) => {
            send_authenticate(session, &server_final);
            session.sasl = Some(Box::new(Sasl {
                step: Step::ScramVerified(account),
                buffer: String::new(),
            }));
        }
        Err(_) => sasl_fail(session),
    }
}

/// `AUTHENTICATE` with `data` base64-encoded, in chunks of 400 (`+` for none, and after a
/// last chunk of exactly 400).
fn send_authenticate(session: &mut Session, data: &str) {
    let encoded = BASE64.encode(data);
    let mut rest = encoded.as_str();
    loop {
        let (chunk, tail) = rest.split_at(rest.len().min(SASL_CHUNK_BYTES));
        let mut b = LineBuilder::new();
        b.command("AUTHENTICATE")
            .param(if chunk.is_empty() { "+" } else { chunk });
        session.send(b.finish());
        if chunk.len() < SASL_CHUNK_BYTES {
            return;
        }
        rest = tail;
    }
}

/// A base64 payload that must be UTF-8 text.
fn decode_text(payload: &str) -> Option<String> {
    String::from_utf8(BASE64.decode(payload).ok()?).ok()
}

/// `authzid NUL authcid NUL password`, base64: the account (authcid; an authzid, if given,
/// must name the same account) and the password.
pub(crate) fn decode_plain(payload: &str) -> Option<(Nick, String)> {
    let bytes = BASE64.decode(payload).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('\0');
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || password.is_empty() {
        return None;
    }
    let account = Nick::parse(authcid).ok()?;
    if !authzid.is_empty() && Nick::parse(authzid).ok()?.key() != account.key() {
        return None;
    }
    Some((account, password.to_owned()))
}

fn sasl_fail(session: &mut Session) {
    session.numeric(reply::ERR_SASLFAIL, &["SASL authentication failed"]);
}

/// `900 nick nick!user@host account :You are now logged in as account`.
fn logged_in(session: &mut Session, account: &Nick) {
    let mask = match &session.nick {
        Some(nick) => {
            let user = session.user.as_deref().unwrap_or("*");
            format!("{nick}!{user}@{}", session.host)
        }
        None => "*".to_owned(),
    };
    let text = format!("You are now logged in as {account}");
    session.numeric(reply::RPL_LOGGEDIN, &[&mask, account.as_str(), &text]);
}

/// Holds the session's input until `operation` is done; its continuation finishes the
/// command.
fn wait(session: &mut Session, operation: impl Future<Output = Continuation> + Send + 'static) {
    session.waiting = Some(Box::pin(operation));
}

/// `REGISTER account email password` (`draft/account-registration`): registers the
/// session's nick (`account` is `*` or that nick) and logs in; also before connection
/// registration completes (`before-connect`), though never before a required `PASS`. The
/// email is needed only if the server says `email-required`, and then only checked for
/// form: no mail is sent.
pub(super) fn register(session: &mut Session, message: &Message) {
    let account = message.params[0].as_str();
    let email = message.params[1].as_str();
    let password = message.params[2].clone();
    if !session.has_password {
        register_fail(
            session,
            "TEMPORARILY_UNAVAILABLE",
            account,
            "Give the server password (PASS) first",
        );
        return;
    }
    let Some(nick) = session.nick.clone() else {
        // A registered nick waiting for SASL is an account already.
        if let Some(wanted) = session.wanted_nick.as_deref() {
            let wanted = wanted.as_str().to_owned();
            register_fail(
                session,
                "ACCOUNT_EXISTS",
                &wanted,
                "That nickname is registered already",
            );
            return;
        }
        session.fail(
            "REGISTER",
            "NEED_NICK",
            &["*"],
            "Choose a nickname (NICK) first",
        );
        return;
    };
    if account != "*" && Nick::parse(account).map_or(true, |a| a.key() != nick.key()) {
        register_fail(
            session,
            "ACCOUNT_NAME_MUST_BE_NICK",
            account,
            "The account name must be your current nickname",
        );
        return;
    }
    if session.config().is_email_required && !is_email(email) {
        register_fail(
            session,
            "INVALID_EMAIL",
            nick.as_str(),
            "This server needs an email address to register an account",
        );
        return;
    }
    if session
        .hub()
        .account_of(session.id)
        .ok()
        .flatten()
        .is_some()
    {
        register_fail(
            session,
            "ALREADY_AUTHENTICATED",
            nick.as_str(),
            "You are already logged in",
        );
        return;
    }
    let (hub, id) = (session.hub().clone(), session.id);
    wait(session, async move {
        let result = hub.register_account(id, &password).await;
        Box::new(move |session: &mut Session| match result {
            Ok(account) => {
                let mut b = session.server_line();
                b.command("REGISTER")
                    .param("SUCCESS")
                    .param(account.as_str())
                    .trailing("Account successfully registered");
                session.send(b.finish());
                logged_in(session, &account);
            }
            Err(refusal) => {
                let code = match &refusal {
                    Refusal::AccountExists(_) => "ACCOUNT_EXISTS",
                    Refusal::BadPassword { .. } => "UNACCEPTABLE_PASSWORD",
                    _ => "TEMPORARILY_UNAVAILABLE",
                };
                register_fail(session, code, nick.as_str(), &refusal.to_string());
            }
        }) as Continuation
    });
}

/// An address of the form `local@domain.tld`: no spaces, one `@`, a dot in the domain.
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn register_fail(session: &mut Session, code: &str, account: &str, text: &str) {
    session.fail("REGISTER", code, &[account], text);
}

/// Whether `target` (a PRIVMSG target) is the NickServ service.
pub(super) fn is_nickserv(target: &str) -> bool {
    target.eq_ignore_ascii_case(NICKSERV)
        || target
            .split_once('@')
            .is_some_and(|(nick, _)| nick.eq_ignore_ascii_case(NICKSERV))
}

/// A line to NickServ: `HELP`, `REGISTER password [email]`, `IDENTIFY [account] password`,
/// `GHOST nick`, `LOGOUT`, `INFO [account]`.
pub(super) fn nickserv(session: &mut Session, text: &str) {
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or("HELP").to_ascii_uppercase();
    let args: Vec<&str> = words.collect();
    let (hub, id) = (session.hub().clone(), session.id);
    match (command.as_str(), args.as_slice()) {
        ("REGISTER", [password, ..]) => {
            // `REGISTER password [email]`, as other services take it.
            let password = (*password).to_owned();
            wait(session, async move {
                let result = hub.register_account(id, &password).await;
                Box::new(move |session: &mut Session| match result {
                    Ok(account) => {
                        service_notice(
                            session,
                            &format!("Account {account} registered; you are logged in."),
                        );
                        logged_in(session, &account);
                    }
                    Err(refusal) => service_notice(session, &capitalised(&refusal)),
                }) as Continuation
            });
        }
        // One word: the password of the current nick's account; more: an account name,
        // then the password (which may hold spaces).
        ("IDENTIFY", [first, rest @ ..]) => {
            let (account, password) = match rest {
                [] => (session.nick.clone(), (*first).to_owned()),
                _ => (Nick::parse(first).ok(), rest.join(" ")),
            };
            let Some(account) = account else {
                service_notice(session, "Wrong account name or password.");
                return;
            };
            wait(session, async move {
                let result = hub.log_in(id, &account, &password).await;
                Box::new(move |session: &mut Session| match result {
                    Ok(account) => {
                        service_notice(session, &format!("You are now identified as {account}."));
                        logged_in(session, &account);
                    }
                    Err(refusal) => service_notice(session, &capitalised(&refusal)),
                }) as Continuation
            });
        }
        ("LOGOUT", []) => match hub.log_out(id) {
            Ok(()) => {
                service_notice(session, "You are logged out.");
                let target = session.target();
                let mask = format!("{target}!*@{}", session.host);
                session.numeric(reply::RPL_LOGGEDOUT, &[&mask, "You are now logged out"]);
            }
            Err(refusal) => service_notice(session, &capitalised(&refusal)),
        },
        ("GHOST", [nick]) => {
            let Ok(nick) = Nick::parse(nick) else {
                service_notice(session, "Usage: GHOST <nick>");
                return;
            };
            match hub.ghost(id, &nick) {
                Ok(()) => service_notice(session, &format!("{nick} has been disconnected.")),
                Err(Refusal::NotLoggedIn) => service_notice(
                    session,
                    &format!("You must be logged in to the account {nick} to do that."),
                ),
                Err(refusal) => service_notice(session, &capitalised(&refusal)),
            }
        }
        ("INFO", _) => {
            let Some(account) = args
                .first()
                .and_then(|a| Nick::parse(a).ok())
                .or_else(|| session.nick.clone())
            else {
                service_notice(session, "Usage: INFO [account]");
                return;
            };
            wait(session, async move {
                let result = info(&hub, &account).await;
                Box::new(move |session: &mut Session| service_notice(session, &result))
                    as Continuation
            });
        }
        _ => {
            for line in [
                "NickServ protects nicknames with a password. Commands:",
                "REGISTER <password>          register your current nickname",
                "IDENTIFY [account] <password> log in (or use SASL PLAIN)",
                "LOGOUT                       log out",
                "GHOST <nick>                 disconnect a session using your account's nick",
                "INFO [account]               when an account was registered",
            ] {
                service_notice(session, line);
            }
        }
    }
}

async fn info(hub: &Hub, account: &Nick) -> String {
    match hub.account_created(account).await {
        Ok(Some(created)) => format!(
            "Account {account} was registered {}.",
            humantime::format_rfc3339_seconds(created)
        ),
        Ok(None) => format!("{account} is not registered."),
        Err(refusal) => capitalised(&refusal),
    }
}

/// A refusal as a sentence.
fn capitalised(refusal: &Refusal) -> String {
    let text = refusal.to_string();
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

/// `:NickServ!NickServ@services NOTICE nick :text`.
fn service_notice(session: &mut Session, text: &str) {
    let target = session.target();
    let mut b = LineBuilder::new();
    b.source_parts(NICKSERV, NICKSERV, "services")
        .command("NOTICE")
        .param(&target)
        .trailing(text);
    session.send(b.finish());
}
