//! Bad input and limits: long lines, invalid UTF-8, slow readers, connection caps, shutdown.

use std::time::Duration;

use teahouse_testkit::teahouse_server::Lang;
use teahouse_testkit::{TestServer, TextClient};
use tokio::net::TcpSocket;

#[tokio::test]
async fn an_over_long_line_is_refused_and_the_connection_stays() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;
    // Exactly at the limit passes (message limit is the same 4096 bytes).
    let at_limit = "x".repeat(4096);
    alice.send(&at_limit).await?;
    bob.expect(&format!("alice: {at_limit}")).await?;
    // One megabyte without a newline, then the rest of the line, then a normal line.
    alice.send_raw(&vec![b'y'; 1 << 20]).await?;
    alice.send_raw(b"tail\nstill here\n").await?;
    alice
        .expect("! Line too long (over 4096 bytes), not sent")
        .await?;
    bob.expect("alice: still here").await?;
    alice.send("/who").await?;
    alice.expect("* In lobby (2): alice, bob").await?;
    Ok(())
}

#[tokio::test]
async fn over_long_line_in_chinese() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.text.lang = Lang::Zh;
        c.text.max_line_bytes = std::num::NonZeroUsize::new(10).expect("not zero");
    })
    .await?;
    let mut c = server.connect().await?;
    c.expect("请输入昵称:").await?;
    c.send("a_name_that_is_too_long").await?;
    c.expect("! 消息过长(超过10字节),未发送").await?;
    c.send_raw(b"\xff\xfe\n").await?;
    c.expect("! 消息不是有效的UTF-8编码,未发送").await?;
    c.send("小明").await?;
    c.expect("昵称设置成功").await?;
    Ok(())
}

#[tokio::test]
async fn invalid_utf8_is_refused_and_the_connection_stays() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;
    alice.send_raw(b"caf\xc3 \xff\n").await?;
    alice.expect("! Line is not valid UTF-8, not sent").await?;
    alice.send("café").await?;
    bob.expect("alice: café").await?;
    Ok(())
}

/// A third user, `slow`, in the lobby beside alice and bob (as bob sees), whose socket takes
/// little in the kernel, so that its outbox fills quickly once it stops reading.
async fn slow_reader(server: &TestServer, bob: &mut TextClient) -> anyhow::Result<TextClient> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut slow = TextClient::from_stream(socket.connect(server.text_addr).await?);
    slow.expect("Enter a nickname:").await?;
    slow.send("slow").await?;
    slow.expect_eventually("* In lobby (3): alice, bob, slow")
        .await?;
    bob.expect("* slow entered the room").await?;
    Ok(slow)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_nobody_loses_a_message() -> anyhow::Result<()> {
    // Enough to fill the kernel's socket buffers (Linux lets a send buffer grow to 4 MiB) and
    // then the 64 KiB send queue.
    const MESSAGES: usize = 10_000;
    let server = TestServer::start_with(|c| {
        c.connection.sendq_bytes = std::num::NonZeroUsize::new(64 * 1024).expect("not zero");
        // The talker must outrun the reader, not be slowed itself.
        c.text.flood.enabled = false;
    })
    .await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let mut slow = slow_reader(&server, &mut bob).await?;
    // From here on `slow` never reads.
    let payload = "z".repeat(1000);
    let sender = tokio::spawn(async move {
        for i in 0..MESSAGES {
            alice.send(&format!("{i} {payload}")).await?;
        }
        anyhow::Ok(alice)
    });
    let mut seen = 0;
    let mut saw_cut = false;
    while seen < MESSAGES {
        let line = bob.line().await?;
        if line == "* slow left the room (send queue exceeded)" {
            saw_cut = true;
            continue;
        }
        let expected = format!("alice: {seen} ");
        anyhow::ensure!(
            line.starts_with(&expected),
            "expected {expected:?}…, got {line:?}"
        );
        seen += 1;
    }
    let mut alice = sender.await??;
    if !saw_cut {
        bob.expect("* slow left the room (send queue exceeded)")
            .await?;
    }
    alice.send("/who").await?;
    alice
        .expect_eventually("* In lobby (2): alice, bob")
        .await?;
    // The slow client's connection was closed by the server: reading now ends.
    // The slow client's connection was closed: once it reads again it gets what the kernel
    // had buffered, then the end of the stream.
    let rest = slow.expect_closed().await?;
    anyhow::ensure!(
        rest.len() < MESSAGES,
        "the slow client cannot have got everything"
    );
    Ok(())
}

