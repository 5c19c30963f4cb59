//! List commands over real sockets.

mod common;
use common::{changes, error_of, run, TestServer};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn push_pop_range_index() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["RPUSH", "l", "a", "b", "c"]), 3);
    assert_eq!(run::<i64>(&mut c, &["LPUSH", "l", "z"]), 4);
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "l", "0", "-1"]), vec!["z", "a", "b", "c"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "l", "-2", "100"]), vec!["b", "c"]);
    assert!(run::<Vec<String>>(&mut c, &["LRANGE", "l", "3", "1"]).is_empty());
    assert_eq!(run::<String>(&mut c, &["LINDEX", "l", "-1"]), "c");
    assert_eq!(run::<Option<String>>(&mut c, &["LINDEX", "l", "9"]), None);
    assert_eq!(run::<i64>(&mut c, &["LLEN", "l"]), 4);
    assert_eq!(run::<String>(&mut c, &["LPOP", "l"]), "z");
    assert_eq!(run::<Vec<String>>(&mut c, &["RPOP", "l", "2"]), vec!["c", "b"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["LPOP", "l", "0"]), Vec::<String>::new());
    assert_eq!(run::<String>(&mut c, &["RPOP", "l"]), "a");
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "l"]), 0, "an emptied list disappears");
    assert_eq!(run::<Option<String>>(&mut c, &["LPOP", "l"]), None);
    let nil: redis::Value = run(&mut c, &["LPOP", "l", "2"]);
    assert_eq!(nil, redis::Value::Nil);
    assert_eq!(run::<i64>(&mut c, &["LPUSHX", "l", "x"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "l"]), 0);
    assert_eq!(error_of(&mut c, &["LPOP", "l", "-1"]), "ERR value is out of range, must be positive");
    run::<String>(&mut c, &["SET", "s", "v"]);
    assert_eq!(error_of(&mut c, &["LPUSH", "s", "x"]), WRONGTYPE);
    assert_eq!(error_of(&mut c, &["LRANGE", "s", "0", "1"]), WRONGTYPE);
    run::<i64>(&mut c, &["RPUSH", "l2", "x"]);
    assert_eq!(error_of(&mut c, &["GET", "l2"]), WRONGTYPE);
    assert_eq!(error_of(&mut c, &["INCR", "l2"]), WRONGTYPE);
    assert_eq!(run::<String>(&mut c, &["TYPE", "l2"]), "list");
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "l2"]), "quicklist");
}

#[test]
fn edits_in_the_middle() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(run::<String>(&mut c, &["LSET", "l", "1", "B"]), "OK");
    assert_eq!(error_of(&mut c, &["LSET", "l", "9", "x"]), "ERR index out of range");
    assert_eq!(error_of(&mut c, &["LSET", "nope", "0", "x"]), "ERR no such key");
    assert_eq!(run::<i64>(&mut c, &["LINSERT", "l", "BEFORE", "c", "x"]), 6);
    assert_eq!(run::<i64>(&mut c, &["LINSERT", "l", "AFTER", "zz", "x"]), -1);
    assert_eq!(run::<i64>(&mut c, &["LINSERT", "nope", "AFTER", "a", "x"]), 0);
    assert_eq!(error_of(&mut c, &["LINSERT", "l", "MIDDLE", "a", "x"]), "ERR syntax error");
    assert_eq!(run::<i64>(&mut c, &["LREM", "l", "-1", "a"]), 1);
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "l", "0", "-1"]), vec!["a", "B", "a", "x", "c"]);
    assert_eq!(run::<i64>(&mut c, &["LREM", "l", "0", "a"]), 2);
    assert_eq!(run::<String>(&mut c, &["LTRIM", "l", "1", "-1"]), "OK");
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "l", "0", "-1"]), vec!["x", "c"]);
    assert_eq!(run::<String>(&mut c, &["LTRIM", "l", "5", "10"]), "OK");
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "l"]), 0);
}

