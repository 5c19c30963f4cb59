//! A connection's push feed: the pub/sub messages, MONITOR lines and invalidations other clients send it,
//! queued until the connection writes them, several at a time.

use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Pushed messages waiting to be written, with their byte count.
pub(crate) struct PushFeed {
    pub(crate) messages: mpsc::UnboundedReceiver<Bytes>,
    pub(crate) queued: Arc<AtomicUsize>,
}

/// The next pushed message, or never when the connection has no feed.
pub(crate) async fn next_pushed(feed: &mut Option<PushFeed>) -> Option<Bytes> {
    match feed {
        Some(feed) => {
            let message = feed.messages.recv().await?;
            feed.queued.fetch_sub(message.len(), Ordering::Relaxed);
            Some(message)
        }
        None => std::future::pending().await,
    }
}

/// Pushed messages to write together.
pub(crate) enum Pushed {
    One(Bytes),
    Many(Vec<u8>),
}

impl Pushed {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Pushed::One(b) => b,
            Pushed::Many(v) => v,
        }
    }
}

/// Bytes of pushed messages gathered into one write.
const PUSH_BATCH: usize = 256 * 1024;

impl PushFeed {
    /// `first` plus whatever else is already queued (up to [`PUSH_BATCH`] bytes), without waiting.
    pub(crate) fn drain_after(&mut self, first: Bytes) -> Pushed {
        let Ok(second) = self.messages.try_recv() else { return Pushed::One(first) };
        let mut all = Vec::with_capacity((first.len() + second.len()) * 4);
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        let mut taken = second.len();
        while all.len() < PUSH_BATCH {
            let Ok(next) = self.messages.try_recv() else { break };
            taken += next.len();
            all.extend_from_slice(&next);
        }
        self.queued.fetch_sub(taken, Ordering::Relaxed);
        Pushed::Many(all)
    }
}