#[tokio::test]
async fn connection_caps_refuse_with_a_clear_message() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.limits.max_connections = std::num::NonZeroUsize::new(2).expect("not zero");
    })
    .await?;
    let mut a = server.connect().await?;
    a.expect("Enter a nickname:").await?;
    let mut b = server.connect().await?;
    b.expect("Enter a nickname:").await?;
    let mut c = server.connect().await?;
    c.expect("! The server is full, try again later").await?;
    assert!(c.expect_closed().await?.is_empty());
    drop(a);
    // The freed place is reused once the server has seen the close.
    let mut d = loop {
        let mut d = server.connect().await?;
        let line = d.line().await?;
        if line == "Enter a nickname:" {
            break d;
        }
        assert_eq!(line, "! The server is full, try again later");
        tokio::task::yield_now().await;
    };
    d.send("dave").await?;
    d.expect("Nickname set: dave").await?;
    b.send("quit").await?;
    b.expect("Bye!").await?;
    Ok(())
}

#[tokio::test]
async fn per_address_cap_applies_when_loopback_is_not_exempt() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.limits.max_connections_per_ip = std::num::NonZeroUsize::new(1).expect("not zero");
        c.limits.loopback_exempt = false;
    })
    .await?;
    let mut a = server.connect().await?;
    a.expect("Enter a nickname:").await?;
    let mut b = server.connect().await?;
    b.expect("! Too many connections from your address (at most 1)")
        .await?;
    assert!(b.expect_closed().await?.is_empty());

    // Exempt by default: many loopback connections are fine.
    let open = TestServer::start_with(|c| {
        c.limits.max_connections_per_ip = std::num::NonZeroUsize::new(1).expect("not zero");
    })
    .await?;
    let _x = open.login("x").await?;
    let _y = open.login("y").await?;
    Ok(())
}

#[tokio::test]
async fn issue_14_an_address_opening_connections_too_fast_is_throttled() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.limits.loopback_exempt = false;
        c.limits.connections_per_period = 3;
    })
    .await?;
    for _ in 0..3 {
        let mut c = server.connect().await?;
        c.expect("Enter a nickname:").await?;
    }
    // All three closed again; the fourth comes too soon after them (one per 200 s).
    let mut d = server.connect().await?;
    let line = d.line().await?;
    assert!(
        line.starts_with("! Too many new connections from your address; try again in "),
        "{line}"
    );
    assert!(d.expect_closed().await?.is_empty());
    // The IRC face is behind the same throttle, with its own words.
    let mut e = server.irc().await?;
    let line = e.line().await?;
    assert!(
        line.starts_with("ERROR :Closing link: too many new connections from your address"),
        "{line}"
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_tells_every_client_and_returns_promptly() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let mut pending = server.connect().await?;
    pending.expect("Enter a nickname:").await?;
    alice.expect("* bob entered the room").await?;
    let took = server.stop().await?;
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    for client in [&mut alice, &mut bob, &mut pending] {
        let rest = client.expect_closed().await?;
        assert_eq!(
            rest,
            vec!["* The server is shutting down, goodbye".to_owned()]
        );
    }
    Ok(())
}

/// A line of exactly the limit is taken whether it ends in `\n` or `\r\n` (the `\r` is
/// the line ending's, not the line's); one byte more is refused.
#[tokio::test]
async fn issue_14_a_line_of_exactly_the_limit_ending_in_crlf_is_taken() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    alice.expect("* bob entered the room").await?;
    let text = "x".repeat(4096);
    alice.send_raw(format!("{text}\r\n").as_bytes()).await?;
    bob.expect(&format!("alice: {text}")).await?;
    alice.send_raw(format!("{text}y\r\n").as_bytes()).await?;
    alice
        .expect("! Line too long (over 4096 bytes), not sent")
        .await?;
    Ok(())
}

/// A line the connection closed in the middle of was never finished: it is dropped, on
/// both faces, and the others see only the leaving.
#[tokio::test]
async fn issue_14_a_partial_last_line_is_dropped_on_both_faces() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut bob = server.login("bob").await?;
    let mut alice = server.login("alice").await?;
    bob.expect("* alice entered the room").await?;
    alice.send_raw(b"complete\nhalf a thou").await?;
    alice.shutdown_write().await?;
    bob.expect("alice: complete").await?;
    bob.expect("* alice left the room (connection lost)")
        .await?;

    let mut ivan = server.irc_login("ivan").await?;
    ivan.send("JOIN #lobby").await?;
    bob.expect("* ivan entered the room").await?;
    ivan.send_raw(b"PRIVMSG #lobby :complete\r\nPRIVMSG #lobby :half a thou")
        .await?;
    ivan.shutdown_write().await?;
    bob.expect("ivan: complete").await?;
    bob.expect_prefix("* ivan left the room").await?;
    Ok(())
}

