//! The web face: the page over HTTP, IRC over WebSocket at `/ws` with text, IRC and
//! WebSocket users in one room, and what hostile HTTP and WebSocket input gets.

use std::net::SocketAddr;

use anyhow::{Context as _, bail, ensure};
use teahouse_testkit::teahouse_server::WS_MAX_MESSAGE_BYTES;
use teahouse_testkit::{TestServer, WAIT, WsClient};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const S: &str = ":teahouse.local";

/// One HTTP exchange on a connection of its own: the response's head and body.
async fn http(addr: SocketAddr, request: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .context("timed out reading the response")??;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of head")?;
    let head = String::from_utf8(response[..split].to_vec())?;
    Ok((head, response[split + 4..].to_vec()))
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n")
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn web_page_and_assets_are_served_with_policy_and_validators() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (head, body) = http(server.web_addr, &get("/", "")).await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    ensure!(header(&head, "content-type") == Some("text/html; charset=utf-8"));
    let csp = header(&head, "content-security-policy").context("no CSP")?;
    ensure!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    ensure!(header(&head, "x-content-type-options") == Some("nosniff"));
    let page = String::from_utf8(body)?;
    ensure!(
        page.contains("src=\"/app.js\"") && !page.contains("<script>"),
        "the page loads its script from /app.js, with no inline script: {page}"
    );

    let (head, body) = http(server.web_addr, &get("/app.js", "")).await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    ensure!(header(&head, "content-type") == Some("text/javascript; charset=utf-8"));
    ensure!(!body.is_empty());
    let etag = header(&head, "etag").context("no etag")?.to_owned();
    ensure!(header(&head, "cache-control") == Some("no-cache"));
    let (head, body) = http(
        server.web_addr,
        &get("/app.js", &format!("If-None-Match: {etag}\r\n")),
    )
    .await?;
    ensure!(
        head.starts_with("HTTP/1.1 304"),
        "a reload revalidates: {head}"
    );
    ensure!(body.is_empty());

    let (head, body) = http(server.web_addr, &get("/healthz", "")).await?;
    ensure!(
        head.starts_with("HTTP/1.1 200") && body == b"ok\n",
        "{head}"
    );
    let (head, _) = http(server.web_addr, &get("/no-such-thing", "")).await?;
    ensure!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = http(server.web_addr, &get("/ws", "")).await?;
    ensure!(
        head.starts_with("HTTP/1.1 400"),
        "a plain GET of /ws is told to upgrade: {head}"
    );
    Ok(())
}

#[tokio::test]
async fn websocket_user_chats_with_text_and_irc_users() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut alice = server.login("alice").await?;
    let mut ivan = server.irc_login("ivan").await?;
    ivan.send("JOIN #lobby").await?;
    ivan.expect_eventually_prefix(&format!("{S} 366 ivan #lobby"))
        .await?;
    alice.expect("* ivan entered the room").await?;
    let mut web = server.ws_login("webby").await?;
    ensure!(web.subprotocol.as_deref() == Some("text.ircv3.net"));
    web.send("JOIN #lobby").await?;
    web.expect(":webby!~webby@127.0.0.1 JOIN #lobby").await?;
    web.expect_eventually(&format!("{S} 366 webby #lobby :End of /NAMES list"))
        .await?;
    alice.expect("* webby entered the room").await?;
    ivan.expect(":webby!~webby@127.0.0.1 JOIN #lobby").await?;

    web.send("PRIVMSG #lobby :你好, from the web").await?;
    alice.expect("webby: 你好, from the web").await?;
    ivan.expect(":webby!~webby@127.0.0.1 PRIVMSG #lobby :你好, from the web")
        .await?;
    alice.send("hi web").await?;
    web.expect(":alice!text@127.0.0.1 PRIVMSG #lobby :hi web")
        .await?;
    ivan.expect(":alice!text@127.0.0.1 PRIVMSG #lobby :hi web")
        .await?;
    ivan.send("PRIVMSG #lobby :and from irc").await?;
    web.expect(":ivan!~ivan@127.0.0.1 PRIVMSG #lobby :and from irc")
        .await?;
    alice.expect("ivan: and from irc").await?;
    ensure!(!web.saw_binary, "text.ircv3.net gets text frames");

    web.send("QUIT :bye").await?;
    web.expect_eventually_prefix("ERROR :").await?;
    alice.expect("* webby left the room (bye)").await?;
    ivan.expect(":webby!~webby@127.0.0.1 QUIT :Quit: bye")
        .await?;
    Ok(())
}

