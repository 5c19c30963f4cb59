//! Client-side caching support (Redis's tracking.c): `CLIENT TRACKING`. In the default mode the server
//! remembers which keys each tracking client read and, when one changes, sends that client one invalidation
//! and forgets it; in BCAST mode a client hears about every change to keys under its prefixes. Invalidations
//! are RESP3 pushes on the client's own connection, or, with REDIRECT, messages on `__redis__:invalidate` to
//! the client it names (RESP2 clients subscribe to that channel). Like Redis's table, keys are tracked by name
//! across the numbered databases.

use crate::pubsub::{Feed, Hub};
use bytes::Bytes;
use keel_protocol::{ReplyWriter, Resp};
use std::collections::HashMap;

/// The channel RESP2 clients subscribe to for redirected invalidations.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// How one client tracks.
#[derive(Clone)]
pub struct Tracker {
    pub redirect: Option<u64>,
    pub bcast: bool,
    pub prefixes: Vec<Vec<u8>>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub feed: Feed,
    pub resp: Resp,
}

#[derive(Default)]
pub struct Tracking {
    /// Default mode: key → clients that read it since its last invalidation.
    keys: HashMap<Vec<u8>, Vec<u64>>,
    clients: HashMap<u64, Tracker>,
}

/// An invalidation of `keys` (None: everything, after a flush), framed for `resp`.
fn message(resp: Resp, keys: Option<&[&[u8]]>) -> Bytes {
    let mut out = ReplyWriter::with_capacity(resp, 64);
    match resp {
        Resp::V3 => {
            out.push(2);
            out.bulk(b"invalidate");
        }
        Resp::V2 => {
            out.array(3);
            out.bulk(b"message");
            out.bulk(INVALIDATE_CHANNEL);
        }
    }
    match keys {
        Some(keys) => {
            out.array(keys.len());
            keys.iter().for_each(|k| out.bulk(k));
        }
        None => out.null_array(),
    }
    Bytes::copy_from_slice(out.as_bytes())
}

impl Tracking {
    pub fn is_active(&self) -> bool {
        !self.clients.is_empty()
    }

    pub fn get(&self, client: u64) -> Option<&Tracker> {
        self.clients.get(&client)
    }

    pub fn enable(&mut self, client: u64, tracker: Tracker) {
        self.clients.insert(client, tracker);
    }

    /// Stops tracking for `client` (CLIENT TRACKING off, RESET, disconnect).
    pub fn disable(&mut self, client: u64) {
        if self.clients.remove(&client).is_some() {
            self.keys.retain(|_, ids| {
                ids.retain(|&id| id != client);
                !ids.is_empty()
            });
        }
    }

    /// Remembers that `client` read `keys` (default mode).
    pub fn remember(&mut self, client: u64, keys: impl Iterator<Item = Vec<u8>>) {
        for key in keys {
            let ids = self.keys.entry(key).or_default();
            if !ids.contains(&client) {
                ids.push(client);
            }
        }
    }

    /// Sends the invalidations a change to `key` by client `actor` calls for.
    pub fn invalidate(&mut self, key: &[u8], actor: u64, hub: &Hub) {
        let mut targets: Vec<u64> = self.keys.remove(key).unwrap_or_default();
        for (&id, t) in &self.clients {
            if t.bcast && (t.prefixes.is_empty() || t.prefixes.iter().any(|p| key.starts_with(p))) {
                targets.push(id);
            }
        }
        for id in targets {
            self.send(id, Some(&[key]), actor, hub);
        }
    }

    /// Tells every tracking client that everything changed (FLUSHDB, FLUSHALL).
    pub fn flush(&mut self, actor: u64, hub: &Hub) {
        self.keys.clear();
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.send(id, None, actor, hub);
        }
    }

    fn send(&self, client: u64, keys: Option<&[&[u8]]>, actor: u64, hub: &Hub) {
        let Some(t) = self.clients.get(&client) else { return };
        if t.noloop && client == actor {
            return;
        }
        let (feed, resp) = match t.redirect {
            None if t.resp == Resp::V3 => (t.feed.clone(), t.resp),
            // A RESP2 client without a redirection cannot be told anything (as in Redis).
            None => return,
            Some(target) => match self.clients.get(&target) {
                Some(other) if other.resp == Resp::V3 => (other.feed.clone(), Resp::V3),
                _ => match hub.subscribed_feed(target, INVALIDATE_CHANNEL) {
                    Some(found) => found,
                    None => return,
                },
            },
        };
        feed.push(message(resp, keys));
    }
}
