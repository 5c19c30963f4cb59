//! Backups of provisioned databases, in the backup directory (`backup-dir`, by default `<dir>/backups`, a
//! volume of its own in production): one directory per database, each backup a point-in-time RDB snapshot
//! (`<id>.rdb`, written atomically without stopping clients) and its manifest (`<id>.json`, written last: a
//! backup without one is incomplete and never listed). Backups are taken on demand (the admin API, `keel
//! db backup`) or on each database's schedule (`backup: daily`, keeping the newest `backup_keep` scheduled
//! ones; those taken on demand stay until deleted), and restored into the same database or another one
//! (`keel db restore NAME --from OTHER/ID`), through `keel_engine::persistence::restore`, which never mixes
//! a backup with live data before it is complete. Backups outlive their database, so a deleted database
//! can be restored into a new one.

use keel_engine::persistence::operation::Operation;
use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a backup, restore or listing failed: the HTTP status it answers with, and the message.
#[derive(Debug, Clone)]
pub(crate) struct Failure(pub u16, pub String);

impl From<String> for Failure {
    /// An I/O or load failure.
    fn from(message: String) -> Failure {
        Failure(500, message)
    }
}

/// Database names as provisioning allows them, so that no name reaches outside the backup directory.
fn check_name(database: &str) -> Result<(), Failure> {
    let valid = !database.is_empty()
        && database.len() <= 63
        && database.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Failure(404, format!("no database named '{database}'")))
    }
}

/// A finished backup, as its manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct BackupInfo {
    pub id: String,
    pub database: String,
    pub created_unix_ms: u64,
    pub bytes: u64,
    /// `manual` or `scheduled`.
    pub trigger: String,
    pub keel_version: String,
}

/// The backup directory.
fn root(server: &Server) -> PathBuf {
    let s = server.settings.read();
    if s.backup_dir.as_os_str().is_empty() {
        s.dir.join("backups")
    } else {
        s.backup_dir.clone()
    }
}

fn dir_of(server: &Server, database: &str) -> PathBuf {
    root(server).join(database)
}

/// A backup's id: its UTC time to the millisecond, which sorts as it was taken (`20261205T143239512Z`).
fn id_at(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let day = keel_engine::meters::utc_day(secs).replace('-', "");
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    format!("{day}T{h:02}{m:02}{s:02}{:03}Z", unix_ms % 1000)
}

/// Whether `text` is shaped as a backup id (so neither a path nor a database name).
fn is_id(text: &str) -> bool {
    text.len() == 19
        && text.ends_with('Z')
        && text.as_bytes()[8] == b'T'
        && text[..8].bytes().all(|b| b.is_ascii_digit())
}

/// A database's finished backups, newest first.
pub(crate) fn list(server: &Server, database: &str) -> Vec<BackupInfo> {
    if check_name(database).is_err() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir_of(server, database)) else { return Vec::new() };
    let mut backups: Vec<BackupInfo> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "json" {
                return None;
            }
            serde_json::from_slice(&std::fs::read(path).ok()?).ok()
        })
        .collect();
    backups.sort_by(|a, b| b.id.cmp(&a.id));
    backups
}

/// The backup `from` names, for restoring `database`: none (its newest), `ID` (one of its own), `OTHER`
/// (another database's newest) or `OTHER/ID`.
pub(crate) fn find(server: &Server, database: &str, from: Option<&str>) -> Result<(BackupInfo, PathBuf), Failure> {
    let (source, id) = match from {
        None => (database, None),
        Some(from) => match from.split_once('/') {
            Some((source, id)) => (source, Some(id)),
            None if is_id(from) => (database, Some(from)),
            None => (from, None),
        },
    };
    check_name(source)?;
    let backups = list(server, source);
    let found = match id {
        Some(id) => backups.into_iter().find(|b| b.id == id),
        None => backups.into_iter().next(),
    };
    let info = found.ok_or_else(|| match id {
        Some(id) => Failure(404, format!("database '{source}' has no backup '{id}'")),
        None => Failure(404, format!("database '{source}' has no backup yet")),
    })?;
    let path = dir_of(server, source).join(format!("{}.rdb", info.id));
    Ok((info, path))
}

fn tenant_of(server: &Server, database: &str) -> Result<Arc<Tenant>, Failure> {
    let provisioned = server.databases.lock().get(database).is_some();
    let tenant = server.tenants.read().get(database).cloned().filter(|_| provisioned);
    tenant.ok_or_else(|| Failure(404, format!("no database named '{database}'")))
}

fn operation(kind: &'static str, backup_id: &str, total: u64) -> Operation {
    let started_ms = keel_engine::clock::unix_ms();
    Operation {
        kind,
        backup_id: backup_id.into(),
        started_ms,
        finished_ms: None,
        done: 0,
        total,
        keys: None,
        error: None,
    }
}

/// Takes a backup of `database` now. The operation is registered before this returns its future's first
/// poll ends, so a caller may answer while it runs.
pub(crate) async fn take(server: Arc<Server>, database: &str, trigger: &str) -> Result<BackupInfo, Failure> {
    let tenant = tenant_of(&server, database)?;
    let now = keel_engine::clock::unix_ms();
    let id = id_at(now);
    tenant.persistence.operation.begin(operation("backup", &id, 0)).map_err(busy(database))?;
    let taken = write_backup(&server, &tenant, &id, now, trigger).await;
    tenant.persistence.operation.finish(taken.as_ref().map(|_| None).map_err(Clone::clone));
    match &taken {
        Ok(info) => tracing::info!(database, id = %info.id, bytes = info.bytes, trigger, "backup taken"),
        Err(e) => tracing::warn!(database, "backup failed: {e}"),
    }
    Ok(taken?)
}

