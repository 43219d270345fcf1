//! A WebSocket seen as a byte stream of IRC lines, so the one session driver runs over it.
//!
//! Reading: each text or binary message is one line; it comes out as its bytes and a `\n`
//! (a trailing CR LF the client sent is dropped). Writing: the bytes the driver writes are
//! cut at each `\n`, and each line goes out as one message of its own, without CR LF (the
//! IRCv3 WebSocket specification: one message per frame, never a batch of lines in one).
//! A protocol error or an over-long message ends the input and is answered, at shutdown,
//! with the close code that says why.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// The most bytes of lines one write takes: with the WebSocket's own write buffer this
/// bounds what a connection holds beyond its outbox (`WRITE_BUFFER_MAX_BYTES`).
pub(crate) const WRITE_TAKE_BYTES: usize = 16 * 1024;

/// How the server sends its lines, as the client's subprotocol asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `text.ircv3.net`, or no subprotocol: text messages (every server line is UTF-8).
    Text,
    /// `binary.ircv3.net`: binary messages.
    Binary,
}

/// One WebSocket connection as an `AsyncRead + AsyncWrite` of IRC lines.
pub(crate) struct WsLines<S> {
    ws: WebSocketStream<S>,
    mode: Mode,
    /// The rest of the message being read, then its line end.
    reading: Bytes,
    /// Whether the `\n` after `reading` is still to be given.
    owes_newline: bool,
    /// Written bytes of a line whose `\n` has not come yet (never longer than a line).
    partial: BytesMut,
    /// Why the input ended, to say in the close frame.
    close: Option<CloseFrame>,
    /// The input has ended.
    is_eof: bool,
    /// Set once the closing handshake has begun: when to stop waiting for it.
    linger: Option<Pin<Box<Sleep>>>,
    /// What the client sent while the close was under way.
    lingered_bytes: usize,
}

impl<S> WsLines<S> {
    /// Wraps a WebSocket whose handshake is done.
    pub(crate) fn new(ws: WebSocketStream<S>, mode: Mode) -> Self {
        Self {
            ws,
            mode,
            reading: Bytes::new(),
            owes_newline: false,
            partial: BytesMut::new(),
            close: None,
            is_eof: false,
            linger: None,
            lingered_bytes: 0,
        }
    }
}

/// The close frame that answers a read error, or `None` for an error of the connection
/// itself (nothing is left to tell).
fn close_for(error: &WsError) -> Option<CloseFrame> {
    let (code, reason) = match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            (CloseCode::Size, "message too long for an IRC line")
        }
        WsError::Capacity(_) => (CloseCode::Size, "too much at once"),
        WsError::Utf8(_) => (CloseCode::Invalid, "text frame is not UTF-8"),
        WsError::Protocol(ProtocolError::UnmaskedFrameFromClient) => {
            (CloseCode::Protocol, "client frames must be masked")
        }
        WsError::Protocol(ProtocolError::FragmentedControlFrame) => {
            (CloseCode::Protocol, "control frames must not be fragmented")
        }
        WsError::Protocol(_) => (CloseCode::Protocol, "WebSocket protocol error"),
        _ => return None,
    };
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

/// A message's payload without the line end a client may have put there.
fn trim_line_end(mut bytes: Bytes) -> Bytes {
    while bytes.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        bytes.truncate(bytes.len() - 1);
    }
    bytes
}

impl<S> WsLines<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Sends one line (without its line end) as one message.
    fn send_line(&mut self, line: &[u8]) -> io::Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let message = match self.mode {
            Mode::Binary => Message::Binary(Bytes::copy_from_slice(line)),
            Mode::Text => match std::str::from_utf8(line) {
                Ok(text) => Message::Text(Utf8Bytes::from(text)),
                // Server lines are built from Rust strings; should one ever not be UTF-8, a
                // text frame cannot carry it, so it goes as binary rather than not at all.
                Err(_) => Message::Binary(Bytes::copy_from_slice(line)),
            },
        };
        Pin::new(&mut self.ws)
            .start_send(message)
            .map_err(io::Error::other)
    }
}

