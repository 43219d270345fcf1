//! Server operators over IRC: OPER against Argon2id hashes in the config, user mode +o,
//! KILL, WALLOPS, INFO, what operators see in WHO and WHOIS, and no fake lag for them;
//! and bot mode (+B).

use teahouse_testkit::teahouse_server::{Config, OperatorSection, admin};
use teahouse_testkit::{TestServer, TextClient};

use crate::irc_kit::{S, join, reg, tag, until_pong};

/// A server with one operator block, `admin` / `open sesame`, for loopback.
async fn server_with_operator() -> anyhow::Result<TestServer> {
    let hash = admin::hash_password(&Config::default(), "open sesame")?;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    TestServer::start_with(move |c| {
        c.operators = vec![OperatorSection {
            name: "admin".to_owned(),
            password_hash: hash,
            hosts: vec!["127.0.0.1".to_owned(), "::1".to_owned()],
        }];
    })
    .await
}

async fn oper_up(c: &mut TextClient, nick: &str) -> anyhow::Result<()> {
    c.send("OPER admin :open sesame").await?;
    c.expect(&format!("{S} 381 {nick} :You are now an IRC operator"))
        .await?;
    c.expect(&format!(":{nick} MODE {nick} :+o")).await?;
    Ok(())
}

/// OPER: 491 for a name with no block, 464 for a wrong password, then 381 and +o; MODE
/// shows it, -o gives it up; WHOIS says so to all (313), WHO marks it `*`.
#[tokio::test]
async fn oper_logs_in_against_the_configured_hash() -> anyhow::Result<()> {
    let server = server_with_operator().await?;
    let mut alice = reg(&server, "alice", "").await?;
    let mut bob = reg(&server, "bob", "").await?;
    alice.send("OPER root :open sesame").await?;
    alice
        .expect(&format!("{S} 491 alice :No O-lines for your host"))
        .await?;
    alice.send("OPER admin :wrong").await?;
    alice
        .expect(&format!("{S} 464 alice :Password incorrect"))
        .await?;
    oper_up(&mut alice, "alice").await?;
    bob.send("LUSERS").await?;
    bob.expect_prefix(&format!("{S} 251 bob ")).await?;
    bob.expect(&format!("{S} 252 bob 1 :operator(s) online"))
        .await?;
    bob.expect_eventually_prefix(&format!("{S} 266 bob "))
        .await?;
    alice.send("MODE alice").await?;
    alice.expect(&format!("{S} 221 alice :+o")).await?;

    bob.send("WHOIS alice").await?;
    bob.expect_prefix(&format!("{S} 311 bob alice ")).await?;
    bob.expect_prefix(&format!("{S} 312 bob alice ")).await?;
    bob.expect(&format!("{S} 313 bob alice :is an IRC operator"))
        .await?;
    // The real address is for operators (and oneself) only.
    bob.expect_prefix(&format!("{S} 317 bob alice ")).await?;
    bob.expect(&format!("{S} 318 bob alice :End of /WHOIS list"))
        .await?;
    alice.send("WHOIS bob").await?;
    alice.expect_prefix(&format!("{S} 311 alice bob ")).await?;
    alice.expect_prefix(&format!("{S} 312 alice bob ")).await?;
    alice
        .expect(&format!(
            "{S} 338 alice bob ~bob@127.0.0.1 127.0.0.1 :Actual user@host, Actual IP"
        ))
        .await?;
    alice
        .expect_eventually(&format!("{S} 318 alice bob :End of /WHOIS list"))
        .await?;
    bob.send("WHO alice").await?;
    bob.expect(&format!(
        "{S} 352 bob * ~alice 127.0.0.1 teahouse.local alice H* :0 alice Real"
    ))
    .await?;
    alice.send("MODE alice -o").await?;
    alice.expect(":alice MODE alice :-o").await?;
    alice.send("MODE alice").await?;
    alice.expect(&format!("{S} 221 alice :+")).await?;
    Ok(())
}

