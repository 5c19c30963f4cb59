//! Durability for one tenant: the append-only log every effective write reaches, point-in-time snapshots
//! (`SAVE`, `BGSAVE`, `save` rules, log compaction), recovery at start-up, and the figures `INFO
//! persistence` reports. The formats live in `keel-persist`; this module decides when and what.
//!
//! Write path: dispatch appends each effective write, in the form that replays deterministically (see
//! [`propagate`]), to the keyspace's [`LogBuffer`] under the tenant lock. At the end of its batch, still
//! under the lock, a connection writes the buffer to the log's file ([`Persistence::submit`]), so nothing is
//! acknowledged before the OS has it; under `appendfsync always` it then waits, without the lock, until the
//! sync thread reports those bytes fsynced: the writes of every client waiting at that moment share one fsync.
//! When snapshots run is decided in [`jobs`].
//!
//! On disk (`dir`): `dump.rdb` (snapshots), `appendonlydir/` (Redis 7's multi-part log: a base snapshot
//! plus logs, named by a manifest), and `keel.lock`, held for the life of the process.

pub mod jobs;
pub mod load;
pub mod operation;
pub mod propagate;
pub mod restore;
pub mod snapshot;
pub mod stream_state;

pub use jobs::{cron, run_jobs, start_job, JobStart};

use crate::server::Server;
use crate::state::tenant::Tenant;
use keel_persist::aof::{encode_command, AppendLog, Fsync, Progress};
use keel_persist::manifest;
use parking_lot::{Mutex, RwLock};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Commands waiting to reach the log, built under the tenant lock.
#[derive(Default)]
pub struct LogBuffer {
    /// Writes are recorded: for the log, for replicas, or both.
    pub enabled: bool,
    to_log: bool,
    /// The buffer also feeds the replication stream (a primary with a backlog).
    pub to_replicas: bool,
    pub buf: Vec<u8>,
    /// The database the log's reader will be in after `buf` (the last SELECT written).
    db: Option<usize>,
    /// A handler's own account of what it did, replacing its arguments in the log (SPOP's members).
    rewritten: Option<Vec<u8>>,
    /// The buffer holds PUBLISH commands, which go to replicas and not to the log.
    has_publishes: bool,
    /// The MULTI block open (EXEC, a script), as Redis propagates one: nothing when nothing was written
    /// inside, the one command alone when one was, and MULTI (before the first command and the SELECT it
    /// needed, as Redis 7.2 and later write it) ... EXEC around two or more. Nested blocks (a script inside EXEC) belong to the outer one.
    transaction: Option<OpenTransaction>,
}

#[derive(Debug, Clone, Copy)]
struct OpenTransaction {
    /// Commands written inside so far.
    commands: u32,
    /// Where the first of them begins (where MULTI goes when a second one comes).
    first_at: usize,
}

/// A MULTI block as propagated.
const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";

/// Where a MULTI block (or a block nested in one) began, to end or drop it.
#[derive(Debug, Clone, Copy)]
pub struct TransactionMark {
    len: usize,
    db: Option<usize>,
    outer: bool,
    open: OpenTransaction,
}

impl LogBuffer {
    /// Records writes for the append-only log, or stops (the stream may still want them).
    pub fn set_log(&mut self, on: bool) {
        self.to_log = on;
        self.enabled = self.to_log || self.to_replicas;
    }

    /// Records writes for the replication stream, or stops.
    pub fn set_replicas(&mut self, on: bool) {
        self.to_replicas = on;
        self.enabled = self.to_log || self.to_replicas;
    }

