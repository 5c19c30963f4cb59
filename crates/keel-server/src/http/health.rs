//! `GET /health` (liveness: the process serves) and `GET /health/ready` (readiness, per component:
//! storage, persistence, loading, connections, memory, replication), so that a platform's health check and
//! a person both see which part is failing and why; provisioned databases at their own limits are named as
//! degrading the server without failing it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn live(State(server): State<Arc<Server>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": server.uptime_secs(),
    }))
}

/// One component's verdict: its figures, and why it is not ready when it is not.
fn component(problem: Option<String>, mut figures: Value) -> (bool, Value) {
    let ok = problem.is_none();
    if let Value::Object(map) = &mut figures {
        map.insert("ok".into(), Value::Bool(ok));
        if let Some(problem) = problem {
            map.insert("error".into(), Value::String(problem));
        }
    }
    (ok, figures)
}

/// Ready (200) or not (503), with each component's verdict; a server whose only trouble is a database at
/// its own cap or quota is ready but `degraded`, naming those databases.
pub async fn ready(State(server): State<Arc<Server>>) -> (StatusCode, Json<Value>) {
    let report = readiness(&server);
    let ready = report["status"] != "not_ready";
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(report))
}

/// The readiness report `/health/ready` answers and the dashboard shows.
pub(super) fn readiness(server: &Server) -> Value {
    let tenant = server.default_tenant();
    let p = &tenant.persistence;
    let (maxclients, maxmemory) = {
        let s = server.settings.read();
        (s.maxclients, s.maxmemory)
    };
    let loading = server.is_loading();
    let status = p.status.lock().clone();
    let refusal = p.write_refusal();
    // Memory is read without waiting behind a long command: a busy database reports what it last knew.
    let used_memory = tenant.figures().used_memory;
    let connections = server.clients.count() as u64;

    let mut components = serde_json::Map::new();
    let mut failing = Vec::new();
    let mut add = |name: &str, (ok, value): (bool, Value)| {
        if !ok {
            failing.push(name.to_string());
        }
        components.insert(name.to_string(), value);
    };
    add(
        "loading",
        component(
            loading.then(|| "the dataset is still loading from disk".to_string()),
            json!({
                "loading": loading,
                "loaded_bytes": status.loading_loaded_bytes,
                "total_bytes": status.loading_total_bytes,
            }),
        ),
    );
    add("storage", component(refusal.clone(), json!({ "writable": refusal.is_none() })));
    add("persistence", persistence_component(&tenant, &status));
    let full = connections >= maxclients;
    add(
        "connections",
        component(
            full.then(|| format!("{connections} of {maxclients} connections in use")),
            json!({
                "used": connections,
                "max": maxclients,
            }),
        ),
    );
    let over = maxmemory > 0 && used_memory >= maxmemory;
    add(
        "memory",
        component(
            over.then(|| "used memory has reached maxmemory".to_string()),
            json!({
                "used": used_memory,
                "max": maxmemory,
            }),
        ),
    );
    if let Some(replication) = replication_component(server, &tenant) {
        add("replication", replication);
    }
    let degraded = databases_at_limits(server);
    let mut names: Vec<Value> = degraded.iter().map(|d| d["name"].clone()).collect();
    // A clustered node keeps serving what it holds while etcd is away; the cluster itself is degraded.
    if let Some(cluster) = server.coordinator.get() {
        let problem = cluster.problem();
        let state = problem.as_ref().map_or("ok".to_string(), |p| format!("degraded ({p})"));
        if problem.is_some() {
            names.push(json!("cluster"));
        }
        components.insert("cluster".into(), json!({ "ok": true, "node": cluster.node_name(), "status": state }));
    }
    let status = match (failing.is_empty(), names.is_empty()) {
        (false, _) => "not_ready",
        (true, false) => "degraded",
        (true, true) => "ready",
    };
    components.insert("databases".into(), json!({ "ok": true, "degraded": degraded }));
    json!({
        "status": status,
        "failing": failing,
        "degraded": names,
        "components": components,
    })
}

/// The append-only log's fsync lag and the last snapshot's outcome; unready when that snapshot failed.
fn persistence_component(tenant: &Tenant, status: &keel_engine::persistence::Status) -> (bool, Value) {
    let (synced_lag_ms, unsynced) = match tenant.persistence.log.read().as_ref() {
        Some(log) => (Some(log.fsync_lag_ms(keel_engine::clock::unix_ms())), log.unsynced()),
        None => (None, 0),
    };
    let snapshot_problem = (!status.rdb_last_bgsave_ok).then(|| "the last snapshot failed".to_string());
    component(
        snapshot_problem,
        json!({
            "appendonly": synced_lag_ms.is_some(),
            "fsync_lag_ms": synced_lag_ms,
            "unsynced_bytes": unsynced,
            "last_snapshot_ok": status.rdb_last_bgsave_ok,
            "last_snapshot_unix": status.rdb_last_save_unix,
        }),
    )
}

/// On a replica, its link to the primary: ready once it holds the primary's data, and while the link has
/// not been down longer than repl-timeout (it then serves reads that may be stale, as Redis's replicas do).
/// None on a primary.
fn replication_component(server: &Server, tenant: &Tenant) -> Option<(bool, Value)> {
    let (state, synced, down_secs) = tenant.replication.link_health(keel_engine::clock::unix_ms())?;
    let repl_timeout = server.settings.read().repl_timeout;
    let link = match state {
        keel_engine::replication::LinkState::Connected => "ok".to_string(),
        keel_engine::replication::LinkState::Sync => "syncing".to_string(),
        _ => format!("down (since {down_secs} s)"),
    };
    let problem = if !synced {
        Some("the replica has not loaded its primary's data yet".to_string())
    } else if down_secs > repl_timeout {
        Some(format!("the link to the primary has been down for {down_secs} s"))
    } else {
        None
    };
    let offset = tenant.persistence.stream.offset();
    Some(component(problem, json!({ "role": "replica", "link": link, "offset": offset })))
}

/// Provisioned databases at their connection cap or memory quota: each refuses its own clients (logins,
/// writes) while the server serves every other, so they degrade it without making it unready.
fn databases_at_limits(server: &Server) -> Vec<Value> {
    let tenants: Vec<_> = server.tenants.read().values().filter(|t| t.is_provisioned()).cloned().collect();
    let mut degraded = Vec::new();
    for tenant in tenants {
        let Some(limits) = *tenant.limits.read() else { continue };
        let connections = tenant.connections.load(std::sync::atomic::Ordering::Relaxed);
        // What its quota counts: the dataset and its clients' buffers.
        let used = tenant.figures().used_memory + tenant.clients_memory();
        let mut reasons = Vec::new();
        if limits.max_connections > 0 && connections >= limits.max_connections {
            reasons.push(format!("at its connection cap ({connections} of {})", limits.max_connections));
        }
        if limits.max_memory > 0 && used >= limits.max_memory {
            reasons.push(format!("at its memory quota ({used} of {} bytes)", limits.max_memory));
        }
        if !reasons.is_empty() {
            degraded.push(json!({ "name": tenant.name, "reasons": reasons }));
        }
    }
    degraded
}
