//! What modern IRC clients expect beyond RFC 1459: MONITOR (and extended-monitor), WHOX,
//! LIST filters (ELIST), and the smaller IRCv3 extensions.

use teahouse_testkit::{TestServer, TextClient};

use crate::irc_kit::{S, cap_ls, join, reg, untag, until_pong};

/// The ISUPPORT tokens the server advertises, read from `VERSION`'s 005 lines.
async fn isupport(c: &mut TextClient, nick: &str) -> anyhow::Result<Vec<String>> {
    c.send("VERSION").await?;
    let mut tokens = Vec::new();
    for line in until_pong(c, "isupport").await? {
        if let Some(rest) = line.strip_prefix(&format!("{S} 005 {nick} ")) {
            let (list, _) = rest.split_once(" :").unwrap_or((rest, ""));
            tokens.extend(list.split(' ').map(str::to_owned));
        }
    }
    Ok(tokens)
}

/// MONITOR: 730/731 as watched nicks come, go and rename; L and S; C clears; the limit in
/// ISUPPORT and 734 beyond it; with extended-monitor, a watched user's AWAY reaches a
/// watcher who shares no channel with them, and not a plain watcher.
#[tokio::test]
async fn monitor_tells_of_nicks_coming_and_going() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "extended-monitor away-notify").await?;
    let mut dave = reg(&server, "dave", "away-notify").await?;
    assert!(
        isupport(&mut alice, "alice")
            .await?
            .contains(&"MONITOR=100".to_owned())
    );

    alice.send("MONITOR + bob,carol").await?;
    alice.expect(&format!("{S} 731 alice :bob,carol")).await?;
    dave.send("MONITOR + bob").await?;
    dave.expect(&format!("{S} 731 dave :bob")).await?;
    alice.send("MONITOR L").await?;
    alice.expect(&format!("{S} 732 alice :bob,carol")).await?;
    alice
        .expect(&format!("{S} 733 alice :End of MONITOR list"))
        .await?;

    let mut bob = reg(&server, "bob", "").await?;
    alice
        .expect(&format!("{S} 730 alice :bob!~bob@127.0.0.1"))
        .await?;
    dave.expect(&format!("{S} 730 dave :bob!~bob@127.0.0.1"))
        .await?;

    bob.send("AWAY :lunch").await?;
    bob.expect(&format!("{S} 306 bob :You have been marked as being away"))
        .await?;
    alice.expect(":bob!~bob@127.0.0.1 AWAY :lunch").await?;
    let before_pong = until_pong(&mut dave, "plain").await?;
    assert!(before_pong.is_empty(), "{before_pong:?}");

    bob.send("NICK carol").await?;
    bob.expect(":bob!~bob@127.0.0.1 NICK :carol").await?;
    alice.expect(&format!("{S} 731 alice :bob")).await?;
    alice
        .expect(&format!("{S} 730 alice :carol!~bob@127.0.0.1"))
        .await?;
    dave.expect(&format!("{S} 731 dave :bob")).await?;
    alice.send("MONITOR S").await?;
    alice
        .expect(&format!("{S} 730 alice :carol!~bob@127.0.0.1"))
        .await?;
    alice.expect(&format!("{S} 731 alice :bob")).await?;

    bob.send("QUIT").await?;
    bob.expect_closed().await?;
    alice.expect(&format!("{S} 731 alice :carol")).await?;

    alice.send("MONITOR - carol").await?;
    alice.send("MONITOR L").await?;
    alice.expect(&format!("{S} 732 alice :bob")).await?;
    alice
        .expect(&format!("{S} 733 alice :End of MONITOR list"))
        .await?;
    alice.send("MONITOR C").await?;
    alice.send("MONITOR L").await?;
    alice
        .expect(&format!("{S} 733 alice :End of MONITOR list"))
        .await?;

    // 101 nicks: 100 fit, the last is refused by name.
    let many: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    alice.send(&format!("MONITOR + {}", many.join(","))).await?;
    let line = alice
        .expect_eventually_prefix(&format!("{S} 734 alice "))
        .await?;
    assert_eq!(
        line,
        format!("{S} 734 alice 100 n100 :Monitor list is full.")
    );
    Ok(())
}

