//! Server start-up failures.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What stopped the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hub could not be built from the config.
    #[error("invalid configuration")]
    Hub(#[source] teahouse_hub::Error),
    /// The store (accounts and history) could not be opened.
    #[error("cannot open the store")]
    Store(#[source] teahouse_store::Error),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The cluster could not be joined (NATS, JetStream, or the node's name).
    #[error("cannot join the cluster: {0}")]
    Cluster(#[source] teahouse_cluster::nats::ClusterError),
    /// TLS could not be set up (the message names the file and what is wrong).
    #[error("{0}")]
    Tls(String),
    /// The configuration could not be read again for a reload (the message says why).
    #[error("{0}")]
    Reload(String),
    /// The config file could not be read.
    #[error("cannot read config file {path}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid (the message names the key).
    #[error("invalid config{}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    ParseConfig {
        /// The file, if the config came from one.
        path: Option<PathBuf>,
        /// What is wrong, and where.
        #[source]
        source: toml::de::Error,
    },
}
