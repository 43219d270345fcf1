//! The byte-moving steps of a connection's session loop, shared by every face.

use std::io;

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::outbox::{Outbox, OutboxClosed, write_batch};

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
pub async fn read_some<R: AsyncRead + Unpin>(
    reader: &mut R,
    rbuf: &mut BytesMut,
) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
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
    })
    .await
}

/// Why the writing side of a connection stopped.
#[derive(Debug)]
pub enum WriteEnd {
    /// The outbox closed (gracefully, or by overflow) and everything queued was written.
    Closed(OutboxClosed),
    /// Writing failed.
    Io(io::Error),
}

/// Takes the next batch from `outbox` if none is in progress, then writes it.
///
/// # Errors
/// [`WriteEnd`] when the outbox is closed and drained, or writing failed.
///
/// # Cancel safety
/// Cancel-safe: the batch in progress stays in `wbatch` with what was written removed, and
/// is resumed by the next call.
pub async fn write_step<W: AsyncWrite + Unpin>(
    writer: &mut W,
    outbox: &Outbox,
    wbatch: &mut Vec<Bytes>,
) -> Result<(), WriteEnd> {
    if wbatch.is_empty() {
        outbox.next_batch(wbatch).await.map_err(WriteEnd::Closed)?;
    }
    write_batch(writer, wbatch).await.map_err(WriteEnd::Io)
}
