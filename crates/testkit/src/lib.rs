//! Test helpers: a whole teahouse server on `127.0.0.1:0` and scripted clients.
//!
//! [`TestServer`] runs [`teahouse_server::run`] in the test's runtime with a config the test
//! adjusts; [`TextClient`] is a plain-text client whose `expect` calls wait for what a user
//! would see, with a generous deadline that only ever fails the test (never a sleep).
//!
//! A dev-dependency only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use teahouse_server::{Config, ListenAddr, Listeners};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod tls;

pub use tls::{TestCa, TlsStream, peer_certificate};

pub use teahouse_server;

/// How long any expectation may take before the test fails. Generous: it bounds a failing
/// test, it does not pace a passing one.
pub const WAIT: Duration = Duration::from_secs(15);

/// A server running in this test's runtime.
pub struct TestServer {
    /// The plain-text listener's address.
    pub text_addr: SocketAddr,
    /// The IRC listener's address.
    pub irc_addr: SocketAddr,
    /// The web listener's address (HTTP and IRC over WebSocket at `/ws`).
    pub web_addr: SocketAddr,
    /// The IRC TLS listener's address, if the test turned it on.
    pub ircs_addr: Option<SocketAddr>,
    /// Asks the server to reload its configuration: the one [`TestServer::set_config`]
    /// gave last.
    pub reload: teahouse_server::ReloadHandle,
    config: std::sync::Arc<std::sync::Mutex<Config>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), teahouse_server::Error>>,
}

