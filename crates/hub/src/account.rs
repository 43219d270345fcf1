//! Accounts: a registered nickname is protected by a password, hashed with Argon2id.
//!
//! An account's name is the nick it protects (compared casefolded). A session logs in to
//! an account with its password; only a session logged in to it may use that nick. Every
//! hash and check runs on the blocking pool, so a login never stalls other sessions, and at
//! most a few run at once, each in Argon2 memory kept for the next (see [`HashSlots`]).
//! Wrong passwords are limited per account and per address, and an unknown account gets
//! the same answer, after the same work, as a wrong password.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use teahouse_cluster::Claim;
use teahouse_store::{AccountRecord, Store};
use teahouse_types::{Nick, SessionId};
use tracing::{info, warn};

use crate::error::Refusal;
use crate::hub::Hub;
use crate::scram::{ClientFirst, ScramExchange, ScramKeys};

/// Account settings; plain values, filled by the server from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// Argon2id memory cost in KiB. 19 MiB with 2 passes is OWASP's baseline: tens of
    /// milliseconds here, and costly to guess at scale.
    pub argon2_memory_kib: u32,
    /// Argon2id passes.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// The shortest password accepted, in bytes.
    pub min_password_bytes: usize,
    /// The longest password accepted, in bytes: enough for any passphrase, and a bound on
    /// the work one attempt can cause.
    pub max_password_bytes: usize,
    /// Wrong passwords allowed per account, and per address, within [`Self::failure_window`].
    pub max_failures: u32,
    /// The window wrong passwords are counted in.
    pub failure_window: Duration,
    /// Whether wrong passwords from a loopback address count per account only: a bridge
    /// or bouncer on this machine carries many users, whose typos would otherwise lock
    /// each other out (the connection limits' loopback exemption, `limits.loopback_exempt`).
    pub is_loopback_exempt: bool,
    /// Address ranges exempt like loopback (the connection limits' `exempt`).
    pub exempt: Vec<ipnet::IpNet>,
    /// New accounts one address may register per period (a burst, refilled steadily);
    /// `None` for no throttle.
    pub registration_rate: Option<(u32, Duration)>,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            min_password_bytes: 8,
            max_password_bytes: 256,
            max_failures: 5,
            failure_window: Duration::from_secs(60),
            is_loopback_exempt: true,
            exempt: Vec::new(),
            registration_rate: Some((30, Duration::from_secs(600))),
        }
    }
}

type Throttle = governor::RateLimiter<
    String,
    governor::state::keyed::HashMapStateStore<String>,
    governor::clock::MonotonicClock,
>;

/// The hub's account service.
pub(crate) struct Accounts {
    store: Store,
    config: AccountConfig,
    /// Failures by `account:<key>` and `ip:<host>`: count and when counting began.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// A hash to check unknown accounts against, so they cost what a wrong password costs.
    decoy: String,
    /// What the SCRAM salts of unknown accounts are made from: the same name gets the same
    /// salt for the life of the process, as a real account would.
    decoy_secret: [u8; 32],
    slots: Arc<HashSlots>,
    /// New accounts by `ip:<host>`.
    registrations: Option<Throttle>,
}

/// At most this many password hashes run at once (fewer on a machine with fewer cores).
const MAX_HASH_SLOTS: usize = 4;

/// Where password hashes run: at most one per slot at once, each slot's Argon2 memory kept
/// for the next hash.
///
/// Each hash needs its whole memory cost at once (19 MiB by default). Run one per blocking
/// thread with memory of its own, as before, and the allocator kept every thread's: 33
/// account registrations, 16 at a time, left the server at 614 MB, and a flood of logins
/// (a wrong password costs the same work) could take any amount. With slots, the memory is
/// the slots' buffers, allocated on first use; further hashes wait their turn, in order.
struct HashSlots {
    permits: Arc<tokio::sync::Semaphore>,
    /// Buffers not in use; at most one per slot.
    idle: Mutex<Vec<Vec<Block>>>,
    /// A buffer grown past this many blocks (for a hash stored with a bigger memory cost
    /// than configured) is freed after use rather than kept.
    kept_blocks: usize,
}

