//! What the IRC tests share: a registered client with capabilities, joining, and reading
//! lines with or without their tags.

use teahouse_testkit::{TestServer, TextClient};

/// The server's source prefix.
pub(crate) const S: &str = ":teahouse.local";

/// A client registered as `nick` that asked for the capabilities `caps` (space-separated,
/// as in `CAP REQ`; none: a plain registration), with its welcome burst read.
pub(crate) async fn reg(server: &TestServer, nick: &str, caps: &str) -> anyhow::Result<TextClient> {
    if caps.is_empty() {
        return server.irc_login(nick).await;
    }
    let mut c = server.irc().await?;
    c.send(&format!("CAP REQ :{caps}")).await?;
    c.send(&format!("NICK {nick}")).await?;
    c.send(&format!("USER {nick} 0 * :{nick}")).await?;
    c.expect(&format!("{S} CAP * ACK :{caps}")).await?;
    c.send("CAP END").await?;
    c.expect_eventually_prefix(&format!("{S} 422 {nick} "))
        .await?;
    Ok(c)
}

/// Sends `CAP LS 302` and reads its reply, over as many lines as it takes: each capability,
/// with its value if it has one.
pub(crate) async fn cap_ls(c: &mut TextClient) -> anyhow::Result<Vec<String>> {
    c.send("CAP LS 302").await?;
    let mut caps: Vec<String> = Vec::new();
    loop {
        let line = c.line().await?;
        let rest = line
            .strip_prefix(&format!("{S} CAP * LS "))
            .ok_or_else(|| anyhow::anyhow!("not CAP LS: {line}"))?;
        let (is_more, list) = match rest.strip_prefix("* :") {
            Some(list) => (true, list),
            None => (false, rest.trim_start_matches(':')),
        };
        anyhow::ensure!(line.len() <= 510, "over-long: {line}");
        caps.extend(list.split(' ').map(str::to_owned));
        if !is_more {
            return Ok(caps);
        }
    }
}

/// Joins `chan` and reads through the end of its NAMES.
pub(crate) async fn join(c: &mut TextClient, nick: &str, chan: &str) -> anyhow::Result<()> {
    c.send(&format!("JOIN {chan}")).await?;
    c.expect_eventually_prefix(&format!("{S} 366 {nick} {chan} "))
        .await?;
    Ok(())
}

/// Sends `PING token` and returns every line that came before its PONG: what the server
/// had sent this client by then.
pub(crate) async fn until_pong(c: &mut TextClient, token: &str) -> anyhow::Result<Vec<String>> {
    c.send(&format!("PING {token}")).await?;
    let mut lines = Vec::new();
    loop {
        let line = c.line().await?;
        if untag(&line) == format!("{S} PONG teahouse.local :{token}") {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// The line without its tags section.
pub(crate) fn untag(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, l)| l),
        None => line,
    }
}

/// The value of tag `key` in a tagged line (`Some("")` for a tag without a value).
pub(crate) fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let tags = line.strip_prefix('@')?.split_once(' ')?.0;
    tags.split(';').find_map(|t| match t.split_once('=') {
        Some((k, v)) if k == key => Some(v),
        None if t == key => Some(""),
        _ => None,
    })
}

/// The next line, tags removed, must be `expected`; returns the whole line.
pub(crate) async fn expect_untagged(c: &mut TextClient, expected: &str) -> anyhow::Result<String> {
    let line = c.line().await?;
    anyhow::ensure!(
        untag(&line) == expected,
        "expected {expected:?}, got {line:?}"
    );
    Ok(line)
}

/// `talker` says `count` numbered 400-byte lines into `#big` while `slow` (a member that
/// reads nothing) falls behind: `reader` must get every line, in order, and see `slow` cut
/// off with `SendQ exceeded`, wherever among them. Gives `talker` back.
pub(crate) async fn flood_past_a_slow_reader(
    mut talker: TextClient,
    reader: &mut TextClient,
    count: usize,
) -> anyhow::Result<TextClient> {
    const CUT: &str = ":slow!~slow@127.0.0.1 QUIT :SendQ exceeded";
    let payload = "z".repeat(400);
    let sender = tokio::spawn(async move {
        for i in 0..count {
            talker.send(&format!("PRIVMSG #big :{i} {payload}")).await?;
        }
        anyhow::Ok(talker)
    });
    let mut next = 0;
    let mut saw_cut = false;
    while next < count {
        let line = reader.line().await?;
        if line == CUT {
            saw_cut = true;
            continue;
        }
        let expected = format!(":talker!~talker@127.0.0.1 PRIVMSG #big :{next} ");
        anyhow::ensure!(
            line.starts_with(&expected),
            "expected {expected}…, got {line}"
        );
        next += 1;
    }
    let talker = sender.await??;
    if !saw_cut {
        reader.expect(CUT).await?;
    }
    Ok(talker)
}
