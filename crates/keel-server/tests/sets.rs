//! Set commands over real sockets, including the intset/listpack/hashtable conversions, the set algebra and
//! SSCAN.

mod common;
use common::{error_of, run, TestServer};
use std::collections::HashSet;

fn members(c: &mut redis::Connection, args: &[&str]) -> HashSet<String> {
    run::<Vec<String>>(c, args).into_iter().collect()
}

fn set_of(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn add_remove_membership() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["SADD", "s", "1", "2", "3", "2"]), 3);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "s"]), "intset");
    assert_eq!(run::<i64>(&mut c, &["SADD", "s", "a"]), 1);
    // A small set of strings is a listpack (Redis 7.2+), a table past 128 members or 64 bytes a member.
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "s"]), "listpack");
    run::<i64>(&mut c, &["SADD", "long", "a", &"x".repeat(65)]);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "long"]), "hashtable");
    let many: Vec<String> = (0..129).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "many"];
    sadd.extend(many.iter().map(String::as_str));
    run::<i64>(&mut c, &sadd);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "many"]), "hashtable");
    assert_eq!(members(&mut c, &["SMEMBERS", "s"]), set_of(&["1", "2", "3", "a"]));
    assert_eq!(run::<i64>(&mut c, &["SISMEMBER", "s", "2"]), 1);
    assert_eq!(run::<Vec<i64>>(&mut c, &["SMISMEMBER", "s", "2", "zz", "a"]), vec![1, 0, 1]);
    assert_eq!(run::<i64>(&mut c, &["SCARD", "s"]), 4);
    assert_eq!(run::<i64>(&mut c, &["SREM", "s", "1", "2", "3", "a", "zz"]), 4);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "s"]), 0, "an emptied set disappears");
    run::<String>(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "3"]);
    run::<i64>(&mut c, &["SADD", "ints", "1", "2", "3", "4"]);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "ints"]), "hashtable");
    run::<String>(&mut c, &["SET", "str", "v"]);
    assert_eq!(
        error_of(&mut c, &["SADD", "str", "x"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn random_members_and_moves() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["SADD", "s", "a", "b", "c", "d", "e"]);
    let picked: Vec<String> = run(&mut c, &["SRANDMEMBER", "s", "3"]);
    assert_eq!(picked.iter().collect::<HashSet<_>>().len(), 3);
    assert_eq!(run::<Vec<String>>(&mut c, &["SRANDMEMBER", "s", "-20"]).len(), 20);
    assert_eq!(run::<Vec<String>>(&mut c, &["SRANDMEMBER", "s", "100"]).len(), 5);
    let popped: Vec<String> = run(&mut c, &["SPOP", "s", "2"]);
    assert_eq!(popped.len(), 2);
    assert_eq!(run::<i64>(&mut c, &["SCARD", "s"]), 3);
    let one: String = run(&mut c, &["SPOP", "s"]);
    assert!(!popped.contains(&one));
    assert_eq!(error_of(&mut c, &["SPOP", "s", "-1"]), "ERR value is out of range, must be positive");
    let rest: Vec<String> = run(&mut c, &["SMEMBERS", "s"]);
    assert_eq!(run::<i64>(&mut c, &["SMOVE", "s", "t", &rest[0]]), 1);
    assert_eq!(run::<i64>(&mut c, &["SMOVE", "s", "t", "zz"]), 0);
    assert_eq!(run::<i64>(&mut c, &["SISMEMBER", "t", &rest[0]]), 1);
    assert_eq!(run::<Option<String>>(&mut c, &["SPOP", "nope"]), None);
}

#[test]
fn set_algebra() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["SADD", "a", "1", "2", "3", "x"]);
    run::<i64>(&mut c, &["SADD", "b", "2", "3", "4"]);
    run::<i64>(&mut c, &["SADD", "c", "3", "x"]);
    assert_eq!(members(&mut c, &["SINTER", "a", "b"]), set_of(&["2", "3"]));
    assert_eq!(members(&mut c, &["SINTER", "a", "b", "nope"]), set_of(&[]));
    assert_eq!(members(&mut c, &["SUNION", "a", "b", "nope"]), set_of(&["1", "2", "3", "4", "x"]));
    assert_eq!(members(&mut c, &["SDIFF", "a", "b", "c"]), set_of(&["1"]));
    assert_eq!(run::<i64>(&mut c, &["SINTERCARD", "2", "a", "b"]), 2);
    assert_eq!(run::<i64>(&mut c, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), 1);
    assert_eq!(error_of(&mut c, &["SINTERCARD", "0", "a"]), "ERR numkeys should be greater than 0");
    assert_eq!(error_of(&mut c, &["SINTERCARD", "1", "a", "LIMIT", "-1"]), "ERR LIMIT can't be negative");
    assert_eq!(run::<i64>(&mut c, &["SINTERSTORE", "dst", "a", "b"]), 2);
    assert_eq!(members(&mut c, &["SMEMBERS", "dst"]), set_of(&["2", "3"]));
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "dst"]), "intset");
    assert_eq!(run::<i64>(&mut c, &["SUNIONSTORE", "dst", "a", "c"]), 4);
    assert_eq!(run::<i64>(&mut c, &["SDIFFSTORE", "dst", "c", "a"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "dst"]), 0, "an empty result deletes the destination");
    run::<String>(&mut c, &["SET", "str", "v"]);
    assert_eq!(
        error_of(&mut c, &["SUNION", "a", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn sscan_returns_every_member() {
    let s = TestServer::start();
    let mut c = s.client();
    for i in 0..300 {
        run::<i64>(&mut c, &["SADD", "s", &format!("m{i}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    loop {
        let (next, batch): (String, Vec<String>) = run(&mut c, &["SSCAN", "s", &cursor, "COUNT", "20"]);
        seen.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 300);
    run::<i64>(&mut c, &["SADD", "ints", "1", "2", "3"]);
    let (next, all): (String, Vec<String>) = run(&mut c, &["SSCAN", "ints", "0"]);
    assert_eq!((next.as_str(), all.len()), ("0", 3));
    assert_eq!(error_of(&mut c, &["SSCAN", "s", "0", "TYPE", "string"]), "ERR syntax error");
}

/// SPOP with a count that takes the whole set reaches the log as the key's deletion (DEL, or UNLINK under
/// `lazyfree-lazy-server-del`), as Redis propagates it; a partial pop as the SREM of what it took.
#[test]
fn spop_of_a_whole_set_is_logged_as_its_deletion() {
    let dir = common::TestDir::new();
    {
        let s = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut c = s.client();
        run::<i64>(&mut c, &["SADD", "whole", "a", "b", "c"]);
        run::<i64>(&mut c, &["SADD", "lazy", "a", "b"]);
        run::<i64>(&mut c, &["SADD", "part", "a", "b", "c"]);
        assert_eq!(run::<Vec<String>>(&mut c, &["SPOP", "whole", "3"]).len(), 3);
        run::<()>(&mut c, &["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]);
        assert_eq!(run::<Vec<String>>(&mut c, &["SPOP", "lazy", "10"]).len(), 2);
        assert_eq!(run::<Vec<String>>(&mut c, &["SPOP", "part", "1"]).len(), 1);
        assert_eq!(run::<i64>(&mut c, &["EXISTS", "whole", "lazy", "part"]), 1);
    }
    let log = common::incremental_log_text(&dir.0);
    assert!(log.contains("$3\r\nDEL\r\n$5\r\nWHOLE\r\n"), "{log}");
    assert!(log.contains("$6\r\nUNLINK\r\n$4\r\nLAZY\r\n"), "{log}");
    assert!(log.contains("$4\r\nSREM\r\n$4\r\nPART\r\n"), "{log}");
    assert!(!log.contains("SPOP"), "{log}");
}
