//! CHATHISTORY over IRC: batches, references, limits, and who may see what.

use teahouse_testkit::TextClient;

use crate::irc_kit::{S, reg, tag, until_pong};
use crate::pg::on_both_backends;

const CAPS: &str = "batch server-time message-tags labeled-response draft/chathistory";

/// Reads one `chathistory` batch: checks its opener (label, target) and returns the
/// message lines without their tags, and the lines with them.
async fn batch(c: &mut TextClient, label: &str, target: &str) -> anyhow::Result<Vec<String>> {
    let open = c.line().await?;
    assert_eq!(tag(&open, "label"), Some(label), "{open}");
    let rest = open.split_once(' ').map_or("", |(_, r)| r);
    let id = rest
        .strip_prefix(&format!("{S} BATCH +"))
        .and_then(|r| r.strip_suffix(&format!(" chathistory {target}")))
        .unwrap_or_else(|| panic!("not a chathistory batch: {open}"))
        .to_owned();
    let mut lines = Vec::new();
    loop {
        let line = c.line().await?;
        if line == format!("{S} BATCH -{id}") {
            return Ok(lines);
        }
        assert_eq!(tag(&line, "batch"), Some(id.as_str()), "{line}");
        assert!(
            tag(&line, "msgid").is_some() && tag(&line, "time").is_some(),
            "{line}"
        );
        lines.push(line);
    }
}

fn untagged(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l.split_once(' ').map_or(l.as_str(), |(_, r)| r))
        .collect()
}