impl HashSlots {
    fn new(slots: usize, kept_blocks: usize) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            idle: Mutex::new(Vec::new()),
            kept_blocks,
        }
    }

    /// Runs `work` on the blocking pool once a slot is free, with that slot's memory.
    ///
    /// The slot and its memory are held by the blocking task itself, until the hash ends:
    /// a client that hangs up mid-login frees no slot for another hash while its own is
    /// still running.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Refusal::AccountsUnavailable)?;
        let slots = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut blocks = slots.lock_idle().pop().unwrap_or_default();
            let result = work(&mut blocks);
            if blocks.len() <= slots.kept_blocks {
                slots.lock_idle().push(blocks);
            }
            drop(permit);
            result
        })
        .await
        .map_err(|_| Refusal::AccountsUnavailable)
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Accounts {
    /// Checks `password` against the PHC string `hash` in a hashing slot.
    pub(crate) async fn verify(&self, hash: String, password: String) -> Result<bool, Refusal> {
        self.slots
            .run(move |blocks| verify_password(&hash, &password, blocks))
            .await
    }

    pub(crate) fn new(store: Store, config: AccountConfig) -> Result<Self, crate::error::Error> {
        let decoy = decoy_hash(&config).map_err(|_| {
            crate::error::Error::AccountConfig(format!(
                "Argon2 memory {} KiB, {} passes, {} lanes",
                config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism
            ))
        })?;
        let slots = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_HASH_SLOTS);
        // The configured parameters are valid: the decoy was made with them.
        let kept_blocks = hasher(&config).map_or(0, |argon2| argon2.params().block_count());
        let mut decoy_secret = [0u8; 32];
        OsRng.fill_bytes(&mut decoy_secret);
        let registration_rate = config.registration_rate;
        Ok(Self {
            store,
            config,
            failures: Mutex::new(HashMap::new()),
            decoy,
            decoy_secret,
            slots: Arc::new(HashSlots::new(slots, kept_blocks)),
            registrations: registration_rate.map(|(per, period)| {
                governor::RateLimiter::hashmap_with_clock(
                    crate::flood::quota_per(per, period),
                    governor::clock::MonotonicClock,
                )
            }),
        })
    }

    /// Takes one registration from `key`'s (`ip:<host>`) allowance; `false` if it is used
    /// up for now. Exempt addresses are not counted.
    fn may_register(&self, key: &str) -> bool {
        let Some(throttle) = &self.registrations else {
            return true;
        };
        if !self.counts(key) {
            return true;
        }
        if throttle.len() > 4096 {
            throttle.retain_recent();
        }
        throttle.check_key(&key.to_owned()).is_ok()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The Argon2id hash of a new password and its SCRAM keys, stored form, made in a
    /// hashing slot.
    async fn hash_with_scram(&self, password: &str) -> Result<(String, String), Refusal> {
        let config = self.config.clone();
        let password = password.to_owned();
        self.slots
            .run(move |blocks| {
                let hash = hash_password(&config, &password, blocks)?;
                Ok((hash, ScramKeys::derive(&password).encode()))
            })
            .await?
    }

    fn check_password_rules(&self, password: &str) -> Result<(), Refusal> {
        let len = password.len();
        if len < self.config.min_password_bytes || len > self.config.max_password_bytes {
            return Err(Refusal::BadPassword {
                min_bytes: self.config.min_password_bytes,
                max_bytes: self.config.max_password_bytes,
            });
        }
        Ok(())
    }

    /// Whether failures under `key` are counted: not an exempt loopback address's.
    fn counts(&self, key: &str) -> bool {
        let is_exempt = key
            .strip_prefix("ip:")
            .and_then(|host| host.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| {
                crate::limit::is_exempt_address(
                    self.config.is_loopback_exempt,
                    &self.config.exempt,
                    ip,
                )
            });
        !is_exempt
    }

    pub(crate) fn is_limited(&self, keys: &[String]) -> bool {
        let mut failures = self.lock_failures();
        let now = Instant::now();
        keys.iter().filter(|key| self.counts(key)).any(|key| {
            failures.get(key).is_some_and(|(count, since)| {
                now.duration_since(*since) < self.config.failure_window
                    && *count >= self.config.max_failures
            })
        }) || {
            failures
                .retain(|_, (_, since)| now.duration_since(*since) < self.config.failure_window);
            false
        }
    }

    pub(crate) fn record_failure(&self, keys: &[String]) {
        let mut failures = self.lock_failures();
        let now = Instant::now();
        for key in keys.iter().filter(|key| self.counts(key)) {
            let slot = failures.entry(key.clone()).or_insert((0, now));
            if now.duration_since(slot.1) >= self.config.failure_window {
                *slot = (0, now);
            }
            slot.0 += 1;
        }
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

fn hasher(config: &AccountConfig) -> Result<Argon2<'static>, Refusal> {
    let params = Params::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        None,
    )
    .map_err(|error| {
        warn!(%error, "invalid Argon2 parameters");
        Refusal::AccountsUnavailable
    })?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Whether `hash` is an Argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), as
