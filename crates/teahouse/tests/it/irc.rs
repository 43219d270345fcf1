//! The IRC face over real sockets: registration, every command, numerics and capabilities.

use std::time::Duration;

use teahouse_testkit::{TestServer, TextClient};

const S: &str = ":teahouse.local";

/// Registers `nick` after requesting `caps` (none: plain registration).
async fn reg(server: &TestServer, nick: &str, caps: &[&str]) -> anyhow::Result<TextClient> {
    if caps.is_empty() {
        return server.irc_login(nick).await;
    }
    let mut c = server.irc().await?;
    crate::irc_kit::cap_ls(&mut c).await?;
    c.send(&format!("NICK {nick}")).await?;
    c.send(&format!("USER {nick} 0 * :{nick} Real")).await?;
    c.send(&format!("CAP REQ :{}", caps.join(" "))).await?;
    c.expect(&format!("{S} CAP {nick} ACK :{}", caps.join(" ")))
        .await?;
    c.send("CAP END").await?;
    c.expect_eventually_prefix(&format!("{S} 422 {nick} "))
        .await?;
    Ok(c)
}

/// Joins `#chan` and reads through the end of NAMES.
async fn join(c: &mut TextClient, nick: &str, chan: &str) -> anyhow::Result<Vec<String>> {
    c.send(&format!("JOIN {chan}")).await?;
    let mut lines = Vec::new();
    loop {
        let line = c.line().await?;
        let first = chan.split(',').next().unwrap_or(chan);
        let done = line.contains(&format!(" 366 {nick} {first} "));
        lines.push(line);
        if done {
            return Ok(lines);
        }
    }
}

/// Strips an IRCv3 tag section.
fn untag(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, l)| l),
        None => line,
    }
}

#[tokio::test]
async fn registration_burst_isupport_lusers_and_motd() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|c| c.irc.motd = vec!["Welcome!".into(), "Be kind.".into()]).await?;
    let mut c = server.irc().await?;
    c.send("NICK alice").await?;
    c.send("USER al 0 * :Alice Liddell").await?;
    c.expect(&format!(
        "{S} 001 alice :Welcome to the teahouse IRC network, alice!~al@127.0.0.1"
    ))
    .await?;
    c.expect_prefix(&format!("{S} 002 alice :Your host is teahouse.local"))
        .await?;
    c.expect_prefix(&format!("{S} 003 alice :This server was created "))
        .await?;
    c.expect_prefix(&format!("{S} 004 alice teahouse.local teahouse-"))
        .await?;
    let mut isupport = String::new();
    isupport.push_str(&c.expect_prefix(&format!("{S} 005 alice ")).await?);
    isupport.push_str(&c.expect_prefix(&format!("{S} 005 alice ")).await?);
    for token in [
        "CASEMAPPING=rfc8265",
        "CHANTYPES=#",
        "CHANMODES=b,k,l,imnst",
        "PREFIX=(ov)@+",
        "NICKLEN=32",
        "CHANNELLEN=50",
        "TOPICLEN=390",
        "NETWORK=teahouse",
        "UTF8ONLY",
        "TARGMAX=PRIVMSG:4",
    ] {
        assert!(isupport.contains(token), "{token} missing from {isupport}");
    }
    c.expect(&format!(
        "{S} 251 alice :There are 1 users and 0 invisible on 1 servers"
    ))
    .await?;
    c.expect(&format!("{S} 254 alice 0 :channels formed"))
        .await?;
    c.expect(&format!("{S} 255 alice :I have 1 clients and 0 servers"))
        .await?;
    c.expect(&format!("{S} 265 alice 1 1 :Current local users 1, max 1"))
        .await?;
    c.expect(&format!("{S} 266 alice 1 1 :Current global users 1, max 1"))
        .await?;
    c.expect(&format!(
        "{S} 375 alice :- teahouse.local Message of the day - "
    ))
    .await?;
    c.expect(&format!("{S} 372 alice :- Welcome!")).await?;
    c.expect(&format!("{S} 372 alice :- Be kind.")).await?;
    c.expect(&format!("{S} 376 alice :End of /MOTD command."))
        .await?;
    c.send("MOTD").await?;
    c.expect_prefix(&format!("{S} 375 alice")).await?;
    c.send("PING :abc").await?;
    c.expect_eventually(&format!("{S} PONG teahouse.local :abc"))
        .await?;
    c.send("LUSERS").await?;
    c.expect_prefix(&format!("{S} 251 alice ")).await?;
    Ok(())
}

