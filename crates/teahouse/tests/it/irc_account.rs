//! Accounts over IRC: REGISTER, SASL PLAIN, NickServ, and a registered nick's protection.

use teahouse_testkit::{TestServer, TextClient};

use crate::pg::on_both_backends;

const S: &str = ":teahouse.local";

/// `\0alice\0pw one`, base64.
const ALICE_PLAIN: &str = "AGFsaWNlAHB3IG9uZQ==";
/// `\0alice\0wrong`, base64.
const ALICE_WRONG: &str = "AGFsaWNlAHdyb25n";

/// Starts registration with SASL requested; returns before `CAP END`.
async fn start_with_sasl(server: &TestServer, nick: &str) -> anyhow::Result<TextClient> {
    let mut c = server.irc().await?;
    let ls = crate::irc_kit::cap_ls(&mut c).await?;
    assert!(ls.iter().any(|c| c == "sasl=PLAIN,SCRAM-SHA-256"), "{ls:?}");
    assert!(
        ls.iter()
            .any(|c| c.starts_with("draft/account-registration=")),
        "{ls:?}"
    );
    c.send(&format!("NICK {nick}")).await?;
    c.send(&format!("USER {nick} 0 * :{nick} Real")).await?;
    c.send("CAP REQ :sasl").await?;
    c.expect(&format!("{S} CAP * ACK :sasl")).await?;
    Ok(c)
}