/// operator passwords in the config must be.
pub fn is_password_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        parsed.algorithm.as_str() == "argon2id"
            && parsed.salt.is_some()
            && parsed.hash.is_some()
            && Params::try_from(&parsed).is_ok()
    })
}

/// Hashes `password` with Argon2id as `config` says, into a PHC string (for the admin
/// tool; sessions go through [`Hub::register_account`]). CPU-heavy: not on an async worker.
///
/// # Errors
/// [`Refusal::BadPassword`] outside the configured length, [`Refusal::AccountsUnavailable`]
/// if the parameters are invalid.
pub fn hash_new_password(config: &AccountConfig, password: &str) -> Result<String, Refusal> {
    let len = password.len();
    if len < config.min_password_bytes || len > config.max_password_bytes {
        return Err(Refusal::BadPassword {
            min_bytes: config.min_password_bytes,
            max_bytes: config.max_password_bytes,
        });
    }
    hash_password(config, password, &mut Vec::new())
}

/// Hashes `password` into a PHC string, in `blocks` (grown as the parameters need).
fn hash_password(
    config: &AccountConfig,
    password: &str,
    blocks: &mut Vec<Block>,
) -> Result<String, Refusal> {
    let argon2 = hasher(config)?;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let output = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .and_then(|salt| hash_in(&argon2, password, salt, Params::DEFAULT_OUTPUT_LEN, blocks))
        .map_err(|error| {
            warn!(%error, "password hashing failed");
            Refusal::AccountsUnavailable
        })?;
    phc_string(&argon2, &salt, output)
}

/// The PHC string of an Argon2id hash made by `argon2` with `salt`.
fn phc_string(argon2: &Argon2<'_>, salt: &SaltString, output: Output) -> Result<String, Refusal> {
    let params = ParamsString::try_from(argon2.params()).map_err(|error| {
        warn!(%error, "invalid Argon2 parameters");
        Refusal::AccountsUnavailable
    })?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// A PHC string with the configured parameters, a random salt and a random output: checking
/// a password against it costs one full hash, as against a real one, and never matches (a
/// password hashing to 32 given random bytes is not to be found). Made without hashing, so
/// starting the server costs no Argon2 memory or time.
fn decoy_hash(config: &AccountConfig) -> Result<String, Refusal> {
    let argon2 = hasher(config)?;
    let salt = SaltString::generate(&mut OsRng);
    let mut bytes = [0u8; Params::DEFAULT_OUTPUT_LEN];
    OsRng.fill_bytes(&mut bytes);
    let output = Output::new(&bytes).map_err(|error| {
        warn!(%error, "decoy hash");
        Refusal::AccountsUnavailable
    })?;
    phc_string(&argon2, &salt, output)
}

/// Whether `password` matches the PHC string `hash` (whose own parameters are used),
/// computed in `blocks` (grown as the parameters need).
pub(crate) fn verify_password(hash: &str, password: &str, blocks: &mut Vec<Block>) -> bool {
    matches_hash(hash, password, blocks).unwrap_or(false)
}

fn matches_hash(
    hash: &str,
    password: &str,
    blocks: &mut Vec<Block>,
) -> Result<bool, argon2::password_hash::Error> {
    let parsed = PasswordHash::new(hash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let computed = hash_in(&argon2, password, salt_bytes, expected.len(), blocks)?;
    // `Output`'s comparison takes the same time wherever the outputs differ.
    Ok(computed == expected)
}

/// Argon2 of `password` and `salt` into an output of `len` bytes, in `blocks`.
fn hash_in(
    argon2: &Argon2<'_>,
    password: &str,
    salt: &[u8],
    len: usize,
    blocks: &mut Vec<Block>,
) -> Result<Output, argon2::password_hash::Error> {
    let needed = argon2.params().block_count();
    if blocks.len() < needed {
        blocks.resize(needed, Block::default());
    }
    Output::init_with(len, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut blocks[..])
            .map_err(Into::into)
    })
}

