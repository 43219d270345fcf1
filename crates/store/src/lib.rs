//! Where teahouse keeps what must survive a restart: accounts and message history.
//!
//! [`Store`] is the one interface, with two backends from the same SQL: SQLite, embedded, in
//! a file under the data directory (the default: nothing to install), and PostgreSQL for an
//! installation that grows (`--database-url postgres://…`). Both run through sqlx's `Any`
//! driver with runtime-checked queries, so every statement here is written once, in the SQL
//! both understand (`$1` parameters, `ON CONFLICT`, window functions).
//!
//! Opening a store runs the embedded schema migrations (append-only; the schema version is
//! the newest applied one) and, for SQLite, takes an exclusive lock on the data directory,
//! turns on WAL and `synchronous=FULL`: a committed transaction is on disk.
//!
//! Main types: [`Store`], [`Location`], [`MessageRecord`], [`AccountRecord`],
//! [`HistoryQuery`]. This crate knows nothing of nicks, rooms or protocols beyond the plain
//! strings and numbers it stores: the hub decides what they mean. It does not hash
//! passwords either (the hub does, with Argon2id); it stores the PHC strings it is given.

mod error;

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Connection as _, Executor as _, Row};
use tracing::info;

pub use crate::error::Error;

/// The file name of the SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "teahouse.db";

/// The lock file that keeps a second server off the same data directory.
pub const LOCK_FILE: &str = "teahouse.lock";

/// How long a query waits for a pooled connection before it fails: long enough to ride out
/// a busy moment, short enough that a database that went away gives users an error quickly.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Every SQLite connection: a commit is on disk when it returns (the WAL is synced), and a
/// lock held by another connection (a backup, the admin tool) is waited on for 5 s.
const SQLITE_PRAGMAS: &str = "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;";

/// The schema, oldest first, as (version, description, SQLite's SQL, PostgreSQL's SQL).
/// Append only. Most steps are the same SQL for both.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "accounts and history",
        include_str!("../migrations/0001_accounts_and_history.sql"),
        include_str!("../migrations/0001_accounts_and_history.sql"),
    ),
    (
        2,
        "drop the unused time index",
        include_str!("../migrations/0002_drop_time_index.sql"),
        include_str!("../migrations/0002_drop_time_index.sql"),
    ),
    (
        3,
        "message ids are SQLite rowids",
        include_str!("../migrations/0003_sqlite_rowid_ids.sql"),
        include_str!("../migrations/0003_postgres_nothing.sql"),
    ),
];

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// SQLite in `teahouse.db` under this directory (created if missing).
    DataDir(PathBuf),
    /// SQLite in memory: gone when the process ends (tests, `--data-dir :memory:`).
    Memory,
    /// A database URL (`postgres://…`, or `sqlite://…`).
    Url(String),
}

impl Location {
    /// The location for logs and errors, without any password.
    pub fn display(&self) -> String {
        match self {
            Self::DataDir(dir) => dir.join(SQLITE_FILE).display().to_string(),
            Self::Memory => "memory".to_owned(),
            Self::Url(url) => redact_url(url),
        }
    }
}

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// The casefolded name (the key).
    pub name_key: String,
    /// The name as registered.
    pub name: String,
    /// The password's Argon2id hash, PHC string format.
    pub password_hash: String,
    /// When it was registered, milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Unique and time-ordered.
    pub id: i64,
    /// Server time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// What it belongs to: a casefolded `#room`, or `@a @b` for a direct conversation.
    pub target_key: String,
    /// The room name or recipient nick as sent.
    pub target: String,
    /// 0 message, 1 notice, 2 action (stable codes).
    pub kind: i32,
    /// The sender's nick.
    pub sender_nick: String,
    /// The sender's user name.
    pub sender_user: String,
    /// The sender's host.
    pub sender_host: String,
    /// The sender's account, if logged in.
    pub sender_account: Option<String>,
    /// The text.
    pub body: String,
}