fn busy(database: &str) -> impl Fn(&'static str) -> Failure + '_ {
    move |running| Failure(409, format!("a {running} of '{database}' is already running"))
}

async fn write_backup(
    server: &Server,
    tenant: &Tenant,
    id: &str,
    now: u64,
    trigger: &str,
) -> Result<BackupInfo, String> {
    let dir = dir_of(server, &tenant.name);
    create_private_dir(&dir)?;
    let bytes = keel_engine::persistence::snapshot::backup(server, tenant, &dir.join(format!("{id}.rdb"))).await?;
    let info = BackupInfo {
        id: id.to_string(),
        database: tenant.name.clone(),
        created_unix_ms: now,
        bytes,
        trigger: trigger.to_string(),
        keel_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let manifest = serde_json::to_vec_pretty(&info).map_err(|e| e.to_string())?;
    let path = dir.join(format!("{id}.json"));
    keel_persist::private_file::replace(&path, &manifest).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(info)
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    keel_persist::private_file::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Deletes one backup (its manifest first: without it the snapshot is no longer a backup).
pub(crate) fn delete(server: &Server, database: &str, id: &str) -> Result<(), Failure> {
    if !is_id(id) || !list(server, database).iter().any(|b| b.id == id) {
        return Err(Failure(404, format!("database '{database}' has no backup '{id}'")));
    }
    let dir = dir_of(server, database);
    std::fs::remove_file(dir.join(format!("{id}.json"))).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(dir.join(format!("{id}.rdb")));
    Ok(())
}

/// Restores `database` from the backup `from` names (see [`find`]); the load runs on a blocking thread.
/// Returns the backup and the number of keys restored.
pub(crate) async fn restore(
    server: Arc<Server>,
    database: &str,
    from: Option<&str>,
) -> Result<(BackupInfo, u64), Failure> {
    let tenant = tenant_of(&server, database)?;
    if tenant.replication.is_replica() {
        return Err(Failure(
            409,
            format!("'{database}' is a replica: its data follows its primary; restore the primary"),
        ));
    }
    let (info, path) = find(&server, database, from)?;
    let total = std::fs::metadata(&path).map_or(info.bytes, |m| m.len());
    tenant.persistence.operation.begin(operation("restore", &info.id, total)).map_err(busy(database))?;
    let worker = tenant.clone();
    let restored = tokio::task::spawn_blocking(move || {
        let ops = &worker.persistence.operation;
        keel_engine::persistence::restore::restore(&server, &worker, &path, &mut |done| ops.progress(done))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    tenant.persistence.operation.finish(restored.as_ref().map(|keys| Some(*keys)).map_err(Clone::clone));
    Ok((info, restored?))
}

/// Keeps the newest `keep` scheduled backups of `database`, deleting older scheduled ones.
fn prune(server: &Server, database: &str, keep: u64) {
    let scheduled = list(server, database).into_iter().filter(|b| b.trigger == "scheduled");
    for old in scheduled.skip(keep as usize) {
        let _ = delete(server, database, &old.id);
    }
}

/// Takes each database's scheduled backups, until the server stops: a database whose newest scheduled
/// backup is older than its period (or that has none) gets one, one database at a time.
pub(crate) async fn schedule(server: Arc<Server>) {
    let mut shutdown = server.shutdown_signal();
    // A database whose backup failed (a full backup volume) is tried again a minute later, not each second.
    let mut failed_at: std::collections::HashMap<String, u64> = Default::default();
    loop {
        tokio::select! {
            _ = keel_engine::server::stopping(&mut shutdown) => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        let due: Vec<(String, u64)> = {
            let now = keel_engine::clock::unix_ms();
            let registry = server.databases.lock();
            let scheduled: Vec<_> = registry.list().filter(|d| d.backup_every_secs > 0).cloned().collect();
            drop(registry);
            // A database being provisioned is defined before it serves: its first backup waits for it
            // (taking it now would fail and be retried only a minute later).
            let serving = server.tenants.read();
            let scheduled: Vec<_> = scheduled.into_iter().filter(|d| serving.contains_key(&d.name)).collect();
            drop(serving);
            scheduled
                .into_iter()
                .filter(|def| failed_at.get(&def.name).is_none_or(|at| now.saturating_sub(*at) >= 60_000))
                .filter(|def| {
                    let newest = list(&server, &def.name).into_iter().find(|b| b.trigger == "scheduled");
                    newest.is_none_or(|b| now.saturating_sub(b.created_unix_ms) >= def.backup_every_secs * 1000)
                })
                .map(|def| (def.name, def.backup_keep))
                .collect()
        };
        for (name, keep) in due {
            if take(server.clone(), &name, "scheduled").await.is_ok() {
                failed_at.remove(&name);
                prune(&server, &name, keep);
            } else {
                failed_at.insert(name, keel_engine::clock::unix_ms());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_as_taken_and_are_recognised() {
        let id = id_at(1_796_481_159_512);
        assert_eq!(id, "20261205T143239512Z");
        assert!(is_id(&id));
        assert!(id_at(1_796_481_159_512) < id_at(1_796_481_160_001));
        for not_id in ["orders", "../x", "20261205T143239512", "2026120XT143239512Z"] {
            assert!(!is_id(not_id), "{not_id}");
        }
    }
}