#[tokio::test]
async fn websocket_subprotocols_choose_text_or_binary_frames() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for (offer, chosen, is_binary) in [
        (Some("text.ircv3.net"), Some("text.ircv3.net"), false),
        (Some("binary.ircv3.net"), Some("binary.ircv3.net"), true),
        (
            Some("binary.ircv3.net, text.ircv3.net"),
            Some("text.ircv3.net"),
            false,
        ),
        (None, None, false),
    ] {
        let mut c = server.ws(offer).await?;
        ensure!(c.subprotocol.as_deref() == chosen, "{offer:?}: {chosen:?}");
        c.send("PING hello").await?;
        c.expect(&format!("{S} PONG teahouse.local :hello")).await?;
        ensure!(c.saw_binary == is_binary, "{offer:?}: binary {is_binary}");
    }
    Ok(())
}

// --- Hostile input -------------------------------------------------------------------------

/// A WebSocket opened by hand, to send what no client library would.
async fn raw_ws(addr: SocketAddr, extra: &str) -> anyhow::Result<(TcpStream, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         {extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        let n = tokio::time::timeout(WAIT, stream.read(&mut byte)).await??;
        ensure!(n == 1, "closed in the handshake: {head:?}");
        head.push(byte[0]);
    }
    Ok((stream, String::from_utf8(head)?))
}

/// A client frame: `fin`, `opcode`, masked (as a client must) unless `is_unmasked`.
fn frame(fin: bool, opcode: u8, payload: &[u8], is_unmasked: bool) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let mask_bit = if is_unmasked { 0 } else { 0x80 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | u8::try_from(n).expect("small")),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&u16::try_from(n).expect("fits").to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if is_unmasked {
        f.extend_from_slice(payload);
    } else {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    f
}

/// Reads server frames until the close frame; gives its code, reason, and the text lines
/// before it.
async fn read_close<R: AsyncRead + Unpin>(
    stream: &mut R,
) -> anyhow::Result<(u16, String, Vec<String>)> {
    let mut lines = Vec::new();
    loop {
        let mut h = [0u8; 2];
        tokio::time::timeout(WAIT, stream.read_exact(&mut h))
            .await
            .context("timed out waiting for a frame")?
            .context("connection ended without a close frame")?;
        ensure!(h[1] & 0x80 == 0, "server frames are never masked");
        let len = match h[1] & 0x7f {
            126 => usize::from(stream.read_u16().await?),
            127 => usize::try_from(stream.read_u64().await?)?,
            n => usize::from(n),
        };
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await?;
        match h[0] & 0x0f {
            0x8 => {
                ensure!(payload.len() >= 2, "a close frame with no code");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Ok((code, String::from_utf8(payload[2..].to_vec())?, lines));
            }
            0x1 | 0x2 => lines.push(String::from_utf8(payload)?),
            _ => {}
        }
    }
}

/// The server still serves everyone else.
async fn still_serving(server: &TestServer) -> anyhow::Result<()> {
    let mut c = server.ws(Some("text.ircv3.net")).await?;
    c.send("PING alive").await?;
    c.expect(&format!("{S} PONG teahouse.local :alive")).await
}

