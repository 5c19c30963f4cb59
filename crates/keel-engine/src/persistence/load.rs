//! Recovery at start-up, and the reloads `DEBUG RELOAD` asks for. With the log on: load the base snapshot
//! the manifest names, then replay each log after it; a log whose last command was cut off by a crash is
//! truncated to its last complete command (`aof-load-truncated`), anything malformed before that stops
//! start-up with the file and byte offset. With the log off: load `dump.rdb`. The first start with the log
//! on turns whatever was loaded into the log's first base.
//!
//! While loading, keys are not expired: a log replays writes made before a key's TTL passed, and the
//! deletion that expiry caused later is in the log too.

use super::snapshot::save_now;
use super::Persistence;
use crate::clients::ClientInfo;
use crate::clock::unix_ms;
use crate::exec::dispatch::{execute, BatchClock, BatchSettings, Env};
use crate::exec::scripting::ScriptStatus;
use crate::exec::session::Session;
use crate::server::Server;
use crate::state::tenant::{Keyspace, Tenant};
use keel_persist::aof::{LogEnd, LogReader, Next};
use keel_persist::manifest::{self, Kind, Manifest, Part};
use keel_persist::rdb;
use keel_persist::Limits;
use keel_protocol::{ReplyWriter, Resp};
use keel_store::{AccessClock, Expiry};
use std::path::Path;
use std::sync::Arc;

/// The encodings values are rebuilt with, from the settings.
pub fn limits(server: &Server) -> Limits {
    server.settings.read().encoding_limits()
}

/// Loads an RDB file into `ks` (whose databases should be empty), and its FUNCTION libraries, which replace
/// those loaded. `keep_expired` keeps keys whose TTL has passed (a log base: the log may write them before
/// their deletion). Returns the number of keys.
pub fn load_rdb(
    ks: &mut Keyspace,
    scripts: &Arc<ScriptStatus>,
    path: &Path,
    limits: &Limits,
    keep_expired: bool,
) -> Result<u64, String> {
    ks.recount_db_bytes_later();
    load_rdb_into(&mut ks.dbs, &mut ks.scripting.functions, scripts, path, limits, keep_expired, &mut |_| {})
}

