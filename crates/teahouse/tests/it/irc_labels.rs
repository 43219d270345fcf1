//! Replies to the letter: lines within 512 bytes, `labeled-response` on every reply
//! (own lines included) and `echo-message` copies that match what others got.

use teahouse_testkit::TestServer;

use crate::irc_kit::{S, expect_untagged, join, reg, tag, untag, until_pong};

const LABELS: &str = "labeled-response batch";

/// A relayed message whose source prefix makes it longer than 512 bytes is cut at a
/// character boundary: one line, never two, never over-long; a 4-byte emoji at the edge
/// goes whole; the sender's echo is cut the same way.
#[tokio::test]
async fn a_full_length_message_arrives_shortened_in_one_line() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "echo-message").await?;
    let mut bob = reg(&server, "bob", "").await?;
    join(&mut alice, "alice", "#t").await?;
    join(&mut bob, "bob", "#t").await?;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #t").await?;

    // "PRIVMSG #t :" + 498 bytes + CRLF: 512 bytes, as long as a client may send.
    let text = format!("{}😀{}", "x".repeat(472), "y".repeat(22));
    assert_eq!(format!("PRIVMSG #t :{text}\r\n").len(), 512);
    alice.send(&format!("PRIVMSG #t :{text}")).await?;
    // ":alice!~alice@127.0.0.1 PRIVMSG #t :" is 36 bytes: 474 are left for the text, and
    // the emoji at 472..476 does not fit.
    let expected = format!(":alice!~alice@127.0.0.1 PRIVMSG #t :{}", "x".repeat(472));
    // Once alice has her PONG, the message has reached bob: his lines up to his PONG.
    let echoed = until_pong(&mut alice, "a").await?;
    assert_eq!(echoed, std::slice::from_ref(&expected), "alice's echo");
    let got = until_pong(&mut bob, "b").await?;
    assert_eq!(got, [expected], "bob's lines");
    assert!(got[0].len() + 2 <= 512);

    // A text that fits after the prefix arrives whole.
    alice.send("PRIVMSG #t :short").await?;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG #t :short")
        .await?;
    Ok(())
}

/// A labeled NICK's own NICK line is its labeled reply (not an ACK beside it).
#[tokio::test]
async fn a_labeled_nick_change_is_answered_by_the_labeled_nick_line() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", LABELS).await?;
    alice.send("@label=n1 NICK alicia").await?;
    alice
        .expect("@label=n1 :alice!~alice@127.0.0.1 NICK :alicia")
        .await?;
    // A refused one gets the labeled numeric.
    let _bob = reg(&server, "bob", "").await?;
    alice.send("@label=n2 NICK bob").await?;
    alice
        .expect(&format!(
            "@label=n2 {S} 433 alicia bob :Nickname is already in use"
        ))
        .await?;
    Ok(())
}

/// The lines of one labeled-response batch after its opener: checks the opener's label
/// and returns the lines inside, tags removed, once the batch ends.
async fn labeled_batch(
    c: &mut teahouse_testkit::TextClient,
    label: &str,
) -> anyhow::Result<Vec<String>> {
    let open = c.line().await?;
    anyhow::ensure!(
        tag(&open, "label") == Some(label),
        "not labeled {label}: {open}"
    );
    let id = untag(&open)
        .strip_prefix(&format!("{S} BATCH +"))
        .and_then(|rest| rest.strip_suffix(" labeled-response"))
        .ok_or_else(|| anyhow::anyhow!("not a labeled-response batch: {open}"))?
        .to_owned();
    let mut inside = Vec::new();
    loop {
        let line = c.line().await?;
        if line == format!("{S} BATCH -{id}") {
            return Ok(inside);
        }
        anyhow::ensure!(
            tag(&line, "batch") == Some(id.as_str()),
            "outside the batch: {line}"
        );
        inside.push(untag(&line).to_owned());
    }
}

