//! Blocking list commands over real sockets: FIFO serving by the write that makes a key ready, timeouts,
//! CLIENT UNBLOCK, disconnects, pipelining behind a blocked command.

mod common;
use common::{error_of, run, Raw, TestServer};
use keel_protocol::Frame;
use std::time::Duration;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

/// Waits until the server reports `n` blocked clients.
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    for _ in 0..200 {
        let info: String = run(c, &["INFO", "clients"]);
        if info.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never saw {n} blocked clients");
}

fn send(raw: &mut Raw, args: &[&str]) {
    let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        bytes.extend(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    raw.send(&bytes);
}

#[test]
fn immediate_when_data_is_there() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["RPUSH", "b", "x"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["BLPOP", "a", "b", "0"]), vec!["b", "x"]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "b"]), 0);
}

#[test]
fn waiters_are_served_in_the_order_they_blocked() {
    let s = TestServer::start();
    let mut writer = s.client();
    let mut waiters: Vec<Raw> = Vec::new();
    for i in 0..3 {
        let mut raw = s.raw();
        send(&mut raw, &["BLPOP", "queue", "0"]);
        wait_blocked(&mut writer, i + 1);
        waiters.push(raw);
    }
    assert_eq!(run::<i64>(&mut writer, &["RPUSH", "queue", "a", "b", "c", "d"]), 4);
    for (raw, expected) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(raw.read_frame(), Frame::Array(vec![bulk("queue"), bulk(expected)]));
    }
    assert_eq!(run::<Vec<String>>(&mut writer, &["LRANGE", "queue", "0", "-1"]), vec!["d"]);
    assert!(run::<String>(&mut writer, &["INFO", "clients"]).contains("blocked_clients:0"));
}

#[test]
fn timeouts_and_errors() {
    let s = TestServer::start();
    let mut c = s.client();
    let reply: redis::Value = run(&mut c, &["BLPOP", "nothing", "0.05"]);
    assert_eq!(reply, redis::Value::Nil);
    let reply: redis::Value = run(&mut c, &["BRPOPLPUSH", "nothing", "dst", "0.05"]);
    assert_eq!(reply, redis::Value::Nil);
    assert_eq!(error_of(&mut c, &["BLPOP", "k", "-1"]), "ERR timeout is negative");
    assert_eq!(error_of(&mut c, &["BLPOP", "k", "abc"]), "ERR timeout is not a float or out of range");
    run::<String>(&mut c, &["SET", "str", "v"]);
    assert_eq!(
        error_of(&mut c, &["BLPOP", "str", "0"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn client_unblock_and_disconnects() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut blocked = s.raw();
    blocked.send(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n");
    let Frame::Integer(id) = blocked.read_frame() else { panic!() };
    send(&mut blocked, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id.to_string()]), 1);
    assert_eq!(blocked.read_frame(), Frame::Null);
    send(&mut blocked, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id.to_string(), "ERROR"]), 1);
    assert_eq!(blocked.read_frame(), Frame::Error(b"UNBLOCKED client unblocked via CLIENT UNBLOCK".to_vec()));
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id.to_string()]), 0);

    // A blocked client that goes away gives up its claim: the element stays for others.
    send(&mut blocked, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    drop(blocked);
    wait_blocked(&mut c, 0);
    run::<i64>(&mut c, &["RPUSH", "k", "kept"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "k", "0", "-1"]), vec!["kept"]);
}

#[test]
fn blocking_moves_and_multi_key_pops() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut mover = s.raw();
    send(&mut mover, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    let mut multi = s.raw();
    send(&mut multi, &["BLMPOP", "0", "2", "x", "y", "RIGHT", "COUNT", "2"]);
    let mut either = s.raw();
    send(&mut either, &["BRPOP", "p", "q", "0"]);
    wait_blocked(&mut c, 3);
    run::<i64>(&mut c, &["RPUSH", "src", "moved"]);
    assert_eq!(mover.read_frame(), bulk("moved"));
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]), vec!["moved"]);
    run::<i64>(&mut c, &["RPUSH", "y", "1", "2", "3"]);
    assert_eq!(multi.read_frame(), Frame::Array(vec![bulk("y"), Frame::Array(vec![bulk("3"), bulk("2")])]));
    run::<i64>(&mut c, &["LPUSH", "q", "v"]);
    assert_eq!(either.read_frame(), Frame::Array(vec![bulk("q"), bulk("v")]));
}

