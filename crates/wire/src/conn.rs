//! The byte-moving steps of a connection's session loop, shared by every face: reading,
//! pacing after a read, and writing batches from the outbox.

use std::io;

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use teahouse_types::LeaveReason;
use teahouse_types::pace::YIELD_AFTER_BYTES;

use crate::outbox::{Outbox, OutboxClosed, poll_write_batch};

/// Read in chunks of this size: a few typed lines, or a pasted paragraph, in one call.
pub const READ_CHUNK_BYTES: usize = 2048;

/// Reads what is available into `rbuf`: at most one chunk per call.
///
/// The bytes land in a stack buffer inside one poll and are copied into `rbuf` only once
/// they have arrived, so a connection waiting for input holds no read buffer at all (the
/// caller releases `rbuf` once it is empty).
///
/// # Errors
/// The reader's I/O error.
///
/// # Cancel safety
/// Cancel-safe: a read that did not complete consumed nothing.
pub fn read_some<'a, R: AsyncRead + Unpin>(
    reader: &'a mut R,
    rbuf: &'a mut BytesMut,
) -> impl Future<Output = io::Result<usize>> + 'a {
    // A bare poll function, not an `async fn` (which would keep copies of its arguments):
    // this future is part of every session task, idle or not.
    std::future::poll_fn(move |cx| poll_read_some(reader, cx, rbuf))
}

/// [`read_some`] as one poll: what the session driver calls.
///
/// # Errors
/// The reader's I/O error.
pub fn poll_read_some<R: AsyncRead + Unpin>(
    reader: &mut R,
    cx: &mut Context<'_>,
    rbuf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    let mut buf = ReadBuf::new(&mut chunk);
    match Pin::new(&mut *reader).poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => {
            rbuf.extend_from_slice(buf.filled());
            Poll::Ready(Ok(buf.filled().len()))
        }
        Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
        Poll::Pending => Poll::Pending,
    }
}

/// The bookkeeping after each read, the same for every face.
#[derive(Debug, Default)]
pub struct ReadPacer {
    unyielded_bytes: usize,
}

impl ReadPacer {
    /// Call after the bytes of a read were processed: gives the read buffer back if it is
    /// empty (an idle connection holds none), and says whether the session should now yield
    /// (after a burst). The caller yields outside its `select!`, so the yield's state does
    /// not add to the size of every idle session's task.
    #[must_use]
    pub fn after_read(&mut self, rbuf: &mut BytesMut, read_bytes: usize) -> bool {
        if rbuf.is_empty() {
            *rbuf = BytesMut::new();
        }
        self.unyielded_bytes += read_bytes;
        if self.unyielded_bytes >= YIELD_AFTER_BYTES {
            self.unyielded_bytes = 0;
            return true;
        }
        false
    }
}

/// Why the writing side of a connection stopped.
#[derive(Debug)]
pub enum WriteEnd {
    /// The outbox closed (gracefully, or by overflow) and everything queued was written.
    Closed(OutboxClosed),
    /// Writing failed.
    Io(io::Error),
}

impl WriteEnd {
    /// Why the session ends, for the hub: `None` for a graceful close (the session already
    /// left), a lost connection for a write error, the send queue for an overflow.
    pub fn leave_reason(&self) -> Option<LeaveReason> {
        match self {
            Self::Closed(OutboxClosed::Graceful) => None,
            Self::Closed(OutboxClosed::Overflow) => Some(LeaveReason::SendQueueExceeded),
            Self::Io(_) => Some(LeaveReason::ConnectionLost),
        }
    }
}

/// Takes the next batch from `outbox` if none is in progress, then writes it. A write
/// blocked on a client that does not read ends at once when the outbox overflows. Once a
/// batch is written, its vector's capacity is given back if it grew, so an idle connection
/// keeps nothing from its last burst.
///
/// # Errors
/// [`WriteEnd`] when the outbox is closed and drained (or overflowed), or writing failed.
///
/// # Cancel safety
/// Cancel-safe: the batch in progress stays in `wbatch` with what was written removed, and
/// is resumed by the next call.
pub fn write_step<'a, W: AsyncWrite + Unpin>(
    writer: &'a mut W,
    outbox: &'a Outbox,
    wbatch: &'a mut Vec<Bytes>,
) -> impl Future<Output = Result<(), WriteEnd>> + 'a {
    // One poll function and no nested futures: this future is part of every session task,
    // idle or not, so it holds nothing but its three references.
    std::future::poll_fn(move |cx| poll_write_step(writer, cx, outbox, wbatch))
}

/// [`write_step`] as one poll: what the session driver calls.
///
/// # Errors
/// As [`write_step`].
pub fn poll_write_step<W: AsyncWrite + Unpin>(
    writer: &mut W,
    cx: &mut Context<'_>,
    outbox: &Outbox,
    wbatch: &mut Vec<Bytes>,
) -> Poll<Result<(), WriteEnd>> {
    if wbatch.is_empty() {
        // A writer that buffers (a WebSocket, TLS) may still hold what the last batch put
        // there, if its flush could not finish then: that goes first, or it would wait for
        // the next batch. A socket's flush does nothing.
        if Pin::new(&mut *writer)
            .poll_flush(cx)
            .map_err(WriteEnd::Io)?
            .is_pending()
        {
            if outbox.poll_overflowed(cx).is_ready() {
                return Poll::Ready(Err(WriteEnd::Closed(OutboxClosed::Overflow)));
            }
            return Poll::Pending;
        }
        std::task::ready!(outbox.poll_next_batch(cx, wbatch)).map_err(WriteEnd::Closed)?;
    }
    if outbox.poll_overflowed(cx).is_ready() {
        return Poll::Ready(Err(WriteEnd::Closed(OutboxClosed::Overflow)));
    }
    std::task::ready!(poll_write_batch(writer, cx, wbatch)).map_err(WriteEnd::Io)?;
    if wbatch.capacity() > 4 {
        *wbatch = Vec::new();
    }
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Waker;

    use super::*;

    /// A writer that buffers, as a WebSocket or TLS does: its first flush cannot finish.
    #[derive(Default)]
    struct Buffering {
        buffered: Vec<u8>,
        sent: Vec<u8>,
        flushes: AtomicUsize,
    }

    impl AsyncWrite for Buffering {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().buffered.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if this.flushes.fetch_add(1, Ordering::Relaxed) == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.sent.append(&mut this.buffered);
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn issue_13_a_flush_left_pending_is_finished_without_waiting_for_more_lines() {
        let outbox = Outbox::new(1024);
        outbox.push(Bytes::from_static(b"one\r\n")).expect("room");
        let mut writer = Buffering::default();
        let mut wbatch = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        // The batch is written, but its flush has to wait.
        assert!(poll_write_step(&mut writer, &mut cx, &outbox, &mut wbatch).is_pending());
        assert!(wbatch.is_empty() && writer.sent.is_empty());
        // Woken with nothing new queued: the flush is tried again and finishes.
        let _ = poll_write_step(&mut writer, &mut cx, &outbox, &mut wbatch);
        assert_eq!(writer.sent, b"one\r\n");
    }
}
