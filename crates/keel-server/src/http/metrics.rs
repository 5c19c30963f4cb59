//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of what operators need before an incident:
//! commands by name and result, command latency histograms, connections, memory, keys, expirations,
//! evictions, hits and misses, pub/sub, persistence, HTTP requests by route and status, and the main
//! figures of every database by name.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_engine::server::Server;
use keel_engine::state::command_stats::LATENCY_BOUNDS_US;
use serde_json::json;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// `GET /metrics`, for the admin token or the metrics token (`metrics-public yes` opens it to anyone).
pub async fn metrics(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let (public, token) = {
        let s = server.settings.read();
        (s.metrics_public, s.metrics_token.clone())
    };
    let metrics_token = super::bearer_token(&headers).is_some_and(|given| super::token_matches(given, &token));
    if !(public || metrics_token || super::admin::is_admin(&server, &headers)) {
        return unauthorized();
    }
    ([(CONTENT_TYPE, TEXT_FORMAT)], render(&server)).into_response()
}

/// `GET /v1/databases/<name>/metrics`: one database's series, for its own REST tokens (or the admin's and
/// the metrics token), so a database's owner can scrape it without seeing any other.
pub async fn database_metrics(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = super::bearer_token(&headers).unwrap_or_default().to_string();
    let metrics_token = server.settings.read().metrics_token.clone();
    let owner = server.databases.lock().by_token(&token).is_some_and(|(def, _)| def.name == name);
    if !(owner || super::token_matches(&token, &metrics_token) || super::admin::is_admin(&server, &headers)) {
        return unauthorized();
    }
    let Some(tenant) = server.tenants.read().get(&name).cloned().filter(|t| t.is_provisioned()) else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no database named '{name}'") })))
            .into_response();
    };
    let limits = tenant.limits.read().unwrap_or_default();
    let mut out = String::with_capacity(16 * 1024);
    database(&mut out, &server, &tenant, limits.max_memory);
    let connections = tenant.connections.load(Ordering::Relaxed);
    single(&mut out, "keel_connected_clients", "gauge", "Connections open to the database.", connections);
    single(&mut out, "keel_max_clients", "gauge", "The database's connection cap (0: none).", limits.max_connections);
    let refused = tenant.refused_logins.load(Ordering::Relaxed);
    single(&mut out, "keel_refused_logins_total", "counter", "Logins refused at the connection cap.", refused);
    ([(CONTENT_TYPE, TEXT_FORMAT)], out).into_response()
}

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn unauthorized() -> Response {
    let body = Json(json!({ "error": "missing or wrong token: /metrics takes the admin token or metrics-token" }));
    (StatusCode::UNAUTHORIZED, body).into_response()
}

/// Writes one metric family's HELP and TYPE lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A single-sample family.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    sample(out, name, "", value);
}

/// Label values escaped as the exposition format wants (`\`, `"`, newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render(server: &Server) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let tenant = server.default_tenant();
    let (maxmemory, maxclients) = {
        let s = server.settings.read();
        (s.maxmemory, s.maxclients)
    };
    single(&mut out, "keel_up", "gauge", "1 while Keel serves.", 1);
    single(&mut out, "keel_uptime_seconds", "gauge", "Seconds since Keel started.", server.uptime_secs());
    single(&mut out, "keel_loading", "gauge", "1 while the dataset loads from disk.", server.is_loading() as u8);
    let stats = &server.stats;
    single(&mut out, "keel_connected_clients", "gauge", "Client connections open.", server.clients.count());
    single(&mut out, "keel_max_clients", "gauge", "The maxclients setting.", maxclients);
    single(
        &mut out,
        "keel_connections_received_total",
        "counter",
        "Client connections accepted.",
        stats.connections_received.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "keel_rejected_connections_total",
        "counter",
        "Client connections refused (maxclients, protected mode).",
        stats.rejected_connections.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "keel_net_input_bytes_total",
        "counter",
        "Bytes read from clients.",
        stats.net_input_bytes.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "keel_net_output_bytes_total",
        "counter",
        "Bytes written to clients.",
        stats.net_output_bytes.load(Ordering::Relaxed),
    );
    if !server.is_loading() {
        database(&mut out, server, &tenant, maxmemory);
    }
    persistence(&mut out, &tenant.persistence);
    http_requests(&mut out, server);
    if !server.is_loading() {
        databases(&mut out, server);
    }
    out
}

