//! One database's replication stream: its ID, the offset of its last byte (`master_repl_offset`), and the
//! backlog, the stream's most recent bytes, from which replicas are fed and a replica that reconnects
//! continues (`+CONTINUE`) instead of loading a full copy again.
//!
//! Offsets count bytes as Redis counts them: the stream's bytes are numbered from 1, and a replica that has
//! applied every byte up to `n` asks to continue with `PSYNC <id> n+1`. The backlog is a queue of shared
//! chunks (one per batch of writes), so each replica's feeder takes cheap references to what it has not sent
//! yet and writes them without holding anything.
//!
//! On a primary the stream is what the append-only log receives (the batch's writes, in the form that
//! replays the same). On a replica it mirrors its primary's stream byte for byte, with the primary's ID and
//! offsets, so its own replicas (and a promotion) continue from the same numbers.

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::VecDeque;

/// The size of the blocks the backlog's chunks are cut from.
const BLOCK: usize = 16 * 1024;

/// The stream's state, behind its own lock (never the database's: feeders read it without that lock).
pub struct Stream {
    inner: Mutex<Inner>,
    /// The offset of the last byte, for feeders waiting for more.
    end: tokio::sync::watch::Sender<u64>,
}

struct Inner {
    replid: String,
    /// The ID this stream had before a promotion, valid up to `second_offset` (PSYNC2).
    replid2: String,
    second_offset: i64,
    offset: u64,
    /// Whether the backlog exists (made when the first replica attaches, as Redis does).
    active: bool,
    chunks: VecDeque<Bytes>,
    /// Where appended batches are copied: each chunk is a slice of one such block, so a batch costs no
    /// allocation of its own (a 16 KiB block serves many), and the allocator does not churn small blocks
    /// through the backlog in FIFO order.
    block: BytesMut,
    /// Bytes held in `chunks`: they are the stream's bytes `offset - held + 1 ..= offset`.
    held: usize,
    /// The stream mirrors a primary's (set while this database is a replica).
    mirroring: bool,
    /// When the last replica left (for `repl-backlog-ttl`), in unix ms; 0 while one is attached.
    idle_since_ms: u64,
    /// The most the backlog holds between two trims, whoever still needs the bytes.
    hard_limit: usize,
}

/// Where a replica asking to continue stands against the backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continue {
    /// It may continue: the stream's current ID, and the bytes it lacks start after `from`.
    From { replid: String, from: u64 },
    /// It must load a full copy (unknown ID, or its offset is no longer in the backlog).
    Full,
}

/// The bytes after a replica's position, or the news that they are gone from the backlog.
pub enum Pending {
    Bytes(Vec<Bytes>, u64),
    Lost,
}

impl Default for Stream {
    fn default() -> Self {
        Stream::new()
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream {
            inner: Mutex::new(Inner {
                replid: new_replid(),
                replid2: "0".repeat(40),
                second_offset: -1,
                offset: 0,
                active: false,
                chunks: VecDeque::new(),
                block: BytesMut::new(),
                held: 0,
                mirroring: false,
                idle_since_ms: 0,
                hard_limit: 256 << 20,
            }),
            end: tokio::sync::watch::channel(0).0,
        }
    }

    /// Whether writes must reach the stream (a backlog exists and this database is not mirroring).
    pub fn takes_writes(&self) -> bool {
        let inner = self.inner.lock();
        inner.active && !inner.mirroring
    }

    /// This database mirrors a primary's stream (it is a replica).
    pub fn is_mirroring(&self) -> bool {
        self.inner.lock().mirroring
    }

    pub fn is_active(&self) -> bool {
        self.inner.lock().active
    }

    /// Makes the backlog, if there is none yet.
    pub fn activate(&self) {
        let mut inner = self.inner.lock();
        inner.active = true;
        inner.idle_since_ms = 0;
    }

    /// The stream's ID and the offset of its last byte.
    pub fn position(&self) -> (String, u64) {
        let inner = self.inner.lock();
        (inner.replid.clone(), inner.offset)
    }

    pub fn offset(&self) -> u64 {
        self.inner.lock().offset
    }

    /// `master_replid2` and `second_repl_offset`, for INFO.
    pub fn previous(&self) -> (String, i64) {
        let inner = self.inner.lock();
        (inner.replid2.clone(), inner.second_offset)
    }

    /// First byte held and bytes held, for INFO (`repl_backlog_first_byte_offset`, `repl_backlog_histlen`).
    pub fn backlog_span(&self) -> (u64, usize) {
        let inner = self.inner.lock();
        (inner.offset + 1 - inner.held as u64, inner.held)
    }

