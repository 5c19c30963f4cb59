//! keel-engine: Keel's execution core, with no socket in it. It owns the databases (tenants) and their
//! keyspaces, the one command table and the commands, the gate every command passes (`admission`), the
//! batch every transport drives (`batch`), transactions, blocking waits, scripting, pub/sub and keyspace
//! events, ACLs, metering, persistence jobs and the periodic task. A transport (the `keel-server` crate's
//! RESP connections and HTTP requests, and next a replication link) hands it commands through a
//! [`exec::batch::Batch`] and writes the replies it produces.

pub mod clients;
pub mod clock;
pub mod config;
pub mod coordination;
pub mod cron;
pub mod databases;
pub mod exec;
pub mod lazyfree;
pub mod meters;
pub mod notify;
pub mod persistence;
pub mod provisioning;
pub mod replication;
pub mod secrets;
pub mod server;
pub mod state;

pub use config::Settings;
pub use server::Server;
