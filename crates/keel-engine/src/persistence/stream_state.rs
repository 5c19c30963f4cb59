//! The replication stream's ID and offset kept across a restart, as Redis 7 keeps them in the RDB it saves
//! on shutdown: a graceful shutdown that left the data durable (the log written out, or a final snapshot)
//! writes them beside the data, and the next start reads them back and removes the file. A replica that
//! restarts then continues its primary's stream (`PSYNC <id> <offset+1>`), and replicas of a restarted
//! primary continue from it, instead of copying everything again. After a crash there is no file: the log
//! may have lost its last second, which the offset would not know, so everyone copies afresh.

use super::Persistence;
use crate::state::tenant::Keyspace;

const FILE: &str = "replication-state";

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

/// Takes back the position a graceful shutdown left (the file is removed either way).
pub fn restore(p: &Persistence, ks: &mut Keyspace) {
    let path = p.dir.join(FILE);
    let Ok(text) = std::fs::read_to_string(&path) else { return };
    let _ = std::fs::remove_file(&path);
    let mut words = text.split_whitespace();
    let (Some(replid), Some(offset)) = (words.next(), words.next().and_then(|o| o.parse::<u64>().ok())) else {
        tracing::warn!("ignoring {}: not an ID and an offset", path.display());
        return;
    };
    if replid.len() != 40 || !replid.bytes().all(|b| b.is_ascii_hexdigit()) {
        tracing::warn!("ignoring {}: not a replication ID", path.display());
        return;
    }
    p.stream.restore(replid, offset);
    p.stream.activate();
    ks.log.set_replicas(p.stream.takes_writes());
    ks.log.forget_db();
    tracing::info!(offset, "replication stream restored from the last shutdown");
}
