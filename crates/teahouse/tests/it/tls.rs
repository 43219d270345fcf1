//! TLS: IRC on its TLS port and the web face as HTTPS/WSS, chatting with plain users; STS;
//! the certificate swapped on SIGHUP under a connected client; plain text to the TLS port
//! and TLS to the plain ports closed with a clear word; the handshake's bounds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use teahouse_testkit::teahouse_server::{Config, ListenAddr};
use teahouse_testkit::{TestCa, TestServer, TextClient, WAIT, WsClient, peer_certificate};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const S: &str = ":teahouse.local";
const BIN: &str = env!("CARGO_BIN_EXE_teahouse");

/// A directory of the test's own, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("teahouse-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn loopback() -> ListenAddr {
    ListenAddr::At(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// A server with the IRC TLS port and HTTPS on, presenting `cert`/`key`.
async fn tls_server(
    cert: &Path,
    key: &Path,
    adjust: impl FnOnce(&mut Config),
) -> anyhow::Result<(TestServer, SocketAddr)> {
    let server = TestServer::start_with(|c| {
        c.irc.tls_addr = loopback();
        c.web.tls = true;
        c.tls.cert = Some(cert.to_owned());
        c.tls.key = Some(key.to_owned());
        adjust(c);
    })
    .await?;
    let ircs = server.ircs_addr.context("no TLS port")?;
    Ok((server, ircs))
}

/// Registers `nick` on an IRC connection, asking `CAP LS 302` first; returns the LS lines.
async fn register(client: &mut TextClient, nick: &str) -> anyhow::Result<Vec<String>> {
    client.send("CAP LS 302").await?;
    let mut ls = Vec::new();
    loop {
        let line = client.expect_prefix(&format!("{S} CAP * LS ")).await?;
        let more = line.starts_with(&format!("{S} CAP * LS * "));
        ls.push(line);
        if !more {
            break;
        }
    }
    client.send("CAP END").await?;
    client.send(&format!("NICK {nick}")).await?;
    client.send(&format!("USER {nick} 0 * :{nick}")).await?;
    client
        .expect_eventually_prefix(&format!("{S} 422 {nick} "))
        .await?;
    Ok(ls)
}

fn sts_of(ls: &[String]) -> Option<String> {
    ls.iter()
        .flat_map(|l| l.split([' ', ':']))
        .find(|cap| cap.starts_with("sts="))
        .map(str::to_owned)
}

#[tokio::test]
async fn issue_14_irc_over_tls_and_wss_chat_with_plain_users_and_sts_is_advertised()
-> anyhow::Result<()> {
    let dir = Dir::new("chat")?;
    let ca = TestCa::new(&dir.0)?;
    let (cert, key, _) = ca.issue("server")?;
    let (server, ircs) = tls_server(&cert, &key, |_| {}).await?;

    // IRC over TLS: the policy's duration; plain IRC: the port to upgrade to.
    let mut secure = TextClient::over(ca.connect(ircs).await?);
    let ls = register(&mut secure, "sam").await?;
    ensure!(
        sts_of(&ls).as_deref() == Some("sts=duration=2592000"),
        "TLS connection's LS: {ls:?}"
    );
    let mut plain = server.irc().await?;
    let ls = register(&mut plain, "pat").await?;
    ensure!(
        sts_of(&ls) == Some(format!("sts=port={}", ircs.port())),
        "plain connection's LS: {ls:?}"
    );
    plain.send("CAP REQ sts").await?;
    plain.expect(&format!("{S} CAP pat NAK :sts")).await?;

    // The same room for all: TLS IRC, plain IRC, WSS and the plain-text face.
    let mut wss = WsClient::connect_tls(server.web_addr, &ca, Some("text.ircv3.net")).await?;
    wss.send("NICK wes").await?;
    wss.send("USER wes 0 * :wes").await?;
    wss.expect_eventually_prefix(&format!("{S} 422 wes "))
        .await?;
    for c in [&mut secure, &mut plain] {
        c.send("JOIN #lobby").await?;
        c.expect_eventually_prefix(&format!("{S} 366 ")).await?;
    }
    wss.send("JOIN #lobby").await?;
    wss.expect_eventually_prefix(&format!("{S} 366 wes "))
        .await?;
    let mut text = server.login("tom").await?;

    secure.send("PRIVMSG #lobby :over TLS 你好").await?;
    let line = plain.expect_eventually_prefix(":sam!").await?;
    ensure!(line.ends_with("PRIVMSG #lobby :over TLS 你好"), "{line}");
    wss.expect_eventually_prefix(":sam!").await?;
    text.expect_eventually("sam: over TLS 你好").await?;
    wss.send("PRIVMSG #lobby :over WSS").await?;
    secure.expect_eventually_prefix(":wes!").await?;
    text.expect_eventually("wes: over WSS").await?;
    text.send("hello both").await?;
    secure
        .expect_eventually(":tom!text@127.0.0.1 PRIVMSG #lobby :hello both")
        .await?;

    // The page itself over HTTPS.
    let mut https = ca.connect_alpn(server.web_addr, &[b"http/1.1"]).await?;
    https
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, https.read_to_end(&mut response))
        .await
        .context("HTTPS response")??;
    let response = String::from_utf8_lossy(&response);
    ensure!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("ok\n"),
        "{response}"
    );
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn issue_14_plain_text_to_tls_ports_and_tls_to_plain_ports_get_a_clear_close()
-> anyhow::Result<()> {
    let dir = Dir::new("wrong")?;
    let ca = TestCa::new(&dir.0)?;
    let (cert, key, _) = ca.issue("server")?;
    let (server, ircs) = tls_server(&cert, &key, |c| {
        c.tls.handshake_timeout = Duration::from_millis(300);
        c.tls.max_handshakes = std::num::NonZeroUsize::new(1).expect("one");
    })
    .await?;

    // Plain IRC to the TLS port: told so in IRC, then closed.
    let mut client = TextClient::connect(ircs).await?;
    client.send("NICK nia").await?;
    let line = client.line().await.context("plain IRC to the TLS port")?;
    ensure!(
        line.starts_with("ERROR :") && line.contains("TLS only"),
        "{line}"
    );
    ensure!(client.expect_closed().await?.is_empty());

    // Plain HTTP to the HTTPS listener: a 400 that says to use https://.
    let mut http = TcpStream::connect(server.web_addr).await?;
    http.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, http.read_to_end(&mut response))
        .await
        .context("HTTP response")?
        .context("reading the HTTP response")?;
    let response = String::from_utf8_lossy(&response);
    ensure!(
        response.starts_with("HTTP/1.1 400") && response.contains("https://"),
        "{response}"
    );

    // TLS to the plain IRC and text ports: the handshake fails at once, and the IRC port's
    // answer (a plain ERROR line) is what the TLS client choked on.
    for addr in [server.irc_addr, server.text_addr] {
        let attempt = tokio::time::timeout(WAIT, ca.connect(addr)).await?;
        ensure!(
            attempt.is_err(),
            "a TLS handshake with the plain port {addr} succeeded"
        );
    }
    let mut raw = TcpStream::connect(server.irc_addr).await?;
    raw.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0])
        .await?;
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, raw.read_to_end(&mut got))
        .await
        .context("the plain IRC port kept a TLS client waiting")?
        .context("reading the plain IRC port's answer")?;
    let got = String::from_utf8_lossy(&got);
    ensure!(
        got.starts_with("ERROR :") && got.contains("not TLS"),
        "{got}"
    );

    // A handshake that never finishes is cut at the deadline; while it holds the one
    // handshake slot, another client is closed at once.
    let mut stalled = TcpStream::connect(ircs).await?;
    stalled.write_all(&[0x16]).await?;
    let second = tokio::time::timeout(WAIT, ca.connect(ircs)).await?;
    ensure!(second.is_err(), "a handshake over the cap went through");
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, stalled.read_to_end(&mut rest))
        .await
        .context("a stalled handshake was never cut")?
        .context("reading the stalled handshake's end")?;
    ensure!(rest.is_empty());
    // Once it is gone, handshakes go through again.
    let mut after = TextClient::over(ca.connect(ircs).await?);
    register(&mut after, "ada").await?;
    server.stop().await?;
    Ok(())
}

