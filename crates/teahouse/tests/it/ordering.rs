//! Issue 11: a command's effects come before the reply to any later command, with history
//! on (every message committed before anyone receives it).
//!
//! Each scenario runs with its lines in one write (as pipelining clients and bots send them)
//! and in separate writes, on SQLite in a data directory of its own (every commit fsynced,
//! as `serve` runs by default) and on PostgreSQL.

use std::future::Future;

use anyhow::Context as _;
use teahouse_testkit::{TestServer, TextClient};

use crate::irc_kit::{S, expect_untagged, join, reg, untag};
use crate::pg::PgDatabase;

/// How a client's lines reach the server.
#[derive(Debug, Clone, Copy)]
enum Writes {
    /// All in one write.
    One,
    /// One write per line, sent without waiting for any answer.
    Each,
}

impl Writes {
    /// A name for databases and directories.
    fn label(self) -> &'static str {
        match self {
            Self::One => "one",
            Self::Each => "each",
        }
    }
}

/// Sends `lines` as `writes` says.
async fn send_lines(c: &mut TextClient, lines: &[&str], writes: Writes) -> anyhow::Result<()> {
    match writes {
        Writes::One => {
            let joined: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
            c.send_raw(joined.as_bytes()).await
        }
        Writes::Each => {
            for line in lines {
                c.send(line).await?;
            }
            Ok(())
        }
    }
}

/// A data directory of its own, removed at the end.
struct DataDir(std::path::PathBuf);

