//! The one gate every command passes before it runs, whatever brought it (a RESP connection, a REST request,
//! EXEC, a script) and whatever state the server is in (loading, a script busy past its threshold): the
//! command must exist (and be one a REST request's token may run) with the right arity, the client must be
//! authenticated, its ACL user must be allowed the command with these keys and channels, the command must
//! be one its database may run, and only then does the server's state decide (Redis's `processCommand`, in
//! its order). Nothing here needs the database's lock, so a refusal costs a client nothing while another
//! client's script holds that lock.

use crate::exec::commands::{cat, flags, Command, Lookup};
use crate::exec::dispatch::Env;
use crate::exec::session::{RestToken, Session};
use std::fmt::Write;

/// Redis's protected-mode refusal, answered to a client from another machine that has not logged in to a
/// provisioned database while the default database has no password.
pub const DENIED: &str = "DENIED Keel is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. Set a password with --requirepass, or disable protected mode with --protected-mode no. A provisioned database is reached from anywhere with its own password.";

/// Answers a refusal: its error, or for EXEC inside a transaction, the transaction discarded with the
/// reason (Redis's `rejectCommand` and `execCommandAbort`).
pub fn answer_refusal(session: &mut Session, refusal: &Refusal, out: &mut keel_protocol::ReplyWriter) {
    let exec = refusal.command.is_some_and(|c| c.spec.name == "exec");
    if exec && session.transaction.is_some() {
        session.transaction = None;
        session.info.set_flag(crate::clients::flag::MULTI, false);
        out.error(&format!("EXECABORT Transaction discarded because of: {}", refusal.error));
    } else {
        out.error(&refusal.error);
    }
}

/// What the server is doing, as far as admitting a command is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Ready,
    /// The dataset is loading from disk: only `loading` commands are admitted.
    Loading,
    /// A script has held the database past `busy-reply-threshold`: only `allow_busy` commands are
    /// admitted, and this is the `BUSY` text for the rest.
    Busy(&'static str),
}

/// A command turned away, with the error to answer and the command when it was found (for its
/// rejected-calls count).
pub struct Refusal<'t> {
    pub command: Option<&'t Command>,
    pub error: String,
}

impl<'t> Refusal<'t> {
    fn new(command: Option<&'t Command>, error: impl Into<String>) -> Refusal<'t> {
        Refusal { command, error: error.into() }
    }
}

/// Admits `args` for `session` in `state`, or says why not. A refusal while a transaction is queued makes
/// its EXEC fail (Redis's `flagTransaction`).
pub fn admit<'t>(
    env: &Env<'t>,
    session: &mut Session,
    args: &[&[u8]],
    state: ServerState,
) -> Result<&'t Command, Refusal<'t>> {
    let checked = check(env, session, args, state);
    if checked.is_err() {
        if let Some(transaction) = &mut session.transaction {
            transaction.aborted = true;
        }
    }
    checked
}

fn check<'t>(env: &Env<'t>, session: &Session, args: &[&[u8]], state: ServerState) -> Result<&'t Command, Refusal<'t>> {
    let command = match env.server.commands.lookup_after(args, &session.last_name) {
        Lookup::Found(command) => command,
        Lookup::UnknownSubcommand(cmd) => {
            let sub: String = String::from_utf8_lossy(args[1]).chars().take(128).collect();
            let help = cmd.spec.name.to_ascii_uppercase();
            return Err(Refusal::new(None, format!("ERR unknown subcommand '{sub}'. Try {help} HELP.")));
        }
        Lookup::MissingSubcommand(cmd) => {
            return Err(Refusal::new(None, format!("ERR wrong number of arguments for '{}' command", cmd.fullname)))
        }
        Lookup::Unknown => return Err(Refusal::new(None, unknown_command_error(args))),
    };
    if let Some(error) = session.rest_token.and_then(|token| rest_refusal(command, token)) {
        return Err(Refusal::new(Some(command), error));
    }
    let arity = command.spec.arity;
    let argc = args.len() as i32;
    if (arity > 0 && argc != arity) || argc < -arity {
        let error = format!("ERR wrong number of arguments for '{}' command", command.fullname);
        return Err(Refusal::new(Some(command), error));
    }
    if !command.has(flags::NO_AUTH) && !session.master {
        if !session.authenticated && session.info.has_flag(crate::clients::flag::PROTECTED) {
            return Err(Refusal::new(Some(command), DENIED));
        }
        if !session.authenticated {
            return Err(Refusal::new(Some(command), "NOAUTH Authentication required."));
        }
        let open =
            session.acl_user.is_none() && env.tenant.default_unrestricted.load(std::sync::atomic::Ordering::Acquire);
        if !open {
            if let Some(error) = acl_denial(env, session, command, args) {
                return Err(Refusal::new(Some(command), error));
            }
        }
    }
    if command.has(flags::SERVER_ONLY) && env.tenant.is_provisioned() {
        let error = format!("ERR '{}' acts on the whole server and is not available to a database", command.fullname);
        return Err(Refusal::new(Some(command), error));
    }
    if let Some(error) = replication_refusal(env, session, command) {
        return Err(Refusal::new(Some(command), error));
    }
    if session.in_subscriber_mode() && !command.has(flags::SUBSCRIBER_CONTEXT) {
        let error = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            command.fullname
        );
        return Err(Refusal::new(Some(command), error));
    }
    match state {
        ServerState::Loading if !command.has(flags::LOADING) => {
            Err(Refusal::new(Some(command), "LOADING Redis is loading the dataset in memory"))
        }
        ServerState::Busy(busy) if !command.has(flags::ALLOW_BUSY) => Err(Refusal::new(Some(command), busy)),
        _ => Ok(command),
    }
}

