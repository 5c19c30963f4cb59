//! Provisioned databases: the definitions of the tenants beyond `default`, kept durable in
//! `<dir>/databases.json` (written whole to a temporary file, synced, then renamed), with every secret
//! stored only as its SHA-256: a password or REST token is shown once, when made, and afterwards only
//! verified. A password or token maps to exactly one database.

use crate::meters::Plans;
use crate::secrets::new_secret;
use keel_store::evict::Policy;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One database as provisioned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DatabaseDef {
    pub name: String,
    pub region: String,
    pub plan: String,
    pub eviction: String,
    /// Bytes; 0 means no limit.
    pub max_memory: u64,
    /// 0 means no limit.
    pub max_connections: u64,
    /// Commands a second the database runs before refusing more (0: no limit).
    #[serde(default)]
    pub max_commands_per_second: u64,
    /// The largest request, in bytes (0: the server's limits).
    #[serde(default)]
    pub max_request_size: u64,
    pub created_unix: u64,
    /// Seconds between scheduled backups (0: none) and how many of them are kept.
    #[serde(default)]
    pub backup_every_secs: u64,
    #[serde(default = "default_backup_keep")]
    pub backup_keep: u64,
    password_sha256: String,
    rest_token_sha256: String,
    readonly_token_sha256: String,
}

/// A secret (password or token) hashed once, to be compared with many definitions' stored hashes.
pub struct SecretHash(String);

impl SecretHash {
    /// None for a secret that is not UTF-8 (no database has one).
    pub fn of(secret: &[u8]) -> Option<SecretHash> {
        Some(SecretHash(sha256_hex(std::str::from_utf8(secret).ok()?)))
    }

    /// The SHA-256 in hex, as ACL `rest#` rules hold a token's.
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl DatabaseDef {
    /// A new password (the old one stops working); shown once.
    pub fn new_password(&mut self) -> Secrets {
        let password = new_secret(24);
        self.password_sha256 = sha256_hex(&password);
        Secrets { password: Some(password), ..Secrets::default() }
    }

    /// New REST tokens, standard and read-only (the old ones stop working); shown once.
    pub fn new_tokens(&mut self) -> Secrets {
        let (token, readonly) = (new_secret(32), new_secret(32));
        self.rest_token_sha256 = sha256_hex(&token);
        self.readonly_token_sha256 = sha256_hex(&readonly);
        Secrets { rest_token: Some(token), readonly_token: Some(readonly), ..Secrets::default() }
    }

    /// Applies a change of limits, checked first (nothing changes when it is refused).
    pub fn apply(&mut self, change: UpdateRequest) -> Result<(), ProvisionError> {
        if let Some(eviction) = &change.eviction {
            check_eviction(&eviction.to_ascii_lowercase())?;
        }
        let backup_every_secs = change.backup.as_deref().map(backup_period).transpose()?;
        if let Some(eviction) = change.eviction {
            self.eviction = eviction.to_ascii_lowercase();
        }
        let limits = [
            (change.max_memory, &mut self.max_memory),
            (change.max_connections, &mut self.max_connections),
            (change.max_commands_per_second, &mut self.max_commands_per_second),
            (change.max_request_size, &mut self.max_request_size),
            (backup_every_secs, &mut self.backup_every_secs),
            (change.backup_keep.map(|keep| keep.max(1)), &mut self.backup_keep),
        ];
        for (value, field) in limits {
            if let Some(value) = value {
                *field = value;
            }
        }
        Ok(())
    }
}

/// Which database each secret's hash opens: a login or a REST request finds its database with one hash
/// lookup, where comparing its hash with every database's made every request (and every wrong secret) pay
/// for all of them. Kept by the registry and by a clustered node's view of the catalog.
#[derive(Debug, Default)]
pub struct SecretIndex {
    by_hash: HashMap<String, (String, Opens)>,
}

/// What a secret opens in its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opens {
    Login,
    Rest(TokenAccess),
}