/// A message to store, borrowing its text from wherever the caller keeps it (the hub's
/// event), so storing copies each string once, into the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage<'a> {
    /// Unique and time-ordered.
    pub id: i64,
    /// Server time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// What it belongs to: a casefolded `#room`, or `@a @b` for a direct conversation.
    pub target_key: String,
    /// The room name or recipient nick as sent.
    pub target: &'a str,
    /// 0 message, 1 notice, 2 action (stable codes).
    pub kind: i32,
    /// The sender's nick.
    pub sender_nick: &'a str,
    /// The sender's user name.
    pub sender_user: &'a str,
    /// The sender's host.
    pub sender_host: &'a str,
    /// The sender's account, if logged in.
    pub sender_account: Option<&'a str>,
    /// The text.
    pub body: &'a str,
}

impl MessageRecord {
    /// This record as a message to store.
    pub fn as_new(&self) -> NewMessage<'_> {
        NewMessage {
            id: self.id,
            time_ms: self.time_ms,
            target_key: self.target_key.clone(),
            target: &self.target,
            kind: self.kind,
            sender_nick: &self.sender_nick,
            sender_user: &self.sender_user,
            sender_host: &self.sender_host,
            sender_account: self.sender_account.as_deref(),
            body: &self.body,
        }
    }
}

/// Which messages of one target to fetch; bounds are message ids and exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The newest, optionally only those after an id.
    Latest {
        /// Only messages after this id.
        after: Option<i64>,
    },
    /// The newest before an id.
    Before(i64),
    /// The oldest after an id.
    After(i64),
    /// Half before an id, the rest from it on.
    Around(i64),
    /// Between two ids, from the first towards the second (either order).
    Between(i64, i64),
}

/// The store: a connection pool to SQLite or PostgreSQL. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Held open for as long as any clone lives: the data directory's lock.
    _lock: Option<std::sync::Arc<File>>,
}

impl Store {
    /// Opens (creating if needed) the store at `location` and brings its schema up to date.
    ///
    /// # Errors
    /// [`Error::Locked`] if another process holds the data directory, [`Error::Open`] if the
    /// database cannot be reached, is not a database or cannot be written,
    /// [`Error::SchemaTooNew`] or [`Error::Migrate`].
    pub async fn open(location: &Location) -> Result<Self, Error> {
        Self::open_inner(location, true).await
    }

