//! The HTTP face on `http-port`: liveness and readiness for platforms' health checks (`health.rs`) and
//! Prometheus metrics (`metrics.rs`), served by axum on the same runtime as RESP and stopped by the same
//! shutdown signal, the REST API (`rest.rs`), the admin API that provisions databases (`admin.rs`) and
//! backs them up (`backups.rs`), and the live dashboard (`dashboard/`).

mod admin;
mod backups;
mod cluster;
mod dashboard;
mod forward;
mod health;
mod index;
mod metrics;
mod rest;
mod sse;
mod stats;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use keel_engine::server::Server;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The routes, each with the server as its state.
fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/databases/{name}/metrics", get(metrics::database_metrics))
        .route("/v1/openapi.json", get(admin::openapi))
        .route("/v1/cluster", get(cluster::status))
        .route("/v1/databases", get(admin::list).post(admin::create))
        .route("/v1/databases/{name}", get(admin::show).delete(admin::delete).patch(admin::update))
        .route("/v1/databases/{name}/rotate-password", post(admin::rotate_password))
        .route("/v1/databases/{name}/rotate-token", post(admin::rotate_token))
        .route("/v1/databases/{name}/usage", get(admin::usage))
        .route("/v1/databases/{name}/stats", get(stats::database_stats))
        .route("/v1/databases/{name}/backups", get(backups::list).post(backups::take))
        .route("/v1/databases/{name}/backups/{id}", axum::routing::delete(backups::delete))
        .route("/v1/databases/{name}/restore", post(backups::restore))
        .route("/v1/databases/{name}/operation", get(backups::operation))
        .route("/v1/databases/{name}/move", post(cluster::move_database))
        .route("/v1/dashboard/snapshot", get(dashboard::snapshot))
        .route("/v1/dashboard/stream", get(dashboard::stream))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/dashboard.js", get(dashboard::script))
        .route("/dashboard/dashboard.css", get(dashboard::style))
        .route("/dashboard/uPlot.iife.min.js", get(dashboard::uplot_script))
        .route("/dashboard/uPlot.min.css", get(dashboard::uplot_style))
        .route("/", get(index::index).post(rest::body_command))
        .route("/pipeline", post(rest::pipeline))
        .route("/multi-exec", post(rest::multi_exec))
        .route("/subscribe/{*channel}", post(rest::subscribe).get(rest::subscribe))
        .route("/psubscribe/{*pattern}", post(rest::subscribe).get(rest::subscribe))
        .route("/monitor", post(rest::monitor).get(rest::monitor))
        .route(
            "/{*command}",
            get(rest::path_command).post(rest::path_command).put(rest::path_command).head(rest::path_command),
        )
        .layer(axum::middleware::from_fn_with_state(server.clone(), front))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(server)
}

/// What every request passes through, as one layer (each layer of its own cost a boxed future and a clone
/// of the routes behind it, per request): the edge (`edge`), which hands what it does not answer to the
/// forwarding of requests for a database served elsewhere (`forward::forward_remote`), which runs the rest
/// here; and then the request is counted by route and status.
async fn front(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = edge(&server, request, next).await;
    count_request(&server, route.as_ref().map_or("unmatched", |p| p.as_str()), response.status().as_u16());
    response
}

