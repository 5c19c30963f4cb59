//! Hash commands over real sockets, including the compact-to-table conversion and HSCAN.

mod common;
use common::{error_of, run, TestServer};
use std::collections::{HashMap, HashSet};

#[test]
fn set_get_delete() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(run::<i64>(&mut c, &["HSET", "h", "a", "10", "c", "3"]), 1);
    assert_eq!(run::<String>(&mut c, &["HMSET", "h", "d", "4"]), "OK");
    assert_eq!(run::<i64>(&mut c, &["HSETNX", "h", "a", "x"]), 0);
    assert_eq!(run::<i64>(&mut c, &["HSETNX", "h", "e", "5"]), 1);
    assert_eq!(run::<String>(&mut c, &["HGET", "h", "a"]), "10");
    assert_eq!(run::<Option<String>>(&mut c, &["HGET", "h", "zz"]), None);
    assert_eq!(
        run::<Vec<Option<String>>>(&mut c, &["HMGET", "h", "a", "zz", "b"]),
        vec![Some("10".into()), None, Some("2".into())]
    );
    let all: HashMap<String, String> = run(&mut c, &["HGETALL", "h"]);
    assert_eq!(all.len(), 5);
    assert_eq!(all["d"], "4");
    assert_eq!(run::<Vec<String>>(&mut c, &["HKEYS", "h"]).len(), 5);
    assert_eq!(run::<Vec<String>>(&mut c, &["HVALS", "h"]).len(), 5);
    assert_eq!(run::<i64>(&mut c, &["HLEN", "h"]), 5);
    assert_eq!(run::<i64>(&mut c, &["HEXISTS", "h", "a"]), 1);
    assert_eq!(run::<i64>(&mut c, &["HSTRLEN", "h", "a"]), 2);
    assert_eq!(run::<i64>(&mut c, &["HDEL", "h", "a", "b", "zz"]), 2);
    assert_eq!(run::<i64>(&mut c, &["HDEL", "h", "c", "d", "e"]), 3);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "h"]), 0, "an emptied hash disappears");
    assert_eq!(error_of(&mut c, &["HSET", "h", "a"]), "ERR wrong number of arguments for 'hset' command");
    assert_eq!(error_of(&mut c, &["HSET", "h", "a", "1", "b"]), "ERR wrong number of arguments for 'hset' command");
    run::<String>(&mut c, &["SET", "s", "v"]);
    assert_eq!(
        error_of(&mut c, &["HGET", "s", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn counters_in_fields() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["HINCRBY", "h", "n", "5"]), 5);
    assert_eq!(run::<i64>(&mut c, &["HINCRBY", "h", "n", "-7"]), -2);
    assert_eq!(run::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "1.5"]), "1.5");
    assert_eq!(run::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "0.25"]), "1.75");
    run::<i64>(&mut c, &["HSET", "h", "t", "text", "big", "9223372036854775807"]);
    assert_eq!(error_of(&mut c, &["HINCRBY", "h", "t", "1"]), "ERR hash value is not an integer");
    assert_eq!(error_of(&mut c, &["HINCRBY", "h", "big", "1"]), "ERR increment or decrement would overflow");
    assert_eq!(error_of(&mut c, &["HINCRBYFLOAT", "h", "t", "1"]), "ERR hash value is not a float");
    assert_eq!(error_of(&mut c, &["HINCRBY", "h", "n", "x"]), "ERR value is not an integer or out of range");
}

#[test]
fn encodings_follow_the_thresholds() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["HSET", "small", "a", "1"]);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "small"]), "listpack");
    let long = "x".repeat(65);
    run::<i64>(&mut c, &["HSET", "long", "a", &long]);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "long"]), "hashtable");
    run::<String>(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
    for i in 0..5 {
        run::<i64>(&mut c, &["HSET", "many", &format!("f{i}"), "v"]);
    }
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "many"]), "hashtable");
    assert_eq!(run::<i64>(&mut c, &["HLEN", "many"]), 5);
}

#[test]
fn hscan_and_hrandfield() {
    let s = TestServer::start();
    let mut c = s.client();
    for i in 0..500 {
        run::<i64>(&mut c, &["HSET", "h", &format!("field:{i}"), &i.to_string()]);
    }
    let mut cursor = "0".to_string();
    let mut seen = HashMap::new();
    loop {
        let (next, flat): (String, Vec<String>) = run(&mut c, &["HSCAN", "h", &cursor, "COUNT", "17"]);
        for pair in flat.chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 500);
    assert_eq!(seen["field:42"], "42");
    let (_, matched): (String, Vec<String>) = run(&mut c, &["HSCAN", "h", "0", "MATCH", "field:49*", "COUNT", "1000"]);
    assert_eq!(matched.len(), 22);
    let fields: Vec<String> = run(&mut c, &["HRANDFIELD", "h", "10"]);
    assert_eq!(fields.iter().collect::<HashSet<_>>().len(), 10);
    let repeated: Vec<String> = run(&mut c, &["HRANDFIELD", "h", "-1000"]);
    assert_eq!(repeated.len(), 1000);
    let with_values: Vec<String> = run(&mut c, &["HRANDFIELD", "h", "3", "WITHVALUES"]);
    assert_eq!(with_values.len(), 6);
    assert_eq!(run::<Option<String>>(&mut c, &["HRANDFIELD", "nope"]), None);
}

