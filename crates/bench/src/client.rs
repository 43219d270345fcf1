//! One bench connection: connect, register and join over the text protocol, IRC, or IRC
//! over WebSocket (pumped to a byte stream of lines by a task of its own, so the workloads
//! read and write lines alike on every protocol).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::error::BenchError;
use crate::{BenchConfig, Proto};

/// How long one setup step (register, join) may take. InspIRCd finishes registrations on a
/// one-second timer, so a burst of thousands can take a while.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The read buffer of a bench client: large, so a fan-out receiver reads many lines per call.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The reading side of a bench connection.
pub(crate) type Reader = Box<dyn AsyncRead + Unpin + Send>;
/// The writing side of a bench connection.
pub(crate) type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// The buffer between a WebSocket and its pump task, each way.
const WS_PIPE_BYTES: usize = 256 * 1024;

/// A connected bench client.
pub(crate) struct Conn {
    pub(crate) reader: BufReader<Reader>,
    pub(crate) writer: Writer,
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
        let addr = config.addr_for(index);
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
        let (reader, writer): (Reader, Writer) = if config.proto == Proto::Ws {
            let (reader, writer) = tokio::io::split(ws_pipe(stream, addr).await?);
            (Box::new(reader), Box::new(writer))
        } else if config.proto == Proto::Ircs {
            let tls = crate::tls::connect(stream)
                .await
                .map_err(|source| BenchError::Connect { addr, source })?;
            let (reader, writer) = tokio::io::split(tls);
            (Box::new(reader), Box::new(writer))
        } else {
            let (reader, writer) = stream.into_split();
            (Box::new(reader), Box::new(writer))
        };
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
            Proto::Irc | Proto::Ircs | Proto::Ws => {
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

    /// Asks for the room's member list until it holds `members`: the node this client is
    /// on has heard of every join on the others (IRC only).
    pub(crate) async fn wait_members(
        &mut self,
        config: &BenchConfig,
        members: usize,
    ) -> Result<(), BenchError> {
        let channel = config.channel.to_ascii_lowercase();
        let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
        let mut buf = Vec::with_capacity(4096);
        loop {
            let names = format!("NAMES {}\r\n", config.channel);
            self.send(&names, "counting members").await?;
            let mut seen = 0;
            loop {
                let read = self
                    .read_line(&mut buf)
                    .await
                    .map_err(|source| BenchError::Io {
                        during: "counting members",
                        source,
                    })?;
                if !read {
                    return Err(BenchError::Closed {
                        during: "counting members",
                    });
                }
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end().to_ascii_lowercase();
                match numeric(&line) {
                    Some("353") if line.contains(&channel) => {
                        seen += line
                            .rsplit_once(" :")
                            .map_or(0, |(_, names)| names.split_whitespace().count());
                    }
                    Some("366") => break,
                    _ => {}
                }
            }
            if seen >= members {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(BenchError::Timeout {
                    what: "every node to see every member",
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
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
            Proto::Irc | Proto::Ircs | Proto::Ws => "QUIT :bench\r\n",
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
        Proto::Irc | Proto::Ircs | Proto::Ws => format!("PRIVMSG {channel} :"),
    }
}

/// The line ending the protocol uses.
pub(crate) fn line_end(proto: Proto) -> &'static str {
    match proto {
        Proto::Text => "\n",
        Proto::Irc | Proto::Ircs | Proto::Ws => "\r\n",
    }
}

/// Opens `/ws` on `stream` (no subprotocol: text messages) and gives a byte stream of lines onto it: a task moves each
/// received message out as a line, and each written line in as one text message. The task
/// ends when either side closes.
async fn ws_pipe(
    stream: TcpStream,
    addr: SocketAddr,
) -> Result<tokio::io::DuplexStream, BenchError> {
    let handshake_error = |error: tokio_tungstenite::tungstenite::Error| BenchError::Connect {
        addr,
        source: io::Error::other(error),
    };
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .map_err(handshake_error)?;
    // No subprotocol is asked for: text frames are every server's default, and InspIRCd 3
    // answers without one, which a client that asked must refuse. `Origin` as a page of the
    // server itself would send it: InspIRCd refuses an upgrade without one.
    if let Ok(origin) = format!("http://{addr}").parse() {
        request.headers_mut().insert("origin", origin);
    }
    let (ws, _) = tokio::time::timeout(
        SETUP_TIMEOUT,
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .map_err(|_| BenchError::Timeout {
        what: "websocket handshake",
    })?
    .map_err(handshake_error)?;
    let (mine, theirs) = tokio::io::duplex(WS_PIPE_BYTES);
    tokio::spawn(pump(ws, theirs));
    Ok(mine)
}

/// Moves lines between a WebSocket and the bench's end of a pipe until either closes.
async fn pump(ws: tokio_tungstenite::WebSocketStream<TcpStream>, pipe: tokio::io::DuplexStream) {
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (pipe_rx, mut pipe_tx) = tokio::io::split(pipe);
    let inbound = async {
        while let Some(Ok(message)) = ws_rx.next().await {
            let bytes = match message {
                Message::Text(text) => Vec::from(text.as_bytes()),
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            if pipe_tx.write_all(&bytes).await.is_err() || pipe_tx.write_all(b"\n").await.is_err() {
                break;
            }
        }
        let _ = pipe_tx.shutdown().await;
    };
    let outbound = async {
        let mut lines = BufReader::new(pipe_rx);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match lines.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let Ok(line) = String::from_utf8(std::mem::take(&mut buf)) else {
                continue;
            };
            // Lines already waiting go out with this one in one write.
            if ws_tx.feed(Message::text(line)).await.is_err() {
                break;
            }
            if lines.buffer().is_empty() && ws_tx.flush().await.is_err() {
                break;
            }
        }
        let _ = ws_tx.close().await;
    };
    tokio::join!(inbound, outbound);
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
