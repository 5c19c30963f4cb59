//! MIGRATE (Redis's migrateCommand): moves keys to another Redis or Keel. They go as RESTORE commands
//! carrying DUMP payloads, after AUTH and SELECT, over a connection kept for the next MIGRATE to the same
//! place (`state/migrate_sockets.rs`); each key the target restored is deleted here (unless COPY), with a
//! `del` event, and logged and replicated as DEL. A failed connection is retried once when nothing was
//! processed yet and it did not time out, as Redis does.
//!
//! Like Redis's, the transfer is synchronous: the database's other clients wait for it, each step at most
//! `timeout`. Only the server's own database may run it (the command is SERVER_ONLY): a provisioned
//! database's clients never make the server open a connection anywhere.

use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX};
use crate::notify;
use crate::state::migrate_sockets::MigrateSockets;
use std::io::{BufRead, Write};
use std::time::Duration;

/// A reply line longer than this from the target is cut (Redis reads into a 1 KB buffer).
const REPLY_LINE_MAX: usize = 1024;

/// What went wrong talking to the target.
enum Failure {
    Connect,
    Write,
    Read,
}

/// What the target said: an error (the first, from AUTH, SELECT or a RESTORE), which keys it restored, and
/// whether the connection failed partway.
struct Outcome {
    target_error: Option<String>,
    restored: Vec<bool>,
    broken: bool,
}

/// One key to send: its name, TTL in milliseconds (0: none) and DUMP payload.
struct Outgoing<'a> {
    key: &'a [u8],
    ttl: u64,
    payload: Vec<u8>,
}

/// Where and how: the target's address, database, credentials and options.
struct Request<'a> {
    addr: String,
    db: i64,
    timeout: Duration,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    replace: bool,
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password | AUTH2 username
/// password] [KEYS key...]
pub fn migrate(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let (mut first_key, mut num_keys) = (3, 1);
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(args[j], "copy") {
            copy = true;
        } else if is(args[j], "replace") {
            replace = true;
        } else if is(args[j], "auth") {
            if more == 0 {
                return Err(SYNTAX);
            }
            auth = Some((None, args[j + 1]));
            j += 1;
        } else if is(args[j], "auth2") {
            if more < 2 {
                return Err(SYNTAX);
            }
            auth = Some((Some(args[j + 1]), args[j + 2]));
            j += 2;
        } else if is(args[j], "keys") {
            if !args[3].is_empty() {
                return Err(CmdError::new(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            first_key = j + 1;
            num_keys = args.len() - j - 1;
            break;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let timeout = int_arg(args[5])?;
    let db = int_arg(args[4])?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    let outgoing = collect_keys(ctx, &args[first_key..first_key + num_keys]);
    if outgoing.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let host = String::from_utf8_lossy(args[1]);
    let port = String::from_utf8_lossy(args[2]);
    let request = Request { addr: format!("{host}:{port}"), db, timeout, auth, replace };
    let sockets = &mut ctx.ks.migrate;
    let outcome = tokio::task::block_in_place(|| transfer(sockets, &request, &outgoing));
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(Failure::Connect) => return Err(CmdError::new("IOERR error or timeout connecting to the client")),
        Err(Failure::Write) => return Err(CmdError::new("IOERR error or timeout writing to target instance")),
        Err(Failure::Read) => return Err(CmdError::new("IOERR error or timeout reading to target instance")),
    };
    if !copy {
        delete_restored(ctx, &outgoing, &outcome.restored);
    }
    match (outcome.target_error, outcome.broken) {
        (Some(error), _) => Err(CmdError::new(format!("ERR Target instance replied with error: {error}"))),
        (None, true) => Err(CmdError::new("IOERR error or timeout reading to target instance")),
        (None, false) => {
            ctx.out.ok();
            Ok(())
        }
    }
}

/// The keys that exist, with their TTLs and payloads.
fn collect_keys<'a>(ctx: &mut Ctx, keys: &[&'a [u8]]) -> Vec<Outgoing<'a>> {
    let now = ctx.now_ms();
    let mut outgoing = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(slot) = ctx.lookup_read(key) else { continue };
        let db = &ctx.ks.dbs[ctx.session.db];
        let ttl = db.expire_at(slot).map_or(0, |at| at.saturating_sub(now).max(1));
        outgoing.push(Outgoing { key, ttl, payload: keel_persist::dump::dump(db.value(slot)) });
    }
    outgoing
}

/// Deletes the keys the target restored, as DEL would, and logs them as one DEL.
fn delete_restored(ctx: &mut Ctx, outgoing: &[Outgoing], restored: &[bool]) {
    let mut deleted: Vec<&[u8]> = vec![b"DEL"];
    for (key, _) in outgoing.iter().map(|o| o.key).zip(restored).filter(|(_, done)| **done) {
        if ctx.db().remove(key).is_some() {
            ctx.notify(notify::GENERIC, "del", key);
            ctx.dirty(1);
            deleted.push(key);
        }
    }
    if deleted.len() > 1 {
        ctx.propagate(&deleted);
    }
}

