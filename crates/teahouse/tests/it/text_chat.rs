//! Chatting: relay, commands, leaving, and many clients at once.

use std::collections::HashSet;

use teahouse_testkit::TestServer;
use tokio::net::TcpSocket;

#[tokio::test]
async fn lines_are_relayed_to_the_others_only() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;
    alice.send("hello everyone").await?;
    bob.expect("alice: hello everyone").await?;
    // The sender gets no copy: its next line is the answer to its next command.
    alice.send("/who").await?;
    alice.expect("* In lobby (2): alice, bob").await?;
    bob.send("//slash at the start").await?;
    alice.expect("bob: /slash at the start").await?;
    bob.send("   ").await?;
    bob.send("/me waves").await?;
    alice.expect("* bob waves").await?;
    Ok(())
}

#[tokio::test]
async fn terminal_control_characters_never_reach_others() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;
    alice
        .send_raw(b"\x1b[2J\x1b]0;pwned\x07red\tok\x7f\n")
        .await?;
    bob.expect("alice: [2J]0;pwnedred\tok").await?;
    // C1 as a UTF-8 character (U+009B, CSI) is stripped too; NUL and bare CR are refused.
    alice.send("a\u{9b}31mb").await?;
    bob.expect("alice: a31mb").await?;
    alice.send_raw(b"nul\0here\n").await?;
    alice
        .expect("! Not sent: message contains the control character '\\0', which is not allowed")
        .await?;
    alice.send_raw(b"bare\rcr\n").await?;
    alice
        .expect("! Not sent: message contains the control character '\\r', which is not allowed")
        .await?;
    Ok(())
}

#[tokio::test]
async fn commands_help_who_rooms_nick_msg_join() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;

    alice.send("/help").await?;
    let first = alice.line().await?;
    assert!(first.contains("Commands"), "{first}");
    let help = alice
        .expect_eventually("*   //text             say a line that starts with /")
        .await?;
    for cmd in ["/who", "/rooms", "/join", "/nick", "/me", "/msg", "/quit"] {
        assert!(
            help.iter().any(|l| l.contains(cmd)),
            "{cmd} missing from {help:?}"
        );
    }

    alice.send("/nick Alicia").await?;
    alice.expect("* alice is now known as Alicia").await?;
    bob.expect("* alice is now known as Alicia").await?;
    alice.send("/nick BOB").await?;
    alice.expect("! Nickname BOB is already taken").await?;
    alice.send("/nick bad:name").await?;
    alice
        .expect("! Nickname not allowed (name contains the character ':', which is not allowed)")
        .await?;
    alice.send("/nick").await?;
    alice.expect("! Usage: /nick NEW").await?;

    alice.send("/msg bob just for you").await?;
    alice.expect("[dm to bob] just for you").await?;
    bob.expect("[dm] Alicia: just for you").await?;
    alice.send("/msg nobody hello").await?;
    alice.expect("! No such nickname: nobody").await?;
    alice.send("/msg bob").await?;
    alice.expect("! Usage: /msg NICK TEXT").await?;

    alice.send("/join games").await?;
    alice.expect("* Alicia left the room").await?;
    bob.expect("* Alicia left the room").await?;
    alice.expect("* Alicia entered the room").await?;
    alice.expect("* In games (1): Alicia").await?;
    alice.send("/join #games").await?;
    alice.expect("! You are already in games").await?;
    alice.send("/join bad,room").await?;
    alice
        .expect("! Room name not allowed (name contains the character ',', which is not allowed)")
        .await?;
    alice.send("/rooms").await?;
    alice.expect("* Rooms: games (1), lobby (1)").await?;
    bob.send("only lobby hears this").await?;
    bob.send("/join games").await?;
    bob.expect("* bob left the room").await?;
    bob.expect("* bob entered the room").await?;
    bob.expect("* In games (2): Alicia, bob").await?;
    alice.expect("* bob entered the room").await?;
    bob.send("now in games").await?;
    alice.expect("bob: now in games").await?;
    alice.send("/rooms").await?;
    alice.expect("* Rooms: games (2)").await?;

    alice.send("/frobnicate now").await?;
    alice
        .expect("! Unknown command /frobnicate (try /help)")
        .await?;
    Ok(())
}