    /// Appends bytes written to the stream; the backlog keeps at most its hard limit here (the periodic
    /// [`Stream::trim`] brings it down to its configured size once no replica still needs the rest).
    pub fn append(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let offset = {
            let mut inner = self.inner.lock();
            if !inner.active {
                return;
            }
            if inner.block.capacity() - inner.block.len() < bytes.len() {
                inner.block = BytesMut::with_capacity(BLOCK.max(bytes.len()));
            }
            inner.block.extend_from_slice(bytes);
            let chunk = inner.block.split().freeze();
            inner.chunks.push_back(chunk);
            inner.held += bytes.len();
            inner.offset += bytes.len() as u64;
            let hard_limit = inner.hard_limit;
            inner.trim_to(hard_limit);
            inner.offset
        };
        self.end.send_replace(offset);
    }

    /// Drops the oldest bytes down to `size`, but never those after `keep_after` (what the slowest
    /// attached replica has not been sent yet) unless they pass `hard_limit`, which also bounds appends.
    pub fn trim(&self, size: usize, keep_after: Option<u64>, hard_limit: usize) {
        let mut inner = self.inner.lock();
        inner.hard_limit = hard_limit.max(size);
        let needed = keep_after.map_or(0, |sent| inner.offset.saturating_sub(sent) as usize);
        inner.trim_to(size.max(needed));
    }

    /// The bytes after `sent`, up to the end; `Lost` when the backlog no longer holds them.
    pub fn pending(&self, sent: u64) -> Pending {
        let inner = self.inner.lock();
        let first = inner.offset - inner.held as u64;
        if sent < first || sent > inner.offset {
            return Pending::Lost;
        }
        // From the newest chunk back: a replica that keeps up lacks only the last few of many.
        let mut lacking = (inner.offset - sent) as usize;
        let mut out = Vec::new();
        for chunk in inner.chunks.iter().rev() {
            if lacking == 0 {
                break;
            }
            let take = chunk.len().min(lacking);
            out.push(chunk.slice(chunk.len() - take..));
            lacking -= take;
        }
        out.reverse();
        Pending::Bytes(out, inner.offset)
    }

    /// Waits until the stream has bytes after `sent`.
    pub async fn wait_past(&self, sent: u64) {
        let mut rx = self.end.subscribe();
        let _ = rx.wait_for(|end| *end > sent).await;
    }

    /// Whether a replica that has `replid` up to `psync_offset - 1` may continue (Redis's
    /// `masterTryPartialResynchronization`).
    pub fn can_continue(&self, replid: &str, psync_offset: u64) -> Continue {
        let inner = self.inner.lock();
        let known = replid == inner.replid
            || (replid == inner.replid2 && i64::try_from(psync_offset).is_ok_and(|o| o <= inner.second_offset));
        let from = psync_offset.wrapping_sub(1);
        let first = inner.offset - inner.held as u64;
        if !known || !inner.active || psync_offset == 0 || from < first || from > inner.offset {
            return Continue::Full;
        }
        Continue::From { replid: inner.replid.clone(), from }
    }

    /// Mirrors a primary's stream from the ID and offset of a full copy just loaded: the backlog restarts
    /// empty at that offset.
    pub fn follow(&self, replid: &str, offset: u64) {
        let mut inner = self.inner.lock();
        inner.replid = replid.to_string();
        inner.replid2 = "0".repeat(40);
        inner.second_offset = -1;
        inner.offset = offset;
        inner.chunks.clear();
        inner.held = 0;
        inner.mirroring = true;
        inner.active = true;
        drop(inner);
        self.end.send_replace(offset);
    }

    /// Continues mirroring a primary that answered `+CONTINUE <replid>` (its ID may be new after a
    /// promotion: the old one becomes the second ID, valid up to here).
    pub fn continue_with(&self, replid: &str) {
        let mut inner = self.inner.lock();
        if inner.replid != replid {
            inner.replid2 = std::mem::replace(&mut inner.replid, replid.to_string());
            inner.second_offset = inner.offset as i64 + 1;
        }
        inner.mirroring = true;
        inner.active = true;
    }

    /// Stops mirroring and takes a new ID (REPLICAOF NO ONE): replicas of the old stream continue, since
    /// the old ID stays valid up to this offset.
    pub fn promote(&self) {
        let mut inner = self.inner.lock();
        inner.replid2 = std::mem::replace(&mut inner.replid, new_replid());
        inner.second_offset = inner.offset as i64 + 1;
        inner.mirroring = false;
    }

    /// Starts a new history (a restore replaced the dataset): a new ID and no second one, so that no
    /// replica continues from the old data; each must load a full copy.
    pub fn new_history(&self) {
        let mut inner = self.inner.lock();
        inner.replid = new_replid();
        inner.replid2 = "0".repeat(40);
        inner.second_offset = -1;
        inner.chunks.clear();
        inner.held = 0;
    }

    /// Starts mirroring a new primary; until the first sync the stream keeps its position (a replica of a
    /// replica may still continue from it).
    pub fn start_mirroring(&self) {
        self.inner.lock().mirroring = true;
    }

