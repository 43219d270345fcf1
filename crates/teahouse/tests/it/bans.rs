//! Server bans with the real binary and a real data directory: a K-lined mask and a
//! D-lined address are refused on both faces, the matching user is disconnected at once,
//! and the bans outlive a restart until lifted.

use anyhow::Context as _;
use teahouse_testkit::TextClient;
use teahouse_testkit::teahouse_server::{Config, admin};
use tokio::net::TcpSocket;

use crate::tls::Served;

const S: &str = ":teahouse.local";

/// A text connection from `source` (another loopback address) to `to`.
async fn connect_from(source: &str, to: std::net::SocketAddr) -> anyhow::Result<TextClient> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse()?)?;
    Ok(TextClient::from_stream(socket.connect(to).await?))
}

async fn text_login(addr: std::net::SocketAddr, nick: &str) -> anyhow::Result<TextClient> {
    let mut c = TextClient::connect(addr).await?;
    c.expect("Enter a nickname:").await?;
    c.send(nick).await?;
    c.expect(&format!("Nickname set: {nick}")).await?;
    Ok(c)
}

async fn irc_oper(addr: std::net::SocketAddr) -> anyhow::Result<TextClient> {
    let mut op = TextClient::connect(addr).await?;
    op.send("NICK op").await?;
    op.send("USER op 0 * :Op").await?;
    op.expect_eventually_prefix(&format!("{S} 422 op ")).await?;
    op.send("OPER admin :open sesame").await?;
    op.expect(&format!("{S} 381 op :You are now an IRC operator"))
        .await?;
    op.expect(":op MODE op :+o").await?;
    Ok(op)
}

#[tokio::test]
async fn issue_14_klines_and_dlines_refuse_on_both_faces_and_survive_a_restart()
-> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("teahouse-bans-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let hash = admin::hash_password(&Config::default(), "open sesame")?;
    let config = dir.join("teahouse.toml");
    std::fs::write(
        &config,
        format!("[[operators]]\nname = \"admin\"\npassword_hash = \"{hash}\"\n"),
    )?;
    let data = dir.join("data");
    let (config, data) = (
        config.to_string_lossy().into_owned(),
        data.to_string_lossy().into_owned(),
    );
    let args = ["--config", config.as_str(), "--data-dir", data.as_str()];
    let served = Served::with(&args, &["irc", "text"]).await?;
    let (text, irc) = (served.addr("text"), served.addr("irc"));

    let mut mallory = text_login(text, "mallory").await?;
    let mut bob = text_login(text, "bob").await?;
    mallory.expect_eventually("* bob entered the room").await?;
    let mut op = irc_oper(irc).await?;
    // Only operators ban.
    bob.send("/kill mallory").await?;
    bob.expect_eventually("! Only server operators may do that")
        .await?;

    op.send("KLINE 10m mallory!*@* :spamming the room").await?;
    op.expect(&format!(
        "{S} NOTICE op :Added ban on mallory!*@* for 10m: spamming the room (1 disconnected)"
    ))
    .await?;
    // The matching user goes at once, and the room is told.
    let rest = mallory.expect_closed().await?;
    assert!(
        rest.iter().any(|l| l.contains("Banned: spamming the room")),
        "{rest:?}"
    );
    bob.expect_eventually_prefix("* mallory left the room")
        .await?;
    // Coming back as mallory is refused on both faces.
    let mut again = TextClient::connect(text).await?;
    again.expect("Enter a nickname:").await?;
    again.send("mallory").await?;
    again
        .expect_eventually("! You are banned from this server: spamming the room")
        .await?;
    again.expect_closed().await?;
    let mut irc_again = TextClient::connect(irc).await?;
    irc_again.send("NICK mallory").await?;
    irc_again.send("USER m 0 * :M").await?;
    irc_again
        .expect_eventually("ERROR :Closing link: Banned (spamming the room)")
        .await?;

    // An address: refused at once, before any prompt.
    op.send("DLINE 127.0.0.2 :that machine").await?;
    op.expect(&format!(
        "{S} NOTICE op :Added ban on 127.0.0.2 until lifted: that machine (0 disconnected)"
    ))
    .await?;
    let mut from_two = connect_from("127.0.0.2", text).await?;
    from_two
        .expect("! You are banned from this server: that machine")
        .await?;
    assert!(from_two.expect_closed().await?.is_empty());
    // A bad mask is refused with the reason.
    op.send("KLINE *!*@*").await?;
    let line = op.line().await?;
    assert!(
        line.starts_with(&format!("{S} FAIL KLINE INVALID_PARAMS :")),
        "{line}"
    );

    // After a restart, both bans still hold.
    drop(op);
    served.stop().await?;
    let served = Served::with(&args, &["irc", "text"]).await?;
    let (text, irc) = (served.addr("text"), served.addr("irc"));
    let mut after = TextClient::connect(text).await?;
    after.expect("Enter a nickname:").await?;
    after.send("mallory").await?;
    after
        .expect_eventually("! You are banned from this server: spamming the room")
        .await?;
    let mut from_two = connect_from("127.0.0.2", irc).await?;
    from_two
        .expect("ERROR :Closing link: Banned (that machine)")
        .await?;
    // Lifted, mallory may come back; the text face's operator can kill too.
    let mut op = irc_oper(irc).await?;
    // Operators can list them.
    op.send("STATS k").await?;
    let line = op.line().await?;
    assert!(
        line.starts_with(&format!("{S} 216 op K mallory!*@* "))
            && line.ends_with(":spamming the room (set by admin)"),
        "{line}"
    );
    op.expect(&format!("{S} 219 op k :End of /STATS report"))
        .await?;
    op.send("STATS d").await?;
    op.expect(&format!(
        "{S} 225 op D 127.0.0.2 permanent :that machine (set by admin)"
    ))
    .await?;
    op.expect(&format!("{S} 219 op d :End of /STATS report"))
        .await?;
    op.send("UNKLINE mallory!*@*").await?;
    op.expect(&format!("{S} NOTICE op :Removed ban on mallory!*@*"))
        .await?;
    let mut mallory = text_login(text, "mallory").await?;
    let mut carol = text_login(text, "carol").await?;
    carol.send("/oper admin open sesame").await?;
    carol
        .expect_eventually("* You are now a server operator")
        .await?;
    carol.send("/kill mallory enough").await?;
    carol
        .expect_eventually("* mallory was disconnected")
        .await?;
    let rest = mallory.expect_closed().await?;
    assert!(rest.iter().any(|l| l.contains("enough")), "{rest:?}");
    let _ = std::fs::remove_dir_all(&dir).context("cleaning up");
    Ok(())
}
