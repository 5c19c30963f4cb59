//! `GET /v1/databases/<name>/stats`: one database's figures as JSON, for a dashboard or a script: its rates
//! (commands, hit rate, evictions, bandwidth) over the last second, minute and hour, command latency, memory
//! against its quota, connections against its cap, what was refused (logins at the cap, commands past the
//! rate limit or the memory quota), replication, and today's cost under its plan. The
//! administrator and the database's own REST token may read it; nothing waits for the database's lock.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_engine::server::Server;
use keel_engine::state::command_stats::{CommandStat, LATENCY_BOUNDS_US};
use keel_engine::state::rates::Rates;
use keel_engine::state::tenant::Tenant;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub async fn database_stats(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = super::bearer_token(&headers).unwrap_or_default().to_string();
    let owner = server.databases.lock().by_token(&token).is_some_and(|(def, _)| def.name == name);
    if !(owner || super::admin::is_admin(&server, &headers)) {
        let body = json!({ "error": "WRONGPASS invalid or missing auth token" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let provisioned = server.databases.lock().get(&name).is_some();
    let Some(tenant) = server.tenants.read().get(&name).cloned().filter(|_| provisioned) else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no database named '{name}'") })))
            .into_response();
    };
    Json(database(&server, &tenant)).into_response()
}

/// One database's figures with its name and today's cost under its plan (none for the default database).
pub(super) fn database(server: &Server, tenant: &Tenant) -> Value {
    let plan_name = server.databases.lock().get(&tenant.name).map(|def| def.plan.clone());
    let plan = plan_name.and_then(|plan| server.settings.read().plans.get(&plan).copied());
    let today = tenant.meters.days().last().map(|(_, d)| d.commands).unwrap_or(0);
    let mut stats = figures(tenant);
    stats["name"] = json!(tenant.name);
    stats["cost_today_usd"] = json!(keel_engine::meters::cost(plan.as_ref(), 1, today));
    stats
}

/// The figures of one database (without its name and cost).
fn figures(tenant: &Tenant) -> Value {
    let f = tenant.figures();
    let windows = {
        let history = tenant.history.lock();
        [history.rates(1), history.rates(60), history.rates(3600)]
    };
    let limits = tenant.limits.read().unwrap_or_default();
    let connections = tenant.connections.load(Ordering::Relaxed);
    let percent = |used: u64, max: u64| (max > 0).then(|| (used as f64 * 1000.0 / max as f64).round() / 10.0);
    let repl = &tenant.replication;
    let now = keel_engine::clock::unix_ms();
    let (replicas, lag) = (repl.replica_count(), repl.lag_secs(now));
    json!({
        "taken_ms": f.taken_ms,
        "rates": {
            "1s": rates(windows[0]),
            "1m": rates(windows[1]),
            "1h": rates(windows[2]),
        },
        "latency_us": latency(f.commands.ran()),
        "commands_total": f.total_commands,
        "keys": f.total_keys(),
        "evicted_keys": f.evicted_keys,
        "expired_keys": f.expired_keys,
        "memory": { "used": f.used_memory, "max": limits.max_memory, "percent": percent(f.used_memory, limits.max_memory) },
        "connections": {
            "current": connections,
            "max": limits.max_connections,
            "percent": percent(connections, limits.max_connections),
            "refused_logins": tenant.refused_logins.load(Ordering::Relaxed),
        },
        "refused": {
            "logins": tenant.refused_logins.load(Ordering::Relaxed),
            "rate_limited": f.rate_limited,
            "over_quota": f.quota_refused,
        },
        "replication": {
            "role": if repl.is_replica() { "replica" } else { "primary" },
            "link_up": !repl.link_down(),
            "offset": tenant.persistence.stream.offset(),
            "replicas": replicas,
            "lag_seconds": lag,
        },
    })
}

fn rates(r: Rates) -> Value {
    json!({
        "commands_per_sec": r.commands,
        "hit_rate": r.hit_rate,
        "evicted_per_sec": r.evicted,
        "bytes_in_per_sec": r.bytes_in,
        "bytes_out_per_sec": r.bytes_out,
    })
}

/// p50 and p99 of every command since start, as the upper bound of the histogram bucket they fall in
/// (None before any command; the last bucket has no bound and reads as over a second).
fn latency(commands: &[CommandStat]) -> Value {
    let mut buckets = [0u64; LATENCY_BOUNDS_US.len() + 1];
    for stat in commands {
        buckets.iter_mut().zip(stat.latency.iter()).for_each(|(sum, n)| *sum += n);
    }
    let total: u64 = buckets.iter().sum();
    let percentile = |p: f64| {
        let wanted = (total as f64 * p).ceil() as u64;
        let mut seen = 0;
        let index = buckets.iter().position(|n| {
            seen += n;
            seen >= wanted
        })?;
        Some(LATENCY_BOUNDS_US.get(index).copied().unwrap_or(u64::MAX))
    };
    if total == 0 {
        return json!({ "p50": null, "p99": null });
    }
    json!({ "p50": percentile(0.5), "p99": percentile(0.99) })
}
