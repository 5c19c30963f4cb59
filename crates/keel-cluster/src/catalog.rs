//! The cluster's databases in etcd: `/keel/databases/<name>` holds a database's definition (hashed secrets,
//! limits, plan) and the node placed to serve it, with an epoch; `/keel/serving/<name>` names the node that
//! serves it now, under that node's lease. Every node watches `/keel/` and keeps a [`View`] of the nodes and
//! databases; [`reconcile`] then makes the databases this node serves exactly those placed on it.

use crate::etcd::{Event, KeyValue};
use crate::membership::{NodeRecord, NODES};
use keel_engine::databases::DatabaseDef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DATABASES: &str = "/keel/databases/";
pub const SERVING: &str = "/keel/serving/";
/// A database's ACL users as an ACL file's text (hashed passwords), written by its primary's node.
pub const USERS: &str = "/keel/users/";

/// A database as the catalog holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub definition: DatabaseDef,
    /// The node placed to serve it (its primary).
    pub node: String,
    /// Nodes that keep a replica of it, the first candidates when its node is lost.
    #[serde(default)]
    pub replicas: Vec<String>,
    /// Bumped each time the database changes node.
    pub epoch: u64,
}

pub fn database_key(name: &str) -> String {
    format!("{DATABASES}{name}")
}

pub fn serving_key(name: &str) -> String {
    format!("{SERVING}{name}")
}

pub fn users_key(name: &str) -> String {
    format!("{USERS}{name}")
}

/// What this node last saw of the cluster.
#[derive(Debug, Default)]
pub struct View {
    pub nodes: BTreeMap<String, NodeRecord>,
    pub databases: BTreeMap<String, Entry>,
    /// Database name to the node serving it now.
    pub serving: BTreeMap<String, String>,
    /// Each catalog entry's last revision (a failover's transaction compares it).
    pub revisions: BTreeMap<String, i64>,
    /// Each database's ACL users, as its primary last published them.
    pub users: BTreeMap<String, String>,
    /// Which database each secret opens, kept with `databases`.
    pub secrets: keel_engine::databases::SecretIndex,
}

