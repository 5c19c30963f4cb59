//! Client-side caching support (Redis's tracking.c): `CLIENT TRACKING`. In the default mode the server
//! remembers which keys each tracking client read and, when one changes, sends that client one invalidation
//! and forgets it; in BCAST mode a client hears about every change to keys under its prefixes. Invalidations
//! are RESP3 pushes on the client's own connection, or, with REDIRECT, messages on `__redis__:invalidate` to
//! the client it names (RESP2 clients subscribe to that channel). Like Redis's table, keys are tracked by name
//! across the numbered databases.

use crate::clients::ClientInfo;
use crate::state::pubsub::{Feed, Hub};
use bytes::Bytes;
use keel_protocol::{ReplyWriter, Resp};
use std::collections::HashMap;

/// The actor of a change no client made (an expiry, the cron, the table's limit): NOLOOP hides it from no
/// one, as no client has this id.
pub const NOBODY: u64 = 0;

/// Finds a client connected to this database by its id (for redirections: a target that is gone breaks
/// them, one in RESP3 is pushed to).
pub type Connected<'a> = dyn Fn(u64) -> Option<std::sync::Arc<ClientInfo>> + 'a;

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

/// See [`Tracking::counts`].
pub struct Counts {
    pub clients: usize,
    pub keys: usize,
    pub items: usize,
    pub prefixes: usize,
}

#[derive(Default)]
pub struct Tracking {
    /// Default mode: key → clients that read it since its last invalidation.
    keys: HashMap<Vec<u8>, Vec<u64>>,
    clients: HashMap<u64, Tracker>,
    /// BCAST keys changed during the current batch, per client and prefix, sent together at its end (Redis
    /// sends them once per event-loop turn, one message per prefix).
    pending: Vec<Pending>,
}

