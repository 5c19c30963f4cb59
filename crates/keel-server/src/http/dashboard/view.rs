//! What the dashboard shows, as one JSON snapshot: the server (for the administrator only) and each
//! database the token may see, with its figures (the stats endpoint's), persistence, the client list grouped
//! by address and name, and the slow log. Built without waiting for any database's lock: a database busy
//! with a long script shows its last published figures and no slow log this time.

use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use serde_json::{json, Value};
use std::sync::Arc;

/// Whose view: the administrator's (the server and every database) or one database's owner's.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Scope {
    Admin,
    Database(String),
}

/// How many slow log entries and client groups a snapshot carries.
const SLOW_ENTRIES: usize = 10;
const CLIENT_GROUPS: usize = 20;

/// One snapshot; with `history`, each database also carries its per-second command rates over the last
/// minute, so a chart opened now starts full.
pub(super) fn snapshot(server: &Server, scope: &Scope, history: bool) -> Value {
    let tenants: Vec<Arc<Tenant>> = match scope {
        Scope::Admin => server.tenants.read().values().cloned().collect(),
        Scope::Database(name) => server.tenants.read().get(name).cloned().into_iter().collect(),
    };
    let now = keel_engine::clock::unix_ms();
    let databases: Vec<Value> = tenants.iter().map(|t| database(server, t, now, history)).collect();
    let mut out = json!({ "at_ms": now, "databases": databases });
    if *scope == Scope::Admin {
        out["server"] = server_figures(server, &tenants);
    }
    out
}

/// The process as a whole: what only the administrator sees.
fn server_figures(server: &Server, tenants: &[Arc<Tenant>]) -> Value {
    let (maxclients, maxmemory, replicaof) = {
        let s = server.settings.read();
        (s.maxclients, s.maxmemory, s.replicaof.clone())
    };
    let used_memory: u64 = tenants.iter().map(|t| t.figures().used_memory).sum();
    let ops: f64 = tenants.iter().map(|t| t.history.lock().rates(1).commands).sum();
    let readiness = super::super::health::readiness(server);
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": server.uptime_secs(),
        "role": if replicaof.is_empty() { "primary" } else { "replica" },
        "rss_bytes": keel_engine::exec::commands::info::rss_bytes(),
        "used_memory": used_memory,
        "maxmemory": maxmemory,
        "connections": server.clients.count(),
        "maxclients": maxclients,
        "ops_per_sec": ops,
        "loading": server.is_loading(),
        "status": readiness["status"],
        "failing": readiness["failing"],
        "cluster": server.coordinator.get().map(|c| json!({ "node": c.node_name(), "problem": c.problem() })),
    })
}

/// One database: the stats endpoint's figures, its persistence, clients and slow log.
fn database(server: &Server, tenant: &Tenant, now_ms: u64, history: bool) -> Value {
    let mut view = super::super::stats::database(server, tenant);
    view["persistence"] = persistence(tenant);
    view["clients"] = clients(server, tenant, now_ms);
    if let Some(slowlog) = slowlog(tenant) {
        view["slowlog"] = slowlog;
    }
    if history {
        let recent = tenant.history.lock().per_second();
        view["history"] = recent.iter().map(|(at, rates)| json!([at, rates.commands])).collect();
    }
    view
}

fn persistence(tenant: &Tenant) -> Value {
    let p = &tenant.persistence;
    let status = p.status.lock().clone();
    let fsync_lag_ms = p.log.read().as_ref().map(|log| log.fsync_lag_ms(keel_engine::clock::unix_ms()));
    json!({
        "appendonly": fsync_lag_ms.is_some(),
        "fsync_lag_ms": fsync_lag_ms,
        "writable": p.write_refusal().is_none(),
        "last_snapshot_unix": status.rdb_last_save_unix,
        "last_snapshot_ok": status.rdb_last_bgsave_ok,
        "snapshot_in_progress": status.rdb_in_progress,
    })
}

/// The database's connections grouped by address and name, largest groups first: the view that shows
/// which application leaks connections.
fn clients(server: &Server, tenant: &Tenant, now_ms: u64) -> Value {
    let groups = server.clients.groups(&tenant.name, now_ms);
    groups
        .iter()
        .take(CLIENT_GROUPS)
        .map(|g| {
            json!({
                "addr": g.addr,
                "name": g.name,
                "connections": g.connections,
                "oldest_age_s": g.oldest_age_secs,
                "max_idle_s": g.max_idle_secs,
            })
        })
        .collect()
}

/// The latest slow log entries, or None when the database is busy (its lock is not waited for).
fn slowlog(tenant: &Tenant) -> Option<Value> {
    let ks = tenant.data.try_lock()?;
    let entries = ks.slowlog.entries.iter().take(SLOW_ENTRIES).map(|e| {
        let words: Vec<String> = e.args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        json!({
            "id": e.id,
            "time_unix": e.time_unix,
            "duration_us": e.duration_us,
            "command": words.join(" "),
            "client_addr": e.client_addr,
            "client_name": e.client_name,
        })
    });
    Some(entries.collect())
}