/// WHOX: `WHO #c %tcuhnfar,42` answers 354 with exactly those fields in the fixed order,
/// the token first and the real name last; a plain WHO still answers 352. ISUPPORT says WHOX.
#[tokio::test]
async fn whox_answers_the_fields_asked_for() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "").await?;
    assert!(
        isupport(&mut alice, "alice")
            .await?
            .contains(&"WHOX".to_owned())
    );
    join(&mut alice, "alice", "#tea").await?;
    alice.send("WHO #tea %tcuhnfar,42").await?;
    alice
        .expect(&format!(
            "{S} 354 alice 42 #tea ~alice 127.0.0.1 alice H@ 0 :alice Real"
        ))
        .await?;
    alice
        .expect(&format!("{S} 315 alice #tea :End of /WHO list"))
        .await?;
    // Fields in any order come out in the fixed one; no token asked, none given; the
    // address is hidden from non-operators.
    alice.send("WHO alice %nuit").await?;
    alice
        .expect(&format!("{S} 354 alice 0 ~alice 255.255.255.255 alice"))
        .await?;
    alice
        .expect(&format!("{S} 315 alice alice :End of /WHO list"))
        .await?;
    alice.send("WHO #tea").await?;
    alice
        .expect(&format!(
            "{S} 352 alice #tea ~alice 127.0.0.1 teahouse.local alice H@ :0 alice Real"
        ))
        .await?;
    Ok(())
}

/// ELIST: LIST filters by mask (M), negated mask (N), member count (U), creation time
/// (C) and topic time (T); ISUPPORT says which.
#[tokio::test]
async fn list_filters_by_mask_users_and_times() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "").await?;
    let mut bob = reg(&server, "bob", "").await?;
    assert!(
        isupport(&mut alice, "alice")
            .await?
            .contains(&"ELIST=CMNTU".to_owned())
    );
    for chan in ["#tea", "#teapot", "#coffee"] {
        join(&mut alice, "alice", chan).await?;
    }
    join(&mut bob, "bob", "#teapot").await?;
    alice.send("TOPIC #coffee :beans").await?;
    alice.expect_eventually_prefix(":alice!").await?;

    let list = async |c: &mut TextClient, query: &str| -> anyhow::Result<Vec<String>> {
        c.send(&format!("LIST {query}")).await?;
        c.expect(&format!("{S} 321 alice Channel :Users  Name"))
            .await?;
        let mut names = Vec::new();
        loop {
            let line = c.line().await?;
            if line == format!("{S} 323 alice :End of /LIST") {
                return Ok(names);
            }
            let rest = line
                .strip_prefix(&format!("{S} 322 alice "))
                .ok_or_else(|| anyhow::anyhow!("not a 322: {line}"))?;
            names.push(rest.split(' ').next().unwrap_or("").to_owned());
        }
    };
    assert_eq!(list(&mut alice, "#tea*").await?, ["#tea", "#teapot"]);
    assert_eq!(list(&mut alice, "!#tea*").await?, ["#coffee"]);
    assert_eq!(list(&mut alice, ">1").await?, ["#teapot"]);
    assert_eq!(list(&mut alice, "<2").await?, ["#coffee", "#tea"]);
    assert_eq!(list(&mut alice, "#tea*,<2").await?, ["#tea"]);
    assert_eq!(
        list(&mut alice, "C<5").await?,
        ["#coffee", "#tea", "#teapot"]
    );
    assert!(list(&mut alice, "C>5").await?.is_empty());
    assert_eq!(list(&mut alice, "T<5").await?, ["#coffee"]);
    assert!(list(&mut alice, "T>5").await?.is_empty());
    Ok(())
}

/// no-implicit-names: a JOIN is answered without NAMES, which the client asks for itself.
#[tokio::test]
async fn no_implicit_names_leaves_names_out_of_a_join() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "no-implicit-names").await?;
    alice.send("JOIN #tea").await?;
    alice.expect(":alice!~alice@127.0.0.1 JOIN #tea").await?;
    let after_join = until_pong(&mut alice, "names").await?;
    assert!(after_join.is_empty(), "{after_join:?}");
    alice.send("NAMES #tea").await?;
    alice
        .expect(&format!("{S} 353 alice = #tea :@alice"))
        .await?;
    alice
        .expect(&format!("{S} 366 alice #tea :End of /NAMES list"))
        .await?;
    Ok(())
}