impl View {
    /// The view from a full listing of `/keel/`.
    pub fn from_listing(kvs: &[KeyValue]) -> View {
        let mut view = View::default();
        for kv in kvs {
            view.put(kv);
        }
        view
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Put(kv) => self.put(kv),
            Event::Delete(key) => {
                if let Some(name) = key.strip_prefix(NODES) {
                    self.nodes.remove(name);
                } else if let Some(name) = key.strip_prefix(DATABASES) {
                    if let Some(gone) = self.databases.remove(name) {
                        self.secrets.remove(&gone.definition);
                    }
                    self.revisions.remove(name);
                } else if let Some(name) = key.strip_prefix(SERVING) {
                    self.serving.remove(name);
                } else if let Some(name) = key.strip_prefix(USERS) {
                    self.users.remove(name);
                }
            }
        }
    }

    fn put(&mut self, kv: &KeyValue) {
        if let Some(name) = kv.key.strip_prefix(NODES) {
            if let Ok(record) = serde_json::from_slice(&kv.value) {
                self.nodes.insert(name.to_string(), record);
            }
        } else if let Some(name) = kv.key.strip_prefix(DATABASES) {
            if let Ok(entry) = serde_json::from_slice::<Entry>(&kv.value) {
                if let Some(replaced) = self.databases.get(name) {
                    self.secrets.remove(&replaced.definition);
                }
                self.secrets.insert(&entry.definition);
                self.databases.insert(name.to_string(), entry);
                self.revisions.insert(name.to_string(), kv.mod_revision);
            }
        } else if let Some(name) = kv.key.strip_prefix(SERVING) {
            self.serving.insert(name.to_string(), String::from_utf8_lossy(&kv.value).into_owned());
        } else if let Some(name) = kv.key.strip_prefix(USERS) {
            self.users.insert(name.to_string(), String::from_utf8_lossy(&kv.value).into_owned());
        }
    }

    /// The databases `node` serves or keeps a replica of.
    pub fn hosted_by(&self, node: &str) -> Vec<Entry> {
        self.databases.values().filter(|e| e.node == node || e.replicas.iter().any(|r| r == node)).cloned().collect()
    }

    /// How far (bytes) each replica of `entry` is behind its primary, as their nodes last published
    /// (None when a node has not said).
    pub fn replica_lag(&self, entry: &Entry) -> BTreeMap<String, Option<u64>> {
        let name = &entry.definition.name;
        let primary = self.nodes.get(&entry.node).and_then(|n| n.primary_offsets.get(name)).copied();
        let lag = |replica: &String| {
            let at = self.nodes.get(replica).and_then(|n| n.replica_offsets.get(name)).copied();
            Some(primary?.saturating_sub(at?))
        };
        entry.replicas.iter().map(|r| (r.clone(), lag(r))).collect()
    }

    /// A replica's applied offset of `database`, as its node last published it (0: unknown).
    pub fn replica_offset(&self, node: &str, database: &str) -> u64 {
        self.nodes.get(node).and_then(|n| n.replica_offsets.get(database)).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &[u8]) -> KeyValue {
        KeyValue { key: key.into(), value: value.to_vec(), mod_revision: 1, lease: 0 }
    }

    /// The view's index of secrets follows the catalog: a put that rotates a token, a put that changes
    /// nothing secret, and a delete.
    #[test]
    fn the_views_secrets_follow_the_catalog() {
        use keel_engine::databases::{define, CreateRequest, SecretHash, TokenAccess};
        let request = CreateRequest { name: Some("orders".into()), ..Default::default() };
        let (mut definition, first) = define(request, &keel_engine::meters::default_plans(), 0, &|_| false).unwrap();
        let hash = |secret: &Option<String>| SecretHash::of(secret.as_ref().unwrap().as_bytes()).unwrap();
        let put = |view: &mut View, definition: &keel_engine::databases::DatabaseDef| {
            let entry = Entry { definition: definition.clone(), node: "n1".into(), replicas: vec![], epoch: 1 };
            view.apply(&Event::Put(kv("/keel/databases/orders", &serde_json::to_vec(&entry).unwrap())));
        };
        let mut view = View::default();
        put(&mut view, &definition);
        assert_eq!(view.secrets.password(&hash(&first.password)), Some("orders"));
        assert_eq!(view.secrets.token(&hash(&first.rest_token)), Some(("orders", TokenAccess::Full)));
        let rotated = definition.new_tokens();
        put(&mut view, &definition);
        put(&mut view, &definition);
        assert_eq!(view.secrets.token(&hash(&first.rest_token)), None);
        assert_eq!(view.secrets.token(&hash(&rotated.readonly_token)), Some(("orders", TokenAccess::ReadOnly)));
        assert_eq!(view.secrets.password(&hash(&first.password)), Some("orders"), "kept through the puts");
        view.apply(&Event::Delete("/keel/databases/orders".into()));
        assert_eq!(view.secrets.password(&hash(&first.password)), None);
        assert_eq!(view.secrets.token(&hash(&rotated.rest_token)), None);
    }

    #[test]
    fn the_view_follows_puts_and_deletes_and_ignores_what_it_cannot_read() {
        let node = NodeRecord {
            name: "n1".into(),
            region: "dfw".into(),
            resp: "127.0.0.1:1".into(),
            http: "127.0.0.1:2".into(),
            databases: 0,
            used_memory: 0,
            max_memory: 0,
            started_unix: 0,
            replica_offsets: Default::default(),
            primary_offsets: Default::default(),
        };
        let mut view = View::from_listing(&[
            kv("/keel/nodes/n1", &serde_json::to_vec(&node).unwrap()),
            kv("/keel/nodes/broken", b"not json"),
            kv("/keel/serving/orders", b"n1"),
        ]);
        assert_eq!(view.nodes.keys().collect::<Vec<_>>(), ["n1"]);
        assert_eq!(view.serving.get("orders").map(String::as_str), Some("n1"));
        view.apply(&Event::Delete("/keel/serving/orders".into()));
        view.apply(&Event::Delete("/keel/nodes/n1".into()));
        assert!(view.serving.is_empty() && view.nodes.is_empty());
    }
}
