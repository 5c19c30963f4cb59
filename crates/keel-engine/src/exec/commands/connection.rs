//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT and RESET (the CLIENT family is in `client.rs`).

use super::client::{set_client_name, stop_tracking};
use super::unlocked::Unlocked;
use super::{int_arg, is, CmdError, CmdResult, Ctx, DB_OUT_OF_RANGE, SYNTAX};
use crate::clients::flag;
use crate::exec::session::{Action, ReplyMode, Session};
use crate::secrets::secrets_equal;
use crate::server::Server;
use crate::state::tenant::Tenant;
use keel_protocol::{ReplyWriter, Resp};
use std::sync::atomic::Ordering;

pub const REDIS_VERSION: &str = "8.2.0";
pub(super) const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn ping(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 2 {
        return Err(CmdError::new("ERR wrong number of arguments for 'ping' command"));
    }
    if ctx.session.in_subscriber_mode() {
        // Subscriber mode answers in the shape of a message: ["pong", message].
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).copied().unwrap_or(b""));
        return Ok(());
    }
    match args.get(1) {
        Some(message) => ctx.out.bulk(message),
        None => ctx.out.simple("PONG"),
    }
    Ok(())
}

/// READONLY and READWRITE: they only mean something to a cluster, which Keel is not (Redis's reply when
/// cluster support is off).
pub fn cluster_only(_ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    Err(CmdError::new("ERR This instance has cluster support disabled"))
}

pub fn echo(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(args[1]);
    Ok(())
}

/// Checks credentials for the default database's `default` user: `requirepass` when set, else the user's
/// own passwords (none with `nopass`); never while the user is off.
fn credentials_ok(server: &Server, password: &[u8]) -> bool {
    let required = server.settings.read().requirepass.clone();
    let tenant = server.default_tenant();
    if !required.is_empty() {
        return tenant.default_user_enabled() && secrets_equal(password, required.as_bytes());
    }
    let ok = tenant.acl.read().users.get("default").is_some_and(|u| u.check_password(password));
    ok
}

/// Where a login leads: a database, and the ACL user there (None for `default`).
type Login = (std::sync::Arc<crate::state::tenant::Tenant>, Option<String>);

/// Finds the one database a login opens, by a secret only that database's owner holds (Keel's login rule,
/// stated in the README):
/// - `default` (or the database's own name) with a provisioned database's password opens that database;
///   with `requirepass` (or the default user's password), the server's own `default` database.
/// - Any other user name opens the database of the client's current login when that database has the
///   user (Redis's AUTH, switching users), and otherwise the one database whose user of that name has
///   that password. A `nopass` user is never found from outside its database, and a name and password
///   that two databases both answer to open neither: no database can capture another's logins.
fn resolve_login(server: &Server, current: &Tenant, session: &Session, user: &[u8], password: &[u8]) -> Option<Login> {
    let provisioned = {
        let registry = server.databases.lock();
        registry
            .by_password(password)
            .filter(|d| user == b"default" || user == d.name.as_bytes())
            .and_then(|d| server.tenants.read().get(&d.name).cloned())
            .filter(|tenant| tenant.default_user_enabled())
    };
    if let Some(tenant) = provisioned {
        return Some((tenant, None));
    }
    if user == b"default" {
        return credentials_ok(server, password).then(|| (server.default_tenant(), None));
    }
    let name = std::str::from_utf8(user).ok()?;
    if session.authenticated {
        let known = current.acl.read().users.get(name).map(|u| u.check_password(password));
        if let Some(ok) = known {
            let tenant = server.tenants.read().get(&current.name).cloned()?;
            return ok.then(|| (tenant, Some(name.to_string())));
        }
    }
    let tenants: Vec<_> = server.tenants.read().values().cloned().collect();
    let mut found = tenants.into_iter().filter(|tenant| {
        let acl = tenant.acl.read();
        acl.users.get(name).is_some_and(|u| !u.nopass && u.check_password(password))
    });
    let first = found.next()?;
    if let Some(second) = found.next() {
        tracing::warn!(
            user = name,
            databases = %format!("{}, {}", first.name, second.name),
            "refused a login that more than one database answers to"
        );
        return None;
    }
    Some((first, Some(name.to_string())))
}

/// Where a login leads on a clustered node, before this node's own databases are asked.
enum RemoteLogin {
    /// To the database whose primary another node serves: the connection is relayed there.
    Relay(crate::coordination::Remote),
    /// A user and password that databases of two nodes answer to: they open neither.
    Refused,
    /// Not to another node: this node's own rules decide.
    NotRemote,
}