/// Bidi embeddings, overrides and isolates, and the line and paragraph separators, never
/// reach a plain-text terminal (an IRC user could otherwise reorder what others see).
#[tokio::test]
async fn issue_14_bidi_controls_and_separators_never_reach_a_terminal() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut bob = server.login("bob").await?;
    let mut ivan = server.irc_login("ivan").await?;
    ivan.send("JOIN #lobby").await?;
    bob.expect("* ivan entered the room").await?;
    ivan.send(
        "PRIVMSG #lobby :see \u{202E}txt.exe\u{202C} and \u{2066}x\u{2069}\u{2028}y\u{2029}z",
    )
    .await?;
    bob.expect("ivan: see txt.exe and xyz").await?;
    Ok(())
}

/// IRC formatting reaches a plain-text user removed whole (no colour numbers left
/// behind), and a CTCP request other than ACTION is not shown as a message at all.
#[tokio::test]
async fn issue_14_irc_formatting_and_ctcp_are_not_shown_half_removed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut bob = server.login("bob").await?;
    let mut ivan = server.irc_login("ivan").await?;
    ivan.send("JOIN #lobby").await?;
    bob.expect("* ivan entered the room").await?;
    ivan.send("PRIVMSG #lobby :\u{3}04,12red\u{3} and \u{2}bold\u{2} \u{4}00ff00green")
        .await?;
    bob.expect("ivan: red and bold green").await?;
    ivan.send("PRIVMSG #lobby :\u{1}VERSION\u{1}").await?;
    ivan.send("PRIVMSG bob :\u{1}PING 123\u{1}").await?;
    ivan.send("PRIVMSG #lobby :\u{1}ACTION waves\u{1}").await?;
    bob.expect("* ivan waves").await?;
    Ok(())
}

#[tokio::test]
async fn issue_14_a_text_flood_is_delayed_then_cut_while_others_keep_talking() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let mut carol = server.login("carol").await?;
    alice.expect("* bob entered the room").await?;
    alice.expect("* carol entered the room").await?;
    bob.expect("* carol entered the room").await?;

    // 30 lines at once: the burst of 20 goes at once, the rest at 4 a second.
    let lines: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    alice.send_raw(lines.as_bytes()).await?;
    for i in 1..=20 {
        bob.expect(&format!("alice: line {i}")).await?;
    }
    let after_burst = std::time::Instant::now();
    // Carol is not held up by alice's flood: she is heard before alice's last lines.
    carol.send("carol is not slowed").await?;
    let skipped = bob.expect_eventually("carol: carol is not slowed").await?;
    assert!(skipped.len() < 10, "carol waited behind alice: {skipped:?}");
    let mut seen = skipped.len();
    while seen < 10 {
        bob.expect_prefix("alice: line ").await?;
        seen += 1;
    }
    // Ten delayed lines at 4 a second take over two seconds (the first may come at once).
    let took = after_burst.elapsed();
    assert!(
        took >= Duration::from_millis(2000),
        "ten lines after the burst took {took:?}"
    );

    // A flood far past what waits for it (16 KiB): cut with a clear line, and everyone is
    // told it left.
    let flood = "x".repeat(100);
    let lines: String = (0..1000).map(|_| format!("{flood}\n")).collect();
    alice.send_raw(lines.as_bytes()).await?;
    let rest = alice.expect_closed().await?;
    assert!(
        rest.iter()
            .any(|l| l == "! Excess flood: you sent too much too fast, goodbye"),
        "{rest:?}"
    );
    bob.expect_eventually("* alice left the room (Excess Flood)")
        .await?;
    carol.send("still talking").await?;
    bob.expect_eventually("carol: still talking").await?;
    Ok(())
}