/// Why a REST request does not run `command`: the read-only token runs only `readonly` commands, and
/// nothing that needs a connection (`no_rest`) runs over a request.
fn rest_refusal(command: &Command, token: RestToken) -> Option<String> {
    // MULTI and EXEC frame what the read-only token may run; they run nothing themselves.
    let framing = command.categories & cat::TRANSACTION != 0 && !command.has(flags::NO_REST);
    if token == RestToken::ReadOnly && !command.has(flags::READONLY) && !framing {
        return Some(format!(
            "NOPERM this user has no permissions to run the '{}' command or its subcommand",
            command.fullname
        ));
    }
    command.has(flags::NO_REST).then(|| format!("ERR {} is not supported over REST", command.fullname.to_uppercase()))
}

/// What replication refuses, in Redis's order: writes while too few replicas are in sync
/// (`min-replicas-to-write`), writes to a read-only replica, and everything but `stale` commands while a
/// replica's link is down and `replica-serve-stale-data` is off. The primary's own link is never refused.
fn replication_refusal(env: &Env, session: &Session, command: &Command) -> Option<&'static str> {
    use crate::replication::{FENCED, MASTERDOWN, NOREPLICAS, READONLY};
    // EXEC's queued commands were judged with EXEC, as Redis judges them.
    if session.master || session.in_exec {
        return None;
    }
    let repl = &env.tenant.replication;
    let replica = repl.is_replica();
    let queued = session.transaction.as_ref().filter(|_| command.spec.name == "exec");
    let writes = command.has(flags::WRITE) || queued.is_some_and(|t| t.writes);
    let needs_fresh = !command.has(flags::STALE) || queued.is_some_and(|t| t.needs_fresh);
    if writes && repl.is_fenced() {
        return Some(FENCED);
    }
    if writes && !replica && env.settings.min_replicas_to_write > 0 {
        let good = repl.good_replicas(crate::clock::unix_ms(), env.settings.min_replicas_max_lag);
        if (good as u64) < env.settings.min_replicas_to_write {
            return Some(NOREPLICAS);
        }
    }
    if replica && env.settings.replica_read_only && writes {
        return Some(READONLY);
    }
    if replica && !env.settings.serve_stale_data && needs_fresh && repl.link_down() {
        return Some(MASTERDOWN);
    }
    None
}

/// The NOPERM error when the session's ACL user may not run `args`; the denial goes to ACL LOG.
fn acl_denial(env: &Env, session: &Session, command: &Command, args: &[&[u8]]) -> Option<String> {
    use crate::state::acl::Denial;
    let tenant = env.tenant;
    let user = session.acl_user.as_deref().unwrap_or("default");
    let denial = match tenant.acl.read().users.get(user) {
        Some(u) => u.check(command, args).err()?,
        None => Denial::Command,
    };
    let (reason, object) = match &denial {
        Denial::Command => ("command", command.fullname.clone()),
        Denial::Key(key) => ("key", String::from_utf8_lossy(key).into_owned()),
        Denial::Channel(channel) => ("channel", String::from_utf8_lossy(channel).into_owned()),
    };
    let context = if session.in_script {
        "lua"
    } else if session.transaction.is_some() || session.in_exec {
        "multi"
    } else {
        "toplevel"
    };
    let client_info = format!("id={} addr={} user={user}", session.id(), session.info.addr);
    let entry = crate::state::acl::LogEntry::new(reason, context, object, user.to_string(), client_info);
    tenant.acl.write().record(entry, env.settings.acllog_max_len);
    Some(denial.message(command))
}

/// Redis's text for an unknown command: the name and the first arguments, each quoted.
fn unknown_command_error(args: &[&[u8]]) -> String {
    let mut listed = String::new();
    for arg in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let text = String::from_utf8_lossy(arg);
        let shown: String = text.chars().take(room).collect();
        let _ = write!(listed, "'{shown}' ");
    }
    let name: String = String::from_utf8_lossy(args[0]).chars().take(128).collect();
    format!("ERR unknown command '{name}', with args beginning with: {listed}")
}
