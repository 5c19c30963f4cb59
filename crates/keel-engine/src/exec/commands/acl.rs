//! The ACL command (Redis's acl.c commands) over the database's users in `crate::state::acl`: SETUSER, GETUSER,
//! DELUSER, LIST, USERS, WHOAMI, CAT, LOG, GENPASS, DRYRUN, SAVE, LOAD. Changes are saved at once.

use super::{int_arg, is, CmdError, CmdResult, Ctx, CATEGORIES};
use crate::exec::commands::Lookup;

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

fn saved(ctx: &Ctx) -> CmdResult {
    ctx.tenant.acl_changed(&ctx.server.commands).map_err(|e| CmdError::new(format!("ERR {e}")))
}

pub fn setuser(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = text(args[2]);
    let rules: Vec<String> = args[3..].iter().map(|a| text(a)).collect();
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let (before, after) = {
        let mut acl = ctx.tenant.acl.write();
        let before = acl.users.get(&name).cloned();
        acl.set_user(&name, &rules, &ctx.server.commands).map_err(|e| CmdError::new(format!("ERR {e}")))?;
        (before, acl.users.get(&name).cloned())
    };
    if let (Some(before), Some(after)) = (before, after) {
        if !after.keeps_channels_of(&before) {
            kill_revoked_subscribers(ctx, &after);
        }
    }
    saved(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// Disconnects the clients logged in as `user` that hold a subscription its channels no longer grant
/// (Redis's ACLKillPubsubClientsIfNeeded); this client after its reply.
fn kill_revoked_subscribers(ctx: &mut Ctx, user: &crate::state::acl::User) {
    let mut refused: Vec<u64> = Vec::new();
    for (kind, name, ids) in ctx.ks.pubsub.subscriptions() {
        if !user.channel_allowed(name, kind == crate::state::pubsub::Kind::Pattern) {
            refused.extend(ids);
        }
    }
    for client in ctx.server.clients.snapshot() {
        if refused.contains(&client.id) && client.in_tenant(&ctx.tenant.name) && *client.user.lock() == user.name {
            super::client::disconnect(ctx, &client);
        }
    }
}

pub fn getuser(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let acl = ctx.tenant.acl.read();
    let Some(user) = acl.users.get(&text(args[2])) else {
        ctx.out.null();
        return Ok(());
    };
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let mut flags = vec![if user.enabled { "on" } else { "off" }];
    if user.nopass {
        flags.push("nopass");
    }
    out.array(flags.len());
    flags.iter().for_each(|f| out.bulk(f.as_bytes()));
    out.bulk(b"passwords");
    out.array(user.passwords.len());
    user.passwords.iter().for_each(|p| out.bulk(p.as_bytes()));
    out.bulk(b"commands");
    out.bulk(user.commands_text(&ctx.server.commands).as_bytes());
    out.bulk(b"keys");
    out.bulk(user.keys_text().as_bytes());
    out.bulk(b"channels");
    // GETUSER lists the channels themselves, without the reset that ACL LIST writes first.
    let channels = user.channels_text();
    out.bulk(channels.trim_start_matches("resetchannels").trim_start().as_bytes());
    out.bulk(b"selectors");
    out.array(0);
    Ok(())
}

pub fn deluser(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let names: Vec<String> = args[2..].iter().map(|a| text(a)).collect();
    if names.iter().any(|n| n == "default") {
        return Err(CmdError::new("ERR The 'default' user cannot be removed"));
    }
    let removed: Vec<String> = {
        let mut acl = ctx.tenant.acl.write();
        names.into_iter().filter(|n| acl.users.remove(n).is_some()).collect()
    };
    // Clients authenticated as a removed user are disconnected, as in Redis; this one after its reply.
    for client in ctx.server.clients.snapshot() {
        if client.in_tenant(&ctx.tenant.name) && removed.contains(&client.user.lock()) {
            super::client::disconnect(ctx, &client);
        }
    }
    saved(ctx)?;
    ctx.out.int(removed.len() as i64);
    Ok(())
}

pub fn list(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let lines: Vec<String> = ctx.tenant.acl.read().users.values().map(|u| u.describe(&ctx.server.commands)).collect();
    ctx.out.array(lines.len());
    lines.iter().for_each(|l| ctx.out.bulk(l.as_bytes()));
    Ok(())
}

pub fn users(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let names: Vec<String> = ctx.tenant.acl.read().users.keys().cloned().collect();
    ctx.out.array(names.len());
    names.iter().for_each(|n| ctx.out.bulk(n.as_bytes()));
    Ok(())
}

pub fn whoami(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let name = ctx.session.acl_user.clone().unwrap_or_else(|| "default".into());
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

pub fn cat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::new(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            text(args[1])
        )));
    }
    let Some(category) = args.get(2) else {
        ctx.out.array(CATEGORIES.len());
        CATEGORIES.iter().for_each(|c| ctx.out.bulk(c.as_bytes()));
        return Ok(());
    };
    let wanted = text(category).to_ascii_lowercase();
    let bit = CATEGORIES
        .iter()
        .position(|c| *c == wanted)
        .ok_or_else(|| CmdError::new(format!("ERR Unknown category '{}'", text(category))))?;
    let names: Vec<String> = ctx
        .server
        .commands
        .all()
        .filter(|c| !c.is_container() && c.categories & (1 << bit) != 0)
        .map(|c| c.fullname.clone())
        .collect();
    ctx.out.array(names.len());
    names.iter().for_each(|n| ctx.out.bulk(n.as_bytes()));
    Ok(())
}

