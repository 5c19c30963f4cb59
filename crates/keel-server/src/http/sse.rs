//! Pub/sub over Server-Sent Events (`POST /subscribe/<channel>`, `POST /psubscribe/<pattern>`): the
//! request becomes a subscriber of the database's pub/sub hub with its own feed, and each message is
//! sent as `data: message,<channel>,<payload>` (raw payloads, as Upstash's SDK expects), with comment
//! heartbeats. When the client goes away the stream is dropped, and with it the subscription.

use crate::clients::ClientInfo;
use crate::pubsub::{Feed, Kind};
use crate::server::Server;
use crate::tenant::Tenant;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use keel_protocol::{parse_frame, Frame, Resp};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// How often an idle stream sends a comment, so proxies keep it open and a dead client is noticed.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// A subscription held by a stream; dropping it unsubscribes.
struct Subscription {
    tenant: Arc<Tenant>,
    client: Arc<ClientInfo>,
    kind: Kind,
    name: Vec<u8>,
    messages: UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
    greeted: bool,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut ks = self.tenant.lock();
        ks.pubsub.unsubscribe(self.client.id, self.kind, &self.name);
        ks.pubsub.forget(self.client.id);
    }
}

/// One pub/sub message (a RESP2 array as the hub queues it) as the SSE line Upstash sends.
fn event_line(message: &[u8]) -> Option<String> {
    let Ok(Some((Frame::Array(parts), _))) = parse_frame(message) else { return None };
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

/// Streams the subscription of `kind` to `name` for a REST client.
pub fn stream(server: &Arc<Server>, kind: Kind, name: Vec<u8>) -> Response {
    let tenant = server.default_tenant();
    let client = Arc::new(ClientInfo::new(
        server.clients.next_id(),
        "rest-sse".into(),
        String::new(),
        -1,
        tenant.name.clone(),
        crate::server::unix_ms(),
    ));
    let (tx, messages) = tokio::sync::mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let feed = Feed { tx, queued: queued.clone() };
    tenant.lock().pubsub.subscribe(&client, &feed, Resp::V2, kind, &name);
    let subscription = Subscription { tenant, client, kind, name, messages, queued, greeted: false };
    let events = futures_util::stream::unfold(subscription, |mut sub| async move {
        if !sub.greeted {
            sub.greeted = true;
            let verb = if sub.kind == Kind::Pattern { "psubscribe" } else { "subscribe" };
            let line = format!("{verb},{},1", String::from_utf8_lossy(&sub.name));
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
    Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("ping")).into_response()
}