#[tokio::test]
async fn quit_acknowledges_and_tells_the_others() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let mut carol = server.login("carol").await?;
    bob.send("quit").await?;
    bob.expect_eventually("Bye!").await?;
    assert!(bob.expect_closed().await?.is_empty());
    alice.expect_eventually("* bob left the room").await?;
    carol.send("/quit see you later").await?;
    carol.expect_eventually("Bye!").await?;
    assert!(carol.expect_closed().await?.is_empty());
    alice
        .expect_eventually("* carol left the room (see you later)")
        .await?;
    // Both nicknames are free again.
    let _bob = server.login("bob").await?;
    let _carol = server.login("carol").await?;
    Ok(())
}

#[tokio::test]
async fn a_dropped_connection_is_announced_and_cleaned_up() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;
    drop(bob);
    alice
        .expect("* bob left the room (connection lost)")
        .await?;

    // A reset (RST, no FIN) too.
    let socket = TcpSocket::new_v4()?;
    let stream = socket.connect(server.text_addr).await?;
    let mut carol = teahouse_testkit::TextClient::from_stream(stream);
    carol.expect("Enter a nickname:").await?;
    carol.send("carol").await?;
    carol
        .expect_eventually("* In lobby (2): alice, carol")
        .await?;
    alice.expect("* carol entered the room").await?;
    carol.set_linger_zero()?;
    drop(carol);
    alice
        .expect("* carol left the room (connection lost)")
        .await?;

    // End of stream right after a last line without a newline: the line was cut off, never
    // finished, and is dropped (issue 14).
    let mut dave = server.login("dave").await?;
    alice.expect("* dave entered the room").await?;
    dave.send_raw(b"last words").await?;
    dave.shutdown_write().await?;
    alice
        .expect("* dave left the room (connection lost)")
        .await?;
    alice.send("/who").await?;
    alice.expect("* In lobby (1): alice").await?;
    let _bob = server.login("bob").await?;
    Ok(())
}

#[tokio::test]
async fn two_hundred_clients_exchange_messages_none_lost_none_duplicated() -> anyhow::Result<()> {
    const CLIENTS: usize = 200;
    const EACH: usize = 5;
    let server = TestServer::start().await?;
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        clients.push(server.login(&format!("user{i}")).await?);
    }
    // Every client knows everyone is in once it has seen the last one enter.
    let last = format!("* user{} entered the room", CLIENTS - 1);
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let last = last.clone();
        tasks.push(tokio::spawn(async move {
            if i != CLIENTS - 1 {
                client.expect_eventually(&last).await?;
            }
            for k in 0..EACH {
                client.send(&format!("m{i}-{k}")).await?;
            }
            let mut seen = HashSet::new();
            let mut order: Vec<Vec<usize>> = vec![Vec::new(); CLIENTS];
            while seen.len() < (CLIENTS - 1) * EACH {
                let line = client.line().await?;
                let Some((from, text)) = line.split_once(": ") else {
                    continue;
                };
                let sender: usize = from.trim_start_matches("user").parse()?;
                anyhow::ensure!(sender != i, "client {i} got its own line back: {line}");
                anyhow::ensure!(seen.insert(line.clone()), "client {i} got {line} twice");
                let (s, k) = text
                    .trim_start_matches('m')
                    .split_once('-')
                    .expect("payload");
                anyhow::ensure!(s.parse::<usize>()? == sender, "garbled: {line}");
                order[sender].push(k.parse()?);
            }
            for (sender, ks) in order.iter().enumerate() {
                if sender != i {
                    anyhow::ensure!(
                        *ks == (0..EACH).collect::<Vec<_>>(),
                        "order from {sender}: {ks:?}"
                    );
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