#[tokio::test]
async fn chathistory_returns_stored_messages_in_batches() -> anyhow::Result<()> {
    on_both_backends("chathistory", |server| async move {
        let mut alice = reg(&server, "alice", CAPS).await?;
        let mut bob = reg(&server, "bob", "").await?;
        alice.send("JOIN #tea").await?;
        alice
            .expect_eventually_prefix(&format!("{S} 366 alice #tea "))
            .await?;
        bob.send("JOIN #tea").await?;
        bob.expect_eventually_prefix(&format!("{S} 366 bob #tea "))
            .await?;
        alice.expect_eventually_prefix("@").await?;
        for text in ["one", "two", "three"] {
            bob.send(&format!("PRIVMSG #tea :{text}")).await?;
        }
        let mut ids = Vec::new();
        for text in ["one", "two", "three"] {
            let line = alice.line().await?;
            assert!(
                line.ends_with(&format!(":bob!~bob@127.0.0.1 PRIVMSG #tea :{text}")),
                "{line}"
            );
            ids.push(tag(&line, "msgid").unwrap_or_default().to_owned());
        }

        alice.send("@label=a CHATHISTORY LATEST #tea * 2").await?;
        let got = batch(&mut alice, "a", "#tea").await?;
        assert_eq!(
            untagged(&got),
            [
                ":bob!~bob@127.0.0.1 PRIVMSG #tea :two",
                ":bob!~bob@127.0.0.1 PRIVMSG #tea :three"
            ]
        );
        assert_eq!(
            tag(&got[1], "msgid"),
            Some(ids[2].as_str()),
            "the live msgid is kept"
        );

        alice
            .send(&format!(
                "@label=b CHATHISTORY BEFORE #tea msgid={} 10",
                ids[2]
            ))
            .await?;
        let got = batch(&mut alice, "b", "#tea").await?;
        assert_eq!(untagged(&got).len(), 2);
        alice
            .send(&format!(
                "@label=c CHATHISTORY AFTER #tea msgid={} 10",
                ids[0]
            ))
            .await?;
        let got = batch(&mut alice, "c", "#tea").await?;
        assert!(untagged(&got)[0].ends_with(":two"), "{got:?}");
        alice
            .send(&format!(
                "@label=d CHATHISTORY BETWEEN #tea msgid={} msgid={} 10",
                ids[2], ids[0]
            ))
            .await?;
        let got = batch(&mut alice, "d", "#tea").await?;
        assert_eq!(untagged(&got), [":bob!~bob@127.0.0.1 PRIVMSG #tea :two"]);
        alice
            .send("@label=e CHATHISTORY BEFORE #tea timestamp=2000-01-01T00:00:00.000Z 10")
            .await?;
        assert!(batch(&mut alice, "e", "#tea").await?.is_empty());

        // Bad requests get FAIL replies.
        for (request, reply) in [
            (
                "CHATHISTORY LATEST #tea * lots",
                "FAIL CHATHISTORY INVALID_PARAMS LATEST :Invalid limit",
            ),
            (
                "CHATHISTORY LATEST #tea * 0",
                "FAIL CHATHISTORY INVALID_PARAMS LATEST :Invalid limit",
            ),
            (
                "CHATHISTORY BEFORE #tea * 5",
                "FAIL CHATHISTORY INVALID_PARAMS BEFORE :Invalid message reference",
            ),
            (
                "CHATHISTORY AFTER #tea timestamp=yesterday 5",
                "FAIL CHATHISTORY INVALID_PARAMS AFTER :Invalid message reference",
            ),
            (
                "CHATHISTORY LATEST #elsewhere * 5",
                "FAIL CHATHISTORY INVALID_TARGET LATEST #elsewhere :You are not in that channel",
            ),
            (
                "CHATHISTORY LATEST bad:target * 5",
                "FAIL CHATHISTORY INVALID_TARGET LATEST bad:target :Invalid target",
            ),
            (
                "CHATHISTORY SIDEWAYS #tea * 5",
                "FAIL CHATHISTORY INVALID_PARAMS SIDEWAYS :Unknown subcommand",
            ),
            (
                "CHATHISTORY LATEST #tea",
                "FAIL CHATHISTORY INVALID_PARAMS LATEST :Wrong number of parameters",
            ),
        ] {
            alice.send(request).await?;
            let line = alice.line().await?;
            assert!(line.ends_with(&format!("{S} {reply}")), "{request}: {line}");
        }

        // Direct messages are seen by their two parties only.
        bob.send("PRIVMSG alice :just for you").await?;
        alice.expect_eventually_prefix("@").await?;
        alice.send("@label=f CHATHISTORY LATEST bob * 10").await?;
        let got = batch(&mut alice, "f", "bob").await?;
        assert_eq!(
            untagged(&got),
            [":bob!~bob@127.0.0.1 PRIVMSG alice :just for you"]
        );
        // TARGETS: the conversations whose latest message is in a time range, from the
        // first time towards the second, each with that message's time.
        alice
            .send("@label=t CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
            .await?;
        let open = alice.line().await?;
        assert_eq!(tag(&open, "label"), Some("t"), "{open}");
        let id = open
            .split_once(&format!("{S} BATCH +"))
            .and_then(|(_, rest)| rest.strip_suffix(" draft/chathistory-targets"))
            .unwrap_or_else(|| panic!("not a targets batch: {open}"))
            .to_owned();
        for target in ["#tea", "bob"] {
            let line = alice.line().await?;
            assert_eq!(tag(&line, "batch"), Some(id.as_str()), "{line}");
            assert!(
                line.contains(&format!("{S} CHATHISTORY TARGETS {target} 20")),
                "{line}"
            );
        }
        alice.expect(&format!("{S} BATCH -{id}")).await?;
        alice
            .send("CHATHISTORY TARGETS timestamp=2100-01-01T00:00:00.000Z timestamp=2200-01-01T00:00:00.000Z 10")
            .await?;
        let open = alice
            .expect_prefix(&format!("{S} BATCH +"))
            .await?;
        let id = open
            .strip_prefix(&format!("{S} BATCH +"))
            .and_then(|rest| rest.strip_suffix(" draft/chathistory-targets"))
            .unwrap_or_default()
            .to_owned();
        alice.expect(&format!("{S} BATCH -{id}")).await?;
        alice.send("CHATHISTORY TARGETS * * 10").await?;
        alice
            .expect(&format!(
                "{S} FAIL CHATHISTORY INVALID_PARAMS TARGETS :Invalid timestamp"
            ))
            .await?;

        let mut carol = reg(&server, "carol", CAPS).await?;
        carol.send("@label=g CHATHISTORY LATEST bob * 10").await?;
        assert!(batch(&mut carol, "g", "bob").await?.is_empty());
        carol.send("@label=h CHATHISTORY LATEST alice * 10").await?;
        assert!(batch(&mut carol, "h", "alice").await?.is_empty());
        Ok(())
    })
    .await
}

/// The targets batch of a `CHATHISTORY TARGETS` request labeled `label`: each line's
/// target and time.
async fn targets_batch(c: &mut TextClient, label: &str) -> anyhow::Result<Vec<(String, String)>> {
    let open = c.line().await?;
    anyhow::ensure!(tag(&open, "label") == Some(label), "{open}");
    let id = open
        .split_once(&format!("{S} BATCH +"))
        .and_then(|(_, rest)| rest.strip_suffix(" draft/chathistory-targets"))
        .ok_or_else(|| anyhow::anyhow!("not a targets batch: {open}"))?
        .to_owned();
    let mut found = Vec::new();
    loop {
        let line = c.line().await?;
        if line == format!("{S} BATCH -{id}") {
            return Ok(found);
        }
        let rest = line
            .split_once(&format!("{S} CHATHISTORY TARGETS "))
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow::anyhow!("not a target: {line}"))?;
        let (target, time) = rest.split_once(' ').unwrap_or((rest, ""));
        anyhow::ensure!(time.ends_with('Z') && !time.contains('='), "{line}");
        found.push((target.to_owned(), time.to_owned()));
    }
}