impl DataDir {
    fn new(label: &str) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("teahouse-order-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `test` once per way of writing, on a server with SQLite in a data directory of its
/// own, then on one with a fresh PostgreSQL database.
async fn everywhere<F, Fut>(label: &str, test: F) -> anyhow::Result<()>
where
    F: Fn(TestServer, Writes) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for writes in [Writes::One, Writes::Each] {
        let dir = DataDir::new(&format!("{label}-{}", writes.label()))?;
        let path = dir.0.clone();
        let server = TestServer::start_with(move |c| c.store.data_dir = path).await?;
        test(server, writes)
            .await
            .with_context(|| format!("on SQLite, {writes:?} write(s)"))?;
    }
    for writes in [Writes::One, Writes::Each] {
        let db = PgDatabase::create(&format!("{label}_{}", writes.label())).await?;
        let url = db.url.clone();
        let server = TestServer::start_with(move |c| c.store.database_url = Some(url)).await?;
        let result = test(server, writes)
            .await
            .with_context(|| format!("on PostgreSQL, {writes:?} write(s)"));
        db.drop_it().await?;
        result?;
    }
    Ok(())
}

/// alice and bob (no capabilities) in `#c`; alice's capabilities are `caps`. Both have
/// read everything up to now.
async fn two_in_a_room(
    server: &TestServer,
    caps: &str,
) -> anyhow::Result<(TextClient, TextClient)> {
    let mut alice = reg(server, "alice", caps).await?;
    let mut bob = reg(server, "bob", "").await?;
    join(&mut alice, "alice", "#c").await?;
    join(&mut bob, "bob", "#c").await?;
    expect_untagged(&mut alice, ":bob!~bob@127.0.0.1 JOIN #c").await?;
    Ok((alice, bob))
}

/// Bob, once alice has her PONG, sends `PING y`: everything alice's earlier lines did must
/// reach him first.
async fn bob_sees_then_pong(bob: &mut TextClient, before: &[&str]) -> anyhow::Result<()> {
    bob.send("PING y").await?;
    for line in before {
        bob.expect(line).await?;
    }
    bob.expect(&format!("{S} PONG teahouse.local :y")).await
}

#[tokio::test]
async fn issue_11_a_room_message_reaches_others_before_the_senders_next_reply() -> anyhow::Result<()>
{
    everywhere("room", |server, writes| async move {
        let (mut alice, mut bob) = two_in_a_room(&server, "").await?;
        send_lines(&mut alice, &["PRIVMSG #c :hi", "PING x"], writes).await?;
        alice.expect(&format!("{S} PONG teahouse.local :x")).await?;
        bob_sees_then_pong(&mut bob, &[":alice!~alice@127.0.0.1 PRIVMSG #c :hi"]).await
    })
    .await
}

#[tokio::test]
async fn issue_11_a_direct_message_reaches_its_recipient_before_the_senders_next_reply()
-> anyhow::Result<()> {
    everywhere("direct", |server, writes| async move {
        let mut alice = reg(&server, "alice", "").await?;
        let mut bob = reg(&server, "bob", "").await?;
        send_lines(&mut alice, &["PRIVMSG bob :hi", "PING x"], writes).await?;
        alice.expect(&format!("{S} PONG teahouse.local :x")).await?;
        bob_sees_then_pong(&mut bob, &[":alice!~alice@127.0.0.1 PRIVMSG bob :hi"]).await
    })
    .await
}

#[tokio::test]
async fn issue_11_the_echo_comes_before_the_reply_to_the_next_line() -> anyhow::Result<()> {
    everywhere("echo", |server, writes| async move {
        let (mut alice, mut bob) = two_in_a_room(&server, "echo-message").await?;
        send_lines(
            &mut alice,
            &["PRIVMSG #c :hi", "PRIVMSG bob :psst", "PING x"],
            writes,
        )
        .await?;
        alice
            .expect(":alice!~alice@127.0.0.1 PRIVMSG #c :hi")
            .await?;
        alice
            .expect(":alice!~alice@127.0.0.1 PRIVMSG bob :psst")
            .await?;
        alice.expect(&format!("{S} PONG teahouse.local :x")).await?;
        bob_sees_then_pong(
            &mut bob,
            &[
                ":alice!~alice@127.0.0.1 PRIVMSG #c :hi",
                ":alice!~alice@127.0.0.1 PRIVMSG bob :psst",
            ],
        )
        .await
    })
    .await
}

#[tokio::test]
async fn issue_11_a_part_right_after_a_message_comes_after_it_everywhere() -> anyhow::Result<()> {
    everywhere("part", |server, writes| async move {
        let (mut alice, mut bob) = two_in_a_room(&server, "echo-message").await?;
        send_lines(
            &mut alice,
            &[
                "PRIVMSG #c :hi",
                "PART #c :bye",
                "PRIVMSG #c :again",
                "PING x",
            ],
            writes,
        )
        .await?;
        alice
            .expect(":alice!~alice@127.0.0.1 PRIVMSG #c :hi")
            .await?;
        alice.expect(":alice!~alice@127.0.0.1 PART #c :bye").await?;
        // +n: no longer a member, so the room refuses her next message, after the part.
        alice.expect_prefix(&format!("{S} 404 alice #c ")).await?;
        alice.expect(&format!("{S} PONG teahouse.local :x")).await?;
        bob_sees_then_pong(
            &mut bob,
            &[
                ":alice!~alice@127.0.0.1 PRIVMSG #c :hi",
                ":alice!~alice@127.0.0.1 PART #c :bye",
            ],
        )
        .await?;
        bob.send("NAMES #c").await?;
        bob.expect(&format!("{S} 353 bob = #c :bob")).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn issue_11_history_asked_for_after_the_senders_reply_holds_the_message() -> anyhow::Result<()>
{
    everywhere("history", |server, writes| async move {
        let (mut alice, mut bob) = two_in_a_room(&server, "").await?;
        let mut carol = reg(
            &server,
            "carol",
            "batch server-time message-tags draft/chathistory",
        )
        .await?;
        join(&mut carol, "carol", "#c").await?;
        expect_untagged(&mut alice, ":carol!~carol@127.0.0.1 JOIN #c").await?;
        expect_untagged(&mut bob, ":carol!~carol@127.0.0.1 JOIN #c").await?;
        send_lines(&mut alice, &["PRIVMSG #c :hi", "PING x"], writes).await?;
        alice.expect(&format!("{S} PONG teahouse.local :x")).await?;
        carol.send("CHATHISTORY LATEST #c * 10").await?;
        expect_untagged(&mut carol, ":alice!~alice@127.0.0.1 PRIVMSG #c :hi").await?;
        let open = carol.line().await?;
        anyhow::ensure!(
            untag(&open).contains(" BATCH +") && open.ends_with(" chathistory #c"),
            "expected a chathistory batch, got {open:?}"
        );
        expect_untagged(&mut carol, ":alice!~alice@127.0.0.1 PRIVMSG #c :hi").await?;
        let close = carol.line().await?;
        anyhow::ensure!(
            close.contains(" BATCH -"),
            "expected the batch's end, got {close:?}"
        );
        Ok(())
    })
    .await
}

/// Two servers on one PostgreSQL database, each with its own node id, store bursts of
/// messages sent at the same moment: no message id is made twice (which would fail a whole
/// group commit), and every message is there once.
#[tokio::test]
async fn issue_11_two_servers_on_one_database_never_make_the_same_message_id() -> anyhow::Result<()>
{
    use sqlx::Connection as _;
    const BURST: usize = 300;
    let db = PgDatabase::create("two_nodes").await?;
    let mut servers = Vec::new();
    for node in [1u8, 2] {
        let url = db.url.clone();
        let node = teahouse_testkit::teahouse_server::NodeId::new(node).context("node id")?;
        servers.push(
            TestServer::start_with(move |c| {
                c.store.database_url = Some(url);
                c.server.node_id = node;
                c.irc.flood.enabled = false;
            })
            .await?,
        );
    }
    let mut senders = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let nick = format!("n{i}");
        let mut c = reg(server, &nick, "").await?;
        join(&mut c, &nick, "#c").await?;
        senders.push((nick, c));
    }
    // Both bursts go out before either server has stored anything.
    for (nick, c) in &mut senders {
        let burst: String = (0..BURST)
            .map(|n| format!("PRIVMSG #c :{nick} {n}\r\n"))
            .chain(["PING done\r\n".to_owned()])
            .collect();
        c.send_raw(burst.as_bytes()).await?;
    }
    for (nick, c) in &mut senders {
        // The PONG comes once every message before it is stored; a failed store would
        // have said so first.
        let before = c
            .expect_eventually(&format!("{S} PONG teahouse.local :done"))
            .await?;
        let failed = before.iter().filter(|l| l.contains("FAIL")).count();
        anyhow::ensure!(failed == 0, "{nick}: {failed} messages not stored");
    }
    let mut conn = sqlx::AnyConnection::connect(&db.url).await?;
    let row: (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT id) FROM messages")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    for server in servers {
        server.stop().await?;
    }
    db.drop_it().await?;
    anyhow::ensure!(
        row == (2 * BURST as i64, 2 * BURST as i64),
        "stored (rows, distinct ids) = {row:?}"
    );
    Ok(())
}

/// A message stored before ids had node bits (milliseconds << 16 | a sequence) is still
/// found, and still a valid reference: messages sent now sort after it.
#[tokio::test]
async fn issue_11_message_ids_stored_before_nodes_stay_valid() -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let db = PgDatabase::create("old_ids").await?;
    let url = db.url.clone();
    // A first start creates the schema.
    TestServer::start_with({
        let url = url.clone();
        move |c| c.store.database_url = Some(url)
    })
    .await?
    .stop()
    .await?;
    let ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )? - 60_000;
    let old_id = i64::try_from((ms << 16) | 7)?;
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    sqlx::query(
        "INSERT INTO messages (id, time_ms, target_key, target, kind, sender_nick, \
         sender_user, sender_host, sender_account, body) \
         VALUES ($1, $2, '#c', 'c', 0, 'zed', '~zed', '127.0.0.1', NULL, 'from before')",
    )
    .bind(old_id)
    .bind(i64::try_from(ms)?)
    .execute(&mut conn)
    .await?;
    conn.close().await?;