/// [`load_rdb`] into databases and a function registry of the caller's (a keyspace's, or fresh ones off
/// the lock for a restore), calling `progress` with the bytes read every few thousand keys.
pub(crate) fn load_rdb_into(
    dbs: &mut [keel_store::Db],
    functions: &mut crate::exec::scripting::functions::Functions,
    scripts: &Arc<ScriptStatus>,
    path: &Path,
    limits: &Limits,
    keep_expired: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let now = unix_ms();
    let clock = AccessClock::lru(now);
    let databases = dbs.len();
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut loaded = 0u64;
    let summary = rdb::load(reader, limits, databases, |entry| {
        loaded += 1;
        if loaded.is_multiple_of(4096) {
            progress(entry.offset);
        }
        if !keep_expired && entry.expire_ms.is_some_and(|at| at <= now) {
            return;
        }
        let expiry = entry.expire_ms.map_or(Expiry::Clear, Expiry::At);
        dbs[entry.db].insert(&entry.key, entry.value, expiry, &clock);
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    if !summary.functions.is_empty() {
        functions.flush();
        for code in &summary.functions {
            crate::exec::scripting::functions::load(functions, scripts, code, true, 0)
                .map_err(|e| format!("{}: a FUNCTION library does not load: {}", path.display(), e.0))?;
        }
    }
    Ok(summary.keys)
}

/// Replaces the database's whole dataset with a full copy received from its primary (an RDB file in its
/// directory), under the lock, as a replica does after `+FULLRESYNC`: every key, and the FUNCTION libraries.
/// A copy that does not load leaves the dataset as it was (a replica never serves half a copy); one that
/// does puts the stream at the copy's position (`replid`, `offset`). Clients
/// tracking keys hear that everything changed. With the log on, a compaction follows so that the log's
/// base is the copy. Returns the number of keys loaded.
pub fn replace_with_copy(
    server: &Server,
    tenant: &Tenant,
    path: &Path,
    (replid, offset): (&str, u64),
) -> Result<u64, String> {
    let limits = limits(server);
    let mut ks = tenant.lock();
    let ks = &mut *ks;
    let mode = ks.expired_keys;
    let fresh = (0..ks.dbs.len())
        .map(|_| {
            let mut db = crate::state::tenant::new_db();
            db.expired_keys(mode);
            db
        })
        .collect();
    let previous = std::mem::replace(&mut ks.dbs, fresh);
    let functions = ks.scripting.functions.codes();
    ks.scripting.functions.flush();
    // Keys past their TTL are kept: the primary's DEL for them follows in the stream.
    let loaded = load_rdb(ks, &tenant.scripts, path, &limits, true);
    if loaded.is_err() {
        ks.dbs = previous;
        ks.recount_db_bytes_later();
        ks.scripting.functions.flush();
        for code in &functions {
            let _ =
                crate::exec::scripting::functions::load(&mut ks.scripting.functions, &tenant.scripts, code, true, 0);
        }
        return loaded;
    }
    // The old dataset may be large: it is freed on a thread of its own, not under the lock.
    let _ = std::thread::Builder::new().name("keel-free-old-copy".into()).spawn(move || drop(previous));
    ks.dirty += 1;
    if ks.tracking.is_active() {
        let (clients, name) = (&server.clients, &tenant.name);
        ks.tracking.flush(0, &ks.pubsub, &|id| clients.get_in(id, name));
    }
    // What the log holds describes the old dataset; its next base is the copy, and until then its
    // markers would vouch for the wrong data.
    ks.log.buf.clear();
    ks.log.forget_db();
    tenant.persistence.stream.follow(replid, offset);
    tenant.persistence.markers_valid.store(false, std::sync::atomic::Ordering::Relaxed);
    if tenant.persistence.log_enabled() {
        super::start_job(server, tenant, super::snapshot::Job::Rewrite, true);
    }
    loaded
}

/// Replays one log file into the tenant's keyspace `ks` (locked by the caller). Returns how many commands ran.
fn replay(
    server: &Server,
    tenant: &Tenant,
    ks: &mut Keyspace,
    path: &Path,
    last: bool,
    truncate_ok: bool,
    markers: &mut super::stream_state::MarkerTrack,
) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = LogReader::new(file);
    let loaded_before = tenant.persistence.status.lock().loading_loaded_bytes;
    let info = Arc::new(ClientInfo::new(0, "aof-loader".into(), String::new(), -1, tenant.name.clone(), unix_ms()));
    let mut session = Session::new(info, true);
    let env = Env { server, tenant, settings: BatchSettings::read(server, tenant) };
    let mut clock = BatchClock::starting_at(0);
    let mut out = ReplyWriter::new(Resp::V2);
    let mut commands = 0u64;
    // Where the last MULTI without its EXEC began: a log ending inside a transaction ends before it.
    let mut open_multi: Option<u64> = None;
    let end = loop {
        let at = reader.offset();
        match reader.next_command() {
            Next::Command(args) => {
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                if !matches!(server.commands.lookup(&refs), crate::exec::commands::Lookup::Found(_)) {
                    return Err(format!(
                        "unknown command '{}' reading the append only file {} at offset {at}",
                        String::from_utf8_lossy(&args[0]),
                        path.display()
                    ));
                }
                if refs[0].eq_ignore_ascii_case(b"multi") {
                    open_multi = Some(at);
                } else if refs[0].eq_ignore_ascii_case(b"exec") {
                    open_multi = None;
                }
                markers.see(&refs);
                execute(&env, &mut clock, ks, &mut session, &mut out, &refs);
                out.clear();
                commands += 1;
                if commands.is_multiple_of(16384) {
                    tenant.persistence.note_loaded(loaded_before + reader.offset());
                }
            }
            Next::End(end) => break end,
        }
    };
    tenant.persistence.status.lock().loading_loaded_bytes = loaded_before + total;
    let valid = match end {
        LogEnd::Complete => match open_multi {
            None => return Ok(commands),
            Some(at) => at,
        },
        LogEnd::Truncated { valid } => open_multi.unwrap_or(valid),
        LogEnd::Corrupt { offset, message } => {
            return Err(format!(
                "bad file format reading the append only file {} at offset {offset} ({message}); \
                 run `keel check {}` to inspect it and `keel check --fix` to repair it",
                path.display(),
                path.display()
            ))
        }
    };
    if session.transaction.is_some() {
        // The cut-off transaction's queued commands never ran: drop them with it.
        session.transaction = None;
    }
    if !last || !truncate_ok {
        return Err(format!(
            "the append only file {} ends with an incomplete command at offset {valid}; \
             run `keel check --fix {}` or set aof-load-truncated yes",
            path.display(),
            path.display()
        ));
    }
    let dropped = total - valid;
    let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.set_len(valid).and_then(|()| file.sync_all()).map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::warn!(file = %path.display(), dropped, "the append only file was truncated by a crash: dropped {dropped} bytes of its last command");
    Ok(commands)
}

/// Deletes snapshots a killed process left half-written (`temp-<pid>-<ms>.rdb`): the directory lock says
/// no other Keel is writing them.
fn remove_stale_temp_files(dirs: &[&Path]) {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("temp-") && name.ends_with(".rdb") {
                tracing::info!(file = %entry.path().display(), "removing a snapshot left unfinished by a crash");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Loads a whole log into `ks`: the base, then every log after it. Returns the keys the base held.
pub fn load_log(
    server: &Server,
    tenant: &Tenant,
    ks: &mut Keyspace,
    log_dir: &Path,
    m: &Manifest,
    truncate_ok: bool,
) -> Result<u64, String> {
    let mut keys = 0;
    let status = &tenant.persistence.status;
    let mut markers = super::stream_state::MarkerTrack::default();
    ks.recount_db_bytes_later();
    if let Some(base) = m.base() {
        let path = log_dir.join(&base.name);
        if base.name.ends_with(".rdb") {
            let (dbs, functions) = (&mut ks.dbs, &mut ks.scripting.functions);
            keys = load_rdb_into(dbs, functions, &tenant.scripts, &path, &limits(server), true, &mut |bytes| {
                tenant.persistence.note_loaded(bytes);
            })?;
            status.lock().loading_loaded_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        } else {
            replay(server, tenant, ks, &path, false, false, &mut markers)?;
        }
    }
    let incrs: Vec<&Part> = m.incrs().collect();
    for (i, part) in incrs.iter().enumerate() {
        let last = i + 1 == incrs.len();
        replay(server, tenant, ks, &log_dir.join(&part.name), last, truncate_ok, &mut markers)?;
    }
    *tenant.persistence.recovered_marker.lock() = markers.position();
    Ok(keys)
}

/// Loads the tenant's data at start-up and opens its log.
pub fn recover(server: &Server, tenant: &Tenant) -> Result<(), String> {
    let _span = tenant.span().entered();
    let p: &Persistence = &tenant.persistence;
    let (dir, dump, appendonly, appendfilename, log_dir, truncate_ok, fsync, compress) = {
        let s = server.settings.read();
        (
            p.dir.clone(),
            p.dump_path(&s),
            s.appendonly,
            s.appendfilename.clone(),
            p.log_dir(&s),
            s.aof_load_truncated,
            super::fsync_policy(&s.appendfsync),
            s.rdbcompression,
        )
    };
    let limits = limits(server);
    let started = std::time::Instant::now();
    {
        let mut status = p.status.lock();
        status.loading = true;
        status.loading_started_unix = unix_ms() / 1000;
        status.progress_logged_ms = unix_ms();
    }
    remove_stale_temp_files(&[&dir, &log_dir]);
    let existing = manifest::read(&log_dir, &appendfilename)?;
    let size_of = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    p.status.lock().loading_total_bytes = match (&existing, appendonly) {
        (Some(m), true) => manifest::paths(&log_dir, m).iter().map(|path| size_of(path)).sum(),
        _ => size_of(&dump),
    };
    let mut keys = 0;
    let result = (|| -> Result<(), String> {
        let ks = &mut *tenant.lock();
        match (&existing, appendonly) {
            (Some(m), true) => {
                keys = load_log(server, tenant, ks, &log_dir, m, truncate_ok)?;
                Ok(())
            }
            _ => {
                if dump.exists() {
                    ks.recount_db_bytes_later();
                    let (dbs, functions) = (&mut ks.dbs, &mut ks.scripting.functions);
                    keys = load_rdb_into(dbs, functions, &tenant.scripts, &dump, &limits, false, &mut |bytes| {
                        p.note_loaded(bytes);
                    })?;
                }
                Ok(())
            }
        }
    })();
    {
        let mut status = p.status.lock();
        status.loading = false;
        status.rdb_last_save_unix = unix_ms() / 1000;
        status.dirty_at_last_save = tenant.lock().dirty;
    }
    result?;
    {
        // The commands the log replayed ran through dispatch and were counted; they are not billed again.
        let ks = tenant.lock();
        tenant.meters.baseline(&crate::meters::Sample {
            commands: ks.stats.total_commands,
            hits: ks.stats.keyspace_hits,
            misses: ks.stats.keyspace_misses,
            storage: 0,
            connections: 0,
        });
    }
    let keys_now: usize = tenant.lock().dbs.iter().map(|d| d.len()).sum();
    tracing::info!(
        keys = keys_now,
        base_keys = keys,
        ms = started.elapsed().as_millis() as u64,
        "data loaded from disk"
    );
    if appendonly {
        let mut ks = tenant.lock();
        match existing {
            Some(m) if m.incrs().count() > 0 => {
                open_current_log(p, &log_dir, &m, fsync)?;
                *p.manifest.lock() = Some(m);
            }
            stale => start_fresh_log(&ks, p, &log_dir, &appendfilename, stale, compress, fsync)?,
        }
        enable_log_buffer(&mut ks, true);
    }
    super::stream_state::restore(p, &mut tenant.lock());
    Ok(())
}

/// Starts a log for the data in memory (the caller holds the lock): a base snapshot of it, an empty first
/// log and a manifest naming them, replacing the files of `previous` (a log left from an earlier run).
pub fn start_fresh_log(
    ks: &Keyspace,
    p: &Persistence,
    log_dir: &Path,
    appendfilename: &str,
    previous: Option<Manifest>,
    compress: bool,
    fsync: keel_persist::aof::Fsync,
) -> Result<(), String> {
    create_private_dir(log_dir)?;
    let previous = previous.unwrap_or_default();
    let (base_seq, incr_seq) = (previous.base_seq() + 1, previous.last_incr_seq() + 1);
    let base = manifest::base_name(appendfilename, base_seq);
    let incr = manifest::incr_name(appendfilename, incr_seq);
    let size = save_now(ks, &log_dir.join(&base), true, compress)?;
    keel_persist::private_file::create(&log_dir.join(&incr)).map_err(|e| format!("{incr}: {e}"))?;
    let m = Manifest {
        parts: vec![
            Part { name: base, seq: base_seq, kind: Kind::Base },
            Part { name: incr, seq: incr_seq, kind: Kind::Incr },
        ],
    };
    manifest::write(log_dir, appendfilename, &m).map_err(|e| format!("manifest: {e}"))?;
    for old in &previous.parts {
        let _ = std::fs::remove_file(log_dir.join(&old.name));
    }
    {
        let mut status = p.status.lock();
        status.aof_base_size = size;
        status.aof_base_file_size = size;
    }
    open_current_log(p, log_dir, &m, fsync)?;
    *p.manifest.lock() = Some(m);
    Ok(())
}

/// Creates `dir` (and its parents) readable by the owner only.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    keel_persist::private_file::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Opens the last log the manifest names for appending.
pub fn open_current_log(
    p: &Persistence,
    log_dir: &Path,
    m: &Manifest,
    fsync: keel_persist::aof::Fsync,
) -> Result<(), String> {
    let Some(last) = m.incrs().last() else { return Err("the manifest names no log file".into()) };
    let path = log_dir.join(&last.name);
    p.start_log(&path, fsync).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut status = p.status.lock();
    if status.aof_base_size == 0 {
        let base = m.base().and_then(|b| std::fs::metadata(log_dir.join(&b.name)).ok()).map_or(0, |md| md.len());
        let incr = std::fs::metadata(&path).map_or(0, |md| md.len());
        status.aof_base_size = base + incr;
        status.aof_base_file_size = base;
    }
    Ok(())
}

/// Turns recording of writes on or off.
pub fn enable_log_buffer(ks: &mut Keyspace, on: bool) {
    ks.log.set_log(on);
    if !ks.log.enabled {
        ks.log.buf.clear();
    }
    ks.log.forget_db();
}