/// Direct messages are one conversation seen from both sides (by the other's nick),
/// messages to oneself are a conversation too, client-only tags come back with their
/// messages, TARGETS lists channels and nicks by latest activity and leaves out those
/// active after the range, and AROUND returns as many as asked when there are enough.
#[tokio::test]
async fn chathistory_of_direct_messages_self_and_tags() -> anyhow::Result<()> {
    on_both_backends("chathistory_dm", |server| async move {
        let caps = "batch server-time message-tags labeled-response draft/chathistory echo-message";
        let mut alice = reg(&server, "alice", caps).await?;
        let mut bob = reg(&server, "bob", caps).await?;
        alice.send("JOIN #tea").await?;
        alice
            .expect_eventually_prefix(&format!("{S} 366 alice #tea "))
            .await?;
        alice.send("PRIVMSG #tea :first, in the channel").await?;
        alice.expect_eventually_prefix("@").await?;
        alice
            .send("@+draft/reply=abc;+example.org/x=1 PRIVMSG bob :hi bob")
            .await?;
        let sent = alice.line().await?;
        bob.expect_eventually_prefix("@").await?;
        bob.send("PRIVMSG alice :hi alice").await?;
        bob.expect_eventually_prefix("@").await?;
        alice.expect_eventually_prefix("@").await?;
        alice.send("PRIVMSG alice :note to self").await?;
        alice.expect_eventually_prefix("@").await?;

        // One conversation, both ways, from either side, the client tags kept.
        for (who, other, label) in [("alice", "bob", "a"), ("bob", "alice", "b")] {
            let c = if who == "alice" { &mut alice } else { &mut bob };
            c.send(&format!("@label={label} CHATHISTORY LATEST {other} * 10"))
                .await?;
            let got = batch(c, label, other).await?;
            assert_eq!(
                untagged(&got),
                [
                    ":alice!~alice@127.0.0.1 PRIVMSG bob :hi bob",
                    ":bob!~bob@127.0.0.1 PRIVMSG alice :hi alice",
                ],
                "{who}'s view"
            );
            assert_eq!(tag(&got[0], "+draft/reply"), Some("abc"), "{}", got[0]);
            assert_eq!(tag(&got[0], "+example.org/x"), Some("1"), "{}", got[0]);
            assert_eq!(tag(&got[0], "msgid"), tag(&sent, "msgid"));
        }
        alice.send("@label=s CHATHISTORY LATEST alice * 10").await?;
        let got = batch(&mut alice, "s", "alice").await?;
        assert_eq!(
            untagged(&got),
            [":alice!~alice@127.0.0.1 PRIVMSG alice :note to self"]
        );

        // TARGETS by latest activity, either direction.
        let (from, to) = (
            "timestamp=2000-01-01T00:00:00.000Z",
            "timestamp=2100-01-01T00:00:00.000Z",
        );
        alice
            .send(&format!("@label=t1 CHATHISTORY TARGETS {from} {to} 10"))
            .await?;
        let oldest_first = targets_batch(&mut alice, "t1").await?;
        let names: Vec<&str> = oldest_first.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["#tea", "bob", "alice"]);
        alice
            .send(&format!("@label=t2 CHATHISTORY TARGETS {to} {from} 2"))
            .await?;
        let newest_first = targets_batch(&mut alice, "t2").await?;
        let names: Vec<&str> = newest_first.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        // Up to the time of bob's latest: not bob's conversation, nor any later one; those
        // whose latest is earlier (#tea, unless in the same millisecond).
        let bob_time = oldest_first[1].1.clone();
        alice
            .send(&format!(
                "@label=t3 CHATHISTORY TARGETS {from} timestamp={bob_time} 10"
            ))
            .await?;
        let got = targets_batch(&mut alice, "t3").await?;
        let earlier: Vec<(String, String)> = oldest_first
            .iter()
            .filter(|(_, time)| *time < bob_time)
            .cloned()
            .collect();
        assert_eq!(got, earlier);

        // AROUND the first of ten: as many as asked, from after it.
        for i in 1..=9 {
            alice.send(&format!("PRIVMSG #tea :n{i}")).await?;
        }
        assert_eq!(until_pong(&mut alice, "echoes").await?.len(), 9);
        alice.send("@label=l CHATHISTORY LATEST #tea * 10").await?;
        let all = batch(&mut alice, "l", "#tea").await?;
        assert_eq!(all.len(), 10);
        let first = tag(&all[0], "msgid").unwrap_or_default().to_owned();
        alice
            .send(&format!("@label=r CHATHISTORY AROUND #tea msgid={first} 4"))
            .await?;
        let got = batch(&mut alice, "r", "#tea").await?;
        assert_eq!(
            untagged(&got),
            [
                ":alice!~alice@127.0.0.1 PRIVMSG #tea :first, in the channel",
                ":alice!~alice@127.0.0.1 PRIVMSG #tea :n1",
                ":alice!~alice@127.0.0.1 PRIVMSG #tea :n2",
                ":alice!~alice@127.0.0.1 PRIVMSG #tea :n3",
            ]
        );
        Ok(())
    })
    .await
}

