//! A node's membership: its record under `/keel/nodes/<name>`, written under a lease of `cluster-lease`
//! seconds that the node renews three times per lease. A node that stops renewing (killed, partitioned from
//! etcd) disappears from the cluster when its lease expires; one that leaves gracefully revokes its lease
//! at once. The record carries what placement and `keel cluster status` need: region, addresses, how many
//! databases the node serves and its memory.

use crate::etcd::Etcd;
use keel_engine::server::Server;
use serde::{Deserialize, Serialize};

pub const NODES: &str = "/keel/nodes/";

/// A node as it describes itself in etcd.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeRecord {
    pub name: String,
    pub region: String,
    /// Where clients (and other nodes relaying them) reach it: RESP and HTTP, `host:port`.
    pub resp: String,
    pub http: String,
    pub databases: u64,
    pub used_memory: u64,
    /// The node's maxmemory (0: no limit).
    pub max_memory: u64,
    pub started_unix: u64,
    /// The offset each database this node keeps a replica of has applied (failover picks the freshest),
    /// and each database it is the primary of has reached (for replicas' lag).
    #[serde(default)]
    pub replica_offsets: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    pub primary_offsets: std::collections::BTreeMap<String, u64>,
}

impl NodeRecord {
    /// Memory left for more databases (no limit counts as plenty).
    pub fn free_memory(&self) -> u64 {
        if self.max_memory == 0 {
            u64::MAX - self.used_memory
        } else {
            self.max_memory.saturating_sub(self.used_memory)
        }
    }

    /// The record with the node's figures as of now.
    pub fn refreshed(&self, server: &Server) -> NodeRecord {
        let tenants: Vec<_> = server.tenants.read().values().cloned().collect();
        NodeRecord {
            databases: tenants.iter().filter(|t| t.is_provisioned()).count() as u64,
            used_memory: tenants.iter().map(|t| t.figures().used_memory).sum(),
            max_memory: server.settings.read().maxmemory,
            replica_offsets: offsets(&tenants, true),
            primary_offsets: offsets(&tenants, false),
            ..self.clone()
        }
    }
}

/// The replication offsets of the provisioned databases that are replicas (or primaries) here.
fn offsets(
    tenants: &[std::sync::Arc<keel_engine::state::tenant::Tenant>],
    replicas: bool,
) -> std::collections::BTreeMap<String, u64> {
    let chosen = tenants.iter().filter(|t| t.is_provisioned() && t.replication.is_replica() == replicas);
    chosen.map(|t| (t.name.clone(), t.persistence.stream.offset())).collect()
}

pub fn key(name: &str) -> String {
    format!("{NODES}{name}")
}

/// Writes the node's record under a new lease and returns the lease. A record of the same name left by
/// this node's previous run (same addresses, lease not yet expired) is taken over; one of another live
/// node is refused.
pub fn register(etcd: &Etcd, record: &NodeRecord, ttl_secs: u64) -> Result<i64, String> {
    if let Some(existing) = etcd.get(&key(&record.name))? {
        let theirs: Option<NodeRecord> = serde_json::from_slice(&existing.value).ok();
        if theirs.is_some_and(|t| t.resp != record.resp) {
            return Err(format!(
                "the node name '{}' is in use by another live node: choose another --node-name",
                record.name
            ));
        }
    }
    let lease = etcd.grant(ttl_secs)?;
    publish(etcd, record, lease)?;
    Ok(lease)
}

/// Writes the node's record (its figures change) under its lease.
pub fn publish(etcd: &Etcd, record: &NodeRecord, lease: i64) -> Result<(), String> {
    let value = serde_json::to_vec(record).map_err(|e| e.to_string())?;
    etcd.put(&key(&record.name), &value, lease)
}

/// The live nodes, by name.
pub fn nodes(etcd: &Etcd) -> Result<Vec<NodeRecord>, String> {
    let (kvs, _) = etcd.list(NODES)?;
    Ok(kvs.iter().filter_map(|kv| serde_json::from_slice(&kv.value).ok()).collect())
}
