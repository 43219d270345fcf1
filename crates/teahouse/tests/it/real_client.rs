//! A real IRC client nobody here wrote (the Python `irc` library from PyPI) and the real
//! `teahouse chat` binary in one room: each sees the other join, talk and leave.
//!
//! The test makes its own Python environment under `target/` on first run
//! (`python3 -m venv` and `pip install irc==20.5.0`), so `cargo test` needs nothing set up
//! beforehand but Python 3 and the package index.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, ensure};
use teahouse_testkit::{TestServer, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_teahouse");

/// The pinned version of the Python `irc` library (see ../shared/RECIPES.md).
const IRC_LIBRARY: &str = "irc==20.5.0";

/// A Python with the `irc` library, made once under `target/`.
async fn python() -> anyhow::Result<PathBuf> {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let venv = target.join("test-venv");
    let python = venv.join("bin/python");
    if has_library(&python).await {
        return Ok(python);
    }
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .await
        .context("running python3 -m venv (install Python 3 with its venv module)")?;
    ensure!(
        status.success(),
        "python3 -m venv {} failed",
        venv.display()
    );
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", IRC_LIBRARY])
        .status()
        .await
        .context("running pip install")?;
    ensure!(
        status.success(),
        "pip install {IRC_LIBRARY} failed (is PyPI reachable?)"
    );
    ensure!(
        has_library(&python).await,
        "the irc library did not install"
    );
    Ok(python)
}

async fn has_library(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import irc.client"])
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn expect(
    lines: &mut Lines<BufReader<ChildStdout>>,
    who: &str,
    expected: &str,
) -> anyhow::Result<()> {
    let got = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .with_context(|| format!("{who}: timed out waiting for {expected:?}"))??
        .with_context(|| format!("{who}: output ended before {expected:?}"))?;
    ensure!(got == expected, "{who}: expected {expected:?}, got {got:?}");
    Ok(())
}

#[tokio::test]
async fn python_irc_library_and_teahouse_chat_talk_in_the_lobby() -> anyhow::Result<()> {
    let python = python().await?;
    let server = TestServer::start().await?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/irc_bot.py");
    let mut bot = Command::new(&python)
        .arg(&script)
        .arg(server.irc_addr.ip().to_string())
        .arg(server.irc_addr.port().to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the Python IRC bot")?;
    let mut bot_out = BufReader::new(bot.stdout.take().context("bot stdout")?).lines();
    expect(&mut bot_out, "bot", "WELCOME pybot").await?;
    expect(&mut bot_out, "bot", "JOIN pybot #lobby").await?;
    expect(&mut bot_out, "bot", "READY").await?;

    let mut bob = Command::new(BIN)
        .args(["chat", &server.text_addr.to_string(), "--nick", "bob"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting teahouse chat")?;
    let mut bob_in = bob.stdin.take().context("chat stdin")?;
    let mut bob_out = BufReader::new(bob.stdout.take().context("chat stdout")?).lines();
    expect(&mut bob_out, "bob", "Enter a nickname:").await?;
    expect(&mut bob_out, "bob", "Nickname set: bob").await?;
    expect(&mut bob_out, "bob", "* bob entered the room").await?;
    expect(&mut bob_out, "bob", "* In lobby (2): bob, pybot").await?;

    // The bot sees bob enter and greets him; bob sees the greeting.
    expect(&mut bot_out, "bot", "JOIN bob #lobby").await?;
    expect(&mut bob_out, "bob", "pybot: hi bob, I am a bot").await?;
    bob_in.write_all(b"hello pybot\n").await?;
    expect(&mut bot_out, "bot", "PUBMSG bob #lobby hello pybot").await?;
    expect(&mut bob_out, "bob", "pybot: nice to meet you").await?;

    // bob leaves: the bot sees it and quits in turn.
    bob_in.write_all(b"quit\n").await?;
    expect(&mut bob_out, "bob", "Bye!").await?;
    let status = tokio::time::timeout(WAIT, bob.wait()).await??;
    assert!(status.success(), "teahouse chat exited with {status}");
    expect(&mut bot_out, "bot", "QUIT bob Quit").await?;
    expect(&mut bot_out, "bot", "DISCONNECTED").await?;
    let status = tokio::time::timeout(WAIT, bot.wait()).await??;
    assert!(status.success(), "the bot exited with {status}");
    Ok(())
}