#[tokio::test]
async fn cap_negotiation_holds_registration_until_end() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.irc().await?;
    let ls = crate::irc_kit::cap_ls(&mut c).await?.join(" ");
    for cap in [
        "cap-notify",
        "message-tags",
        "server-time",
        "echo-message",
        "multi-prefix",
        "userhost-in-names",
        "away-notify",
        "extended-join",
        "account-tag",
        "account-notify",
        "batch",
        "labeled-response",
        "setname",
        "invite-notify",
    ] {
        assert!(
            ls.split([' ', ':']).any(|c| c == cap),
            "{cap} not offered: {ls}"
        );
    }
    c.send("NICK bob").await?;
    c.send("USER bob 0 * :Bob").await?;
    c.send("CAP REQ :server-time bogus-cap").await?;
    c.expect(&format!("{S} CAP bob NAK :server-time bogus-cap"))
        .await?;
    c.send("CAP REQ :server-time").await?;
    c.expect(&format!("{S} CAP bob ACK :server-time")).await?;
    c.send("CAP LIST").await?;
    c.expect(&format!("{S} CAP bob LIST :cap-notify server-time"))
        .await?;
    c.send("CAP FROB").await?;
    c.expect(&format!("{S} 410 bob FROB :Invalid CAP command"))
        .await?;
    // Nothing of the welcome yet: registration waits for CAP END.
    c.send("CAP END").await?;
    c.expect_prefix(&format!("{S} 001 bob ")).await?;
    Ok(())
}