    /// Appends one command that runs in database `db`.
    pub fn command<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        self.before_write(db);
        encode_command(&mut self.buf, args);
    }

    /// Selects `db` for what follows; inside a block, counts the command and writes MULTI when the second
    /// one comes.
    fn before_write(&mut self, db: usize) {
        let Some(open) = self.transaction else { return self.select(db) };
        match open.commands {
            0 => {
                // MULTI, when a second command comes, goes before this one's SELECT (Redis 7.2's order).
                let first_at = self.buf.len();
                self.select(db);
                self.transaction = Some(OpenTransaction { commands: 1, first_at });
                return;
            }
            1 => {
                self.buf.splice(open.first_at..open.first_at, MULTI.iter().copied());
                self.select(db);
            }
            _ => self.select(db),
        }
        self.transaction = Some(OpenTransaction { commands: open.commands + 1, ..open });
    }

    /// Writes a SELECT when the log's reader is in another database.
    fn select(&mut self, db: usize) {
        if self.db != Some(db) {
            encode_command(&mut self.buf, &[&b"SELECT"[..], db.to_string().as_bytes()]);
            self.db = Some(db);
        }
    }

    /// Propagates a PUBLISH (or SPUBLISH) to replicas, whose subscribers hear it too, as Redis does; the
    /// log leaves it out (replaying a publish at start-up would reach nobody).
    pub fn publish(&mut self, db: usize, args: &[&[u8]]) {
        if self.to_replicas {
            self.before_write(db);
            encode_command(&mut self.buf, args);
            self.has_publishes = true;
        }
    }

    /// Marks the log with the replication stream position its content is at (a replica's, see
    /// `stream_state`); no SELECT and no transaction around it.
    pub fn mark_position(&mut self, replid: &str, offset: u64) {
        encode_command(&mut self.buf, &["PING", &stream_state::marker(replid, offset)]);
    }

    /// Records `args` as (part of) what the running command did, instead of its own arguments.
    pub fn rewrite<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        if self.enabled {
            encode_command(self.rewritten.get_or_insert_with(Vec::new), args);
        }
    }

    pub fn take_rewritten(&mut self) -> Option<Vec<u8>> {
        self.rewritten.take()
    }

    /// Appends already-encoded commands that run in `db`.
    pub fn encoded(&mut self, db: usize, bytes: &[u8]) {
        self.before_write(db);
        self.buf.extend_from_slice(bytes);
    }

    /// A new log file starts with no database selected.
    pub fn forget_db(&mut self) {
        self.db = None;
    }

    /// Starts a MULTI block (or a block inside the open one); returns a mark for
    /// [`LogBuffer::end_transaction`] or [`LogBuffer::discard_transaction`].
    pub fn begin_transaction(&mut self) -> TransactionMark {
        let outer = self.transaction.is_none();
        let open = *self.transaction.get_or_insert(OpenTransaction { commands: 0, first_at: 0 });
        TransactionMark { len: self.buf.len(), db: self.db, outer, open }
    }

    /// Drops a block and everything logged inside it (with the MULTI a second command inside it wrote).
    pub fn discard_transaction(&mut self, mark: TransactionMark) {
        let multi_inside = self.transaction.is_some_and(|t| t.commands >= 2) && mark.open.commands == 1;
        if multi_inside && !mark.outer {
            self.buf.truncate(mark.len + MULTI.len());
            self.buf.drain(mark.open.first_at..mark.open.first_at + MULTI.len());
        } else {
            self.buf.truncate(mark.len);
        }
        self.db = mark.db;
        self.transaction = (!mark.outer).then_some(mark.open);
    }

    /// Ends a block: the outer one with EXEC when it wrote MULTI.
    pub fn end_transaction(&mut self, mark: TransactionMark) {
        if mark.outer && self.transaction.take().is_some_and(|t| t.commands >= 2) {
            encode_command(&mut self.buf, &["EXEC"]);
        }
    }
}