impl SecretIndex {
    /// Indexes `def`'s secrets (a secret already indexed for another database is taken over: random
    /// secrets are never shared).
    pub fn insert(&mut self, def: &DatabaseDef) {
        for (hash, opens) in SecretIndex::secrets_of(def) {
            self.by_hash.insert(hash.to_string(), (def.name.clone(), opens));
        }
    }

    /// Forgets `def`'s secrets.
    pub fn remove(&mut self, def: &DatabaseDef) {
        for (hash, _) in SecretIndex::secrets_of(def) {
            if self.by_hash.get(hash).is_some_and(|(name, _)| *name == def.name) {
                self.by_hash.remove(hash);
            }
        }
    }

    fn secrets_of(def: &DatabaseDef) -> [(&str, Opens); 3] {
        [
            (&def.password_sha256, Opens::Login),
            (&def.readonly_token_sha256, Opens::Rest(TokenAccess::ReadOnly)),
            (&def.rest_token_sha256, Opens::Rest(TokenAccess::Full)),
        ]
    }

    /// The database this hashed password opens.
    pub fn password(&self, hash: &SecretHash) -> Option<&str> {
        match self.by_hash.get(&hash.0)? {
            (name, Opens::Login) => Some(name),
            _ => None,
        }
    }

    /// The database this hashed REST token opens, and with which rights.
    pub fn token(&self, hash: &SecretHash) -> Option<(&str, TokenAccess)> {
        match self.by_hash.get(&hash.0)? {
            (name, Opens::Rest(access)) => Some((name, *access)),
            _ => None,
        }
    }
}

/// A provisioned database as its primary describes it to a Keel replica (`REPLCONF keel-databases`): its
/// definition (hashed secrets, limits) and its ACL users (an ACL file's text, passwords hashed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseCopy {
    pub definition: DatabaseDef,
    pub users: String,
}

/// Secrets as made: shown once to whoever provisioned or rotated them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Secrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_token: Option<String>,
}

/// What a create request may set; everything has a default.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub region: Option<String>,
    pub plan: Option<String>,
    pub eviction: Option<String>,
    pub max_memory: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_commands_per_second: Option<u64>,
    pub max_request_size: Option<u64>,
    /// Scheduled backups: `hourly`, `daily`, `none`, or a period such as `30m`, `6h`, `90s`.
    pub backup: Option<String>,
    pub backup_keep: Option<u64>,
    /// Replicas on other nodes of a cluster (a node without `--cluster` has none to place), one in each
    /// of `read_regions` first.
    pub replicas: Option<u64>,
    pub read_regions: Option<Vec<String>>,
}

/// A change to a database's limits (`keel db set`), applied live.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpdateRequest {
    pub eviction: Option<String>,
    pub max_memory: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_commands_per_second: Option<u64>,
    pub max_request_size: Option<u64>,
    pub backup: Option<String>,
    pub backup_keep: Option<u64>,
}

/// Backups kept when a schedule does not say.
const DEFAULT_BACKUP_KEEP: u64 = 7;

fn default_backup_keep() -> u64 {
    DEFAULT_BACKUP_KEEP
}

/// The period of a backup schedule, in seconds (0: none).
fn backup_period(schedule: &str) -> Result<u64, ProvisionError> {
    let bad = || {
        ProvisionError::new(
            400,
            format!("backup '{schedule}': expected hourly, daily, none or a period such as 6h, 30m, 90s"),
        )
    };
    match schedule.to_ascii_lowercase().as_str() {
        "none" | "off" | "" => Ok(0),
        "hourly" => Ok(3600),
        "daily" => Ok(86_400),
        other => {
            let split = other.len().checked_sub(1).ok_or_else(bad)?;
            let (number, unit) = other.split_at(split);
            let number: u64 = number.parse().map_err(|_| bad())?;
            let unit = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(bad()),
            };
            number.checked_mul(unit).filter(|&secs| secs > 0).ok_or_else(bad)
        }
    }
}

/// Which rights a REST token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAccess {
    Full,
    ReadOnly,
}