/// HELP and HELPOP: 704, 705…, 706 for a command; 524 for no such subject; an index
/// without one.
#[tokio::test]
async fn help_explains_each_command() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "").await?;
    alice.send("HELP monitor").await?;
    alice
        .expect(&format!(
            "{S} 704 alice MONITOR :MONITOR + nicks | - nicks | C | L | S"
        ))
        .await?;
    alice
        .expect(&format!(
            "{S} 705 alice MONITOR :Tells you when the nicks come online and go offline."
        ))
        .await?;
    alice
        .expect(&format!("{S} 706 alice MONITOR :End of /HELP"))
        .await?;
    alice.send("HELPOP NOSUCH").await?;
    alice
        .expect(&format!(
            "{S} 524 alice NOSUCH :No help available on this topic"
        ))
        .await?;
    alice.send("HELP").await?;
    alice
        .expect(&format!(
            "{S} 704 alice * :Commands (HELP <command> for more):"
        ))
        .await?;
    let index = alice
        .expect_eventually(&format!("{S} 706 alice * :End of /HELP"))
        .await?;
    let words: Vec<&str> = index
        .iter()
        .flat_map(|l| l.rsplit(':').next().unwrap_or("").split(' '))
        .collect();
    for command in ["WHOIS", "MONITOR", "METADATA", "REDACT", "MARKREAD"] {
        assert!(words.contains(&command), "{command} not in {index:?}");
    }
    Ok(())
}

/// CAP LS 302 gives each capability with a value its value, and lists the modern set.
#[tokio::test]
async fn cap_ls_302_lists_every_capability_with_its_value() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.irc().await?;
    let caps = cap_ls(&mut c).await?;
    for wanted in [
        "sasl=PLAIN,SCRAM-SHA-256",
        "draft/account-registration=before-connect",
        "extended-monitor",
        "no-implicit-names",
        "standard-replies",
        "chghost",
        "draft/message-redaction",
        "draft/read-marker",
    ] {
        assert!(caps.iter().any(|c| c == wanted), "{wanted} not in {caps:?}");
    }
    Ok(())
}

/// draft/read-marker: MARKREAD sets where an account has read to; every client of the
/// account hears the new marker; an older one is answered with the stored one, to the
/// asker only; a JOIN brings the channel's marker before NAMES ends; without an account,
/// ACCOUNT_REQUIRED; bad input gets the spec's FAIL codes.
#[tokio::test]
async fn read_markers_are_shared_by_an_accounts_clients() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut a = reg(&server, "alice", "draft/read-marker").await?;
    a.send("REGISTER * x :pw one").await?;
    a.expect_prefix(&format!("{S} REGISTER SUCCESS alice "))
        .await?;
    a.expect_prefix(&format!("{S} 900 alice ")).await?;
    let mut b = server.irc().await?;
    b.send("CAP REQ :sasl draft/read-marker").await?;
    b.expect(&format!("{S} CAP * ACK :sasl draft/read-marker"))
        .await?;
    b.send("NICK phone").await?;
    b.send("USER phone 0 * :phone").await?;
    b.send("AUTHENTICATE PLAIN").await?;
    b.expect("AUTHENTICATE +").await?;
    b.send("AUTHENTICATE AGFsaWNlAHB3IG9uZQ==").await?;
    b.expect_prefix(&format!("{S} 900 phone ")).await?;
    b.expect_prefix(&format!("{S} 903 phone ")).await?;
    b.send("CAP END").await?;
    b.expect_eventually_prefix(&format!("{S} 422 phone "))
        .await?;

    a.send("JOIN #tea").await?;
    a.expect(":alice!~alice@127.0.0.1 JOIN #tea").await?;
    a.expect(&format!("{S} MARKREAD #tea *")).await?;
    a.expect(&format!("{S} 353 alice = #tea :@alice")).await?;
    a.expect(&format!("{S} 366 alice #tea :End of /NAMES list"))
        .await?;

    let new = "timestamp=2026-01-01T00:00:00.000Z";
    a.send(&format!("MARKREAD #tea {new}")).await?;
    a.expect(&format!("{S} MARKREAD #tea {new}")).await?;
    b.expect(&format!("{S} MARKREAD #tea {new}")).await?;
    b.send("MARKREAD #tea timestamp=2025-06-01T00:00:00.000Z")
        .await?;
    b.expect(&format!("{S} MARKREAD #tea {new}")).await?;
    assert!(until_pong(&mut a, "older").await?.is_empty());
    // The same channel however it is spelled.
    b.send("MARKREAD #TEA").await?;
    b.expect(&format!("{S} MARKREAD #TEA {new}")).await?;
    b.send("MARKREAD bob").await?;
    b.expect(&format!("{S} MARKREAD bob *")).await?;
    b.send("JOIN #tea").await?;
    b.expect(":phone!~phone@127.0.0.1 JOIN #tea").await?;
    b.expect(&format!("{S} MARKREAD #tea {new}")).await?;
    b.expect_eventually(&format!("{S} 366 phone #tea :End of /NAMES list"))
        .await?;

    let mut c = reg(&server, "carol", "draft/read-marker").await?;
    c.send(&format!("MARKREAD #tea {new}")).await?;
    c.expect(&format!(
        "{S} FAIL MARKREAD ACCOUNT_REQUIRED #tea :You must be logged in to an account to keep read markers"
    ))
    .await?;
    c.send("MARKREAD #tea yesterday").await?;
    c.expect(&format!(
        "{S} FAIL MARKREAD INVALID_PARAMS yesterday :Invalid parameters"
    ))
    .await?;
    c.send("MARKREAD").await?;
    c.expect(&format!(
        "{S} FAIL MARKREAD NEED_MORE_PARAMS :Missing parameters"
    ))
    .await?;
    Ok(())
}

