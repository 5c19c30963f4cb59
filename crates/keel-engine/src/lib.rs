//! keel-engine: Keel's execution core, with no socket in it. It owns the databases (tenants) and their
//! keyspaces, the one command table and the commands, the gate every command passes (`admission`), the
//! batch every transport drives (`batch`), transactions, blocking waits, scripting, pub/sub and keyspace
//! events, ACLs, metering, persistence jobs and the periodic task. A transport (the `keel-server` crate's
//! RESP connections and HTTP requests, and next a replication link) hands it commands through a
//! [`batch::Batch`] and writes the replies it produces.

pub mod acl;
pub mod admission;
pub mod batch;
pub mod blocking;
pub mod clients;
pub mod commands;
pub mod config;
pub mod cron;
pub mod databases;
pub mod dispatch;
pub mod eviction;
pub mod figures;
pub mod meters;
pub mod notify;
pub mod persistence;
pub mod provisioning;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod session;
pub mod slowlog;
pub mod tenant;
pub mod tracking;
pub mod watch;

pub use config::Settings;
pub use server::Server;
