//! One bench connection: connect, register and join over the text protocol or IRC.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

use crate::error::BenchError;
use crate::{BenchConfig, Proto};

/// How long one setup step (register, join) may take. InspIRCd finishes registrations on a
/// one-second timer, so a burst of thousands can take a while.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The read buffer of a bench client: large, so a fan-out receiver reads many lines per call.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A connected bench client.
pub(crate) struct Conn {
    pub(crate) reader: BufReader<OwnedReadHalf>,
    pub(crate) writer: OwnedWriteHalf,
    pub(crate) nick: String,
}

impl Conn {
    /// Connects client `index`, from `source` if given (to spread many connections over
    /// loopback addresses: one source address has only ~28k ephemeral ports).
    pub(crate) async fn connect(
        config: &BenchConfig,
        index: usize,
        source: Option<IpAddr>,
    ) -> Result<Self, BenchError> {
        let addr = config.addr;
        let connect_error = |source| BenchError::Connect { addr, source };
        let stream = match source {
            None => TcpStream::connect(addr).await.map_err(connect_error)?,
            Some(ip) => {
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .map_err(connect_error)?;
                socket.bind(SocketAddr::new(ip, 0)).map_err(connect_error)?;
                socket.connect(addr).await.map_err(connect_error)?
            }
        };
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        Ok(Self {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, reader),
            writer,
            nick: format!("{}{index}", config.nick_prefix),
        })
    }

    pub(crate) async fn send(
        &mut self,
        line: &str,
        during: &'static str,
    ) -> Result<(), BenchError> {
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(|source| BenchError::Io { during, source })
    }

    /// Reads one line into `buf` (cleared first); `Ok(false)` at end of stream.
    pub(crate) async fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        Ok(self.reader.read_until(b'\n', buf).await? > 0)
    }

    /// Reads lines until `done` says so, answering PINGs; refusals end it with an error.
    async fn wait_for(
        &mut self,
        what: &'static str,
        done: impl Fn(&str) -> bool,
        refused: impl Fn(&str) -> bool,
    ) -> Result<(), BenchError> {
        let mut buf = Vec::with_capacity(512);
        let step = async {
            loop {
                if !self
                    .read_line(&mut buf)
                    .await
                    .map_err(|source| BenchError::Io {
                        during: what,
                        source,
                    })?
                {
                    return Err(BenchError::Closed { during: what });
                }
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end();
                if let Some(token) = line.strip_prefix("PING ") {
                    let pong = format!("PONG {token}\r\n");
                    self.send(&pong, what).await?;
                    continue;
                }
                if done(line) {
                    return Ok(());
                }
                if refused(line) {
                    return Err(BenchError::Refused {
                        line: line.to_owned(),
                    });
                }
            }
        };
        tokio::time::timeout(SETUP_TIMEOUT, step)
            .await
            .map_err(|_| BenchError::Timeout { what })?
    }

    /// Registers (text: chooses the nick and lands in the default room; IRC: NICK/USER, then
    /// OPER and user modes if configured).
    pub(crate) async fn register(&mut self, config: &BenchConfig) -> Result<(), BenchError> {
        match config.proto {
            Proto::Text => {
                let nick = format!("{}\n", self.nick);
                self.send(&nick, "registering").await?;
                // The member list ends the login burst, in either language.
                self.wait_for(
                    "register",
                    |l| l.starts_with("* In ") || l.starts_with("系统消息聊天室"),
                    |l| {
                        l.contains("please enter another")
                            || l.contains("请重新输入")
                            || l.starts_with('!')
                    },
                )
                .await
            }
            Proto::Irc => {
                let hello = format!("NICK {0}\r\nUSER {0} 0 * :teahouse bench\r\n", self.nick);
                self.send(&hello, "registering").await?;
                self.wait_for(
                    "register",
                    |l| numeric(l) == Some("001"),
                    |l| matches!(numeric(l), Some("432" | "433" | "464")) || l.starts_with("ERROR"),
                )
                .await?;
                if let Some((name, password)) = &config.irc_oper {
                    let oper = format!("OPER {name} {password}\r\n");
                    self.send(&oper, "becoming operator").await?;
                    self.wait_for(
                        "become operator",
                        |l| numeric(l) == Some("381"),
                        |l| matches!(numeric(l), Some("464" | "491")),
                    )
                    .await?;
                }
                if let Some(modes) = &config.irc_umode {
                    let line = format!("MODE {} {modes}\r\n", self.nick);
                    self.send(&line, "setting user modes").await?;
                }
                Ok(())
            }
        }
    }

    /// Joins the bench room (IRC: the channel; text: already there after registering).
    pub(crate) async fn join(&mut self, config: &BenchConfig) -> Result<(), BenchError> {
        if config.proto == Proto::Text {
            return Ok(());
        }
        let join = format!("JOIN {}\r\n", config.channel);
        self.send(&join, "joining").await?;
        let channel = config.channel.to_ascii_lowercase();
        self.wait_for(
            "join",
            |l| numeric(l) == Some("366") && l.to_ascii_lowercase().contains(&channel),
            |l| {
                matches!(
                    numeric(l),
                    Some("403" | "405" | "471" | "473" | "474" | "475")
                )
            },
        )
        .await
    }

    /// Leaves the server and waits for it to close the connection.
    pub(crate) async fn quit(mut self, proto: Proto) -> Result<(), BenchError> {
        let line = match proto {
            Proto::Text => "quit\n",
            Proto::Irc => "QUIT :bench\r\n",
        };
        self.send(line, "quitting").await?;
        let mut buf = Vec::new();
        let drain = async { while self.read_line(&mut buf).await.unwrap_or(false) {} };
        tokio::time::timeout(SETUP_TIMEOUT, drain)
            .await
            .map_err(|_| BenchError::Timeout {
                what: "close after quit",
            })
    }
}