/// The largest request body taken (Upstash's limit on its free and pay-as-you-go plans).
pub(super) const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// What every response shares, and what is answered before routing: CORS (browsers call the REST API
/// directly), a JSON 405 for methods REST does not take, and Upstash's error for a request over the size
/// limit.
async fn edge(server: &Arc<Server>, request: Request, next: Next) -> Response {
    use axum::http::{header, HeaderValue, Method, StatusCode};
    use axum::response::IntoResponse;
    let method = request.method().clone();
    let for_operators = operator_route(request.uri().path());
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let too_large = || {
        let body = axum::Json(serde_json::json!({ "error": "ERR max request size exceeded" }));
        (StatusCode::PAYLOAD_TOO_LARGE, body).into_response()
    };
    let mut response = if method == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else if !([Method::GET, Method::POST, Method::PUT, Method::HEAD].contains(&method)
        || (request.uri().path().starts_with("/v1/") && [Method::DELETE, Method::PATCH].contains(&method)))
    {
        let body = axum::Json(serde_json::json!({ "error": "ERR only HEAD, GET, POST and PUT methods are allowed" }));
        (StatusCode::METHOD_NOT_ALLOWED, body).into_response()
    } else if declared.is_some_and(|len| len > MAX_REQUEST_BYTES) {
        too_large()
    } else {
        match forward::forward_remote(server, request, next).await {
            // A body without a declared length is cut off while it is read: the same error, in JSON.
            response if response.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            response => response,
        }
    };
    // Browsers call the REST API directly; the admin API, metrics and health are for operators' tools, which
    // a web page on another origin must not reach with a visitor's credentials.
    if for_operators {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if method == Method::OPTIONS {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, HEAD, OPTIONS"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, upstash-encoding, upstash-response-format, upstash-sync-token, upstash-telemetry-runtime, upstash-telemetry-platform, upstash-telemetry-sdk",
            ),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

/// Routes for operators (admin API, metrics, health, the dashboard), which answer no cross-origin request.
pub(super) fn operator_route(path: &str) -> bool {
    path.starts_with("/v1/") || path == "/metrics" || path.starts_with("/health") || path.starts_with("/dashboard")
}

/// The token in `Authorization: Bearer <token>` (the scheme in any case), if there is one.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `given` is `expected` (a configured, non-empty secret), compared in constant time.
pub(crate) fn token_matches(given: &str, expected: &str) -> bool {
    !expected.is_empty() && keel_engine::secrets::secrets_equal(given.as_bytes(), expected.as_bytes())
}

/// The host clients reach this Keel at, for the URLs it hands out: `advertise` when set, else the bound
/// address when it is one, else the machine's host name. Never a request's own `Host` header, which the
/// requester chooses.
pub(crate) fn advertised_host(server: &Server) -> String {
    let (advertise, bind) = {
        let s = server.settings.read();
        (s.advertise.clone(), s.bind.clone())
    };
    if !advertise.is_empty() {
        return advertise;
    }
    let unspecified = bind.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    if !unspecified {
        return bind;
    }
    host_name().unwrap_or_else(|| "127.0.0.1".into())
}

/// The machine's host name.
pub(crate) fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`, which lives for the call.
    let status = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0)?;
    (status == 0 && end > 0).then(|| String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Counts a request by its route (the pattern it matched, `unmatched` otherwise) and status.
fn count_request(server: &Server, route: &str, status: u16) {
    let mut counts = server.http_requests.lock();
    let by_status = match counts.get_mut(route) {
        Some(by_status) => by_status,
        None => counts.entry(route.to_string()).or_default(),
    };
    *by_status.entry(status).or_insert(0) += 1;
}

/// The client record an HTTP request runs commands as (not listed by CLIENT LIST: it lives for one request;
/// CLIENT INFO's `io-thread` names the runtime serving its connection).
fn request_client(
    server: &Server,
    tenant: &keel_engine::state::tenant::Tenant,
    addr: &str,
) -> Arc<keel_engine::clients::ClientInfo> {
    let now = keel_engine::clock::unix_ms();
    let info = keel_engine::clients::ClientInfo::new(
        server.clients.next_id(),
        addr.into(),
        String::new(),
        -1,
        tenant.name.clone(),
        now,
    );
    info.io_thread.store(crate::homes::current(), std::sync::atomic::Ordering::Relaxed);
    Arc::new(info)
}

/// Where a generated REST token is kept, in the data directory.
const TOKEN_FILE: &str = "rest-token";
const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Settles the default database's REST token: the configured one (`--rest-token`, `KEEL_REST_TOKEN`,
/// `keel.toml`), else the one generated at an earlier start, else a new random one, kept (0600) in the
/// data directory and printed this once.
pub fn settle_rest_token(server: &Server) -> std::io::Result<()> {
    let configured = server.settings.read().rest_token.clone();
    let token = settle_token(server, &configured, TOKEN_FILE, "the REST token for the default database")?;
    server.settings.write().rest_token = token;
    Ok(())
}

/// The admin API's token, settled as the REST token is.
pub fn settle_admin_token(server: &Server) -> std::io::Result<()> {
    let configured = server.settings.read().admin_token.clone();
    let token =
        settle_token(server, &configured, ADMIN_TOKEN_FILE, "the admin token (KEEL_ADMIN_TOKEN for `keel db`)")?;
    server.settings.write().admin_token = token;
    Ok(())
}

fn settle_token(server: &Server, configured: &str, file: &str, what: &str) -> std::io::Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let path = server.settings.read().dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_string()),
        _ => {
            let token = keel_engine::secrets::new_secret(24);
            keel_persist::private_file::replace(&path, token.as_bytes())?;
            // The token itself only to a person at a terminal: a platform's log is read by many.
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                println!("Keel generated {what} (kept in {}): {token}", path.display());
            } else {
                println!("Keel generated {what}: it is in {} (readable by Keel's user only)", path.display());
            }
            Ok(token)
        }
    }
}

/// Serves HTTP on `listener` until the server shuts down; with `tls`, HTTPS. Each connection is served on
/// its own task (a slow TLS handshake holds up nobody else), at most `http-max-connections` at once (the
/// next ones are answered 503 and closed), and a connection that does not send a request's headers within
/// `http-timeout` seconds, whether slowly or not at all between requests, is closed. A request's body and
/// handler get the same time to produce a response (a stream, once started, is not cut). Connections are
/// served on the runtimes in turn (`homes`): a REST request names its database only in its token, so an
/// HTTP connection has no home, and one core parsing every request and encoding every reply was the limit
/// of REST traffic however many databases it reached.
pub async fn run(
    server: Arc<Server>,
    listener: TcpListener,
    tls: Option<Arc<crate::tls::TlsSlot>>,
    homes: Arc<crate::homes::Homes>,
) {
    let mut shutdown = server.shutdown_signal();
    let app = router(server.clone());
    let (cap, timeout) = {
        let s = server.settings.read();
        (s.http_max_connections as usize, std::time::Duration::from_secs(s.http_timeout.max(1)))
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    let mut connections = tokio::task::JoinSet::new();
    let mut accept_errors = crate::listener::AcceptErrors::default();
    loop {
        let (stream, _) = tokio::select! {
            _ = keel_engine::server::stopping(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_errors.failed("HTTP", &error);
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            connections.spawn(refuse_busy(stream));
            continue;
        };
        let (app, tls, shutdown) = (app.clone(), tls.as_ref().map(|slot| slot.current()), server.shutdown_signal());
        // Moved to the runtime that serves it as a RESP connection moves to its home (homes::Socket).
        let mut stream = crate::homes::Socket::InDriver(stream);
        let runtime = match homes.next_for_http() {
            Some(there) if stream.unplug() => homes.runtime(there).clone(),
            Some(_) => continue,
            None => tokio::runtime::Handle::current(),
        };
        connections.spawn_on(
            async move {
                let _slot = slot;
                if stream.plug().is_err() {
                    return;
                }
                match tls {
                    None => serve_connection(stream, app, timeout, shutdown).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => serve_connection(stream, app, timeout, shutdown).await,
                            _ => tracing::debug!("TLS handshake failed or timed out"),
                        }
                    }
                }
            },
            &runtime,
        );
    }
    // Requests in flight finish (bounded); streams (SSE) end with the server.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(5), drain).await.is_err() {
        connections.abort_all();
    }
}

/// Over the connection cap: a 503 and the connection closed, without reading the request.
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = r#"{"error":"ERR too many HTTP connections, try again shortly"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.write_all(response.as_bytes())).await;
}

/// Serves one HTTP/1.1 connection until it closes, times out, or the server shuts down.
async fn serve_connection<S>(
    stream: S,
    app: Router,
    timeout: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: axum::http::Request<hyper::body::Incoming>| {
        let mut app = app.clone();
        async move {
            let handled = tower_service::Service::call(&mut app, request.map(axum::body::Body::new));
            match tokio::time::timeout(timeout, handled).await {
                Ok(response) => response,
                Err(_) => Ok(timed_out()),
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(timeout).keep_alive(true);
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = keel_engine::server::stopping(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), connection).await;
        }
    }
}

/// A request whose body or handler took longer than `http-timeout`.
fn timed_out() -> Response {
    use axum::response::IntoResponse;
    let body = axum::Json(serde_json::json!({ "error": "ERR the request took too long" }));
    (axum::http::StatusCode::REQUEST_TIMEOUT, body).into_response()
}
