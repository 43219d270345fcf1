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
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
        // Each test server keeps its store in memory unless the test says otherwise.
        config.store.data_dir = ":memory:".into();
        adjust(&mut config);
        let listeners = Listeners::bind(&config)
            .await
            .context("binding test listeners")?;
        let text_addr = listeners.text_addr().context("text listener is off")?;
        let irc_addr = listeners.irc_addr().context("irc listener is off")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(teahouse_server::run(config, listeners, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            text_addr,
            irc_addr,
            stop: Some(stop),
            task,
        })
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

/// A scripted plain-text client.
pub struct TextClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
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
            reader: BufReader::new(reader),
            writer,
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
        self.next_line()
            .await?
            .context("connection closed while a line was expected")
    }

    /// The next line must be exactly `expected`.
    pub async fn expect(&mut self, expected: &str) -> anyhow::Result<()> {
        let got = self
            .line()
            .await
            .with_context(|| format!("waiting for {expected:?}"))?;
        if got != expected {
            bail!("expected line {expected:?}, got {got:?}");
        }
        Ok(())
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
        let mut skipped = Vec::new();
        loop {
            let got = self
                .next_line()
                .await?
                .with_context(|| format!("closed before {expected:?}; saw {skipped:?}"))?;
            if got == expected {
                return Ok(skipped);
            }
            skipped.push(got);
        }
    }

    /// Skips lines until one starts with `prefix`; returns it.
    pub async fn expect_eventually_prefix(&mut self, prefix: &str) -> anyhow::Result<String> {
        let mut skipped = Vec::new();
        loop {
            let got = self
                .next_line()
                .await?
                .with_context(|| format!("closed before {prefix:?}…; saw {skipped:?}"))?;
            if got.starts_with(prefix) {
                return Ok(got);
            }
            skipped.push(got);
        }
    }

    /// Reads to the end of the stream; returns the lines on the way.
    pub async fn expect_closed(&mut self) -> anyhow::Result<Vec<String>> {
        let mut rest = Vec::new();
        while let Some(line) = self.next_line().await? {
            rest.push(line);
        }
        Ok(rest)
    }

    /// Makes dropping this client reset the connection (RST) instead of closing it (FIN).
    pub fn set_linger_zero(&self) -> anyhow::Result<()> {
        socket2::SockRef::from(self.writer.as_ref())
            .set_linger(Some(Duration::ZERO))
            .context("setting SO_LINGER")
    }

    /// Closes the sending side (the server sees end of stream).
    pub async fn shutdown_write(&mut self) -> anyhow::Result<()> {
        self.writer
            .shutdown()
            .await
            .context("closing the sending side")
    }
}