#[test]
fn commands_pipelined_behind_a_blocked_one_wait_their_turn() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut raw = s.raw();
    raw.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n*2\r\n$4\r\nECHO\r\n$5\r\nafter\r\n");
    wait_blocked(&mut c, 1);
    run::<i64>(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(raw.read_frame(), Frame::Array(vec![bulk("k"), bulk("v")]));
    assert_eq!(raw.read_frame(), bulk("after"));
}

#[test]
fn swapdb_wakes_clients_blocked_on_keys_that_now_hold_lists() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut blocked = s.raw();
    send(&mut blocked, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    run::<String>(&mut c, &["SELECT", "1"]);
    run::<i64>(&mut c, &["RPUSH", "k", "from-db1"]);
    run::<String>(&mut c, &["SWAPDB", "0", "1"]);
    assert_eq!(blocked.read_frame(), Frame::Array(vec![bulk("k"), bulk("from-db1")]));
}

#[test]
fn linked_and_circular_moves_are_served_in_one_write() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut first = s.raw();
    send(&mut first, &["BLMOVE", "list1", "list2", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    let mut second = s.raw();
    send(&mut second, &["BLMOVE", "list2", "list3", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut c, 2);
    run::<i64>(&mut c, &["RPUSH", "list1", "foo"]);
    assert_eq!(first.read_frame(), bulk("foo"));
    assert_eq!(second.read_frame(), bulk("foo"));
    assert!(run::<Vec<String>>(&mut c, &["LRANGE", "list1", "0", "-1"]).is_empty());
    assert!(run::<Vec<String>>(&mut c, &["LRANGE", "list2", "0", "-1"]).is_empty());
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "list3", "0", "-1"]), vec!["foo"]);

    // Two clients moving between two lists in a circle: each gets the element once.
    let mut a = s.raw();
    send(&mut a, &["BRPOPLPUSH", "ring1", "ring2", "0"]);
    wait_blocked(&mut c, 1);
    let mut b = s.raw();
    send(&mut b, &["BRPOPLPUSH", "ring2", "ring1", "0"]);
    wait_blocked(&mut c, 2);
    run::<i64>(&mut c, &["RPUSH", "ring1", "x"]);
    assert_eq!(a.read_frame(), bulk("x"));
    assert_eq!(b.read_frame(), bulk("x"));
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "ring1", "0", "-1"]), vec!["x"]);
}

#[test]
fn a_waiter_on_several_keys_is_served_once() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut blocked = s.raw();
    send(&mut blocked, &["BLPOP", "k1", "k2", "0"]);
    wait_blocked(&mut c, 1);
    run::<String>(&mut c, &["MSET", "unrelated", "1"]);
    run::<i64>(&mut c, &["RPUSH", "k2", "two"]);
    assert_eq!(blocked.read_frame(), Frame::Array(vec![bulk("k2"), bulk("two")]));
    run::<i64>(&mut c, &["RPUSH", "k1", "one"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "k1", "0", "-1"]), vec!["one"], "no stale waiter remains");
    wait_blocked(&mut c, 0);
}

/// A blocking command that times out counts as one call in INFO commandstats, as one that is served does.
#[test]
fn a_timed_out_blocking_command_counts_as_one_call() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    let popped: Option<Vec<String>> = run(&mut c, &["BLPOP", "nothing", "0.05"]);
    assert_eq!(popped, None);
    let stats: String = run(&mut c, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_blpop:calls=1,"), "{stats}");
}
