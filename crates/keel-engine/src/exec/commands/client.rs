//! The CLIENT family: names and library info, CLIENT LIST/INFO/KILL (a database sees only its own
//! clients), reply modes, unblocking, and client-side caching (CLIENT TRACKING, CACHING, GETREDIR,
//! TRACKINGINFO).

use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX};
use crate::clients::{flag, ClientInfo};
use crate::exec::session::{Action, ReplyMode};
use crate::state::pause::PauseMode;
use std::sync::atomic::Ordering;

/// Client names and library attributes may only hold printable characters other than space.
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

pub(super) fn set_client_name(info: &ClientInfo, name: &[u8]) -> CmdResult {
    if !valid_name(name) {
        return Err(CmdError::new("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    *info.name.lock() = name.to_vec();
    Ok(())
}

pub fn client_id(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.session.id() as i64);
    Ok(())
}

pub fn client_setname(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    set_client_name(&ctx.session.info, args[2])?;
    ctx.out.ok();
    Ok(())
}

pub fn client_getname(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let name = ctx.session.info.name.lock().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(&name);
    }
    Ok(())
}

pub fn client_setinfo(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (attr, value) = (args[2], args[3]);
    let target = if is(attr, "lib-name") {
        &ctx.session.info.lib_name
    } else if is(attr, "lib-ver") {
        &ctx.session.info.lib_ver
    } else {
        return Err(CmdError::new(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(attr))));
    };
    if !valid_name(value) {
        return Err(CmdError::new(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr).to_ascii_lowercase()
        )));
    }
    *target.lock() = String::from_utf8_lossy(value).into_owned();
    ctx.out.ok();
    Ok(())
}

/// One `CLIENT LIST` line (without the trailing newline).
fn client_line(ctx: &Ctx, c: &ClientInfo) -> String {
    let now = ctx.now_ms();
    let cmd = c.last_command.load(Ordering::Relaxed);
    let cmd = if cmd < ctx.server.commands.len() { ctx.server.commands.get(cmd).fullname.as_str() } else { "NULL" };
    let qbuf = c.query_buffer.load(Ordering::Relaxed);
    let omem = c.output_memory.load(Ordering::Relaxed);
    let multi = if c.has_flag(flag::MULTI) { 0 } else { -1 };
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
         watch={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} \
         events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={} io-thread={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        c.name_string(),
        now.saturating_sub(c.created_ms) / 1000,
        now.saturating_sub(c.last_active_ms.load(Ordering::Relaxed)) / 1000,
        c.flag_letters(),
        c.db.load(Ordering::Relaxed),
        c.subscriptions[0].load(Ordering::Relaxed),
        c.subscriptions[1].load(Ordering::Relaxed),
        c.subscriptions[2].load(Ordering::Relaxed),
        multi,
        ctx.ks.watches.keys_of(c.id).len(),
        qbuf,
        c.query_buffer_free.load(Ordering::Relaxed),
        c.reply_buffer.load(Ordering::Relaxed),
        omem,
        c.total_memory(),
        cmd,
        c.user.lock(),
        c.resp.load(Ordering::Relaxed),
        c.lib_name.lock(),
        c.lib_ver.lock(),
        c.io_thread.load(Ordering::Relaxed),
    )
}

/// The clients of the caller's own database (no client ever sees another database's clients), without
/// those killed and not yet gone (Redis frees them at once).
fn visible_clients(ctx: &Ctx) -> Vec<std::sync::Arc<ClientInfo>> {
    let clients = ctx.server.clients.snapshot().into_iter();
    clients.filter(|c| c.in_tenant(&ctx.tenant.name) && !c.is_killed()).collect()
}

fn client_type_matches(c: &ClientInfo, kind: &[u8]) -> Result<bool, CmdError> {
    if is(kind, "normal") {
        Ok(!c.has_flag(flag::PUBSUB | flag::REPLICA))
    } else if is(kind, "pubsub") {
        Ok(c.has_flag(flag::PUBSUB))
    } else if is(kind, "replica") || is(kind, "slave") {
        Ok(c.has_flag(flag::REPLICA))
    } else if is(kind, "master") {
        // The link to this database's primary is not a listed client.
        Ok(false)
    } else {
        Err(CmdError::new(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(kind))))
    }
}

