//! The live dashboard on the HTTP port: `GET /dashboard` serves a page (its script, style and the vendored
//! uPlot charting library are compiled into the binary, so it works offline), which signs in with a token
//! and reads `GET /v1/dashboard/stream`, a Server-Sent Events stream of snapshots pushed every second.
//! `GET /v1/dashboard/snapshot` answers one snapshot, for scripts. The admin token sees the server and
//! every database; a database's REST token (full or read-only) sees that database alone.

mod view;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_engine::server::Server;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use view::Scope;

/// How often the stream pushes a snapshot.
const INTERVAL: Duration = Duration::from_secs(1);

/// The page: no data and no secret in it, so anyone may load it; what it shows comes from the stream.
pub async fn page() -> Response {
    let mut response = asset(include_str!("../../../assets/dashboard/index.html"), "text/html; charset=utf-8");
    let headers = response.headers_mut();
    // Only this origin's own script and style; no framing (the page holds a token while it runs).
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

pub async fn script() -> Response {
    asset(include_str!("../../../assets/dashboard/dashboard.js"), "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    asset(include_str!("../../../assets/dashboard/dashboard.css"), "text/css; charset=utf-8")
}

pub async fn uplot_script() -> Response {
    asset(include_str!("../../../assets/uplot/uPlot.iife.min.js"), "text/javascript; charset=utf-8")
}

pub async fn uplot_style() -> Response {
    asset(include_str!("../../../assets/uplot/uPlot.min.css"), "text/css; charset=utf-8")
}

/// A static file with its type; revalidated on each load, so an upgraded Keel serves its own page.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let headers = [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")];
    (headers, body).into_response()
}

/// Whose view the request's token opens, if any.
fn scope(server: &Server, headers: &HeaderMap) -> Option<Scope> {
    if super::admin::is_admin(server, headers) {
        return Some(Scope::Admin);
    }
    let token = super::bearer_token(headers)?;
    let (full, read_only) = {
        let s = server.settings.read();
        (s.rest_token.clone(), s.rest_readonly_token.clone())
    };
    // Both comparisons always run, so timing does not tell which token was close.
    let (is_full, is_read_only) = (super::token_matches(token, &full), super::token_matches(token, &read_only));
    if is_full || is_read_only {
        return Some(Scope::Database(server.default_tenant().name.clone()));
    }
    let registry = server.databases.lock();
    registry.by_token(token).map(|(def, _)| Scope::Database(def.name.clone()))
}

fn unauthorized() -> Response {
    let body = Json(serde_json::json!({ "error": "WRONGPASS invalid or missing auth token" }));
    (StatusCode::UNAUTHORIZED, body).into_response()
}

/// `GET /v1/dashboard/snapshot`: one snapshot, as the stream sends them.
pub async fn snapshot(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    match scope(&server, &headers) {
        Some(scope) => Json(view::snapshot(&server, &scope, false)).into_response(),
        None => unauthorized(),
    }
}

/// `GET /v1/dashboard/stream`: a snapshot every second as an SSE `data:` line, the first with each
/// database's last minute. The stream ends when the client goes away or the server stops.
pub async fn stream(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    let Some(scope) = scope(&server, &headers) else { return unauthorized() };
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events =
        futures_util::stream::unfold((server, scope, ticks, true), |(server, scope, mut ticks, first)| async move {
            ticks.tick().await;
            if server.is_shutting_down() {
                return None;
            }
            let snapshot = view::snapshot(&server, &scope, first);
            let event = Event::default().data(snapshot.to_string());
            Some((Ok::<Event, Infallible>(event), (server, scope, ticks, false)))
        });
    let mut response = Sse::new(events).keep_alive(KeepAlive::default()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