/// Snapshot and log figures for `INFO persistence` and the readiness check.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub loading: bool,
    pub loading_started_unix: u64,
    pub loading_loaded_bytes: u64,
    pub loading_total_bytes: u64,
    pub rdb_in_progress: bool,
    pub rdb_last_save_unix: u64,
    pub rdb_last_bgsave_ok: bool,
    pub rdb_last_duration_ms: u64,
    pub rdb_saves: u64,
    pub rdb_bgsave_scheduled: bool,
    /// `dirty` when the last snapshot began (what `rdb_changes_since_last_save` counts from).
    pub dirty_at_last_save: u64,
    /// `dirty` when the running snapshot began.
    pub dirty_at_snapshot_start: u64,
    pub rdb_last_cow_size: u64,
    pub aof_rewrite_in_progress: bool,
    pub aof_rewrite_scheduled: bool,
    pub aof_last_rewrite_ok: bool,
    pub aof_last_rewrite_duration_ms: u64,
    pub aof_rewrites: u64,
    /// Size of the log when the last compaction finished (base for `auto-aof-rewrite-percentage`).
    pub aof_base_size: u64,
    /// Size of the log's base snapshot file.
    pub aof_base_file_size: u64,
    /// When loading progress was last logged (unix ms).
    pub progress_logged_ms: u64,
}

/// Loading progress is logged this often.
const PROGRESS_EVERY_MS: u64 = 2000;

impl Status {
    /// How far loading is: percent done, and the seconds it should still take at the pace so far.
    fn loading_progress(&self, now_secs: u64) -> (f64, u64) {
        let elapsed = now_secs.saturating_sub(self.loading_started_unix);
        let total = self.loading_total_bytes.max(1);
        let done = self.loading_loaded_bytes.min(total);
        let eta = (elapsed * (total - done)).checked_div(done).unwrap_or(0);
        (done as f64 * 100.0 / total as f64, eta)
    }
}

/// One tenant's durability state.
pub struct Persistence {
    pub dir: PathBuf,
    pub log: RwLock<Option<AppendLog>>,
    pub manifest: Mutex<Option<manifest::Manifest>>,
    progress: watch::Sender<Progress>,
    pub status: Mutex<Status>,
    /// The open lock file; dropping it releases the directory.
    _lock: Mutex<Option<File>>,
    /// Set by `SHUTDOWN NOSAVE` and `SHUTDOWN SAVE`.
    pub skip_final_save: AtomicBool,
    pub force_final_save: AtomicBool,
    /// Writes are refused while the log cannot be written, or while snapshots fail and
    /// `stop-writes-on-bgsave-error` is on (Redis's MISCONF).
    log_failing: std::sync::Arc<AtomicBool>,
    pub snapshot_failing: AtomicBool,
    /// The replication stream: the same writes the log receives, for replicas (see `replication`).
    pub stream: crate::replication::Stream,
    /// The stream position the log's last marker vouched for at recovery (see `stream_state`).
    pub recovered_marker: Mutex<Option<(String, u64)>>,
    /// A replica may mark its log with its stream position (false from a full copy until the log's base
    /// is that copy).
    pub markers_valid: AtomicBool,
    /// The database's backup or restore in progress, or the last one.
    pub operation: operation::Operations,
}

impl Persistence {
    /// This database's snapshot file: `dbfilename` in its own data directory.
    pub fn dump_path(&self, settings: &crate::config::Settings) -> PathBuf {
        self.dir.join(&settings.dbfilename)
    }

    /// This database's log directory: `appenddirname` in its own data directory.
    pub fn log_dir(&self, settings: &crate::config::Settings) -> PathBuf {
        self.dir.join(&settings.appenddirname)
    }

