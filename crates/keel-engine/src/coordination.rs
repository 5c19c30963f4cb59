//! What a clustered node's coordinator (`keel-cluster`, through etcd) does for the rest of Keel, as a
//! trait the engine holds without knowing etcd: report the cluster's nodes and health, provision databases
//! across nodes (placement), and say where a database that is not served here lives, so that logins and
//! REST requests for it are relayed to its node. A node without `--cluster` has no coordinator and
//! provisions locally, as it always has.

use crate::databases::{CreateRequest, DatabaseDef, ProvisionError, Secrets, TokenAccess, UpdateRequest};

/// A database served by another node: where to relay its clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub database: String,
    pub node: String,
    /// The node's RESP and HTTP addresses (`host:port`).
    pub resp: String,
    pub http: String,
}

/// A database and the node serving it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub definition: DatabaseDef,
    pub node: String,
    /// The nodes keeping its replicas, and how far (bytes) each is behind as last published.
    pub replicas: Vec<String>,
    pub replica_lag: std::collections::BTreeMap<String, Option<u64>>,
}

pub trait Coordinator: Send + Sync {
    /// This node's name.
    fn node_name(&self) -> String;
    /// The cluster's nodes and this node's view of etcd, as the admin API shows them.
    fn status(&self) -> Result<serde_json::Value, ProvisionError>;
    /// Why the cluster is degraded from this node (etcd unreachable since...), if it is.
    fn problem(&self) -> Option<String>;
    /// Defines a database in the cluster and places it on a node; returns it, its secrets (shown once) and
    /// its node, once that node serves it.
    fn create(&self, request: CreateRequest) -> Result<(DatabaseDef, Secrets, String), ProvisionError>;
    /// Every database of the cluster, with its node.
    fn list(&self) -> Result<Vec<Placed>, ProvisionError>;
    /// Changes a database's limits in the catalog (its nodes apply them).
    fn update(&self, name: &str, change: UpdateRequest) -> Result<DatabaseDef, ProvisionError>;
    /// New password (or, with `password` false, new REST tokens) for a database, shown once.
    fn rotate(&self, name: &str, password: bool) -> Result<(DatabaseDef, Secrets), ProvisionError>;
    /// Removes a database from the cluster (its node deletes its data).
    fn delete(&self, name: &str) -> Result<DatabaseDef, ProvisionError>;
    /// Moves a database to node `to` while its clients are served; what happened (with the pause's length).
    fn move_database(&self, name: &str, to: &str) -> Result<serde_json::Value, ProvisionError>;
    /// The database another node serves that `password` opens.
    fn locate_by_password(&self, password: &[u8]) -> Option<Remote>;
    /// The database another node serves whose ACL user `user` has `password`.
    fn locate_by_user(&self, user: &str, password: &[u8]) -> Option<Remote>;
    /// The database another node serves that REST `token` opens, and with which rights.
    fn locate_by_token(&self, token: &str) -> Option<(Remote, TokenAccess)>;
}
