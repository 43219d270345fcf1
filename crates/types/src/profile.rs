//! Who a user is, as others see them.

use std::sync::Arc;

use crate::nick::Nick;

/// A user as other users see them: nick, user name, host, real name and account.
///
/// Events carry an `Arc<Profile>` snapshot of their source, so a face can render
/// `nick!user@host` without asking the hub. A new snapshot is made when any field changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The current nick.
    pub nick: Nick,
    /// The user name (IRC's `USER`; `text` for plain-text users).
    pub user: Arc<str>,
    /// The host shown for the user: their address.
    pub host: Arc<str>,
    /// The real name (IRC's `USER` realname, `SETNAME`).
    pub realname: Arc<str>,
    /// The account the user is logged in to, if any.
    pub account: Option<Arc<str>>,
}

impl Profile {
    /// `nick!user@host`, as masks match it.
    pub fn mask(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }
}