pub fn client_list(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut clients = visible_clients(ctx);
    let mut j = 2;
    while j < args.len() {
        if is(args[j], "type") && j + 1 < args.len() {
            let kind = args[j + 1];
            let mut kept = Vec::new();
            for c in clients {
                if client_type_matches(&c, kind)? {
                    kept.push(c);
                }
            }
            clients = kept;
            j += 2;
        } else if is(args[j], "id") && j + 1 < args.len() {
            let mut ids = Vec::new();
            for arg in &args[j + 1..] {
                let id =
                    int_arg(arg).ok().filter(|id| *id > 0).ok_or_else(|| CmdError::new("ERR Invalid client ID"))?;
                ids.push(id as u64);
            }
            clients.retain(|c| ids.contains(&c.id));
            j = args.len();
        } else {
            return Err(SYNTAX);
        }
    }
    let mut text = String::new();
    for c in clients {
        text.push_str(&client_line(ctx, &c));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn client_info(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let mut line = client_line(ctx, &ctx.session.info.clone());
    line.push('\n');
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

/// Disconnects a client: another one at once, this one after its reply (as Redis closes the caller).
pub(super) fn disconnect(ctx: &mut Ctx, client: &ClientInfo) {
    if client.id == ctx.session.id() {
        ctx.session.action = Some(Action::Close);
    } else {
        client.kill();
    }
}

pub fn client_kill(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let old_style = args.len() == 3;
    if !old_style && (args.len() < 3 || !args.len().is_multiple_of(2)) {
        return Err(SYNTAX);
    }
    let mut clients = visible_clients(ctx);
    let mut skip_me = !old_style;
    if old_style {
        let addr = String::from_utf8_lossy(args[2]);
        clients.retain(|c| c.addr == addr);
    } else {
        for pair in args[2..].chunks_exact(2) {
            let (name, value) = (pair[0], pair[1]);
            let text = String::from_utf8_lossy(value).into_owned();
            if is(name, "id") {
                let id = int_arg(value).ok().filter(|id| *id > 0);
                let id = id.ok_or_else(|| CmdError::new("ERR client-id should be greater than 0"))?;
                clients.retain(|c| c.id == id as u64);
            } else if is(name, "type") {
                let mut kept = Vec::new();
                for c in clients {
                    if client_type_matches(&c, value)? {
                        kept.push(c);
                    }
                }
                clients = kept;
            } else if is(name, "addr") {
                clients.retain(|c| c.addr == text);
            } else if is(name, "laddr") {
                clients.retain(|c| c.laddr == text);
            } else if is(name, "user") {
                if text != "default" {
                    return Err(CmdError::new(format!("ERR No such user '{text}'")));
                }
                clients.retain(|c| *c.user.lock() == text);
            } else if is(name, "skipme") {
                skip_me = if is(value, "yes") {
                    true
                } else if is(value, "no") {
                    false
                } else {
                    return Err(SYNTAX);
                };
            } else if is(name, "maxage") {
                let max_age =
                    int_arg(value).map_err(|_| CmdError::new("ERR maxage is not an integer or out of range"))?;
                if max_age <= 0 {
                    return Err(CmdError::new("ERR maxage should be greater than 0"));
                }
                let now = ctx.now_ms();
                clients.retain(|c| (now.saturating_sub(c.created_ms) / 1000) as i64 >= max_age);
            } else {
                return Err(SYNTAX);
            }
        }
    }
    let me = ctx.session.id();
    let mut killed = 0;
    for c in clients {
        if c.id == me && skip_me {
            continue;
        }
        disconnect(ctx, &c);
        killed += 1;
    }
    if old_style {
        if killed == 0 {
            return Err(CmdError::new("ERR No such client"));
        }
        ctx.out.ok();
    } else {
        ctx.out.int(killed);
    }
    Ok(())
}

pub fn client_no_evict(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let on = on_off(args[2])?;
    ctx.session.info.set_flag(flag::NO_EVICT, on);
    ctx.out.ok();
    Ok(())
}

pub fn client_no_touch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let on = on_off(args[2])?;
    ctx.session.info.set_flag(flag::NO_TOUCH, on);
    ctx.out.ok();
    Ok(())
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

pub fn client_reply(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if is(args[2], "on") {
        ctx.session.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(args[2], "off") {
        ctx.session.reply_mode = ReplyMode::Off;
    } else if is(args[2], "skip") {
        if ctx.session.reply_mode == ReplyMode::On {
            ctx.session.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(SYNTAX);
    }
    Ok(())
}

pub fn client_unblock(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let id = int_arg(args[2])?;
    let with_error = match args.get(3) {
        None => false,
        Some(mode) if is(mode, "timeout") => false,
        Some(mode) if is(mode, "error") => true,
        Some(_) => return Err(CmdError::new("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    // Waiters live in the caller's own database: no client can unblock another database's clients.
    let Some(waiter) = ctx.ks.blocking.remove(id as u64) else {
        ctx.out.int(0);
        return Ok(());
    };
    waiter.count_unserved(&ctx.server.commands, &mut ctx.ks.stats.commands, with_error);
    let reply = if with_error {
        let mut out = keel_protocol::ReplyWriter::with_capacity(waiter.resp, 64);
        out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
        out.as_bytes().to_vec()
    } else {
        crate::state::blocking::Waiter::timeout_reply(waiter.resp)
    };
    waiter.finish(reply);
    ctx.out.int(1);
    Ok(())
}

pub fn client_getredir(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let redirect = match ctx.ks.tracking.get(ctx.session.id()) {
        None => -1,
        Some(t) => t.redirect.map_or(0, |r| r as i64),
    };
    ctx.out.int(redirect);
    Ok(())
}

pub fn client_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    super::introspection::help_reply(
        ctx,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    );
    Ok(())
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
/// BCAST prefixes must not overlap (one a prefix of another), neither the new ones with those a client
/// already has nor among themselves.
fn check_prefixes(existing: &[Vec<u8>], prefixes: &[Vec<u8>]) -> CmdResult {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for (i, new) in prefixes.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(new, old)) {
            return Err(CmdError::new(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                show(new),
                show(old)
            )));
        }
        if let Some(other) = prefixes[i + 1..].iter().find(|other| overlap(new, other)) {
            return Err(CmdError::new(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not \
                 overlap.",
                show(new),
                show(other)
            )));
        }
    }
    Ok(())
}

pub fn client_tracking(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let on = if is(args[2], "on") {
        true
    } else if is(args[2], "off") {
        false
    } else {
        return Err(SYNTAX);
    };
    let (mut redirect, mut prefixes, mut bcast, mut optin, mut optout, mut noloop) =
        (None, Vec::new(), false, false, false, false);
    let mut j = 3;
    while j < args.len() {
        let option = args[j];
        if is(option, "redirect") && j + 1 < args.len() {
            j += 1;
            let id = int_arg(args[j])?;
            if id as u64 == ctx.session.id() {
                // Redirecting to oneself is the same as no redirection.
            } else if id <= 0 || !ctx.server.clients.is_in(id as u64, &ctx.tenant.name) {
                return Err(CmdError::new("ERR The client ID you want redirect to does not exist"));
            } else {
                redirect = Some(id as u64);
            }
        } else if is(option, "prefix") && j + 1 < args.len() {
            j += 1;
            prefixes.push(args[j].to_vec());
        } else if is(option, "bcast") {
            bcast = true;
        } else if is(option, "optin") {
            optin = true;
        } else if is(option, "optout") {
            optout = true;
        } else if is(option, "noloop") {
            noloop = true;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let id = ctx.session.id();
    if !on {
        ctx.ks.tracking.disable(id);
        ctx.session.info.set_flag(flag::TRACKING | flag::BCAST, false);
        report_changes(ctx);
        ctx.out.ok();
        return Ok(());
    }
    if !bcast && !prefixes.is_empty() {
        return Err(CmdError::new("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    if optin && optout {
        return Err(CmdError::new("ERR You can't use OPTIN and OPTOUT at the same time"));
    }
    if bcast && (optin || optout) {
        return Err(CmdError::new("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    let existing = match ctx.ks.tracking.get(id) {
        Some(current) if current.bcast != bcast => {
            return Err(CmdError::new(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then \
                 re-enabling it with a different mode.",
            ));
        }
        Some(current) => current.prefixes.clone(),
        None => Vec::new(),
    };
    check_prefixes(&existing, &prefixes)?;
    // Turning tracking on again adds prefixes to those already registered.
    let prefixes: Vec<Vec<u8>> = existing.into_iter().chain(prefixes).collect();
    let feed = ctx.session.feed();
    let tracker = crate::state::tracking::Tracker {
        redirect,
        bcast,
        prefixes,
        optin,
        optout,
        noloop,
        feed,
        resp: ctx.session.resp,
    };
    ctx.ks.tracking.enable(id, tracker);
    ctx.session.info.set_flag(flag::TRACKING, true);
    ctx.session.info.set_flag(flag::BCAST, bcast);
    report_changes(ctx);
    ctx.out.ok();
    Ok(())
}

/// Makes the databases report every changed key while anyone tracks (and only then: it costs a copy of each
/// changed key).
fn report_changes(ctx: &mut Ctx) {
    let on = ctx.ks.tracking.is_active();
    for db in ctx.ks.dbs.iter_mut() {
        db.set_report_all(on);
        if !on {
            db.take_touched();
        }
    }
}

/// Ends the session's tracking (RESET, disconnect).
pub fn stop_tracking(ks: &mut crate::state::tenant::Keyspace, client: u64) {
    if ks.tracking.get(client).is_some() {
        ks.tracking.disable(client);
        let on = ks.tracking.is_active();
        ks.dbs.iter_mut().for_each(|db| db.set_report_all(on));
    }
}

/// `CLIENT CACHING YES|NO`: whether the next command's reads are tracked (OPTIN/OPTOUT modes).
pub fn client_caching(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(t) = ctx.ks.tracking.get(ctx.session.id()) else {
        return Err(CmdError::new(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let (optin, optout) = (t.optin, t.optout);
    if !optin && !optout {
        return Err(CmdError::new(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    }
    if is(args[2], "yes") {
        if !optin {
            return Err(CmdError::new("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."));
        }
        ctx.session.caching = Some(true);
    } else if is(args[2], "no") {
        if !optout {
            return Err(CmdError::new("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."));
        }
        ctx.session.caching = Some(false);
    } else {
        return Err(SYNTAX);
    }
    ctx.out.ok();
    Ok(())
}

/// `CLIENT TRACKINGINFO`
pub fn client_trackinginfo(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let t = ctx.ks.tracking.get(ctx.session.id()).cloned();
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    match &t {
        None => {
            ctx.out.set(1);
            ctx.out.bulk(b"off");
        }
        Some(t) => {
            let mut flags: Vec<&[u8]> = vec![b"on"];
            if t.bcast {
                flags.push(b"bcast");
            }
            if t.optin {
                flags.push(b"optin");
                if ctx.session.caching == Some(true) {
                    flags.push(b"caching-yes");
                }
            }
            if t.optout {
                flags.push(b"optout");
                if ctx.session.caching == Some(false) {
                    flags.push(b"caching-no");
                }
            }
            if t.noloop {
                flags.push(b"noloop");
            }
            if t.redirect.is_some_and(|r| !ctx.server.clients.is_in(r, &ctx.tenant.name)) {
                flags.push(b"broken_redirect");
            }
            ctx.out.set(flags.len());
            flags.iter().for_each(|f| ctx.out.bulk(f));
        }
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(match &t {
        None => -1,
        Some(t) => t.redirect.map_or(0, |r| r as i64),
    });
    ctx.out.bulk(b"prefixes");
    // BCAST without prefixes tracks the empty prefix, as Redis reports it.
    let prefixes = match t {
        Some(t) if t.bcast && t.prefixes.is_empty() => vec![Vec::new()],
        Some(t) => t.prefixes,
        None => Vec::new(),
    };
    ctx.out.array(prefixes.len());
    prefixes.iter().for_each(|p| ctx.out.bulk(p));
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE | ALL]: holds this database's clients' commands (those that may write, or
/// all) for `timeout` milliseconds or until CLIENT UNPAUSE.
pub fn client_pause(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let timeout = std::str::from_utf8(args[2])
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let mode = match args.get(3).map(|m| m.to_ascii_lowercase()) {
        None => PauseMode::All,
        Some(m) if m == b"all" => PauseMode::All,
        Some(m) if m == b"write" => PauseMode::Write,
        Some(_) => return Err(CmdError::new("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    if args.len() > 4 {
        return Err(SYNTAX);
    }
    let until = std::time::Instant::now() + std::time::Duration::from_millis(timeout as u64);
    ctx.tenant.pause.start(until, mode);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNPAUSE
pub fn client_unpause(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.tenant.pause.stop();
    ctx.out.ok();
    Ok(())
}