#[test]
fn lpos_options() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
    assert_eq!(run::<i64>(&mut c, &["LPOS", "l", "c"]), 2);
    assert_eq!(run::<i64>(&mut c, &["LPOS", "l", "c", "RANK", "2"]), 6);
    assert_eq!(run::<i64>(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), 7);
    assert_eq!(run::<Vec<i64>>(&mut c, &["LPOS", "l", "c", "COUNT", "0"]), vec![2, 6, 7]);
    assert_eq!(run::<Vec<i64>>(&mut c, &["LPOS", "l", "c", "RANK", "-1", "COUNT", "2"]), vec![7, 6]);
    assert_eq!(run::<Vec<i64>>(&mut c, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "3"]), vec![2]);
    assert_eq!(run::<Option<i64>>(&mut c, &["LPOS", "l", "zz"]), None);
    assert!(error_of(&mut c, &["LPOS", "l", "c", "RANK", "0"]).starts_with("ERR RANK can't be zero"));
    assert_eq!(error_of(&mut c, &["LPOS", "l", "c", "COUNT", "-1"]), "ERR COUNT can't be negative");
    assert_eq!(error_of(&mut c, &["LPOS", "l", "c", "MAXLEN", "-1"]), "ERR MAXLEN can't be negative");
}

#[test]
fn moves_between_lists() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["RPUSH", "src", "a", "b", "c"]);
    assert_eq!(run::<String>(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), "a");
    assert_eq!(run::<String>(&mut c, &["RPOPLPUSH", "src", "dst"]), "c");
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]), vec!["c", "a"]);
    assert_eq!(run::<String>(&mut c, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]), "c", "rotation");
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]), vec!["a", "c"]);
    assert_eq!(run::<Option<String>>(&mut c, &["LMOVE", "nope", "dst", "LEFT", "LEFT"]), None);
    run::<String>(&mut c, &["SET", "str", "v"]);
    assert_eq!(error_of(&mut c, &["LMOVE", "src", "str", "LEFT", "LEFT"]), WRONGTYPE);
    assert_eq!(run::<i64>(&mut c, &["LLEN", "src"]), 1, "nothing is popped when the destination is wrong");
    let got: (String, Vec<String>) = run(&mut c, &["LMPOP", "2", "nope", "dst", "RIGHT", "COUNT", "5"]);
    assert_eq!(got, ("dst".to_string(), vec!["c".to_string(), "a".to_string()]));
    assert_eq!(run::<redis::Value>(&mut c, &["LMPOP", "1", "dst", "LEFT"]), redis::Value::Nil);
    assert_eq!(error_of(&mut c, &["LMPOP", "0", "a", "LEFT"]), "ERR numkeys should be greater than 0");
    assert_eq!(error_of(&mut c, &["LMPOP", "1", "a", "LEFT", "COUNT", "0"]), "ERR count should be greater than 0");
    assert_eq!(error_of(&mut c, &["LMPOP", "5", "a", "LEFT"]), "ERR syntax error");
}

/// A move counts one change, as Redis counts it, whether LMOVE runs at once or a BLMOVE is served by a
/// push (which counts its own).
#[test]
fn a_move_counts_one_change_blocked_or_not() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["RPUSH", "src", "a", "b"]);
    let before = changes(&mut c);
    run::<String>(&mut c, &["LMOVE", "src", "dst", "LEFT", "LEFT"]);
    run::<String>(&mut c, &["RPOPLPUSH", "src", "dst"]);
    assert_eq!(changes(&mut c), before + 2);

    let mut blocked = s.raw();
    blocked.send(b"BLMOVE empty dst LEFT LEFT 0\r\n");
    common::wait_for(|| run::<String>(&mut c, &["INFO", "clients"]).contains("blocked_clients:1"));
    let before = changes(&mut c);
    run::<i64>(&mut c, &["LPUSH", "empty", "x"]);
    blocked.expect(b"$1\r\nx\r\n");
    assert_eq!(changes(&mut c), before + 2);
}
