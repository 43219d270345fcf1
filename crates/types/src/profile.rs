//! Who a user is, as others see them.

use std::net::IpAddr;
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
    /// A bot (user mode `+B`).
    pub is_bot: bool,
}

impl Profile {
    /// `nick!user@host`, as masks match it.
    pub fn mask(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }
}

/// The host shown for a client at `ip`, the same on every face: the address in its usual
/// text form (an IPv4-mapped IPv6 address as IPv4), with a `0` before an IPv6 address that
/// would start with `:` (IRC would read that as the start of a trailing parameter, and a
/// ban set from IRC must match the plain-text user at the same address).
pub fn host_of(ip: IpAddr) -> String {
    let host = ip.to_canonical().to_string();
    if host.starts_with(':') {
        format!("0{host}")
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_irc_safe_and_mapped_addresses_are_ipv4() {
        assert_eq!(host_of("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(host_of("::1".parse().unwrap()), "0::1");
        assert_eq!(host_of("::ffff:10.0.0.7".parse().unwrap()), "10.0.0.7");
        assert_eq!(host_of("2001:db8::5".parse().unwrap()), "2001:db8::5");
    }
}