pub fn log(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut count = usize::MAX;
    if let Some(arg) = args.get(2) {
        if is(arg, "reset") {
            ctx.tenant.acl.write().log.clear();
            ctx.out.ok();
            return Ok(());
        }
        count = int_arg(arg)
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| CmdError::new("ERR value is out of range, must be positive"))? as usize;
    }
    let now = crate::clock::unix_ms();
    let acl = ctx.tenant.acl.read();
    let entries: Vec<_> = acl.log.iter().take(count).collect();
    let out = &mut *ctx.out;
    out.array(entries.len());
    for e in entries {
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.as_bytes());
        out.bulk(b"object");
        out.bulk(e.object.as_bytes());
        out.bulk(b"username");
        out.bulk(e.username.as_bytes());
        out.bulk(b"age-seconds");
        out.double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

pub fn genpass(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let bits = match args.get(2) {
        Some(arg) => int_arg(arg).ok().filter(|b| (1..=4096).contains(b)).ok_or_else(|| {
            CmdError::new("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
        })?,
        None => 256,
    } as usize;
    let chars = bits.div_ceil(4);
    let mut hex = crate::secrets::new_secret(chars.div_ceil(2));
    hex.truncate(chars);
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

pub fn dryrun(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = text(args[2]);
    let acl = ctx.tenant.acl.read();
    let user = acl.users.get(&name).ok_or_else(|| CmdError::new(format!("ERR User '{name}' not found")))?;
    let command = match ctx.server.commands.lookup(&args[3..]) {
        Lookup::Found(cmd) => cmd,
        _ => return Err(CmdError::new(format!("ERR Command '{}' not found", text(args[3])))),
    };
    let arity = command.spec.arity;
    let argc = (args.len() - 3) as i32;
    if (arity > 0 && argc != arity) || argc < -arity {
        return Err(CmdError::new(format!("ERR wrong number of arguments for '{}' command", command.fullname)));
    }
    match user.check(command, &args[3..]) {
        Ok(()) => ctx.out.ok(),
        Err(denial) => {
            let message = denial.message(command);
            ctx.out.bulk(message.trim_start_matches("NOPERM ").replacen("this", "This", 1).as_bytes());
        }
    }
    Ok(())
}

/// ACL RESTTOKEN user password (Keel's): a REST token that carries this user's rights, shown once.
pub fn resttoken(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = text(args[2]);
    let token = crate::secrets::new_secret(32);
    {
        let mut acl = ctx.tenant.acl.write();
        let user = acl.users.get_mut(&name).filter(|u| u.check_password(args[3]));
        let Some(user) = user else {
            return Err(CmdError::new(super::connection::WRONGPASS));
        };
        user.add_rest_token(crate::secrets::sha256_hex(token.as_bytes()));
    }
    saved(ctx)?;
    ctx.out.bulk(token.as_bytes());
    Ok(())
}

pub fn save(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    saved(ctx)?;
    ctx.out.ok();
    Ok(())
}

pub fn load(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let dir = ctx.tenant.persistence.dir.clone();
    ctx.tenant.acl.write().load(&dir, &ctx.server.commands).map_err(|e| CmdError::new(format!("ERR {e}")))?;
    saved(ctx)?;
    ctx.out.ok();
    Ok(())
}

pub fn help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    super::introspection::help_reply(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "RESTTOKEN <username> <password>",
            "    Make a REST API token that carries the user's rights (shown once).",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
