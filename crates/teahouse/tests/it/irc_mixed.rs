//! IRC and plain-text users in one room see each other, in both directions.

use teahouse_testkit::TestServer;
use teahouse_testkit::teahouse_server::Lang;

#[tokio::test]
async fn irc_and_text_users_share_the_lobby() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut text = server.login("tom").await?;
    let mut irc = server.irc_login("小明").await?;
    irc.send("JOIN #lobby").await?;
    irc.expect(":小明!~小明@127.0.0.1 JOIN #lobby").await?;
    irc.expect(":teahouse.local 353 小明 = #lobby :@tom 小明")
        .await?;
    irc.expect(":teahouse.local 366 小明 #lobby :End of /NAMES list")
        .await?;
    text.expect("* 小明 entered the room").await?;

    // Messages, both ways; actions too.
    text.send("hello from the terminal").await?;
    irc.expect(":tom!text@127.0.0.1 PRIVMSG #lobby :hello from the terminal")
        .await?;
    irc.send("PRIVMSG #lobby :你好, tom").await?;
    text.expect("小明: 你好, tom").await?;
    irc.send("PRIVMSG #lobby :\u{1}ACTION waves\u{1}").await?;
    text.expect("* 小明 waves").await?;
    text.send("/me bows").await?;
    irc.expect(":tom!text@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION bows\u{1}")
        .await?;

    // Direct messages, both ways.
    text.send("/msg 小明 psst").await?;
    text.expect("[dm to 小明] psst").await?;
    irc.expect(":tom!text@127.0.0.1 PRIVMSG 小明 :psst").await?;
    irc.send("PRIVMSG tom :back at you").await?;
    text.expect("[dm] 小明: back at you").await?;

    // Nick changes, both ways.
    text.send("/nick thomas").await?;
    text.expect("* tom is now known as thomas").await?;
    irc.expect(":tom!text@127.0.0.1 NICK :thomas").await?;
    irc.send("NICK 大明").await?;
    irc.expect(":小明!~小明@127.0.0.1 NICK :大明").await?;
    text.expect("* 小明 is now known as 大明").await?;

    // Topic and kick from IRC reach the text user.
    let mut text2 = server.login("tess").await?;
    text.expect("* tess entered the room").await?;
    irc.expect(":tess!text@127.0.0.1 JOIN #lobby").await?;
    // tom created the lobby, so the IRC user is no operator: refused.
    irc.send("TOPIC #lobby :tea").await?;
    irc.expect(":teahouse.local 482 大明 #lobby :You're not channel operator")
        .await?;

    // Quits, both ways.
    text2.send("quit").await?;
    text2.expect_eventually("Bye!").await?;
    irc.expect(":tess!text@127.0.0.1 QUIT :Quit").await?;
    text.expect("* tess left the room").await?;
    irc.send("QUIT :see you").await?;
    irc.expect_eventually_prefix("ERROR :Closing link").await?;
    text.expect("* 大明 left the room (see you)").await?;
    Ok(())
}

#[tokio::test]
async fn irc_operator_actions_reach_text_users_in_chinese() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.text.lang = Lang::Zh).await?;
    let mut irc = server.irc_login("op").await?;
    irc.send("JOIN #lobby").await?;
    irc.expect_eventually_prefix(":teahouse.local 366 op #lobby")
        .await?;
    let mut text = server.connect().await?;
    text.expect("请输入昵称:").await?;
    text.send("小红").await?;
    text.expect("昵称设置成功").await?;
    text.expect("系统消息小红进入了聊天室").await?;
    text.expect("系统消息聊天室lobby中有2人:op, 小红").await?;
    irc.expect(":小红!text@127.0.0.1 JOIN #lobby").await?;
    irc.send("TOPIC #lobby :喝茶").await?;
    text.expect("系统消息op设置了话题:喝茶").await?;
    irc.send("MODE #lobby +m").await?;
    text.expect("系统消息op设置了+m").await?;
    text.send("我能说话吗").await?;
    text.expect("! 未发送:聊天室lobby已禁言").await?;
    irc.send("KICK #lobby 小红 :再见").await?;
    text.expect("系统消息小红被op请出了聊天室(再见)").await?;
    text.send("还在吗").await?;
    text.expect("! 未发送:你不在聊天室lobby中").await?;
    text.send("/join lobby").await?;
    text.expect("系统消息小红进入了聊天室").await?;
    irc.expect_eventually(":小红!text@127.0.0.1 JOIN #lobby")
        .await?;
    Ok(())
}
