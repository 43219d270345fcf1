//! The real `teahouse` binary: the line client, signals, config file and flags.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use teahouse_testkit::{TestServer, TextClient, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_teahouse");

struct Lines(tokio::io::Lines<BufReader<ChildStdout>>);

impl Lines {
    async fn expect(&mut self, expected: &str) -> anyhow::Result<()> {
        let got = tokio::time::timeout(WAIT, self.0.next_line())
            .await
            .context("timed out reading the client's output")??
            .with_context(|| format!("client output ended before {expected:?}"))?;
        anyhow::ensure!(got == expected, "expected {expected:?}, got {got:?}");
        Ok(())
    }

    async fn expect_end(&mut self) -> anyhow::Result<()> {
        let got = tokio::time::timeout(WAIT, self.0.next_line()).await??;
        anyhow::ensure!(got.is_none(), "expected the end of output, got {got:?}");
        Ok(())
    }
}

fn chat(args: &[&str]) -> anyhow::Result<(Child, Lines)> {
    let mut child = Command::new(BIN)
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawning teahouse chat")?;
    let stdout = child.stdout.take().context("stdout")?;
    Ok((child, Lines(BufReader::new(stdout).lines())))
}

async fn exit_code(child: &mut Child) -> anyhow::Result<Option<i32>> {
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .context("process did not exit")??;
    Ok(status.code())
}

#[tokio::test]
async fn line_client_chats_both_ways_and_quits() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let addr = server.text_addr.to_string();
    let (mut child, mut out) = chat(&[&addr, "--nick", "alice"])?;
    let mut stdin = child.stdin.take().context("stdin")?;
    out.expect("Enter a nickname:").await?;
    out.expect("Nickname alice is already taken, please enter another:")
        .await?;
    stdin.write_all("bob\n".as_bytes()).await?;
    out.expect("Nickname set: bob").await?;
    out.expect("* bob entered the room").await?;
    out.expect("* In lobby (2): alice, bob").await?;
    alice.expect("* bob entered the room").await?;

    alice.send("hi bob \u{1b}[31m").await?;
    out.expect("alice: hi bob [31m").await?;
    stdin.write_all("hello alice\n".as_bytes()).await?;
    alice.expect("bob: hello alice").await?;
    stdin.write_all(b"quit\n").await?;
    out.expect("Bye!").await?;
    out.expect_end().await?;
    assert_eq!(exit_code(&mut child).await?, Some(0));
    alice.expect("* bob left the room").await?;
    Ok(())
}

#[tokio::test]
async fn line_client_end_of_input_leaves_cleanly() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let (mut child, mut out) = chat(&[&server.text_addr.to_string(), "--nick", "carol"])?;
    let mut stdin = child.stdin.take().context("stdin")?;
    out.expect("Enter a nickname:").await?;
    out.expect("Nickname set: carol").await?;
    alice.expect("* carol entered the room").await?;
    stdin.write_all(b"one last thing\n").await?;
    drop(stdin);
    alice.expect("carol: one last thing").await?;
    alice.expect("* carol left the room").await?;
    assert_eq!(exit_code(&mut child).await?, Some(0));
    Ok(())
}

#[tokio::test]
async fn line_client_reports_an_unreachable_server() -> anyhow::Result<()> {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    for (lang, expected) in [("en", "Could not connect to"), ("zh", "连接失败")] {
        let output = Command::new(BIN)
            .args(["chat", &addr, "--lang", lang])
            .stdin(Stdio::null())
            .output()
            .await?;
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr)?;
        assert!(stderr.contains(expected), "{lang}: {stderr:?}");
    }
    Ok(())
}

#[tokio::test]
async fn line_client_reports_a_server_that_goes_away() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let (mut child, mut out) = chat(&[&server.text_addr.to_string(), "--nick", "dan"])?;
    let _stdin = child.stdin.take();
    out.expect("Enter a nickname:").await?;
    out.expect("Nickname set: dan").await?;
    alice.expect("* dan entered the room").await?;
    server.stop().await?;
    out.expect_eventually_shutdown().await?;
    assert_eq!(exit_code(&mut child).await?, Some(1));
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(
        &mut child.stderr.take().context("stderr")?,
        &mut stderr,
    )
    .await?;
    assert!(
        stderr.contains("The server closed the connection"),
        "{stderr:?}"
    );
    Ok(())
}

impl Lines {
    async fn expect_eventually_shutdown(&mut self) -> anyhow::Result<()> {
        loop {
            let got = tokio::time::timeout(WAIT, self.0.next_line()).await??;
            match got.as_deref() {
                Some("* The server is shutting down, goodbye") => return Ok(()),
                Some(_) => continue,
                None => anyhow::bail!("output ended without the shutdown notice"),
            }
        }
    }
}

/// Starts `teahouse serve` on port 0 and reads the bound address from its log.
pub(crate) async fn serve(args: &[&str]) -> anyhow::Result<(Child, std::net::SocketAddr)> {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args([
            "--text-addr",
            "127.0.0.1:0",
            "--irc-addr",
            "127.0.0.1:0",
            "--web-addr",
            "off",
        ])
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
    let mut log = BufReader::new(child.stderr.take().context("stderr")?).lines();
    let addr = loop {
        let line = tokio::time::timeout(WAIT, log.next_line())
            .await
            .context("server did not log its address")??
            .context("server exited before listening")?;
        if let Some(rest) = line.split(" addr=").nth(1)
            && line.contains("listening")
            && line.contains("proto=\"text\"")
        {
            let addr = rest.split_whitespace().next().context("address")?;
            break addr.parse()?;
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    Ok((child, addr))
}

#[tokio::test]
async fn sigterm_tells_clients_and_exits_zero_within_five_seconds() -> anyhow::Result<()> {
    let (mut server, addr) = serve(&[]).await?;
    let mut alice = TextClient::connect(addr).await?;
    alice.expect("Enter a nickname:").await?;
    alice.send("alice").await?;
    alice.expect("Nickname set: alice").await?;
    let pid = server.id().context("server pid")?;
    let started = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(status.success());
    let rest = alice
        .expect_eventually("* The server is shutting down, goodbye")
        .await?;
    assert!(rest.iter().all(|l| l.starts_with("* ")), "{rest:?}");
    assert!(alice.expect_closed().await?.is_empty());
    assert_eq!(exit_code(&mut server).await?, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn config_file_is_read_and_flags_win() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("teahouse-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("teahouse.toml");
    std::fs::write(&path, "[text]\nlang = \"zh\"\ndefault_room = \"茶馆\"\n")?;
    let path_str = path.to_str().context("utf-8 path")?;

    let (_zh, addr) = serve(&["--config", path_str]).await?;
    let mut c = TextClient::connect(addr).await?;
    c.expect("请输入昵称:").await?;
    c.send("小明").await?;
    c.expect("昵称设置成功").await?;
    c.expect("系统消息小明进入了聊天室").await?;
    c.expect("系统消息聊天室茶馆中有1人:小明").await?;

    let (_en, addr) = serve(&["--config", path_str, "--lang", "en"]).await?;
    let mut c = TextClient::connect(addr).await?;
    c.expect("Enter a nickname:").await?;

    std::fs::write(&path, "[text]\nlangauge = \"zh\"\n")?;
    let output = Command::new(BIN)
        .args([
            "serve",
            "--config",
            path_str,
            "--irc-addr",
            "off",
            "--web-addr",
            "off",
        ])
        .output()
        .await?;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains("langauge"), "{stderr}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