/// The line that says `payload` to the room.
pub(crate) fn say_prefix(proto: Proto, channel: &str) -> String {
    match proto {
        Proto::Text => String::new(),
        Proto::Irc => format!("PRIVMSG {channel} :"),
    }
}

/// The line ending the protocol uses.
pub(crate) fn line_end(proto: Proto) -> &'static str {
    match proto {
        Proto::Text => "\n",
        Proto::Irc => "\r\n",
    }
}

/// The numeric of a server line (`:server 001 nick …` gives `001`).
fn numeric(line: &str) -> Option<&str> {
    let mut parts = line.split(' ');
    let first = parts.next()?;
    let command = if first.starts_with(':') || first.starts_with('@') {
        let second = parts.next()?;
        if first.starts_with('@') && second.starts_with(':') {
            parts.next()?
        } else {
            second
        }
    } else {
        first
    };
    (command.len() == 3 && command.bytes().all(|b| b.is_ascii_digit())).then_some(command)
}

/// The source address for connection `index`: spread over 127.0.0.2, .3, … in blocks of
/// 20 000 when a run needs more connections than one address has ports.
pub(crate) fn source_for(index: usize, total: usize, server: SocketAddr) -> Option<IpAddr> {
    const PER_ADDRESS: usize = 20_000;
    if total <= PER_ADDRESS || !server.ip().is_loopback() || !server.is_ipv4() {
        return None;
    }
    let block = u8::try_from(2 + index / PER_ADDRESS).unwrap_or(u8::MAX);
    Some(IpAddr::from([127, 0, 0, block]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_of_lines() {
        assert_eq!(numeric(":srv 001 me :Welcome"), Some("001"));
        assert_eq!(numeric("@time=x :srv 366 me #c :End"), Some("366"));
        assert_eq!(numeric(":me!u@h PRIVMSG #c :001"), None);
        assert_eq!(numeric("PING :x"), None);
    }
}