/// A granted claim, given back when this is dropped.
struct GivenBack<'a> {
    claims: &'a dyn teahouse_cluster::Claims,
    claim: Claim,
    owner: SessionId,
}

impl Drop for GivenBack<'_> {
    fn drop(&mut self) {
        self.claims.release(&self.claim, self.owner);
    }
}

fn unavailable(error: teahouse_store::Error) -> Refusal {
    warn!(%error, "account store unavailable");
    Refusal::AccountsUnavailable
}

impl Hub {
    pub(crate) fn accounts(&self) -> Result<&Accounts, Refusal> {
        self.inner
            .accounts
            .as_ref()
            .ok_or(Refusal::AccountsUnavailable)
    }

    /// Registers the session's nick as an account with `password`, and logs the session in.
    ///
    /// # Errors
    /// [`Refusal::NotRegistered`] without a nick, [`Refusal::BadPassword`],
    /// [`Refusal::AccountExists`], [`Refusal::AccountsUnavailable`].
    pub async fn register_account(
        &self,
        session: SessionId,
        password: &str,
    ) -> Result<Nick, Refusal> {
        let accounts = self.accounts()?;
        accounts.check_password_rules(password)?;
        let nick = self.nick_of(session)?;
        if self.is_registered_name(&nick) {
            return Err(Refusal::AccountExists(nick));
        }
        let host = self.host_of(session)?;
        if !accounts.may_register(&format!("ip:{host}")) {
            info!(session_id = %session, addr = %host, "registration refused: too many from this address");
            return Err(Refusal::TooManyRegistrations);
        }
        let (hash, scram) = accounts.hash_with_scram(password).await?;
        let record = AccountRecord {
            name_key: nick.key().to_owned(),
            name: nick.as_str().to_owned(),
            password_hash: hash,
            created_ms: i64::try_from(crate::history::millis(SystemTime::now())).unwrap_or(0),
            scram: Some(scram),
        };
        // No two nodes register this name at once; once the account is in the store its
        // key keeps the name, so the claim is given back whatever happens next, even if the
        // session goes away while the store answers.
        let claim = Claim::Account(nick.shared_key());
        self.inner
            .claims
            .claim(&claim, session)
            .await
            .map_err(|refused| match refused {
                teahouse_cluster::Refused::Taken => Refusal::AccountExists(nick.clone()),
                teahouse_cluster::Refused::Unreachable => Refusal::AccountsUnavailable,
            })?;
        let _claimed = GivenBack {
            claims: &*self.inner.claims,
            claim,
            owner: session,
        };
        if !accounts
            .store
            .create_account(&record)
            .await
            .map_err(unavailable)?
        {
            return Err(Refusal::AccountExists(nick));
        }
        self.set_registered_name(&nick, true);
        self.set_account(session, Some(Arc::from(nick.as_str())))?;
        self.metrics().registrations.increment(1);
        info!(session_id = %session, account = %nick, "account registered");
        Ok(nick)
    }

