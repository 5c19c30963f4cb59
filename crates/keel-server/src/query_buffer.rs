//! The reusable query buffer (Redis 8's `thread_shared_qb`): a connection with nothing pending reads into
//! its worker thread's buffer instead of one of its own, so that a connection between requests holds no
//! input buffer at all. Only a read that ends inside a command makes the connection keep a private buffer
//! (the rest of that command is copied there), which it gives back after a while idle.
//!
//! The buffer is taken out of the thread's slot for one read and the batch that follows, which runs without
//! awaiting, and put back when that batch is done ([`SharedInput`]'s drop); a thread whose buffer is out
//! (never, unless a task is cancelled mid-batch) makes a new one.

use bytes::BytesMut;
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// The reusable buffer's size, Redis's `PROTO_IOBUF_LEN`: also what a private buffer starts with.
pub(crate) const SHARED_INPUT_BYTES: usize = 16 * 1024;

thread_local! {
    /// This worker thread's reusable buffer, zeroed once: reads fill it in place.
    static SHARED: RefCell<Option<Box<[u8]>>> = const { RefCell::new(None) };
}

/// Bytes one read left in the thread's reusable buffer; the buffer goes back to the thread when dropped.
pub(crate) struct SharedInput {
    buffer: Option<Box<[u8]>>,
    len: usize,
}

impl SharedInput {
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buffer.as_deref().map_or(&[], |buffer| &buffer[..self.len])
    }
}

impl Drop for SharedInput {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            // A thread being torn down has no slot any more: the buffer is simply freed.
            let _ = SHARED.try_with(|slot| {
                slot.borrow_mut().get_or_insert(buffer);
            });
        }
    }
}

/// What one read brought.
pub(crate) enum Arrived {
    /// The peer closed the connection.
    Closed,
    /// Bytes appended to the connection's own buffer.
    Private(usize),
    /// Bytes in the thread's reusable buffer (the connection had nothing pending and no buffer).
    Shared(SharedInput),
}

impl Arrived {
    pub(crate) fn len(&self) -> usize {
        match self {
            Arrived::Closed => 0,
            Arrived::Private(n) => *n,
            Arrived::Shared(shared) => shared.len,
        }
    }
}

/// Reads what the peer sent: into `input` when the connection keeps a buffer (a partial command, or one it
/// has not given back yet), otherwise into the thread's reusable buffer.
pub(crate) async fn read<S: AsyncRead + Unpin>(stream: &mut S, input: &mut BytesMut) -> io::Result<Arrived> {
    if input.capacity() > 0 {
        return Ok(match stream.read_buf(input).await? {
            0 => Arrived::Closed,
            n => Arrived::Private(n),
        });
    }
    poll_fn(|cx| {
        let mut buffer = SHARED.with(|slot| slot.borrow_mut().take()).unwrap_or_else(fresh_buffer);
        let mut read = ReadBuf::new(&mut buffer);
        let polled = Pin::new(&mut *stream).poll_read(cx, &mut read);
        let len = read.filled().len();
        let shared = SharedInput { buffer: Some(buffer), len };
        match polled {
            Poll::Ready(Ok(())) if len == 0 => Poll::Ready(Ok(Arrived::Closed)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(Arrived::Shared(shared))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

fn fresh_buffer() -> Box<[u8]> {
    vec![0; SHARED_INPUT_BYTES].into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_connection_without_a_buffer_reads_into_the_threads_and_gives_it_back() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let mut input = BytesMut::new();
        client.write_all(b"PING\r\n").await.unwrap();
        let Arrived::Shared(shared) = read(&mut server, &mut input).await.unwrap() else { panic!("not shared") };
        assert_eq!(shared.bytes(), b"PING\r\n");
        assert_eq!(input.capacity(), 0);
        let address = shared.bytes().as_ptr();
        drop(shared);
        client.write_all(b"ECHO\r\n").await.unwrap();
        let Arrived::Shared(again) = read(&mut server, &mut input).await.unwrap() else { panic!("not shared") };
        assert_eq!(again.bytes(), b"ECHO\r\n");
        assert_eq!(again.bytes().as_ptr(), address, "the same buffer is reused");
    }

    #[tokio::test]
    async fn a_connection_with_a_buffer_reads_into_it() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let mut input = BytesMut::with_capacity(16);
        input.extend_from_slice(b"*1\r\n");
        client.write_all(b"$4\r\nPING\r\n").await.unwrap();
        assert!(matches!(read(&mut server, &mut input).await.unwrap(), Arrived::Private(10)));
        assert_eq!(&input[..], b"*1\r\n$4\r\nPING\r\n");
        drop(client);
        assert!(matches!(read(&mut server, &mut BytesMut::new()).await.unwrap(), Arrived::Closed));
    }
}