/// `teahouse serve`, its log lines readable as they come.
pub(crate) struct Served {
    child: Child,
    log: mpsc::UnboundedReceiver<String>,
    addrs: std::collections::HashMap<String, SocketAddr>,
}

impl Served {
    /// With TLS on, presenting `cert`/`key`.
    async fn start(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
        let args = [
            "--ircs-addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ];
        Self::with(&args, &["ircs", "irc", "text"]).await
    }

    /// With `args`, once every listener of `protos` is listening.
    pub(crate) async fn with(args: &[&str], protos: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(["--text-addr", "127.0.0.1:0", "--irc-addr", "127.0.0.1:0"])
            .args(["--web-addr", "off"])
            .args(if args.contains(&"--data-dir") {
                &[][..]
            } else {
                &["--data-dir", ":memory:"][..]
            })
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning teahouse serve")?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let (tx, mut log) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = std::collections::HashMap::new();
        while !protos.iter().all(|p| addrs.contains_key(*p)) {
            let line = tokio::time::timeout(WAIT, log.recv())
                .await
                .context("server did not log its addresses")?
                .context("server exited before listening")?;
            if line.contains("listening")
                && let Some(proto) = line.split("proto=\"").nth(1)
                && let Some(proto) = proto.split('"').next()
            {
                let addr = line.split(" addr=").nth(1).context("address")?;
                let addr = addr.split_whitespace().next().context("address")?.parse()?;
                addrs.insert(proto.to_owned(), addr);
            }
        }
        Ok(Self { child, log, addrs })
    }

    /// The address the listener of `proto` is bound to.
    pub(crate) fn addr(&self, proto: &str) -> SocketAddr {
        self.addrs[proto]
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().context("server pid")?;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM failed");
        let exit = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .context("server did not stop")??;
        ensure!(exit.success(), "server exited with {exit}");
        Ok(())
    }

    /// Kills the server with SIGKILL (`kill -9`): no goodbye to anyone.
    pub(crate) async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    pub(crate) fn hang_up(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("server pid")?;
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()?;
        ensure!(status.success(), "kill -HUP failed");
        Ok(())
    }

    /// Waits for a log line containing `text`; returns it.
    pub(crate) async fn logged(&mut self, text: &str) -> anyhow::Result<String> {
        loop {
            let line = tokio::time::timeout(WAIT, self.log.recv())
                .await
                .with_context(|| format!("the server never logged {text:?}"))?
                .context("server exited")?;
            if line.contains(text) {
                return Ok(line);
            }
        }
    }
}

#[tokio::test]
async fn issue_14_sighup_swaps_the_certificate_under_a_connected_client() -> anyhow::Result<()> {
    let dir = Dir::new("sighup")?;
    let ca = TestCa::new(&dir.0)?;
    let (cert, key, first) = ca.issue("live")?;
    let mut served = Served::start(&cert, &key).await?;

    let stream = ca.connect(served.addr("ircs")).await?;
    ensure!(peer_certificate(&stream).as_ref() == Some(&first));
    let mut early = TextClient::over(stream);
    register(&mut early, "early").await?;
    early.send("JOIN #lobby").await?;
    early
        .expect_eventually_prefix(&format!("{S} 366 early "))
        .await?;

    // A new certificate in the same files, then SIGHUP.
    let (next_cert, next_key, second) = ca.issue("next")?;
    std::fs::rename(&next_cert, &cert)?;
    std::fs::rename(&next_key, &key)?;
    served.hang_up()?;
    served.logged("TLS certificate reloaded").await?;

    let stream = ca.connect(served.addr("ircs")).await?;
    ensure!(
        peer_certificate(&stream).as_ref() == Some(&second),
        "the next client was not shown the new certificate"
    );
    let mut late = TextClient::over(stream);
    register(&mut late, "late").await?;
    late.send("JOIN #lobby").await?;
    late.expect_eventually_prefix(&format!("{S} 366 late "))
        .await?;
    // The early client, on the old certificate, still chats.
    early.expect_eventually_prefix(":late!").await?;
    early.send("PRIVMSG #lobby :still here").await?;
    let line = late.expect_eventually_prefix(":early!").await?;
    ensure!(line.ends_with("PRIVMSG #lobby :still here"), "{line}");

    // A broken key on the next reload: refused, logged, and the good certificate stays.
    std::fs::write(&key, "not a key")?;
    served.hang_up()?;
    let line = served.logged("configuration not reloaded").await?;
    ensure!(
        line.contains(&*key.to_string_lossy()),
        "the log names the file: {line}"
    );
    let stream = ca.connect(served.addr("ircs")).await?;
    ensure!(peer_certificate(&stream).as_ref() == Some(&second));
    early.send("PING :alive").await?;
    early
        .expect_eventually(&format!("{S} PONG teahouse.local :alive"))
        .await?;
    Ok(())
}
