//! Opening a store: the data directory and its lock, the connection pool, the schema
//! migrations and the write probe.

use std::borrow::Cow;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection as _, Executor as _, Row};
use tracing::info;

use crate::{Backend, Error, LOCK_FILE, Location, SQLITE_FILE, Store};

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
    (
        4,
        "messages keep their client-only tags",
        include_str!("../migrations/0004_message_tags.sql"),
        include_str!("../migrations/0004_message_tags.sql"),
    ),
    (
        5,
        "SCRAM keys of accounts; read markers",
        include_str!("../migrations/0005_scram_and_read_markers.sql"),
        include_str!("../migrations/0005_scram_and_read_markers.sql"),
    ),
    (
        6,
        "server bans",
        include_str!("../migrations/0006_server_bans.sql"),
        include_str!("../migrations/0006_server_bans.sql"),
    ),
];

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
                let data_dir_error = |source| Error::DataDir {
                    path: dir.clone(),
                    source,
                };
                create_private_dir(dir).map_err(data_dir_error)?;
                // SQLite gives its journal files the database file's mode.
                create_private_file(&dir.join(SQLITE_FILE)).map_err(data_dir_error)?;
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
        let backend = match self.backend {
            crate::Backend::Sqlite => "sqlite",
            crate::Backend::Postgres => "postgres",
        };
        info!(schema_version = known, backend, "store ready");
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
}

/// Takes the data directory's lock file, or says who has it.
/// Creates the data directory (and its parents) if missing, readable by its owner only:
/// accounts' password hashes and every conversation are in it. An existing directory keeps
/// the mode its admin gave it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates `path` empty and owner-only (0600) if missing; an existing file is left as it is.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

fn lock_dir(dir: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
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
pub(crate) fn redact_url(url: &str) -> String {
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
