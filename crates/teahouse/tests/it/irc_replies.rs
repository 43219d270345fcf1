//! Replies to the letter: the numerics of registration, channel modes, LIST, NAMES, WHO,
//! WHOIS and LUSERS, as modern IRC documents them.

use teahouse_testkit::TestServer;

use crate::irc_kit::{S, join, reg, until_pong};

/// `USER` with an empty real name is a missing parameter.
#[tokio::test]
async fn user_with_an_empty_realname_is_461() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.irc().await?;
    c.send("NICK eve").await?;
    c.send("USER eve 0 * :").await?;
    c.expect(&format!("{S} 461 eve USER :Not enough parameters"))
        .await?;
    c.send("USER eve 0 * : ").await?;
    c.expect(&format!("{S} 461 eve USER :Not enough parameters"))
        .await?;
    c.send("USER eve 0 * :Eve E").await?;
    c.expect_prefix(&format!("{S} 001 eve ")).await?;
    Ok(())
}

/// Channel modes: `+o` for a nick nobody has is 401 (441 for someone outside the
/// channel); a key that is empty, blank or has a space is refused (525); a limit may be
/// lowered below the member count, and then keeps newcomers out.
#[tokio::test]
async fn channel_mode_arguments_are_checked_as_documented() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut op = reg(&server, "op", "").await?;
    let mut bob = reg(&server, "bob", "").await?;
    let mut out = reg(&server, "out", "").await?;
    join(&mut op, "op", "#c").await?;
    join(&mut bob, "bob", "#c").await?;
    op.expect(":bob!~bob@127.0.0.1 JOIN #c").await?;

    op.send("MODE #c +o nobody").await?;
    op.expect(&format!("{S} 401 op nobody :No such nick/channel"))
        .await?;
    op.send("MODE #c +o out").await?;
    op.expect(&format!("{S} 441 op out #c :They aren't on that channel"))
        .await?;
    for key in [":", ": ", ":a b", ":a,b"] {
        op.send(&format!("MODE #c +k {key}")).await?;
        op.expect(&format!("{S} 525 op #c :Key is not well-formed"))
            .await?;
    }
    op.send("MODE #c").await?;
    op.expect(&format!("{S} 324 op #c +nt")).await?;
    op.expect_prefix(&format!("{S} 329 op #c ")).await?;
    op.send("MODE #c +k tea").await?;
    op.expect(":op!~op@127.0.0.1 MODE #c +k tea").await?;

    op.send("MODE #c +l 1").await?;
    op.expect(":op!~op@127.0.0.1 MODE #c +l 1").await?;
    bob.expect(":op!~op@127.0.0.1 MODE #c +k tea").await?;
    bob.expect(":op!~op@127.0.0.1 MODE #c +l 1").await?;
    out.send("JOIN #c tea").await?;
    out.expect(&format!("{S} 471 out #c :Cannot join channel (+l)"))
        .await?;
    Ok(())
}

/// A secret channel (`+s`) is listed to its members only, marked `@` in their NAMES, and
/// absent from outsiders' NAMES, WHO and WHOIS.
#[tokio::test]
async fn a_secret_channel_is_seen_only_by_its_members() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut op = reg(&server, "op", "").await?;
    let mut out = reg(&server, "out", "").await?;
    join(&mut op, "op", "#hidden").await?;
    join(&mut op, "op", "#open").await?;
    op.send("MODE #hidden +s").await?;
    op.expect(":op!~op@127.0.0.1 MODE #hidden +s").await?;
    op.send("MODE #hidden").await?;
    op.expect(&format!("{S} 324 op #hidden +nst")).await?;
    op.expect_prefix(&format!("{S} 329 op #hidden ")).await?;

    op.send("LIST").await?;
    op.expect(&format!("{S} 321 op Channel :Users  Name"))
        .await?;
    op.expect(&format!("{S} 322 op #hidden 1 :")).await?;
    op.expect(&format!("{S} 322 op #open 1 :")).await?;
    op.expect(&format!("{S} 323 op :End of /LIST")).await?;
    out.send("LIST").await?;
    out.expect(&format!("{S} 321 out Channel :Users  Name"))
        .await?;
    out.expect(&format!("{S} 322 out #open 1 :")).await?;
    out.expect(&format!("{S} 323 out :End of /LIST")).await?;

    op.send("NAMES #hidden").await?;
    op.expect(&format!("{S} 353 op @ #hidden :@op")).await?;
    op.expect(&format!("{S} 366 op #hidden :End of /NAMES list"))
        .await?;
    out.send("NAMES #hidden").await?;
    out.expect(&format!("{S} 366 out #hidden :End of /NAMES list"))
        .await?;
    out.send("WHO #hidden").await?;
    out.expect(&format!("{S} 315 out #hidden :End of /WHO list"))
        .await?;
    out.send("WHOIS op").await?;
    out.expect_prefix(&format!("{S} 311 out op ")).await?;
    out.expect(&format!("{S} 319 out op :@#open")).await?;
    op.send("WHOIS op").await?;
    op.expect_prefix(&format!("{S} 311 op op ")).await?;
    let channels = op.line().await?;
    assert!(
        channels == format!("{S} 319 op op :@#hidden @#open")
            || channels == format!("{S} 319 op op :@#open @#hidden"),
        "{channels}"
    );
    Ok(())
}