impl TestServer {
    /// Starts a server with the default config on `127.0.0.1:0`.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with the default config, adjusted by `adjust`, on `127.0.0.1:0`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let mut config = Config::default();
        config.text.addr = ListenAddr::At(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.irc.addr = ListenAddr::At(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.web.addr = ListenAddr::At(SocketAddr::from(([127, 0, 0, 1], 0)));
        // Each test server keeps its store in memory unless the test says otherwise.
        config.store.data_dir = ":memory:".into();
        // Tests use short passwords; the minimum's own test sets it back.
        config.accounts.min_password_bytes = std::num::NonZeroUsize::MIN;
        adjust(&mut config);
        let listeners = Listeners::bind(&config)
            .await
            .context("binding test listeners")?;
        let text_addr = listeners.text_addr().context("text listener is off")?;
        let irc_addr = listeners.irc_addr().context("irc listener is off")?;
        let web_addr = listeners.web_addr().context("web listener is off")?;
        let ircs_addr = listeners.ircs_addr();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(config.clone()));
        let (reloads, reload) = teahouse_server::Reloads::new({
            let shared = std::sync::Arc::clone(&shared);
            move || Ok(shared.lock().expect("config lock").clone())
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(teahouse_server::run_with_reloads(
            config,
            listeners,
            async move {
                let _ = stopped.await;
            },
            Some(reloads),
        ));
        Ok(Self {
            text_addr,
            irc_addr,
            web_addr,
            ircs_addr,
            reload,
            config: shared,
            stop: Some(stop),
            task,
        })
    }

    /// The configuration it runs with (or will, after a reload).
    pub fn config(&self) -> Config {
        self.config.lock().expect("config lock").clone()
    }

    /// Changes the configuration the next reload reads (as editing the file would).
    pub fn set_config(&self, change: impl FnOnce(&mut Config)) {
        change(&mut self.config.lock().expect("config lock"));
    }

    /// Triggers shutdown and waits for `run` to return; gives how long that took.
    pub async fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .context("server did not stop")?
            .context("server task panicked")?
            .context("server failed")?;
        Ok(started.elapsed())
    }

    /// A connected plain-text client.
    pub async fn connect(&self) -> anyhow::Result<TextClient> {
        TextClient::connect(self.text_addr).await
    }

    /// A connected IRC client (not yet registered).
    pub async fn irc(&self) -> anyhow::Result<TextClient> {
        TextClient::connect(self.irc_addr).await
    }

    /// An IRC client registered as `nick` (no capabilities), with the welcome burst read up
    /// to the end of the MOTD.
    pub async fn irc_login(&self, nick: &str) -> anyhow::Result<TextClient> {
        let mut client = self.irc().await?;
        client.send(&format!("NICK {nick}")).await?;
        client
            .send(&format!("USER {nick} 0 * :{nick} Real"))
            .await?;
        client
            .expect_prefix(&format!(":teahouse.local 001 {nick} "))
            .await?;
        client
            .expect_eventually_prefix(&format!(":teahouse.local 422 {nick} "))
            .await?;
        Ok(client)
    }

    /// An IRC-over-WebSocket client on `/ws`, offering `subprotocol` (if any).
    pub async fn ws(&self, subprotocol: Option<&str>) -> anyhow::Result<WsClient> {
        WsClient::connect(self.web_addr, subprotocol).await
    }

    /// An IRC-over-WebSocket client (`text.ircv3.net`) registered as `nick`, with the
    /// welcome burst read up to the end of the MOTD.
    pub async fn ws_login(&self, nick: &str) -> anyhow::Result<WsClient> {
        let mut client = self.ws(Some("text.ircv3.net")).await?;
        client.send(&format!("NICK {nick}")).await?;
        client
            .send(&format!("USER {nick} 0 * :{nick} Real"))
            .await?;
        client
            .expect_eventually_prefix(&format!(":teahouse.local 422 {nick} "))
            .await?;
        Ok(client)
    }

    /// A client logged in as `nick` (English texts), with its join lines consumed.
    pub async fn login(&self, nick: &str) -> anyhow::Result<TextClient> {
        let mut client = self.connect().await?;
        client.expect("Enter a nickname:").await?;
        client.send(nick).await?;
        client.expect(&format!("Nickname set: {nick}")).await?;
        client.expect(&format!("* {nick} entered the room")).await?;
        client.expect_prefix("* In ").await?;
        Ok(client)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A byte stream a scripted client can run over (TCP, TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A scripted plain-text (or IRC) client, over TCP or TLS.
pub struct TextClient {
    reader: BufReader<Box<dyn AsyncRead + Unpin + Send>>,
    writer: Writer,
}

/// The sending half: TCP's keeps its socket options at hand.
enum Writer {
    Tcp(OwnedWriteHalf),
    Other(Box<dyn AsyncWrite + Unpin + Send>),
}

impl Writer {
    fn as_mut(&mut self) -> &mut (dyn AsyncWrite + Unpin + Send) {
        match self {
            Self::Tcp(w) => w,
            Self::Other(w) => w.as_mut(),
        }
    }
}

impl TextClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        Ok(Self::from_stream(stream))
    }

    /// Wraps a connected stream (for tests that tune the socket first).
    pub fn from_stream(stream: TcpStream) -> Self {
        let (reader, writer) = stream.into_split();
        Self {
            reader: BufReader::new(Box::new(reader)),
            writer: Writer::Tcp(writer),
        }
    }

    /// Runs over any byte stream (a TLS connection).
    pub fn over(stream: impl Stream) -> Self {
        let (reader, writer) = tokio::io::split(stream);
        Self {
            reader: BufReader::new(Box::new(reader)),
            writer: Writer::Other(Box::new(writer)),
        }
    }

    /// Sends one line (a `\n` is added).
    pub async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.send_raw(&bytes).await
    }

    /// Sends bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer
            .as_mut()
            .write_all(bytes)
            .await
            .context("sending to server")
    }

