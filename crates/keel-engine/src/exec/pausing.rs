//! Which commands CLIENT PAUSE WRITE holds back, as Redis decides: write commands and those that may
//! replicate (PUBLISH, PFCOUNT), scripts and functions unless they declare `no-writes`, and EXEC when it
//! queued any of those.

use crate::exec::commands::{flags, Command, Lookup};
use crate::exec::scripting::eval::shebang_flags;
use crate::exec::session::Session;
use crate::server::Server;
use crate::state::tenant::Keyspace;

/// Whether `command` (with `args`) may change the dataset or reach replicas.
pub fn may_write(server: &Server, ks: &Keyspace, session: &Session, command: &Command, args: &[&[u8]]) -> bool {
    if command.spec.name == "exec" {
        let Some(transaction) = &session.transaction else { return false };
        return transaction.queued.iter().any(|queued| {
            let queued: Vec<&[u8]> = queued.iter().map(Vec::as_slice).collect();
            match server.commands.lookup(&queued) {
                Lookup::Found(cmd) => command_may_write(ks, cmd, &queued),
                _ => false,
            }
        });
    }
    command_may_write(ks, command, args)
}

fn command_may_write(ks: &Keyspace, command: &Command, args: &[&[u8]]) -> bool {
    if !command.has(flags::WRITE) && !command.has(flags::MAY_REPLICATE) {
        return false;
    }
    let named = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).into_owned()).unwrap_or_default();
    let no_writes = match command.spec.name {
        "eval" => args.get(1).and_then(|body| shebang_flags(body).ok()).map(|(f, _)| f.no_writes),
        "evalsha" => ks.scripting.scripts.declares_no_writes(&named(1)),
        "fcall" => ks.scripting.functions.declares_no_writes(&named(1)),
        _ => None,
    };
    !no_writes.unwrap_or(false)
}