    /// Logs the session in to the account `name` if `password` is right. Answers an unknown
    /// account exactly as a wrong password; too many wrong passwords for the account or
    /// from the session's address are refused for a while without being checked.
    ///
    /// # Errors
    /// [`Refusal::AuthFailed`], [`Refusal::RateLimited`], [`Refusal::AccountsUnavailable`],
    /// [`Refusal::SessionClosed`].
    pub async fn log_in(
        &self,
        session: SessionId,
        name: &Nick,
        password: &str,
    ) -> Result<Nick, Refusal> {
        let accounts = self.accounts()?;
        let host = self.host_of(session)?;
        let keys = [format!("account:{}", name.key()), format!("ip:{host}")];
        if accounts.is_limited(&keys) {
            self.metrics().logins_failed.increment(1);
            return Err(Refusal::RateLimited);
        }
        let record = accounts
            .store
            .account(name.key())
            .await
            .map_err(unavailable)?;
        let (hash, account_name) = match &record {
            Some(record) => (record.password_hash.clone(), Some(record.name.clone())),
            None => (accounts.decoy.clone(), None),
        };
        // An account without SCRAM keys (registered before they were kept) gains them now
        // that the password is at hand, so its next login may use SCRAM-SHA-256.
        let needs_scram = record.as_ref().is_some_and(|r| r.scram.is_none());
        let password = password.to_owned();
        let (is_match, scram) = accounts
            .slots
            .run(move |blocks| {
                let is_match = verify_password(&hash, &password, blocks);
                let scram = (is_match && needs_scram).then(|| ScramKeys::derive(&password));
                (is_match, scram)
            })
            .await?;
        let Some(account_name) = account_name.filter(|_| is_match) else {
            accounts.record_failure(&keys);
            self.metrics().logins_failed.increment(1);
            info!(session_id = %session, account = %name, addr = %host, "login failed");
            return Err(Refusal::AuthFailed);
        };
        if let Some(scram) = scram {
            // Best effort: a failure here costs only SCRAM until the next login.
            match accounts
                .store
                .set_scram_if_missing(name.key(), &scram.encode())
                .await
            {
                Ok(_) => info!(account = %name, "SCRAM keys derived"),
                Err(error) => warn!(account = %name, %error, "SCRAM keys not stored"),
            }
        }
        let nick = Nick::parse(&account_name).map_err(|_| Refusal::AuthFailed)?;
        if let Some(reason) = self.bans().account_ban(nick.key()) {
            info!(session_id = %session, account = %nick, addr = %host, %reason, "login of a banned account refused");
            return Err(Refusal::ServerBanned(reason));
        }
        self.set_account(session, Some(Arc::from(nick.as_str())))?;
        self.metrics().logins_ok.increment(1);
        info!(session_id = %session, account = %nick, "logged in");
        Ok(nick)
    }

    /// The first step of a SASL `SCRAM-SHA-256` login: reads the client's first message
    /// and answers with the server's (salt, rounds, nonce). An unknown account, or one
    /// without SCRAM keys yet, gets an answer of the same form and fails at the proof.
    ///
    /// # Errors
    /// [`Refusal::AuthFailed`] for a message that is not SCRAM's or asks for channel
    /// binding, [`Refusal::RateLimited`], [`Refusal::AccountsUnavailable`],
    /// [`Refusal::SessionClosed`].
    pub async fn scram_start(
        &self,
        session: SessionId,
        client_first: &str,
    ) -> Result<(ScramExchange, String), Refusal> {
        let accounts = self.accounts()?;
        let first = ClientFirst::parse(client_first).map_err(|error| {
            info!(session_id = %session, %error, "SCRAM first message refused");
            Refusal::AuthFailed
        })?;
        let host = self.host_of(session)?;
        let key = teahouse_types::casefold(&first.user);
        let keys = [format!("account:{key}"), format!("ip:{host}")];
        if accounts.is_limited(&keys) {
            return Err(Refusal::RateLimited);
        }
        let record = match Nick::parse(&first.user) {
            Ok(nick) => accounts
                .store
                .account(nick.key())
                .await
                .map_err(unavailable)?,
            Err(_) => None,
        };
        let known = record.and_then(|r| Some((ScramKeys::decode(r.scram.as_deref()?)?, r.name)));
        let (scram, account) = match known {
            Some((scram, name)) => (scram, Some(name)),
            None => (ScramKeys::decoy(&key, &accounts.decoy_secret), None),
        };
        Ok(ScramExchange::start(first, scram, account))
    }