    /// The next line (without `\r\n`), or `None` at end of stream; fails after [`WAIT`].
    pub async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_until(b'\n', &mut buf))
            .await
            .context("timed out waiting for a line")?
            .context("reading from server")?;
        if n == 0 {
            return Ok(None);
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(Some(
            String::from_utf8(buf).context("server sent invalid UTF-8")?,
        ))
    }

    /// The next line, which must exist.
    pub async fn line(&mut self) -> anyhow::Result<String> {
        line_of(self).await
    }

    /// The next line must be exactly `expected`.
    pub async fn expect(&mut self, expected: &str) -> anyhow::Result<()> {
        expect_line(self, expected).await
    }

    /// The next lines must be a replay of `lines` in `room` (English): the heading, each
    /// line after its `[time] `, and the closing line.
    pub async fn expect_history(&mut self, room: &str, lines: &[&str]) -> anyhow::Result<()> {
        self.expect(&format!("* earlier in {room} ({}):", lines.len()))
            .await?;
        for expected in lines {
            let got = self.expect_prefix("[").await?;
            let (time, rest) = got
                .split_once("] ")
                .with_context(|| format!("no time in history line {got:?}"))?;
            if rest != *expected || !time.ends_with('Z') {
                bail!("expected history line \"[<time>Z] {expected}\", got {got:?}");
            }
        }
        self.expect("* end of earlier messages").await
    }

    /// The next line must start with `prefix`; returns it.
    pub async fn expect_prefix(&mut self, prefix: &str) -> anyhow::Result<String> {
        let got = self
            .line()
            .await
            .with_context(|| format!("waiting for {prefix:?}…"))?;
        if !got.starts_with(prefix) {
            bail!("expected a line starting with {prefix:?}, got {got:?}");
        }
        Ok(got)
    }

    /// Skips lines until one equals `expected`; returns the skipped ones.
    pub async fn expect_eventually(&mut self, expected: &str) -> anyhow::Result<Vec<String>> {
        let what = format!("{expected:?}");
        Ok(skip_until(self, &what, |l| l == expected).await?.1)
    }

    /// Skips lines until one starts with `prefix`; returns it.
    pub async fn expect_eventually_prefix(&mut self, prefix: &str) -> anyhow::Result<String> {
        let what = format!("{prefix:?}…");
        Ok(skip_until(self, &what, |l| l.starts_with(prefix)).await?.0)
    }

    /// Reads to the end of the stream; returns the lines on the way.
    pub async fn expect_closed(&mut self) -> anyhow::Result<Vec<String>> {
        read_to_end(self).await
    }

    /// Makes dropping this client reset the connection (RST) instead of closing it (FIN).
    pub fn set_linger_zero(&self) -> anyhow::Result<()> {
        let Writer::Tcp(writer) = &self.writer else {
            bail!("not a TCP client");
        };
        socket2::SockRef::from(writer.as_ref())
            .set_linger(Some(Duration::ZERO))
            .context("setting SO_LINGER")
    }

    /// Closes the sending side (the server sees end of stream).
    pub async fn shutdown_write(&mut self) -> anyhow::Result<()> {
        self.writer
            .as_mut()
            .shutdown()
            .await
            .context("closing the sending side")
    }
}

/// A scripted IRC-over-WebSocket client: one line per message, as the IRCv3 WebSocket
/// specification has it. Every message it receives is checked to be one line (no CR or LF
/// inside) of valid UTF-8.
pub struct WsClient {
    ws: tokio_tungstenite::WebSocketStream<Box<dyn Stream>>,
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
    /// Whether the server's messages came as binary (rather than text) frames.
    pub saw_binary: bool,
    /// The close frame the server sent, once it has: code and reason.
    pub close: Option<(u16, String)>,
}