    /// Opens an SQLite data directory without taking its lock and without migrating, to
    /// read or back it up while a server runs on it.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_shared(location: &Location) -> Result<Self, Error> {
        Self::open_inner(location, false).await
    }

    async fn open_inner(location: &Location, is_exclusive: bool) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let display = location.display();
        let open_error = |source| Error::Open {
            location: display.clone(),
            source,
        };
        let (url, lock, max_connections) = match location {
            Location::DataDir(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                let lock = if is_exclusive {
                    Some(std::sync::Arc::new(lock_dir(dir)?))
                } else {
                    None
                };
                (sqlite_url(&dir.join(SQLITE_FILE)), lock, 4)
            }
            // One connection: each SQLite connection to `:memory:` is a database of its own.
            Location::Memory => ("sqlite::memory:".to_owned(), None, 1),
            Location::Url(url) => (url.clone(), None, 8),
        };
        // One connection first, so a database that cannot be used fails with its own error
        // (a pool would retry until its timeout and report only that).
        let backend = {
            let mut probe = sqlx::AnyConnection::connect(&url)
                .await
                .map_err(open_error)?;
            let backend = if probe.backend_name() == "SQLite" {
                // Reading the schema is what finds a file that is not a database.
                probe
                    .execute("SELECT COUNT(*) FROM sqlite_master")
                    .await
                    .map_err(open_error)?;
                Backend::Sqlite
            } else {
                Backend::Postgres
            };
            probe.close().await.map_err(open_error)?;
            backend
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(u32::from(matches!(location, Location::Memory)))
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(open_error)?;
        let store = Self {
            pool,
            backend,
            _lock: lock,
        };
        if is_exclusive {
            store.prepare(&display).await?;
        }
        Ok(store)
    }

    /// WAL mode and a write probe for SQLite (so a read-only or corrupt file fails now, not
    /// at the first message), then the migrations.
    async fn prepare(&self, display: &str) -> Result<(), Error> {
        let open_error = |source| Error::Open {
            location: display.to_owned(),
            source,
        };
        if self.backend == Backend::Sqlite {
            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
                .map_err(open_error)?;
        }
        let migrator = Migrator {
            migrations: Cow::Owned(
                MIGRATIONS
                    .iter()
                    .map(|(version, description, sqlite, postgres)| {
                        let sql = match self.backend {
                            Backend::Sqlite => sqlite,
                            Backend::Postgres => postgres,
                        };
                        Migration::new(
                            *version,
                            Cow::Borrowed(*description),
                            MigrationType::Simple,
                            Cow::Borrowed(*sql),
                            false,
                        )
                    })
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        match migrator.run(&self.pool).await {
            Ok(()) => {}
            Err(sqlx::migrate::MigrateError::VersionMissing(found)) => {
                return Err(Error::SchemaTooNew { found, known });
            }
            Err(sqlx::migrate::MigrateError::Execute(source)) => return Err(open_error(source)),
            Err(error) => return Err(Error::Migrate(error)),
        }
        if self.backend == Backend::Sqlite {
            // Writes the file header: fails here on a read-only database.
            sqlx::raw_sql(&format!("PRAGMA user_version = {known}"))
                .execute(&self.pool)
                .await
                .map_err(open_error)?;
        }
        info!(schema_version = known, backend = ?self.backend, "store ready");
        Ok(())
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The schema version: the newest migration applied.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn schema_version(&self) -> Result<i64, Error> {
        sqlx::query("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get::<Option<i64>, _>(0))
            .map(|v| v.unwrap_or(0))
            .map_err(Error::query("read schema version"))
    }

    /// Closes every connection, waiting for queries in progress.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // Accounts.

    /// Registers an account; `false` if the name is taken.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn create_account(&self, account: &AccountRecord) -> Result<bool, Error> {
        let done = sqlx::query(
            "INSERT INTO accounts (name_key, name, password_hash, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name_key) DO NOTHING",
        )
        .bind(&account.name_key)
        .bind(&account.name)
        .bind(&account.password_hash)
        .bind(account.created_ms)
        .execute(&self.pool)
        .await
        .map_err(Error::query("create account"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The account with this casefolded name.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn account(&self, name_key: &str) -> Result<Option<AccountRecord>, Error> {
        sqlx::query(
            "SELECT name_key, name, password_hash, created_ms FROM accounts WHERE name_key = $1",
        )
        .bind(name_key)
        .fetch_optional(&self.pool)
        .await
        .and_then(|row| row.as_ref().map(account_from_row).transpose())
        .map_err(Error::query("read account"))
    }

    /// Every account, by name.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn accounts(&self) -> Result<Vec<AccountRecord>, Error> {
        sqlx::query(
            "SELECT name_key, name, password_hash, created_ms FROM accounts ORDER BY name_key",
        )
        .fetch_all(&self.pool)
        .await
        .and_then(|rows| rows.iter().map(account_from_row).collect())
        .map_err(Error::query("list accounts"))
    }

    /// Replaces an account's password hash; `false` if there is no such account.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn set_password(&self, name_key: &str, password_hash: &str) -> Result<bool, Error> {
        let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE name_key = $2")
            .bind(password_hash)
            .bind(name_key)
            .execute(&self.pool)
            .await
            .map_err(Error::query("set password"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes an account; `false` if there was none.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn delete_account(&self, name_key: &str) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM accounts WHERE name_key = $1")
            .bind(name_key)
            .execute(&self.pool)
            .await
            .map_err(Error::query("delete account"))?;
        Ok(done.rows_affected() == 1)
    }

    // History.

    /// Stores messages in one transaction (group commit): all of them or, on error, none.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn append(&self, messages: &[NewMessage<'_>]) -> Result<(), Error> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(Error::query("begin append"))?;
        // Many rows per statement: each statement is a round trip to the driver (for
        // SQLite, to its worker thread), and those, not the rows, are the cost.
        for chunk in messages.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(self.backend, chunk.len());
            let mut query = sqlx::query(&sql);
            for m in chunk {
                // Borrowed strings stay borrowed all the way to the driver.
                query = query
                    .bind(m.id)
                    .bind(m.time_ms)
                    .bind(m.target_key.as_str())
                    .bind(m.target)
                    .bind(m.kind)
                    .bind(m.sender_nick)
                    .bind(m.sender_user)
                    .bind(m.sender_host)
                    .bind(m.sender_account)
                    .bind(m.body);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(Error::query("append messages"))?;
        }
        tx.commit().await.map_err(Error::query("commit append"))
    }

    /// Messages of one target, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn history(
        &self,
        target_key: &str,
        query: HistoryQuery,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, Error> {
        let limit = i64::from(limit);
        let mut rows = match query {
            HistoryQuery::Latest { after } => {
                let mut rows = self
                    .select(
                        target_key,
                        "id > $2",
                        after.unwrap_or(i64::MIN),
                        "DESC",
                        limit,
                    )
                    .await?;
                rows.reverse();
                rows
            }
            HistoryQuery::Before(id) => {
                let mut rows = self
                    .select(target_key, "id < $2", id, "DESC", limit)
                    .await?;
                rows.reverse();
                rows
            }
            HistoryQuery::After(id) => self.select(target_key, "id > $2", id, "ASC", limit).await?,
            HistoryQuery::Around(id) => {
                let before = limit / 2;
                let mut rows = self
                    .select(target_key, "id < $2", id, "DESC", before)
                    .await?;
                rows.reverse();
                let after = self
                    .select(target_key, "id >= $2", id, "ASC", limit - before)
                    .await?;
                rows.extend(after);
                rows
            }
            HistoryQuery::Between(from, to) if from <= to => {
                self.select_between(target_key, from, to, "ASC", limit)
                    .await?
            }
            HistoryQuery::Between(from, to) => {
                let mut rows = self
                    .select_between(target_key, to, from, "DESC", limit)
                    .await?;
                rows.reverse();
                rows
            }
        };
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    async fn select(
        &self,
        target_key: &str,
        condition: &str,
        bound: i64,
        order: &str,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, Error> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE target_key = $1 AND {condition}
             ORDER BY id {order} LIMIT $3"
        );
        sqlx::query(&sql)
            .bind(target_key)
            .bind(bound)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(message_from_row).collect())
            .map_err(Error::query("read history"))
    }

    async fn select_between(
        &self,
        target_key: &str,
        low: i64,
        high: i64,
        order: &str,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, Error> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE target_key = $1 AND id > $2 AND id < $3
             ORDER BY id {order} LIMIT $4"
        );
        sqlx::query(&sql)
            .bind(target_key)
            .bind(low)
            .bind(high)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(message_from_row).collect())
            .map_err(Error::query("read history"))
    }

    /// The newest message id stored, if any (so ids stay increasing across restarts).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn max_message_id(&self) -> Result<Option<i64>, Error> {
        sqlx::query("SELECT MAX(id) FROM messages")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get::<Option<i64>, _>(0))
            .map_err(Error::query("read newest message id"))
    }

    /// Of the given targets, those with messages between two ids (exclusive), each with its
    /// newest id there, newest first, at most `limit`.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn targets(
        &self,
        target_keys: &[String],
        low: i64,
        high: i64,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, Error> {
        if target_keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..target_keys.len())
            .map(|i| format!("${}", i + 4))
            .collect();
        let sql = format!(
            "SELECT target_key, MAX(id) AS newest FROM messages
             WHERE id > $1 AND id < $2 AND target_key IN ({})
             GROUP BY target_key ORDER BY newest DESC LIMIT $3",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(low)
            .bind(high)
            .bind(i64::from(limit));
        for key in target_keys {
            query = query.bind(key);
        }
        query
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| {
                rows.iter()
                    .map(|row| Ok((row.try_get("target_key")?, row.try_get("newest")?)))
                    .collect()
            })
            .map_err(Error::query("list history targets"))
    }

    /// The direct conversations `party_key` (a casefolded nick) has messages in: their
    /// target keys (`@a @b`).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn direct_targets(&self, party_key: &str) -> Result<Vec<String>, Error> {
        let keys: Vec<String> =
            sqlx::query("SELECT DISTINCT target_key FROM messages WHERE target_key LIKE '@%'")
                .fetch_all(&self.pool)
                .await
                .and_then(|rows| rows.iter().map(|row| row.try_get(0)).collect())
                .map_err(Error::query("list direct conversations"))?;
        let wanted = format!("@{party_key}");
        Ok(keys
            .into_iter()
            .filter(|key| key.split(' ').any(|party| party == wanted))
            .collect())
    }

    /// Applies retention: deletes messages older than `before_id` (if given) and all but
    /// the newest `keep_per_target` of each target (if given). Returns how many went.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn prune(
        &self,
        before_id: Option<i64>,
        keep_per_target: Option<u32>,
    ) -> Result<u64, Error> {
        let mut deleted = 0;
        if let Some(id) = before_id {
            deleted += sqlx::query("DELETE FROM messages WHERE id < $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(Error::query("prune by age"))?
                .rows_affected();
        }
        if let Some(keep) = keep_per_target {
            deleted += sqlx::query(
                "DELETE FROM messages WHERE id IN (
                   SELECT id FROM (
                     SELECT id, ROW_NUMBER() OVER (PARTITION BY target_key ORDER BY id DESC) AS n
                     FROM messages) AS ranked
                   WHERE n > $1)",
            )
            .bind(i64::from(keep))
            .execute(&self.pool)
            .await
            .map_err(Error::query("prune by count"))?
            .rows_affected();
        }
        Ok(deleted)
    }

    /// Writes a consistent copy of an SQLite store to `path` (which must not exist), while
    /// the server may be running.
    ///
    /// # Errors
    /// [`Error::BackupUnsupported`] on PostgreSQL, [`Error::Query`].
    pub async fn backup_to(&self, path: &Path) -> Result<(), Error> {
        if self.backend != Backend::Sqlite {
            return Err(Error::BackupUnsupported);
        }
        sqlx::query("VACUUM INTO $1")
            .bind(path.display().to_string())
            .execute(&self.pool)
            .await
            .map_err(Error::query("back up"))?;
        Ok(())
    }
}

