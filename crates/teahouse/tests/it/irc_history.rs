//! CHATHISTORY over IRC: batches, references, limits, and who may see what.

use teahouse_testkit::TextClient;

use crate::irc_kit::{S, reg, tag};
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
        // TARGETS: the conversations with messages in a time range, newest first.
        alice
            .send("@label=t CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
            .await?;
        let open = alice.line().await?;
        assert!(
            open.starts_with("@label=t ")
                && open.ends_with(&format!("{S} BATCH +targets draft/chathistory-targets")),
            "{open}"
        );
        for target in ["bob", "#tea"] {
            let line = alice.line().await?;
            assert!(
                line.starts_with("@batch=targets ")
                    && line.contains(&format!("{S} CHATHISTORY TARGETS {target} timestamp=")),
                "{line}"
            );
        }
        alice.expect(&format!("{S} BATCH -targets")).await?;
        alice
            .send("CHATHISTORY TARGETS timestamp=2100-01-01T00:00:00.000Z timestamp=2200-01-01T00:00:00.000Z 10")
            .await?;
        alice
            .expect(&format!("{S} BATCH +targets draft/chathistory-targets"))
            .await?;
        alice.expect(&format!("{S} BATCH -targets")).await?;
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