    /// The last step of a `SCRAM-SHA-256` login: checks the client's proof, logs the
    /// session in, and gives the server's final message (its signature) and the account.
    ///
    /// # Errors
    /// [`Refusal::AuthFailed`] (a wrong password, an unknown account, a malformed
    /// message: failures count towards the login limits), [`Refusal::AccountsUnavailable`],
    /// [`Refusal::SessionClosed`].
    pub fn scram_finish(
        &self,
        session: SessionId,
        exchange: &ScramExchange,
        client_final: &str,
    ) -> Result<(String, Nick), Refusal> {
        let accounts = self.accounts()?;
        let verdict = exchange.finish(client_final);
        let account = exchange
            .account
            .as_deref()
            .and_then(|a| Nick::parse(a).ok());
        let (Ok(server_final), Some(nick)) = (verdict.clone(), account) else {
            let host = self.host_of(session)?;
            let key = teahouse_types::casefold(exchange.user());
            accounts.record_failure(&[format!("account:{key}"), format!("ip:{host}")]);
            self.metrics().logins_failed.increment(1);
            let reason = verdict.err().map(|e| e.to_string()).unwrap_or_default();
            info!(session_id = %session, account = %key, addr = %host, %reason, "login failed");
            return Err(Refusal::AuthFailed);
        };
        self.set_account(session, Some(Arc::from(nick.as_str())))?;
        self.metrics().logins_ok.increment(1);
        info!(session_id = %session, account = %nick, "logged in with SCRAM");
        Ok((server_final, nick))
    }

