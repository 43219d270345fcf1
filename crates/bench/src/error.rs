//! What stops a bench run.

use std::io;
use std::net::SocketAddr;

/// What stopped a bench run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A client could not connect.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The server.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading or writing failed during setup.
    #[error("connection failed while {during}")]
    Io {
        /// What the client was doing.
        during: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The server did not answer as expected in time.
    #[error("server did not {what} in time")]
    Timeout {
        /// What it should have done.
        what: &'static str,
    },
    /// The server refused something the bench needs (a nick, a join).
    #[error("server refused: {line}")]
    Refused {
        /// The server's line.
        line: String,
    },
    /// The server closed a connection during setup.
    #[error("server closed the connection while {during}")]
    Closed {
        /// What the client was doing.
        during: &'static str,
    },
}