    /// Takes the data directory: creates it, and refuses when another Keel holds its lock.
    pub fn open(dir: &Path) -> Result<Persistence, String> {
        keel_persist::private_file::create_dir(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
        let lock = lock_dir(dir)?;
        Ok(Persistence {
            dir: dir.to_path_buf(),
            log: RwLock::new(None),
            manifest: Mutex::new(None),
            progress: watch::channel(Progress::default()).0,
            status: Mutex::new(Status { rdb_last_bgsave_ok: true, aof_last_rewrite_ok: true, ..Default::default() }),
            _lock: Mutex::new(Some(lock)),
            skip_final_save: AtomicBool::new(false),
            force_final_save: AtomicBool::new(false),
            log_failing: Default::default(),
            snapshot_failing: AtomicBool::new(false),
            stream: crate::replication::Stream::new(),
            recovered_marker: Mutex::new(None),
            markers_valid: AtomicBool::new(true),
            operation: Default::default(),
        })
    }

    /// A reporter for the log's writer thread, feeding [`Persistence::wait_durable`].
    fn reporter(&self) -> Box<dyn Fn(Progress) + Send + Sync> {
        let progress = self.progress.clone();
        let failing = self.log_failing.clone();
        Box::new(move |p| {
            failing.store(p.failing, Ordering::Relaxed);
            progress.send_if_modified(|current| {
                let changed = *current != p;
                *current = p;
                changed
            });
        })
    }

    /// Opens the log's current file for appending and starts its writer.
    pub fn start_log(&self, path: &Path, fsync: Fsync) -> std::io::Result<()> {
        let file = keel_persist::private_file::open_append(path)?;
        let size = file.metadata()?.len();
        // A fresh writer counts from zero: so must everyone who waits on it.
        self.progress.send_replace(Progress::default());
        *self.log.write() = Some(AppendLog::open(file, size, fsync, self.reporter()));
        Ok(())
    }

    /// Stops the log, writing and fsyncing what it holds.
    pub fn stop_log(&self) {
        if let Some(log) = self.log.write().take() {
            log.close();
        }
    }

    pub fn log_enabled(&self) -> bool {
        self.log.read().is_some()
    }

    /// Hands the keyspace's buffered commands to the writer; returns the offset a client that ran them must
    /// wait for under `always` (None when the log is off or nothing needs waiting for).
    pub fn submit(&self, buffer: &mut LogBuffer) -> Option<u64> {
        if buffer.to_replicas {
            self.stream.append(&buffer.buf);
        }
        let without_publishes = std::mem::take(&mut buffer.has_publishes).then(|| without_publishes(&buffer.buf));
        let logged = without_publishes.as_deref().unwrap_or(&buffer.buf);
        let log = self.log.read();
        let end = log.as_ref().map(|log| if logged.is_empty() { log.queued() } else { log.submit(logged) });
        if buffer.buf.capacity() > 1 << 20 {
            buffer.buf = Vec::new();
        } else {
            buffer.buf.clear();
        }
        let log = log.as_ref()?;
        let end = end?;
        (log.fsync_policy() == Fsync::Always && self.progress.borrow().durable < end).then_some(end)
    }

    /// Waits until the log reports `offset` durable. Err when writes are failing: the caller must not
    /// acknowledge anything.
    pub async fn wait_durable(&self, offset: u64) -> Result<(), ()> {
        let mut rx = self.progress.subscribe();
        let outcome = rx.wait_for(|p| p.durable >= offset || p.failing).await;
        match outcome {
            Ok(p) if !p.failing || p.durable >= offset => Ok(()),
            _ => Err(()),
        }
    }

    /// The MISCONF error for a write command, while persistence is failing.
    pub fn write_refusal(&self) -> Option<String> {
        if self.log_failing.load(Ordering::Relaxed) {
            let why = self.log.read().as_ref().and_then(|l| l.error()).unwrap_or_else(|| "unknown error".into());
            return Some(format!("MISCONF Errors writing to the AOF file: {why}"));
        }
        if self.snapshot_failing.load(Ordering::Relaxed) {
            return Some(MISCONF_RDB.to_string());
        }
        None
    }

    /// Blocks until the writer has written everything queued (DEBUG LOADAOF reads the files right after).
    pub fn wait_written(&self) {
        let log = self.log.read();
        let Some(log) = log.as_ref() else { return };
        let target = log.queued();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while log.written() < target
            && std::time::Instant::now() < deadline
            && !self.log_failing.load(Ordering::Relaxed)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// The log's end and how much of it is fsynced, in bytes since its file was opened (None when the log is
    /// off): what WAITAOF waits on.
    pub fn log_sync_state(&self) -> Option<(u64, u64)> {
        self.log.read().as_ref().map(|log| (log.queued(), log.synced()))
    }

    /// Bytes queued to the log so far (what a client must wait for to see only durable data).
    pub fn log_queued(&self) -> Option<u64> {
        let log = self.log.read();
        let log = log.as_ref()?;
        (log.fsync_policy() == Fsync::Always).then(|| log.queued())
    }
}

/// The commands of `buf` (well-formed RESP arrays, as the log buffer holds) but PUBLISH and SPUBLISH.
fn without_publishes(buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let (count, next) = resp_header(buf, pos + 1);
        pos = next;
        let mut first: &[u8] = &[];
        for i in 0..count {
            let (len, data) = resp_header(buf, pos + 1);
            if i == 0 {
                first = buf.get(data..(data + len).min(buf.len())).unwrap_or_default();
            }
            pos = data + len + 2;
        }
        let publish = first.eq_ignore_ascii_case(b"publish") || first.eq_ignore_ascii_case(b"spublish");
        if !publish {
            out.extend_from_slice(&buf[start..pos.min(buf.len())]);
        }
    }
    out
}

/// Reads the number after a RESP type byte at `from`; returns it and where the line after it begins.
fn resp_header(buf: &[u8], from: usize) -> (usize, usize) {
    let end = buf[from.min(buf.len())..].iter().position(|&b| b == b'\r').map_or(buf.len(), |i| from + i);
    let number = std::str::from_utf8(&buf[from.min(end)..end]).ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    (number, end + 2)
}

const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist \
to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors \
during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details \
about the RDB error.";

/// Takes `dir/keel.lock` with an exclusive advisory lock, so that two Keels never share a directory.
fn lock_dir(dir: &Path) -> Result<File, String> {
    let path = dir.join("keel.lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    if file.try_lock().is_err() {
        return Err(format!(
            "data directory {} is in use by another Keel (lock file {} is held)",
            dir.display(),
            path.display()
        ));
    }
    let _ = file.set_len(0);
    let _ = std::io::Write::write_all(&mut &file, format!("{}\n", std::process::id()).as_bytes());
    Ok(file)
}

/// The `appendfsync` setting as a policy (the setting is validated, so the fallback never applies).
pub fn fsync_policy(name: &str) -> Fsync {
    Fsync::parse(name).unwrap_or(Fsync::EverySec)
}

/// Follows `CONFIG SET appendonly` and `appendfsync` (the caller holds the tenant lock as `ks`).
pub fn apply_settings(
    ks: &mut crate::state::tenant::Keyspace,
    p: &Persistence,
    before: &crate::config::Settings,
    after: &crate::config::Settings,
) -> Result<(), String> {
    if before.appendfsync != after.appendfsync {
        if let Some(log) = p.log.read().as_ref() {
            log.set_fsync(fsync_policy(&after.appendfsync));
        }
    }
    if before.appendonly == after.appendonly {
        return Ok(());
    }
    if after.appendonly {
        let log_dir = p.log_dir(after);
        let previous = manifest::read(&log_dir, &after.appendfilename)?;
        let fsync = fsync_policy(&after.appendfsync);
        load::start_fresh_log(ks, p, &log_dir, &after.appendfilename, previous, after.rdbcompression, fsync)?;
        load::enable_log_buffer(ks, true);
    } else {
        let events = crate::notify::Events {
            flags: after.notify_keyspace_events,
            limit: after.client_output_buffer_limit.pubsub,
        };
        ks.after_expiry(events);
        p.submit(&mut ks.log);
        load::enable_log_buffer(ks, false);
        p.stop_log();
    }
    Ok(())
}

/// The last duties before the process exits: everything queued reaches the log and is fsynced, and a
/// snapshot is saved when `save` rules are set (unless SHUTDOWN NOSAVE).
pub fn shutdown(server: &Server) {
    let (save_rules, compress) = {
        let s = server.settings.read();
        (!s.save.trim().is_empty(), s.rdbcompression)
    };
    let tenants: Vec<Arc<Tenant>> = server.tenants.read().values().cloned().collect();
    for tenant in tenants {
        let _span = tenant.span().entered();
        let p = &tenant.persistence;
        let ks = &mut *tenant.lock();
        if ks.log.enabled {
            tenant.flush_expired(server, ks);
            p.submit(&mut ks.log);
        }
        let mut durable = p.log_enabled() && !p.log_failing.load(Ordering::Relaxed);
        p.stop_log();
        let forced = p.force_final_save.load(Ordering::Relaxed);
        if (save_rules || forced) && !p.skip_final_save.load(Ordering::Relaxed) {
            let dump_path = p.dump_path(&server.settings.read());
            match snapshot::save_now(ks, &dump_path, false, compress) {
                Ok(bytes) => {
                    durable = true;
                    tracing::info!(bytes, "saved the dataset on shutdown");
                }
                Err(e) => tracing::error!("saving the dataset on shutdown failed: {e}"),
            }
        }
        if durable {
            stream_state::save(p);
        }
    }
}

/// The `# Persistence` section of INFO, with Redis's field names.
pub fn info(
    out: &mut String,
    ks: &crate::state::tenant::Keyspace,
    p: &Persistence,
    settings: &crate::config::Settings,
) {
    use std::fmt::Write;
    let status = p.status.lock().clone();
    let now = crate::clock::unix_ms();
    let ok = |good: bool| if good { "ok" } else { "err" };
    let log = p.log.read();
    out.push_str("# Persistence\r\n");
    let mut line = |name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(out, "{name}:{value}\r\n");
    };
    line("loading", &(status.loading as u8));
    line("async_loading", &0);
    if status.loading {
        line("loading_start_time", &status.loading_started_unix);
        line("loading_loaded_bytes", &status.loading_loaded_bytes);
    }
    line("rdb_changes_since_last_save", &snapshot::changes_since_save(ks, &status));
    line("rdb_bgsave_in_progress", &(status.rdb_in_progress as u8));
    line("rdb_last_save_time", &status.rdb_last_save_unix);
    line("rdb_last_bgsave_status", &ok(status.rdb_last_bgsave_ok));
    line("rdb_last_bgsave_time_sec", &(status.rdb_last_duration_ms / 1000));
    line("rdb_saves", &status.rdb_saves);
    line("rdb_last_cow_size", &status.rdb_last_cow_size);
    line("aof_enabled", &(log.is_some() as u8));
    line("aof_rewrite_in_progress", &(status.aof_rewrite_in_progress as u8));
    line("aof_rewrite_scheduled", &(status.aof_rewrite_scheduled as u8));
    line("aof_last_rewrite_time_sec", &(status.aof_last_rewrite_duration_ms / 1000));
    line("aof_rewrites", &status.aof_rewrites);
    line("aof_last_bgrewrite_status", &ok(status.aof_last_rewrite_ok));
    line("aof_last_write_status", &ok(!p.log_failing.load(Ordering::Relaxed)));
    if let Some(log) = log.as_ref() {
        line("aof_current_size", &(status.aof_base_file_size + log.file_size()));
        line("aof_base_size", &status.aof_base_size);
        line("aof_buffer_length", &ks.log.buf.len());
        line("aof_pending_bio_fsync", &((log.unsynced() > 0) as u8));
        line("aof_delayed_fsync", &0);
        line("keel_aof_fsync_policy", &settings.appendfsync);
        line("keel_aof_unsynced_bytes", &log.unsynced());
        line("keel_aof_fsync_lag_ms", &log.fsync_lag_ms(now));
    }
}

