//! The admin API on a clustered node: `GET /v1/cluster` (the nodes, their regions, addresses, databases
//! and memory, and this node's view of etcd), and the cluster's side of creating, listing, showing and
//! deleting databases, which go through the coordinator (placement and the catalog in etcd) instead of
//! this node's own registry. URLs handed out name this node: any node relays a database's clients.

use super::admin::{authorize, describe};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_engine::coordination::Coordinator;
use keel_engine::databases::{CreateRequest, ProvisionError};
use keel_engine::server::Server;
use serde_json::{json, Value};
use std::sync::Arc;

fn failed(e: ProvisionError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({ "error": e.message }))).into_response()
}

/// The node's coordinator, when it is clustered.
pub(super) fn coordinator(server: &Server) -> Option<Arc<dyn Coordinator>> {
    server.coordinator.get().cloned()
}

pub async fn status(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    let Some(cluster) = coordinator(&server) else {
        let body = json!({ "error": "this node is not part of a cluster (start it with --cluster etcd://host:port)" });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    match tokio::task::spawn_blocking(move || cluster.status()).await {
        Ok(Ok(status)) => Json(status).into_response(),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(ProvisionError { status: 500, message: e.to_string() }),
    }
}

/// Creates a database somewhere in the cluster; its description names the node serving it.
pub(super) async fn create(server: Arc<Server>, cluster: Arc<dyn Coordinator>, request: CreateRequest) -> Response {
    match tokio::task::spawn_blocking(move || cluster.create(request)).await {
        Ok(Ok((def, secrets, node))) => {
            let mut described = describe(&server, &def, &super::advertised_host(&server), Some(&secrets));
            described["node"] = json!(node);
            (StatusCode::CREATED, Json(described)).into_response()
        }
        Ok(Err(e)) => failed(e),
        Err(e) => failed(ProvisionError { status: 500, message: e.to_string() }),
    }
}

/// Every database of the cluster, each with its node; one when `only` names it.
pub(super) async fn list(server: Arc<Server>, cluster: Arc<dyn Coordinator>, only: Option<String>) -> Response {
    let listed = match tokio::task::spawn_blocking(move || cluster.list()).await {
        Ok(Ok(listed)) => listed,
        Ok(Err(e)) => return failed(e),
        Err(e) => return failed(ProvisionError { status: 500, message: e.to_string() }),
    };
    let host = super::advertised_host(&server);
    let described: Vec<Value> = listed
        .iter()
        .filter(|p| only.as_ref().is_none_or(|name| *name == p.definition.name))
        .map(|p| {
            let mut d = describe(&server, &p.definition, &host, None);
            d["node"] = json!(p.node);
            d["replicas"] = json!(p.replicas);
            d["replica_lag_bytes"] = json!(p.replica_lag);
            d
        })
        .collect();
    match only {
        None => Json(json!({ "databases": described })).into_response(),
        Some(name) => match described.into_iter().next() {
            Some(one) => Json(one).into_response(),
            None => failed(ProvisionError { status: 404, message: format!("no database named '{name}'") }),
        },
    }
}

pub(super) async fn delete(cluster: Arc<dyn Coordinator>, name: String) -> Response {
    match tokio::task::spawn_blocking(move || cluster.delete(&name)).await {
        Ok(Ok(def)) => Json(json!({ "deleted": def.name })).into_response(),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(ProvisionError { status: 500, message: e.to_string() }),
    }
}

/// `POST /v1/databases/<name>/move` with `{"to": "<node>"}`: a live move (see keel-cluster's `moves`).
pub async fn move_database(
    State(server): State<Arc<Server>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(refused) = authorize(&server, &headers) {
        return *refused;
    }
    let Some(cluster) = coordinator(&server) else {
        let body =
            json!({ "error": "moving a database needs a cluster (start nodes with --cluster etcd://host:port)" });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    let to = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["to"].as_str().map(String::from));
    let Some(to) = to else {
        return failed(ProvisionError { status: 400, message: "expected {\"to\": \"<node>\"}".into() });
    };
    match tokio::task::spawn_blocking(move || cluster.move_database(&name, &to)).await {
        Ok(Ok(report)) => Json(report).into_response(),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(ProvisionError { status: 500, message: e.to_string() }),
    }
}
