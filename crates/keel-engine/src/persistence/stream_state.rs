//! The replication stream's ID and offset kept across a restart, as Redis 7 keeps them in the RDB it saves
//! on shutdown: a graceful shutdown that left the data durable (the log written out, or a final snapshot)
//! writes them beside the data, and the next start reads them back and removes the file. A replica that
//! restarts then continues its primary's stream (`PSYNC <id> <offset+1>`), and replicas of a restarted
//! primary continue from it, instead of copying everything again. After a crash there is no file: the log
//! may have lost its last second, which the offset would not know.
//!
//! A replica also survives a crash: after each batch of its primary's stream that changed its data, it
//! writes into its own log, with those changes, a marker `PING keel-repl:<replid>:<offset>` (a command any
//! Redis replays harmlessly). Replaying the log finds the last marker; when no write follows it, the data
//! is exactly the primary's at that offset, and the replica continues from there. Markers are suspended
//! from a full copy until the compaction that makes the copy the log's base.

use super::Persistence;
use crate::state::tenant::Keyspace;

const FILE: &str = "replication-state";
const MARKER: &str = "keel-repl:";

/// The marker's argument for the stream at `offset` of `replid`.
pub fn marker(replid: &str, offset: u64) -> String {
    format!("{MARKER}{replid}:{offset}")
}

/// Follows the markers a replay meets: the last one, and whether a write came after it.
#[derive(Debug, Default)]
pub struct MarkerTrack {
    last: Option<(String, u64)>,
    written_after: bool,
}

impl MarkerTrack {
    /// Notes one replayed command.
    pub fn see(&mut self, args: &[&[u8]]) {
        let found = match args {
            [ping, text] if ping.eq_ignore_ascii_case(b"ping") => std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.strip_prefix(MARKER))
                .and_then(|t| t.split_once(':'))
                .and_then(|(id, offset)| Some((id.to_string(), offset.parse::<u64>().ok()?))),
            _ => None,
        };
        match found {
            Some(position) => (self.last, self.written_after) = (Some(position), false),
            None if !is_harmless(args[0]) => self.written_after = true,
            None => {}
        }
    }

    /// The position the replayed data is at, when the last marker says so.
    pub fn position(self) -> Option<(String, u64)> {
        self.last.filter(|_| !self.written_after)
    }
}

/// Commands that change nothing when replayed twice (the primary sends them again after a continue).
fn is_harmless(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"select") || name.eq_ignore_ascii_case(b"ping")
}

/// Writes the stream's position (the caller holds the lock, so it names exactly the data written out).
pub fn save(p: &Persistence) {
    if !p.stream.is_active() {
        return;
    }
    let (replid, offset) = p.stream.position();
    let path = p.dir.join(FILE);
    if let Err(e) = keel_persist::private_file::replace(&path, format!("{replid} {offset}\n").as_bytes()) {
        tracing::warn!("cannot keep the replication offset in {}: {e}", path.display());
    }
}

/// Takes back the position a graceful shutdown left (the file is removed either way), or else the one the
/// log's markers vouch for.
pub fn restore(p: &Persistence, ks: &mut Keyspace) {
    let path = p.dir.join(FILE);
    let marked = p.recovered_marker.lock().take();
    let saved = std::fs::read_to_string(&path).ok();
    let _ = std::fs::remove_file(&path);
    let from_file = saved.and_then(|text| {
        let mut words = text.split_whitespace();
        Some((words.next()?.to_string(), words.next()?.parse::<u64>().ok()?))
    });
    let Some((replid, offset)) = from_file.or(marked) else { return };
    if replid.len() != 40 || !replid.bytes().all(|b| b.is_ascii_hexdigit()) {
        tracing::warn!("ignoring a saved replication position: '{replid}' is not a replication ID");
        return;
    }
    p.stream.restore(&replid, offset);
    p.stream.activate();
    ks.log.set_replicas(p.stream.takes_writes());
    ks.log.forget_db();
    tracing::info!(offset, "replication stream position restored with the data");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn see(track: &mut MarkerTrack, line: &str) {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        track.see(&words);
    }

    #[test]
    fn the_last_marker_counts_only_when_no_write_follows_it() {
        let id = "a".repeat(40);
        let mut track = MarkerTrack::default();
        see(&mut track, "SET k v");
        see(&mut track, &format!("PING {}", marker(&id, 10)));
        see(&mut track, "SELECT 1");
        assert_eq!(MarkerTrack { ..track }.position(), Some((id.clone(), 10)));
        let mut track = MarkerTrack::default();
        see(&mut track, &format!("PING {}", marker(&id, 10)));
        see(&mut track, "INCR n");
        assert_eq!(track.position(), None, "a write after the marker: the offset is unknown");
        let mut track = MarkerTrack::default();
        see(&mut track, "PING keel-repl:nonsense");
        assert_eq!(track.position(), None);
    }
}