impl<S> AsyncRead for WsLines<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.reading.is_empty() {
                let n = this.reading.len().min(buf.remaining());
                buf.put_slice(&this.reading.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.owes_newline {
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                buf.put_slice(b"\n");
                this.owes_newline = false;
                return Poll::Ready(Ok(()));
            }
            if this.is_eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Text(text))) => {
                    this.reading = trim_line_end(Bytes::from(text));
                    this.owes_newline = true;
                }
                Some(Ok(Message::Binary(bytes))) => {
                    this.reading = trim_line_end(bytes);
                    this.owes_newline = true;
                }
                // Pings are answered by the WebSocket itself; pongs need nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => this.is_eof = true,
                Some(Err(error)) => {
                    this.is_eof = true;
                    match close_for(&error) {
                        Some(frame) => this.close = Some(frame),
                        None => return Poll::Ready(Err(io::Error::other(error))),
                    }
                }
            }
        }
    }
}

impl<S> AsyncWrite for WsLines<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // What was sent before must be on its way first: this is the back-pressure that
        // fills the outbox of a client that stopped reading.
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(io::Error::other)?;
        let mut taken = 0;
        for buf in bufs {
            let mut rest: &[u8] = buf;
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                if this.partial.is_empty() {
                    this.send_line(&rest[..end])?;
                } else {
                    this.partial.extend_from_slice(&rest[..end]);
                    let line = std::mem::take(&mut this.partial);
                    this.send_line(&line)?;
                }
                rest = &rest[end + 1..];
                taken += end + 1;
                if taken >= WRITE_TAKE_BYTES {
                    return Poll::Ready(Ok(taken));
                }
            }
            this.partial.extend_from_slice(rest);
            taken += rest.len();
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io::Error::other)
    }

    /// The closing handshake, bounded by [`LINGER`]: sends the close frame (1000, or the
    /// code and reason of the error the input ended on) and what is still buffered, then
    /// reads what the client still sends until it has answered (or hung up): closing a
    /// socket with unread input resets the connection, and the reset can overtake the
    /// close frame that says what went wrong. A client that reads or answers nothing is
    /// given up on when `LINGER` has passed.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let linger = match &mut this.linger {
            Some(linger) => linger,
            None => {
                let frame = this.close.clone().unwrap_or(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                });
                // Refused once a close is under way (the client's own): that one stands.
                let _ = Pin::new(&mut this.ws).start_send(Message::Close(Some(frame)));
                this.linger.insert(Box::pin(tokio::time::sleep(LINGER)))
            }
        };
        if linger.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.ws).poll_close(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
            Poll::Ready(Ok(())) => {}
        }
        if this.close.is_some() {
            // After a framing error the rest of the input cannot be read as frames.
            return poll_discard(this.ws.get_mut(), cx, &mut this.lingered_bytes);
        }
        loop {
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Poll::Ready(Ok(())),
                Some(Ok(message)) => {
                    this.lingered_bytes += message.len();
                    if this.lingered_bytes > LINGER_BYTES {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}

/// How long a closing WebSocket waits for its client to take the close frame and answer.
const LINGER: Duration = Duration::from_secs(1);

/// The most a closing WebSocket reads (and drops) while it waits for the client's answer.
const LINGER_BYTES: usize = 64 * 1024;

/// Reads and drops input until the client hangs up, or [`LINGER_BYTES`] have come.
fn poll_discard<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    discarded: &mut usize,
) -> Poll<io::Result<()>> {
    let mut scratch = [0u8; 1024];
    while *discarded <= LINGER_BYTES {
        let mut buf = ReadBuf::new(&mut scratch);
        match ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf)) {
            Ok(()) if !buf.filled().is_empty() => *discarded += buf.filled().len(),
            _ => break,
        }
    }
    Poll::Ready(Ok(()))
}
