//! History across restarts, with the real binary and a real data directory.

use std::process::Stdio;

use anyhow::Context as _;
use teahouse_testkit::TextClient;

use crate::pg::{PgDatabase, server_on};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_teahouse");

/// A data directory of its own, removed at the end.
struct DataDir(std::path::PathBuf);

impl DataDir {
    fn new(name: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("teahouse-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `teahouse serve` on port 0 with `data_dir`; returns it and its plain-text address.
async fn serve(data_dir: &DataDir) -> anyhow::Result<(Child, std::net::SocketAddr)> {
    serve_with(data_dir, &[]).await
}

/// [`serve`] with more arguments.
async fn serve_with(
    data_dir: &DataDir,
    args: &[&str],
) -> anyhow::Result<(Child, std::net::SocketAddr)> {
    let mut all = vec!["--data-dir", data_dir.arg()];
    all.extend_from_slice(args);
    crate::binary::serve(&all).await
}

/// `teahouse serve` on `dir` must exit with an error that says `why`, and serve nothing.
async fn refuses_to_start(dir: &DataDir, why: &str) -> anyhow::Result<()> {
    let output = Command::new(BIN)
        .args([
            "serve",
            "--text-addr",
            "127.0.0.1:0",
            "--irc-addr",
            "off",
            "--web-addr",
            "off",
        ])
        .args(["--data-dir", dir.arg()])
        .env_remove("RUST_LOG")
        .output()
        .await?;
    anyhow::ensure!(!output.status.success(), "the server started");
    let stderr = String::from_utf8(output.stderr)?;
    anyhow::ensure!(stderr.contains(why), "expected {why:?} in {stderr}");
    anyhow::ensure!(!stderr.contains("listening"), "it must not serve: {stderr}");
    Ok(())
}

async fn login(addr: std::net::SocketAddr, nick: &str) -> anyhow::Result<TextClient> {
    let mut client = TextClient::connect(addr).await?;
    client.expect("Enter a nickname:").await?;
    client.send(nick).await?;
    client.expect(&format!("Nickname set: {nick}")).await?;
    client.expect(&format!("* {nick} entered the room")).await?;
    client.expect_prefix("* In lobby").await?;
    Ok(client)
}

#[tokio::test]
async fn kill_9_loses_no_message_anyone_received() -> anyhow::Result<()> {
    let dir = DataDir::new("kill9")?;
    let (mut server, addr) = serve(&dir).await?;
    let mut alice = login(addr, "alice").await?;
    let mut bob = login(addr, "bob").await?;
    alice.expect("* bob entered the room").await?;
    alice.send("/register password").await?;
    alice
        .expect_prefix("* Nickname alice is now registered")
        .await?;
    for i in 0..30 {
        alice.send(&format!("m{i}")).await?;
    }
    for i in 0..30 {
        bob.expect(&format!("alice: m{i}")).await?;
    }
    // Everything bob received was stored first: kill the server without warning.
    server.start_kill()?;
    server.wait().await?;
    bob.expect_closed().await?;

    let (_server, addr) = serve(&dir).await?;
    let mut carol = login(addr, "carol").await?;
    let expected: Vec<String> = (10..30).map(|i| format!("alice: m{i}")).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    carol.expect_history("lobby", &expected).await?;
    // The account survived too: the nickname still wants its password.
    let mut intruder = TextClient::connect(addr).await?;
    intruder.expect("Enter a nickname:").await?;
    intruder.send("alice").await?;
    intruder
        .expect("Nickname alice is registered. Password (or /nick OTHER):")
        .await?;
    // And the conversation goes on after the replay, with nothing replayed twice.
    let mut dave = login(addr, "dave").await?;
    dave.expect_history("lobby", &expected).await?;
    carol.expect("* dave entered the room").await?;
    dave.send("hello after the crash").await?;
    carol.expect("dave: hello after the crash").await?;
    Ok(())
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_refuses_to_start() -> anyhow::Result<()> {
    let dir = DataDir::new("locked")?;
    let (_first, _addr) = serve(&dir).await?;
    refuses_to_start(&dir, "in use by another process").await?;
    Ok(())
}

#[tokio::test]
async fn a_corrupt_database_stops_the_server_with_a_clear_message() -> anyhow::Result<()> {
    let dir = DataDir::new("corrupt")?;
    std::fs::write(dir.0.join("teahouse.db"), vec![0x42_u8; 4096])?;
    refuses_to_start(&dir, "not a database").await?;
    Ok(())
}

#[tokio::test]
async fn on_postgresql_history_and_accounts_survive_a_restart() -> anyhow::Result<()> {
    let db = PgDatabase::create("restart").await?;
    let server = server_on(&db.url).await?;
    let mut alice = server.login("alice").await?;
    alice.send("/register on postgres").await?;
    alice
        .expect_prefix("* Nickname alice is now registered")
        .await?;
    for line in ["one", "two", "three"] {
        alice.send(line).await?;
    }
    // Lines run in order: once /who is answered, the three were accepted.
    alice.send("/who").await?;
    alice.expect("* In lobby (1): alice").await?;
    let mut bob = server.login("bob").await?;
    bob.expect_history("lobby", &["alice: one", "alice: two", "alice: three"])
        .await?;
    server.stop().await?;

    let server = server_on(&db.url).await?;
    let mut carol = server.login("carol").await?;
    carol
        .expect_history("lobby", &["alice: one", "alice: two", "alice: three"])
        .await?;
    let mut alice = server.connect().await?;
    alice.expect("Enter a nickname:").await?;
    alice.send("alice").await?;
    alice.expect_prefix("Nickname alice is registered.").await?;
    alice.send("on postgres").await?;
    alice.expect("* You are logged in to account alice").await?;
    server.stop().await?;
    db.drop_it().await
}

#[tokio::test]
async fn when_postgresql_goes_away_senders_are_told_and_it_recovers() -> anyhow::Result<()> {
    let db = PgDatabase::create("outage").await?;
    let server = server_on(&db.url).await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;
    // An IRC client with echo-message: its echo means "stored", so it must not come for a
    // message that was not. With standard-replies, it is told in a FAIL.
    let mut irc = server.irc().await?;
    irc.send("CAP REQ :echo-message standard-replies").await?;
    irc.send("NICK carol").await?;
    irc.send("USER carol 0 * :carol").await?;
    irc.expect(":teahouse.local CAP * ACK :echo-message standard-replies")
        .await?;
    irc.send("CAP END").await?;
    irc.expect_eventually_prefix(":teahouse.local 422 carol ")
        .await?;
    irc.send("JOIN #lobby").await?;
    irc.expect_eventually_prefix(":teahouse.local 366 carol #lobby ")
        .await?;
    alice.expect("* carol entered the room").await?;
    bob.expect("* carol entered the room").await?;
    alice.send("before").await?;
    bob.expect("alice: before").await?;
    irc.expect(":alice!text@127.0.0.1 PRIVMSG #lobby :before")
        .await?;

    db.set_reachable(false).await?;
    irc.send("PRIVMSG #lobby :during").await?;
    irc.expect(
        ":teahouse.local FAIL PRIVMSG TEMPORARILY_UNAVAILABLE #lobby :Message not delivered: the server could not store it; try again",
    )
    .await?;
    alice.send("during").await?;
    alice
        .expect("! your message was not delivered: the server could not store it; try again")
        .await?;
    alice.send("/register secret").await?;
    alice
        .expect("! Accounts are unavailable right now; try again later")
        .await?;

    db.set_reachable(true).await?;
    alice.send("after").await?;
    // Nothing unstored was delivered: bob's next line is the one after the outage.
    bob.expect("alice: after").await?;
    irc.expect(":alice!text@127.0.0.1 PRIVMSG #lobby :after")
        .await?;
    irc.send("PRIVMSG #lobby :back").await?;
    irc.expect(":carol!~carol@127.0.0.1 PRIVMSG #lobby :back")
        .await?;
    bob.expect("carol: back").await?;
    server.stop().await?;
    db.drop_it().await
}

/// Runs `teahouse admin --data-dir DIR ARGS…` with `password` in the environment.
async fn admin(dir: &DataDir, args: &[&str], password: &str) -> anyhow::Result<(bool, String)> {
    let output = Command::new(BIN)
        .args(["admin", "--data-dir", dir.arg()])
        .args(args)
        .env("TEAHOUSE_ADMIN_PASSWORD", password)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .await?;
    let text = format!(
        "{}{}",
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?
    );
    Ok((output.status.success(), text))
}

#[tokio::test]
async fn admin_manages_accounts_offline_and_backs_up_a_running_server() -> anyhow::Result<()> {
    let dir = DataDir::new("admin")?;
    let (ok, out) = admin(&dir, &["create-account", "alice"], "first password").await?;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "account alice created");
    let (ok, out) = admin(&dir, &["create-account", "ALICE"], "password x").await?;
    assert!(
        !ok && out.contains("an account named ALICE already exists"),
        "{out}"
    );
    let (ok, out) = admin(&dir, &["create-account", "bad:name"], "password x").await?;
    assert!(!ok && out.contains("not a valid account name"), "{out}");
    let (ok, out) = admin(&dir, &["create-account", "bob"], "").await?;
    assert!(
        !ok && out.contains("a password must be 8 to 256 bytes long")
            // said once, not again along the error's causes (issue 14)
            && out.matches("a password must be").count() == 1,
        "{out}"
    );
    let (ok, out) = admin(&dir, &["reset-password", "alice"], "second password").await?;
    assert!(ok, "{out}");
    let (ok, out) = admin(&dir, &["reset-password", "nobody"], "password x").await?;
    assert!(!ok && out.contains("no account named nobody"), "{out}");
    let (ok, out) = admin(&dir, &["list-accounts"], "").await?;
    assert!(ok && out.starts_with("alice\t"), "{out}");
    // The store's flags may come after the subcommand too (issue 14).
    let after = Command::new(BIN)
        .args(["admin", "list-accounts", "--data-dir", dir.arg()])
        .env_remove("RUST_LOG")
        .output()
        .await?;
    let listed = String::from_utf8(after.stdout)?;
    assert!(
        after.status.success() && listed.starts_with("alice\t"),
        "{listed}"
    );
    // An operator's password hash for the config: Argon2id, never the password.
    let (ok, out) = admin(&dir, &["hash-password"], "open sesame").await?;
    assert!(ok && out.trim().starts_with("$argon2id$v=19$"), "{out}");
    assert!(!out.contains("open sesame"), "{out}");

    let (_server, addr) = serve(&dir).await?;
    let mut alice = TextClient::connect(addr).await?;
    alice.expect("Enter a nickname:").await?;
    alice.send("alice").await?;
    alice.expect_prefix("Nickname alice is registered.").await?;
    alice.send("second password").await?;
    alice.expect("* You are logged in to account alice").await?;
    alice.expect("Nickname set: alice").await?;
    alice.send("kept in the backup").await?;
    alice.send("/who").await?;
    alice.expect_eventually("* In lobby (1): alice").await?;

    // Writing needs the server gone; a backup does not.
    let (ok, out) = admin(&dir, &["delete-account", "alice"], "").await?;
    assert!(!ok && out.contains("in use by another process"), "{out}");
    let copy = DataDir::new("admin-copy")?;
    let file = copy.0.join("teahouse.db");
    let file_arg = file.to_str().context("path")?;
    let (ok, out) = admin(&dir, &["backup", file_arg], "").await?;
    assert!(ok, "{out}");
    let (ok, out) = admin(&dir, &["backup", file_arg], "").await?;
    assert!(!ok && out.contains("exists already"), "{out}");

    // The copy is a whole store: a server on it has the account and the message.
    let (_restored, addr) = serve(&copy).await?;
    let mut bob = login(addr, "bob").await?;
    bob.expect_history("lobby", &["alice: kept in the backup"])
        .await?;
    let mut intruder = TextClient::connect(addr).await?;
    intruder.expect("Enter a nickname:").await?;
    intruder.send("alice").await?;
    intruder
        .expect_prefix("Nickname alice is registered.")
        .await?;
    Ok(())
}

/// Makes a file immutable (even for root, who ignores permission bits) until dropped.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(path: std::path::PathBuf) -> anyhow::Result<Self> {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()?;
        anyhow::ensure!(status.success(), "chattr +i failed (needs root and ext4)");
        Ok(Self(path))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_read_only_database_stops_the_server_with_a_clear_message() -> anyhow::Result<()> {
    let dir = DataDir::new("readonly")?;
    let (ok, out) = admin(&dir, &["create-account", "alice"], "password").await?;
    assert!(ok, "{out}");
    let _frozen = Immutable::new(dir.0.join("teahouse.db"))?;
    refuses_to_start(&dir, "readonly database").await?;
    Ok(())
}

#[tokio::test]
async fn retention_keeps_the_newest_messages_per_room() -> anyhow::Result<()> {
    let dir = DataDir::new("retention")?;
    let (server, addr) = serve(&dir).await?;
    let mut alice = login(addr, "alice").await?;
    for i in 0..5 {
        alice.send(&format!("m{i}")).await?;
    }
    alice.send("/who").await?;
    alice.expect("* In lobby (1): alice").await?;
    let mut bob = login(addr, "bob").await?;
    bob.expect_history(
        "lobby",
        &[
            "alice: m0",
            "alice: m1",
            "alice: m2",
            "alice: m3",
            "alice: m4",
        ],
    )
    .await?;
    drop(server);

    // Restarted with a limit of two per room: retention runs before anything is replayed.
    let config = dir.0.join("retention.toml");
    std::fs::write(&config, "[history]\nmax_per_target = 2\n")?;
    let config = config.to_str().context("path")?;
    let (_server, addr) = serve_with(&dir, &["--config", config]).await?;
    let mut carol = login(addr, "carol").await?;
    carol
        .expect_history("lobby", &["alice: m3", "alice: m4"])
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_graceful_shutdown_stores_everything_accepted() -> anyhow::Result<()> {
    let dir = DataDir::new("graceful")?;
    let config = dir.0.join("replay.toml");
    // Flood control off: the hundred lines are to be on their way when the server stops.
    std::fs::write(
        &config,
        "[history]\nreplay_lines = 200\n[text.flood]\nenabled = false\n",
    )?;
    let config = config.to_str().context("path")?;
    let (mut server, addr) = serve_with(&dir, &["--config", config]).await?;
    let mut alice = login(addr, "alice").await?;
    for i in 0..100 {
        alice.send(&format!("m{i}")).await?;
    }
    // Once /who is answered every line before it was accepted; stop the server at once,
    // while many are still on their way to the store.
    alice.send("/who").await?;
    alice.expect_eventually("* In lobby (1): alice").await?;
    let pid = server.id().context("server pid")?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(status.success());
    assert!(server.wait().await?.success());

    let (_server, addr) = serve_with(&dir, &["--config", config]).await?;
    let mut bob = login(addr, "bob").await?;
    let expected: Vec<String> = (0..100).map(|i| format!("alice: m{i}")).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    bob.expect_history("lobby", &expected).await?;
    Ok(())
}

/// A data directory the server creates is its owner's alone (0700), and so are the
/// database and its journal (0600): password hashes and conversations are in them.
#[tokio::test]
async fn issue_14_the_data_directory_and_database_are_owner_only() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let parent = DataDir::new("modes")?;
    let dir = parent.0.join("new").join("data");
    let dir_arg = dir.to_str().context("path")?;
    let (mut server, addr) = crate::binary::serve(&["--data-dir", dir_arg]).await?;
    let mut alice = login(addr, "alice").await?;
    alice.send("a line to store").await?;
    alice.send("/who").await?;
    alice.expect("* In lobby (1): alice").await?;
    let mode = |path: &std::path::Path| -> anyhow::Result<u32> {
        Ok(std::fs::metadata(path)
            .with_context(|| format!("{}", path.display()))?
            .permissions()
            .mode()
            & 0o777)
    };
    anyhow::ensure!(mode(&dir)? == 0o700, "data dir {:o}", mode(&dir)?);
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let m = mode(&path)?;
        anyhow::ensure!(m & 0o077 == 0, "{} is {m:o}", path.display());
    }
    anyhow::ensure!(mode(&dir.join("teahouse.db"))? == 0o600);
    server.kill().await?;
    Ok(())
}
