//! What this node does with the databases the catalog places on it, after every change it sees: it is the
//! primary of some (it serves and announces them), keeps replicas of others (each follows its primary's
//! node over Redis's replication protocol), and drops those no longer placed here. When a primary's node
//! leaves the cluster (its lease ended), the live replica with the highest applied offset takes over
//! through an etcd transaction on the database's entry (only one can win it), bumping its epoch; the other
//! replicas, and the old primary when it returns, follow the new one (a returning primary's full resync
//! drops writes the new one never had). A primary fences itself, refusing writes, once its lease may have
//! ended: it is renewed every third of a lease, and fencing starts half a lease after the last renewal,
//! before etcd could let another node take over.

use crate::catalog::{self, Entry};
use crate::membership::NodeRecord;
use crate::Cluster;
use keel_engine::exec::commands::replication::{follow, promote};
use keel_engine::replication::Role;
use keel_engine::state::tenant::Tenant;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

impl Cluster {
    /// Serves exactly the databases placed on this node, each in its role; deletes those no longer
    /// placed here; then takes over databases whose primary is gone, where this node is their best replica.
    pub(crate) fn reconcile(&self) {
        let (mine, nodes, users) = {
            let view = self.view.read();
            (view.hosted_by(&self.me.name), view.nodes.clone(), view.users.clone())
        };
        let names: BTreeSet<String> = mine.iter().map(|e| e.definition.name.clone()).collect();
        for entry in &mine {
            let name = &entry.definition.name;
            let tenant = match keel_engine::provisioning::host(&self.server, &entry.definition) {
                Ok(Some((tenant, _))) => tenant,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(database = %name, "cannot serve a database placed here: {e}");
                    continue;
                }
            };
            self.hosting.lock().insert(name.clone());
            if entry.node == self.me.name {
                self.be_primary(&tenant);
            } else {
                self.be_replica(&tenant, nodes.get(&entry.node));
                if let Some(users) = users.get(name) {
                    self.take_users(&tenant, users);
                }
            }
        }
        let gone: Vec<String> = self.hosting.lock().iter().filter(|n| !names.contains(*n)).cloned().collect();
        for name in gone {
            self.hosting.lock().remove(&name);
            if self.serving.lock().remove(&name) {
                // Only this node's own announcement: after a move, the new primary's stands.
                let _ = self.etcd.delete_if(&catalog::serving_key(&name), self.me.name.as_bytes());
            }
            if let Err(e) = keel_engine::provisioning::delete(&self.server, &name) {
                tracing::warn!(database = %name, "cannot remove a database: {}", e.message);
            }
        }
        self.take_over_lost_primaries();
    }

    fn be_primary(&self, tenant: &Arc<Tenant>) {
        if tenant.replication.is_replica() && tenant.replication.become_primary() {
            promote(tenant, &mut tenant.lock());
            tracing::warn!(database = %tenant.name, "this node is now the database's primary");
        }
        if self.lease_confident() && tenant.replication.fence(false) {
            tracing::info!(database = %tenant.name, "writes accepted again: the cluster confirmed this primary");
        }
        if self.serving.lock().insert(tenant.name.clone()) {
            self.announce(&tenant.name);
        }
    }

    /// Follows the database's primary on `primary`'s node (unknown while that node is not live: the
    /// replica keeps what it has until a new primary is chosen).
    fn be_replica(&self, tenant: &Arc<Tenant>, primary: Option<&NodeRecord>) {
        tenant.replication.fence(false);
        self.serving.lock().remove(&tenant.name);
        let Some((host, port)) = primary.and_then(|p| split_address(&p.resp)) else { return };
        let following = matches!(tenant.replication.role(), Role::Replica(up) if up.host == host && up.port == port);
        if following {
            return;
        }
        let generation = follow(tenant, &mut tenant.lock(), &host, port);
        self.server.start_link(tenant, generation);
        tracing::info!(database = %tenant.name, primary = %host, port, "keeping a replica of the database");
    }

    /// For each database whose primary's node is gone and of which this node keeps a replica: if this
    /// node's replica is the freshest live one (by published offsets, then name), it takes over, through a
    /// transaction that fails if the entry changed meanwhile.
    fn take_over_lost_primaries(&self) {
        let candidates: Vec<(Entry, i64)> = {
            let view = self.view.read();
            view.databases
                .iter()
                .filter(|(_, e)| !view.nodes.contains_key(&e.node) && e.replicas.contains(&self.me.name))
                .filter(|(name, e)| {
                    let live = e.replicas.iter().filter(|r| view.nodes.contains_key(*r));
                    let best = live.max_by_key(|r| (view.replica_offset(r, name), std::cmp::Reverse((*r).clone())));
                    best == Some(&self.me.name)
                })
                .filter_map(|(name, e)| Some((e.clone(), *view.revisions.get(name)?)))
                .collect()
        };
        for (entry, revision) in candidates {
            let name = entry.definition.name.clone();
            let synced = self
                .server
                .tenants
                .read()
                .get(&name)
                .is_some_and(|t| matches!(t.replication.role(), Role::Replica(up) if up.synced));
            if !synced {
                tracing::warn!(database = %name, "the primary is gone, but this replica never loaded its data");
                continue;
            }
            let mut replicas: Vec<String> = entry.replicas.iter().filter(|r| **r != self.me.name).cloned().collect();
            replicas.push(entry.node.clone());
            let promoted =
                Entry { definition: entry.definition, node: self.me.name.clone(), replicas, epoch: entry.epoch + 1 };
            let Ok(value) = serde_json::to_vec(&promoted) else { continue };
            match self.etcd.replace(&catalog::database_key(&name), &value, revision) {
                Ok(true) => {
                    tracing::warn!(database = %name, lost = %entry.node, epoch = promoted.epoch, "took over as primary")
                }
                Ok(false) => tracing::info!(database = %name, "another node took over first"),
                Err(e) => tracing::warn!(database = %name, "cannot take over: {e}"),
            }
        }
    }

    /// A replica takes its primary's ACL users (so that they survive a failover).
    fn take_users(&self, tenant: &Tenant, users: &str) {
        let table = &self.server.commands;
        if tenant.acl.read().file_text(table) == users {
            return;
        }
        let replaced = tenant.acl.write().replace_all(users, table);
        if let Err(e) = replaced.and_then(|_| tenant.acl_changed(table)) {
            tracing::warn!(database = %tenant.name, "cannot take the primary's ACL users: {e}");
        }
    }

    /// Publishes the ACL users of every database this node is the primary of, when they changed.
    pub(crate) fn publish_users(&self) {
        let primaries: Vec<String> = self.serving.lock().iter().cloned().collect();
        for name in primaries {
            let Some(tenant) = self.server.tenants.read().get(&name).cloned() else { continue };
            let text = tenant.acl.read().file_text(&self.server.commands);
            if self.view.read().users.get(&name) != Some(&text) {
                if let Err(e) = self.etcd.put(&catalog::users_key(&name), text.as_bytes(), 0) {
                    tracing::debug!(database = %name, "cannot publish ACL users: {e}");
                }
            }
        }
    }

    /// Says in etcd that this node serves `name` (under its lease: it goes with the node).
    pub(crate) fn announce(&self, name: &str) {
        let lease = self.lease.load(Ordering::Relaxed);
        if let Err(e) = self.etcd.put(&catalog::serving_key(name), self.me.name.as_bytes(), lease) {
            tracing::warn!(database = name, "cannot announce a database: {e}");
        }
    }

    /// Whether the node's lease is surely still valid: renewed within the last half lease.
    fn lease_confident(&self) -> bool {
        let since = keel_engine::clock::unix_ms().saturating_sub(self.renewed_ms.load(Ordering::Acquire));
        since < self.ttl_ms / 2
    }

    /// Every tenth of a second: once the lease may be ending, every primary here refuses writes.
    ///
    /// A renewal that finds the lease still alive lifts the fence again: while the lease never ended, this
    /// node's record never left etcd, so no replica can have taken over. (One that ended is followed by a
    /// new registration and a fresh reading of the catalog, which decides; see `keep_membership`.)
    pub(crate) fn guard_lease(&self) {
        while !self.server.is_shutting_down() {
            std::thread::sleep(Duration::from_millis(100));
            let confident = self.lease_confident();
            let primaries: Vec<String> = self.serving.lock().iter().cloned().collect();
            for name in primaries {
                let Some(tenant) = self.server.tenants.read().get(&name).cloned() else { continue };
                if tenant.replication.fence(!confident) {
                    if confident {
                        tracing::info!(database = %name, "writes accepted again: the cluster lease was renewed");
                    } else {
                        tracing::warn!(database = %name, "fenced: this node cannot renew its cluster lease");
                    }
                }
            }
        }
    }
}

/// `host:port` split, for a replication link.
fn split_address(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}
