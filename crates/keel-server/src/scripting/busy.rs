//! What a connection answers while another client's script holds the database past `busy-reply-threshold`
//! (Redis's processCommand in a busy script): once the gate (`admission`) has admitted an `allow_busy`
//! command, SCRIPT KILL, FUNCTION KILL, FUNCTION STATS and SHUTDOWN NOSAVE are served without the lock,
//! AUTH and HELLO log in, MULTI and DISCARD keep the transaction's state, QUIT closes, and everything else
//! gets `BUSY`.

use super::status::{KillRefused, ScriptStatus};
use crate::clients::flag;
use crate::commands::{is, Command};
use crate::session::{Session, Transaction};
use crate::tenant::Tenant;
use keel_protocol::ReplyWriter;

/// What the connection does after a command answered while busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterBusy {
    Continue,
    Close,
    Shutdown,
}

const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

fn kill(status: &ScriptStatus, function: bool, out: &mut ReplyWriter) {
    match status.request_kill(function) {
        Ok(()) => out.ok(),
        Err(KillRefused::NotBusy) => out.error("NOTBUSY No scripts in execution right now."),
        Err(KillRefused::Wrote) => out.error(UNKILLABLE),
        Err(KillRefused::WrongKind(busy)) => out.error(busy),
    }
}

fn function_stats(status: &ScriptStatus, out: &mut ReplyWriter) {
    out.map(2);
    out.bulk(b"running_script");
    match status.running() {
        Some((name, command, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(command.len());
            for arg in &command {
                out.bulk(arg);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        None => out.null(),
    }
    // The library counts sit behind the lock the script holds.
    out.bulk(b"engines");
    out.map(0);
}

/// Answers an admitted `allow_busy` command while a script is busy, without the lock the script holds;
/// `busy` is the BUSY text for what cannot be served this way.
pub fn answer(
    server: &crate::server::Server,
    tenant: &Tenant,
    session: &mut Session,
    command: &Command,
    args: &[&[u8]],
    busy: &str,
    out: &mut ReplyWriter,
) -> AfterBusy {
    let status = &tenant.scripts;
    match command.fullname.as_str() {
        "multi" if session.transaction.is_some() => out.error("ERR MULTI calls can not be nested"),
        "multi" => {
            session.transaction = Some(Transaction::default());
            session.info.set_flag(flag::MULTI, true);
            out.ok();
        }
        "discard" if session.transaction.is_some() => {
            session.transaction = None;
            session.info.set_flag(flag::MULTI, false);
            out.ok();
        }
        "auth" => {
            if let Err(e) = crate::commands::auth_unlocked(server, tenant, session, args, out) {
                out.error(&e.0);
            }
        }
        // Messages on their way to a subscriber or tracker would need reframing, which needs the lock.
        "hello" if !session.subscriptions.is_empty() || session.info.has_flag(flag::TRACKING) => {
            refuse(session, busy, out)
        }
        "hello" => match crate::commands::hello_unlocked(server, tenant, session, args) {
            Ok(_) => crate::commands::hello_reply(session, out),
            Err(e) => out.error(&e.0),
        },
        "script|kill" => kill(status, false, out),
        "function|kill" => kill(status, true, out),
        "function|stats" => function_stats(status, out),
        "quit" => {
            out.ok();
            return AfterBusy::Close;
        }
        "shutdown" if args[1..].iter().any(|a| is(a, "nosave")) => {
            status.force_kill();
            let p = &tenant.persistence;
            p.skip_final_save.store(true, std::sync::atomic::Ordering::Relaxed);
            return AfterBusy::Shutdown;
        }
        _ => refuse(session, busy, out),
    }
    AfterBusy::Continue
}

fn refuse(session: &mut Session, busy: &str, out: &mut ReplyWriter) {
    match &mut session.transaction {
        Some(transaction) => {
            transaction.aborted = true;
            out.error(busy);
        }
        None => out.error(busy),
    }
}
