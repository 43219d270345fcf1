//! Login: nickname prompt, refusals, entering the room, in both languages.

use teahouse_testkit::teahouse_server::Lang;

use crate::pg::on_both_backends;
use teahouse_testkit::{TestServer, TextClient};

#[tokio::test]
async fn login_refuses_taken_and_invalid_nicks_until_a_free_one() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("Alice").await?;

    let mut c = server.connect().await?;
    c.expect("Enter a nickname:").await?;
    c.send("alice").await?;
    c.expect("Nickname alice is already taken, please enter another:")
        .await?;
    c.send("ＡＬＩＣＥ").await?;
    c.expect("Nickname ALICE is already taken, please enter another:")
        .await?;
    c.send("two words").await?;
    c.expect("Nickname not allowed (name contains the character ' ', which is not allowed), please enter another:").await?;
    c.send("system").await?;
    c.expect("Nickname not allowed (name is reserved), please enter another:")
        .await?;
    c.send(&"x".repeat(33)).await?;
    c.expect("Nickname not allowed (name is longer than 32 characters), please enter another:")
        .await?;
    c.send("a@b").await?;
    c.expect_prefix("Nickname not allowed (name contains the character '@'")
        .await?;
    c.send("").await?;
    c.expect("Enter a nickname:").await?;
    c.send("小明").await?;
    c.expect("Nickname set: 小明").await?;
    c.expect("* 小明 entered the room").await?;
    c.expect("* In lobby (2): Alice, 小明").await?;
    alice.expect("* 小明 entered the room").await?;
    Ok(())
}

#[tokio::test]
async fn unicode_nicks_are_accepted() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let _a = server.login("小明").await?;
    let _b = server.login("Zoë").await?;
    let mut c = server.login("alice_2").await?;
    c.send("/who").await?;
    c.expect(
        "* In lobby (3): alice_2, zoë, 小明"
            .replace("zoë", "Zoë")
            .as_str(),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn no_chat_reaches_a_connection_without_a_nickname() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut pending = server.connect().await?;
    pending.expect("Enter a nickname:").await?;
    alice.send("secret before you came").await?;
    // Lines run in order: once /who is answered, the message was accepted.
    alice.send("/who").await?;
    alice.expect("* In lobby (1): alice").await?;
    let mut bob = server.login("bob").await?;
    bob.expect_history("lobby", &["alice: secret before you came"])
        .await?;
    alice.send("now").await?;
    bob.expect("alice: now").await?;
    pending.send("carol").await?;
    pending.expect("Nickname set: carol").await?;
    pending.expect("* carol entered the room").await?;
    pending.expect("* In lobby (3): alice, bob, carol").await?;
    // What was said before carol chose a nickname reaches her only now, marked as history.
    pending
        .expect_history("lobby", &["alice: secret before you came", "alice: now"])
        .await?;
    alice.send("hello carol").await?;
    pending.expect("alice: hello carol").await?;
    Ok(())
}

#[tokio::test]
async fn seed_texts_in_chinese() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.text.lang = Lang::Zh).await?;
    let mut a = server.connect().await?;
    a.expect("请输入昵称:").await?;
    a.send("小明").await?;
    a.expect("昵称设置成功").await?;
    a.expect("系统消息小明进入了聊天室").await?;
    a.expect("系统消息聊天室lobby中有1人:小明").await?;

    let mut b = server.connect().await?;
    b.expect("请输入昵称:").await?;
    b.send("小明").await?;
    b.expect("当前昵称已经存在,请重新输入").await?;
    b.send("system").await?;
    b.expect("昵称不可用(为系统保留),请重新输入").await?;
    b.send("小红").await?;
    b.expect("昵称设置成功").await?;
    b.expect("系统消息小红进入了聊天室").await?;
    b.expect("系统消息聊天室lobby中有2人:小明, 小红").await?;
    a.expect("系统消息小红进入了聊天室").await?;

    b.send("你好").await?;
    a.expect("小红:你好").await?;
    a.send("/msg 小红 悄悄话").await?;
    a.expect("[私信给小红]悄悄话").await?;
    b.expect("[私信]小明:悄悄话").await?;
    a.send("/bogus").await?;
    a.expect("! 未知命令/bogus(输入/help查看帮助)").await?;

    b.send("quit").await?;
    b.expect("退出").await?;
    assert!(b.expect_closed().await?.is_empty());
    a.expect("系统消息小红退出了聊天室").await?;
    Ok(())
}