#[tokio::test]
async fn websocket_frames_beyond_an_irc_line_are_closed_with_1009() -> anyhow::Result<()> {
    let server = TestServer::start().await?;

    // One message a byte over the cap: close 1009 with the reason.
    let (mut s, head) = raw_ws(server.web_addr, "").await?;
    ensure!(head.starts_with("HTTP/1.1 101"), "{head}");
    let big = vec![b'a'; WS_MAX_MESSAGE_BYTES + 1];
    s.write_all(&frame(true, 0x1, &big, false)).await?;
    let (code, reason, _) = read_close(&mut s).await?;
    ensure!(
        code == 1009 && reason == "message too long for an IRC line",
        "{code} {reason}"
    );

    // A length header of 2^63 - 1 bytes: refused from the header alone (an allocation of
    // that size would abort the whole server).
    let (mut s, _) = raw_ws(server.web_addr, "").await?;
    let mut huge = vec![0x81, 0x80 | 127];
    huge.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    s.write_all(&huge).await?;
    let (code, _, _) = read_close(&mut s).await?;
    ensure!(code == 1009, "{code}");

    // 10,000 one-byte fragments of one message: the message passes the cap at its 4,609th
    // byte, and the connection is closed with 1009 then.
    let (mut s, _) = raw_ws(server.web_addr, "").await?;
    let mut fragments = frame(false, 0x1, b"P", false);
    for i in 1..10_000 {
        fragments.extend(frame(i == 9_999, 0x0, b"I", false));
    }
    let (mut read, mut write) = s.split();
    let (sent, closed) = tokio::join!(write.write_all(&fragments), read_close(&mut read));
    let _ = sent; // The server may stop reading once it has closed.
    let (code, _, _) = closed?;
    ensure!(code == 1009, "{code}");
    let _ = s.shutdown().await;

    still_serving(&server).await
}

#[tokio::test]
async fn websocket_protocol_violations_are_closed_with_their_codes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let cases: [(&str, Vec<u8>, u16); 3] = [
        (
            "a text frame that is not UTF-8",
            frame(true, 0x1, b"PRIVMSG #a :\xc3\x28", false),
            1007,
        ),
        ("a fragmented ping", frame(false, 0x9, b"ping", false), 1002),
        (
            "an unmasked client frame",
            frame(true, 0x1, b"PING x", true),
            1002,
        ),
    ];
    for (what, bytes, expected) in cases {
        let (mut s, head) = raw_ws(
            server.web_addr,
            "Sec-WebSocket-Protocol: text.ircv3.net\r\n",
        )
        .await?;
        ensure!(head.starts_with("HTTP/1.1 101"), "{what}: {head}");
        s.write_all(&bytes).await?;
        let (code, reason, _) = read_close(&mut s).await.context(what)?;
        ensure!(
            code == expected,
            "{what}: close {code} ({reason}), not {expected}"
        );
    }
    still_serving(&server).await
}

#[tokio::test]
async fn websocket_binary_frame_of_invalid_utf8_gets_the_irc_error_and_goes_on()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.ws(Some("text.ircv3.net")).await?;
    c.send_binary(b"PRIVMSG #a :\xff\xfe").await?;
    c.expect(&format!(
        "{S} FAIL * INVALID_UTF8 :Message rejected: it is not valid UTF-8"
    ))
    .await?;
    c.send("PING next").await?;
    c.expect(&format!("{S} PONG teahouse.local :next")).await?;
    // A binary frame of valid UTF-8 is a line like any other, with or without CR LF.
    c.send_binary(b"PING bin\r\n").await?;
    c.expect(&format!("{S} PONG teahouse.local :bin")).await?;
    ensure!(!c.saw_binary, "the server still answers in text frames");
    Ok(())
}