/// Every database (the default one and those provisioned), one series each, labelled with its name.
fn databases(out: &mut String, server: &Server) {
    let tenants: Vec<_> = server.tenants.read().values().cloned().collect();
    let now = keel_engine::clock::unix_ms();
    let rows: Vec<(String, [u64; 17])> = tenants
        .iter()
        .map(|t| {
            let repl = &t.replication;
            let replicas = repl.replica_count() as u64;
            let limits = *t.limits.read();
            let max = limits.map_or_else(|| server.settings.read().maxmemory, |l| l.max_memory);
            let f = t.figures();
            let values = [
                f.total_commands,
                f.used_memory,
                max,
                f.total_keys(),
                t.connections.load(Ordering::Relaxed),
                // The default database's cap is the server's maxclients.
                limits.map_or_else(|| server.settings.read().maxclients, |l| l.max_connections),
                f.evicted_keys,
                f.keyspace_hits,
                f.keyspace_misses,
                repl.is_replica() as u64,
                (!repl.link_down()) as u64,
                t.persistence.stream.offset(),
                replicas,
                repl.lag_secs(now),
                t.refused_logins.load(Ordering::Relaxed),
                f.rate_limited,
                f.quota_refused,
            ];
            (label(&t.name), values)
        })
        .collect();
    let families = [
        ("keel_database_commands_total", "counter", "Commands run, by database."),
        ("keel_database_memory_used_bytes", "gauge", "Memory the dataset uses, by database."),
        ("keel_database_memory_max_bytes", "gauge", "The database's memory limit (0: none)."),
        ("keel_database_keys", "gauge", "Keys, by database."),
        ("keel_database_connections", "gauge", "Connections authenticated to the database."),
        ("keel_database_max_connections", "gauge", "The database's connection cap (0: none)."),
        ("keel_database_evicted_keys_total", "counter", "Keys evicted, by database."),
        ("keel_database_keyspace_hits_total", "counter", "Key reads that found the key, by database."),
        ("keel_database_keyspace_misses_total", "counter", "Key reads that found nothing, by database."),
        ("keel_database_replica", "gauge", "1 when the database is a replica of another server."),
        ("keel_database_replication_link_up", "gauge", "0 while a replica's link to its primary is down."),
        ("keel_database_replication_offset_bytes", "gauge", "The database's replication stream offset."),
        ("keel_database_connected_replicas", "gauge", "Replicas attached to the database."),
        (
            "keel_database_replication_lag_seconds",
            "gauge",
            "Seconds since the slowest replica acknowledged (primary), or the primary was heard (replica).",
        ),
        ("keel_database_refused_logins_total", "counter", "Logins refused at the database's connection cap."),
        (
            "keel_database_rate_limited_total",
            "counter",
            "Commands refused past the database's commands-per-second limit (REST: 429).",
        ),
        ("keel_database_quota_refused_total", "counter", "Commands refused at the database's memory limit (OOM)."),
    ];
    for (i, (name, kind, help)) in families.iter().enumerate() {
        family(out, name, kind, help);
        for (database, values) in &rows {
            sample(out, name, &format!("database=\"{database}\""), values[i]);
        }
    }
}

