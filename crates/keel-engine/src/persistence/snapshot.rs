//! Snapshots in RDB format, without forking and without stopping the world. A snapshot begins under the
//! tenant lock by starting a point-in-time capture of every database (`Db::begin_capture`); a background
//! job then writes entries out in short steps, taking the lock for each, while a client's write to an entry
//! not yet written hands the old entry over first. The encoder is shared by the walker and those writes.
//!
//! The same machinery makes `dump.rdb` (`BGSAVE`, `save` rules, shutdown) and the base of a compacted log
//! (`BGREWRITEAOF`, automatic compaction): there, the log switches to a fresh file at the very instant the
//! capture begins, so base plus new log is exactly the dataset.

use super::{Persistence, Status};
use crate::clock::unix_ms;
use crate::server::Server;
use crate::state::tenant::{Keyspace, Tenant};
use keel_persist::manifest::{self, Kind, Manifest, Part};
use keel_persist::rdb::{RdbEncoder, RdbSink};
use keel_store::{CaptureSink, Value};
use parking_lot::Mutex;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Entries written per step of a background snapshot (the lock is released between steps).
const ENTRIES_PER_STEP: usize = 1024;
/// Bytes `save_now` lets the encoder hold before they go to disk.
const BYTES_PER_STEP: usize = 1 << 20;

/// What a background job produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `dump.rdb` (BGSAVE).
    Rdb,
    /// A new base for the log, which restarts in a new file (BGREWRITEAOF).
    Rewrite,
}

/// Hands captured entries of one database to the shared encoder.
struct Sink {
    db: usize,
    encoder: Arc<Mutex<RdbEncoder>>,
}

impl CaptureSink for Sink {
    fn capture(&mut self, key: &[u8], value: &Value, expire_at: Option<u64>) {
        self.encoder.lock().entry(self.db, key, value, expire_at);
    }
}

fn aux_fields(ks: &Keyspace, aof_base: bool) -> Vec<(&'static str, String)> {
    vec![
        // The format is Redis 7.0's (RDB 10), so that 7.0 and later load it: its version says so.
        ("redis-ver", "7.0.15".to_string()),
        ("redis-bits", "64".to_string()),
        ("ctime", (unix_ms() / 1000).to_string()),
        ("used-mem", ks.used_memory().to_string()),
        ("aof-base", (aof_base as u8).to_string()),
        ("keel-ver", env!("CARGO_PKG_VERSION").to_string()),
    ]
}

/// A file being written under a temporary name, renamed into place only when complete and on disk.
struct RdbFile {
    temp: PathBuf,
    target: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    crc: RdbSink,
}

