//! MULTI/EXEC/DISCARD over real sockets: queuing, per-command runtime errors, EXECABORT, blocking commands
//! inside a transaction, and atomicity against a concurrent writer.

mod common;
use common::{error_of, run, TestServer};
use keel_protocol::Frame;

#[test]
fn queue_and_execute() {
    let s = TestServer::start();
    let mut raw = s.raw();
    assert_eq!(raw.command(&[b"MULTI"]), Frame::Simple(b"OK".to_vec()));
    assert_eq!(raw.command(&[b"SET", b"k", b"v"]), Frame::Simple(b"QUEUED".to_vec()));
    assert_eq!(raw.command(&[b"LPUSH", b"k", b"x"]), Frame::Simple(b"QUEUED".to_vec()));
    assert_eq!(raw.command(&[b"INCR", b"n"]), Frame::Simple(b"QUEUED".to_vec()));
    assert_eq!(raw.command(&[b"BLPOP", b"empty", b"0"]), Frame::Simple(b"QUEUED".to_vec()));
    assert_eq!(
        raw.command(&[b"EXEC"]),
        Frame::Array(vec![
            Frame::Simple(b"OK".to_vec()),
            Frame::Error(b"WRONGTYPE Operation against a key holding the wrong kind of value".to_vec()),
            Frame::Integer(1),
            Frame::Null,
        ]),
        "runtime errors stay per command; blocking commands do not block inside a transaction"
    );
}

#[test]
fn rejected_commands_abort_the_transaction() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut raw = s.raw();
    raw.command(&[b"MULTI"]);
    raw.command(&[b"SET", b"k", b"v"]);
    assert!(matches!(raw.command(&[b"NOSUCHCOMMAND"]), Frame::Error(_)));
    assert!(matches!(raw.command(&[b"GET"]), Frame::Error(_)));
    assert_eq!(
        raw.command(&[b"EXEC"]),
        Frame::Error(b"EXECABORT Transaction discarded because of previous errors.".to_vec())
    );
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "k"]), 0, "nothing of an aborted transaction runs");
    assert_eq!(error_of(&mut c, &["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(error_of(&mut c, &["DISCARD"]), "ERR DISCARD without MULTI");
    raw.command(&[b"MULTI"]);
    assert_eq!(raw.command(&[b"MULTI"]), Frame::Error(b"ERR MULTI calls can not be nested".to_vec()));
    raw.command(&[b"SET", b"k", b"v"]);
    assert_eq!(raw.command(&[b"DISCARD"]), Frame::Simple(b"OK".to_vec()));
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "k"]), 0, "DISCARD drops the queue");
    raw.command(&[b"MULTI"]);
    assert_eq!(raw.command(&[b"SHUTDOWN"]), Frame::Error(b"ERR Command not allowed inside a transaction".to_vec()));
    assert!(matches!(raw.command(&[b"EXEC"]), Frame::Error(e) if e.starts_with(b"EXECABORT")));
}

#[test]
fn exec_is_atomic_against_concurrent_writers() {
    let s = TestServer::start();
    let addr = s.url();
    let writer = std::thread::spawn(move || {
        let mut c = redis::Client::open(addr).unwrap().get_connection().unwrap();
        for _ in 0..2000 {
            let _: i64 = redis::cmd("INCR").arg("counter").query(&mut c).unwrap();
        }
    });
    let mut c = s.client();
    for _ in 0..20 {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for _ in 0..200 {
            pipe.cmd("INCR").arg("counter");
        }
        let values: Vec<i64> = pipe.query(&mut c).unwrap();
        // No other client's INCR may land between the commands of one EXEC.
        assert!(values.windows(2).all(|w| w[1] == w[0] + 1), "{values:?}");
    }
    writer.join().unwrap();
    assert_eq!(run::<i64>(&mut c, &["GET", "counter"]), 2000 + 20 * 200);
}

/// Runs MULTI, SET key value, EXEC on `raw` and returns EXEC's reply.
fn exec_set(raw: &mut common::Raw, key: &[u8], value: &[u8]) -> Frame {
    raw.command(&[b"MULTI"]);
    raw.command(&[b"SET", key, value]);
    raw.command(&[b"EXEC"])
}

