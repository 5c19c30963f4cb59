//! What a database holds and others read: the tenant and its keyspace behind one lock (numbered databases,
//! statistics, the log buffer), its ACL users, the clients blocked on its keys, WATCHed keys, client-side
//! caching, pub/sub subscriptions, the slow log, eviction, and the figures published for lock-free readers.

pub mod acl;
pub mod blocking;
pub mod command_stats;
pub mod eviction;
pub mod figures;
pub mod latency;
pub mod migrate_sockets;
pub mod pause;
pub mod pubsub;
pub mod rates;
pub mod rest_token_filter;
pub mod slowlog;
pub mod tenant;
pub mod tracking;
pub mod watch;