/// draft/message-redaction: the author or a channel operator deletes a message; clients
/// with the capability are told (the redacting one too), others not; someone else's
/// message is REDACT_FORBIDDEN, an unknown id UNKNOWN_MSGID; a redacted message is gone
/// from CHATHISTORY; a direct message can be redacted by its sender, for both sides.
#[tokio::test]
async fn redact_deletes_a_message_for_everyone() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let caps = "message-tags draft/message-redaction batch draft/chathistory";
    let mut alice = reg(&server, "alice", caps).await?;
    let mut bob = reg(&server, "bob", caps).await?;
    let mut carol = reg(&server, "carol", "message-tags").await?;
    join(&mut alice, "alice", "#tea").await?;
    for (c, nick) in [(&mut bob, "bob"), (&mut carol, "carol")] {
        join(c, nick, "#tea").await?;
    }
    alice.expect_eventually_prefix(":carol!").await?;
    bob.expect_eventually_prefix(":carol!").await?;
    let msgid = async |c: &mut TextClient, text: &str| -> anyhow::Result<String> {
        let line = c.expect_eventually_prefix("@").await?;
        anyhow::ensure!(line.ends_with(text), "{line}");
        Ok(crate::irc_kit::tag(&line, "msgid").unwrap_or("").to_owned())
    };

    bob.send("PRIVMSG #tea :oops").await?;
    let oops = msgid(&mut alice, "PRIVMSG #tea :oops").await?;
    msgid(&mut carol, "PRIVMSG #tea :oops").await?;
    bob.send(&format!("REDACT #tea {oops} :typo")).await?;
    let told = format!(":bob!~bob@127.0.0.1 REDACT #tea {oops} :typo");
    crate::irc_kit::expect_untagged(&mut alice, &told).await?;
    crate::irc_kit::expect_untagged(&mut bob, &told).await?;
    assert!(until_pong(&mut carol, "c").await?.is_empty());

    alice.send("PRIVMSG #tea :keep me").await?;
    let keep = msgid(&mut bob, "PRIVMSG #tea :keep me").await?;
    msgid(&mut carol, "PRIVMSG #tea :keep me").await?;
    bob.send(&format!("REDACT #tea {keep}")).await?;
    bob.expect(&format!(
        "{S} FAIL REDACT REDACT_FORBIDDEN #tea {keep} :You are not authorised to delete this message"
    ))
    .await?;
    carol.send("PRIVMSG #tea :spam").await?;
    let spam = msgid(&mut alice, "PRIVMSG #tea :spam").await?;
    msgid(&mut bob, "PRIVMSG #tea :spam").await?;
    alice.send(&format!("REDACT #tea {spam} :spam")).await?;
    crate::irc_kit::expect_untagged(
        &mut bob,
        &format!(":alice!~alice@127.0.0.1 REDACT #tea {spam} :spam"),
    )
    .await?;
    alice.send("REDACT #tea 12345").await?;
    alice
        .expect_eventually(&format!(
            "{S} FAIL REDACT UNKNOWN_MSGID #tea 12345 :This message does not exist or is too old"
        ))
        .await?;

    alice.send("CHATHISTORY LATEST #tea * 10").await?;
    let opener = alice.line().await?;
    let id = untag(&opener)
        .strip_prefix(&format!("{S} BATCH +"))
        .and_then(|r| r.strip_suffix(" chathistory #tea"))
        .ok_or_else(|| anyhow::anyhow!("not a history batch: {opener}"))?
        .to_owned();
    let mut kept = Vec::new();
    loop {
        let line = alice.line().await?;
        if line == format!("{S} BATCH -{id}") {
            break;
        }
        kept.push(untag(&line).to_owned());
    }
    assert_eq!(kept, [":alice!~alice@127.0.0.1 PRIVMSG #tea :keep me"]);

    // A direct message: its sender may take it back, for both sides; not its recipient.
    alice.send("PRIVMSG bob :secret").await?;
    let secret = msgid(&mut bob, "PRIVMSG bob :secret").await?;
    bob.send(&format!("REDACT alice {secret}")).await?;
    bob.expect(&format!(
        "{S} FAIL REDACT REDACT_FORBIDDEN alice {secret} :You are not authorised to delete this message"
    ))
    .await?;
    alice.send(&format!("REDACT bob {secret}")).await?;
    let told = format!(":alice!~alice@127.0.0.1 REDACT bob {secret}");
    crate::irc_kit::expect_untagged(&mut alice, &told).await?;
    crate::irc_kit::expect_untagged(&mut bob, &told).await?;
    Ok(())
}