#[tokio::test]
async fn password_is_required_when_configured() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.irc.password = Some("sesame".into())).await?;
    let mut wrong = server.irc().await?;
    wrong.send("PASS nope").await?;
    wrong.send("NICK x").await?;
    wrong.send("USER x 0 * :x").await?;
    wrong
        .expect(&format!("{S} 464 x :Password incorrect"))
        .await?;
    wrong.expect("ERROR :Closing link: bad password").await?;
    assert!(wrong.expect_closed().await?.is_empty());
    let mut right = server.irc().await?;
    right.send("PASS sesame").await?;
    right.send("NICK y").await?;
    right.send("USER y 0 * :y").await?;
    right.expect_prefix(&format!("{S} 001 y ")).await?;
    right.send("PASS again").await?;
    right
        .expect_eventually(&format!("{S} 462 y :You may not reregister"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn errors_before_and_after_registration() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let _taken = server.irc_login("taken").await?;
    let mut c = server.irc().await?;
    c.send("JOIN #lobby").await?;
    c.expect(&format!("{S} 451 * :You have not registered"))
        .await?;
    c.send("NICK").await?;
    c.expect(&format!("{S} 431 * :No nickname given")).await?;
    c.send("NICK bad!nick").await?;
    c.expect_prefix(&format!("{S} 432 * bad!nick :Erroneous nickname"))
        .await?;
    c.send("NICK 9lives").await?;
    c.expect_prefix(&format!("{S} 432 * 9lives :Erroneous nickname"))
        .await?;
    c.send("NICK TAKEN").await?;
    c.expect(&format!("{S} 433 * TAKEN :Nickname is already in use"))
        .await?;
    c.send("USER u 0 *").await?;
    c.expect(&format!("{S} 461 * USER :Not enough parameters"))
        .await?;
    c.send("NICK carol").await?;
    c.send("USER c 0 * :Carol").await?;
    c.expect_eventually_prefix(&format!("{S} 422 carol"))
        .await?;
    c.send("FROBNICATE x").await?;
    c.expect(&format!("{S} 421 carol FROBNICATE :Unknown command"))
        .await?;
    c.send("JOIN").await?;
    c.expect(&format!("{S} 461 carol JOIN :Not enough parameters"))
        .await?;
    c.send("PRIVMSG nobody :hi").await?;
    c.expect(&format!("{S} 401 carol nobody :No such nick/channel"))
        .await?;
    c.send("PRIVMSG #nowhere :hi").await?;
    c.expect(&format!("{S} 403 carol #nowhere :No such channel"))
        .await?;
    c.send("PRIVMSG carol").await?;
    c.expect(&format!("{S} 412 carol :No text to send")).await?;
    c.send("PRIVMSG").await?;
    c.expect(&format!("{S} 411 carol :No recipient given (PRIVMSG)"))
        .await?;
    c.send("JOIN lobby").await?;
    c.expect(&format!("{S} 403 carol lobby :No such channel"))
        .await?;
    c.send("PART #lobby").await?;
    c.expect(&format!("{S} 403 carol #lobby :No such channel"))
        .await?;
    let mut other = server.irc_login("dave").await?;
    join(&mut other, "dave", "#lobby").await?;
    c.send("PART #lobby").await?;
    c.expect(&format!("{S} 442 carol #lobby :You're not on that channel"))
        .await?;
    c.send("TOPIC #lobby :mine").await?;
    c.expect(&format!("{S} 442 carol #lobby :You're not on that channel"))
        .await?;
    c.send("USER again 0 * :x").await?;
    c.expect(&format!("{S} 462 carol :You may not reregister"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn hostile_lines_get_errors_and_the_connection_stays() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.irc_login("eve").await?;
    let mut bob = server.irc_login("bob").await?;
    // Over 512 bytes (no tags): 417, and the connection carries on.
    c.send(&format!("PRIVMSG bob :{}", "x".repeat(600))).await?;
    c.expect(&format!("{S} 417 eve :Input line was too long"))
        .await?;
    // Far over the frame limit, split across writes.
    c.send_raw(&vec![b'y'; 20_000]).await?;
    c.send_raw(b"\r\n").await?;
    c.expect(&format!("{S} 417 eve :Input line was too long"))
        .await?;
    // A tags section over 4096 bytes.
    c.send(&format!("@+x={} PRIVMSG bob :hi", "a".repeat(5000)))
        .await?;
    c.expect(&format!("{S} 417 eve :Input line was too long"))
        .await?;
    // NUL and a bare CR inside a line.
    c.send_raw(b"PRIVMSG bob :nul\0byte\r\n").await?;
    c.expect_prefix(&format!("{S} 400 eve PRIVMSG :Malformed message"))
        .await?;
    c.send_raw(b"PRIVMSG bob :bare\rcr\r\n").await?;
    c.expect_prefix(&format!("{S} 400 eve PRIVMSG :Malformed message"))
        .await?;
    // Invalid UTF-8.
    c.send_raw(b"PRIVMSG bob :\xff\xfe\r\n").await?;
    c.expect(&format!(
        "{S} FAIL * INVALID_UTF8 :Message rejected: it is not valid UTF-8"
    ))
    .await?;
    // Terminal escapes pass as IRC text (clients render them safely); CTCP passes through.
    c.send("PRIVMSG bob :\u{1}VERSION\u{1}").await?;
    bob.expect(":eve!~eve@127.0.0.1 PRIVMSG bob :\u{1}VERSION\u{1}")
        .await?;
    c.send("PING still-here").await?;
    c.expect(&format!("{S} PONG teahouse.local :still-here"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn notices_external_messages_and_topic_lock() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut op = server.irc_login("op").await?;
    let mut out = server.irc_login("outsider").await?;
    join(&mut op, "op", "#n").await?;
    // +n (the default): no messages from outside; NOTICE errors are never answered.
    out.send("PRIVMSG #n :from outside").await?;
    out.expect(&format!(
        "{S} 404 outsider #n :Cannot send to channel (no external messages)"
    ))
    .await?;
    out.send("NOTICE #n :quiet").await?;
    out.send("NOTICE nobody :quiet").await?;
    out.send("NOTICE op :a notice").await?;
    op.expect(":outsider!~outsider@127.0.0.1 NOTICE op :a notice")
        .await?;
    op.send("MODE #n -n").await?;
    op.expect(":op!~op@127.0.0.1 MODE #n -n").await?;
    out.send("PRIVMSG #n :from outside").await?;
    op.expect(":outsider!~outsider@127.0.0.1 PRIVMSG #n :from outside")
        .await?;
    out.send("NOTICE #n :a channel notice").await?;
    op.expect(":outsider!~outsider@127.0.0.1 NOTICE #n :a channel notice")
        .await?;
    // -t lets any member set the topic.
    join(&mut out, "outsider", "#n").await?;
    op.expect(":outsider!~outsider@127.0.0.1 JOIN #n").await?;
    op.send("MODE #n -t").await?;
    op.expect(":op!~op@127.0.0.1 MODE #n -t").await?;
    out.expect(":op!~op@127.0.0.1 MODE #n -t").await?;
    out.send("TOPIC #n :anyone may").await?;
    op.expect(":outsider!~outsider@127.0.0.1 TOPIC #n :anyone may")
        .await?;
    // No error ever came back for the notices: the next reply is the PONG.
    out.send("PING x").await?;
    out.expect_eventually(&format!("{S} PONG teahouse.local :x"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn escape_sequences_never_reach_other_clients() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut a = server.irc_login("a").await?;
    let mut b = server.irc_login("b").await?;
    join(&mut a, "a", "#e").await?;
    join(&mut b, "b", "#e").await?;
    a.expect(":b!~b@127.0.0.1 JOIN #e").await?;
    b.send("PRIVMSG #e :\u{1b}[2J\u{1b}]0;pwned\u{7}\u{2}bold\u{2} \u{3}4red")
        .await?;
    a.expect(":b!~b@127.0.0.1 PRIVMSG #e :[2J]0;pwned\u{2}bold\u{2} \u{3}4red")
        .await?;
    b.send("AWAY :\u{1b}[5mblink").await?;
    b.expect_eventually_prefix(&format!("{S} 306 b")).await?;
    a.send("WHOIS b").await?;
    a.expect_eventually(&format!("{S} 301 a b :[5mblink"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn garbage_never_hurts_the_server_or_anyone_else() -> anyhow::Result<()> {
    // Flood control off, so that the garbage is all parsed rather than cut short.
    let server = TestServer::start_with(|c| c.irc.flood.enabled = false).await?;
    let mut calm = server.irc_login("calm").await?;
    let mut junk = server.irc_login("junk").await?;
    // A fixed pseudo-random stream of bytes, lines of every shape (no sleeps, deterministic).
    let mut seed: u64 = 0x5eed;
    let mut bytes = Vec::new();
    for _ in 0..20_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let byte = (seed >> 33) as u8;
        bytes.push(if byte.is_multiple_of(17) { b'\n' } else { byte });
    }
    for prefix in [
        &b"@"[..],
        b":",
        b"PRIVMSG ",
        b"MODE #x ",
        b"CAP REQ :",
        b"JOIN ",
    ] {
        bytes.extend_from_slice(prefix);
        bytes.extend_from_within(..200);
        bytes.push(b'\n');
    }
    junk.send_raw(&bytes).await?;
    junk.send("PING survived").await?;
    junk.expect_eventually(&format!("{S} PONG teahouse.local :survived"))
        .await?;
    calm.send("PING calm").await?;
    calm.expect_eventually(&format!("{S} PONG teahouse.local :calm"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn privmsg_to_a_thousand_targets_is_capped() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut a = server.irc_login("a").await?;
    let mut b = server.irc_login("b").await?;
    let mut c = server.irc_login("c").await?;
    let mut targets: Vec<String> = vec!["b".into(), "c".into()];
    targets.extend((0..998).map(|i| format!("n{i}")));
    let line = format!("PRIVMSG {} :hello", targets.join(","));
    // Longer than 512 bytes: refused as a whole.
    a.send(&line).await?;
    a.expect(&format!("{S} 417 a :Input line was too long"))
        .await?;
    // Within the line limit, many targets: the first four are served, the rest dropped.
    let targets: Vec<String> = ["b", "c", "n1", "n2", "n3", "n4", "n5"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.send(&format!("PRIVMSG {} :hello", targets.join(",")))
        .await?;
    a.expect(&format!(
        "{S} 407 a n3 :Too many targets (at most 4); the rest were dropped"
    ))
    .await?;
    b.expect(":a!~a@127.0.0.1 PRIVMSG b :hello").await?;
    c.expect(":a!~a@127.0.0.1 PRIVMSG c :hello").await?;
    a.expect(&format!("{S} 401 a n1 :No such nick/channel"))
        .await?;
    a.expect(&format!("{S} 401 a n2 :No such nick/channel"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn channel_commands_and_numerics() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut op = server.irc_login("op").await?;
    let mut v = server.irc_login("vic").await?;
    let lines = join(&mut op, "op", "#tea,#coffee").await?;
    assert_eq!(untag(&lines[0]), ":op!~op@127.0.0.1 JOIN #tea");
    assert!(lines.contains(&format!("{S} 353 op = #tea :@op")));
    op.expect(":op!~op@127.0.0.1 JOIN #coffee").await?;
    op.expect(&format!("{S} 353 op = #coffee :@op")).await?;
    op.expect(&format!("{S} 366 op #coffee :End of /NAMES list"))
        .await?;
    join(&mut v, "vic", "#tea").await?;
    op.expect(":vic!~vic@127.0.0.1 JOIN #tea").await?;

    // TOPIC: set by op, refused to vic under +t, queried.
    op.send("TOPIC #tea :Oolong").await?;
    op.expect(":op!~op@127.0.0.1 TOPIC #tea :Oolong").await?;
    v.expect(":op!~op@127.0.0.1 TOPIC #tea :Oolong").await?;
    v.send("TOPIC #tea :Puerh").await?;
    v.expect(&format!("{S} 482 vic #tea :You're not channel operator"))
        .await?;
    v.send("TOPIC #tea").await?;
    v.expect(&format!("{S} 332 vic #tea :Oolong")).await?;
    v.expect_prefix(&format!("{S} 333 vic #tea op!~op@127.0.0.1 "))
        .await?;
    v.send("TOPIC #coffee").await?;
    v.expect(&format!("{S} 331 vic #coffee :No topic is set"))
        .await?;

    // NAMES, LIST.
    v.send("NAMES #tea").await?;
    v.expect(&format!("{S} 353 vic = #tea :@op vic")).await?;
    v.expect(&format!("{S} 366 vic #tea :End of /NAMES list"))
        .await?;
    v.send("LIST").await?;
    v.expect(&format!("{S} 321 vic Channel :Users  Name"))
        .await?;
    v.expect(&format!("{S} 322 vic #coffee 1 :")).await?;
    v.expect(&format!("{S} 322 vic #tea 2 :Oolong")).await?;
    v.expect(&format!("{S} 323 vic :End of /LIST")).await?;

    // MODE: query, +m silences vic (404) until +v; unknown mode 472; non-op 482; 441.
    op.send("MODE #tea").await?;
    op.expect(&format!("{S} 324 op #tea +nt")).await?;
    op.expect_prefix(&format!("{S} 329 op #tea ")).await?;
    op.send("MODE #tea +mz").await?;
    op.expect(&format!(
        "{S} 472 op z :is an unknown mode char to me for #tea"
    ))
    .await?;
    op.expect(":op!~op@127.0.0.1 MODE #tea +m").await?;
    v.expect(":op!~op@127.0.0.1 MODE #tea +m").await?;
    v.send("PRIVMSG #tea :can I talk?").await?;
    v.expect(&format!("{S} 404 vic #tea :Cannot send to channel (+m)"))
        .await?;
    v.send("MODE #tea -m").await?;
    v.expect(&format!("{S} 482 vic #tea :You're not channel operator"))
        .await?;
    op.send("MODE #tea +v vic").await?;
    op.expect(":op!~op@127.0.0.1 MODE #tea +v vic").await?;
    v.expect(":op!~op@127.0.0.1 MODE #tea +v vic").await?;
    v.send("PRIVMSG #tea :now I can").await?;
    op.expect(":vic!~vic@127.0.0.1 PRIVMSG #tea :now I can")
        .await?;
    // Nobody of that nick: 401 (441 is for someone who is not in the channel).
    op.send("MODE #tea +o ghost").await?;
    op.expect(&format!("{S} 401 op ghost :No such nick/channel"))
        .await?;
    op.send("MODE #tea -m+o vic").await?;
    op.expect(":op!~op@127.0.0.1 MODE #tea -m+o vic").await?;
    v.expect(":op!~op@127.0.0.1 MODE #tea -m+o vic").await?;
    op.send("MODE #tea -o vic").await?;
    op.expect(":op!~op@127.0.0.1 MODE #tea -o vic").await?;
    v.expect(":op!~op@127.0.0.1 MODE #tea -o vic").await?;

    // +k, +l, +i, +b with their join numerics; INVITE lets one in.
    let mut w = server.irc_login("walt").await?;
    op.send("MODE #tea +kl secret 2").await?;
    op.expect(":op!~op@127.0.0.1 MODE #tea +kl secret 2")
        .await?;
    v.expect(":op!~op@127.0.0.1 MODE #tea +kl secret 2").await?;
    w.send("JOIN #tea").await?;
    w.expect(&format!("{S} 475 walt #tea :Cannot join channel (+k)"))
        .await?;
    w.send("JOIN #tea wrong").await?;
    w.expect(&format!("{S} 475 walt #tea :Cannot join channel (+k)"))
        .await?;
    w.send("JOIN #tea secret").await?;
    w.expect(&format!("{S} 471 walt #tea :Cannot join channel (+l)"))
        .await?;
    op.send("MODE #tea -kl+i secret").await?;
    op.expect(":op!~op@127.0.0.1 MODE #tea -kl+i secret")
        .await?;
    v.expect(":op!~op@127.0.0.1 MODE #tea -kl+i secret").await?;
    w.send("JOIN #tea").await?;
    w.expect(&format!("{S} 473 walt #tea :Cannot join channel (+i)"))
        .await?;
    v.send("INVITE walt #tea").await?;
    v.expect(&format!("{S} 482 vic #tea :You're not channel operator"))
        .await?;
    op.send("INVITE vic #tea").await?;
    op.expect(&format!("{S} 443 op vic #tea :is already on channel"))
        .await?;
    op.send("INVITE nobody #tea").await?;
    op.expect(&format!("{S} 401 op nobody :No such nick/channel"))
        .await?;
    op.send("INVITE walt #tea").await?;
    op.expect(&format!("{S} 341 op walt #tea")).await?;
    w.expect(":op!~op@127.0.0.1 INVITE walt #tea").await?;
    join(&mut w, "walt", "#tea").await?;
    op.expect(":walt!~walt@127.0.0.1 JOIN #tea").await?;
    v.expect(":walt!~walt@127.0.0.1 JOIN #tea").await?;

    // KICK.
    v.send("KICK #tea walt").await?;
    v.expect(&format!("{S} 482 vic #tea :You're not channel operator"))
        .await?;
    op.send("KICK #tea walt :out you go").await?;
    for c in [&mut op, &mut v, &mut w] {
        c.expect(":op!~op@127.0.0.1 KICK #tea walt :out you go")
            .await?;
    }
    op.send("KICK #tea walt").await?;
    op.expect(&format!(
        "{S} 441 op walt #tea :They aren't on that channel"
    ))
    .await?;

    // Bans: list, and a banned user cannot join.
    op.send("MODE #tea -i+b walt").await?;
    op.expect(":op!~op@127.0.0.1 MODE #tea -i+b walt!*@*")
        .await?;
    v.expect(":op!~op@127.0.0.1 MODE #tea -i+b walt!*@*")
        .await?;
    op.send("MODE #tea +b").await?;
    op.expect_prefix(&format!("{S} 367 op #tea walt!*@* op "))
        .await?;
    op.expect(&format!("{S} 368 op #tea :End of channel ban list"))
        .await?;
    w.send("JOIN #tea").await?;
    w.expect(&format!("{S} 474 walt #tea :Cannot join channel (+b)"))
        .await?;

    // PART with a reason, JOIN 0.
    v.send("PART #tea :brb").await?;
    v.expect(":vic!~vic@127.0.0.1 PART #tea :brb").await?;
    op.expect(":vic!~vic@127.0.0.1 PART #tea :brb").await?;
    op.send("JOIN 0").await?;
    let a = op.line().await?;
    let b = op.line().await?;
    let mut parts = vec![a, b];
    parts.sort();
    assert_eq!(
        parts,
        vec![
            ":op!~op@127.0.0.1 PART #coffee",
            ":op!~op@127.0.0.1 PART #tea"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn user_queries_away_and_user_modes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut a = server.irc_login("ann").await?;
    let mut b = server.irc_login("ben").await?;
    join(&mut a, "ann", "#x").await?;
    join(&mut b, "ben", "#x").await?;
    a.expect(":ben!~ben@127.0.0.1 JOIN #x").await?;

    a.send("WHOIS ben").await?;
    a.expect(&format!("{S} 311 ann ben ~ben 127.0.0.1 * :ben Real"))
        .await?;
    a.expect(&format!("{S} 319 ann ben :#x")).await?;
    a.expect(&format!("{S} 312 ann ben teahouse.local :teahouse"))
        .await?;
    a.expect_prefix(&format!("{S} 317 ann ben ")).await?;
    a.expect(&format!("{S} 318 ann ben :End of /WHOIS list"))
        .await?;
    a.send("WHOIS nobody").await?;
    a.expect(&format!("{S} 401 ann nobody :No such nick/channel"))
        .await?;
    a.expect(&format!("{S} 318 ann nobody :End of /WHOIS list"))
        .await?;

    a.send("WHO #x").await?;
    a.expect(&format!(
        "{S} 352 ann #x ~ann 127.0.0.1 teahouse.local ann H@ :0 ann Real"
    ))
    .await?;
    a.expect(&format!(
        "{S} 352 ann #x ~ben 127.0.0.1 teahouse.local ben H :0 ben Real"
    ))
    .await?;
    a.expect(&format!("{S} 315 ann #x :End of /WHO list"))
        .await?;
    a.send("WHO b*").await?;
    a.expect(&format!(
        "{S} 352 ann #x ~ben 127.0.0.1 teahouse.local ben H :0 ben Real"
    ))
    .await?;
    a.expect(&format!("{S} 315 ann b* :End of /WHO list"))
        .await?;

    b.send("AWAY :out for tea").await?;
    b.expect(&format!("{S} 306 ben :You have been marked as being away"))
        .await?;
    a.send("PRIVMSG ben :you there?").await?;
    a.expect(&format!("{S} 301 ann ben :out for tea")).await?;
    b.expect(":ann!~ann@127.0.0.1 PRIVMSG ben :you there?")
        .await?;
    a.send("USERHOST ben ann nobody").await?;
    a.expect(&format!(
        "{S} 302 ann :ben=-~ben@127.0.0.1 ann=+~ann@127.0.0.1"
    ))
    .await?;
    b.send("AWAY").await?;
    b.expect(&format!(
        "{S} 305 ben :You are no longer marked as being away"
    ))
    .await?;
    a.send("ISON ben nobody ANN").await?;
    a.expect(&format!("{S} 303 ann :ben ann")).await?;

    a.send("MODE ann").await?;
    a.expect(&format!("{S} 221 ann :+")).await?;
    a.send("MODE ann +i").await?;
    a.expect(":ann MODE ann :+i").await?;
    a.send("MODE ann +x").await?;
    a.expect(&format!("{S} 501 ann :Unknown MODE flag")).await?;
    a.send("MODE ben +i").await?;
    a.expect(&format!("{S} 502 ann :Can't change mode for other users"))
        .await?;

    a.send("VERSION").await?;
    a.expect_prefix(&format!("{S} 351 ann teahouse-")).await?;
    a.expect_prefix(&format!("{S} 005 ann ")).await?;
    a.expect_prefix(&format!("{S} 005 ann ")).await?;
    a.send("TIME").await?;
    a.expect_prefix(&format!("{S} 391 ann teahouse.local :20"))
        .await?;

    b.send("NICK benjamin").await?;
    b.expect(":ben!~ben@127.0.0.1 NICK :benjamin").await?;
    a.expect(":ben!~ben@127.0.0.1 NICK :benjamin").await?;
    b.send("QUIT :gone").await?;
    b.expect("ERROR :Closing link: 127.0.0.1 (Quit: gone)")
        .await?;
    assert!(b.expect_closed().await?.is_empty());
    a.expect(":benjamin!~ben@127.0.0.1 QUIT :Quit: gone")
        .await?;
    a.send("WHOWAS benjamin").await?;
    a.expect(&format!("{S} 314 ann benjamin ~ben 127.0.0.1 * :ben Real"))
        .await?;
    a.expect_prefix(&format!("{S} 312 ann benjamin teahouse.local "))
        .await?;
    a.expect(&format!("{S} 369 ann benjamin :End of WHOWAS"))
        .await?;
    a.send("WHOWAS nobody").await?;
    a.expect(&format!("{S} 406 ann nobody :There was no such nickname"))
        .await?;
    a.expect(&format!("{S} 369 ann nobody :End of WHOWAS"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn ircv3_capabilities_change_what_is_sent() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut rich = reg(
        &server,
        "rich",
        &[
            "server-time",
            "message-tags",
            "echo-message",
            "multi-prefix",
            "userhost-in-names",
            "away-notify",
            "extended-join",
            "batch",
            "labeled-response",
            "setname",
            "invite-notify",
            "account-tag",
            "account-notify",
        ],
    )
    .await?;
    let mut plain = server.irc_login("plain").await?;
    let lines = join(&mut rich, "rich", "#v3").await?;
    assert!(lines[0].starts_with("@time="), "{}", lines[0]);
    assert!(
        lines[0].ends_with(" :rich!~rich@127.0.0.1 JOIN #v3 * :rich Real"),
        "{}",
        lines[0]
    );
    assert!(lines.contains(&format!("{S} 353 rich = #v3 :@rich!~rich@127.0.0.1")));

    // extended-join and server-time on someone else's join.
    join(&mut plain, "plain", "#v3").await?;
    let j = rich.line().await?;
    assert!(
        j.starts_with("@time=") && j.ends_with(":plain!~plain@127.0.0.1 JOIN #v3 * :plain Real"),
        "{j}"
    );

    // multi-prefix: @+ for an op with voice.
    rich.send("MODE #v3 +v rich").await?;
    let mode = rich.line().await?;
    assert!(
        mode.ends_with(" :rich!~rich@127.0.0.1 MODE #v3 +v rich"),
        "{mode}"
    );
    plain
        .expect(":rich!~rich@127.0.0.1 MODE #v3 +v rich")
        .await?;
    rich.send("NAMES #v3").await?;
    rich.expect(&format!(
        "{S} 353 rich = #v3 :plain!~plain@127.0.0.1 @+rich!~rich@127.0.0.1"
    ))
    .await?;
    rich.expect_prefix(&format!("{S} 366 rich #v3")).await?;
    plain.send("NAMES #v3").await?;
    plain
        .expect(&format!("{S} 353 plain = #v3 :plain @rich"))
        .await?;
    plain.expect_prefix(&format!("{S} 366 plain #v3")).await?;

    // echo-message with a label: the echo carries the label, msgid and time.
    rich.send("@label=L1 PRIVMSG #v3 :hello").await?;
    let echo = rich.line().await?;
    assert!(echo.starts_with("@label=L1;time="), "{echo}");
    assert!(
        echo.contains(";msgid=") && echo.ends_with(" :rich!~rich@127.0.0.1 PRIVMSG #v3 :hello"),
        "{echo}"
    );
    plain
        .expect(":rich!~rich@127.0.0.1 PRIVMSG #v3 :hello")
        .await?;
    // message-tags and server-time on received messages.
    plain.send("PRIVMSG #v3 :hi rich").await?;
    let got = rich.line().await?;
    assert!(
        got.starts_with("@time=") && got.contains(";msgid="),
        "{got}"
    );
    assert!(
        got.ends_with(" :plain!~plain@127.0.0.1 PRIVMSG #v3 :hi rich"),
        "{got}"
    );

    // Client-only tags: relayed to message-tags clients only; TAGMSG likewise.
    let mut tagged = reg(&server, "tagged", &["message-tags"]).await?;
    join(&mut tagged, "tagged", "#v3").await?;
    rich.line().await?;
    plain.expect(":tagged!~tagged@127.0.0.1 JOIN #v3").await?;
    rich.send("@+draft/react=tea\\sleaf;+x PRIVMSG #v3 :with tags")
        .await?;
    let echo = rich.line().await?;
    assert!(
        echo.starts_with("@+draft/react=tea\\sleaf;+x;time="),
        "{echo}"
    );
    let got = tagged.line().await?;
    assert!(
        got.starts_with("@+draft/react=tea\\sleaf;+x;msgid="),
        "{got}"
    );
    assert!(
        got.ends_with(" :rich!~rich@127.0.0.1 PRIVMSG #v3 :with tags"),
        "{got}"
    );
    plain
        .expect(":rich!~rich@127.0.0.1 PRIVMSG #v3 :with tags")
        .await?;
    tagged.send("@+typing=active TAGMSG #v3").await?;
    let typing = rich.line().await?;
    assert!(typing.starts_with("@+typing=active;time="), "{typing}");
    assert!(
        typing.ends_with(" :tagged!~tagged@127.0.0.1 TAGMSG #v3"),
        "{typing}"
    );
    tagged.send("TAGMSG #v3").await?;

    // labeled-response: one reply tagged, several in a batch, none as ACK.
    rich.send("@label=L2 PING x").await?;
    rich.expect(&format!("@label=L2 {S} PONG teahouse.local :x"))
        .await?;
    rich.send("@label=L3 WHO #v3").await?;
    let start = rich.line().await?;
    assert_eq!(start, format!("@label=L3 {S} BATCH +lr1 labeled-response"));
    for _member in ["plain", "rich", "tagged"] {
        rich.expect_prefix(&format!("@batch=lr1 {S} 352 rich #v3 "))
            .await?;
    }
    rich.expect(&format!("@batch=lr1 {S} 315 rich #v3 :End of /WHO list"))
        .await?;
    rich.expect(&format!("{S} BATCH -lr1")).await?;
    rich.send("@label=L4 PONG x").await?;
    rich.expect(&format!("@label=L4 {S} ACK")).await?;

    // away-notify: rich hears plain go away; plain (no cap) does not hear rich.
    plain.send("AWAY :brb").await?;
    plain
        .expect(&format!(
            "{S} 306 plain :You have been marked as being away"
        ))
        .await?;
    let away = rich.line().await?;
    assert!(
        away.ends_with(" :plain!~plain@127.0.0.1 AWAY :brb"),
        "{away}"
    );
    rich.send("AWAY :me too").await?;
    rich.expect_eventually_prefix(&format!("{S} 306 rich"))
        .await?;

    // setname.
    rich.send("SETNAME :Richard Roe").await?;
    let set = rich.line().await?;
    assert!(
        set.ends_with(" :rich!~rich@127.0.0.1 SETNAME :Richard Roe"),
        "{set}"
    );

    // invite-notify: the op (rich) sees an invitation another member makes.
    let mut guest = server.irc_login("guest").await?;
    plain.send("INVITE guest #v3").await?;
    plain.expect(&format!("{S} 341 plain guest #v3")).await?;
    guest
        .expect(":plain!~plain@127.0.0.1 INVITE guest #v3")
        .await?;
    let seen = rich.line().await?;
    assert!(
        seen.ends_with(" :plain!~plain@127.0.0.1 INVITE guest #v3"),
        "{seen}"
    );

    // The plain client never saw a tag, an AWAY or a SETNAME.
    plain.send("PING end").await?;
    let rest = plain
        .expect_eventually(&format!("{S} PONG teahouse.local :end"))
        .await?;
    assert!(
        rest.iter()
            .all(|l| !l.starts_with('@') && !l.contains(" AWAY ") && !l.contains("SETNAME")),
        "{rest:?}"
    );
    Ok(())
}

#[tokio::test]
async fn idle_clients_are_pinged_and_stalled_ones_time_out() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.irc.ping_interval = Duration::from_millis(300);
        c.irc.ping_timeout = Duration::from_millis(300);
    })
    .await?;
    let mut live = server.irc_login("live").await?;
    let mut stalled = server.irc_login("stalled").await?;
    join(&mut live, "live", "#p").await?;
    join(&mut stalled, "stalled", "#p").await?;
    live.expect(":stalled!~stalled@127.0.0.1 JOIN #p").await?;
    // Half a line, then nothing: a partial line is not a sign of life.
    stalled.send_raw(b"PRIVMSG #p :half a li").await?;
    live.expect("PING :teahouse.local").await?;
    live.send("PONG :teahouse.local").await?;
    stalled.expect("PING :teahouse.local").await?;
    stalled
        .expect("ERROR :Closing link: Ping timeout: 300ms")
        .await?;
    assert!(stalled.expect_closed().await?.is_empty());
    live.expect_eventually(":stalled!~stalled@127.0.0.1 QUIT :Ping timeout")
        .await?;
    Ok(())
}

#[tokio::test]
async fn registration_times_out() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|c| c.irc.registration_timeout = Duration::from_millis(300)).await?;
    let mut c = server.irc().await?;
    c.send("NICK slowpoke").await?;
    c.expect("ERROR :Closing link: registration timed out")
        .await?;
    assert!(c.expect_closed().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn flooding_is_slowed_then_cut_off_without_hurting_others() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.irc.flood.burst = 5;
        c.irc.flood.lines_per_second = 50.0;
        c.irc.flood.recvq_bytes = std::num::NonZeroUsize::new(2048).expect("not zero");
    })
    .await?;
    let mut calm = server.irc_login("calm").await?;
    let mut fast = server.irc_login("fast").await?;
    // Twenty lines at once: past the burst they are delayed, not lost, and stay in order.
    let burst: String = (0..20).map(|i| format!("PRIVMSG calm :{i}\r\n")).collect();
    fast.send_raw(burst.as_bytes()).await?;
    for i in 0..20 {
        calm.expect(&format!(":fast!~fast@127.0.0.1 PRIVMSG calm :{i}"))
            .await?;
    }
    // A sustained flood: cut off with Excess Flood.
    let mut flooder = server.irc_login("flooder").await?;
    join(&mut calm, "calm", "#f").await?;
    join(&mut flooder, "flooder", "#f").await?;
    calm.expect(":flooder!~flooder@127.0.0.1 JOIN #f").await?;
    let flood: String = (0..2000)
        .map(|i| format!("PRIVMSG calm :flood {i}\r\n"))
        .collect();
    flooder.send_raw(flood.as_bytes()).await?;
    let rest = flooder.expect_closed().await?;
    assert!(
        rest.iter().any(|l| l == "ERROR :Excess Flood"),
        "{:?}",
        rest.last()
    );
    let seen = calm
        .expect_eventually(":flooder!~flooder@127.0.0.1 QUIT :Quit: Excess Flood")
        .await?;
    assert!(
        seen.len() < 2000,
        "the flood was cut short, {} lines got through",
        seen.len()
    );
    // Everyone else carries on.
    fast.send("PRIVMSG calm :still fine").await?;
    calm.expect(":fast!~fast@127.0.0.1 PRIVMSG calm :still fine")
        .await?;
    Ok(())
}

#[tokio::test]
async fn slow_irc_reader_is_cut_with_sendq_exceeded() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.connection.sendq_bytes = std::num::NonZeroUsize::new(64 * 1024).expect("not zero");
        c.irc.flood.enabled = false;
    })
    .await?;
    let mut talker = server.irc_login("talker").await?;
    let mut reader = server.irc_login("reader").await?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut slow = TextClient::from_stream(socket.connect(server.irc_addr).await?);
    slow.send("NICK slow").await?;
    slow.send("USER slow 0 * :slow").await?;
    slow.expect_eventually_prefix(&format!("{S} 422 slow"))
        .await?;
    for c in [&mut talker, &mut reader] {
        c.send("JOIN #big").await?;
    }
    slow.send("JOIN #big").await?;
    slow.expect_eventually_prefix(&format!("{S} 366 slow #big"))
        .await?;
    reader
        .expect_eventually(":slow!~slow@127.0.0.1 JOIN #big")
        .await?;
    crate::irc_kit::flood_past_a_slow_reader(talker, &mut reader, 12_000).await?;
    Ok(())
}

#[tokio::test]
async fn shutdown_sends_error_to_irc_clients() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut a = server.irc_login("a").await?;
    server.stop().await?;
    assert_eq!(
        a.expect_closed().await?,
        vec!["ERROR :Server shutting down".to_owned()]
    );
    Ok(())
}