/// Rows in one `INSERT`: 10 parameters each, well under SQLite's 32,766 and PostgreSQL's
/// 65,535 parameters per statement.
const ROWS_PER_INSERT: usize = 200;

/// `INSERT INTO messages … VALUES (…), (…), …` for `rows` rows. SQLite gets anonymous `?`
/// parameters: binding a numbered one makes SQLite scan the statement's parameter list, so
/// a statement of n numbered parameters costs n² to bind.
fn insert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO messages (id, time_ms, target_key, target, kind, sender_nick, sender_user, \
         sender_host, sender_account, body) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let base = row * 10;
        sql.push('(');
        for column in 1..=10 {
            if column > 1 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(base + column).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

const MESSAGE_COLUMNS: &str = "id, time_ms, target_key, target, kind, sender_nick, sender_user, \
                               sender_host, sender_account, body";

fn account_from_row(row: &AnyRow) -> Result<AccountRecord, sqlx::Error> {
    Ok(AccountRecord {
        name_key: row.try_get("name_key")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        created_ms: row.try_get("created_ms")?,
    })
}

fn message_from_row(row: &AnyRow) -> Result<MessageRecord, sqlx::Error> {
    Ok(MessageRecord {
        id: row.try_get("id")?,
        time_ms: row.try_get("time_ms")?,
        target_key: row.try_get("target_key")?,
        target: row.try_get("target")?,
        kind: row.try_get("kind")?,
        sender_nick: row.try_get("sender_nick")?,
        sender_user: row.try_get("sender_user")?,
        sender_host: row.try_get("sender_host")?,
        sender_account: row.try_get("sender_account")?,
        body: row.try_get("body")?,
    })
}

/// Takes the data directory's lock file, or says who has it.
fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::DataDir {
            path: dir.to_owned(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::DataDir {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// An sqlx SQLite URL for a file, creating it if missing; `%`, `?` and `#` in the path are
/// escaped so they stay part of the file name.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.display().to_string().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push_str("?mode=rwc");
    url
}

/// A URL with its password replaced, for logs and errors.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let password = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{password}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_hide_their_password() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    }

    #[test]
    fn sqlite_urls_keep_odd_file_names() {
        assert_eq!(
            sqlite_url(Path::new("/d/a?b#c%d/teahouse.db")),
            "sqlite:///d/a%3Fb%23c%25d/teahouse.db?mode=rwc"
        );
    }
}