#[test]
fn watch_aborts_exec_when_a_watched_key_changes() {
    let s = TestServer::start();
    let mut other = s.client();
    let mut raw = s.raw();
    let committed = Frame::Array(vec![Frame::Simple(b"OK".to_vec())]);

    raw.command(&[b"WATCH", b"k"]);
    assert_eq!(exec_set(&mut raw, b"k", b"mine"), committed, "unchanged watched key: EXEC runs");

    raw.command(&[b"WATCH", b"k"]);
    run::<String>(&mut other, &["SET", "k", "theirs"]);
    assert_eq!(exec_set(&mut raw, b"k", b"mine"), Frame::Null, "a write by another client aborts EXEC");
    assert_eq!(run::<String>(&mut other, &["GET", "k"]), "theirs");
    assert_eq!(exec_set(&mut raw, b"k", b"mine"), committed, "EXEC forgets the watches");

    raw.command(&[b"WATCH", b"missing"]);
    run::<i64>(&mut other, &["RPUSH", "missing", "x"]);
    assert_eq!(exec_set(&mut raw, b"a", b"1"), Frame::Null, "creating a watched key counts");

    raw.command(&[b"WATCH", b"k"]);
    run::<String>(&mut other, &["FLUSHDB"]);
    assert_eq!(exec_set(&mut raw, b"a", b"1"), Frame::Null, "FLUSHDB counts");

    run::<String>(&mut other, &["SET", "k", "v"]);
    raw.command(&[b"WATCH", b"k"]);
    run::<String>(&mut other, &["SELECT", "1"]);
    run::<String>(&mut other, &["SWAPDB", "0", "1"]);
    assert_eq!(exec_set(&mut raw, b"a", b"1"), Frame::Null, "SWAPDB counts");

    run::<String>(&mut other, &["SELECT", "0"]);
    run::<String>(&mut other, &["SET", "t", "v", "PX", "30"]);
    raw.command(&[b"WATCH", b"t"]);
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(exec_set(&mut raw, b"a", b"1"), Frame::Null, "expiry counts");

    raw.command(&[b"WATCH", b"k"]);
    assert_eq!(raw.command(&[b"UNWATCH"]), Frame::Simple(b"OK".to_vec()));
    run::<String>(&mut other, &["SET", "k", "again"]);
    assert_eq!(exec_set(&mut raw, b"k", b"mine"), committed, "UNWATCH forgets");

    raw.command(&[b"MULTI"]);
    assert_eq!(raw.command(&[b"WATCH", b"k"]), Frame::Error(b"ERR WATCH inside MULTI is not allowed".to_vec()));
    raw.command(&[b"DISCARD"]);
}

#[test]
fn blocked_clients_see_a_transaction_as_a_whole() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut blocked = s.raw();
    blocked.send(b"*3\r\n$5\r\nBLPOP\r\n$4\r\nlist\r\n$1\r\n0\r\n");
    for _ in 0..200 {
        if run::<String>(&mut c, &["INFO", "clients"]).contains("blocked_clients:1\r\n") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("LPUSH").arg("list").arg("a").cmd("DEL").arg("list");
    let _: redis::Value = pipe.query(&mut c).unwrap();
    // A key that is a string when the transaction ends does not serve a list waiter either.
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("LPUSH").arg("list").arg("a").cmd("DEL").arg("list").cmd("SET").arg("list").arg("s");
    let _: redis::Value = pipe.query(&mut c).unwrap();
    run::<i64>(&mut c, &["DEL", "list"]);
    run::<i64>(&mut c, &["LPUSH", "list", "b"]);
    assert_eq!(
        blocked.read_frame(),
        Frame::Array(vec![Frame::Bulk(b"list".to_vec()), Frame::Bulk(b"b".to_vec())]),
        "an element pushed and deleted inside one transaction wakes nobody"
    );
}

#[test]
fn an_smove_that_changes_nothing_keeps_the_watch() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["SADD", "src", "a", "b"]);
    run::<i64>(&mut c, &["SADD", "dst", "a"]);
    let mut raw = s.raw();
    raw.command(&[b"WATCH", b"dst"]);
    assert_eq!(run::<i64>(&mut c, &["SMOVE", "src", "dst", "a"]), 1);
    raw.command(&[b"MULTI"]);
    raw.command(&[b"SADD", b"dst", b"c"]);
    assert_eq!(raw.command(&[b"EXEC"]), Frame::Array(vec![Frame::Integer(1)]));
    assert_eq!(run::<i64>(&mut c, &["SCARD", "dst"]), 2);
}

/// CLIENT LIST names the command the client sent, EXEC, not the last one EXEC ran (Redis's suites wait on it).
#[test]
fn client_list_shows_exec_not_the_commands_it_ran() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["SET", "k", "v"]);
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("GET").arg("k");
    pipe.query::<redis::Value>(&mut c).unwrap();
    let list: String = run(&mut s.client(), &["CLIENT", "LIST"]);
    assert!(list.lines().any(|l| l.contains(" cmd=exec ")), "{list}");
}
