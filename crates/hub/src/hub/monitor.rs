//! IRC `MONITOR`: a session watches nicks and is told when their users come online or go
//! offline ([`teahouse_types::EventKind::Monitored`]), and, with `extended-monitor`, of
//! their away, account and real-name changes ([`teahouse_types::EventKind::Watched`]).

use std::sync::Arc;

use teahouse_types::{Nick, Profile, SessionId};

use super::Hub;
use crate::error::Refusal;

/// How many nicks one session may monitor (ISUPPORT `MONITOR`).
pub const MAX_MONITOR: usize = 100;

/// What `MONITOR +` did: the state of each nick now watched, and those that did not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorOutcome {
    /// Each nick given that is now watched, with its user if online.
    pub status: Vec<(Nick, Option<Arc<Profile>>)>,
    /// The nicks beyond [`MAX_MONITOR`], not added.
    pub overflow: Vec<Nick>,
}

impl Hub {
    /// The session monitors `nicks` as well, up to [`MAX_MONITOR`] in all.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn monitor_add(
        &self,
        session: SessionId,
        nicks: &[Nick],
    ) -> Result<MonitorOutcome, Refusal> {
        self.execute(session, |state| {
            let (change, overflow) = state.decide_monitor_add(session, nicks, MAX_MONITOR)?;
            let status = nicks
                .iter()
                .filter(|nick| !overflow.contains(nick))
                .map(|nick| (nick.clone(), state.online(nick)))
                .collect();
            Ok((change, MonitorOutcome { status, overflow }))
        })
    }

    /// The session stops monitoring `nicks`, or every nick with `None` (`MONITOR C`).
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn monitor_remove(
        &self,
        session: SessionId,
        nicks: Option<Vec<Nick>>,
    ) -> Result<(), Refusal> {
        self.execute(session, |state| {
            Ok((state.decide_monitor_remove(session, nicks)?, ()))
        })
    }

    /// The nicks the session monitors, each with its user if online (`MONITOR L`/`S`).
    pub fn monitor_status(&self, session: SessionId) -> Vec<(Nick, Option<Arc<Profile>>)> {
        let core = self.lock();
        core.state
            .monitored(session)
            .into_iter()
            .map(|nick| {
                let online = core.state.online(&nick);
                (nick, online)
            })
            .collect()
    }
}
