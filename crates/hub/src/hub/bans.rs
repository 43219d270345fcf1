//! Server bans (K-lines and D-lines): operators ban a `nick!user@host` mask, an address or
//! range, or an account, for a while or until lifted, with a reason. Kept in the store, so
//! they outlive a restart, and in memory, where every face's checks read them: an address
//! is refused at accept, a session when its registration completes (and when it logs in),
//! and the sessions a new ban matches are disconnected at once.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use teahouse_store::BanRecord;
use teahouse_types::{Profile, SessionId, casefold, mask_matches};
use tracing::info;

use super::Hub;
use crate::error::Refusal;

/// What a ban matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanTarget {
    /// A `nick!user@host` glob (casefolded).
    Mask(String),
    /// An address or range.
    Address(IpNet),
    /// An account (its casefolded name).
    Account(String),
}

impl BanTarget {
    /// Parses what an operator typed: an address or CIDR range, `$a:account`, a
    /// `nick!user@host` glob, or `user@host` (any nick).
    ///
    /// # Errors
    /// [`Refusal::BadBanMask`] for anything else.
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        let text = text.trim();
        if let Some(account) = text.strip_prefix("$a:") {
            return (!account.is_empty())
                .then(|| Self::Account(casefold(account)))
                .ok_or(Refusal::BadBanMask);
        }
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self::Address(net.trunc()));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::Address(IpNet::from(ip)));
        }
        let is_sane = !text.is_empty()
            && text.len() <= 200
            && text.contains('@')
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if !is_sane {
            return Err(Refusal::BadBanMask);
        }
        let mask = if text.contains('!') {
            text.to_owned()
        } else {
            format!("*!{text}")
        };
        // A mask that matches everyone would lock the server out.
        if ["*!*@*", "*!*@**", "*!**@*"].contains(&mask.as_str()) {
            return Err(Refusal::BadBanMask);
        }
        Ok(Self::Mask(casefold(&mask)))
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Mask(_) => "mask",
            Self::Address(_) => "address",
            Self::Account(_) => "account",
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Mask(mask) => mask.clone(),
            Self::Address(net) if net.prefix_len() == net.max_prefix_len() => {
                net.addr().to_string()
            }
            Self::Address(net) => net.to_string(),
            Self::Account(name) => format!("$a:{name}"),
        }
    }
}

impl std::fmt::Display for BanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// One ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBan {
    /// What it matches.
    pub target: BanTarget,
    /// Why.
    pub reason: String,
    /// The operator who set it.
    pub set_by: String,
    /// When it ends; `None` until lifted.
    pub expires: Option<SystemTime>,
}

impl ServerBan {
    fn is_live(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|at| at > now)
    }

    fn matches(&self, profile: &Profile, ip: Option<IpAddr>) -> bool {
        match &self.target {
            BanTarget::Mask(mask) => {
                let who = casefold(&format!(
                    "{}!{}@{}",
                    profile.nick.as_str(),
                    profile.user,
                    profile.host
                ));
                mask_matches(mask, &who)
            }
            BanTarget::Address(net) => ip.is_some_and(|ip| net.contains(&ip.to_canonical())),
            BanTarget::Account(name) => profile
                .account
                .as_deref()
                .is_some_and(|account| casefold(account) == *name),
        }
    }

    fn record(&self) -> BanRecord {
        BanRecord {
            kind: self.target.kind().to_owned(),
            mask: self.target.text(),
            reason: self.reason.clone(),
            set_by: self.set_by.clone(),
            created_ms: millis(SystemTime::now()),
            expires_ms: self.expires.map(millis),
        }
    }

    /// A stored ban, if it still parses.
    pub fn from_record(record: &BanRecord) -> Option<Self> {
        let target = BanTarget::parse(&record.mask).ok()?;
        (target.kind() == record.kind).then(|| Self {
            target,
            reason: record.reason.clone(),
            set_by: record.set_by.clone(),
            expires: record
                .expires_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
        })
    }
}

/// The bans in force, shared by the hub and the accept loops (which refuse banned
/// addresses before a session exists).
#[derive(Debug, Clone, Default)]
pub struct ServerBans {
    list: Arc<RwLock<Vec<ServerBan>>>,
}

impl ServerBans {
    /// The reason `ip` is banned, if it is.
    pub fn address_ban(&self, ip: IpAddr) -> Option<String> {
        let now = SystemTime::now();
        let ip = ip.to_canonical();
        self.read()
            .iter()
            .find(|ban| {
                ban.is_live(now)
                    && matches!(&ban.target, BanTarget::Address(net) if net.contains(&ip))
            })
            .map(|ban| ban.reason.clone())
    }

    /// The reason a session with `profile`, connected from `ip`, is banned, if it is.
    pub fn profile_ban(&self, profile: &Profile, ip: Option<IpAddr>) -> Option<String> {
        let now = SystemTime::now();
        self.read()
            .iter()
            .find(|ban| ban.is_live(now) && ban.matches(profile, ip))
            .map(|ban| ban.reason.clone())
    }

    /// The reason the account `name` is banned, if it is.
    pub fn account_ban(&self, name: &str) -> Option<String> {
        let now = SystemTime::now();
        let key = casefold(name);
        self.read()
            .iter()
            .find(|ban| ban.is_live(now) && ban.target == BanTarget::Account(key.clone()))
            .map(|ban| ban.reason.clone())
    }

