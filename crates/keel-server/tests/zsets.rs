//! Sorted-set commands over real sockets: ZADD flags, ranks, the ZRANGE family, range removals, pops,
//! blocking pops and ZSCAN, in both encodings.

mod common;
use common::{error_of, run, TestServer};

#[test]
fn zadd_flags_and_errors() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["ZADD", "z", "1", "a", "2", "b"]), 2);
    assert_eq!(run::<i64>(&mut c, &["ZADD", "z", "NX", "5", "a", "3", "c"]), 1);
    assert_eq!(run::<String>(&mut c, &["ZSCORE", "z", "a"]), "1");
    assert_eq!(run::<i64>(&mut c, &["ZADD", "z", "XX", "CH", "10", "a", "4", "zz"]), 1);
    assert_eq!(run::<Option<String>>(&mut c, &["ZSCORE", "z", "zz"]), None);
    assert_eq!(run::<i64>(&mut c, &["ZADD", "z", "GT", "CH", "5", "a"]), 0);
    assert_eq!(run::<i64>(&mut c, &["ZADD", "z", "LT", "CH", "5", "a"]), 1);
    assert_eq!(run::<String>(&mut c, &["ZADD", "z", "INCR", "2.5", "a"]), "7.5");
    assert_eq!(run::<Option<String>>(&mut c, &["ZADD", "z", "NX", "INCR", "1", "a"]), None);
    assert_eq!(run::<String>(&mut c, &["ZINCRBY", "z", "-0.5", "a"]), "7");
    assert_eq!(run::<String>(&mut c, &["ZSCORE", "z", "b"]), "2");
    assert_eq!(
        error_of(&mut c, &["ZADD", "z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        error_of(&mut c, &["ZADD", "z", "GT", "LT", "1", "a"]),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        error_of(&mut c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(error_of(&mut c, &["ZADD", "z", "1", "a", "2"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["ZADD", "z", "x", "a"]), "ERR value is not a valid float");
    assert_eq!(error_of(&mut c, &["ZADD", "z", "nan", "a"]), "ERR value is not a valid float");
    run::<String>(&mut c, &["ZADD", "inf", "+inf", "m"]);
    assert_eq!(error_of(&mut c, &["ZINCRBY", "inf", "-inf", "m"]), "ERR resulting score is not a number (NaN)");
    assert_eq!(run::<String>(&mut c, &["ZSCORE", "inf", "m"]), "inf");
    assert_eq!(run::<i64>(&mut c, &["ZADD", "new", "XX", "1", "a"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "new"]), 0);
}

#[test]
fn scores_ranks_and_removal() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "0.1", "d"]);
    assert_eq!(run::<i64>(&mut c, &["ZCARD", "z"]), 4);
    assert_eq!(run::<String>(&mut c, &["ZSCORE", "z", "d"]), "0.1", "scores print as Redis 7.2+'s d2string");
    assert_eq!(run::<String>(&mut c, &["ZINCRBY", "z", "0.2", "d"]), "0.30000000000000004");
    assert_eq!(run::<String>(&mut c, &["ZINCRBY", "z", "-0.2", "d"]), "0.10000000000000003");
    run::<i64>(&mut c, &["ZADD", "tiny", "0.00001", "a", "1.5e-7", "b", "1e20", "c"]);
    let with_scores = run::<Vec<String>>(&mut c, &["ZRANGE", "tiny", "0", "-1", "WITHSCORES"]);
    assert_eq!(with_scores, ["b", "1.5e-7", "a", "0.00001", "c", "1e+20"]);
    run::<i64>(&mut c, &["ZREM", "z", "d"]);
    run::<i64>(&mut c, &["ZADD", "z", "0.1", "d"]);
    assert_eq!(run::<Vec<Option<String>>>(&mut c, &["ZMSCORE", "z", "a", "zz"]), vec![Some("1".to_string()), None]);
    assert_eq!(run::<i64>(&mut c, &["ZRANK", "z", "a"]), 1);
    assert_eq!(run::<i64>(&mut c, &["ZREVRANK", "z", "a"]), 2);
    assert_eq!(run::<Option<i64>>(&mut c, &["ZRANK", "z", "zz"]), None);
    assert_eq!(run::<i64>(&mut c, &["ZREM", "z", "a", "zz"]), 1);
    assert_eq!(run::<i64>(&mut c, &["ZREM", "z", "b", "c", "d"]), 3);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "z"]), 0, "an emptied sorted set disappears");
    run::<String>(&mut c, &["SET", "str", "v"]);
    assert_eq!(
        error_of(&mut c, &["ZADD", "str", "1", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

fn fill(c: &mut redis::Connection, key: &str, n: usize) {
    for i in 0..n {
        run::<i64>(c, &["ZADD", key, &(i / 2).to_string(), &format!("m{i:03}")]);
    }
}

#[test]
fn range_family_in_both_encodings() {
    let s = TestServer::start();
    let mut c = s.client();
    fill(&mut c, "small", 10);
    fill(&mut c, "big", 300);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "small"]), "listpack");
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "big"]), "skiplist");
    for key in ["small", "big"] {
        assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGE", key, "0", "2"]), vec!["m000", "m001", "m002"]);
        assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGE", key, "-2", "-1"]).len(), 2);
        assert_eq!(run::<Vec<String>>(&mut c, &["ZREVRANGE", key, "0", "1"]).len(), 2);
        assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGE", key, "0", "0", "WITHSCORES"]), vec!["m000", "0"]);
        assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGEBYSCORE", key, "(1", "2"]), vec!["m004", "m005"]);
        assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGE", key, "2", "(1", "BYSCORE", "REV"]), vec!["m005", "m004"]);
        assert_eq!(
            run::<Vec<String>>(&mut c, &["ZRANGEBYSCORE", key, "-inf", "+inf", "LIMIT", "1", "2"]),
            vec!["m001", "m002"]
        );
        assert_eq!(run::<Vec<String>>(&mut c, &["ZREVRANGEBYSCORE", key, "+inf", "-inf", "LIMIT", "0", "1"]).len(), 1);
        assert_eq!(run::<i64>(&mut c, &["ZCOUNT", key, "1", "(3"]), 4);
    }
    run::<i64>(&mut c, &["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGEBYLEX", "lex", "[b", "(d"]), vec!["b", "c"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZREVRANGEBYLEX", "lex", "+", "-", "LIMIT", "0", "2"]), vec!["d", "c"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGE", "lex", "(a", "+", "BYLEX"]), vec!["b", "c", "d"]);
    assert_eq!(run::<i64>(&mut c, &["ZLEXCOUNT", "lex", "-", "[b"]), 2);
    assert_eq!(error_of(&mut c, &["ZRANGEBYLEX", "lex", "b", "d"]), "ERR min or max not valid string range item");
    assert_eq!(error_of(&mut c, &["ZRANGEBYSCORE", "lex", "x", "1"]), "ERR min or max is not a float");
    assert_eq!(
        error_of(&mut c, &["ZRANGE", "lex", "0", "1", "LIMIT", "0", "1"]),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        error_of(&mut c, &["ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert!(run::<Vec<String>>(&mut c, &["ZRANGE", "nope", "0", "-1"]).is_empty());
}

#[test]
fn range_removals_and_pops() {
    let s = TestServer::start();
    let mut c = s.client();
    fill(&mut c, "z", 300);
    assert_eq!(run::<i64>(&mut c, &["ZREMRANGEBYRANK", "z", "0", "9"]), 10);
    assert_eq!(run::<i64>(&mut c, &["ZREMRANGEBYSCORE", "z", "5", "(10"]), 10);
    assert_eq!(run::<i64>(&mut c, &["ZCARD", "z"]), 280);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZPOPMIN", "z"]), vec!["m020", "10"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZPOPMAX", "z", "2"]), vec!["m299", "149", "m298", "149"]);
    assert_eq!(run::<i64>(&mut c, &["ZREMRANGEBYRANK", "z", "0", "-1"]), 277);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "z"]), 0);
    assert!(run::<Vec<String>>(&mut c, &["ZPOPMIN", "z"]).is_empty());
    assert_eq!(error_of(&mut c, &["ZPOPMIN", "z", "-1"]), "ERR value is out of range, must be positive");
    run::<i64>(&mut c, &["ZADD", "lex", "0", "a", "0", "b", "0", "c"]);
    assert_eq!(run::<i64>(&mut c, &["ZREMRANGEBYLEX", "lex", "[a", "[b"]), 2);
}

