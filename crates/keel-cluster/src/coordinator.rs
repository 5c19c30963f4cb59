//! The cluster as the rest of Keel sees it: the `Coordinator` the admin API provisions through (placement,
//! the catalog in etcd) and that logins and REST requests ask where a database is served.

use crate::catalog::{self, Entry};
use crate::{membership, placement, unavailable, Cluster};
use keel_engine::coordination::{Coordinator, Placed, Remote};
use keel_engine::databases::{
    CreateRequest, DatabaseDef, ProvisionError, SecretHash, Secrets, TokenAccess, UpdateRequest,
};
use keel_engine::state::acl::Acl;
use std::sync::atomic::Ordering;

impl Coordinator for Cluster {
    fn node_name(&self) -> String {
        self.me.name.clone()
    }

    fn status(&self) -> Result<serde_json::Value, ProvisionError> {
        let nodes = membership::nodes(&self.etcd);
        self.reachable(nodes.is_ok());
        let nodes = nodes.unwrap_or_else(|_| self.view.read().nodes.values().cloned().collect());
        let view = self.view.read();
        let listed: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                let serving: Vec<&String> =
                    view.serving.iter().filter(|(_, node)| **node == n.name).map(|(db, _)| db).collect();
                serde_json::json!({
                    "name": n.name, "region": n.region, "resp": n.resp, "http": n.http,
                    "databases": serving, "used_memory": n.used_memory, "max_memory": n.max_memory,
                    "started_unix": n.started_unix, "replica_offsets": n.replica_offsets, "primary_offsets": n.primary_offsets,
                })
            })
            .collect();
        Ok(serde_json::json!({
            "node": self.me.name,
            "region": self.me.region,
            "etcd": { "endpoint": self.endpoint, "reachable": self.problem().is_none(), "problem": self.problem() },
            "nodes": listed,
        }))
    }

    fn problem(&self) -> Option<String> {
        let secs = keel_engine::clock::unix_ms().saturating_sub(self.last_answer_ms.load(Ordering::Relaxed)) / 1000;
        self.failing.load(Ordering::Relaxed).then(|| format!("etcd unreachable since {secs} s"))
    }

    fn create(&self, request: CreateRequest) -> Result<(DatabaseDef, Secrets, String), ProvisionError> {
        let (region, request_replicas) = (request.region.clone(), request.replicas.unwrap_or(0));
        let read_regions = request.read_regions.clone().unwrap_or_default();
        let nodes = membership::nodes(&self.etcd).map_err(unavailable)?;
        let node = placement::choose(&nodes, region.as_deref()).ok_or_else(|| ProvisionError {
            status: 503,
            message: match &region {
                Some(region) => format!("no live node in region '{region}'"),
                None => "no live node".into(),
            },
        })?;
        let plans = self.server.settings.read().plans.clone();
        let taken = |name: &str| self.view.read().databases.contains_key(name);
        let (mut def, secrets) =
            keel_engine::databases::define(request, &plans, keel_engine::clock::unix_ms() / 1000, &taken)?;
        def.region = node.region.clone();
        let wanted = (request_replicas as usize).max(read_regions.len());
        let replicas = placement::choose_replicas(&nodes, &node.name, wanted, &read_regions)
            .map_err(|message| ProvisionError { status: 503, message })?;
        if replicas.len() < wanted {
            return Err(ProvisionError {
                status: 503,
                message: format!(
                    "{wanted} replicas need {wanted} live nodes besides the primary's; there are {}",
                    replicas.len()
                ),
            });
        }
        let entry = Entry { definition: def.clone(), node: node.name.clone(), replicas, epoch: 1 };
        let value = serde_json::to_vec(&entry).map_err(|e| unavailable(e.to_string()))?;
        if !self.etcd.create(&catalog::database_key(&def.name), &value, 0).map_err(unavailable)? {
            return Err(ProvisionError {
                status: 409,
                message: format!("a database named '{}' already exists", def.name),
            });
        }
        self.wait_serving(&def.name, Some(&node.name)).map_err(|e| ProvisionError { status: 504, message: e })?;
        tracing::info!(database = %def.name, node = %node.name, "placed a database");
        Ok((def, secrets, node.name.clone()))
    }

    fn list(&self) -> Result<Vec<Placed>, ProvisionError> {
        let (kvs, _) = self.etcd.list(catalog::DATABASES).map_err(unavailable)?;
        Ok(kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<Entry>(&kv.value).ok())
            .map(|e| {
                let replica_lag = self.view.read().replica_lag(&e);
                Placed { definition: e.definition, node: e.node, replicas: e.replicas, replica_lag }
            })
            .collect())
    }

    fn delete(&self, name: &str) -> Result<DatabaseDef, ProvisionError> {
        let key = catalog::database_key(name);
        let Some(kv) = self.etcd.get(&key).map_err(unavailable)? else {
            return Err(ProvisionError { status: 404, message: format!("no database named '{name}'") });
        };
        let entry: Entry = serde_json::from_slice(&kv.value).map_err(|e| unavailable(e.to_string()))?;
        self.etcd.delete(&key).map_err(unavailable)?;
        let _ = self.etcd.delete(&catalog::users_key(name));
        self.wait_serving(name, None).map_err(|e| ProvisionError { status: 504, message: e })?;
        Ok(entry.definition)
    }

    fn update(&self, name: &str, change: UpdateRequest) -> Result<DatabaseDef, ProvisionError> {
        self.change_definition(name, |def| def.apply(change.clone())).map(|(def, _)| def)
    }

    fn rotate(&self, name: &str, password: bool) -> Result<(DatabaseDef, Secrets), ProvisionError> {
        self.change_definition(name, |def| Ok(if password { def.new_password() } else { def.new_tokens() }))
    }

    fn move_database(&self, name: &str, to: &str) -> Result<serde_json::Value, ProvisionError> {
        Cluster::move_database(self, name, to)
    }

    fn locate_by_password(&self, password: &[u8]) -> Option<Remote> {
        let hash = SecretHash::of(password)?;
        let view = self.view.read();
        let entry = view.databases.get(view.secrets.password(&hash)?)?;
        self.remote(&view, entry)
    }

    fn locate_by_user(&self, user: &str, password: &[u8]) -> Option<Remote> {
        let view = self.view.read();
        let table = &self.server.commands;
        let mut parsed = self.parsed_users.lock();
        parsed.retain(|name, _| view.users.contains_key(name));
        let mut found = view.databases.values().filter(|e| e.node != self.me.name).filter(|e| {
            let Some(text) = view.users.get(&e.definition.name) else { return false };
            let (_, acl) = parsed_users(&mut parsed, &e.definition.name, text, table);
            acl.as_ref().and_then(|acl| acl.users.get(user)).is_some_and(|u| !u.nopass && u.check_password(password))
        });
        // A user and password that two databases answer to open neither (the local login rule).
        let first = found.next()?;
        found.next().is_none().then(|| self.remote(&view, first)).flatten()
    }

    fn locate_by_token(&self, token: &str) -> Option<(Remote, TokenAccess)> {
        let hash = SecretHash::of(token.as_bytes())?;
        let view = self.view.read();
        let (name, access) = view.secrets.token(&hash)?;
        Some((self.remote(&view, view.databases.get(name)?)?, access))
    }
}