/// draft/multiline: a client's batch of lines is one message; clients with the capability
/// get it as a batch (concatenated lines joined), its sender too with echo-message, and
/// inside a CHATHISTORY batch; others get a line each (no empty ones), plain-text users
/// too; the limits are in the capability's value and enforced.
#[tokio::test]
async fn multiline_messages_travel_as_one() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut dave = server.login("dave").await?;
    let mut alice = reg(
        &server,
        "alice",
        "batch draft/multiline message-tags echo-message",
    )
    .await?;
    let mut bob = reg(&server, "bob", "batch draft/multiline draft/chathistory").await?;
    let mut carol = reg(&server, "carol", "message-tags").await?;
    for (c, nick) in [
        (&mut alice, "alice"),
        (&mut bob, "bob"),
        (&mut carol, "carol"),
    ] {
        join(c, nick, "#lobby").await?;
    }
    alice.expect_eventually_prefix(":carol!").await?;
    bob.expect_eventually_prefix(":carol!").await?;
    for line in [
        "@+draft/reply=42 BATCH +b1 draft/multiline #lobby",
        "@batch=b1 PRIVMSG #lobby :hello",
        "@batch=b1 PRIVMSG #lobby :",
        "@batch=b1 PRIVMSG #lobby :world and",
        "@batch=b1;draft/multiline-concat PRIVMSG #lobby : more",
        "BATCH -b1",
    ] {
        alice.send(line).await?;
    }
    let read_batch = async |c: &mut TextClient| -> anyhow::Result<(String, Vec<String>)> {
        let opener = c.line().await?;
        let rest = untag(&opener);
        let id = rest
            .strip_prefix(":alice!~alice@127.0.0.1 BATCH +")
            .and_then(|r| r.strip_suffix(" draft/multiline #lobby"))
            .ok_or_else(|| anyhow::anyhow!("not a multiline batch: {opener}"))?
            .to_owned();
        let mut lines = Vec::new();
        loop {
            let line = c.line().await?;
            if line == format!(":alice!~alice@127.0.0.1 BATCH -{id}") {
                return Ok((opener, lines));
            }
            let inner = line
                .strip_prefix(&format!("@batch={id} "))
                .ok_or_else(|| anyhow::anyhow!("not in the batch: {line}"))?;
            lines.push(inner.to_owned());
        }
    };
    let want = [
        ":alice!~alice@127.0.0.1 PRIVMSG #lobby :hello",
        ":alice!~alice@127.0.0.1 PRIVMSG #lobby :",
        ":alice!~alice@127.0.0.1 PRIVMSG #lobby :world and more",
    ];
    let (opener, lines) = read_batch(&mut bob).await?;
    assert_eq!(lines, want);
    let (echo, lines) = read_batch(&mut alice).await?;
    assert_eq!(lines, want);
    let msgid = crate::irc_kit::tag(&echo, "msgid").unwrap_or("").to_owned();
    assert!(!msgid.is_empty(), "{echo} {opener}");
    // The opener's client-only tags are the message's.
    assert_eq!(
        crate::irc_kit::tag(&echo, "+draft/reply"),
        Some("42"),
        "{echo}"
    );
    let first = carol.line().await?;
    assert_eq!(crate::irc_kit::tag(&first, "msgid"), Some(msgid.as_str()));
    assert_eq!(untag(&first), want[0]);
    // Each fallback line carries the message's client tags.
    let last = crate::irc_kit::expect_untagged(&mut carol, want[2]).await?;
    assert_eq!(
        crate::irc_kit::tag(&last, "+draft/reply"),
        Some("42"),
        "{last}"
    );
    dave.expect_eventually("alice: hello").await?;
    dave.expect("alice: world and more").await?;

    // In history, the batch is nested in the history batch.
    bob.send("CHATHISTORY LATEST #lobby * 5").await?;
    let open = bob.line().await?;
    let history = open
        .strip_prefix(&format!("{S} BATCH +"))
        .and_then(|r| r.strip_suffix(" chathistory #lobby"))
        .ok_or_else(|| anyhow::anyhow!("not a history batch: {open}"))?
        .to_owned();
    let nested = bob.line().await?;
    assert!(
        nested.starts_with(&format!("@batch={history} "))
            && nested.contains(" BATCH +ml")
            && nested.ends_with(" draft/multiline #lobby"),
        "{nested}"
    );
    let inner = bob.line().await?;
    assert!(inner.starts_with("@batch=ml"), "{inner}");
    bob.expect_eventually(&format!("{S} BATCH -{history}"))
        .await?;

    // The limits: the capability's value, and FAILs past them or for another target.
    let mut c = server.irc().await?;
    let caps = crate::irc_kit::cap_ls(&mut c).await?;
    assert!(
        caps.iter()
            .any(|c| c == "draft/multiline=max-bytes=4096,max-lines=32"),
        "{caps:?}"
    );
    alice.send("BATCH +b2 draft/multiline #lobby").await?;
    for i in 0..33 {
        alice
            .send(&format!("@batch=b2 PRIVMSG #lobby :line {i}"))
            .await?;
    }
    alice
        .expect(&format!(
            "{S} FAIL BATCH MULTILINE_MAX_LINES 32 :Too many lines in the batch"
        ))
        .await?;
    alice.send("BATCH +b3 draft/multiline #lobby").await?;
    alice.send("@batch=b3 PRIVMSG #other :x").await?;
    alice
        .expect(&format!(
            "{S} FAIL BATCH MULTILINE_INVALID_TARGET #lobby #other :Invalid multiline target"
        ))
        .await?;
    Ok(())
}