#[tokio::test]
async fn issue_14_a_client_that_takes_nothing_is_cut_at_the_write_timeout() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        // Far more queue than the test sends: only the write timeout can cut the client.
        c.connection.sendq_bytes = std::num::NonZeroUsize::new(64 << 20).expect("not zero");
        c.connection.write_timeout = Duration::from_millis(500);
        c.text.flood.enabled = false;
    })
    .await?;
    let mut alice = server.login("alice").await?;
    let mut bob = server.login("bob").await?;
    let slow = slow_reader(&server, &mut bob).await?;
    // From here on `slow` reads nothing; 12 MB fill its socket (the kernel takes up to
    // 4 MB on the way) and then wait. Bob reads as they come, from a task of his own, so
    // that only `slow` stops taking his lines, however slowly this machine runs the test.
    let payload = "w".repeat(1000);
    let started = std::time::Instant::now();
    let reader = tokio::spawn(async move {
        let (mut seen, mut cut_after) = (0, None);
        while seen < 12_000 || cut_after.is_none() {
            let line = bob.line().await?;
            if line == "* slow left the room (send queue exceeded)" {
                cut_after = Some(started.elapsed());
                continue;
            }
            anyhow::ensure!(line.starts_with(&format!("alice: {seen} ")), "{line}");
            seen += 1;
        }
        anyhow::Ok(cut_after)
    });
    for i in 0..12_000 {
        alice.send(&format!("{i} {payload}")).await?;
    }
    let cut_after = reader.await??.unwrap_or_default();
    // Cut for taking nothing for half a second, not by the kernel minutes later.
    assert!(cut_after < Duration::from_secs(10), "{cut_after:?}");
    drop(slow);
    Ok(())
}

#[tokio::test]
async fn issue_14_rooms_per_user_and_on_the_server_are_capped() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.limits.max_rooms_per_user = std::num::NonZeroUsize::new(2).expect("two");
        c.limits.max_rooms = std::num::NonZeroUsize::new(3).expect("three");
    })
    .await?;
    // IRC says the cap in ISUPPORT, and 405 past it.
    let mut irc = server.irc().await?;
    irc.send("NICK ivy").await?;
    irc.send("USER ivy 0 * :Ivy").await?;
    let isupport = irc
        .expect_eventually_prefix(":teahouse.local 005 ivy ")
        .await?;
    assert!(isupport.contains(" CHANLIMIT=#:2 "), "{isupport}");
    irc.expect_eventually_prefix(":teahouse.local 422 ivy ")
        .await?;
    for room in ["#one", "#two"] {
        irc.send(&format!("JOIN {room}")).await?;
        irc.expect_eventually_prefix(&format!(":teahouse.local 366 ivy {room} "))
            .await?;
    }
    irc.send("JOIN #three").await?;
    irc.expect(":teahouse.local 405 ivy #three :You have joined too many channels")
        .await?;
    // Plain-text users are in lobby (the third room; amy keeps it): a fourth room is past
    // the server's cap, and tom stays where he was.
    let _amy = server.login("amy").await?;
    let mut tom = server.login("tom").await?;
    tom.send("/join four").await?;
    tom.expect_eventually("! The server has as many rooms as it may; four cannot be made now")
        .await?;
    tom.send("/who").await?;
    tom.expect_eventually("* In lobby (2): amy, tom").await?;
    // An existing room is fine, and the per-user cap holds on this face too.
    tom.send("/join one").await?;
    tom.expect_eventually("* tom entered the room").await?;
    irc.send("PART #two").await?;
    irc.expect_eventually_prefix(":ivy!").await?;
    tom.send("/join two").await?;
    tom.expect_eventually("* tom entered the room").await?;
    Ok(())
}

#[tokio::test]
async fn issue_14_direct_messages_to_many_new_people_are_capped_per_minute() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.limits.direct_targets_per_minute = 2).await?;
    let _a = server.login("amy").await?;
    let _b = server.login("ben").await?;
    let _c = server.login("cal").await?;
    let mut irc = server.irc_login("ivy").await?;
    irc.send("PRIVMSG amy :hi").await?;
    irc.send("PRIVMSG ben :hi").await?;
    irc.send("PRIVMSG cal :hi").await?;
    irc.expect(":teahouse.local 439 ivy cal :Targets changing too fast, message dropped")
        .await?;
    // Someone messaged within the minute may be messaged again.
    irc.send("PRIVMSG amy :again").await?;
    irc.send("PING :check").await?;
    irc.expect(":teahouse.local PONG teahouse.local :check")
        .await?;
    let mut dan = server.login("dan").await?;
    dan.send("/msg amy hello").await?;
    dan.send("/msg ben hello").await?;
    dan.send("/msg cal hello").await?;
    dan.expect_eventually(
        "! You messaged 2 different people in the last minute; wait before messaging cal",
    )
    .await?;
    Ok(())
}