    let server = TestServer::start_with(move |c| c.store.database_url = Some(url)).await?;
    let caps = "batch server-time message-tags draft/chathistory";
    let mut alice = reg(&server, "alice", caps).await?;
    join(&mut alice, "alice", "#c").await?;
    alice.send("PRIVMSG #c :from now").await?;
    alice
        .send(&format!("CHATHISTORY AFTER #c msgid={old_id} 10"))
        .await?;
    let open = alice.line().await?;
    anyhow::ensure!(open.ends_with(" chathistory #c"), "{open}");
    expect_untagged(&mut alice, ":alice!~alice@127.0.0.1 PRIVMSG #c :from now").await?;
    let close = alice.line().await?;
    anyhow::ensure!(close.contains(" BATCH -"), "{close}");
    alice.send("CHATHISTORY LATEST #c * 10").await?;
    alice.line().await?;
    let first = alice.line().await?;
    anyhow::ensure!(
        first.contains(&format!("msgid={old_id}"))
            && first.ends_with(":zed!~zed@127.0.0.1 PRIVMSG #c :from before"),
        "{first}"
    );
    expect_untagged(&mut alice, ":alice!~alice@127.0.0.1 PRIVMSG #c :from now").await?;
    server.stop().await?;
    db.drop_it().await?;
    Ok(())
}