/// KILL and WALLOPS are for operators (481 for others); a killed user is told who did it,
/// its channels see the quit; WALLOPS reaches those with +w only.
#[tokio::test]
async fn kill_and_wallops_are_for_operators() -> anyhow::Result<()> {
    let server = server_with_operator().await?;
    let mut alice = reg(&server, "alice", "").await?;
    let mut bob = reg(&server, "bob", "").await?;
    let mut carol = reg(&server, "carol", "").await?;
    bob.send("KILL carol :no").await?;
    bob.expect(&format!(
        "{S} 481 bob :Permission Denied- You're not an IRC operator"
    ))
    .await?;
    bob.send("WALLOPS :hear me").await?;
    bob.expect(&format!(
        "{S} 481 bob :Permission Denied- You're not an IRC operator"
    ))
    .await?;
    oper_up(&mut alice, "alice").await?;

    carol.send("MODE carol +w").await?;
    carol.expect(":carol MODE carol :+w").await?;
    alice.send("WALLOPS :maintenance at noon").await?;
    carol
        .expect(":alice!~alice@127.0.0.1 WALLOPS :maintenance at noon")
        .await?;
    assert_eq!(until_pong(&mut bob, "b").await?, Vec::<String>::new());

    join(&mut bob, "bob", "#c").await?;
    join(&mut carol, "carol", "#c").await?;
    bob.expect(":carol!~carol@127.0.0.1 JOIN #c").await?;
    alice.send("KILL nobody :x").await?;
    alice
        .expect(&format!("{S} 401 alice nobody :No such nick/channel"))
        .await?;
    alice.send("KILL carol :spamming").await?;
    let last = carol.expect_closed().await?;
    assert!(
        last.iter()
            .any(|l| l == "ERROR :Closing link: Killed by alice: spamming"),
        "{last:?}"
    );
    bob.expect(":carol!~carol@127.0.0.1 QUIT :Killed (alice (spamming))")
        .await?;

    alice.send("INFO").await?;
    alice
        .expect_prefix(&format!("{S} 371 alice :teahouse "))
        .await?;
    alice
        .expect_eventually(&format!("{S} 374 alice :End of /INFO list"))
        .await?;
    Ok(())
}

/// An operator is not slowed by flood control: 10 KB of lines at once, which cut off
/// anyone else (`Excess Flood`), are all answered.
#[tokio::test]
async fn operators_are_exempt_from_fake_lag() -> anyhow::Result<()> {
    let server = server_with_operator().await?;
    let burst: String = (0..1000).map(|i| format!("PING {i}\r\n")).collect();
    assert!(burst.len() > 8192);

    let mut bob = reg(&server, "bob", "").await?;
    bob.send_raw(burst.as_bytes()).await?;
    let last = bob.expect_closed().await?;
    assert!(last.iter().any(|l| l == "ERROR :Excess Flood"), "{last:?}");

    let mut alice = reg(&server, "alice", "").await?;
    oper_up(&mut alice, "alice").await?;
    alice.send_raw(burst.as_bytes()).await?;
    for i in 0..1000 {
        alice
            .expect(&format!("{S} PONG teahouse.local :{i}"))
            .await?;
    }
    Ok(())
}

/// Bot mode: +B is shown in WHOIS (335) and WHO (`B`), and a bot's messages carry the
/// `bot` tag for clients that read tags.
#[tokio::test]
async fn bot_mode_is_shown_and_tagged() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut bot = reg(&server, "helper", "").await?;
    let mut alice = reg(&server, "alice", "message-tags").await?;
    let mut plain = reg(&server, "plain", "").await?;
    bot.send("MODE helper +B").await?;
    bot.expect(":helper MODE helper :+B").await?;
    alice.send("WHOIS helper").await?;
    alice
        .expect_prefix(&format!("{S} 311 alice helper "))
        .await?;
    alice
        .expect_prefix(&format!("{S} 312 alice helper "))
        .await?;
    alice
        .expect(&format!("{S} 335 alice helper :is a Bot on teahouse"))
        .await?;
    alice
        .expect_eventually(&format!("{S} 318 alice helper :End of /WHOIS list"))
        .await?;
    alice.send("WHO helper").await?;
    alice
        .expect(&format!(
            "{S} 352 alice * ~helper 127.0.0.1 teahouse.local helper HB :0 helper Real"
        ))
        .await?;
    alice
        .expect_prefix(&format!("{S} 315 alice helper "))
        .await?;
    bot.send("PRIVMSG alice :beep").await?;
    let line = alice.line().await?;
    assert_eq!(tag(&line, "bot"), Some(""), "{line}");
    assert!(
        line.ends_with(":helper!~helper@127.0.0.1 PRIVMSG alice :beep"),
        "{line}"
    );
    bot.send("PRIVMSG plain :beep").await?;
    plain
        .expect(":helper!~helper@127.0.0.1 PRIVMSG plain :beep")
        .await?;
    Ok(())
}