/// draft/metadata-2: users set their own metadata, channel operators a channel's; those
/// who share a channel and subscribed to the key are told; GET, LIST (in a batch), SUB,
/// UNSUB, SUBS; a newcomer to a channel gets its members' subscribed keys; the limits are
/// in the capability's value; bad keys, targets and permissions get the FAIL codes.
#[tokio::test]
async fn metadata_is_shared_with_subscribers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut probe = server.irc().await?;
    let caps = cap_ls(&mut probe).await?;
    assert!(
        caps.iter()
            .any(|c| c == "draft/metadata-2=max-subs=50,max-keys=20,max-value-bytes=300"),
        "{caps:?}"
    );
    let mut alice = reg(&server, "alice", "draft/metadata-2 batch").await?;
    let mut bob = reg(&server, "bob", "draft/metadata-2").await?;
    let mut carol = reg(&server, "carol", "").await?;
    alice
        .send("METADATA * SUB avatar display-name Bad!")
        .await?;
    alice
        .expect(&format!("{S} FAIL METADATA KEY_INVALID Bad! :Invalid key"))
        .await?;
    alice
        .expect(&format!("{S} 770 alice :avatar display-name"))
        .await?;
    join(&mut alice, "alice", "#tea").await?;
    for (c, nick) in [(&mut bob, "bob"), (&mut carol, "carol")] {
        join(c, nick, "#tea").await?;
    }
    alice.expect_eventually_prefix(":carol!").await?;
    bob.expect_eventually_prefix(":carol!").await?;

    bob.send("METADATA * SET avatar :https://example.com/b.png")
        .await?;
    bob.expect(&format!(
        "{S} 761 bob bob avatar * :https://example.com/b.png"
    ))
    .await?;
    alice
        .expect(&format!(
            "{S} METADATA bob avatar * :https://example.com/b.png"
        ))
        .await?;
    bob.send("METADATA * SET display-name :Bob B").await?;
    bob.expect(&format!("{S} 761 bob bob display-name * :Bob B"))
        .await?;
    alice
        .expect(&format!("{S} METADATA bob display-name * :Bob B"))
        .await?;
    assert!(until_pong(&mut carol, "c").await?.is_empty());

    alice.send("METADATA bob GET avatar nope").await?;
    alice
        .expect(&format!(
            "{S} 761 alice bob avatar * :https://example.com/b.png"
        ))
        .await?;
    alice
        .expect(&format!("{S} 766 alice bob nope :key not set"))
        .await?;
    alice.send("METADATA bob LIST").await?;
    let open = alice.line().await?;
    let id = open
        .strip_prefix(&format!("{S} BATCH +"))
        .and_then(|r| r.strip_suffix(" metadata bob"))
        .ok_or_else(|| anyhow::anyhow!("not a metadata batch: {open}"))?
        .to_owned();
    alice
        .expect(&format!(
            "@batch={id} {S} 761 alice bob avatar * :https://example.com/b.png"
        ))
        .await?;
    alice
        .expect(&format!(
            "@batch={id} {S} 761 alice bob display-name * :Bob B"
        ))
        .await?;
    alice.expect(&format!("{S} BATCH -{id}")).await?;

    bob.send("METADATA #tea SET url :https://tea.example")
        .await?;
    bob.expect(&format!(
        "{S} FAIL METADATA KEY_NO_PERMISSION #tea url :You do not have permission to do that"
    ))
    .await?;
    alice
        .send("METADATA #tea SET url :https://tea.example")
        .await?;
    alice
        .expect(&format!("{S} 761 alice #tea url * :https://tea.example"))
        .await?;
    alice.send("METADATA #nowhere LIST").await?;
    alice
        .expect(&format!(
            "{S} FAIL METADATA INVALID_TARGET #nowhere :Invalid target"
        ))
        .await?;

    // A newcomer subscribed to avatars gets the channel's members' on joining.
    let mut dave = reg(&server, "dave", "draft/metadata-2").await?;
    dave.send("METADATA * SUB avatar").await?;
    dave.expect(&format!("{S} 770 dave :avatar")).await?;
    dave.send("JOIN #tea").await?;
    dave.expect_eventually(&format!("{S} 366 dave #tea :End of /NAMES list"))
        .await?;
    dave.expect(&format!(
        "{S} METADATA bob avatar * :https://example.com/b.png"
    ))
    .await?;
    alice.expect(":dave!~dave@127.0.0.1 JOIN #tea").await?;
    bob.expect(":dave!~dave@127.0.0.1 JOIN #tea").await?;

    alice.send("METADATA * SUBS").await?;
    alice
        .expect(&format!("{S} 772 alice :avatar display-name"))
        .await?;
    alice.send("METADATA * UNSUB avatar").await?;
    alice.expect(&format!("{S} 771 alice :avatar")).await?;
    bob.send("METADATA * SET avatar").await?;
    bob.expect(&format!("{S} 766 bob bob avatar :key not set"))
        .await?;
    bob.send("METADATA * SET avatar").await?;
    bob.expect(&format!(
        "{S} FAIL METADATA KEY_NOT_SET bob avatar :Key not set"
    ))
    .await?;
    dave.expect(&format!("{S} METADATA bob avatar *")).await?;
    assert!(until_pong(&mut alice, "a").await?.is_empty());
    Ok(())
}
