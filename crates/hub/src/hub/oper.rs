//! Server operators: who may `OPER` up (configured, with Argon2id password hashes), and
//! what they may do that others may not (`KILL`, `WALLOPS`).

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{MessageText, Nick, SessionId, UserMode};
use tracing::info;

use super::Hub;
use crate::error::Refusal;

/// One operator block of the config: a name, its password as an Argon2id PHC string (made
/// by `teahouse admin hash-password`; never the password itself), and the hosts it may be
/// used from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorConfig {
    /// The name given to `OPER`.
    pub name: String,
    /// The password's Argon2id hash, as a PHC string.
    pub password_hash: String,
    /// Host masks (globs against the session's host, such as `127.0.0.1` or `10.*`) it may
    /// be used from.
    pub hosts: Vec<String>,
}

impl Hub {
    /// Makes the session a server operator if `name` is an operator block that allows the
    /// session's host and `password` matches its hash; returns the operator name. Wrong
    /// passwords count towards the same limits as logins (per name and per address).
    ///
    /// # Errors
    /// [`Refusal::NoOperHost`] for an unknown name or a host it does not allow,
    /// [`Refusal::AuthFailed`] for a wrong password, [`Refusal::RateLimited`],
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub async fn oper_up(
        &self,
        session: SessionId,
        name: &str,
        password: &str,
    ) -> Result<Arc<str>, Refusal> {
        let host = self.host_of(session)?;
        let keys = [format!("oper:{name}"), format!("ip:{host}")];
        let accounts = self.accounts().ok();
        if accounts.is_some_and(|a| a.is_limited(&keys)) {
            return Err(Refusal::RateLimited);
        }
        let folded_host = teahouse_types::casefold(&host);
        let operators = self.operators();
        let block = operators.iter().find(|block| {
            block.name == name
                && block.hosts.iter().any(|mask| {
                    teahouse_types::mask_matches(&teahouse_types::casefold(mask), &folded_host)
                })
        });
        let Some(block) = block else {
            if let Some(accounts) = accounts {
                accounts.record_failure(&keys);
            }
            info!(session_id = %session, oper = name, "OPER for no block of this host");
            return Err(Refusal::NoOperHost);
        };
        let (hash, password) = (block.password_hash.clone(), password.to_owned());
        let is_match = match accounts {
            Some(accounts) => accounts.verify(hash, password).await?,
            None => tokio::task::spawn_blocking(move || {
                crate::account::verify_password(&hash, &password, &mut Vec::new())
            })
            .await
            .map_err(|_| Refusal::AccountsUnavailable)?,
        };
        if !is_match {
            if let Some(accounts) = accounts {
                accounts.record_failure(&keys);
            }
            info!(session_id = %session, oper = name, "OPER with a wrong password");
            return Err(Refusal::AuthFailed);
        }
        let oper: Arc<str> = Arc::from(block.name.as_str());
        let given = Arc::clone(&oper);
        self.execute(session, move |state| {
            Ok((state.decide_oper(session, Some(given))?, ()))
        })?;
        info!(session_id = %session, oper = %oper, "operator logged in");
        Ok(oper)
    }

    /// The operator blocks in force.
    fn operators(&self) -> Arc<Vec<OperatorConfig>> {
        Arc::clone(
            &self
                .inner
                .operators
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Replaces the operator blocks (a configuration reload): the next `OPER` checks
    /// against these; operators already up stay up.
    pub fn set_operators(&self, operators: Vec<OperatorConfig>) {
        *self
            .inner
            .operators
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(operators);
    }

    /// The session stops being a server operator (user mode `-o`).
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn oper_down(&self, session: SessionId) -> Result<(), Refusal> {
        self.execute(session, |state| Ok((state.decide_oper(session, None)?, ())))
    }

    /// The session's operator name, if it is a server operator.
    pub fn oper_of(&self, session: SessionId) -> Option<Arc<str>> {
        self.lock().state.oper_of(session).cloned()
    }

    /// Sets or unsets one of the session's user modes; says whether it changed.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn set_user_mode(
        &self,
        session: SessionId,
        mode: UserMode,
        is_set: bool,
    ) -> Result<bool, Refusal> {
        self.execute(session, |state| {
            let change = state.decide_user_mode(session, mode, is_set)?;
            let is_changed = change.is_some();
            Ok((change, is_changed))
        })
    }

    /// An operator disconnects the session holding `target` (`KILL`) with `reason`.
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NoSuchNick`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub fn kill(&self, session: SessionId, target: &Nick, reason: &str) -> Result<(), Refusal> {
        self.execute(session, |state| {
            Ok((
                Some(state.decide_kill(session, target, reason, SystemTime::now())?),
                (),
            ))
        })?;
        info!(session_id = %session, target = %target, "killed");
        Ok(())
    }

    /// An operator changes the user name and host `target` shows (`CHGHOST`); they and
    /// everyone sharing a room with them are told.
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NoSuchNick`], [`Refusal::NotRegistered`],
    /// [`Refusal::SessionClosed`].
    pub fn change_host(
        &self,
        session: SessionId,
        target: &Nick,
        user: &str,
        host: &str,
    ) -> Result<(), Refusal> {
        let (user, host): (Arc<str>, Arc<str>) = (user.into(), host.into());
        self.execute(session, |state| {
            Ok((
                Some(state.decide_host(session, target, user, host, SystemTime::now())?),
                (),
            ))
        })?;
        info!(session_id = %session, target = %target, "host changed");
        Ok(())
    }

    /// An operator's notice to everyone with user mode `+w` (`WALLOPS`).
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`], [`Refusal::NotRegistered`], [`Refusal::SessionClosed`].
    pub fn wallops(&self, session: SessionId, text: MessageText) -> Result<(), Refusal> {
        self.execute(session, |state| {
            Ok((
                Some(state.decide_wallops(session, text, SystemTime::now())?),
                (),
            ))
        })
    }
}