impl RdbFile {
    fn create(target: &Path) -> std::io::Result<RdbFile> {
        let dir = target.parent().unwrap_or(Path::new("."));
        let temp = dir.join(format!("temp-{}-{}.rdb", std::process::id(), unix_ms()));
        let file = keel_persist::private_file::create(&temp)?;
        Ok(RdbFile {
            temp,
            target: target.to_path_buf(),
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            crc: RdbSink::default(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.out.write_all(bytes)
    }

    /// Appends the checksum, fsyncs, renames into place and fsyncs the directory. Returns the size.
    fn commit(mut self) -> std::io::Result<u64> {
        let size = self.crc.written + 8;
        let trailer = std::mem::take(&mut self.crc).trailer();
        self.out.write_all(&trailer)?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&self.temp, &self.target)?;
        keel_persist::private_file::sync_dir(self.target.parent().unwrap_or(Path::new(".")))?;
        Ok(size)
    }

    fn abandon(self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Writes the whole keyspace to `path` while the caller holds the lock (SAVE, shutdown, DEBUG RELOAD). The
/// file is written from this thread, so it leaves the async worker first (`keel_pace`).
pub fn save_now(ks: &Keyspace, path: &Path, aof_base: bool, compress: bool) -> Result<u64, String> {
    keel_pace::leave_worker();
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = RdbFile::create(path).map_err(fail)?;
    let mut enc = RdbEncoder::new(compress);
    enc.header(&aux_fields(ks, aof_base));
    for code in ks.scripting.functions.codes() {
        enc.function(&code);
    }
    let now = unix_ms();
    let result = (|| {
        for (index, db) in ks.dbs.iter().enumerate() {
            if db.is_empty() {
                continue;
            }
            enc.begin_db(index, db.len(), db.volatile_len());
            for slot in db.slots() {
                let expire = db.expire_at(slot);
                // A plain snapshot leaves out what has expired; a log base keeps it (see `load`).
                if !aof_base && expire.is_some_and(|at| at <= now) {
                    continue;
                }
                enc.entry(index, db.key(slot), db.value(slot), expire);
                if enc.buf.len() >= BYTES_PER_STEP {
                    file.write(&enc.buf)?;
                    enc.buf.clear();
                }
            }
        }
        enc.finish();
        file.write(&enc.buf)
    })();
    match result {
        Ok(()) => file.commit().map_err(fail),
        Err(e) => {
            file.abandon();
            Err(fail(e))
        }
    }
}

/// Runs one background job to the end, stepping through the keyspace.
pub async fn run(server: &Arc<Server>, tenant: &Arc<Tenant>, job: Job) -> Result<(), String> {
    let persistence = &tenant.persistence;
    let started = Instant::now();
    let (dump_path, compress, appendfilename, log_dir) = {
        let s = server.settings.read();
        (persistence.dump_path(&s), s.rdbcompression, s.appendfilename.clone(), persistence.log_dir(&s))
    };
    // For a rewrite: the next log file, named by the manifest before anything is written to it.
    let mut next_manifest = None;
    let target = match job {
        Job::Rdb => dump_path,
        Job::Rewrite => {
            let mut current = persistence.manifest.lock().clone().unwrap_or_default();
            let incr_seq = current.last_incr_seq() + 1;
            let incr = manifest::incr_name(&appendfilename, incr_seq);
            let file =
                keel_persist::private_file::open_append(&log_dir.join(&incr)).map_err(|e| format!("{incr}: {e}"))?;
            current.parts.push(Part { name: incr.clone(), seq: incr_seq, kind: Kind::Incr });
            manifest::write(&log_dir, &appendfilename, &current).map_err(|e| format!("manifest: {e}"))?;
            *persistence.manifest.lock() = Some(current.clone());
            let base_seq = current.base_seq() + 1;
            next_manifest = Some((current, incr, file, base_seq));
            log_dir.join(manifest::base_name(&appendfilename, base_seq))
        }
    };
    let mut file = RdbFile::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let encoder = Arc::new(Mutex::new(RdbEncoder::new(compress)));
    let databases = {
        let mut ks = tenant.lock();
        if let Some((_, _, log_file, _)) = &mut next_manifest {
            // Everything that ran before this instant goes to the old file; everything after, to the new
            // one, which the base written from this instant precedes.
            tenant.flush_expired(server, &mut ks);
            persistence.submit(&mut ks.log);
            let log = persistence.log.read();
            if let Some(log) = log.as_ref() {
                let switched = log_file.try_clone().and_then(|handle| log.switch_to(handle));
                if let Err(e) = switched {
                    // The manifest names the old logs and the new, empty one: replay still reads them all.
                    file.abandon();
                    return Err(format!("cannot switch the log to its next file: {e}"));
                }
            }
            ks.log.forget_db();
            // A replica's new log starts at the stream position of this instant, which the base holds.
            if persistence.stream.is_mirroring() {
                let (replid, offset) = persistence.stream.position();
                ks.log.mark_position(&replid, offset);
                persistence.markers_valid.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let aux = aux_fields(&ks, job == Job::Rewrite);
        begin_capture(&mut ks, &encoder, &aux);
        persistence.status.lock().dirty_at_snapshot_start = ks.dirty;
        ks.dbs.len()
    };
    let walked =
        walk(server, tenant, &encoder, databases, &mut file).await.map_err(|e| format!("{}: {e}", target.display()));
    let tail = end_capture(tenant, &encoder, walked.as_ref().copied().unwrap_or(0));
    let dirty_at_start = persistence.status.lock().dirty_at_snapshot_start;
    let written = walked.and_then(|_| file.write(&tail).map_err(|e| e.to_string()));
    let committed = match written {
        Ok(()) => file.commit().map_err(|e| format!("{}: {e}", target.display())),
        Err(e) => {
            file.abandon();
            Err(e)
        }
    };
    let elapsed = started.elapsed().as_millis() as u64;
    let mut status = persistence.status.lock();
    match job {
        Job::Rdb => {
            status.rdb_last_duration_ms = elapsed;
            status.rdb_last_bgsave_ok = committed.is_ok();
            if committed.is_ok() {
                status.rdb_last_save_unix = unix_ms() / 1000;
                status.dirty_at_last_save = dirty_at_start;
                status.rdb_saves += 1;
            }
        }
        Job::Rewrite => {
            status.aof_last_rewrite_duration_ms = elapsed;
            status.aof_last_rewrite_ok = committed.is_ok();
            if committed.is_ok() {
                status.aof_rewrites += 1;
            }
        }
    }
    drop(status);
    let size = committed?;
    if let Some((old, incr, _, base_seq)) = next_manifest {
        finish_rewrite(persistence, &log_dir, &appendfilename, old, incr, base_seq, size)?;
    }
    tracing::info!(?job, ms = elapsed, bytes = size, "background snapshot done");
    Ok(())
}

/// Starts a point-in-time capture of every database of `ks` into `encoder`, after the RDB header and the
/// FUNCTION libraries.
fn begin_capture(ks: &mut Keyspace, encoder: &Arc<Mutex<RdbEncoder>>, aux: &[(&'static str, String)]) {
    {
        let mut enc = encoder.lock();
        enc.header(aux);
        for code in ks.scripting.functions.codes() {
            enc.function(&code);
        }
    }
    for (index, db) in ks.dbs.iter_mut().enumerate() {
        db.begin_capture(Box::new(Sink { db: index, encoder: encoder.clone() }));
    }
}

/// Where a background snapshot's bytes go: a file, or a replica being sent a full copy.
trait Output: Send {
    fn write_chunk(&mut self, chunk: Vec<u8>) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

impl Output for RdbFile {
    async fn write_chunk(&mut self, chunk: Vec<u8>) -> Result<(), String> {
        self.write(&chunk).map_err(|e| e.to_string())
    }
}

/// Walks the capture of each database in steps (the lock is taken per step and offered between them),
/// handing each encoded piece to `out`. Returns the largest piece's capacity. Under `rdb-key-save-delay`
/// (a test hook, as in Redis) each step is one key, followed by that pause.
async fn walk(
    server: &Server,
    tenant: &Tenant,
    encoder: &Arc<Mutex<RdbEncoder>>,
    databases: usize,
    out: &mut impl Output,
) -> Result<usize, String> {
    let mut peak_buffer = 0usize;
    for index in 0..databases {
        let mut first = true;
        loop {
            let key_delay = server.settings.read().rdb_key_save_delay;
            let done = {
                let mut ks = tenant.lock();
                let db = &mut ks.dbs[index];
                if first && !db.is_empty() {
                    encoder.lock().begin_db(index, db.len(), db.volatile_len());
                }
                first = false;
                db.capture_step(if key_delay == 0 { ENTRIES_PER_STEP } else { 1 })
            };
            let chunk = std::mem::take(&mut encoder.lock().buf);
            peak_buffer = peak_buffer.max(chunk.capacity());
            let wrote = !chunk.is_empty();
            out.write_chunk(chunk).await?;
            // Redis pauses after every key, the last one too.
            let pause = key_delay_us(key_delay);
            if pause > 0 && wrote {
                pause_after_key(server, pause).await;
            }
            if done {
                break;
            }
            if pause == 0 {
                tokio::task::yield_now().await;
            }
        }
    }
    Ok(peak_buffer)
}

/// The pause after each key `rdb-key-save-delay` asks for, in microseconds: a negative setting `-n` pauses
/// 1 µs after one key in `n` on average (Redis's `debugDelay`).
fn key_delay_us(setting: i64) -> u64 {
    match setting {
        0 => 0,
        n if n < 0 => u64::from(rand::random::<u64>().is_multiple_of(n.unsigned_abs())),
        n => n as u64,
    }
}

/// Sleeps `us` microseconds, in slices that end early once `rdb-key-save-delay` is set back to 0 (as the
/// tests that slow a snapshot down do to let it finish).
async fn pause_after_key(server: &Server, us: u64) {
    const SLICE: std::time::Duration = std::time::Duration::from_millis(10);
    let end = tokio::time::Instant::now() + std::time::Duration::from_micros(us);
    loop {
        let now = tokio::time::Instant::now();
        if now >= end || server.settings.read().rdb_key_save_delay == 0 {
            return;
        }
        tokio::time::sleep((end - now).min(SLICE)).await;
    }
}

/// Ends the capture of every database and returns the RDB's last bytes (its end marker, before the
/// checksum the writer adds).
fn end_capture(tenant: &Tenant, encoder: &Arc<Mutex<RdbEncoder>>, peak_buffer: usize) -> Vec<u8> {
    let mut ks = tenant.lock();
    for db in ks.dbs.iter_mut() {
        db.end_capture();
    }
    let mut enc = encoder.lock();
    enc.finish();
    let capture_bytes: usize = ks.dbs.iter().map(|d| d.capture_overhead()).sum();
    tenant.persistence.status.lock().rdb_last_cow_size = (peak_buffer + capture_bytes) as u64;
    std::mem::take(&mut enc.buf)
}

/// What a full copy for a replica hands its feeder: first where the replication stream stands at the
/// copy's instant (what `+FULLRESYNC` announces), then the RDB's bytes, in order.
pub enum CopyPart {
    Start { replid: String, offset: u64 },
    Bytes(Vec<u8>),
}

/// A full copy on its way to a replica's feeder (which may go away: the copy then stops).
struct ToReplica {
    parts: tokio::sync::mpsc::Sender<CopyPart>,
    crc: RdbSink,
}

impl Output for ToReplica {
    async fn write_chunk(&mut self, chunk: Vec<u8>) -> Result<(), String> {
        self.crc.update(&chunk);
        self.parts.send(CopyPart::Bytes(chunk)).await.map_err(|_| "the replica went away".to_string())
    }
}

/// Makes a point-in-time RDB copy of the database for a replica, without stopping it: the copy's instant is
/// a point of the replication stream, and the replica is fed the stream from there once it has loaded the
/// copy. Waits for a running snapshot first (one capture at a time), and holds the snapshot slot meanwhile,
/// as Redis's replication child does (`rdb_bgsave_in_progress`).
pub async fn copy_for_replica(
    server: &Server,
    tenant: &Tenant,
    parts: tokio::sync::mpsc::Sender<CopyPart>,
) -> Result<(), String> {
    if !claim_slot(tenant, || parts.is_closed()).await {
        return Err("the replica went away".into());
    }
    let result = copy_holding_slot(server, tenant, parts).await;
    super::jobs::release_rdb_slot(server, tenant);
    result
}

/// Waits until no snapshot, compaction or load runs, and claims the snapshot slot (one capture at a
/// time); false when `gone` says the one waiting went away first.
pub async fn claim_slot(tenant: &Tenant, gone: impl Fn() -> bool) -> bool {
    loop {
        if try_claim_slot(tenant) {
            return true;
        }
        if gone() {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Claims the snapshot slot if no snapshot, compaction or load runs.
pub fn try_claim_slot(tenant: &Tenant) -> bool {
    let mut status = tenant.persistence.status.lock();
    let free = !status.rdb_in_progress && !status.aof_rewrite_in_progress && !status.loading;
    status.rdb_in_progress |= free;
    free
}

/// Writes a point-in-time RDB copy of the database to `target` (a backup), as BGSAVE writes `dump.rdb`:
/// without stopping clients, atomically (a temporary file, fsynced and renamed), one capture at a time.
/// Returns the file's size.
pub async fn backup(server: &Server, tenant: &Tenant, target: &Path) -> Result<u64, String> {
    claim_slot(tenant, || false).await;
    let result = backup_holding_slot(server, tenant, target).await;
    super::jobs::release_rdb_slot(server, tenant);
    result
}

async fn backup_holding_slot(server: &Server, tenant: &Tenant, target: &Path) -> Result<u64, String> {
    let fail = |e: String| format!("{}: {e}", target.display());
    let mut file = RdbFile::create(target).map_err(|e| fail(e.to_string()))?;
    let encoder = Arc::new(Mutex::new(RdbEncoder::new(server.settings.read().rdbcompression)));
    let databases = {
        let mut ks = tenant.lock();
        let aux = aux_fields(&ks, false);
        begin_capture(&mut ks, &encoder, &aux);
        ks.dbs.len()
    };
    let walked = walk(server, tenant, &encoder, databases, &mut file).await;
    let tail = end_capture(tenant, &encoder, walked.as_ref().copied().unwrap_or(0));
    match walked.and_then(|_| file.write(&tail).map_err(|e| e.to_string())) {
        Ok(()) => file.commit().map_err(|e| fail(e.to_string())),
        Err(e) => {
            file.abandon();
            Err(fail(e))
        }
    }
}

async fn copy_holding_slot(
    server: &Server,
    tenant: &Tenant,
    parts: tokio::sync::mpsc::Sender<CopyPart>,
) -> Result<(), String> {
    let p = &tenant.persistence;
    let encoder = Arc::new(Mutex::new(RdbEncoder::new(server.settings.read().rdbcompression)));
    let (start, databases) = {
        let mut ks = tenant.lock();
        tenant.flush_expired(server, &mut ks);
        p.stream.activate();
        ks.log.set_replicas(true);
        p.submit(&mut ks.log);
        // The replica starts with no database selected: the stream names the next one.
        ks.log.forget_db();
        let (replid, offset) = p.stream.position();
        let mut aux = aux_fields(&ks, false);
        aux.push(("repl-id", replid.clone()));
        aux.push(("repl-offset", offset.to_string()));
        begin_capture(&mut ks, &encoder, &aux);
        (CopyPart::Start { replid, offset }, ks.dbs.len())
    };
    let mut out = ToReplica { parts, crc: RdbSink::default() };
    let sent = out.parts.send(start).await.map_err(|_| "the replica went away".to_string());
    let walked = match sent {
        Ok(()) => walk(server, tenant, &encoder, databases, &mut out).await,
        Err(e) => Err(e),
    };
    let mut tail = end_capture(tenant, &encoder, walked.as_ref().copied().unwrap_or(0));
    walked?;
    out.crc.update(&tail);
    tail.extend_from_slice(&std::mem::take(&mut out.crc).trailer());
    out.parts.send(CopyPart::Bytes(tail)).await.map_err(|_| "the replica went away".to_string())
}

/// Makes the new base and the log started with it the whole log, then deletes the files it replaces.
fn finish_rewrite(
    persistence: &Persistence,
    log_dir: &Path,
    appendfilename: &str,
    old: Manifest,
    incr: String,
    base_seq: u64,
    base_size: u64,
) -> Result<(), String> {
    let incr_seq = old.last_incr_seq();
    let new = Manifest {
        parts: vec![
            Part { name: manifest::base_name(appendfilename, base_seq), seq: base_seq, kind: Kind::Base },
            Part { name: incr, seq: incr_seq, kind: Kind::Incr },
        ],
    };
    manifest::write(log_dir, appendfilename, &new).map_err(|e| format!("manifest: {e}"))?;
    for part in &old.parts {
        if !new.parts.iter().any(|p| p.name == part.name) {
            let _ = std::fs::remove_file(log_dir.join(&part.name));
        }
    }
    *persistence.manifest.lock() = Some(new);
    let log_size = persistence.log.read().as_ref().map_or(0, |l| l.file_size());
    let mut status = persistence.status.lock();
    status.aof_base_size = base_size + log_size;
    status.aof_base_file_size = base_size;
    Ok(())
}

/// `rdb_changes_since_last_save`.
pub fn changes_since_save(ks: &Keyspace, status: &Status) -> u64 {
    ks.dirty.saturating_sub(status.dirty_at_last_save)
}