/// One database's commands, memory, keys and pub/sub, from its figures (never waiting for its lock).
fn database(out: &mut String, server: &Server, tenant: &keel_engine::state::tenant::Tenant, maxmemory: u64) {
    let f = tenant.figures();
    family(out, "keel_commands_total", "counter", "Commands by name and result (ok, error, rejected).");
    for command in server.commands.all() {
        let stat = f.commands.get(command.id);
        if stat.calls == 0 && stat.rejected == 0 {
            continue;
        }
        let name = label(&command.fullname);
        sample(out, "keel_commands_total", &format!("command=\"{name}\",result=\"ok\""), stat.calls - stat.failed);
        sample(out, "keel_commands_total", &format!("command=\"{name}\",result=\"error\""), stat.failed);
        sample(out, "keel_commands_total", &format!("command=\"{name}\",result=\"rejected\""), stat.rejected);
    }
    family(out, "keel_command_duration_seconds", "histogram", "Time commands took to run, by command.");
    for command in server.commands.all() {
        let stat = f.commands.get(command.id);
        if stat.calls == 0 {
            continue;
        }
        let name = label(&command.fullname);
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BOUNDS_US.iter().enumerate() {
            cumulative += stat.latency[i];
            let labels = format!("command=\"{name}\",le=\"{}\"", *bound as f64 / 1e6);
            sample(out, "keel_command_duration_seconds_bucket", &labels, cumulative);
        }
        sample(out, "keel_command_duration_seconds_bucket", &format!("command=\"{name}\",le=\"+Inf\""), stat.calls);
        sample(out, "keel_command_duration_seconds_sum", &format!("command=\"{name}\""), stat.usec as f64 / 1e6);
        sample(out, "keel_command_duration_seconds_count", &format!("command=\"{name}\""), stat.calls);
    }
    single(out, "keel_memory_used_bytes", "gauge", "Memory the dataset uses.", f.used_memory);
    single(out, "keel_memory_max_bytes", "gauge", "The maxmemory setting (0: no limit).", maxmemory);
    single(out, "keel_lua_memory_bytes", "gauge", "Memory the Lua states use.", f.lua_memory);
    family(out, "keel_keys", "gauge", "Keys by numbered database.");
    for (index, keys, _) in &f.keys {
        sample(out, "keel_keys", &format!("db=\"{index}\""), keys);
    }
    family(out, "keel_expiring_keys", "gauge", "Keys with a TTL by numbered database.");
    for (index, _, volatile) in &f.keys {
        sample(out, "keel_expiring_keys", &format!("db=\"{index}\""), volatile);
    }
    single(out, "keel_expired_keys_total", "counter", "Keys deleted because their TTL passed.", f.expired_keys);
    single(out, "keel_evicted_keys_total", "counter", "Keys evicted to stay within maxmemory.", f.evicted_keys);
    single(out, "keel_keyspace_hits_total", "counter", "Key reads that found the key.", f.keyspace_hits);
    single(out, "keel_keyspace_misses_total", "counter", "Key reads that found nothing.", f.keyspace_misses);
    single(out, "keel_error_replies_total", "counter", "Error replies sent.", f.total_error_replies);
    let (channels, patterns, subscribers) = f.pubsub;
    single(out, "keel_pubsub_channels", "gauge", "Channels with at least one subscriber.", channels);
    single(out, "keel_pubsub_patterns", "gauge", "Patterns subscribed to.", patterns);
    single(out, "keel_pubsub_subscribers", "gauge", "Clients subscribed to a channel or pattern.", subscribers);
}

fn persistence(out: &mut String, p: &keel_engine::persistence::Persistence) {
    let status = p.status.lock().clone();
    let log = p.log.read();
    single(out, "keel_aof_enabled", "gauge", "1 when the append-only log is on.", log.is_some() as u8);
    if let Some(log) = log.as_ref() {
        let lag_ms = log.fsync_lag_ms(keel_engine::clock::unix_ms());
        single(
            out,
            "keel_aof_fsync_lag_seconds",
            "gauge",
            "Age of the oldest write not yet fsynced.",
            lag_ms as f64 / 1e3,
        );
        single(out, "keel_aof_unsynced_bytes", "gauge", "Log bytes written but not yet fsynced.", log.unsynced());
        single(out, "keel_aof_size_bytes", "gauge", "Size of the log's current file.", log.file_size());
    }
    single(
        out,
        "keel_aof_write_ok",
        "gauge",
        "0 while the log cannot be written (writes are refused).",
        p.write_refusal().is_none() as u8,
    );
    single(
        out,
        "keel_rdb_last_save_timestamp_seconds",
        "gauge",
        "When the last snapshot completed.",
        status.rdb_last_save_unix,
    );
    single(
        out,
        "keel_rdb_last_bgsave_ok",
        "gauge",
        "1 when the last background snapshot succeeded.",
        status.rdb_last_bgsave_ok as u8,
    );
    single(out, "keel_rdb_saves_total", "counter", "Snapshots written.", status.rdb_saves);
    single(out, "keel_aof_rewrites_total", "counter", "Log compactions completed.", status.aof_rewrites);
}

fn http_requests(out: &mut String, server: &Server) {
    family(out, "keel_http_requests_total", "counter", "HTTP requests by route and status.");
    for (route, by_status) in server.http_requests.lock().iter() {
        for (status, count) in by_status {
            sample(out, "keel_http_requests_total", &format!("route=\"{}\",status=\"{status}\"", label(route)), count);
        }
    }
}