#[tokio::test]
async fn register_then_log_in_with_sasl_and_nickserv() -> anyhow::Result<()> {
    on_both_backends("sasl", |server| async move {
        let mut alice = server.irc_login("alice").await?;
        alice.send("REGISTER bob x pw").await?;
        alice
            .expect(&format!(
                "{S} FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK bob :The account name must be your current nickname"
            ))
            .await?;
        alice.send("REGISTER * x :").await?;
        alice
            .expect(&format!(
                "{S} FAIL REGISTER UNACCEPTABLE_PASSWORD alice :a password must be 1 to 256 bytes long"
            ))
            .await?;
        alice.send("REGISTER * x :pw one").await?;
        alice
            .expect(&format!(
                "{S} REGISTER SUCCESS alice :Account successfully registered"
            ))
            .await?;
        alice
            .expect(&format!(
                "{S} 900 alice alice!~alice@127.0.0.1 alice :You are now logged in as alice"
            ))
            .await?;
        alice.send("REGISTER * x :again").await?;
        alice
            .expect(&format!(
                "{S} FAIL REGISTER ALREADY_AUTHENTICATED alice :You are already logged in"
            ))
            .await?;
        alice.send("QUIT").await?;
        alice.expect_closed().await?;

        // Without logging in, the nick is refused when registration completes.
        let mut other = server.irc().await?;
        other.send("NICK alice").await?;
        other.send("USER x 0 * :x").await?;
        other
            .expect(&format!(
                "{S} 433 * alice :Nickname is registered to an account; log in (SASL) to use it"
            ))
            .await?;
        other.send("NICK other").await?;
        other.expect_prefix(&format!("{S} 001 other ")).await?;
        other
            .expect_eventually_prefix(&format!("{S} 422 other "))
            .await?;

        // Wrong, malformed, too long and aborted exchanges.
        let mut c = start_with_sasl(&server, "alice").await?;
        c.send("AUTHENTICATE SCRAM-SHA-1").await?;
        c.expect(&format!("{S} 908 * PLAIN,SCRAM-SHA-256 :are available SASL mechanisms"))
            .await?;
        c.expect(&format!("{S} 904 * :SASL authentication failed"))
            .await?;
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect("AUTHENTICATE +").await?;
        c.send(&format!("AUTHENTICATE {ALICE_WRONG}")).await?;
        c.expect(&format!("{S} 904 * :SASL authentication failed"))
            .await?;
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect("AUTHENTICATE +").await?;
        c.send("AUTHENTICATE !!!not-base64").await?;
        c.expect(&format!("{S} 904 * :SASL authentication failed"))
            .await?;
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect("AUTHENTICATE +").await?;
        c.send(&format!("AUTHENTICATE {}", "A".repeat(401))).await?;
        c.expect(&format!("{S} 905 * :SASL message too long"))
            .await?;
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect("AUTHENTICATE +").await?;
        c.send("AUTHENTICATE *").await?;
        c.expect(&format!("{S} 906 * :SASL authentication aborted"))
            .await?;
        // A 400-byte chunk means more follows: this one never ends, so it is too long.
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect("AUTHENTICATE +").await?;
        for _ in 0..6 {
            c.send(&format!("AUTHENTICATE {}", "A".repeat(400))).await?;
        }
        c.expect(&format!("{S} 905 * :SASL message too long"))
            .await?;

        // The right password logs in, and the registered nick is then granted.
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect("AUTHENTICATE +").await?;
        c.send(&format!("AUTHENTICATE {ALICE_PLAIN}")).await?;
        c.expect(&format!(
            "{S} 900 * * alice :You are now logged in as alice"
        ))
        .await?;
        c.expect(&format!("{S} 903 * :SASL authentication successful"))
            .await?;
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect(&format!(
            "{S} 907 * :You have already authenticated using SASL"
        ))
        .await?;
        c.send("CAP END").await?;
        c.expect_prefix(&format!("{S} 001 alice ")).await?;
        c.expect_eventually_prefix(&format!("{S} 422 alice "))
            .await?;

        // NickServ: INFO, and IDENTIFY from another connection.
        c.send("PRIVMSG NickServ :INFO").await?;
        let info = c
            .expect_prefix(":NickServ!NickServ@services NOTICE alice :Account alice was registered ")
            .await?;
        assert!(info.ends_with("Z."), "{info}");
        other.send("PRIVMSG NickServ :IDENTIFY alice wrong").await?;
        other
            .expect(":NickServ!NickServ@services NOTICE other :Wrong account name or password.")
            .await?;
        other
            .send("PRIVMSG NickServ :IDENTIFY alice pw one")
            .await?;
        other
            .expect(":NickServ!NickServ@services NOTICE other :You are now identified as alice.")
            .await?;
        other
            .expect(&format!(
                "{S} 900 other other!~x@127.0.0.1 alice :You are now logged in as alice"
            ))
            .await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn ghost_frees_the_nick_and_account_changes_are_announced() -> anyhow::Result<()> {
    on_both_backends("ghost", |server| async move {
        // The owner registers, then a stale session keeps the nick.
        let mut stale = server.irc_login("alice").await?;
        stale.send("REGISTER * x :pw one").await?;
        stale
            .expect_prefix(&format!("{S} REGISTER SUCCESS alice "))
            .await?;
        stale.expect_prefix(&format!("{S} 900 alice ")).await?;

        // A watcher with account-notify sees logins and logouts of people it shares a channel with.
        let mut watcher = server.irc().await?;
        watcher
            .send("CAP REQ :account-notify extended-join")
            .await?;
        watcher.send("NICK watcher").await?;
        watcher.send("USER w 0 * :w").await?;
        watcher
            .expect(&format!("{S} CAP * ACK :account-notify extended-join"))
            .await?;
        watcher.send("CAP END").await?;
        watcher
            .expect_eventually_prefix(&format!("{S} 422 watcher "))
            .await?;
        watcher.send("JOIN #tea").await?;
        watcher
            .expect_eventually_prefix(&format!("{S} 366 watcher #tea "))
            .await?;
        stale.send("JOIN #tea").await?;
        watcher
            .expect(":alice!~alice@127.0.0.1 JOIN #tea alice :alice Real")
            .await?;
        stale.send("PRIVMSG NickServ :LOGOUT").await?;
        watcher.expect(":alice!~alice@127.0.0.1 ACCOUNT *").await?;

        // The owner, from a new connection, logs in under another nick and ghosts the old one.
        let mut owner = server.irc_login("owner2").await?;
        owner.send("PRIVMSG NickServ :GHOST alice").await?;
        owner
            .expect(":NickServ!NickServ@services NOTICE owner2 :You must be logged in to the account alice to do that.")
            .await?;
        owner
            .send("PRIVMSG NickServ :IDENTIFY alice pw one")
            .await?;
        owner
            .expect(":NickServ!NickServ@services NOTICE owner2 :You are now identified as alice.")
            .await?;
        owner.expect_prefix(&format!("{S} 900 owner2 ")).await?;
        owner.send("PRIVMSG NickServ :GHOST alice").await?;
        owner
            .expect(":NickServ!NickServ@services NOTICE owner2 :alice has been disconnected.")
            .await?;
        let last = stale.expect_closed().await?;
        assert!(
            last.iter()
                .any(|l| l == "ERROR :Closing link: GHOST command used by owner2"),
            "{last:?}"
        );
        watcher
            .expect(":alice!~alice@127.0.0.1 QUIT :Quit: GHOST command used by owner2")
            .await?;
        owner.send("NICK alice").await?;
        owner
            .expect(":owner2!~owner2@127.0.0.1 NICK :alice")
            .await?;
        owner.send("PRIVMSG NickServ :GHOST nobody").await?;
        owner
            .expect(":NickServ!NickServ@services NOTICE alice :You must be logged in to the account nobody to do that.")
            .await?;
        Ok(())
    })
    .await
}

/// SASL PLAIN credentials longer than one 400-byte chunk arrive over several
/// `AUTHENTICATE` lines; a payload that is an exact multiple of 400 ends with `+`, and
/// nothing is decided before it.
#[tokio::test]
async fn sasl_plain_credentials_over_several_chunks() -> anyhow::Result<()> {
    use base64::Engine as _;
    let server = TestServer::start().await?;
    // (authzid and authcid, password): 2×32 + 2 + 256 = 322 bytes, 432 in base64; and
    // 2×21 + 2 + 256 = 300 bytes, exactly 400.
    let password = "p".repeat(256);
    for (nick, chunks) in [("n".repeat(32), 2), ("m".repeat(21), 1)] {
        let mut owner = server.irc_login(&nick).await?;
        owner.send(&format!("REGISTER * x :{password}")).await?;
        owner
            .expect_prefix(&format!("{S} REGISTER SUCCESS {nick} "))
            .await?;
        owner.send("QUIT").await?;
        owner.expect_closed().await?;

        let payload =
            base64::engine::general_purpose::STANDARD.encode(format!("{nick}\0{nick}\0{password}"));
        assert_eq!(payload.len().div_ceil(400), chunks);
        let mut c = start_with_sasl(&server, &nick).await?;
        c.send("AUTHENTICATE PLAIN").await?;
        c.expect("AUTHENTICATE +").await?;
        let pieces: Vec<&str> = payload
            .as_bytes()
            .chunks(400)
            .map(|p| std::str::from_utf8(p).unwrap_or_default())
            .collect();
        for piece in &pieces {
            c.send(&format!("AUTHENTICATE {piece}")).await?;
        }
        if payload.len() % 400 == 0 {
            // More may follow: nothing is decided until the closing `+`.
            c.send("PING wait").await?;
            c.expect(&format!("{S} PONG teahouse.local :wait")).await?;
            c.send("AUTHENTICATE +").await?;
        }
        c.expect(&format!(
            "{S} 900 * * {nick} :You are now logged in as {nick}"
        ))
        .await?;
        c.expect(&format!("{S} 903 * :SASL authentication successful"))
            .await?;
    }
    Ok(())
}

/// `draft/account-registration`: its value says `before-connect` (and `email-required`
/// when the server needs an address); REGISTER works before the welcome, needs a nick
/// first, and an address of the right form when one is required.
#[tokio::test]
async fn account_registration_before_connect_and_email_required() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.irc().await?;
    let ls = crate::irc_kit::cap_ls(&mut c).await?.join(" ");
    assert!(
        ls.split(' ')
            .any(|cap| cap == "draft/account-registration=before-connect"),
        "{ls}"
    );
    c.send("REGISTER * * :early bird").await?;
    c.expect(&format!(
        "{S} FAIL REGISTER NEED_NICK * :Choose a nickname (NICK) first"
    ))
    .await?;
    c.send("NICK early").await?;
    c.send("REGISTER other * :early bird").await?;
    c.expect(&format!(
        "{S} FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK other :The account name must be your current nickname"
    ))
    .await?;
    c.send("REGISTER * * :early bird").await?;
    c.expect(&format!(
        "{S} REGISTER SUCCESS early :Account successfully registered"
    ))
    .await?;
    c.expect(&format!(
        "{S} 900 early early!*@127.0.0.1 early :You are now logged in as early"
    ))
    .await?;
    c.send("USER early 0 * :Early").await?;
    c.send("CAP END").await?;
    c.expect_prefix(&format!("{S} 001 early ")).await?;

    let strict = TestServer::start_with(|c| c.accounts.email_required = true).await?;
    let mut c = strict.irc().await?;
    let ls = crate::irc_kit::cap_ls(&mut c).await?.join(" ");
    assert!(
        ls.split(' ')
            .any(|cap| cap == "draft/account-registration=before-connect,email-required"),
        "{ls}"
    );
    c.send("NICK mailer").await?;
    for email in ["*", "nobody", "a@b", "a b@c.org"] {
        c.send(&format!("REGISTER * {email} :pw")).await?;
        c.expect(&format!(
            "{S} FAIL REGISTER INVALID_EMAIL mailer :This server needs an email address to register an account"
        ))
        .await?;
    }
    c.send("REGISTER * mailer@example.org :pw").await?;
    c.expect_prefix(&format!("{S} REGISTER SUCCESS mailer "))
        .await?;
    Ok(())
}

/// A SCRAM-SHA-256 client (RFC 5802) as a test needs one: the client's proof for a
/// server-first message, and the server signature it must then see.
struct ScramClient {
    first_bare: String,
    nonce: String,
}

fn hmac256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl ScramClient {
    fn new(user: &str) -> Self {
        let nonce = "fyko+d2lbbFgONRv9qkxdawL".to_owned();
        Self {
            first_bare: format!("n={user},r={nonce}"),
            nonce,
        }
    }

    fn first(&self) -> String {
        b64(&format!("n,,{}", self.first_bare))
    }

    /// The final message for `server_first` (base64) and `password`, and the `v=` the
    /// server must answer with.
    fn proof(&self, server_first: &str, password: &str) -> anyhow::Result<(String, String)> {
        use base64::Engine as _;
        use sha2::Digest as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let server_first = String::from_utf8(engine.decode(server_first)?)?;
        let mut fields = server_first.split(',');
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .unwrap_or("");
        anyhow::ensure!(nonce.starts_with(&self.nonce), "{server_first}");
        let salt = engine.decode(
            fields
                .next()
                .and_then(|f| f.strip_prefix("s="))
                .unwrap_or(""),
        )?;
        let rounds: u32 = fields
            .next()
            .and_then(|f| f.strip_prefix("i="))
            .unwrap_or("")
            .parse()?;
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, rounds, &mut salted);
        let client_key = hmac256(&salted, b"Client Key");
        let stored_key: [u8; 32] = sha2::Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = hmac256(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_signature = hmac256(&hmac256(&salted, b"Server Key"), auth.as_bytes());
        Ok((
            b64(&format!("{without_proof},p={}", engine.encode(proof))),
            b64(&format!("v={}", engine.encode(server_signature))),
        ))
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Runs a SCRAM-SHA-256 login as `account` with `password`: whether it succeeded (903),
/// after checking the server's signature on success.
async fn scram_login(c: &mut TextClient, account: &str, password: &str) -> anyhow::Result<bool> {
    let client = ScramClient::new(account);
    c.send("AUTHENTICATE SCRAM-SHA-256").await?;
    c.expect("AUTHENTICATE +").await?;
    c.send(&format!("AUTHENTICATE {}", client.first())).await?;
    let server_first = c.expect_prefix("AUTHENTICATE ").await?;
    let (last, expected_v) = client.proof(&server_first["AUTHENTICATE ".len()..], password)?;
    c.send(&format!("AUTHENTICATE {last}")).await?;
    let line = c.line().await?;
    if line == format!("{S} 904 * :SASL authentication failed") {
        return Ok(false);
    }
    anyhow::ensure!(line == format!("AUTHENTICATE {expected_v}"), "{line}");
    c.send("AUTHENTICATE +").await?;
    c.expect(&format!(
        "{S} 900 * * {account} :You are now logged in as {account}"
    ))
    .await?;
    c.expect(&format!("{S} 903 * :SASL authentication successful"))
        .await?;
    Ok(true)
}

/// SCRAM-SHA-256: an account registered now logs in with it (the server's signature
/// checks out); a wrong password and an unknown account both get 904 after the same
/// exchange; an account from before SCRAM keys (none stored) fails SCRAM until it logs in
/// once with PLAIN, and then works. Also: registration completing mid-SASL aborts it (906),
/// and a second AUTHENTICATE after success is refused (907).
#[tokio::test]
async fn sasl_scram_sha_256_and_its_keys() -> anyhow::Result<()> {
    let db = crate::pg::PgDatabase::create("scram").await?;
    let server = crate::pg::server_on(&db.url).await?;
    for nick in ["alice", "old"] {
        let mut owner = server.irc_login(nick).await?;
        owner.send("REGISTER * x :pw one").await?;
        owner
            .expect_prefix(&format!("{S} REGISTER SUCCESS {nick} "))
            .await?;
        owner.send("QUIT").await?;
        owner.expect_closed().await?;
    }
    // `old` is as an account registered before SCRAM keys were kept.
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&db.url).await?;
        sqlx::query("UPDATE accounts SET scram = NULL WHERE name_key = 'old'")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }

    let mut c = start_with_sasl(&server, "alice").await?;
    assert!(!scram_login(&mut c, "alice", "wrong").await?);
    assert!(!scram_login(&mut c, "nobody", "pw one").await?);
    assert!(scram_login(&mut c, "alice", "pw one").await?);
    c.send("AUTHENTICATE SCRAM-SHA-256").await?;
    c.expect(&format!(
        "{S} 907 * :You have already authenticated using SASL"
    ))
    .await?;
    c.send("CAP END").await?;
    c.expect_prefix(&format!("{S} 001 alice ")).await?;

    let mut c = start_with_sasl(&server, "old").await?;
    assert!(!scram_login(&mut c, "old", "pw one").await?);
    c.send("AUTHENTICATE PLAIN").await?;
    c.expect("AUTHENTICATE +").await?;
    c.send(&format!("AUTHENTICATE {}", b64("\0old\0pw one")))
        .await?;
    c.expect_prefix(&format!("{S} 900 ")).await?;
    c.expect_prefix(&format!("{S} 903 ")).await?;
    c.send("QUIT").await?;
    c.expect_closed().await?;
    let mut again = start_with_sasl(&server, "old").await?;
    assert!(scram_login(&mut again, "old", "pw one").await?);

    // Registration that completes while SASL is under way ends it.
    let mut c = server.irc().await?;
    c.send("CAP REQ :sasl").await?;
    c.expect(&format!("{S} CAP * ACK :sasl")).await?;
    c.send("NICK carol").await?;
    c.send("USER carol 0 * :carol").await?;
    c.send("AUTHENTICATE SCRAM-SHA-256").await?;
    c.expect("AUTHENTICATE +").await?;
    c.send("CAP END").await?;
    c.expect(&format!("{S} 906 carol :SASL authentication aborted"))
        .await?;
    c.expect_prefix(&format!("{S} 001 carol ")).await?;
    server.stop().await?;
    db.drop_it().await
}