/// CHGHOST: an operator gives a user another user name and host; co-members with the
/// `chghost` capability see `CHGHOST`, others nothing; the user's real address stays in
/// WHOIS 338 for operators; non-operators get 481.
#[tokio::test]
async fn chghost_changes_the_shown_host() -> anyhow::Result<()> {
    let server = server_with_operator().await?;
    let mut alice = reg(&server, "alice", "").await?;
    let mut bob = reg(&server, "bob", "chghost").await?;
    let mut carol = reg(&server, "carol", "").await?;
    for (c, nick) in [(&mut bob, "bob"), (&mut carol, "carol")] {
        join(c, nick, "#c").await?;
    }
    bob.expect(":carol!~carol@127.0.0.1 JOIN #c").await?;
    bob.send("CHGHOST carol tea.example").await?;
    bob.expect(&format!(
        "{S} 481 bob :Permission Denied- You're not an IRC operator"
    ))
    .await?;
    oper_up(&mut alice, "alice").await?;
    alice.send("CHGHOST carol bad host!").await?;
    alice
        .expect(&format!("{S} NOTICE alice :Invalid user name or host"))
        .await?;
    alice.send("CHGHOST carol tea tea.example").await?;
    bob.expect(":carol!~carol@127.0.0.1 CHGHOST tea tea.example")
        .await?;
    carol.send("PRIVMSG #c :hi").await?;
    bob.expect(":carol!tea@tea.example PRIVMSG #c :hi").await?;
    assert_eq!(until_pong(&mut carol, "c").await?, Vec::<String>::new());
    alice.send("WHOIS carol").await?;
    alice
        .expect_prefix(&format!("{S} 311 alice carol tea tea.example "))
        .await?;
    alice
        .expect_eventually(&format!(
            "{S} 338 alice carol tea@127.0.0.1 127.0.0.1 :Actual user@host, Actual IP"
        ))
        .await?;
    Ok(())
}

/// REHASH with the real binary and a real config file: a good edit takes effect for the
/// next client (a new MOTD and a new operator), a broken one is refused with the reason
/// and the running configuration stays; only operators may; SIGHUP does the same.
#[tokio::test]
async fn issue_14_rehash_reloads_the_config_file_and_a_bad_one_keeps_the_old() -> anyhow::Result<()>
{
    let hash = admin::hash_password(&Config::default(), "open sesame")?;
    let dir = std::env::temp_dir().join(format!("teahouse-rehash-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("teahouse.toml");
    let write = |motd: &str, oper: &str| {
        std::fs::write(
            &path,
            format!(
                "[irc]\nmotd = [\"{motd}\"]\n\n[[operators]]\nname = \"{oper}\"\npassword_hash = \"{hash}\"\n"
            ),
        )
    };
    write("before the reload", "admin")?;
    let config = path.to_string_lossy().into_owned();
    let mut served = crate::tls::Served::with(&["--config", &config], &["irc"]).await?;
    let irc = served.addr("irc");

    let mut alice = TextClient::connect(irc).await?;
    alice.send("NICK alice").await?;
    alice.send("USER alice 0 * :Alice").await?;
    alice
        .expect_eventually(&format!("{S} 372 alice :- before the reload"))
        .await?;
    alice.expect_prefix(&format!("{S} 376 alice ")).await?;
    alice.send("REHASH").await?;
    alice
        .expect(&format!(
            "{S} 481 alice :Permission Denied- You're not an IRC operator"
        ))
        .await?;
    oper_up(&mut alice, "alice").await?;

    // A good edit: the next client gets the new MOTD, and the renamed operator block.
    write("after the reload", "root")?;
    alice.send("REHASH").await?;
    alice
        .expect(&format!("{S} 382 alice config :Rehashing"))
        .await?;
    let mut bob = TextClient::connect(irc).await?;
    bob.send("NICK bob").await?;
    bob.send("USER bob 0 * :Bob").await?;
    bob.expect_eventually(&format!("{S} 372 bob :- after the reload"))
        .await?;
    bob.expect_eventually_prefix(&format!("{S} 376 bob "))
        .await?;
    bob.send("OPER admin :open sesame").await?;
    bob.expect(&format!("{S} 491 bob :No O-lines for your host"))
        .await?;
    bob.send("OPER root :open sesame").await?;
    bob.expect(&format!("{S} 381 bob :You are now an IRC operator"))
        .await?;

    // A broken file: refused with the reason, and nothing changes.
    std::fs::write(&path, "[irc]\nmotd = \"not a list\n")?;
    alice.send("REHASH").await?;
    let line = alice.line().await?;
    assert!(
        line.starts_with(&format!(
            "{S} FAIL REHASH CONFIG_ERROR :Configuration not reloaded, the running one stays: invalid config in "
        )),
        "{line}"
    );
    served.logged("configuration not reloaded").await?;
    let mut carol = TextClient::connect(irc).await?;
    carol.send("NICK carol").await?;
    carol.send("USER carol 0 * :Carol").await?;
    carol
        .expect_eventually(&format!("{S} 372 carol :- after the reload"))
        .await?;
    // SIGHUP reads the file too: fixed again, it takes.
    write("after the signal", "root")?;
    served.hang_up()?;
    served.logged("configuration reloaded").await?;
    let mut dave = TextClient::connect(irc).await?;
    dave.send("NICK dave").await?;
    dave.send("USER dave 0 * :Dave").await?;
    dave.expect_eventually(&format!("{S} 372 dave :- after the signal"))
        .await?;
    // Nobody was dropped by any of it.
    alice.send("PING :still").await?;
    alice
        .expect_eventually(&format!("{S} PONG teahouse.local :still"))
        .await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
