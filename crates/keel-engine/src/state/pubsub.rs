//! The pub/sub hub of one tenant (Redis's pubsub.c): channel, pattern and shard-channel subscriptions, and
//! PUBLISH's fan-out. A message is encoded once per protocol version and handed to each subscriber's feed
//! (a queue its connection drains to the socket), so a publisher never waits for a subscriber. A subscriber
//! whose queue outgrows `client-output-buffer-limit pubsub` is disconnected: at once past the hard limit, or
//! after staying past the soft limit for its seconds; everyone else is unaffected.

use crate::clients::ClientInfo;
pub use crate::clients::Feed;
use crate::config::ClassLimit;
use bytes::Bytes;
/// hashbrown without its default hasher feature: the same fast hasher as the rest of Keel.
type HashMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;
use keel_protocol::{ReplyWriter, Resp};
use keel_store::glob;
use std::sync::Arc;
use std::time::Instant;

/// Which namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn message_name(self) -> &'static str {
        match self {
            Kind::Channel => "message",
            Kind::Pattern => "pmessage",
            Kind::Shard => "smessage",
        }
    }
}

struct Subscriber {
    client: Arc<ClientInfo>,
    feed: Feed,
    resp: Resp,
    /// Since when the queue has been over the soft limit.
    over_soft_since: Option<Instant>,
}

#[derive(Default)]
pub struct Hub {
    channels: HashMap<Vec<u8>, Vec<u64>>,
    shard_channels: HashMap<Vec<u8>, Vec<u64>>,
    patterns: HashMap<Vec<u8>, Vec<u64>>,
    subscribers: HashMap<u64, Subscriber>,
}

/// Encodes one message as `resp` frames it: a RESP2 array, or a RESP3 push.
fn encode(resp: Resp, parts: &[&[u8]]) -> Bytes {
    let mut out = ReplyWriter::with_capacity(resp, 32 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
    out.push(parts.len());
    for part in parts {
        out.bulk(part);
    }
    Bytes::copy_from_slice(out.as_bytes())
}

impl Hub {
    fn table(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, Vec<u64>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// Registers `client` for `name`; false when it was already subscribed.
    pub fn subscribe(&mut self, client: &Arc<ClientInfo>, feed: &Feed, resp: Resp, kind: Kind, name: &[u8]) -> bool {
        let ids = self.table(kind).entry(name.to_vec()).or_default();
        if ids.contains(&client.id) {
            return false;
        }
        ids.push(client.id);
        let subscriber = self.subscribers.entry(client.id).or_insert_with(|| Subscriber {
            client: client.clone(),
            feed: feed.clone(),
            resp,
            over_soft_since: None,
        });
        subscriber.resp = resp;
        true
    }

    /// Removes `client`'s subscription to `name`; false when it had none.
    pub fn unsubscribe(&mut self, client: u64, kind: Kind, name: &[u8]) -> bool {
        let table = self.table(kind);
        let Some(ids) = table.get_mut(name) else { return false };
        let Some(at) = ids.iter().position(|&id| id == client) else { return false };
        ids.remove(at);
        if ids.is_empty() {
            table.remove(name);
        }
        true
    }

    /// Follows a subscriber's HELLO: its messages are framed in its new protocol.
    pub fn set_resp(&mut self, client: u64, resp: Resp) {
        if let Some(s) = self.subscribers.get_mut(&client) {
            s.resp = resp;
        }
    }

    /// Every subscription: its namespace, its channel or pattern, and the ids of the clients holding it.
    pub fn subscriptions(&self) -> impl Iterator<Item = (Kind, &[u8], &[u64])> {
        [(Kind::Channel, &self.channels), (Kind::Pattern, &self.patterns), (Kind::Shard, &self.shard_channels)]
            .into_iter()
            .flat_map(|(kind, table)| table.iter().map(move |(name, ids)| (kind, name.as_slice(), ids.as_slice())))
    }

    /// Forgets a client that no longer subscribes to anything (or went away).
    pub fn forget(&mut self, client: u64) {
        self.subscribers.remove(&client);
    }

    /// Removes every subscription of a client that went away.
    pub fn remove_client(&mut self, client: u64, subscriptions: &Subscriptions) {
        for (kind, names) in subscriptions.all() {
            for name in names {
                self.unsubscribe(client, kind, name);
            }
        }
        self.forget(client);
    }

    /// Delivers `message` on `channel`; returns how many clients received it (Redis counts a client once
    /// per matching subscription).
    pub fn publish(&mut self, channel: &[u8], message: &[u8], shard: bool, limit: ClassLimit) -> usize {
        let mut receivers = 0;
        let mut dropped = Vec::new();
        let kind = if shard { Kind::Shard } else { Kind::Channel };
        let direct = if shard { self.shard_channels.get(channel) } else { self.channels.get(channel) };
        if let Some(ids) = direct {
            let parts = [kind.message_name().as_bytes(), channel, message];
            receivers += fan_out(&mut self.subscribers, ids, &parts, limit, &mut dropped);
        }
        if !shard {
            for (pattern, ids) in &self.patterns {
                if glob::matches(pattern, channel, false) {
                    let parts = [&b"pmessage"[..], pattern, channel, message];
                    receivers += fan_out(&mut self.subscribers, ids, &parts, limit, &mut dropped);
                }
            }
        }
        for id in dropped {
            if let Some(s) = self.subscribers.remove(&id) {
                let database = s.client.tenant_name();
                tracing::info!(client = id, addr = %s.client.addr, database, "closing pub/sub client over its output buffer limit");
                s.client.kill();
            }
        }
        receivers
    }

    /// Channels (or shard channels) with at least one subscriber, matching `pattern` if given.
    pub fn channel_names(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<&[u8]> {
        let table = if shard { &self.shard_channels } else { &self.channels };
        table.keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false))).map(Vec::as_slice).collect()
    }

    pub fn subscriber_count(&self, shard: bool, channel: &[u8]) -> usize {
        let table = if shard { &self.shard_channels } else { &self.channels };
        table.get(channel).map_or(0, Vec::len)
    }

    /// The feed and protocol of `client`, if it subscribes to `channel` (a tracking redirection target).
    pub fn subscribed_feed(&self, client: u64, channel: &[u8]) -> Option<(Feed, Resp)> {
        let ids = self.channels.get(channel)?;
        if !ids.contains(&client) {
            return None;
        }
        self.subscribers.get(&client).map(|s| (s.feed.clone(), s.resp))
    }

    /// Distinct patterns with at least one subscriber (PUBSUB NUMPAT).
    /// Channels with subscribers (shard channels included), patterns, and clients subscribed to anything.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len() + self.shard_channels.len(), self.patterns.len(), self.subscribers.len())
    }

    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }
}