    /// When the account `name` was registered, if it exists.
    ///
    /// # Errors
    /// [`Refusal::AccountsUnavailable`].
    pub async fn account_created(&self, name: &Nick) -> Result<Option<SystemTime>, Refusal> {
        let accounts = self.accounts()?;
        let record = accounts
            .store
            .account(name.key())
            .await
            .map_err(unavailable)?;
        Ok(record.map(|r| {
            std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(r.created_ms).unwrap_or(0))
        }))
    }

    /// Logs the session out of its account; it keeps its nick for now.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`], [`Refusal::SessionClosed`].
    pub fn log_out(&self, session: SessionId) -> Result<(), Refusal> {
        self.account_of(session)?.ok_or(Refusal::NotLoggedIn)?;
        self.set_account(session, None)
    }

    /// Sets a new password for the session's account.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`], [`Refusal::BadPassword`], [`Refusal::AccountsUnavailable`].
    pub async fn change_password(&self, session: SessionId, password: &str) -> Result<(), Refusal> {
        let accounts = self.accounts()?;
        let account = self.account_of(session)?.ok_or(Refusal::NotLoggedIn)?;
        accounts.check_password_rules(password)?;
        let (hash, scram) = accounts.hash_with_scram(password).await?;
        let key = teahouse_types::casefold(&account);
        if !accounts
            .store
            .set_password(&key, &hash, Some(&scram))
            .await
            .map_err(unavailable)?
        {
            return Err(Refusal::NotLoggedIn);
        }
        info!(session_id = %session, account = %account, "password changed");
        Ok(())
    }

    /// Deletes the session's account after checking its password; the nick is free for
    /// anyone again.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`], [`Refusal::AuthFailed`], [`Refusal::AccountsUnavailable`].
    pub async fn drop_account(&self, session: SessionId, password: &str) -> Result<(), Refusal> {
        let accounts = self.accounts()?;
        let account = self.account_of(session)?.ok_or(Refusal::NotLoggedIn)?;
        let name = Nick::parse(&account).map_err(|_| Refusal::NotLoggedIn)?;
        let record = accounts
            .store
            .account(name.key())
            .await
            .map_err(unavailable)?
            .ok_or(Refusal::NotLoggedIn)?;
        let password = password.to_owned();
        let hash = record.password_hash;
        let is_match = accounts
            .slots
            .run(move |blocks| verify_password(&hash, &password, blocks))
            .await?;
        if !is_match {
            return Err(Refusal::AuthFailed);
        }
        accounts
            .store
            .delete_account(name.key())
            .await
            .map_err(unavailable)?;
        self.set_registered_name(&name, false);
        self.set_account(session, None)?;
        info!(session_id = %session, account = %name, "account dropped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn small() -> AccountConfig {
        AccountConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..AccountConfig::default()
        }
    }

    /// Hashes made here verify with the argon2 crate's own verifier and the other way
    /// round: accounts stored before, and by the admin tool, keep working.
    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let mut blocks = Vec::new();
        let ours = hash_password(&small(), "tea for two", &mut blocks).expect("hash");
        assert!(ours.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).expect("parse");
        assert!(
            Argon2::default()
                .verify_password(b"tea for two", &parsed)
                .is_ok()
        );
        assert!(verify_password(&ours, "tea for two", &mut blocks));
        assert!(!verify_password(&ours, "tea for three", &mut blocks));

        let salt = SaltString::generate(&mut OsRng);
        let theirs = hasher(&small())
            .expect("params")
            .hash_password(b"oolong", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_password(&theirs, "oolong", &mut blocks));
        assert!(!verify_password(&theirs, "Oolong", &mut blocks));
        assert!(!verify_password("not a hash", "oolong", &mut blocks));
    }

    /// The decoy has the configured parameters (so checking against it costs a real
    /// hash) and matches no password.
    #[test]
    fn the_decoy_costs_a_hash_and_matches_nothing() {
        let decoy = decoy_hash(&small()).expect("decoy");
        let parsed = PasswordHash::new(&decoy).expect("parse");
        let params = Params::try_from(&parsed).expect("params");
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (64, 1, 1)
        );
        assert_eq!(
            parsed.hash.map(|h| h.len()),
            Some(Params::DEFAULT_OUTPUT_LEN)
        );
        let mut blocks = Vec::new();
        assert!(!verify_password(&decoy, "decoy password", &mut blocks));
        assert!(!verify_password(&decoy, "", &mut blocks));
        assert_eq!(blocks.len(), 64, "the check did not run the hash");
    }

    /// A hash whose caller went away (a client that hung up mid-login) keeps its slot
    /// until it ends: another hash cannot start beside it.
    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_slot_until_it_ends() {
        let slots = Arc::new(HashSlots::new(1, 64));
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let caller = {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move {
                slots
                    .run(move |blocks| {
                        blocks.resize(64, Block::default());
                        let _ = started_tx.send(());
                        let _ = gate.recv();
                    })
                    .await
            })
        };
        started.await.expect("the hash started");
        caller.abort();
        assert!(caller.await.is_err(), "the caller was not cancelled");
        assert_eq!(
            slots.permits.available_permits(),
            0,
            "the slot was freed early"
        );
        release.send(()).expect("the hash is waiting");
        let _slot = slots.permits.acquire().await.expect("open semaphore");
        assert_eq!(slots.lock_idle().len(), 1, "the buffer came back");
    }

    /// With two slots, six hashes asked for at once run two at a time and get two buffers
    /// between them: the other four waited for a slot and reused its memory.
    #[tokio::test]
    async fn hashes_wait_for_a_slot_and_reuse_its_memory() {
        let slots = Arc::new(HashSlots::new(2, 64));
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let runs: Vec<_> = (0..6)
            .map(|_| {
                let slots = Arc::clone(&slots);
                let gate = Arc::clone(&gate);
                let started_tx = started_tx.clone();
                tokio::spawn(async move {
                    slots
                        .run(move |blocks| {
                            let fresh = blocks.is_empty();
                            blocks.resize(64, Block::default());
                            let _ = started_tx.send(());
                            let (open, opened) = &*gate;
                            let mut is_open = open.lock().expect("gate");
                            while !*is_open {
                                is_open = opened.wait(is_open).expect("gate");
                            }
                            fresh
                        })
                        .await
                })
            })
            .collect();
        started.recv().await.expect("a hash started");
        started.recv().await.expect("a second hash started");
        assert_eq!(slots.permits.available_permits(), 0, "more than two slots");
        {
            let (open, opened) = &*gate;
            *open.lock().expect("gate") = true;
            opened.notify_all();
        }
        let mut fresh = 0;
        for run in runs {
            if run.await.expect("task").expect("slot") {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 2, "buffers allocated");
        assert_eq!(slots.lock_idle().len(), 2, "buffers kept");

        // A buffer grown past the configured memory (an old hash's cost) is not kept.
        slots
            .run(|blocks| blocks.resize(65, Block::default()))
            .await
            .expect("slot");
        assert_eq!(slots.lock_idle().len(), 1);
    }
}
