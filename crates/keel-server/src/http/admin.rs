//! The admin API under `/v1`: provisioning databases (create, list, show, delete, rotate secrets, change
//! limits) and their usage, as JSON, authorized by the admin token; `/v1/openapi.json` describes it.
//! `keel db` is a client of this API.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_engine::databases::{CreateRequest, DatabaseDef, ProvisionError, Secrets, UpdateRequest};
use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({ "error": message }))).into_response()
}

fn failed(e: ProvisionError) -> Response {
    error(e.status, &e.message)
}

/// Whether the request carries the admin token (`Authorization: Bearer`, compared in constant time).
pub(super) fn is_admin(server: &Server, headers: &HeaderMap) -> bool {
    let expected = server.settings.read().admin_token.clone();
    super::bearer_token(headers).is_some_and(|given| super::token_matches(given, &expected))
}

/// The admin token, or the refusal.
pub(super) fn authorize(server: &Server, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if is_admin(server, headers) {
        Ok(())
    } else {
        Err(Box::new(error(401, "missing or wrong admin token")))
    }
}

/// Runs blocking provisioning work off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(work).await.map_err(|e| error(500, &e.to_string()))
}

/// A database as the API shows it; with `secrets`, its connection URLs and tokens too (shown once).
pub(super) fn describe(server: &Server, def: &DatabaseDef, host: &str, secrets: Option<&Secrets>) -> Value {
    let (port, http_port) = (server.port(), server.http_port());
    // With HTTPS on its own port, REST URLs name it: a client given an http:// URL would send its token in
    // the clear.
    let rest_url = {
        let s = server.settings.read();
        match (s.tls_cert_file.is_empty(), s.tls_http_port) {
            (false, tls_http_port) if tls_http_port > 0 => format!("https://{host}:{tls_http_port}"),
            _ => format!("http://{host}:{http_port}"),
        }
    };
    let tenant = server.tenants.read().get(&def.name).cloned();
    let mut out = json!({
        "name": def.name,
        "region": def.region,
        "plan": def.plan,
        "eviction": def.eviction,
        "max_memory": def.max_memory,
        "max_connections": def.max_connections,
        "max_commands_per_second": def.max_commands_per_second,
        "max_request_size": def.max_request_size,
        "backup_every_secs": def.backup_every_secs,
        "backup_keep": def.backup_keep,
        "created_unix": def.created_unix,
        "endpoint": host,
        "port": port,
        "rest_url": rest_url,
    });
    if let Some(tenant) = tenant {
        out["memory"] = json!({ "used": tenant.figures().used_memory, "max": def.max_memory });
        out["connections"] = connections(server, &tenant);
    }
    if let Some(secrets) = secrets {
        if let Some(password) = &secrets.password {
            out["password"] = json!(password);
            // With TLS on its own port, both URLs; with TLS on the main port, only rediss://.
            let (tls, tls_port) = {
                let s = server.settings.read();
                (!s.tls_cert_file.is_empty(), s.tls_port as u16)
            };
            if !tls || tls_port != 0 {
                out["redis_url"] = json!(format!("redis://default:{password}@{host}:{port}"));
            }
            if tls {
                let port = if tls_port != 0 { tls_port } else { port };
                out["rediss_url"] = json!(format!("rediss://default:{password}@{host}:{port}"));
            }
        }
        if let Some(token) = &secrets.rest_token {
            out["rest_token"] = json!(token);
        }
        if let Some(token) = &secrets.readonly_token {
            out["readonly_rest_token"] = json!(token);
        }
    }
    out
}