#[test]
fn hgetdel_returns_and_removes_fields_and_is_logged_as_hdel() {
    let dir = common::TestDir::new();
    let start = || TestServer::on_dir(&dir.0, |s| s.save = String::new());
    {
        let s = start();
        let mut c = s.client();
        run::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        let got: Vec<Option<String>> = run(&mut c, &["HGETDEL", "h", "FIELDS", "3", "a", "missing", "c"]);
        assert_eq!(got, [Some("1".to_string()), None, Some("3".to_string())]);
        assert_eq!(run::<Vec<String>>(&mut c, &["HKEYS", "h"]), ["b"]);
        let last: Vec<Option<String>> = run(&mut c, &["HGETDEL", "h", "fields", "1", "b"]);
        assert_eq!(last, [Some("2".to_string())]);
        assert_eq!(run::<i64>(&mut c, &["EXISTS", "h"]), 0, "the emptied hash is gone");
        let none: Vec<Option<String>> = run(&mut c, &["HGETDEL", "nohash", "FIELDS", "2", "x", "y"]);
        assert_eq!(none, [None, None]);
        run::<()>(&mut c, &["HSET", "kept", "x", "1", "y", "2"]);
        run::<Vec<Option<String>>>(&mut c, &["HGETDEL", "kept", "FIELDS", "1", "x"]);
        for (args, error) in [
            (
                &["HGETDEL", "kept", "FIELD", "1", "x"][..],
                "ERR Mandatory argument FIELDS is missing or not at the right position",
            ),
            (&["HGETDEL", "kept", "FIELDS", "0", "x"][..], "ERR Number of fields must be a positive integer"),
            (
                &["HGETDEL", "kept", "FIELDS", "2", "x"][..],
                "ERR The `numfields` parameter must match the number of arguments",
            ),
        ] {
            assert_eq!(error_of(&mut c, args), error, "{args:?}");
        }
        run::<()>(&mut c, &["SET", "s", "v"]);
        assert!(error_of(&mut c, &["HGETDEL", "s", "FIELDS", "1", "x"]).starts_with("WRONGTYPE"));
    }
    // The log holds the HDEL of what was removed, never HGETDEL itself; replayed, the dataset is the same.
    let log = common::incremental_log_text(&dir.0);
    assert!(log.contains("HDEL") && !log.contains("HGETDEL"), "{log}");
    let s = start();
    let mut c = s.client();
    assert_eq!(run::<Vec<String>>(&mut c, &["HKEYS", "kept"]), ["y"]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "h"]), 0);
}

/// HSCAN NOVALUES (Redis 7.4) lists fields alone; the other scans refuse it with Redis's words.
#[test]
fn hscan_novalues_lists_fields_only() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    let (cursor, mut fields): (String, Vec<String>) = run(&mut c, &["HSCAN", "h", "0", "NOVALUES", "COUNT", "10"]);
    fields.sort();
    assert_eq!((cursor.as_str(), fields), ("0", vec!["a".to_string(), "b".to_string()]));
    run::<()>(&mut c, &["SADD", "s", "x"]);
    for args in [&["SCAN", "0", "NOVALUES"][..], &["SSCAN", "s", "0", "NOVALUES"]] {
        assert_eq!(error_of(&mut c, args), "ERR NOVALUES option can only be used in HSCAN");
    }
    // Redis 7.2's set listpack thresholds are settings clients and suites set.
    run::<()>(&mut c, &["CONFIG", "SET", "set-max-listpack-entries", "16", "lazyfree-lazy-server-del", "yes"]);
}

#[test]
fn an_encoding_limit_set_applies_to_the_next_command_pipelined_or_in_the_same_transaction() {
    let s = TestServer::start();
    let mut raw = s.raw();
    // CONFIG SET and the HSET after it arrive in one read, and run in one batch.
    raw.send(b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$25\r\nhash-max-listpack-entries\r\n$1\r\n0\r\n*4\r\n$4\r\nHSET\r\n$1\r\np\r\n$1\r\nf\r\n$1\r\nv\r\n");
    raw.expect(b"+OK\r\n:1\r\n");
    assert_eq!(raw.command(&[b"OBJECT", b"ENCODING", b"p"]), keel_protocol::Frame::Bulk(b"hashtable".to_vec()));
    let mut c = s.client();
    run::<()>(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "128"]);
    let mut transaction = redis::pipe();
    transaction.atomic().cmd("CONFIG").arg("SET").arg("hash-max-listpack-entries").arg(0).ignore();
    transaction.cmd("HSET").arg("t").arg("f").arg("v").ignore();
    transaction.query::<()>(&mut c).unwrap();
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "t"]), "hashtable");
}