/// A labeled JOIN's own JOIN line, topic and names all come in its one labeled batch,
/// also when one of its channels fails; nothing of the room comes inside.
#[tokio::test]
async fn a_labeled_join_puts_its_join_topic_and_names_in_one_batch() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut bob = reg(&server, "bob", "").await?;
    join(&mut bob, "bob", "#tea").await?;
    bob.send("TOPIC #tea :green").await?;
    bob.expect(":bob!~bob@127.0.0.1 TOPIC #tea :green").await?;
    let mut alice = reg(&server, "alice", LABELS).await?;
    alice.send("@label=j1 JOIN #tea,nochan,#new").await?;
    let inside = labeled_batch(&mut alice, "j1").await?;
    let who_time = inside
        .iter()
        .find(|l| l.starts_with(&format!("{S} 333 ")))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        inside,
        [
            ":alice!~alice@127.0.0.1 JOIN #tea".to_owned(),
            format!("{S} 332 alice #tea :green"),
            who_time.clone(),
            format!("{S} 353 alice = #tea :alice @bob"),
            format!("{S} 366 alice #tea :End of /NAMES list"),
            format!("{S} 403 alice nochan :No such channel"),
            ":alice!~alice@127.0.0.1 JOIN #new".to_owned(),
            format!("{S} 353 alice = #new :@alice"),
            format!("{S} 366 alice #new :End of /NAMES list"),
        ]
    );
    assert!(
        who_time.starts_with(&format!("{S} 333 alice #tea bob!~bob@127.0.0.1 ")),
        "{who_time}"
    );
    // A JOIN of one channel that fails: the numeric alone, labeled.
    alice.send("@label=j2 JOIN nochan").await?;
    alice
        .expect(&format!("@label=j2 {S} 403 alice nochan :No such channel"))
        .await?;
    Ok(())
}

/// Every labeled message command is answered under its label: the echo of a PRIVMSG,
/// NOTICE or TAGMSG to a channel, a nick or oneself carries it (with `echo-message`);
/// without `echo-message`, an `ACK`.
#[tokio::test]
async fn labeled_messages_are_answered_by_their_labeled_echo() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let caps = "labeled-response batch echo-message message-tags";
    let mut alice = reg(&server, "alice", caps).await?;
    let mut bob = reg(&server, "bob", "message-tags").await?;
    join(&mut alice, "alice", "#t").await?;
    join(&mut bob, "bob", "#t").await?;
    expect_untagged(&mut alice, ":bob!~bob@127.0.0.1 JOIN #t").await?;
    for (n, (command, target)) in [
        ("PRIVMSG", "#t"),
        ("PRIVMSG", "bob"),
        ("PRIVMSG", "alice"),
        ("NOTICE", "#t"),
        ("NOTICE", "bob"),
        ("NOTICE", "alice"),
    ]
    .into_iter()
    .enumerate()
    {
        alice
            .send(&format!("@label=m{n} {command} {target} :hi {n}"))
            .await?;
        let line = alice.line().await?;
        assert_eq!(
            tag(&line, "label"),
            Some(format!("m{n}").as_str()),
            "{line}"
        );
        assert_eq!(
            untag(&line),
            format!(":alice!~alice@127.0.0.1 {command} {target} :hi {n}")
        );
    }
    for (n, target) in ["#t", "bob", "alice"].into_iter().enumerate() {
        alice
            .send(&format!("@label=t{n};+draft/react=x TAGMSG {target}"))
            .await?;
        let line = alice.line().await?;
        assert_eq!(
            tag(&line, "label"),
            Some(format!("t{n}").as_str()),
            "{line}"
        );
        assert_eq!(tag(&line, "+draft/react"), Some("x"), "{line}");
        assert_eq!(
            untag(&line),
            format!(":alice!~alice@127.0.0.1 TAGMSG {target}")
        );
    }
    // Nothing else came: each command had exactly its one labeled reply.
    assert_eq!(until_pong(&mut alice, "end").await?, Vec::<String>::new());
    let mut carol = reg(&server, "carol", LABELS).await?;
    carol.send("@label=c1 PRIVMSG bob :no echo").await?;
    carol.expect(&format!("@label=c1 {S} ACK")).await?;
    Ok(())
}

