//! The HTTP face on `http-port`: liveness and readiness for platforms' health checks (`health.rs`) and
//! Prometheus metrics (`metrics.rs`), served by axum on the same runtime as RESP and stopped by the same
//! shutdown signal. (The REST API will join this router.)

mod health;
mod metrics;

use crate::server::Server;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The routes, each with the server as its state.
fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(server.clone(), count_request))
        .with_state(server)
}

/// Counts every request by its route (the pattern it matched, `unmatched` otherwise) and status.
async fn count_request(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let response = next.run(request).await;
    *server.http_requests.lock().entry((route, response.status().as_u16())).or_insert(0) += 1;
    response
}

/// Serves HTTP on `listener` until the server shuts down.
pub async fn run(server: Arc<Server>, listener: TcpListener) {
    let mut shutdown = server.shutdown_signal();
    let app = router(server.clone());
    let stopping = async move { crate::server::stopping(&mut shutdown).await };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stopping).await {
        tracing::warn!(%error, "the HTTP server stopped");
    }
}