/// Why a provisioning request failed: the HTTP status it answers with, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionError {
    pub status: u16,
    pub message: String,
}

impl ProvisionError {
    fn new(status: u16, message: impl Into<String>) -> ProvisionError {
        ProvisionError { status, message: message.into() }
    }
}

const DEFAULT_MAX_MEMORY: u64 = 256 * 1024 * 1024;
const DEFAULT_MAX_CONNECTIONS: u64 = 1000;

/// The definitions, and the file they live in.
pub struct Registry {
    path: PathBuf,
    defs: BTreeMap<String, DatabaseDef>,
    /// Rebuilt after every change of `defs`.
    secrets: SecretIndex,
}

fn sha256_hex(secret: &str) -> String {
    crate::secrets::sha256_hex(secret.as_bytes())
}

/// A memorable name such as `summer-tree-7498`.
fn generated_name() -> String {
    const FIRST: &[&str] = &[
        "summer", "winter", "autumn", "spring", "quiet", "bold", "amber", "silver", "lucky", "gentle", "rapid", "misty",
    ];
    const SECOND: &[&str] = &[
        "tree", "river", "stone", "cloud", "meadow", "harbor", "falcon", "comet", "willow", "canyon", "ember", "reef",
    ];
    let mut rng = rand::rngs::OsRng;
    let pick = |list: &[&'static str], rng: &mut rand::rngs::OsRng| list[(rng.next_u32() as usize) % list.len()];
    let (a, b) = (pick(FIRST, &mut rng), pick(SECOND, &mut rng));
    format!("{a}-{b}-{}", 1000 + rng.next_u32() % 9000)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name != "default"
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

fn check_eviction(eviction: &str) -> Result<(), ProvisionError> {
    Policy::parse(eviction).map(|_| ()).ok_or_else(|| {
        let names: Vec<&str> = Policy::NAMES.iter().map(|(n, _)| *n).collect();
        ProvisionError::new(400, format!("unknown eviction policy '{eviction}' (one of {})", names.join(", ")))
    })
}

/// A new database's definition and secrets from a create request, validated (`taken` says whether a name is
/// in use): what `Registry::create` stores here and a cluster's catalog stores in etcd.
pub fn define(
    request: CreateRequest,
    plans: &Plans,
    now_unix: u64,
    taken: &dyn Fn(&str) -> bool,
) -> Result<(DatabaseDef, Secrets), ProvisionError> {
    let name = match request.name {
        Some(name) if !valid_name(&name) => {
            return Err(ProvisionError::new(
                400,
                "a database name is 1 to 63 lowercase letters, digits and dashes, and not 'default'",
            ))
        }
        Some(name) => name,
        None => loop {
            let name = generated_name();
            if !taken(&name) {
                break name;
            }
        },
    };
    if taken(&name) {
        return Err(ProvisionError::new(409, format!("a database named '{name}' already exists")));
    }
    let plan = request.plan.unwrap_or_else(|| "payg".into());
    if !plans.contains_key(&plan) {
        let known: Vec<&str> = plans.keys().map(String::as_str).collect();
        return Err(ProvisionError::new(400, format!("unknown plan '{plan}' (one of {})", known.join(", "))));
    }
    let eviction = request.eviction.unwrap_or_else(|| "noeviction".into()).to_ascii_lowercase();
    check_eviction(&eviction)?;
    let backup_every_secs = backup_period(request.backup.as_deref().unwrap_or("none"))?;
    let secrets = Secrets {
        password: Some(new_secret(24)),
        rest_token: Some(new_secret(32)),
        readonly_token: Some(new_secret(32)),
    };
    let hash = |s: &Option<String>| sha256_hex(s.as_deref().unwrap_or_default());
    let def = DatabaseDef {
        name: name.clone(),
        region: request.region.unwrap_or_else(|| "local".into()),
        plan,
        eviction,
        max_memory: request.max_memory.unwrap_or(DEFAULT_MAX_MEMORY),
        max_connections: request.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        max_commands_per_second: request.max_commands_per_second.unwrap_or(0),
        max_request_size: request.max_request_size.unwrap_or(0),
        created_unix: now_unix,
        backup_every_secs,
        backup_keep: request.backup_keep.unwrap_or(DEFAULT_BACKUP_KEEP).max(1),
        password_sha256: hash(&secrets.password),
        rest_token_sha256: hash(&secrets.rest_token),
        readonly_token_sha256: hash(&secrets.readonly_token),
    };
    Ok((def, secrets))
}

impl Registry {
    /// Reads `<dir>/databases.json` (none yet: no databases).
    pub fn load(dir: &Path) -> Result<Registry, String> {
        let path = dir.join("databases.json");
        let defs = match std::fs::read(&path) {
            Ok(bytes) => {
                let list: Vec<DatabaseDef> = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: not a list of database definitions: {e}", path.display()))?;
                list.into_iter().map(|d| (d.name.clone(), d)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut registry = Registry { path, defs, secrets: SecretIndex::default() };
        registry.index_secrets();
        Ok(registry)
    }

    /// Rebuilds the index of secrets from the definitions. Where two definitions share a secret (which
    /// random secrets never do) the first by name wins, as a search in order found it.
    fn index_secrets(&mut self) {
        self.secrets = SecretIndex::default();
        for def in self.defs.values().rev() {
            self.secrets.insert(def);
        }
    }

    /// Writes the definitions durably: a crash leaves the old file or the new one, never a torn one.
    fn save(&self) -> Result<(), ProvisionError> {
        let list: Vec<&DatabaseDef> = self.defs.values().collect();
        let json = serde_json::to_vec_pretty(&list).map_err(|e| ProvisionError::new(500, e.to_string()))?;
        keel_persist::private_file::replace(&self.path, &json)
            .map_err(|e| ProvisionError::new(500, format!("cannot write {}: {e}", self.path.display())))
    }

    pub fn list(&self) -> impl Iterator<Item = &DatabaseDef> {
        self.defs.values()
    }

    pub fn get(&self, name: &str) -> Option<&DatabaseDef> {
        self.defs.get(name)
    }

    fn get_mut(&mut self, name: &str) -> Result<&mut DatabaseDef, ProvisionError> {
        self.defs.get_mut(name).ok_or_else(|| ProvisionError::new(404, format!("no database named '{name}'")))
    }

    /// Provisions a database: its definition, saved, and its secrets (returned once).
    /// Creates a database billed under one of `plans`.
    pub fn create(
        &mut self,
        request: CreateRequest,
        plans: &Plans,
        now_unix: u64,
    ) -> Result<(DatabaseDef, Secrets), ProvisionError> {
        let (def, secrets) = define(request, plans, now_unix, &|name| self.defs.contains_key(name))?;
        let name = def.name.clone();
        self.defs.insert(name.clone(), def.clone());
        if let Err(e) = self.save() {
            self.defs.remove(&name);
            return Err(e);
        }
        self.index_secrets();
        Ok((def, secrets))
    }

    /// Takes a definition as the primary this server follows has it (a replica's databases are its
    /// primary's, hashed secrets and limits included). Returns whether it is new here.
    pub fn adopt(&mut self, def: DatabaseDef) -> Result<bool, ProvisionError> {
        if !valid_name(&def.name) {
            return Err(ProvisionError::new(400, format!("the primary sent an invalid database name '{}'", def.name)));
        }
        let previous = self.defs.insert(def.name.clone(), def.clone());
        if previous.as_ref() == Some(&def) {
            return Ok(false);
        }
        if let Err(e) = self.save() {
            match &previous {
                Some(old) => self.defs.insert(def.name.clone(), old.clone()),
                None => self.defs.remove(&def.name),
            };
            return Err(e);
        }
        self.index_secrets();
        Ok(previous.is_none())
    }

    pub fn delete(&mut self, name: &str) -> Result<DatabaseDef, ProvisionError> {
        let def =
            self.defs.remove(name).ok_or_else(|| ProvisionError::new(404, format!("no database named '{name}'")))?;
        if let Err(e) = self.save() {
            self.defs.insert(name.to_string(), def);
            return Err(e);
        }
        self.index_secrets();
        Ok(def)
    }

    /// A new password; the old one stops working at once.
    pub fn rotate_password(&mut self, name: &str) -> Result<Secrets, ProvisionError> {
        self.change(name, |def| Ok(def.new_password()))
    }

    /// New REST tokens (standard and read-only); the old ones stop working at once.
    pub fn rotate_tokens(&mut self, name: &str) -> Result<Secrets, ProvisionError> {
        self.change(name, |def| Ok(def.new_tokens()))
    }

    /// Changes limits; the caller applies them to the running database.
    pub fn update(&mut self, name: &str, change: UpdateRequest) -> Result<DatabaseDef, ProvisionError> {
        self.change(name, |def| {
            def.apply(change)?;
            Ok(def.clone())
        })
    }

    /// Changes one definition and saves the registry; nothing changes when either fails.
    fn change<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut DatabaseDef) -> Result<T, ProvisionError>,
    ) -> Result<T, ProvisionError> {
        let def = self.get_mut(name)?;
        let before = def.clone();
        let changed = f(def);
        let saved = changed.and_then(|out| self.save().map(|_| out));
        match saved {
            Ok(_) => self.index_secrets(),
            Err(_) => {
                self.defs.insert(name.to_string(), before);
            }
        }
        saved
    }

    /// The database this password opens.
    pub fn by_password(&self, password: &[u8]) -> Option<&DatabaseDef> {
        let hash = SecretHash::of(password)?;
        self.defs.get(self.secrets.password(&hash)?)
    }

    /// The database this REST token opens, and with which rights.
    pub fn by_token(&self, token: &str) -> Option<(&DatabaseDef, TokenAccess)> {
        self.by_token_hash(&SecretHash::of(token.as_bytes())?)
    }

    /// The same, for a token already hashed (outside the registry's lock).
    pub fn by_token_hash(&self, hash: &SecretHash) -> Option<(&DatabaseDef, TokenAccess)> {
        let (name, access) = self.secrets.token(hash)?;
        Some((self.defs.get(name)?, access))
    }
}

/// The limits a provisioned database was given (`keel db create/set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantLimits {
    /// Bytes; 0: none.
    pub max_memory: u64,
    pub policy: keel_store::evict::Policy,
    /// 0: none.
    pub max_connections: u64,
    /// 0: none.
    pub max_commands_per_second: u64,
    /// Bytes; 0: the server's limits.
    pub max_request_size: u64,
}

impl TenantLimits {
    /// Puts these limits where a database reads the server's: its quota as `maxmemory`, its eviction as
    /// `maxmemory-policy`, its connection cap as `maxclients`.
    pub fn apply_to(&self, settings: &mut crate::config::Settings) {
        settings.maxmemory = self.max_memory;
        settings.maxmemory_policy = self.policy.name().to_string();
        settings.maxclients = self.max_connections;
        if self.max_memory > 0 {
            settings.lua_memory_limit = settings.lua_memory_limit.min(self.max_memory);
        }
    }
}

impl DatabaseDef {
    pub fn policy(&self) -> Policy {
        Policy::parse(&self.eviction).unwrap_or(Policy::NoEviction)
    }

    /// The limits the running database is held to.
    pub fn limits(&self) -> TenantLimits {
        TenantLimits {
            max_memory: self.max_memory,
            policy: self.policy(),
            max_connections: self.max_connections,
            max_commands_per_second: self.max_commands_per_second,
            max_request_size: self.max_request_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keel-registry-{}", new_secret(6)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn secrets_are_shown_once_stored_hashed_and_map_to_one_database() {
        let dir = temp_dir();
        let mut registry = Registry::load(&dir).unwrap();
        let plans = crate::meters::default_plans();
        let (def, secrets) =
            registry.create(CreateRequest { name: Some("app-1".into()), ..Default::default() }, &plans, 1).unwrap();
        let (other, _) = registry.create(CreateRequest::default(), &plans, 1).unwrap();
        assert_ne!(other.name, def.name);
        let password = secrets.password.unwrap();
        let file = std::fs::read_to_string(dir.join("databases.json")).unwrap();
        assert!(!file.contains(&password) && file.contains(&sha256_hex(&password)));
        assert_eq!(registry.by_password(password.as_bytes()).map(|d| d.name.as_str()), Some("app-1"));
        assert_eq!(
            registry.by_token(&secrets.readonly_token.unwrap()).map(|(d, a)| (d.name.as_str(), a)),
            Some(("app-1", TokenAccess::ReadOnly))
        );
        let rotated = registry.rotate_password("app-1").unwrap().password.unwrap();
        assert!(registry.by_password(password.as_bytes()).is_none());
        // Definitions survive a reload.
        let reloaded = Registry::load(&dir).unwrap();
        assert_eq!(reloaded.by_password(rotated.as_bytes()).map(|d| d.name.as_str()), Some("app-1"));
        assert_eq!(reloaded.list().count(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Every change of the definitions reaches the index a login or a REST request is looked up in.
    #[test]
    fn secrets_open_their_database_until_rotated_or_deleted() {
        let dir = temp_dir();
        let mut registry = Registry::load(&dir).unwrap();
        let plans = crate::meters::default_plans();
        let name = |n: &str| CreateRequest { name: Some(n.into()), ..Default::default() };
        let (_, first) = registry.create(name("first"), &plans, 1).unwrap();
        let (_, second) = registry.create(name("second"), &plans, 1).unwrap();
        let token =
            |r: &Registry, t: &Option<String>| r.by_token(t.as_ref().unwrap()).map(|(d, a)| (d.name.clone(), a));
        assert_eq!(token(&registry, &second.rest_token), Some(("second".into(), TokenAccess::Full)));
        assert_eq!(token(&registry, &first.readonly_token), Some(("first".into(), TokenAccess::ReadOnly)));
        assert!(registry.by_token("not-a-token").is_none() && registry.by_password(b"not-a-password").is_none());
        let rotated = registry.rotate_tokens("first").unwrap();
        assert_eq!(token(&registry, &first.rest_token), None);
        assert_eq!(token(&registry, &rotated.rest_token), Some(("first".into(), TokenAccess::Full)));
        registry.update("first", UpdateRequest::default()).unwrap();
        assert_eq!(token(&registry, &rotated.rest_token), Some(("first".into(), TokenAccess::Full)));
        registry.delete("second").unwrap();
        assert_eq!(token(&registry, &second.rest_token), None);
        assert!(registry.by_password(second.password.unwrap().as_bytes()).is_none());
        let mut adopted = registry.get("first").unwrap().clone();
        adopted.name = "adopted".into();
        registry.adopt(adopted).unwrap();
        assert_eq!(registry.by_password(first.password.unwrap().as_bytes()).map(|d| d.name.as_str()), Some("adopted"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let dir = temp_dir();
        let mut registry = Registry::load(&dir).unwrap();
        let plans = crate::meters::default_plans();
        let bad = |r: CreateRequest| Registry::load(&dir).unwrap().create(r, &plans, 0).unwrap_err().status;
        assert_eq!(bad(CreateRequest { name: Some("Default".into()), ..Default::default() }), 400);
        assert_eq!(bad(CreateRequest { name: Some("default".into()), ..Default::default() }), 400);
        assert_eq!(bad(CreateRequest { eviction: Some("sometimes".into()), ..Default::default() }), 400);
        assert_eq!(bad(CreateRequest { plan: Some("gold".into()), ..Default::default() }), 400);
        registry.create(CreateRequest { name: Some("x".into()), ..Default::default() }, &plans, 0).unwrap();
        assert_eq!(
            registry
                .create(CreateRequest { name: Some("x".into()), ..Default::default() }, &plans, 0)
                .unwrap_err()
                .status,
            409
        );
        assert_eq!(registry.delete("nope").unwrap_err().status, 404);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