/// Sends the keys and reads the replies, once more on a fresh connection when the first attempt failed
/// before the target processed anything and not by timing out.
fn transfer(sockets: &mut MigrateSockets, request: &Request, outgoing: &[Outgoing]) -> Result<Outcome, Failure> {
    let mut may_retry = true;
    loop {
        match attempt(sockets, request, outgoing) {
            Ok(outcome) => {
                if outcome.broken {
                    sockets.close(&request.addr);
                }
                return Ok(outcome);
            }
            Err((failure, timed_out)) => {
                sockets.close(&request.addr);
                if matches!(failure, Failure::Connect) || timed_out || !may_retry {
                    return Err(failure);
                }
                may_retry = false;
            }
        }
    }
}

/// One attempt. Err carries the failure and whether it was a timeout; a connection that breaks after the
/// target answered some of the keys is an outcome (`broken`), not a failure, since those keys moved.
fn attempt(sockets: &mut MigrateSockets, request: &Request, outgoing: &[Outgoing]) -> Result<Outcome, (Failure, bool)> {
    let socket = sockets.get(&request.addr, request.timeout).map_err(|_| (Failure::Connect, false))?;
    let select = socket.selected != Some(request.db);
    let mut commands = Vec::new();
    if let Some((user, password)) = request.auth {
        let mut auth: Vec<&[u8]> = vec![b"AUTH"];
        auth.extend(user);
        auth.push(password);
        keel_persist::aof::encode_command(&mut commands, &auth);
    }
    if select {
        keel_persist::aof::encode_command(&mut commands, &["SELECT".as_bytes(), request.db.to_string().as_bytes()]);
    }
    for key in outgoing {
        let ttl = key.ttl.to_string();
        let mut restore: Vec<&[u8]> = vec![b"RESTORE", key.key, ttl.as_bytes(), &key.payload];
        if request.replace {
            restore.push(b"REPLACE");
        }
        keel_persist::aof::encode_command(&mut commands, &restore);
    }
    let sent = socket.conn.get_mut().write_all(&commands).and_then(|()| socket.conn.get_mut().flush());
    sent.map_err(|e| (Failure::Write, timed_out(&e)))?;
    let auth_reply = match request.auth {
        Some(_) => Some(read_line(&mut socket.conn).map_err(|e| (Failure::Read, timed_out(&e)))?),
        None => None,
    };
    let select_reply = match select {
        true => Some(read_line(&mut socket.conn).map_err(|e| (Failure::Read, timed_out(&e)))?),
        false => None,
    };
    let preface_error = [&auth_reply, &select_reply].into_iter().flatten().find(|line| line.starts_with('-')).cloned();
    let mut outcome = Outcome { target_error: None, restored: vec![false; outgoing.len()], broken: false };
    for (j, restored) in outcome.restored.iter_mut().enumerate() {
        let line = match read_line(&mut socket.conn) {
            Ok(line) => line,
            Err(e) if j == 0 && outcome.target_error.is_none() => return Err((Failure::Read, timed_out(&e))),
            Err(_) => {
                outcome.broken = true;
                break;
            }
        };
        match preface_error.as_ref().or(line.starts_with('-').then_some(&line)) {
            Some(error) => {
                socket.selected = None;
                outcome.target_error.get_or_insert_with(|| error[1..].to_string());
            }
            None => *restored = true,
        }
    }
    if outcome.target_error.is_none() && !outcome.broken {
        socket.selected = Some(request.db);
    }
    Ok(outcome)
}

/// One reply line, without its line ending, cut at [`REPLY_LINE_MAX`] bytes.
fn read_line(conn: &mut std::io::BufReader<std::net::TcpStream>) -> std::io::Result<String> {
    let mut line = Vec::new();
    loop {
        let available = conn.fill_buf()?;
        if available.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let end = available.iter().position(|b| *b == b'\n');
        let take = end.map_or(available.len(), |at| at + 1);
        let room = REPLY_LINE_MAX.saturating_sub(line.len());
        line.extend_from_slice(&available[..take.min(room)]);
        conn.consume(take);
        if end.is_some() {
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

fn timed_out(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// MIGRATE's keys (Redis's migrateGetKeys): those after KEYS, or the one at argument 3.
pub fn find_keys(args: &[&[u8]]) -> Vec<(usize, super::key::KeyFlags)> {
    use super::key::{ACCESS, DELETE, RW};
    let keys_at = args.iter().enumerate().skip(6).find(|(_, a)| is(a, "keys")).map(|(at, _)| at);
    match keys_at {
        Some(at) => (at + 1..args.len()).map(|i| (i, RW | ACCESS | DELETE)).collect(),
        None => vec![(3, RW | ACCESS | DELETE)],
    }
}