#[tokio::test]
async fn websocket_from_a_foreign_origin_is_refused_and_own_origin_allowed() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.web.allowed_origins = vec!["https://chat.example.org".to_owned()];
    })
    .await?;
    let (_, head) = raw_ws(server.web_addr, "Origin: https://evil.example\r\n").await?;
    ensure!(head.starts_with("HTTP/1.1 403"), "{head}");
    let (_, head) = raw_ws(server.web_addr, "Origin: null\r\n").await?;
    ensure!(head.starts_with("HTTP/1.1 403"), "{head}");
    let own = format!("Origin: http://{}\r\n", server.web_addr);
    let (_, head) = raw_ws(server.web_addr, &own).await?;
    ensure!(
        head.starts_with("HTTP/1.1 101"),
        "the page's own origin: {head}"
    );
    let (_, head) = raw_ws(server.web_addr, "Origin: https://chat.example.org\r\n").await?;
    ensure!(
        head.starts_with("HTTP/1.1 101"),
        "an allowed origin: {head}"
    );
    Ok(())
}

#[tokio::test]
async fn http_request_with_a_megabyte_header_is_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut stream = TcpStream::connect(server.web_addr).await?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let (mut read, mut write) = stream.split();
    let (_, response) = tokio::join!(write.write_all(request.as_bytes()), async {
        let mut response = Vec::new();
        let _ = tokio::time::timeout(WAIT, read.read_to_end(&mut response)).await;
        response
    });
    let head = String::from_utf8_lossy(&response);
    if !head.starts_with("HTTP/1.1 431") {
        bail!("expected 431 Request Header Fields Too Large, got {head:?}");
    }
    still_serving(&server).await
}

#[tokio::test]
async fn websocket_client_that_stops_reading_is_cut_at_its_send_queue() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.connection.sendq_bytes = std::num::NonZeroUsize::new(64 * 1024).expect("not zero");
        c.irc.flood.enabled = false;
    })
    .await?;
    let mut talker = server.irc_login("talker").await?;
    let mut reader = server.irc_login("reader").await?;
    for c in [&mut talker, &mut reader] {
        c.send("JOIN #big").await?;
        c.expect_eventually_prefix(&format!("{S} 366 ")).await?;
    }
    let mut slow: WsClient = server.ws_login("slow").await?;
    slow.send("JOIN #big").await?;
    slow.expect_eventually_prefix(&format!("{S} 366 slow #big"))
        .await?;
    reader
        .expect_eventually(":slow!~slow@127.0.0.1 JOIN #big")
        .await?;
    // `slow` reads nothing from here on.
    let mut talker = crate::irc_kit::flood_past_a_slow_reader(talker, &mut reader, 20_000).await?;
    // The others were never held up: the talker still gets its answer at once.
    talker.send("PING after").await?;
    talker
        .expect_eventually(&format!("{S} PONG teahouse.local :after"))
        .await?;
    drop(slow);
    Ok(())
}

#[tokio::test]
async fn http_head_that_never_ends_is_cut_at_the_handshake_timeout() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.web.handshake_timeout = std::time::Duration::from_millis(300);
    })
    .await?;
    let mut stream = TcpStream::connect(server.web_addr).await?;
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n")
        .await?;
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .context("a request head that never ends was not cut")??;
    ensure!(
        started.elapsed() < WAIT / 2,
        "cut only after {:?}",
        started.elapsed()
    );
    let head = String::from_utf8_lossy(&rest);
    ensure!(
        rest.is_empty() || head.starts_with("HTTP/1.1 408"),
        "a slow head gets nothing or 408, got {head:?}"
    );
    still_serving(&server).await
}

#[tokio::test]
async fn websocket_users_are_told_of_shutdown_and_closed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut web = server.ws_login("webby").await?;
    let stopping = tokio::spawn(server.stop());
    web.expect_eventually("ERROR :Server shutting down").await?;
    let rest = web.expect_closed().await?;
    ensure!(rest.is_empty(), "nothing after ERROR: {rest:?}");
    ensure!(
        web.close.as_ref().is_some_and(|(code, _)| *code == 1000),
        "a normal close frame: {:?}",
        web.close
    );
    let took = stopping.await??;
    ensure!(took < WAIT, "shutdown took {took:?}");
    Ok(())
}
