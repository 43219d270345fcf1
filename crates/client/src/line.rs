//! The line client: `teahouse chat [ADDR] [--nick NAME]`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use rustyline_async::{Readline, ReadlineEvent, SharedWriter};
use teahouse_wire::text::{Frame, LineDecoder, terminal_safe};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;

use crate::error::ClientError;
use crate::lang::Lang;

/// The port of the plain-text face, used when ADDR has none (the seed's).
pub const DEFAULT_PORT: u16 = 4567;

/// The longest line accepted from the server; longer ones are skipped.
const MAX_SERVER_LINE_BYTES: usize = 64 * 1024;

/// How long to wait for the server to close after we said `quit`.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// Settings of one run of the line client.
#[derive(Debug, Clone)]
pub struct LineConfig {
    /// `host:port`, or just `host` for the default port.
    pub addr: String,
    /// A nickname to send at once; the server asks again if it is refused.
    pub nick: Option<String>,
    /// The language of the client's own messages.
    pub lang: Lang,
}

/// Connects and chats until the user leaves (`quit`, `/quit`, Ctrl-D, end of piped input)
/// or the server goes away.
///
/// On a terminal, lines are edited with a prompt and what arrives is printed above it; with
/// stdin from a pipe, each input line is sent as it is read and what arrives goes to stdout.
///
/// # Errors
/// [`ClientError::Connect`] when the server cannot be reached, [`ClientError::ServerClosed`]
/// when it closes the connection before we left, and I/O or terminal failures.
pub async fn run(config: LineConfig) -> Result<(), ClientError> {
    let addr = if config.addr.contains(':') {
        config.addr.clone()
    } else {
        format!("{}:{DEFAULT_PORT}", config.addr)
    };
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|source| ClientError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    if let Some(nick) = &config.nick {
        send_line(&mut writer, nick).await?;
    }
    if std::io::stdin().is_terminal() {
        interactive(reader, writer).await
    } else {
        piped(reader, writer).await
    }
}

/// Whether a typed line asks to leave (the seed's `quit`, or `/quit [reason]`).
fn is_quit(line: &str) -> bool {
    let line = line.trim();
    line == "quit" || line == "/quit" || line.starts_with("/quit ")
}

/// Whether a typed line may go into the editor's history (Up brings it back): not one that
/// carries a password (`/register`, `/password`, `/unregister`, `/oper`), nor the answer to a
/// server's password prompt.
fn is_kept_in_history(line: &str, answers_password_prompt: bool) -> bool {
    if answers_password_prompt {
        return false;
    }
    let command = line.split_whitespace().next().unwrap_or("");
    !["/register", "/password", "/unregister", "/oper"]
        .iter()
        .any(|secret| command.eq_ignore_ascii_case(secret))
}

/// Whether a line from the server asks for a password (the seed's texts, both languages).
fn asks_for_password(line: &str) -> bool {
    line.contains("Password (or /nick") || line.contains("Password:") || line.contains("密码")
}

async fn send_line(writer: &mut OwnedWriteHalf, line: &str) -> Result<(), ClientError> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    writer
        .write_all(&bytes)
        .await
        .map_err(ClientError::Connection)
}

/// Reads server lines and hands each (made terminal-safe) to `print`, until the server
/// closes. Returns the I/O error that ended it, if any.
async fn receive(
    mut reader: OwnedReadHalf,
    mut print: impl AsyncPrint,
    password_prompt: Arc<AtomicBool>,
) -> Result<(), ClientError> {
    let mut decoder = LineDecoder::new(MAX_SERVER_LINE_BYTES);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let n = reader
            .read_buf(&mut buf)
            .await
            .map_err(ClientError::Connection)?;
        let is_eof = n == 0;
        loop {
            let frame = if is_eof {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            match frame {
                Some(Frame::Line(line)) => {
                    if asks_for_password(&line) {
                        password_prompt.store(true, Ordering::Relaxed);
                    }
                    print.print(&terminal_safe(&line)).await;
                }
                Some(Frame::TooLong | Frame::InvalidUtf8) => {}
                None => break,
            }
        }
        if is_eof {
            return Ok(());
        }
    }
}

/// Somewhere to print received lines.
trait AsyncPrint {
    async fn print(&mut self, line: &str);
}