/// BCAST keys waiting for the end of the batch: for one client and one of its prefixes.
struct Pending {
    client: u64,
    prefix: Vec<u8>,
    keys: Vec<Vec<u8>>,
    /// Who changed them (for NOLOOP).
    actor: u64,
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
    /// The figures INFO reports: clients tracking, keys in the table, (key, client) pairs, BCAST prefixes.
    pub fn counts(&self) -> Counts {
        let mut prefixes: Vec<&[u8]> = Vec::new();
        for t in self.clients.values().filter(|t| t.bcast) {
            if t.prefixes.is_empty() {
                prefixes.push(b"");
            }
            prefixes.extend(t.prefixes.iter().map(Vec::as_slice));
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        Counts {
            clients: self.clients.len(),
            keys: self.keys.len(),
            items: self.keys.values().map(Vec::len).sum(),
            prefixes: prefixes.len(),
        }
    }

    pub fn is_active(&self) -> bool {
        !self.clients.is_empty()
    }

    pub fn get(&self, client: u64) -> Option<&Tracker> {
        self.clients.get(&client)
    }

    /// Follows a tracking client's HELLO.
    pub fn set_resp(&mut self, client: u64, resp: Resp) {
        if let Some(t) = self.clients.get_mut(&client) {
            t.resp = resp;
        }
    }

    pub fn enable(&mut self, client: u64, tracker: Tracker) {
        self.clients.insert(client, tracker);
    }

    /// Stops tracking for `client` (CLIENT TRACKING off, RESET, disconnect).
    pub fn disable(&mut self, client: u64) {
        if self.clients.remove(&client).is_some() {
            self.pending.retain(|p| p.client != client);
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

    /// Sends the invalidations that changes to `keys` by client `actor` call for: one message per key to the
    /// clients that read it, then one message per BCAST client with all its matching keys (Redis batches
    /// those per event-loop turn; here, per command).
    pub fn invalidate(
        &mut self,
        keys: &[Vec<u8>],
        actor: u64,
        hub: &Hub,
        clients: &Connected<'_>,
        mut actor_out: Option<&mut ReplyWriter>,
    ) {
        for key in keys {
            for id in self.keys.remove(key).unwrap_or_default() {
                let keys = Some(&[key.as_slice()][..]);
                match actor_out.as_deref_mut() {
                    // Written ahead of the actor's reply, when it is told on its own connection.
                    Some(out) if id == actor && self.tells_itself(id) => out.raw(&message(Resp::V3, keys)),
                    _ => self.send(id, keys, actor, hub, clients),
                }
            }
        }
        for (&id, t) in self.clients.iter().filter(|(_, t)| t.bcast) {
            if t.noloop && id == actor {
                continue;
            }
            let everything = [Vec::new()];
            let prefixes = if t.prefixes.is_empty() { &everything[..] } else { &t.prefixes[..] };
            for prefix in prefixes {
                let matching = keys.iter().filter(|k| k.starts_with(prefix));
                for key in matching {
                    match self.pending.iter_mut().find(|p| p.client == id && p.prefix == *prefix) {
                        Some(p) => {
                            if !p.keys.contains(key) {
                                p.keys.push(key.clone());
                            }
                        }
                        None => self.pending.push(Pending {
                            client: id,
                            prefix: prefix.clone(),
                            keys: vec![key.clone()],
                            actor,
                        }),
                    }
                }
            }
        }
    }

    /// Keeps the table of read keys within `max` keys (`tracking-table-max-keys`, 0: no limit) by
    /// invalidating keys now, as if they had changed. With `own`, the invalidations of that client that it
    /// hears on its own connection are written there, ahead of its next reply.
    pub fn limit(&mut self, max: usize, hub: &Hub, clients: &Connected<'_>, mut own: Option<(u64, &mut ReplyWriter)>) {
        if max == 0 || self.keys.len() <= max {
            return;
        }
        let excess: Vec<Vec<u8>> = self.keys.keys().take(self.keys.len() - max).cloned().collect();
        for key in excess {
            for id in self.keys.remove(&key).unwrap_or_default() {
                let keys = Some(&[key.as_slice()][..]);
                match own.as_mut() {
                    Some((me, out)) if *me == id && self.tells_itself(id) => out.raw(&message(Resp::V3, keys)),
                    _ => self.send(id, keys, NOBODY, hub, clients),
                }
            }
        }
    }

    /// Sends the BCAST invalidations gathered during a batch (call at its end, under the lock).
    pub fn flush_bcast(&mut self, hub: &Hub, clients: &Connected<'_>) {
        for p in std::mem::take(&mut self.pending) {
            let keys: Vec<&[u8]> = p.keys.iter().map(Vec::as_slice).collect();
            self.send(p.client, Some(&keys), p.actor, hub, clients);
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Tells every tracking client that everything changed (FLUSHDB, FLUSHALL).
    pub fn flush(&mut self, actor: u64, hub: &Hub, clients: &Connected<'_>) {
        self.keys.clear();
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.send(id, None, actor, hub, clients);
        }
    }

    /// Whether `client` hears its invalidations as RESP3 pushes on its own connection.
    fn tells_itself(&self, client: u64) -> bool {
        self.clients.get(&client).is_some_and(|t| t.redirect.is_none() && t.resp == Resp::V3 && !t.noloop)
    }

    fn send(&self, client: u64, keys: Option<&[&[u8]]>, actor: u64, hub: &Hub, clients: &Connected<'_>) {
        let Some(t) = self.clients.get(&client) else { return };
        if t.noloop && client == actor {
            return;
        }
        let (feed, resp) = match t.redirect {
            None if t.resp == Resp::V3 => (t.feed.clone(), t.resp),
            // A RESP2 client without a redirection cannot be told anything (as in Redis).
            None => return,
            Some(target) => match clients(target) {
                // A RESP3 target hears of it as a push, tracking or subscribing or not (as in Redis); a
                // RESP2 one only as a subscriber of the invalidation channel.
                Some(target) => match target.push_feed() {
                    Some(feed) => (feed, Resp::V3),
                    None => match hub.subscribed_feed(target.id, INVALIDATE_CHANNEL) {
                        Some(found) => found,
                        None => return,
                    },
                },
                None => {
                    // The redirection target is gone: a RESP3 client hears that its redirection broke.
                    if t.resp == Resp::V3 {
                        let mut out = ReplyWriter::with_capacity(Resp::V3, 48);
                        out.push(2);
                        out.bulk(b"tracking-redir-broken");
                        out.int(target as i64);
                        t.feed.push(Bytes::copy_from_slice(out.as_bytes()));
                    }
                    return;
                }
            },
        };
        feed.push(message(resp, keys));
    }
}
