//! Every text the client itself prints, in each language.

use std::io;

/// The client's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Chinese (the seed's `连接失败` when the server cannot be reached).
    Zh,
}

impl Lang {
    /// Parses `en` or `zh`.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "zh" => Some(Self::Zh),
            _ => None,
        }
    }

    pub(crate) fn connect_failed(self, addr: &str, error: &io::Error) -> String {
        match self {
            Self::En => format!("Could not connect to {addr}: {error}"),
            Self::Zh => "连接失败".to_owned(),
        }
    }

    pub(crate) fn server_closed(self) -> &'static str {
        match self {
            Self::En => "The server closed the connection",
            Self::Zh => "服务器已断开连接",
        }
    }

    pub(crate) fn connection_failed(self, error: &io::Error) -> String {
        match self {
            Self::En => format!("Connection to the server failed: {error}"),
            Self::Zh => format!("与服务器的连接出错:{error}"),
        }
    }
}