/// Queues the message made of `parts` for each of `ids`, encoded at most once per protocol; subscribers over
/// their output limit are added to `dropped`. Returns how many received it.
fn fan_out(
    subscribers: &mut HashMap<u64, Subscriber>,
    ids: &[u64],
    parts: &[&[u8]],
    limit: ClassLimit,
    dropped: &mut Vec<u64>,
) -> usize {
    let mut encoded: [Option<Bytes>; 2] = [None, None];
    let mut receivers = 0;
    for &id in ids {
        if let Some(s) = subscribers.get_mut(&id) {
            let bytes = encoded[(s.resp == Resp::V3) as usize].get_or_insert_with(|| encode(s.resp, parts));
            receivers += 1;
            if !deliver(s, bytes.clone(), limit) {
                dropped.push(id);
            }
        }
    }
    receivers
}

/// Queues a message for one subscriber under the pub/sub output limit; false when the subscriber must go.
fn deliver(s: &mut Subscriber, bytes: Bytes, limit: ClassLimit) -> bool {
    let Some(queued) = s.feed.push(bytes) else { return false };
    let queued = queued as u64;
    if limit.hard > 0 && queued > limit.hard {
        return false;
    }
    if limit.soft > 0 && queued > limit.soft {
        let since = *s.over_soft_since.get_or_insert_with(Instant::now);
        return since.elapsed().as_secs() < limit.soft_seconds;
    }
    s.over_soft_since = None;
    true
}

/// One connection's subscriptions (what UNSUBSCRIBE without arguments and the counts in replies use).
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub channels: Vec<Vec<u8>>,
    pub patterns: Vec<Vec<u8>>,
    pub shard: Vec<Vec<u8>>,
}

impl Subscriptions {
    pub fn of(&mut self, kind: Kind) -> &mut Vec<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count SUBSCRIBE-family replies carry: channels plus patterns, or shard channels.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }

    fn all(&self) -> [(Kind, &Vec<Vec<u8>>); 3] {
        [(Kind::Channel, &self.channels), (Kind::Pattern, &self.patterns), (Kind::Shard, &self.shard)]
    }
}