#[test]
fn blocking_pops_are_served_by_zadd() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut blocked = s.raw();
    blocked.send(b"*3\r\n$8\r\nBZPOPMIN\r\n$1\r\nq\r\n$1\r\n0\r\n");
    for _ in 0..200 {
        if run::<String>(&mut c, &["INFO", "clients"]).contains("blocked_clients:1\r\n") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    run::<i64>(&mut c, &["ZADD", "q", "2", "b", "1", "a"]);
    assert_eq!(
        blocked.read_frame(),
        keel_protocol::Frame::Array(vec![
            keel_protocol::Frame::Bulk(b"q".to_vec()),
            keel_protocol::Frame::Bulk(b"a".to_vec()),
            keel_protocol::Frame::Bulk(b"1".to_vec()),
        ])
    );
    assert_eq!(run::<Vec<String>>(&mut c, &["BZPOPMAX", "q", "0"]), vec!["q", "b", "2"]);
    assert_eq!(run::<redis::Value>(&mut c, &["BZPOPMIN", "q", "0.01"]), redis::Value::Nil);
}

#[test]
fn zscan_returns_every_member_with_scores() {
    let s = TestServer::start();
    let mut c = s.client();
    fill(&mut c, "z", 300);
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashMap::new();
    loop {
        let (next, flat): (String, Vec<String>) = run(&mut c, &["ZSCAN", "z", &cursor, "COUNT", "25"]);
        for pair in flat.chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(seen["m011"], "5");
}

#[test]
fn algebra_with_weights_and_aggregates() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    run::<i64>(&mut c, &["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
    run::<i64>(&mut c, &["SADD", "plain", "z", "v"]);
    assert_eq!(
        run::<Vec<String>>(&mut c, &["ZUNION", "2", "a", "b", "WITHSCORES"]),
        vec!["x", "1", "y", "12", "z", "23", "w", "30"]
    );
    assert_eq!(
        run::<Vec<String>>(&mut c, &["ZINTER", "2", "a", "b", "WEIGHTS", "2", "1", "AGGREGATE", "MAX", "WITHSCORES"]),
        vec!["y", "10", "z", "20"]
    );
    assert_eq!(run::<Vec<String>>(&mut c, &["ZINTER", "2", "a", "plain", "WITHSCORES"]), vec!["z", "4"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZDIFF", "2", "a", "b"]), vec!["x"]);
    assert_eq!(run::<i64>(&mut c, &["ZUNIONSTORE", "dst", "2", "a", "b", "AGGREGATE", "MIN"]), 4);
    assert_eq!(run::<String>(&mut c, &["ZSCORE", "dst", "z"]), "3");
    assert_eq!(run::<i64>(&mut c, &["ZINTERSTORE", "dst", "2", "a", "nope"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "dst"]), 0);
    assert_eq!(run::<i64>(&mut c, &["ZDIFFSTORE", "dst", "2", "b", "a"]), 1);
    assert_eq!(run::<i64>(&mut c, &["ZINTERCARD", "2", "a", "b"]), 2);
    assert_eq!(run::<i64>(&mut c, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]), 1);
    assert_eq!(error_of(&mut c, &["ZUNION", "0", "a"]), "ERR at least 1 input key is needed for 'zunion' command");
    assert_eq!(error_of(&mut c, &["ZUNION", "3", "a", "b"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["ZUNION", "2", "a", "b", "WEIGHTS", "x", "1"]), "ERR weight value is not a float");
    assert_eq!(error_of(&mut c, &["ZDIFF", "2", "a", "b", "WEIGHTS", "1", "1"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"]), "ERR syntax error");
    run::<String>(&mut c, &["SET", "str", "v"]);
    assert_eq!(
        error_of(&mut c, &["ZUNION", "2", "a", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn mpop_randmember_rangestore() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let popped: redis::Value = run(&mut c, &["ZMPOP", "2", "nope", "z", "MAX", "COUNT", "2"]);
    let expected = redis::Value::Array(vec![
        redis::Value::BulkString(b"z".to_vec()),
        redis::Value::Array(vec![
            redis::Value::Array(vec![redis::Value::BulkString(b"c".to_vec()), redis::Value::BulkString(b"3".to_vec())]),
            redis::Value::Array(vec![redis::Value::BulkString(b"b".to_vec()), redis::Value::BulkString(b"2".to_vec())]),
        ]),
    ]);
    assert_eq!(popped, expected);
    assert_eq!(run::<redis::Value>(&mut c, &["ZMPOP", "1", "nope", "MIN"]), redis::Value::Nil);
    assert_eq!(error_of(&mut c, &["ZMPOP", "0", "z", "MIN"]), "ERR numkeys should be greater than 0");
    assert_eq!(error_of(&mut c, &["ZMPOP", "1", "z", "MIDDLE"]), "ERR syntax error");
    assert_eq!(run::<redis::Value>(&mut c, &["BZMPOP", "0.01", "1", "nope", "MIN"]), redis::Value::Nil);
    run::<i64>(&mut c, &["ZADD", "r", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZRANDMEMBER", "r", "10"]).len(), 4);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZRANDMEMBER", "r", "-10"]).len(), 10);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZRANDMEMBER", "r", "2", "WITHSCORES"]).len(), 4);
    assert_eq!(run::<i64>(&mut c, &["ZRANGESTORE", "dst", "r", "1", "2"]), 2);
    assert_eq!(run::<Vec<String>>(&mut c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]), vec!["b", "2", "c", "3"]);
    assert_eq!(run::<i64>(&mut c, &["ZRANGESTORE", "dst", "r", "(3", "+inf", "BYSCORE"]), 1);
    assert_eq!(run::<i64>(&mut c, &["ZRANGESTORE", "dst", "nope", "0", "-1"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "dst"]), 0);
}

/// Scores are read as C's strtod reads them: hexadecimal floats too, and nothing out of a double's range.
#[test]
fn scores_accept_hex_floats_and_refuse_what_overflows() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<i64>(&mut c, &["ZADD", "z", "0x1p+0", "one"]);
    assert_eq!(run::<String>(&mut c, &["ZINCRBY", "z", "0x1p+1", "one"]), "3");
    assert_eq!(error_of(&mut c, &["ZINCRBY", "z", &"9".repeat(400), "one"]), "ERR value is not a valid float");
    assert_eq!(error_of(&mut c, &["BLPOP", "l", "0x7FFFFFFFFFFFFF"]), "ERR timeout is out of range");
}
