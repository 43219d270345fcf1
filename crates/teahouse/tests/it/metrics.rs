//! `/metrics`: scraped and parsed around a scripted session, each counter moved by exactly
//! what the script did.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::{Context as _, ensure};
use teahouse_testkit::{TestServer, TextClient, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// One scrape of `/metrics`, as `name{labels}` to value.
async fn scrape(web: SocketAddr) -> anyhow::Result<HashMap<String, f64>> {
    let mut stream = TcpStream::connect(web).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .context("timed out scraping")??;
    let (head, body) = response.split_once("\r\n\r\n").context("no end of head")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    ensure!(head.contains("text/plain; version=0.0.4"), "{head}");
    let mut values = HashMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line.rsplit_once(' ').context("no value")?;
        values.insert(
            name.to_owned(),
            value.parse::<f64>().with_context(|| line.to_owned())?,
        );
    }
    Ok(values)
}

/// How much each of `names` moved between two scrapes.
fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, name: &str) -> f64 {
    after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn issue_14_metrics_move_by_what_a_scripted_session_did() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.irc.flood.enabled = false;
        c.connection.sendq_bytes = std::num::NonZeroUsize::new(64 * 1024).expect("not zero");
    })
    .await?;
    let before = scrape(server.web_addr).await?;
    ensure!(
        before.get("teahouse_build_info{version=\"0.1.0\"}") == Some(&1.0),
        "{before:?}"
    );

    // Two text users, one IRC user; an account registered, a wrong password and a right one.
    let mut alice = server.login("alice").await?;
    alice.send("/register password1").await?;
    alice
        .expect_prefix("* Nickname alice is now registered")
        .await?;
    alice.send("quit").await?;
    alice.expect_closed().await?;
    let mut alice = server.connect().await?;
    alice.expect("Enter a nickname:").await?;
    alice.send("alice").await?;
    alice.expect_prefix("Nickname alice is registered.").await?;
    alice.send("not it").await?;
    alice.expect_prefix("! Wrong nickname or password").await?;
    alice.send("password1").await?;
    alice.expect("* You are logged in to account alice").await?;
    alice.expect_eventually("Nickname set: alice").await?;
    let mut bob = server.login("bob").await?;
    let mut irc = server.irc_login("ivy").await?;
    irc.send("JOIN #lobby").await?;
    irc.expect_eventually_prefix(":teahouse.local 366 ivy ")
        .await?;
    // Three messages, each to two others: six deliveries.
    for i in 0..3 {
        alice.send(&format!("message {i}")).await?;
    }
    for i in 0..3 {
        bob.expect_eventually(&format!("alice: message {i}"))
            .await?;
        irc.expect_eventually(&format!(
            ":alice!text@127.0.0.1 PRIVMSG #lobby :message {i}"
        ))
        .await?;
    }
    // A flood before choosing a nickname: cut (its lines were no messages).
    let mut flood = server.connect().await?;
    flood.expect("Enter a nickname:").await?;
    let lines: String = (0..1000)
        .map(|_| format!("{}\n", "x".repeat(100)))
        .collect();
    flood.send_raw(lines.as_bytes()).await?;
    flood.expect_closed().await?;

    let after = scrape(server.web_addr).await?;
    let expect = |name: &str, by: f64| -> anyhow::Result<()> {
        let got = moved(&before, &after, name);
        ensure!(got == by, "{name} moved by {got}, not {by}");
        Ok(())
    };
    expect("teahouse_connections_total{face=\"text\"}", 4.0)?;
    expect("teahouse_connections_total{face=\"irc\"}", 1.0)?;
    // This scrape's own connection.
    expect("teahouse_connections_total{face=\"web\"}", 1.0)?;
    expect("teahouse_connections_open{face=\"text\"}", 2.0)?;
    expect("teahouse_connections_open{face=\"irc\"}", 1.0)?;
    expect("teahouse_registrations_total", 1.0)?;
    expect("teahouse_logins_failed_total", 1.0)?;
    expect("teahouse_logins_ok_total", 1.0)?;
    expect("teahouse_messages_in_total", 3.0)?;
    expect("teahouse_deliveries_total", 6.0)?;
    expect("teahouse_flood_cuts_total", 1.0)?;
    expect("teahouse_sendq_evictions_total", 0.0)?;
    // Every message was stored (in batches) and its fan-out timed.
    expect("teahouse_store_batch_size_sum", 3.0)?;
    expect("teahouse_fanout_seconds_count", 3.0)?;
    ensure!(moved(&before, &after, "teahouse_store_commit_seconds_count") >= 1.0);
    ensure!(after.get("teahouse_accounts") == Some(&1.0), "{after:?}");
    ensure!(after.get("teahouse_rooms") == Some(&1.0), "{after:?}");
    ensure!(after.get("teahouse_users") == Some(&3.0), "{after:?}");

    // A reader that stops: cut, and counted.
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut slow = TextClient::from_stream(socket.connect(server.irc_addr).await?);
    slow.send("NICK slow").await?;
    slow.send("USER slow 0 * :slow").await?;
    // In a room of their own, so that nobody else falls behind.
    irc.send("JOIN #big").await?;
    irc.expect_eventually_prefix(":teahouse.local 366 ivy #big ")
        .await?;
    slow.send("JOIN #big").await?;
    slow.expect_eventually_prefix(":teahouse.local 366 slow #big ")
        .await?;
    irc.expect_eventually_prefix(":slow!").await?;
    let payload = "z".repeat(400);
    for i in 0..10_000 {
        irc.send(&format!("PRIVMSG #big :{i} {payload}")).await?;
    }
    irc.expect_eventually(":slow!~slow@127.0.0.1 QUIT :SendQ exceeded")
        .await?;
    // Once the PING is answered, every message before it was taken.
    irc.send("PING :done").await?;
    irc.expect_eventually(":teahouse.local PONG teahouse.local :done")
        .await?;
    let last = after;
    let after = scrape(server.web_addr).await?;
    let got = moved(&last, &after, "teahouse_sendq_evictions_total");
    ensure!(got == 1.0, "evictions moved by {got}");
    let got = moved(&last, &after, "teahouse_messages_in_total");
    ensure!(got == 10_000.0, "messages moved by {got}");
    drop(slow);

    Ok(())
}
