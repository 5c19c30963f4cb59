//! Pub/sub and MONITOR over Server-Sent Events (`/subscribe/<channel>`, `/psubscribe/<pattern>`,
//! `/monitor`): the request becomes a subscriber (or a monitor) of the database with its own feed, and
//! each message is sent as `data: message,<channel>,<payload>` (raw payloads, as Upstash's SDK expects) or
//! `data: <monitor line>`, with comment heartbeats. When the client goes away the stream is dropped, and
//! with it the subscription.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use keel_engine::clients::ClientInfo;
use keel_engine::server::Server;
use keel_engine::state::pubsub::{Feed, Kind};
use keel_engine::state::tenant::Tenant;
use keel_protocol::{parse_frame, Frame, Resp};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// A subscription (or, without `kind`, a monitor) held by a stream; dropping it unsubscribes.
struct Subscription {
    tenant: Arc<Tenant>,
    client: Arc<ClientInfo>,
    kind: Option<Kind>,
    name: Vec<u8>,
    messages: UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
    greeted: bool,
}

impl Drop for Subscription {
    /// Unsubscribes on a blocking thread: the database's lock may be held by a long script, and an async
    /// worker must not wait for it.
    fn drop(&mut self) {
        let (tenant, id, kind, name) = (self.tenant.clone(), self.client.id, self.kind, std::mem::take(&mut self.name));
        tokio::task::spawn_blocking(move || {
            let mut ks = tenant.data.lock();
            match kind {
                Some(kind) => {
                    ks.pubsub.unsubscribe(id, kind, &name);
                    ks.pubsub.forget(id);
                }
                None => ks.monitors.retain(|m| m.client.id != id),
            }
        });
    }
}

/// One pub/sub message (a RESP2 array as the hub queues it) or MONITOR line (a status reply) as the SSE
/// line Upstash sends.
fn event_line(message: &[u8]) -> Option<String> {
    let parts = match parse_frame(message) {
        Ok(Some((Frame::Array(parts), _))) => parts,
        Ok(Some((Frame::Simple(line), _))) => return Some(String::from_utf8_lossy(&line).into_owned()),
        _ => return None,
    };
    let texts: Vec<String> = parts
        .into_iter()
        .map(|part| match part {
            Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(&b).into_owned(),
            Frame::Integer(n) => n.to_string(),
            _ => String::new(),
        })
        .collect();
    Some(texts.join(","))
}

/// The 400 a refused subscription answers with.
fn refused(error: &str) -> Response {
    let body = axum::Json(serde_json::json!({ "error": error }));
    (axum::http::StatusCode::BAD_REQUEST, body).into_response()
}

/// Streams the subscription of `kind` to `name` (or, with no kind, MONITOR) for a REST client running as
/// the ACL user `user` (None: `default`), once the gate admits it as it would SUBSCRIBE, PSUBSCRIBE or
/// MONITOR over RESP.
pub fn stream(
    server: &Arc<Server>,
    tenant: Arc<Tenant>,
    user: Option<String>,
    kind: Option<Kind>,
    name: Vec<u8>,
) -> Response {
    let client = super::request_client(server, &tenant, "rest-sse");
    let command: &[u8] = match kind {
        Some(Kind::Pattern) => b"PSUBSCRIBE",
        Some(_) => b"SUBSCRIBE",
        None => b"MONITOR",
    };
    let args: Vec<&[u8]> = if kind.is_some() { vec![command, &name] } else { vec![command] };
    let mut session = keel_engine::exec::session::Session::new(client.clone(), true);
    session.acl_user = user;
    session.over_rest = true;
    let env = keel_engine::exec::dispatch::Env {
        server,
        tenant: &tenant,
        settings: keel_engine::exec::dispatch::BatchSettings::read(server, &tenant),
    };
    let state = keel_engine::exec::admission::ServerState::Ready;
    if let Err(refusal) = keel_engine::exec::admission::admit(&env, &mut session, &args, state) {
        return refused(&refusal.error);
    }
    let (tx, messages) = tokio::sync::mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let feed = Feed { tx, queued: queued.clone() };
    {
        let mut ks = match tenant.lock_unless_busy() {
            Ok(ks) => ks,
            Err(busy) => return refused(busy),
        };
        match kind {
            Some(kind) => {
                ks.pubsub.subscribe(&client, &feed, Resp::V2, kind, &name);
            }
            None => ks.monitors.push(keel_engine::state::tenant::Monitor { client: client.clone(), feed }),
        }
    }
    let subscription = Subscription { tenant, client, kind, name, messages, queued, greeted: false };
    let events = futures_util::stream::unfold(subscription, |mut sub| async move {
        if !sub.greeted {
            sub.greeted = true;
            let line = match sub.kind {
                Some(Kind::Pattern) => format!("psubscribe,{},1", String::from_utf8_lossy(&sub.name)),
                Some(_) => format!("subscribe,{},1", String::from_utf8_lossy(&sub.name)),
                None => "\"OK\"".to_string(),
            };
            return Some((Ok::<Event, Infallible>(Event::default().data(line)), sub));
        }
        loop {
            // A subscriber the hub cut off (over its output limit) ends its stream.
            if sub.client.is_killed() {
                return None;
            }
            let message = sub.messages.recv().await?;
            sub.queued.fetch_sub(message.len(), Ordering::Relaxed);
            if let Some(line) = event_line(&message) {
                return Some((Ok(Event::default().data(line)), sub));
            }
        }
    });
    // An idle stream sends a comment now and then, so proxies keep it open and a dead client is noticed.
    let heartbeat = Duration::from_millis(server.settings.read().rest_sse_heartbeat_ms);
    Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat).text("ping")).into_response()
}