impl WsClient {
    /// Opens `ws://addr/ws`, offering `subprotocol` (if any).
    pub async fn connect(addr: SocketAddr, subprotocol: Option<&str>) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        Self::over(&format!("ws://{addr}/ws"), Box::new(stream), subprotocol).await
    }

    /// Opens `wss://localhost:port/ws` over TLS, trusting only `ca`.
    pub async fn connect_tls(
        addr: SocketAddr,
        ca: &TestCa,
        subprotocol: Option<&str>,
    ) -> anyhow::Result<Self> {
        let stream = ca.connect(addr).await?;
        let url = format!("wss://localhost:{}/ws", addr.port());
        Self::over(&url, Box::new(stream), subprotocol).await
    }

    /// The WebSocket handshake for `url` over a connected `stream`.
    async fn over(
        url: &str,
        stream: Box<dyn Stream>,
        subprotocol: Option<&str>,
    ) -> anyhow::Result<Self> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url
            .into_client_request()
            .context("building the upgrade request")?;
        if let Some(protocol) = subprotocol {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                protocol.parse().context("subprotocol header")?,
            );
        }
        let (ws, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream))
                .await
                .context("timed out in the WebSocket handshake")?
                .context("WebSocket handshake")?;
        let subprotocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            ws,
            subprotocol,
            saw_binary: false,
            close: None,
        })
    }

    /// Sends one line as one text message.
    pub async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(line))
            .await
            .context("sending to server")
    }

    /// Sends one binary message, its bytes as they are.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::binary(
                bytes.to_vec(),
            ))
            .await
            .context("sending to server")
    }

    /// The next line, or `None` once the server closed (its close frame is in
    /// [`WsClient::close`]); fails after [`WAIT`].
    pub async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("timed out waiting for a line")?;
            let bytes = match message {
                None => return Ok(None),
                Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) => {
                    return Ok(None);
                }
                Some(Err(error)) => return Err(error).context("reading from server"),
                Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                Some(Ok(Message::Binary(bytes))) => {
                    self.saw_binary = true;
                    bytes.to_vec()
                }
                Some(Ok(Message::Close(frame))) => {
                    self.close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return Ok(None);
                }
                Some(Ok(_)) => continue,
            };
            let line = String::from_utf8(bytes).context("server sent invalid UTF-8")?;
            if line.contains(['\r', '\n']) {
                bail!("a WebSocket message must be one line without its line end, got {line:?}");
            }
            return Ok(Some(line));
        }
    }

    /// The next line, which must exist.
    pub async fn line(&mut self) -> anyhow::Result<String> {
        line_of(self).await
    }

    /// The next line must be exactly `expected`.
    pub async fn expect(&mut self, expected: &str) -> anyhow::Result<()> {
        expect_line(self, expected).await
    }

    /// Skips lines until one equals `expected`; returns the skipped ones.
    pub async fn expect_eventually(&mut self, expected: &str) -> anyhow::Result<Vec<String>> {
        let what = format!("{expected:?}");
        Ok(skip_until(self, &what, |l| l == expected).await?.1)
    }

    /// Skips lines until one starts with `prefix`; returns it.
    pub async fn expect_eventually_prefix(&mut self, prefix: &str) -> anyhow::Result<String> {
        let what = format!("{prefix:?}…");
        Ok(skip_until(self, &what, |l| l.starts_with(prefix)).await?.0)
    }

    /// Reads to the end of the stream; returns the lines on the way.
    pub async fn expect_closed(&mut self) -> anyhow::Result<Vec<String>> {
        read_to_end(self).await
    }
}

/// What both scripted clients read from: the next line, or `None` at the end.
trait NextLine {
    async fn next_line(&mut self) -> anyhow::Result<Option<String>>;
}

impl NextLine for TextClient {
    async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        TextClient::next_line(self).await
    }
}

impl NextLine for WsClient {
    async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        WsClient::next_line(self).await
    }
}

/// The next line, which must exist.
async fn line_of(c: &mut impl NextLine) -> anyhow::Result<String> {
    c.next_line()
        .await?
        .context("connection closed while a line was expected")
}

/// The next line must be exactly `expected`.
async fn expect_line(c: &mut impl NextLine, expected: &str) -> anyhow::Result<()> {
    let got = line_of(c)
        .await
        .with_context(|| format!("waiting for {expected:?}"))?;
    if got != expected {
        bail!("expected line {expected:?}, got {got:?}");
    }
    Ok(())
}

/// Skips lines until one `is_it` (described by `what`); returns it and the skipped ones.
async fn skip_until(
    c: &mut impl NextLine,
    what: &str,
    is_it: impl Fn(&str) -> bool,
) -> anyhow::Result<(String, Vec<String>)> {
    let mut skipped = Vec::new();
    loop {
        let got = c
            .next_line()
            .await?
            .with_context(|| format!("closed before {what}; saw {skipped:?}"))?;
        if is_it(&got) {
            return Ok((got, skipped));
        }
        skipped.push(got);
    }
}

/// Reads to the end of the stream; returns the lines on the way.
async fn read_to_end(c: &mut impl NextLine) -> anyhow::Result<Vec<String>> {
    let mut rest = Vec::new();
    while let Some(line) = c.next_line().await? {
        rest.push(line);
    }
    Ok(rest)
}
