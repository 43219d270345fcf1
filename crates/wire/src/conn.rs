//! The byte-moving steps of a connection's session loop, shared by every face.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::outbox::{Outbox, OutboxClosed, write_batch};

/// Read in chunks of this size: a few typed lines, or a pasted paragraph, in one call. The
/// buffer is released whenever it is empty, so an idle connection holds none.
pub const READ_CHUNK_BYTES: usize = 2048;

/// Reads what is available into `rbuf`, growing it by at most one chunk.
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
    if rbuf.capacity() - rbuf.len() < READ_CHUNK_BYTES / 4 {
        rbuf.reserve(READ_CHUNK_BYTES);
    }
    reader.read_buf(rbuf).await
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