/// LUSERS counts a connection that has a nick but has not finished registering as an
/// unknown connection, not a user, and counts invisible users apart.
#[tokio::test]
async fn lusers_counts_unregistered_and_invisible_users() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "").await?;
    let mut bob = reg(&server, "bob", "").await?;
    let mut half = server.irc().await?;
    half.send("NICK half").await?;
    // Its NICK is taken once it is answered: a PING after it is answered after it.
    half.send("PING h").await?;
    half.expect(&format!("{S} PONG teahouse.local :h")).await?;
    bob.send("MODE bob +i").await?;
    bob.expect(":bob MODE bob :+i").await?;
    alice.send("LUSERS").await?;
    alice
        .expect(&format!(
            "{S} 251 alice :There are 1 users and 1 invisible on 1 servers"
        ))
        .await?;
    alice
        .expect(&format!("{S} 253 alice 1 :unknown connection(s)"))
        .await?;
    alice
        .expect(&format!("{S} 254 alice 0 :channels formed"))
        .await?;
    alice
        .expect(&format!("{S} 255 alice :I have 2 clients and 0 servers"))
        .await?;
    alice
        .expect(&format!("{S} 265 alice 2 2 :Current local users 2, max 2"))
        .await?;
    alice
        .expect(&format!("{S} 266 alice 2 2 :Current global users 2, max 2"))
        .await?;
    Ok(())
}

/// With `away-notify`, a channel is told that a user who joins it is away.
#[tokio::test]
async fn away_notify_tells_a_channel_that_an_away_user_joined() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = reg(&server, "alice", "away-notify").await?;
    let mut plain = reg(&server, "plain", "").await?;
    let mut bob = reg(&server, "bob", "").await?;
    join(&mut alice, "alice", "#c").await?;
    join(&mut plain, "plain", "#c").await?;
    alice.expect(":plain!~plain@127.0.0.1 JOIN #c").await?;
    bob.send("AWAY :lunch").await?;
    bob.expect(&format!("{S} 306 bob :You have been marked as being away"))
        .await?;
    join(&mut bob, "bob", "#c").await?;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #c").await?;
    alice.expect(":bob!~bob@127.0.0.1 AWAY :lunch").await?;
    plain.expect(":bob!~bob@127.0.0.1 JOIN #c").await?;
    // Not told to plain, nor to bob himself.
    assert_eq!(until_pong(&mut plain, "p").await?, Vec::<String>::new());
    assert_eq!(until_pong(&mut bob, "b").await?, Vec::<String>::new());
    Ok(())
}

/// WHO: `H`/`G` and `@`/`+` flags; an invisible user is shown to those who share a
/// channel with them and hidden from others. WHOIS shows a logged-in user's account (330).
#[tokio::test]
async fn who_flags_invisibility_and_whois_account() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut op = reg(&server, "op", "").await?;
    let mut inv = reg(&server, "inv", "").await?;
    let mut out = reg(&server, "out", "").await?;
    join(&mut op, "op", "#c").await?;
    join(&mut inv, "inv", "#c").await?;
    op.expect(":inv!~inv@127.0.0.1 JOIN #c").await?;
    inv.send("MODE inv +i").await?;
    inv.expect(":inv MODE inv :+i").await?;
    inv.send("AWAY :brb").await?;
    inv.expect_prefix(&format!("{S} 306 inv ")).await?;
    op.send("MODE #c +v inv").await?;
    op.expect(":op!~op@127.0.0.1 MODE #c +v inv").await?;

    op.send("WHO #c").await?;
    op.expect(&format!(
        "{S} 352 op #c ~inv 127.0.0.1 teahouse.local inv G+ :0 inv Real"
    ))
    .await?;
    op.expect(&format!(
        "{S} 352 op #c ~op 127.0.0.1 teahouse.local op H@ :0 op Real"
    ))
    .await?;
    op.expect(&format!("{S} 315 op #c :End of /WHO list"))
        .await?;
    out.send("WHO #c").await?;
    out.expect(&format!(
        "{S} 352 out #c ~op 127.0.0.1 teahouse.local op H@ :0 op Real"
    ))
    .await?;
    out.expect(&format!("{S} 315 out #c :End of /WHO list"))
        .await?;
    out.send("WHO inv").await?;
    out.expect(&format!("{S} 315 out inv :End of /WHO list"))
        .await?;
    op.send("WHO inv").await?;
    op.expect(&format!(
        "{S} 352 op #c ~inv 127.0.0.1 teahouse.local inv G+ :0 inv Real"
    ))
    .await?;
    op.expect(&format!("{S} 315 op inv :End of /WHO list"))
        .await?;

    op.send("REGISTER * x :secret pw").await?;
    op.expect_prefix(&format!("{S} REGISTER SUCCESS op "))
        .await?;
    op.expect_prefix(&format!("{S} 900 op ")).await?;
    out.send("WHOIS op").await?;
    out.expect_prefix(&format!("{S} 311 out op ")).await?;
    out.expect(&format!("{S} 319 out op :@#c")).await?;
    out.expect_prefix(&format!("{S} 312 out op ")).await?;
    out.expect(&format!("{S} 330 out op op :is logged in as"))
        .await?;
    Ok(())
}