/// The database of the cluster whose primary another node serves that a login names: `default` (or the
/// database's name) with its password, or one of its ACL users. Relayed even when this node keeps a replica
/// of it (a database's clients get its primary, wherever they connect). As on one node, a user and password
/// that two databases answer to open neither, so no database can capture another's logins across nodes.
fn remote_login(server: &Server, current: &Tenant, session: &Session, user: &[u8], password: &[u8]) -> RemoteLogin {
    let Some(cluster) = server.coordinator.get() else { return RemoteLogin::NotRemote };
    if let Some(remote) = cluster.locate_by_password(password) {
        if user == b"default" || user == remote.database.as_bytes() {
            return RemoteLogin::Relay(remote);
        }
    }
    // `default` is each node's own; switching users inside the current database stays Redis's AUTH.
    let Some(name) = std::str::from_utf8(user).ok().filter(|name| *name != "default") else {
        return RemoteLogin::NotRemote;
    };
    if session.authenticated && current.acl.read().users.contains_key(name) {
        return RemoteLogin::NotRemote;
    }
    let Some(remote) = cluster.locate_by_user(name, password) else { return RemoteLogin::NotRemote };
    let tenants: Vec<_> = server.tenants.read().values().cloned().collect();
    let answers_here = tenants
        .iter()
        .filter(|t| !t.replication.is_replica())
        .any(|t| t.acl.read().users.get(name).is_some_and(|u| !u.nopass && u.check_password(password)));
    if answers_here {
        tracing::warn!(user = name, database = %remote.database, "refused a login that databases of two nodes answer to");
        return RemoteLogin::Refused;
    }
    RemoteLogin::Relay(remote)
}

/// Logs the client in where [`resolve_login`] leads. Moving to another database asks the connection to
/// switch (after this command) and counts against that database's connection cap; refused there, the
/// client is left logged out. Needs no database lock: AUTH is served while a script is busy.
pub fn log_in(server: &Server, current: &Tenant, session: &mut Session, user: &[u8], password: &[u8]) -> CmdResult {
    match remote_login(server, current, session, user, password) {
        RemoteLogin::Relay(remote) => {
            session.action = Some(Action::Relay(remote));
            return Ok(());
        }
        RemoteLogin::Refused => return Err(CmdError::new(WRONGPASS)),
        RemoteLogin::NotRemote => {}
    }
    let Some((tenant, acl_user)) = resolve_login(server, current, session, user, password) else {
        let username = String::from_utf8_lossy(user).into_owned();
        let client_info = format!("id={} addr={}", session.id(), session.info.addr);
        let entry = crate::state::acl::LogEntry::new("auth", "toplevel", "AUTH".into(), username, client_info);
        let max_len = server.settings.read().acllog_max_len as usize;
        current.acl.write().record(entry, max_len);
        return Err(CmdError::new(WRONGPASS));
    };
    if session.info.has_flag(flag::PROTECTED) && !tenant.is_provisioned() {
        return Err(CmdError::new(crate::exec::admission::DENIED));
    }
    if tenant.name != current.name {
        if !tenant.admit_connection() {
            tenant.refused_logins.fetch_add(1, Ordering::Relaxed);
            session.authenticated = false;
            session.acl_user = None;
            return Err(CmdError::new("ERR max number of clients reached"));
        }
        session.action = Some(crate::exec::session::Action::SwitchTenant(tenant.name.clone()));
    }
    session.acl_user = acl_user;
    session.authenticated = true;
    *session.info.user.lock() = String::from_utf8_lossy(user).into_owned();
    Ok(())
}

pub fn auth(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    auth_unlocked(&mut ctx.unlocked(), args)
}