/// The echo of a message is the line the others got: the same client tags, msgid and
/// time, to a channel and to a nick; to oneself, one copy.
#[tokio::test]
async fn an_echo_matches_what_others_got() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let caps = "echo-message message-tags server-time";
    let mut alice = reg(&server, "alice", caps).await?;
    let mut bob = reg(&server, "bob", "message-tags server-time").await?;
    join(&mut alice, "alice", "#t").await?;
    join(&mut bob, "bob", "#t").await?;
    expect_untagged(&mut alice, ":bob!~bob@127.0.0.1 JOIN #t").await?;
    for target in ["#t", "bob"] {
        alice
            .send(&format!(
                "@+draft/reply=abc;+example.org/x=1 PRIVMSG {target} :hello"
            ))
            .await?;
        let echo = alice.line().await?;
        let got = bob.line().await?;
        assert_eq!(echo, got, "echo and delivery differ");
        assert_eq!(tag(&got, "+draft/reply"), Some("abc"));
        assert!(
            tag(&got, "msgid").is_some() && tag(&got, "time").is_some(),
            "{got}"
        );
    }
    // Without echo-message too, a message to oneself arrives once.
    bob.send("PRIVMSG bob :note").await?;
    let own = until_pong(&mut bob, "y").await?;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(untag(&own[0]), ":bob!~bob@127.0.0.1 PRIVMSG bob :note");
    alice.send("@+draft/reply=abc PRIVMSG alice :me").await?;
    let own = until_pong(&mut alice, "x").await?;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(untag(&own[0]), ":alice!~alice@127.0.0.1 PRIVMSG alice :me");
    assert_eq!(tag(&own[0], "+draft/reply"), Some("abc"));
    Ok(())
}

/// A labeled `draft/multiline` batch: the label is the whole batch's, so its opener and
/// lines get no `ACK` of their own, and the echo comes in the labeled reply.
#[tokio::test]
async fn issue_13_a_labeled_multiline_batch_is_answered_by_its_labeled_echo() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let caps = "labeled-response batch draft/multiline message-tags echo-message";
    let mut alice = reg(&server, "alice", caps).await?;
    join(&mut alice, "alice", "#ml").await?;
    for line in [
        "@label=L1 BATCH +b1 draft/multiline #ml",
        "@batch=b1 PRIVMSG #ml :one",
        "@batch=b1 PRIVMSG #ml :two",
        "BATCH -b1",
        "PING done",
    ] {
        alice.send(line).await?;
    }
    let lines = until_pong(&mut alice, "done").await?;
    assert!(
        !lines.iter().any(|l| untag(l).ends_with(" ACK")),
        "no ACK: {lines:#?}"
    );
    // The echo is one batch: the label on its opener (labeled-response), nothing else.
    let untagged: Vec<&str> = lines.iter().map(|l| untag(l)).collect();
    assert_eq!(tag(&lines[0], "label"), Some("L1"), "{lines:#?}");
    let id = untagged[0]
        .strip_prefix(":alice!~alice@127.0.0.1 BATCH +")
        .and_then(|r| r.strip_suffix(" draft/multiline #ml"))
        .unwrap_or_else(|| panic!("the echo batch first: {lines:#?}"));
    assert_eq!(
        untagged[1..],
        [
            ":alice!~alice@127.0.0.1 PRIVMSG #ml :one",
            ":alice!~alice@127.0.0.1 PRIVMSG #ml :two",
            &format!(":alice!~alice@127.0.0.1 BATCH -{id}"),
        ],
        "{lines:#?}"
    );
    Ok(())
}