/// Above the prompt of the line being edited.
impl AsyncPrint for SharedWriter {
    async fn print(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // Waits while the terminal is behind; fails only once the terminal is gone.
        let _ = futures_util::AsyncWriteExt::write_all(self, &bytes).await;
    }
}

/// Plain stdout, for piped use.
struct Stdout;

impl AsyncPrint for Stdout {
    async fn print(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// A terminal: a line editor whose prompt stays below what arrives.
async fn interactive(reader: OwnedReadHalf, mut writer: OwnedWriteHalf) -> Result<(), ClientError> {
    let (mut editor, printer) = Readline::new("> ".to_owned()).map_err(ClientError::Terminal)?;
    let (done_tx, mut done_rx) = oneshot::channel();
    // Set when the server asks for a password: the next line typed stays out of history.
    let password_prompt = Arc::new(AtomicBool::new(false));
    let prompt = Arc::clone(&password_prompt);
    let receiver = tokio::spawn(async move {
        let _ = done_tx.send(receive(reader, printer, prompt).await);
    });
    let mut is_quitting = false;
    let result = loop {
        tokio::select! {
            ended = &mut done_rx => {
                let ended = ended.unwrap_or(Ok(()));
                break match ended {
                    Ok(()) if is_quitting => Ok(()),
                    Ok(()) => Err(ClientError::ServerClosed),
                    Err(error) => Err(error),
                };
            }
            event = editor.readline(), if !is_quitting => match event {
                Ok(ReadlineEvent::Line(line)) => {
                    let answers_prompt = password_prompt.swap(false, Ordering::Relaxed);
                    if is_kept_in_history(&line, answers_prompt) {
                        editor.add_history_entry(line.clone());
                    }
                    is_quitting = is_quit(&line);
                    if let Err(error) = send_line(&mut writer, &line).await {
                        break Err(error);
                    }
                }
                Ok(ReadlineEvent::Eof | ReadlineEvent::Interrupted) => {
                    is_quitting = true;
                    if let Err(error) = send_line(&mut writer, "/quit").await {
                        break Err(error);
                    }
                }
                Err(error) => break Err(ClientError::Terminal(error)),
            },
            () = tokio::time::sleep(QUIT_GRACE), if is_quitting => break Ok(()),
        }
    };
    receiver.abort();
    let _ = editor.flush();
    result
}

/// Piped stdin: every line is sent as read; the end of input leaves.
async fn piped(reader: OwnedReadHalf, mut writer: OwnedWriteHalf) -> Result<(), ClientError> {
    let mut receiver = tokio::spawn(receive(reader, Stdout, Arc::new(AtomicBool::new(false))));
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    let mut is_quitting = false;
    while !is_quitting {
        tokio::select! {
            ended = &mut receiver => {
                return match ended {
                    Ok(Ok(())) => Err(ClientError::ServerClosed),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(ClientError::ServerClosed),
                };
            }
            line = input.next_line() => {
                let line = line.map_err(ClientError::Connection)?;
                let line = match line {
                    Some(line) => line,
                    None => "/quit".to_owned(),
                };
                is_quitting = is_quit(&line);
                send_line(&mut writer, &line).await?;
            }
        }
    }
    match tokio::time::timeout(QUIT_GRACE, &mut receiver).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => {
            receiver.abort();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_quit;

    #[test]
    fn passwords_stay_out_of_the_history() {
        use super::{asks_for_password, is_kept_in_history};
        assert!(is_kept_in_history("hello", false));
        assert!(is_kept_in_history("/join tea", false));
        for secret in ["/register hunter22", "/PASSWORD new one", " /oper admin pw"] {
            assert!(!is_kept_in_history(secret, false), "{secret}");
        }
        assert!(!is_kept_in_history("hunter22", true));
        assert!(asks_for_password(
            "Nickname alice is registered. Password (or /nick OTHER):"
        ));
        assert!(!asks_for_password("alice: my password is long"));
    }

    #[test]
    fn recognises_quit() {
        assert!(is_quit("quit"));
        assert!(is_quit(" /quit "));
        assert!(is_quit("/quit see you"));
        assert!(!is_quit("quitting time"));
        assert!(!is_quit("/quitx"));
    }
}