/// Who is connected, by address and name, with ages and idle times: a leaking application shows at once.
fn connections(server: &Server, tenant: &Tenant) -> Value {
    let now = keel_engine::clock::unix_ms();
    let clients: Vec<Value> = server
        .clients
        .snapshot()
        .iter()
        .filter(|c| c.in_tenant(&tenant.name))
        .map(|c| {
            json!({
                "id": c.id,
                "addr": c.addr,
                "name": String::from_utf8_lossy(&c.name.lock()),
                "age_s": now.saturating_sub(c.created_ms) / 1000,
                "idle_s": now.saturating_sub(c.last_active_ms.load(Ordering::Relaxed)) / 1000,
            })
        })
        .collect();
    json!({
        "current": tenant.connections.load(Ordering::Relaxed),
        "peak": tenant.peak_connections.load(Ordering::Relaxed),
        "clients": clients,
    })
}

fn parse<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, Box<Response>> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| Box::new(error(400, &format!("invalid JSON: {e}"))))
}

pub async fn create(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    let request: CreateRequest = match parse(&body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    if let Some(cluster) = super::cluster::coordinator(&server) {
        return super::cluster::create(server, cluster, request).await;
    }
    let worker = server.clone();
    match blocking(move || keel_engine::provisioning::create(&worker, request)).await {
        Ok(Ok((def, secrets))) => {
            (StatusCode::CREATED, Json(describe(&server, &def, &super::advertised_host(&server), Some(&secrets))))
                .into_response()
        }
        Ok(Err(e)) => failed(e),
        Err(refused) => refused,
    }
}

pub async fn list(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    if let Some(cluster) = super::cluster::coordinator(&server) {
        return super::cluster::list(server, cluster, None).await;
    }
    let defs: Vec<DatabaseDef> = server.databases.lock().list().cloned().collect();
    let host = super::advertised_host(&server);
    Json(json!({ "databases": defs.iter().map(|d| describe(&server, d, &host, None)).collect::<Vec<_>>() }))
        .into_response()
}

pub async fn show(State(server): State<Arc<Server>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    if let Some(cluster) = super::cluster::coordinator(&server) {
        return super::cluster::list(server, cluster, Some(name)).await;
    }
    let def = server.databases.lock().get(&name).cloned();
    match def {
        Some(def) => Json(describe(&server, &def, &super::advertised_host(&server), None)).into_response(),
        None => error(404, &format!("no database named '{name}'")),
    }
}

pub async fn delete(State(server): State<Arc<Server>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    if let Some(cluster) = super::cluster::coordinator(&server) {
        return super::cluster::delete(cluster, name).await;
    }
    let worker = server.clone();
    match blocking(move || keel_engine::provisioning::delete(&worker, &name)).await {
        Ok(Ok(def)) => Json(json!({ "deleted": def.name })).into_response(),
        Ok(Err(e)) => failed(e),
        Err(refused) => refused,
    }
}

pub async fn update(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    let change: UpdateRequest = match parse(&body) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    if let Some(cluster) = super::cluster::coordinator(&server) {
        return match blocking(move || cluster.update(&name, change)).await {
            Ok(Ok(def)) => Json(describe(&server, &def, &super::advertised_host(&server), None)).into_response(),
            Ok(Err(e)) => failed(e),
            Err(refused) => refused,
        };
    }
    match keel_engine::provisioning::update(&server, &name, change) {
        Ok(def) => Json(describe(&server, &def, &super::advertised_host(&server), None)).into_response(),
        Err(e) => failed(e),
    }
}

pub async fn rotate_password(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    rotate(server, name, &headers, true).await
}

pub async fn rotate_token(State(server): State<Arc<Server>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    rotate(server, name, &headers, false).await
}

async fn rotate(server: Arc<Server>, name: String, headers: &HeaderMap, password: bool) -> Response {
    if let Err(refused) = authorize(&server, headers) {
        return *refused;
    }
    if let Some(cluster) = super::cluster::coordinator(&server) {
        return match blocking(move || cluster.rotate(&name, password)).await {
            Ok(Ok((def, secrets))) => {
                Json(describe(&server, &def, &super::advertised_host(&server), Some(&secrets))).into_response()
            }
            Ok(Err(e)) => failed(e),
            Err(refused) => refused,
        };
    }
    let (server, name) = (&*server, name.as_str());
    let rotated = {
        let mut registry = server.databases.lock();
        let secrets = if password { registry.rotate_password(name) } else { registry.rotate_tokens(name) };
        secrets.map(|s| (registry.get(name).cloned(), s))
    };
    match rotated {
        Ok((Some(def), secrets)) => {
            Json(describe(server, &def, &super::advertised_host(server), Some(&secrets))).into_response()
        }
        Ok((None, _)) => error(404, &format!("no database named '{name}'")),
        Err(e) => failed(e),
    }
}

/// The usage meters of a database, with the cost under its plan.
pub async fn usage(State(server): State<Arc<Server>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    let def = server.databases.lock().get(&name).cloned();
    let (Some(def), Some(tenant)) = (def, server.tenants.read().get(&name).cloned()) else {
        return error(404, &format!("no database named '{name}'"));
    };
    Json(usage_of(&server, &def, &tenant)).into_response()
}

fn usage_of(server: &Server, def: &DatabaseDef, tenant: &Tenant) -> Value {
    tenant.meter(false);
    let figures = tenant.figures();
    let by_command: serde_json::Map<String, Value> = server
        .commands
        .all()
        .map(|command| (command, figures.commands.get(command.id)))
        .filter(|(_, stat)| stat.calls > 0)
        .map(|(command, stat)| (command.fullname.clone(), json!(stat.calls)))
        .collect();
    let plan = server.settings.read().plans.get(&def.plan).copied();
    let days = tenant.meters.days();
    let total: u64 = days.iter().map(|(_, d)| d.commands).sum();
    let today = days.last().map(|(_, d)| d.clone()).unwrap_or_default();
    let days: Vec<Value> = days
        .iter()
        .rev()
        .map(|(day, d)| {
            json!({
                "day": day,
                "commands": d.commands,
                "bytes_in": d.bytes_in,
                "bytes_out": d.bytes_out,
                "keyspace_hits": d.keyspace_hits,
                "keyspace_misses": d.keyspace_misses,
                "peak_storage": d.peak_storage,
                "peak_connections": d.peak_connections,
                "cost_usd": keel_engine::meters::cost(plan.as_ref(), 1, d.commands),
            })
        })
        .collect();
    json!({
        "name": def.name,
        "plan": def.plan,
        "commands": total,
        "commands_today": today.commands,
        "by_command": by_command,
        "keyspace_hits": today.keyspace_hits,
        "keyspace_misses": today.keyspace_misses,
        "bytes": { "in": today.bytes_in, "out": today.bytes_out },
        "storage": {
            "current": figures.used_memory,
            "peak": tenant.peak_memory.load(Ordering::Relaxed),
        },
        "connections": {
            "current": tenant.connections.load(Ordering::Relaxed),
            "peak": tenant.peak_connections.load(Ordering::Relaxed),
        },
        "cost_usd": keel_engine::meters::cost(plan.as_ref(), days.len() as u64, total),
        "days": days,
    })
}

/// The OpenAPI 3 description of this API.
pub async fn openapi() -> Response {
    let database = json!({ "$ref": "#/components/schemas/Database" });
    let name = json!([{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }]);
    let ok = |what: &str, schema: &Value| json!({ "description": what, "content": { "application/json": { "schema": schema } } });
    Json(json!({
        "openapi": "3.0.3",
        "info": { "title": "Keel admin API", "version": env!("CARGO_PKG_VERSION") },
        "components": {
            "securitySchemes": { "admin": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Database": { "type": "object", "properties": {
                    "name": { "type": "string" }, "region": { "type": "string" }, "plan": { "type": "string", "description": "a plan of the server's plans table (payg and free unless keel.toml adds more)" },
                    "eviction": { "type": "string" }, "max_memory": { "type": "integer" }, "max_connections": { "type": "integer" },
                    "redis_url": { "type": "string", "description": "shown when created or rotated" },
                    "rest_url": { "type": "string" }, "rest_token": { "type": "string" }, "readonly_rest_token": { "type": "string" }
                } },
                "Create": { "type": "object", "properties": {
                    "name": { "type": "string" }, "region": { "type": "string" }, "plan": { "type": "string" },
                    "eviction": { "type": "string" }, "max_memory": { "type": "integer" }, "max_connections": { "type": "integer" },
                    "max_commands_per_second": { "type": "integer" }, "max_request_size": { "type": "integer" },
                    "backup": { "type": "string", "description": "scheduled backups: hourly, daily, none, or a period such as 6h" },
                    "backup_keep": { "type": "integer", "description": "scheduled backups kept (default 7)" }
                } },
                "Update": { "type": "object", "properties": {
                    "eviction": { "type": "string" }, "max_memory": { "type": "integer" }, "max_connections": { "type": "integer" },
                    "max_commands_per_second": { "type": "integer" }, "max_request_size": { "type": "integer" },
                    "backup": { "type": "string" }, "backup_keep": { "type": "integer" }
                } },
                "Backup": { "type": "object", "properties": {
                    "id": { "type": "string" }, "database": { "type": "string" }, "created_unix_ms": { "type": "integer" },
                    "bytes": { "type": "integer" }, "trigger": { "type": "string", "description": "manual or scheduled" }
                } }
            }
        },
        "security": [{ "admin": [] }],
        "paths": {
            "/v1/databases": {
                "get": { "summary": "List databases", "responses": { "200": ok("the databases", &json!({ "type": "object" })) } },
                "post": { "summary": "Create a database", "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Create" } } } },
                          "responses": { "201": ok("the database, with its secrets", &database) } }
            },
            "/v1/databases/{name}": {
                "parameters": name,
                "get": { "summary": "Show a database and its connections", "responses": { "200": ok("the database", &database) } },
                "patch": { "summary": "Change limits, live", "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Update" } } } },
                           "responses": { "200": ok("the database", &database) } },
                "delete": { "summary": "Delete a database and its data", "responses": { "200": ok("deleted", &json!({ "type": "object" })) } }
            },
            "/v1/databases/{name}/rotate-password": { "parameters": name, "post": { "summary": "New password", "responses": { "200": ok("the database, with its new password", &database) } } },
            "/v1/databases/{name}/rotate-token": { "parameters": name, "post": { "summary": "New REST tokens", "responses": { "200": ok("the database, with its new tokens", &database) } } },
            "/v1/databases/{name}/usage": { "parameters": name, "get": { "summary": "Usage meters and cost", "responses": { "200": ok("the meters", &json!({ "type": "object" })) } } },
            "/v1/databases/{name}/backups": { "parameters": name,
                "get": { "summary": "Backups, newest first (also of a deleted database)", "responses": { "200": ok("the backups", &json!({ "type": "object" })) } },
                "post": { "summary": "Take a backup now (202 while it runs past 10 s: follow /operation)", "responses": { "201": ok("the backup", &json!({ "$ref": "#/components/schemas/Backup" })) } } },
            "/v1/databases/{name}/backups/{id}": { "parameters": [name[0], { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "delete": { "summary": "Delete a backup", "responses": { "200": ok("deleted", &json!({ "type": "object" })) } } },
            "/v1/databases/{name}/restore": { "parameters": name,
                "post": { "summary": "Restore from a backup: {\"from\": ID | DATABASE | DATABASE/ID}, default the newest (202 while it runs past 10 s)", "responses": { "200": ok("the backup restored and the keys", &json!({ "type": "object" })) } } },
            "/v1/databases/{name}/operation": { "parameters": name,
                "get": { "summary": "The backup or restore running, or the last one, with its progress", "responses": { "200": ok("the operation", &json!({ "type": "object" })) } } },
            "/v1/databases/{name}/stats": { "parameters": name, "get": { "summary": "Rates over 1 s, 1 min and 1 h, latency, memory, connections, replication and today's cost (also with the database's REST token)", "responses": { "200": ok("the figures", &json!({ "type": "object" })) } } }
        }
    }))
    .into_response()
}
