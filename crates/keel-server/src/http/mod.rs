//! The HTTP face on `http-port`: liveness and readiness for platforms' health checks (`health.rs`), served
//! by axum on the same runtime as RESP and stopped by the same shutdown signal. (The REST API and metrics
//! will join this router.)

mod health;

use crate::server::Server;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The routes, each with the server as its state.
fn router(server: Arc<Server>) -> Router {
    Router::new().route("/health", get(health::live)).route("/health/ready", get(health::ready)).with_state(server)
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