#[tokio::test]
async fn quit_during_login_says_goodbye() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.connect().await?;
    c.expect("Enter a nickname:").await?;
    c.send("quit").await?;
    c.expect("Bye!").await?;
    assert!(c.expect_closed().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn login_timeout_closes_silent_client_without_delaying_others() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|c| c.text.login_timeout = std::time::Duration::from_millis(500))
            .await?;
    let mut silent = TextClient::connect(server.text_addr).await?;
    silent.expect("Enter a nickname:").await?;
    // While the silent one holds its login open, others log in at once.
    let mut alice = server.login("alice").await?;
    alice.send("/who").await?;
    alice.expect("* In lobby (1): alice").await?;
    silent
        .expect("! No nickname given in time, goodbye")
        .await?;
    assert!(silent.expect_closed().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_registered_nickname_needs_its_password() -> anyhow::Result<()> {
    on_both_backends("register", |server| async move {
        let mut alice = server.login("alice").await?;
        alice.send("/register").await?;
        alice.expect("! Usage: /register PASSWORD").await?;
        alice
            .send(&format!("/register {}", "x".repeat(300)))
            .await?;
        alice
            .expect("! A password must be 1 to 256 bytes long")
            .await?;
        alice.send("/register tea for two").await?;
        alice
            .expect(
                "* Nickname alice is now registered to you; next time, log in with its password",
            )
            .await?;
        alice.send("/register again").await?;
        alice.expect("! alice is already registered").await?;
        alice.send("quit").await?;
        alice.expect_closed().await?;

        // Someone else asks for the nickname: a password is wanted, a wrong one refused.
        let mut mallory = server.connect().await?;
        mallory.expect("Enter a nickname:").await?;
        mallory.send("ALICE").await?;
        mallory
            .expect("Nickname ALICE is registered. Password (or /nick OTHER):")
            .await?;
        mallory.send("guess").await?;
        mallory
            .expect("! Wrong nickname or password (2 tries left). Password:")
            .await?;
        mallory.send("/nick mallory").await?;
        mallory.expect("Nickname set: mallory").await?;
        mallory.expect("* mallory entered the room").await?;
        mallory.expect_prefix("* In lobby").await?;
        mallory.send("/nick alice").await?;
        mallory
            .expect("! Nickname alice is registered; log in to use it")
            .await?;

        // The owner logs in with the password (spaces inside it kept).
        let mut alice = server.connect().await?;
        alice.expect("Enter a nickname:").await?;
        alice.send("alice").await?;
        alice
            .expect("Nickname alice is registered. Password (or /nick OTHER):")
            .await?;
        alice.send("tea for two").await?;
        alice.expect("* You are logged in to account alice").await?;
        alice.expect("Nickname set: alice").await?;
        alice.expect("* alice entered the room").await?;
        alice.expect_prefix("* In lobby").await?;
        mallory.expect("* alice entered the room").await?;

        alice.send("/password").await?;
        alice.expect("! Usage: /password NEW").await?;
        alice.send("/password milk").await?;
        alice.expect("* Password changed").await?;
        alice.send("/unregister tea for two").await?;
        alice.expect("! Wrong nickname or password").await?;
        alice.send("/logout").await?;
        alice
            .expect("* You are logged out (you keep your nickname until you change it or leave)")
            .await?;
        alice.send("/unregister milk").await?;
        alice.expect("! You are not logged in").await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn three_wrong_passwords_close_the_connection_and_guessing_is_limited() -> anyhow::Result<()>
{
    on_both_backends("tries", |server| async move {
        let mut owner = server.login("owner").await?;
        owner.send("/register right").await?;
        owner
            .expect_prefix("* Nickname owner is now registered")
            .await?;
        owner.send("quit").await?;
        owner.expect_closed().await?;

        let mut guesser = server.connect().await?;
        guesser.expect("Enter a nickname:").await?;
        guesser.send("owner").await?;
        guesser
            .expect_prefix("Nickname owner is registered.")
            .await?;
        for left in [2, 1] {
            guesser.send("wrong").await?;
            guesser
                .expect(&format!(
                    "! Wrong nickname or password ({left} tries left). Password:"
                ))
                .await?;
        }
        guesser.send("wrong").await?;
        guesser
            .expect("! Too many wrong passwords; disconnecting")
            .await?;
        guesser.expect_closed().await?;

        // Two more wrong guesses reach the account's limit of five a minute; after that even
        // the right password is not checked.
        let mut again = server.connect().await?;
        again.expect("Enter a nickname:").await?;
        again.send("owner").await?;
        again.expect_prefix("Nickname owner is registered.").await?;
        again.send("wrong").await?;
        again.expect_prefix("! Wrong nickname or password").await?;
        again.send("wrong").await?;
        again.expect_prefix("! Wrong nickname or password").await?;
        again.send("/nick owner").await?;
        again.expect_prefix("Nickname owner is registered.").await?;
        again.send("right").await?;
        again
            .expect("! Too many failed logins; try again later")
            .await?;
        again.expect("Enter a nickname:").await?;
        Ok(())
    })
    .await
}

/// The limit per address, with loopback not exempt (as for any client elsewhere).
#[tokio::test]
async fn wrong_passwords_are_limited_per_address_across_accounts() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.limits.loopback_exempt = false).await?;
    {
        register_with_secret(&server, &["ann", "ben"]).await?;
        // Two wrong guesses at each account, then a fifth at ann's: five from this address.
        let mut guesser = server.connect().await?;
        guesser.expect("Enter a nickname:").await?;
        for (name, guesses) in [("ann", 2), ("ben", 2)] {
            guesser.send(name).await?;
            guesser
                .expect_prefix(&format!("Nickname {name} is registered."))
                .await?;
            for _ in 0..guesses {
                guesser.send("wrong").await?;
                guesser
                    .expect_prefix("! Wrong nickname or password")
                    .await?;
            }
            guesser.send("/nick").await?;
            guesser
                .expect_prefix(&format!("Nickname {name} is registered."))
                .await?;
            guesser.send("/nick zed").await?;
            guesser.expect("Nickname set: zed").await?;
            guesser.expect("* zed entered the room").await?;
            guesser.expect_prefix("* In lobby").await?;
            guesser.send("quit").await?;
            guesser.expect_closed().await?;
            guesser = server.connect().await?;
            guesser.expect("Enter a nickname:").await?;
        }
        guesser.send("ann").await?;
        guesser.expect_prefix("Nickname ann is registered.").await?;
        guesser.send("wrong").await?;
        guesser
            .expect_prefix("! Wrong nickname or password")
            .await?;
        // Ben's account has two failures, but the address has five: the right password is
        // not even checked.
        guesser.send("/nick ben").await?;
        guesser.expect_prefix("Nickname ben is registered.").await?;
        guesser.send("secret").await?;
        guesser
            .expect("! Too many failed logins; try again later")
            .await?;
        Ok(())
    }
}

/// Loopback is exempt from the per-address limit by default: a bridge on this machine
/// carries many users, and one user's wrong passwords must not lock out the others (each
/// account keeps its own limit).
#[tokio::test]
async fn issue_14_wrong_passwords_from_loopback_lock_out_only_their_account() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    register_with_secret(&server, &["ann", "ben"]).await?;
    // Five wrong guesses at ann's account from 127.0.0.1: her limit.
    let mut guesser = server.connect().await?;
    guesser.expect("Enter a nickname:").await?;
    for round in 0..5 {
        if round % 3 == 0 {
            if round > 0 {
                guesser.expect_closed().await?;
                guesser = server.connect().await?;
                guesser.expect("Enter a nickname:").await?;
            }
            guesser.send("ann").await?;
            guesser.expect_prefix("Nickname ann is registered.").await?;
        }
        guesser.send("wrong").await?;
        let reply = guesser.line().await?;
        anyhow::ensure!(reply.starts_with("! "), "{reply}");
    }
    // Ben, from the same address, still gets in.
    let mut ben = server.connect().await?;
    ben.expect("Enter a nickname:").await?;
    ben.send("ben").await?;
    ben.expect_prefix("Nickname ben is registered.").await?;
    ben.send("secret").await?;
    ben.expect("* You are logged in to account ben").await?;
    // Ann's account is still limited, even with the right password.
    let mut ann = server.connect().await?;
    ann.expect("Enter a nickname:").await?;
    ann.send("ann").await?;
    ann.expect_prefix("Nickname ann is registered.").await?;
    ann.send("secret").await?;
    ann.expect("! Too many failed logins; try again later")
        .await?;
    Ok(())
}

/// Registers each of `names` with the password `secret`, each from a session of its own.
async fn register_with_secret(server: &TestServer, names: &[&str]) -> anyhow::Result<()> {
    for name in names {
        let mut owner = server.login(name).await?;
        owner.send("/register secret").await?;
        owner
            .expect_prefix(&format!("* Nickname {name} is now registered"))
            .await?;
        owner.send("quit").await?;
        owner.expect_closed().await?;
    }
    Ok(())
}

#[tokio::test]
async fn issue_14_passwords_need_eight_bytes_and_registrations_are_throttled() -> anyhow::Result<()>
{
    let server = TestServer::start_with(|c| {
        c.accounts.min_password_bytes = std::num::NonZeroUsize::new(8).expect("eight");
        c.accounts.registrations_per_period = 2;
        c.limits.loopback_exempt = false;
    })
    .await?;
    let mut ann = server.login("ann").await?;
    ann.send("/register short").await?;
    ann.expect("! A password must be 8 to 256 bytes long")
        .await?;
    ann.send("/register long enough").await?;
    ann.expect_prefix("* Nickname ann is now registered")
        .await?;
    let mut ben = server.login("ben").await?;
    ben.send("/register also long enough").await?;
    ben.expect_prefix("* Nickname ben is now registered")
        .await?;
    // A third account from the same address, so soon: refused, and says why.
    let mut cat = server.login("cat").await?;
    cat.send("/register long enough too").await?;
    cat.expect("! Too many accounts registered from your address lately; try again later")
        .await?;
    // Exempt again (loopback), registering goes on.
    let open = TestServer::start_with(|c| {
        c.accounts.registrations_per_period = 1;
    })
    .await?;
    for name in ["dan", "eve"] {
        let mut c = open.login(name).await?;
        c.send("/register long enough").await?;
        c.expect_prefix(&format!("* Nickname {name} is now registered"))
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn issue_14_look_alike_and_mixed_script_nicknames_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    register_with_secret(&server, &["bob", "pace"]).await?;
    let mut scope = server.login("scope").await?;

    // `bоb` (a Cyrillic о) mixes scripts: refused on both faces, whatever it looks like.
    let mut c = server.connect().await?;
    c.expect("Enter a nickname:").await?;
    c.send("b\u{43e}b").await?;
    c.expect(
        "Nickname not allowed (name mixes scripts (such as Latin and Cyrillic letters); use one), please enter another:",
    )
    .await?;
    // All-Cyrillic `ѕсоре` is one script, but looks like `scope`, who is here: taken.
    c.send("\u{455}\u{441}\u{43e}\u{440}\u{435}").await?;
    let line = c.line().await?;
    assert!(
        line.starts_with("Nickname \u{455}\u{441}\u{43e}\u{440}\u{435}") && line.contains("taken"),
        "{line}"
    );
    // All-Cyrillic `расе` looks like the registered `pace` (not connected now): taken too.
    c.send("\u{440}\u{430}\u{441}\u{435}").await?;
    let line = c.line().await?;
    assert!(
        line.starts_with("Nickname \u{440}\u{430}\u{441}\u{435}") && line.contains("taken"),
        "{line}"
    );
    // A name of its own is fine.
    c.send("carol").await?;
    c.expect("Nickname set: carol").await?;
    scope.expect("* carol entered the room").await?;

    let mut irc = server.irc().await?;
    irc.send("NICK b\u{43e}b").await?;
    let line = irc.line().await?;
    assert!(
        line.starts_with(":teahouse.local 432 * b\u{43e}b :"),
        "{line}"
    );
    // The Cyrillic `ѕсоре` is taken on IRC too.
    irc.send("NICK \u{455}\u{441}\u{43e}\u{440}\u{435}").await?;
    irc.expect(
        ":teahouse.local 433 * \u{455}\u{441}\u{43e}\u{440}\u{435} :Nickname is already in use",
    )
    .await?;
    // Once scope leaves, its look-alike is free; and the user who holds a name may take
    // its look-alike (only others are kept off it).
    scope.send("quit").await?;
    scope.expect_closed().await?;
    irc.send("NICK \u{455}\u{441}\u{43e}\u{440}\u{435}").await?;
    irc.send("USER x 0 * :x").await?;
    irc.expect_eventually_prefix(":teahouse.local 001 \u{455}\u{441}\u{43e}\u{440}\u{435} ")
        .await?;
    Ok(())
}
