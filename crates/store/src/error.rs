//! What can go wrong with the store.

use std::path::PathBuf;

/// A store fault (refusals such as "name taken" are return values, not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be created or opened.
    #[error("cannot use data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process (another teahouse server) holds the data directory.
    #[error(
        "data directory {path} is in use by another process (another teahouse server?); stop it or choose another --data-dir"
    )]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The database could not be opened or prepared (unreachable, not a database, read-only).
    #[error("cannot open the database at {location}: {source}")]
    Open {
        /// The file or URL (without its password).
        location: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The database holds a newer schema than this build knows.
    #[error(
        "the database has schema version {found}, newer than this build's {known}; use a newer teahouse"
    )]
    SchemaTooNew {
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// Running the schema migrations failed.
    #[error("cannot migrate the database schema")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed (the database went away, the disk is full, …).
    #[error("database {operation} failed")]
    Query {
        /// What was being done.
        operation: &'static str,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// A backup was asked of a backend that cannot make one.
    #[error("backup is only for the SQLite store; use pg_dump for PostgreSQL")]
    BackupUnsupported,
}

impl Error {
    pub(crate) fn query(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Query { operation, source }
    }
}