/// Reactions are part of the conversation: a `TAGMSG` with `+draft/react` is stored and
/// replayed (to clients that understand `TAGMSG`), a typing notification is not; a client
/// without `message-tags` and a plain-text user see only the messages.
#[tokio::test]
async fn issue_13_reactions_are_kept_in_history_and_typing_is_not() -> anyhow::Result<()> {
    on_both_backends("reactions", |server| async move {
        let mut alice = reg(&server, "alice", CAPS).await?;
        let mut bob = reg(&server, "bob", "message-tags").await?;
        let mut plain = reg(&server, "plain", "batch draft/chathistory").await?;
        for (c, nick) in [
            (&mut alice, "alice"),
            (&mut bob, "bob"),
            (&mut plain, "plain"),
        ] {
            c.send("JOIN #lobby").await?;
            c.expect_eventually_prefix(&format!("{S} 366 {nick} #lobby "))
                .await?;
        }
        bob.send("PRIVMSG #lobby :tea?").await?;
        let said = until_contains(&mut alice, "PRIVMSG #lobby :tea?").await?;
        let msgid = tag(&said, "msgid").unwrap_or_default().to_owned();
        assert!(said.ends_with("PRIVMSG #lobby :tea?"), "{said}");
        alice.send("@+typing=active TAGMSG #lobby").await?;
        alice
            .send(&format!(
                "@+draft/react=🍵;+draft/reply={msgid} TAGMSG #lobby"
            ))
            .await?;
        let reaction = until_contains(&mut bob, "+draft/react").await?;
        assert!(reaction.contains("+draft/react=🍵"), "{reaction}");
        let reaction_id = tag(&reaction, "msgid").unwrap_or_default().to_owned();
        until_pong(&mut alice, "sent").await?;

        alice
            .send("@label=h CHATHISTORY LATEST #lobby * 10")
            .await?;
        let lines = batch(&mut alice, "h", "#lobby").await?;
        let got = untagged(&lines);
        assert_eq!(
            got,
            [
                ":bob!~bob@127.0.0.1 PRIVMSG #lobby :tea?",
                ":alice!~alice@127.0.0.1 TAGMSG #lobby",
            ],
            "{lines:#?}"
        );
        assert_eq!(tag(&lines[1], "msgid"), Some(reaction_id.as_str()));
        assert_eq!(tag(&lines[1], "+draft/reply"), Some(msgid.as_str()));
        assert!(lines[1].contains("+draft/react=🍵"), "{}", lines[1]);
        assert!(!lines.iter().any(|l| l.contains("+typing")), "{lines:#?}");

        // Without message-tags a client cannot read TAGMSG: it gets the message alone.
        plain.send("CHATHISTORY LATEST #lobby * 10").await?;
        let open = plain
            .expect_eventually_prefix(&format!("{S} BATCH +"))
            .await?;
        let id = open
            .strip_prefix(&format!("{S} BATCH +"))
            .and_then(|r| r.split_once(' '))
            .map(|(id, _)| id.to_owned())
            .unwrap_or_default();
        plain
            .expect(&format!(
                "@batch={id} :bob!~bob@127.0.0.1 PRIVMSG #lobby :tea?"
            ))
            .await?;
        plain.expect(&format!("{S} BATCH -{id}")).await?;

        // A plain-text user entering the room is shown the message only.
        let mut text = server.login("dora").await?;
        text.expect_history("lobby", &["bob: tea?"]).await?;
        Ok(())
    })
    .await
}

/// Skips lines until one contains `needle`; returns it.
async fn until_contains(c: &mut TextClient, needle: &str) -> anyhow::Result<String> {
    loop {
        let line = c.line().await?;
        if line.contains(needle) {
            return Ok(line);
        }
    }
}
