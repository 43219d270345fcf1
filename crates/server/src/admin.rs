//! `teahouse admin`: account and backup chores on a data directory or database, without a
//! running server (a backup works while one runs).

use std::path::Path;

use teahouse_store::{AccountRecord, Location, Store};
use teahouse_types::Nick;

use crate::config::Config;

/// What an admin command can fail on.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The store could not be opened or used.
    #[error(transparent)]
    Store(#[from] teahouse_store::Error),
    /// The name is not a valid nickname (accounts are nicknames).
    #[error("{name:?} is not a valid account name: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// Why not.
        reason: String,
    },
    /// The hub refused (a bad password, invalid Argon2 settings).
    #[error("{0}")]
    Refused(#[from] teahouse_hub::Refusal),
    /// No account of this name.
    #[error("no account named {0}")]
    NoSuchAccount(String),
    /// An account of this name exists.
    #[error("an account named {0} already exists")]
    AccountExists(String),
    /// The backup file exists already.
    #[error("{0} exists already; choose a new file")]
    BackupExists(String),
}

fn account_name(name: &str) -> Result<Nick, AdminError> {
    Nick::parse(name).map_err(|error| AdminError::BadName {
        name: name.to_owned(),
        reason: error.to_string(),
    })
}

fn hash(config: &Config, password: &str) -> Result<String, AdminError> {
    Ok(teahouse_hub::hash_new_password(
        &config.account_config(),
        password,
    )?)
}

/// The Argon2id hash of `password` (PHC string), with the config's account settings: what
/// an `[[operators]]` block keeps as `password_hash`.
///
/// # Errors
/// [`AdminError::Refused`] for a password outside the allowed length.
pub fn hash_password(config: &Config, password: &str) -> Result<String, AdminError> {
    hash(config, password)
}

/// Every account: name and creation time (ms since the epoch).
///
/// # Errors
/// [`AdminError::Store`].
pub async fn list_accounts(location: &Location) -> Result<Vec<(String, i64)>, AdminError> {
    let store = Store::open(location).await?;
    let accounts = store.accounts().await?;
    store.close().await;
    Ok(accounts
        .into_iter()
        .map(|a| (a.name, a.created_ms))
        .collect())
}

/// Creates an account.
///
/// # Errors
/// [`AdminError::BadName`], [`AdminError::Refused`], [`AdminError::AccountExists`],
/// [`AdminError::Store`].
pub async fn create_account(
    config: &Config,
    location: &Location,
    name: &str,
    password: &str,
) -> Result<(), AdminError> {
    let nick = account_name(name)?;
    let password_hash = hash(config, password)?;
    let store = Store::open(location).await?;
    let created_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let record = AccountRecord {
        name_key: nick.key().to_owned(),
        name: nick.as_str().to_owned(),
        password_hash,
        created_ms,
        scram: Some(teahouse_hub::scram_keys(password)),
    };
    let is_created = store.create_account(&record).await?;
    store.close().await;
    if is_created {
        Ok(())
    } else {
        Err(AdminError::AccountExists(name.to_owned()))
    }
}

/// Deletes an account.
///
/// # Errors
/// [`AdminError::BadName`], [`AdminError::NoSuchAccount`], [`AdminError::Store`].
pub async fn delete_account(location: &Location, name: &str) -> Result<(), AdminError> {
    let nick = account_name(name)?;
    let store = Store::open(location).await?;
    let is_deleted = store.delete_account(nick.key()).await?;
    store.close().await;
    if is_deleted {
        Ok(())
    } else {
        Err(AdminError::NoSuchAccount(name.to_owned()))
    }
}

/// Sets a new password on an account.
///
/// # Errors
/// [`AdminError::BadName`], [`AdminError::Refused`], [`AdminError::NoSuchAccount`],
/// [`AdminError::Store`].
pub async fn reset_password(
    config: &Config,
    location: &Location,
    name: &str,
    password: &str,
) -> Result<(), AdminError> {
    let nick = account_name(name)?;
    let password_hash = hash(config, password)?;
    let store = Store::open(location).await?;
    let is_set = store
        .set_password(
            nick.key(),
            &password_hash,
            Some(&teahouse_hub::scram_keys(password)),
        )
        .await?;
    store.close().await;
    if is_set {
        Ok(())
    } else {
        Err(AdminError::NoSuchAccount(name.to_owned()))
    }
}

/// Copies an SQLite store to `path`, consistently, even while a server runs on it.
///
/// # Errors
/// [`AdminError::BackupExists`], [`AdminError::Store`] (also for PostgreSQL: use `pg_dump`).
pub async fn backup(location: &Location, path: &Path) -> Result<(), AdminError> {
    if path.exists() {
        return Err(AdminError::BackupExists(path.display().to_string()));
    }
    let store = Store::open_shared(location).await?;
    store.backup_to(path).await?;
    store.close().await;
    Ok(())
}