    /// Notes that the last replica left (or that one is attached: `now_ms` 0), and drops the backlog once
    /// it has been idle for `ttl_secs` (never while mirroring: a replica keeps it to be promoted).
    pub fn note_idle(&self, now_ms: u64, ttl_secs: u64) {
        let mut inner = self.inner.lock();
        if now_ms == 0 {
            inner.idle_since_ms = 0;
            return;
        }
        if inner.idle_since_ms == 0 {
            inner.idle_since_ms = now_ms;
        } else if ttl_secs > 0 && !inner.mirroring && now_ms - inner.idle_since_ms >= ttl_secs * 1000 {
            inner.active = false;
            inner.chunks.clear();
            inner.held = 0;
        }
    }

    /// The ID and offset saved with a snapshot, and restored with it (a restarted replica continues).
    pub fn restore(&self, replid: &str, offset: u64) {
        let mut inner = self.inner.lock();
        inner.replid = replid.to_string();
        inner.offset = offset;
        drop(inner);
        self.end.send_replace(offset);
    }
}

impl Inner {
    fn trim_to(&mut self, size: usize) {
        while self.held > size {
            let Some(front) = self.chunks.front_mut() else { break };
            let excess = self.held - size;
            if front.len() <= excess {
                self.held -= front.len();
                self.chunks.pop_front();
            } else {
                *front = front.slice(excess..);
                self.held -= excess;
            }
        }
    }
}

/// A fresh 40-character replication ID.
pub fn new_replid() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(pending: Pending) -> Option<(Vec<u8>, u64)> {
        match pending {
            Pending::Bytes(chunks, end) => Some((chunks.concat(), end)),
            Pending::Lost => None,
        }
    }

    #[test]
    fn feeds_bytes_after_a_position_and_forgets_what_was_trimmed() {
        let s = Stream::new();
        s.append(b"ignored");
        assert_eq!(s.offset(), 0, "no backlog: nothing counted");
        s.activate();
        s.append(b"hello ");
        s.append(b"world");
        assert_eq!(s.offset(), 11);
        assert_eq!(collect(s.pending(3)), Some((b"lo world".to_vec(), 11)));
        assert_eq!(collect(s.pending(11)), Some((Vec::new(), 11)));
        s.trim(4, None, 100);
        assert_eq!(s.backlog_span(), (8, 4));
        assert!(collect(s.pending(6)).is_none());
        assert_eq!(collect(s.pending(7)), Some((b"orld".to_vec(), 11)));
    }

    #[test]
    fn trimming_keeps_what_an_attached_replica_has_not_been_sent() {
        let s = Stream::new();
        s.activate();
        s.append(&[b'x'; 100]);
        s.trim(10, Some(50), 120);
        assert_eq!(s.backlog_span(), (51, 50));
        s.append(&[b'y'; 100]);
        assert_eq!(s.backlog_span().1, 120, "the hard limit wins over a slow replica");
    }

    #[test]
    fn continues_with_this_id_or_the_previous_one_up_to_the_promotion() {
        let s = Stream::new();
        s.activate();
        s.append(b"0123456789");
        let (old, _) = s.position();
        assert_eq!(s.can_continue(&old, 5), Continue::From { replid: old.clone(), from: 4 });
        assert_eq!(s.can_continue(&old, 11), Continue::From { replid: old.clone(), from: 10 });
        assert_eq!(s.can_continue(&old, 12), Continue::Full);
        assert_eq!(s.can_continue("unknown", 5), Continue::Full);
        s.promote();
        let (new, _) = s.position();
        assert_ne!(new, old);
        assert_eq!(s.can_continue(&old, 11), Continue::From { replid: new.clone(), from: 10 });
        s.append(b"ab");
        assert_eq!(s.can_continue(&old, 12), Continue::Full, "the old ID ends where the promotion was");
    }

    proptest::proptest! {
        /// Whatever the batches' sizes (across and past the blocks they are cut from) and the trims, the
        /// bytes after any position still held are the stream's, and older positions are lost.
        #[test]
        fn pending_bytes_are_the_stream_s_own(
            steps in proptest::collection::vec((1usize..40_000, proptest::prelude::any::<u8>(), 0usize..5), 1..40),
            probes in proptest::collection::vec(0u64..1_000_000, 8),
        ) {
            let s = Stream::new();
            s.activate();
            let mut model: Vec<u8> = Vec::new();
            for (len, byte, trim) in steps {
                let batch: Vec<u8> = (0..len).map(|i| byte.wrapping_add(i as u8)).collect();
                s.append(&batch);
                model.extend_from_slice(&batch);
                if trim == 0 {
                    s.trim(50_000, None, 1 << 30);
                }
            }
            let end = model.len() as u64;
            let (first, held) = s.backlog_span();
            proptest::prop_assert_eq!(first - 1 + held as u64, end);
            for probe in probes {
                let sent = probe % (end + 1);
                match collect(s.pending(sent)) {
                    Some((bytes, at)) => {
                        proptest::prop_assert!(sent + 1 >= first);
                        proptest::prop_assert_eq!(at, end);
                        proptest::prop_assert_eq!(&bytes[..], &model[sent as usize..]);
                    }
                    None => proptest::prop_assert!(sent + 1 < first),
                }
            }
        }
    }
}
