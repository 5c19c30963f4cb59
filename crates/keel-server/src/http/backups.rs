//! The admin API's backups (see `crate::backups`): `GET|POST /v1/databases/<name>/backups` lists and
//! takes them, `DELETE /v1/databases/<name>/backups/<id>` deletes one, `POST /v1/databases/<name>/restore`
//! (`{"from": "ID" | "OTHER" | "OTHER/ID"}`, default the database's newest) restores one, and
//! `GET /v1/databases/<name>/operation` reports the backup or restore running (or the last one) with its
//! progress. A backup or restore that takes longer than a few seconds answers 202 and goes on; the caller
//! follows it on `/operation` (`keel db restore` draws a progress line from it).

use crate::backups::{self, Failure};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_engine::persistence::operation::Operation;
use keel_engine::server::Server;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a request waits for its backup or restore before answering 202.
const WAIT: Duration = Duration::from_secs(10);

fn failed(Failure(status, message): Failure) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({ "error": message }))).into_response()
}

pub async fn list(State(server): State<Arc<Server>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = super::admin::authorize(&server, &headers) {
        return *refused;
    }
    Json(json!({ "backups": backups::list(&server, &name) })).into_response()
}

pub async fn take(State(server): State<Arc<Server>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = super::admin::authorize(&server, &headers) {
        return *refused;
    }
    let task = tokio::spawn({
        let (server, name) = (server.clone(), name.clone());
        async move { backups::take(server, &name, "manual").await }
    });
    match finished(task).await {
        Some(Ok(info)) => (StatusCode::CREATED, Json(json!(info))).into_response(),
        Some(Err(failure)) => failed(failure),
        None => still_running(&server, &name),
    }
}

pub async fn delete(
    State(server): State<Arc<Server>>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = super::admin::authorize(&server, &headers) {
        return *refused;
    }
    match backups::delete(&server, &name, &id) {
        Ok(()) => Json(json!({ "deleted": id })).into_response(),
        Err(failure) => failed(failure),
    }
}

pub async fn restore(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = super::admin::authorize(&server, &headers) {
        return *refused;
    }
    let from = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => fields.get("from").and_then(Value::as_str).map(String::from),
            _ => return failed(Failure(400, "expected a JSON object such as {\"from\": \"<backup id>\"}".into())),
        }
    };
    let task = tokio::spawn({
        let (server, name) = (server.clone(), name.clone());
        async move { backups::restore(server, &name, from.as_deref()).await }
    });
    match finished(task).await {
        Some(Ok((info, keys))) => Json(json!({ "restored_from": info, "keys": keys })).into_response(),
        Some(Err(failure)) => failed(failure),
        None => still_running(&server, &name),
    }
}

pub async fn operation(State(server): State<Arc<Server>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = super::admin::authorize(&server, &headers) {
        return *refused;
    }
    let tenant = server.tenants.read().get(&name).cloned();
    match tenant.and_then(|t| t.persistence.operation.current()) {
        Some(operation) => Json(describe(&operation)).into_response(),
        None => failed(Failure(404, format!("no backup or restore of '{name}' has run"))),
    }
}

/// The task's outcome if it ends within [`WAIT`].
async fn finished<T>(task: tokio::task::JoinHandle<Result<T, Failure>>) -> Option<Result<T, Failure>> {
    match tokio::time::timeout(WAIT, task).await {
        Ok(Ok(outcome)) => Some(outcome),
        Ok(Err(e)) => Some(Err(Failure(500, e.to_string()))),
        Err(_) => None,
    }
}

/// 202: the operation goes on; `/operation` follows it.
fn still_running(server: &Server, name: &str) -> Response {
    let tenant = server.tenants.read().get(name).cloned();
    let operation = tenant.and_then(|t| t.persistence.operation.current());
    let body = operation.map_or(json!({}), |o| describe(&o));
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

fn describe(o: &Operation) -> Value {
    let state = match (&o.finished_ms, &o.error) {
        (None, _) => "running",
        (Some(_), None) => "done",
        (Some(_), Some(_)) => "failed",
    };
    let percent = (o.total > 0).then(|| (o.done as f64 * 1000.0 / o.total as f64).round() / 10.0);
    json!({
        "kind": o.kind,
        "backup": o.backup_id,
        "state": state,
        "started_unix_ms": o.started_ms,
        "finished_unix_ms": o.finished_ms,
        "done_bytes": o.done,
        "total_bytes": o.total,
        "percent": percent,
        "keys": o.keys,
        "error": o.error,
    })
}