/// The users of `database` parsed from `text`, parsed again only when the text is not what they were
/// parsed from (None: the text does not parse).
fn parsed_users<'p>(
    parsed: &'p mut std::collections::HashMap<String, (String, Option<Acl>)>,
    database: &str,
    text: &str,
    table: &keel_engine::exec::commands::CommandTable,
) -> &'p (String, Option<Acl>) {
    use std::collections::hash_map::Entry;
    let parse = || {
        let mut acl = Acl::new(table, None);
        (text.to_string(), acl.replace_all(text, table).is_ok().then_some(acl))
    };
    match parsed.entry(database.to_string()) {
        Entry::Occupied(kept) if kept.get().0 == text => kept.into_mut(),
        Entry::Occupied(mut stale) => {
            stale.insert(parse());
            stale.into_mut()
        }
        Entry::Vacant(new) => new.insert(parse()),
    }
}

impl Cluster {
    /// Changes a database's definition in the catalog with a compare-and-swap, trying again when another
    /// change came first; returns the new definition and what `change` returned.
    fn change_definition<T>(
        &self,
        name: &str,
        change: impl Fn(&mut DatabaseDef) -> Result<T, ProvisionError>,
    ) -> Result<(DatabaseDef, T), ProvisionError> {
        let key = catalog::database_key(name);
        for _ in 0..5 {
            let Some(kv) = self.etcd.get(&key).map_err(unavailable)? else {
                return Err(ProvisionError { status: 404, message: format!("no database named '{name}'") });
            };
            let mut entry: Entry = serde_json::from_slice(&kv.value).map_err(|e| unavailable(e.to_string()))?;
            let out = change(&mut entry.definition)?;
            let value = serde_json::to_vec(&entry).map_err(|e| unavailable(e.to_string()))?;
            if self.etcd.replace(&key, &value, kv.mod_revision).map_err(unavailable)? {
                return Ok((entry.definition, out));
            }
        }
        Err(ProvisionError { status: 409, message: format!("'{name}' keeps changing: try again") })
    }
}

#[cfg(test)]
mod tests {
    use super::parsed_users;
    use keel_engine::exec::commands::CommandTable;

    /// A database's users are parsed once per published text, and again when the text changes.
    #[test]
    fn published_users_are_parsed_again_only_when_they_change() {
        let table = CommandTable::build();
        let mut parsed = std::collections::HashMap::new();
        let opens = |parsed: &mut _, text: &str, password: &[u8]| {
            let (_, acl) = parsed_users(parsed, "orders", text, &table);
            acl.as_ref().and_then(|acl| acl.users.get("app")).is_some_and(|u| u.check_password(password))
        };
        // Where the parsed user lives: a new parse builds it elsewhere while the old one still lives.
        let user_at = |parsed: &mut _, text: &str| -> *const keel_engine::state::acl::User {
            parsed_users(parsed, "orders", text, &table).1.as_ref().and_then(|acl| acl.users.get("app")).unwrap()
        };
        let first = "user app on >first ~* +@all";
        assert!(opens(&mut parsed, first, b"first"));
        let at = user_at(&mut parsed, first);
        assert!(opens(&mut parsed, first, b"first") && std::ptr::eq(at, user_at(&mut parsed, first)));
        assert!(!opens(&mut parsed, "user app on >second ~* +@all", b"first"));
        assert!(!std::ptr::eq(at, user_at(&mut parsed, "user app on >second ~* +@all")));
        assert!(opens(&mut parsed, "user app on >second ~* +@all", b"second"));
        assert!(!opens(&mut parsed, "not an ACL file", b"second"));
    }
}
