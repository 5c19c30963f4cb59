//! REST requests for a database whose primary another node of the cluster serves: a clustered node
//! forwards the request (method, path and query, the headers REST reads, the body) to that node's HTTP
//! address and answers with its reply (status, content type, `upstash-sync-token`, body). So a database's
//! `rest_url` works through any node. Streams (`/subscribe`, `/psubscribe`, `/monitor`) are relayed as they
//! come.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_engine::coordination::Remote;
use keel_engine::server::Server;
use std::time::Duration;

/// Request headers the REST API reads, passed on as they came.
const PASSED: &[&str] =
    &["authorization", "content-type", "upstash-encoding", "upstash-response-format", "upstash-sync-token"];

/// How long the serving node may take to answer a forwarded request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// Forwards a REST request whose token opens a database served elsewhere; runs everything else here.
pub(super) async fn forward_remote(server: &Server, request: Request, next: Next) -> Response {
    let Some(remote) = remote_for(server, &request) else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    let streams = path.starts_with("/subscribe/") || path.starts_with("/psubscribe/") || path.starts_with("/monitor");
    let method = request.method().to_string();
    let target = format!("http://{}{}", remote.http, request.uri().path_and_query().map_or("/", |p| p.as_str()));
    let headers: Vec<(String, String)> = PASSED
        .iter()
        .filter_map(|name| Some((name.to_string(), request.headers().get(*name)?.to_str().ok()?.to_string())))
        .collect();
    let body = match axum::body::to_bytes(request.into_body(), super::MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "ERR max request size exceeded").into_response(),
    };
    if streams {
        return stream(method, target, headers, body.to_vec(), &remote).await;
    }
    let answered = tokio::task::spawn_blocking(move || send(&method, &target, &headers, &body)).await;
    match answered {
        Ok(Ok(response)) => response,
        _ => unreachable_node(&remote),
    }
}

/// 503 for a database whose node cannot be reached now.
fn unreachable_node(remote: &Remote) -> Response {
    let body = axum::Json(serde_json::json!({ "error": format!(
        "TRYAGAIN database '{}' is served by node '{}', which cannot be reached from here now",
        remote.database, remote.node
    ) }));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

/// A stream (pub/sub or MONITOR over SSE) relayed from the serving node as it comes, on a thread of its
/// own; it ends when either side does (the serving node's subscription ends with the connection).
async fn stream(
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    remote: &Remote,
) -> Response {
    let (chunks, received) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let (started, head) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut request = ureq::request(&method, &target);
        for (name, value) in &headers {
            request = request.set(name, value);
        }
        let reply = match request.send_bytes(&body) {
            Ok(reply) | Err(ureq::Error::Status(_, reply)) => reply,
            Err(_) => return,
        };
        let content_type = reply.header("content-type").unwrap_or("text/event-stream").to_string();
        if started.send((reply.status(), content_type)).is_err() {
            return;
        }
        let mut reader = reply.into_reader();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if chunks.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let Ok((status, content_type)) = head.await else { return unreachable_node(remote) };
    let body = futures_util::stream::unfold(received, |mut received| async move {
        let chunk = received.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk)), received))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert("content-type", value);
    }
    response.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

/// The database whose primary another node serves that the request's REST token opens (also when this
/// node keeps a replica of it).
fn remote_for(server: &Server, request: &Request) -> Option<Remote> {
    let cluster = server.coordinator.get()?;
    if super::operator_route(request.uri().path()) {
        return None;
    }
    let token = super::rest::request_token(request.headers(), request.uri().query())?;
    cluster.locate_by_token(&token).map(|(remote, _)| remote)
}

fn send(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, String> {
    let mut forwarded = ureq::request(method, url).timeout(FORWARD_TIMEOUT);
    for (name, value) in headers {
        forwarded = forwarded.set(name, value);
    }
    let reply = match forwarded.send_bytes(body) {
        Ok(reply) | Err(ureq::Error::Status(_, reply)) => reply,
        Err(e) => return Err(e.to_string()),
    };
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let kept: Vec<(&str, String)> = ["content-type", "upstash-sync-token"]
        .iter()
        .filter_map(|name| Some((*name, reply.header(name)?.to_string())))
        .collect();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reply.into_reader(), &mut bytes).map_err(|e| e.to_string())?;
    let mut response = Response::builder().status(status).body(Body::from(bytes)).map_err(|e| e.to_string())?;
    for (name, value) in kept {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