    /// Every ban in force.
    pub fn list(&self) -> Vec<ServerBan> {
        let now = SystemTime::now();
        self.read()
            .iter()
            .filter(|ban| ban.is_live(now))
            .cloned()
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<ServerBan>> {
        self.list
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<ServerBan>> {
        self.list
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts `ban` in force, replacing one on the same target.
    pub(crate) fn insert(&self, ban: ServerBan) {
        let mut list = self.write();
        let now = SystemTime::now();
        list.retain(|b| b.target != ban.target && b.is_live(now));
        list.push(ban);
    }

    /// Puts exactly `bans` in force (those read from the store again).
    fn replace(&self, bans: Vec<ServerBan>) {
        *self.write() = bans;
    }

    fn remove(&self, target: &BanTarget) -> bool {
        let mut list = self.write();
        let before = list.len();
        list.retain(|b| b.target != *target);
        list.len() != before
    }
}

impl Hub {
    /// The bans in force (shared: the accept loops read them too).
    pub fn bans(&self) -> &ServerBans {
        &self.inner.bans
    }

    /// An operator bans `target` for `duration` (until lifted if `None`) with `reason`:
    /// stored first, then in force, then every session it matches is disconnected with the
    /// reason. Returns how many were.
    ///
    /// # Errors
    /// [`Refusal::NoPrivileges`] for a non-operator, [`Refusal::AccountsUnavailable`]
    /// without a store or when it fails, [`Refusal::SessionClosed`].
    pub async fn add_ban(
        &self,
        session: SessionId,
        target: BanTarget,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<usize, Refusal> {
        let oper = self.oper_of(session).ok_or(Refusal::NoPrivileges)?;
        let ban = ServerBan {
            target,
            reason: reason.to_owned(),
            set_by: oper.to_string(),
            expires: duration.map(|d| SystemTime::now() + d),
        };
        let store = self.accounts()?.store().clone();
        store
            .set_ban(&ban.record())
            .await
            .map_err(|_| Refusal::AccountsUnavailable)?;
        info!(session_id = %session, oper = %oper, ban = %ban.target, reason, "ban set");
        self.inner.bans.insert(ban.clone());
        self.bans_changed();
        // Everyone it matches now goes, with the reason.
        let matched: Vec<_> = {
            let core = self.lock();
            core.state
                .named_sessions()
                .filter(|(id, profile)| {
                    *id != session && ban.matches(profile, core.state.address_of(*id))
                })
                .map(|(_, profile)| profile.nick.clone())
                .collect()
        };
        let text = format!("Banned: {reason}");
        let mut killed = 0;
        for nick in matched {
            if self.kill(session, &nick, &text).is_ok() {
                killed += 1;
            }
        }
        Ok(killed)
    }

    /// An operator lifts the ban on `target`; `false` if there was none.
    ///
    /// # Errors
    /// As [`Hub::add_ban`].
    pub async fn remove_ban(
        &self,
        session: SessionId,
        target: &BanTarget,
    ) -> Result<bool, Refusal> {
        let oper = self.oper_of(session).ok_or(Refusal::NoPrivileges)?;
        let store = self.accounts()?.store().clone();
        let stored = store
            .remove_ban(target.kind(), &target.text())
            .await
            .map_err(|_| Refusal::AccountsUnavailable)?;
        let held = self.inner.bans.remove(target);
        self.bans_changed();
        info!(session_id = %session, oper = %oper, ban = %target, "ban lifted");
        Ok(stored || held)
    }

    /// Tells the other nodes, if any, that the stored bans changed.
    fn bans_changed(&self) {
        if let Some(bus) = &self.inner.bus {
            bus.send_bans_changed(bus.peers());
        }
    }

    /// Reads the server bans from the store again and puts them in force (another node
    /// changed them); the sessions of this node a new ban matches are disconnected by the
    /// node that set it, as it knows every session.
    ///
    /// # Errors
    /// [`Refusal::AccountsUnavailable`] without a store or when it fails.
    pub async fn reload_bans(&self) -> Result<usize, Refusal> {
        let store = self.accounts()?.store().clone();
        let records = store
            .bans(millis(SystemTime::now()))
            .await
            .map_err(|_| Refusal::AccountsUnavailable)?;
        let bans: Vec<ServerBan> = records.iter().filter_map(ServerBan::from_record).collect();
        let count = bans.len();
        self.inner.bans.replace(bans);
        Ok(count)
    }

    /// The reason the session is banned, if it is (at the end of its registration, and when
    /// it logs in).
    pub(crate) fn ban_of(&self, session: SessionId) -> Option<String> {
        let (profile, ip) = {
            let core = self.lock();
            (core.state.profile(session)?, core.state.address_of(session))
        };
        self.inner.bans.profile_ban(&profile, ip)
    }
}

fn millis(time: SystemTime) -> i64 {
    i64::try_from(crate::history::millis(time)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_as_typed() {
        let t = BanTarget::parse("192.0.2.0/24").unwrap();
        assert_eq!(t.to_string(), "192.0.2.0/24");
        assert_eq!(
            BanTarget::parse("192.0.2.7").unwrap().to_string(),
            "192.0.2.7"
        );
        assert_eq!(
            BanTarget::parse("*@evil.example").unwrap().to_string(),
            "*!*@evil.example"
        );
        assert_eq!(BanTarget::parse("Bad!*@*").unwrap().to_string(), "bad!*@*");
        assert_eq!(
            BanTarget::parse("$a:Mallory").unwrap().to_string(),
            "$a:mallory"
        );
        for bad in ["", "nobody", "*!*@*", "a b@c", "$a:"] {
            assert_eq!(BanTarget::parse(bad), Err(Refusal::BadBanMask), "{bad:?}");
        }
    }
}
