//! Restoring a database from a backup (an RDB file) without ever mixing the backup with the live data. The
//! backup loads into fresh databases off the lock while the database keeps serving its clients; its
//! durable form is staged on disk (with the log on, a copy of the backup as the log's next base beside an
//! empty next log file; without, a copy beside `dump.rdb`); then one short critical section commits it
//! (the manifest naming the new base and log, or the copy renamed to `dump.rdb`) and swaps the datasets.
//! Any failure before the commit leaves the database and its files as they were; after it, a crash
//! restarts on the restored data plus what clients wrote since. The replication stream starts a new
//! history, so replicas load the restored data in full.

use super::Persistence;
use crate::exec::scripting::functions::Functions;
use crate::server::Server;
use crate::state::tenant::{Keyspace, Tenant};
use keel_persist::manifest::{self, Kind, Manifest, Part};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Replaces the database's data with the backup at `backup`, calling `progress` with the bytes loaded.
/// Returns the number of keys restored.
pub fn restore(server: &Server, tenant: &Tenant, backup: &Path, progress: &mut dyn FnMut(u64)) -> Result<u64, String> {
    if tenant.replication.is_replica() {
        return Err("a replica's data follows its primary: restore the primary".into());
    }
    while !super::snapshot::try_claim_slot(tenant) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let result = restore_holding_slot(server, tenant, backup, progress);
    super::jobs::release_rdb_slot(server, tenant);
    result
}

/// The loaded backup, ready to replace a keyspace's databases and functions.
struct Loaded {
    dbs: Vec<keel_store::Db>,
    functions: Functions,
    keys: u64,
}

fn restore_holding_slot(
    server: &Server,
    tenant: &Tenant,
    backup: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, String> {
    let databases = tenant.lock().dbs.len();
    let mut loaded = Loaded {
        dbs: (0..databases).map(|_| crate::state::tenant::new_db()).collect(),
        functions: Functions::default(),
        keys: 0,
    };
    let limits = super::load::limits(server);
    let (dbs, functions) = (&mut loaded.dbs, &mut loaded.functions);
    loaded.keys = super::load::load_rdb_into(dbs, functions, &tenant.scripts, backup, &limits, false, progress)?;
    let p = &tenant.persistence;
    let (log_dir, appendfilename, dump_path) = {
        let s = server.settings.read();
        (p.log_dir(&s), s.appendfilename.clone(), p.dump_path(&s))
    };
    let keys = loaded.keys;
    if p.log_enabled() {
        commit_with_log(server, tenant, backup, &log_dir, &appendfilename, loaded)?;
    } else {
        let staged = dump_path.with_extension("restore-temp");
        stage_copy(backup, &staged)?;
        let mut ks = tenant.lock();
        if let Err(e) = std::fs::rename(&staged, &dump_path) {
            let _ = std::fs::remove_file(&staged);
            return Err(format!("{}: {e}", dump_path.display()));
        }
        swap(server, tenant, &mut ks, loaded);
    }
    tracing::info!(keys, backup = %backup.display(), "restored from a backup");
    Ok(keys)
}

/// With the log on: the backup becomes the log's next base, followed by a new, empty log file; the
/// manifest naming only those two is the commit.
fn commit_with_log(
    server: &Server,
    tenant: &Tenant,
    backup: &Path,
    log_dir: &Path,
    appendfilename: &str,
    loaded: Loaded,
) -> Result<(), String> {
    let p = &tenant.persistence;
    let mut current = p.manifest.lock().clone().unwrap_or_default();
    let (base_seq, incr_seq) = (current.base_seq() + 1, current.last_incr_seq() + 1);
    let base = manifest::base_name(appendfilename, base_seq);
    let incr = manifest::incr_name(appendfilename, incr_seq);
    stage_copy(backup, &log_dir.join(&base))?;
    let incr_file =
        keel_persist::private_file::open_append(&log_dir.join(&incr)).map_err(|e| format!("{incr}: {e}"))?;
    // The new, empty log joins the old ones first: if the commit below fails, writes that go to it still
    // follow the old data in the manifest's order.
    current.parts.push(Part { name: incr.clone(), seq: incr_seq, kind: Kind::Incr });
    manifest::write(log_dir, appendfilename, &current).map_err(|e| format!("manifest: {e}"))?;
    *p.manifest.lock() = Some(current.clone());
    let restored = Manifest {
        parts: vec![
            Part { name: base.clone(), seq: base_seq, kind: Kind::Base },
            Part { name: incr.clone(), seq: incr_seq, kind: Kind::Incr },
        ],
    };
    {
        let mut ks = tenant.lock();
        p.submit(&mut ks.log);
        switch_log(p, incr_file)?;
        manifest::write(log_dir, appendfilename, &restored).map_err(|e| format!("manifest: {e}"))?;
        *p.manifest.lock() = Some(restored.clone());
        swap(server, tenant, &mut ks, loaded);
    }
    for part in &current.parts {
        if !restored.parts.iter().any(|r| r.name == part.name) {
            let _ = std::fs::remove_file(log_dir.join(&part.name));
        }
    }
    let base_size = std::fs::metadata(log_dir.join(&base)).map_or(0, |m| m.len());
    let mut status = p.status.lock();
    status.aof_base_size = base_size;
    status.aof_base_file_size = base_size;
    Ok(())
}

fn switch_log(p: &Persistence, file: std::fs::File) -> Result<(), String> {
    match p.log.read().as_ref() {
        Some(log) => log.switch_to(file).map_err(|e| format!("cannot switch the log to its next file: {e}")),
        None => Ok(()),
    }
}

/// Replaces the keyspace's data with the loaded backup (the caller holds the lock and has committed the
/// files); the old data is freed on a thread of its own.
fn swap(server: &Server, tenant: &Tenant, ks: &mut Keyspace, mut loaded: Loaded) {
    let mode = ks.expired_keys;
    loaded.dbs.iter_mut().for_each(|db| db.expired_keys(mode));
    ks.watches.replaced(&mut loaded.dbs);
    let old_dbs = std::mem::replace(&mut ks.dbs, loaded.dbs);
    ks.recount_db_bytes_later();
    let old_functions = std::mem::replace(&mut ks.scripting.functions, loaded.functions);
    let _ = std::thread::Builder::new().name("keel-free-restored".into()).spawn(move || drop((old_dbs, old_functions)));
    ks.dirty += 1;
    ks.log.buf.clear();
    ks.log.forget_db();
    if ks.tracking.is_active() {
        let (clients, name) = (&server.clients, &tenant.name);
        ks.tracking.flush(0, &ks.pubsub, &|id| clients.get_in(id, name));
    }
    tenant.persistence.stream.new_history();
    tenant.persistence.markers_valid.store(false, Ordering::Relaxed);
    for replica in tenant.replication.attached.lock().iter() {
        if let Some(client) = server.clients.get(replica.client_id) {
            client.kill();
        }
    }
}

/// Copies `from` to `to` through a private temporary file, fsynced and renamed into place.
fn stage_copy(from: &Path, to: &Path) -> Result<(), String> {
    let dir = to.parent().unwrap_or(Path::new("."));
    let temp: PathBuf = dir.join(format!("temp-restore-{}.rdb", std::process::id()));
    let copied = (|| {
        let mut source = std::fs::File::open(from)?;
        let mut target = keel_persist::private_file::create(&temp)?;
        std::io::copy(&mut source, &mut target)?;
        target.sync_all()?;
        std::fs::rename(&temp, to)?;
        keel_persist::private_file::sync_dir(dir)
    })();
    copied.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("{}: {e}", to.display())
    })
}