/// What INFO answers while the data loads (the keyspace is not reachable yet): the loading figures.
pub fn loading_info(p: &Persistence) -> String {
    let status = p.status.lock().clone();
    let (percent, eta) = status.loading_progress(crate::clock::unix_ms() / 1000);
    format!(
        "# Persistence\r\nloading:1\r\nasync_loading:0\r\nloading_start_time:{}\r\nloading_total_bytes:{}\r\n\
         loading_loaded_bytes:{}\r\nloading_loaded_perc:{:.2}\r\nloading_eta_seconds:{}\r\n",
        status.loading_started_unix, status.loading_total_bytes, status.loading_loaded_bytes, percent, eta
    )
}

impl Persistence {
    /// Notes how much of the data has loaded, and logs the progress (percent, ETA) every two seconds, so
    /// that a long start-up shows where it is.
    pub fn note_loaded(&self, bytes: u64) {
        let now = crate::clock::unix_ms();
        let mut status = self.status.lock();
        status.loading_loaded_bytes = bytes;
        if now.saturating_sub(status.progress_logged_ms) < PROGRESS_EVERY_MS {
            return;
        }
        status.progress_logged_ms = now;
        let (percent, eta_seconds) = status.loading_progress(now / 1000);
        let total = status.loading_total_bytes;
        drop(status);
        tracing::info!(
            percent = format!("{percent:.1}"),
            loaded_bytes = bytes,
            total_bytes = total,
            eta_seconds,
            "loading"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(buffer: &LogBuffer) -> String {
        String::from_utf8_lossy(&buffer.buf).replace("\r\n", " ")
    }

    #[test]
    fn loading_progress_is_a_percent_and_an_eta_at_the_pace_so_far() {
        let status = Status {
            loading_started_unix: 100,
            loading_total_bytes: 1000,
            loading_loaded_bytes: 250,
            ..Status::default()
        };
        assert_eq!(status.loading_progress(110), (25.0, 30));
        assert_eq!(Status::default().loading_progress(5), (0.0, 0));
    }

    #[test]
    fn a_block_propagates_as_redis_does() {
        let mut log = LogBuffer::default();
        let mark = log.begin_transaction();
        log.end_transaction(mark);
        assert_eq!(logged(&log), "", "nothing written: nothing logged");

        let mark = log.begin_transaction();
        log.command(0, &["SET", "a", "1"]);
        log.end_transaction(mark);
        assert_eq!(logged(&log), "*2 $6 SELECT $1 0 *3 $3 SET $1 a $1 1 ", "one command: no MULTI");

        log.buf.clear();
        let mark = log.begin_transaction();
        log.command(1, &["SET", "b", "2"]);
        log.command(2, &["SET", "c", "3"]);
        log.end_transaction(mark);
        assert_eq!(
            logged(&log),
            "*1 $5 MULTI *2 $6 SELECT $1 1 *3 $3 SET $1 b $1 2 *2 $6 SELECT $1 2 *3 $3 SET $1 c $1 3 *1 $4 EXEC ",
            "MULTI first, then every SELECT inside (Redis 7.2's order)"
        );
    }

    #[test]
    fn publishes_reach_replicas_and_not_the_log() {
        let mut log = LogBuffer::default();
        log.publish(0, &[b"PUBLISH", b"ch", b"hi"]);
        assert!(log.buf.is_empty(), "no replicas: nothing");
        log.set_replicas(true);
        log.command(0, &["SET", "a", "1"]);
        log.publish(0, &[b"PUBLISH", b"ch", b"hi"]);
        log.command(0, &["SET", "b", "22"]);
        assert!(logged(&log).contains("PUBLISH"));
        let kept = String::from_utf8(without_publishes(&log.buf)).unwrap().replace("\r\n", " ");
        assert_eq!(kept, "*2 $6 SELECT $1 0 *3 $3 SET $1 a $1 1 *3 $3 SET $1 b $2 22 ");
    }

    #[test]
    fn a_nested_block_belongs_to_the_outer_one_and_drops_cleanly() {
        let mut log = LogBuffer::default();
        let outer = log.begin_transaction();
        log.command(0, &["SET", "a", "1"]);
        let inner = log.begin_transaction();
        log.command(0, &["SET", "b", "2"]);
        log.discard_transaction(inner);
        assert_eq!(logged(&log), "*2 $6 SELECT $1 0 *3 $3 SET $1 a $1 1 ", "the MULTI the inner block wrote goes too");
        let inner = log.begin_transaction();
        log.command(0, &["SET", "c", "3"]);
        log.end_transaction(inner);
        log.end_transaction(outer);
        assert_eq!(logged(&log), "*1 $5 MULTI *2 $6 SELECT $1 0 *3 $3 SET $1 a $1 1 *3 $3 SET $1 c $1 3 *1 $4 EXEC ");
    }
}