/// AUTH needs no data: it is served while the dataset loads or a script is busy too.
pub fn auth_unlocked(u: &mut Unlocked, args: &[&[u8]]) -> CmdResult {
    let (server, tenant) = (u.server, u.tenant);
    if args.len() > 3 {
        return Err(SYNTAX);
    }
    let (user, password) = if args.len() == 2 {
        let default_nopass = server.default_tenant().acl.read().users.get("default").is_some_and(|u| u.nopass);
        let nothing_to_check = server.settings.read().requirepass.is_empty()
            && default_nopass
            && server.databases.lock().list().next().is_none()
            && server.coordinator.get().is_none();
        if nothing_to_check {
            return Err(CmdError::new(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        (&b"default"[..], args[1])
    } else {
        (args[1], args[2])
    };
    log_in(server, tenant, u.session, user, password)?;
    if !relayed(u.session) {
        u.out.ok();
    }
    Ok(())
}

/// Whether the login is being relayed to another node (which answers it).
fn relayed(session: &Session) -> bool {
    matches!(session.action, Some(Action::Relay(_)))
}

pub fn hello(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let handshaken = handshake(ctx.server, ctx.tenant, ctx.session, args)?;
    if relayed(ctx.session) {
        return Ok(());
    }
    if let Some(resp) = handshaken {
        // Messages already on their way to this client must now be framed in the new protocol.
        ctx.ks.pubsub.set_resp(ctx.session.id(), resp);
        ctx.ks.tracking.set_resp(ctx.session.id(), resp);
    }
    hello_reply(ctx.session, ctx.out);
    Ok(())
}

/// HELLO while the dataset loads or a script is busy: served unless messages on their way to a subscriber
/// or tracker would need reframing, which needs the lock.
pub fn hello_unlocked(u: &mut Unlocked, args: &[&[u8]]) -> CmdResult {
    if !u.session.subscriptions.is_empty() || u.session.info.has_flag(flag::TRACKING) {
        return Err(u.state_error());
    }
    handshake(u.server, u.tenant, u.session, args)?;
    hello_reply(u.session, u.out);
    Ok(())
}

/// HELLO's handshake: authentication, name and protocol version. Returns the new protocol when it changed,
/// for the caller to reframe what is on its way to the client.
fn handshake(
    server: &Server,
    tenant: &Tenant,
    session: &mut Session,
    args: &[&[u8]],
) -> Result<Option<Resp>, CmdError> {
    let mut version = None;
    let mut j = 1;
    if let Some(arg) = args.get(1) {
        let v = int_arg(arg).map_err(|_| CmdError::new("ERR Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::new("NOPROTO unsupported protocol version"));
        }
        version = Some(v);
        j = 2;
    }
    let (mut credentials, mut name) = (None, None);
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(args[j], "auth") && more >= 2 {
            credentials = Some((args[j + 1], args[j + 2]));
            j += 2;
        } else if is(args[j], "setname") && more >= 1 {
            name = Some(args[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::new(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(args[j])
            )));
        }
        j += 1;
    }
    if let Some((user, password)) = credentials {
        log_in(server, tenant, session, user, password)?;
        if relayed(session) {
            return Ok(None);
        }
    }
    if !session.authenticated {
        return Err(CmdError::new("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(name) = name {
        set_client_name(&session.info, name)?;
    }
    let resp = version.map(|v| if v == 3 { Resp::V3 } else { Resp::V2 });
    let changed = resp.filter(|r| *r != session.resp);
    if let Some(resp) = resp {
        session.set_resp(resp);
    }
    Ok(changed)
}

/// HELLO's reply: what the server is and how the connection now speaks.
fn hello_reply(session: &Session, out: &mut ReplyWriter) {
    out.set_resp(session.resp);
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if session.resp == Resp::V3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(session.id() as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

pub fn select(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let index = int_arg(args[1])?;
    if index < 0 || index as usize >= ctx.ks.dbs.len() || index > i32::MAX as i64 {
        return Err(DB_OUT_OF_RANGE);
    }
    ctx.session.select(index as usize);
    ctx.out.ok();
    Ok(())
}

pub fn quit(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    quit_unlocked(&mut ctx.unlocked(), args)
}

pub fn quit_unlocked(u: &mut Unlocked, _args: &[&[u8]]) -> CmdResult {
    u.out.ok();
    u.session.action = Some(Action::Close);
    Ok(())
}

pub fn reset(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.session.transaction = None;
    ctx.session.info.set_flag(flag::MULTI, false);
    super::transactions::unwatch_all(ctx);
    super::pubsub::unsubscribe_all(ctx);
    stop_tracking(ctx.ks, ctx.session.id());
    ctx.session.info.set_flag(flag::TRACKING | flag::BCAST, false);
    ctx.session.select(0);
    ctx.session.set_resp(Resp::V2);
    ctx.out.set_resp(Resp::V2);
    ctx.session.reply_mode = ReplyMode::On;
    // Back to the `default` user, logged in only where a new connection would be (Redis's
    // clearClientConnectionState): a provisioned database is reached only with its password, so a
    // connection in one is logged out and must AUTH again.
    let default_open =
        !ctx.tenant.is_provisioned() && ctx.server.opens_without_auth() && !ctx.session.info.has_flag(flag::PROTECTED);
    ctx.session.acl_user = None;
    ctx.session.authenticated = default_open;
    *ctx.session.info.user.lock() = "default".into();
    let info = &ctx.session.info;
    info.name.lock().clear();
    info.set_flag(flag::NO_EVICT | flag::MONITOR, false);
    ctx.out.simple("RESET");
    Ok(())
}
