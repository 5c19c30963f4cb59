//! `GET /health` (liveness: the process serves) and `GET /health/ready` (readiness, per component:
//! storage, persistence, loading, connections, memory), so that a platform's health check and a person
//! both see which part is failing and why.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keel_engine::server::Server;
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

pub async fn ready(State(server): State<Arc<Server>>) -> (StatusCode, Json<Value>) {
    let tenant = server.default_tenant();
    let p = &tenant.persistence;
    let (maxclients, maxmemory) = {
        let s = server.settings.read();
        (s.maxclients, s.maxmemory)
    };
    let loading = server.is_loading();
    let status = p.status.lock().clone();
    let refusal = p.write_refusal();
    let (synced_lag_ms, unsynced) = match p.log.read().as_ref() {
        Some(log) => (Some(log.fsync_lag_ms(keel_engine::clock::unix_ms())), log.unsynced()),
        None => (None, 0),
    };
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
    let snapshot_problem = (!status.rdb_last_bgsave_ok).then(|| "the last snapshot failed".to_string());
    add(
        "persistence",
        component(
            snapshot_problem,
            json!({
                "appendonly": synced_lag_ms.is_some(),
                "fsync_lag_ms": synced_lag_ms,
                "unsynced_bytes": unsynced,
                "last_snapshot_ok": status.rdb_last_bgsave_ok,
                "last_snapshot_unix": status.rdb_last_save_unix,
            }),
        ),
    );
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
    if let Some((state, synced, down_secs)) = tenant.replication.link_health(keel_engine::clock::unix_ms()) {
        // A replica is ready once it holds its primary's data, and while its link has not been down longer
        // than repl-timeout (it then serves reads that may be stale, as Redis's replicas do).
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
        let offset = p.stream.offset();
        add("replication", component(problem, json!({ "role": "replica", "link": link, "offset": offset })));
    }
    let ready = failing.is_empty();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "failing": failing,
        "components": components,
    });
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}
