//! Why the client stopped.

use std::io;

use crate::lang::Lang;

/// Why the client stopped early; the binary prints [`ClientError::user_message`] and exits
/// non-zero.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached.
    #[error("cannot connect to {addr}")]
    Connect {
        /// Where we tried.
        addr: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The server closed the connection while we had not asked to leave.
    #[error("the server closed the connection")]
    ServerClosed,
    /// Reading from or writing to the server failed.
    #[error("connection to the server failed")]
    Connection(#[source] io::Error),
    /// The terminal could not be driven.
    #[error("terminal error")]
    Terminal(#[source] rustyline_async::ReadlineError),
}

impl ClientError {
    /// The message to show the user, in their language.
    pub fn user_message(&self, lang: Lang) -> String {
        match self {
            Self::Connect { addr, source } => lang.connect_failed(addr, source),
            Self::ServerClosed => lang.server_closed().to_owned(),
            Self::Connection(source) => lang.connection_failed(source),
            Self::Terminal(source) => format!("terminal: {source}"),
        }
    }
}
