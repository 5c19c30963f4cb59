//! Provisioning on a running Keel, what the admin API (`/v1/databases`) and `keel db` do: a new database
//! gets its definition saved, its own data directory and log, and a tenant that serves it at once; a
//! deleted one loses its clients, its log and its files; changed limits apply live.

use crate::clock::unix_ms;
use crate::databases::{CreateRequest, DatabaseCopy, DatabaseDef, ProvisionError, Secrets, UpdateRequest};
use crate::server::{database_dir, provisioned_tenant, Server};
use std::sync::Arc;

pub fn create(server: &Arc<Server>, request: CreateRequest) -> Result<(DatabaseDef, Secrets), ProvisionError> {
    let plans = server.settings.read().plans.clone();
    let (def, secrets) = server.databases.lock().create(request, &plans, unix_ms() / 1000)?;
    let undo = |why: String| {
        let _ = server.databases.lock().delete(&def.name);
        ProvisionError { status: 500, message: why }
    };
    open_tenant(server, &def).map_err(undo)?;
    tracing::info!(database = %def.name, "provisioned a database");
    Ok((def, secrets))
}

/// Makes a tenant for a defined database: its directory, its data recovered, serving at once.
fn open_tenant(server: &Server, def: &DatabaseDef) -> Result<Arc<crate::state::tenant::Tenant>, String> {
    let settings = server.settings.read().clone();
    let tenant = Arc::new(provisioned_tenant(&settings, def, &server.commands)?);
    crate::persistence::load::recover(server, &tenant)?;
    server.tenants.write().insert(def.name.clone(), tenant.clone());
    Ok(tenant)
}

/// Makes this server's provisioned databases those of the primary it follows (from its `REPLCONF
/// keel-databases`): new ones are opened with the primary's hashed secrets and limits, changed limits and
/// ACL users apply at once, and those the primary no longer has are deleted. Returns the databases opened.
pub fn adopt(
    server: &Arc<Server>,
    copies: Vec<DatabaseCopy>,
) -> Result<Vec<Arc<crate::state::tenant::Tenant>>, String> {
    let names: std::collections::BTreeSet<String> = copies.iter().map(|c| c.definition.name.clone()).collect();
    let gone: Vec<String> =
        server.databases.lock().list().map(|d| d.name.clone()).filter(|name| !names.contains(name)).collect();
    for name in gone {
        delete(server, &name).map_err(|e| e.message)?;
    }
    let mut opened = Vec::new();
    for DatabaseCopy { definition: def, users } in copies {
        let Some((tenant, new)) = host(server, &def)? else { continue };
        if new {
            tracing::info!(database = %def.name, "opened a database the primary has");
            opened.push(tenant.clone());
        }
        if tenant.acl.read().file_text(&server.commands) != users {
            tenant.acl.write().replace_all(&users, &server.commands)?;
            tenant.acl_changed(&server.commands)?;
        }
    }
    Ok(opened)
}

/// Serves a database defined elsewhere (by a primary, or by the cluster's catalog) here: a new one is
/// opened with the definition's hashed secrets and limits; a known one takes its limits. Returns its tenant
/// and whether it is new (None when it is defined but not open here).
pub fn host(
    server: &Arc<Server>,
    def: &DatabaseDef,
) -> Result<Option<(Arc<crate::state::tenant::Tenant>, bool)>, String> {
    let new = server.databases.lock().adopt(def.clone()).map_err(|e| e.message)?;
    if new {
        return open_tenant(server, def).map(|tenant| Some((tenant, true)));
    }
    let Some(tenant) = server.tenants.read().get(&def.name).cloned() else { return Ok(None) };
    *tenant.limits.write() = Some(def.limits());
    Ok(Some((tenant, false)))
}

pub fn delete(server: &Arc<Server>, name: &str) -> Result<DatabaseDef, ProvisionError> {
    let def = server.databases.lock().delete(name)?;
    if let Some(tenant) = server.tenants.write().remove(name) {
        for client in server.clients.snapshot() {
            if client.in_tenant(name) {
                client.kill();
            }
        }
        tenant.persistence.stop_log();
        let dir = database_dir(&server.settings.read(), name);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(database = name, "could not remove {}: {e}", dir.display());
        }
    }
    tracing::info!(database = name, "deleted a database");
    Ok(def)
}

/// Changes a database's limits, saved and applied at once.
pub fn update(server: &Arc<Server>, name: &str, change: UpdateRequest) -> Result<DatabaseDef, ProvisionError> {
    let def = server.databases.lock().update(name, change)?;
    if let Some(tenant) = server.tenants.read().get(name) {
        *tenant.limits.write() = Some(def.limits());
    }
    Ok(def)
}
