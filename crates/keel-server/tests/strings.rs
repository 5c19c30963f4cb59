//! String commands over real sockets: every command, its options and Redis's error texts.

mod common;
use common::{error_of, run, TestServer};
use redis::Value;

#[test]
fn get_set_and_options() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<Option<String>>(&mut c, &["GET", "missing"]), None);
    assert_eq!(run::<String>(&mut c, &["SET", "k", "v"]), "OK");
    assert_eq!(run::<String>(&mut c, &["GET", "k"]), "v");
    assert_eq!(run::<Option<String>>(&mut c, &["SET", "k", "w", "NX"]), None);
    assert_eq!(run::<String>(&mut c, &["GET", "k"]), "v");
    assert_eq!(run::<Option<String>>(&mut c, &["SET", "new", "w", "XX"]), None);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "new"]), 0);
    assert_eq!(run::<String>(&mut c, &["SET", "k", "w", "XX", "GET"]), "v");
    assert_eq!(run::<Option<String>>(&mut c, &["SET", "fresh", "1", "NX", "GET"]), None);
    assert_eq!(run::<String>(&mut c, &["SET", "k", "x", "EX", "100"]), "OK");
    let ttl: i64 = run(&mut c, &["TTL", "k"]);
    assert!((99..=100).contains(&ttl));
    assert_eq!(run::<String>(&mut c, &["SET", "k", "y", "KEEPTTL"]), "OK");
    assert!(run::<i64>(&mut c, &["TTL", "k"]) > 0);
    assert_eq!(run::<String>(&mut c, &["SET", "k", "z"]), "OK");
    assert_eq!(run::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(run::<String>(&mut c, &["SET", "k", "p", "PX", "100000"]), "OK");
    assert!(run::<i64>(&mut c, &["PTTL", "k"]) > 99000);
    let at = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 500).to_string();
    assert_eq!(run::<String>(&mut c, &["SET", "k", "e", "EXAT", &at]), "OK");
    assert_eq!(run::<String>(&mut c, &["EXPIRETIME", "k"]).parse::<u64>().unwrap().to_string(), at);
}

#[test]
fn set_error_texts() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(error_of(&mut c, &["SET", "k", "v", "NX", "XX"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["SET", "k", "v", "EX", "10", "PX", "10"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["SET", "k", "v", "EX", "10", "KEEPTTL"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["SET", "k", "v", "EX"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["SET", "k", "v", "EX", "0"]), "ERR invalid expire time in 'set' command");
    assert_eq!(error_of(&mut c, &["SET", "k", "v", "EX", "-5"]), "ERR invalid expire time in 'set' command");
    assert_eq!(
        error_of(&mut c, &["SET", "k", "v", "EX", "9223372036854775807"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(error_of(&mut c, &["SET", "k", "v", "EX", "ten"]), "ERR value is not an integer or out of range");
    assert_eq!(error_of(&mut c, &["SETEX", "k", "0", "v"]), "ERR invalid expire time in 'setex' command");
    assert_eq!(error_of(&mut c, &["SET", "k"]), "ERR wrong number of arguments for 'set' command");
    assert_eq!(error_of(&mut c, &["MSET", "a", "1", "b"]), "ERR wrong number of arguments for 'mset' command");
}

#[test]
fn multi_key_and_conditional_sets() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<String>(&mut c, &["MSET", "a", "1", "b", "2"]), "OK");
    assert_eq!(
        run::<Vec<Option<String>>>(&mut c, &["MGET", "a", "nope", "b"]),
        vec![Some("1".into()), None, Some("2".into())]
    );
    assert_eq!(run::<i64>(&mut c, &["MSETNX", "a", "9", "c", "3"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "c"]), 0);
    assert_eq!(run::<i64>(&mut c, &["MSETNX", "c", "3", "d", "4"]), 1);
    assert_eq!(run::<i64>(&mut c, &["SETNX", "c", "x"]), 0);
    assert_eq!(run::<i64>(&mut c, &["SETNX", "e", "x"]), 1);
    assert_eq!(run::<String>(&mut c, &["SETEX", "f", "100", "v"]), "OK");
    assert!(run::<i64>(&mut c, &["TTL", "f"]) > 0);
    assert_eq!(run::<String>(&mut c, &["PSETEX", "g", "100000", "v"]), "OK");
    assert!(run::<i64>(&mut c, &["PTTL", "g"]) > 0);
    assert_eq!(run::<String>(&mut c, &["GETSET", "g", "w"]), "v");
    assert_eq!(run::<i64>(&mut c, &["TTL", "g"]), -1);
    assert_eq!(run::<String>(&mut c, &["GETDEL", "g"]), "w");
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "g"]), 0);
}

#[test]
fn getex_options() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["SET", "k", "v"]);
    assert_eq!(run::<String>(&mut c, &["GETEX", "k", "EX", "100"]), "v");
    assert!(run::<i64>(&mut c, &["TTL", "k"]) > 0);
    assert_eq!(run::<String>(&mut c, &["GETEX", "k", "PERSIST"]), "v");
    assert_eq!(run::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(run::<String>(&mut c, &["GETEX", "k", "PXAT", "1"]), "v");
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(run::<Option<String>>(&mut c, &["GETEX", "nope", "EX", "1"]), None);
    assert_eq!(error_of(&mut c, &["GETEX", "k", "EX", "1", "PERSIST"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["GETEX", "k", "KEEPTTL"]), "ERR syntax error");
}

#[test]
fn counters_follow_redis_integer_rules() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["INCR", "n"]), 1);
    assert_eq!(run::<i64>(&mut c, &["INCRBY", "n", "10"]), 11);
    assert_eq!(run::<i64>(&mut c, &["DECR", "n"]), 10);
    assert_eq!(run::<i64>(&mut c, &["DECRBY", "n", "20"]), -10);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "n"]), "int");
    run::<String>(&mut c, &["SET", "big", "9223372036854775807"]);
    assert_eq!(error_of(&mut c, &["INCR", "big"]), "ERR increment or decrement would overflow");
    assert_eq!(error_of(&mut c, &["DECRBY", "n", "-9223372036854775808"]), "ERR decrement would overflow");
    run::<String>(&mut c, &["SET", "s", " 1"]);
    assert_eq!(error_of(&mut c, &["INCR", "s"]), "ERR value is not an integer or out of range");
    assert_eq!(error_of(&mut c, &["INCRBY", "n", "1.5"]), "ERR value is not an integer or out of range");
    run::<String>(&mut c, &["SET", "ttl", "5", "EX", "100"]);
    run::<i64>(&mut c, &["INCR", "ttl"]);
    assert!(run::<i64>(&mut c, &["TTL", "ttl"]) > 0, "INCR keeps the TTL");
}

#[test]
fn incrbyfloat_formats_like_redis() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "f", "10.5"]), "10.5");
    assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "f", "0.1"]), "10.6");
    assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "f", "-10.6"]), "0");
    assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "g", "5.0e3"]), "5000");
    assert_eq!(error_of(&mut c, &["INCRBYFLOAT", "f", "abc"]), "ERR value is not a valid float");
    run::<String>(&mut c, &["SET", "inf", "1"]);
    assert_eq!(error_of(&mut c, &["INCRBYFLOAT", "inf", "+inf"]), "ERR increment would produce NaN or Infinity");
    run::<String>(&mut c, &["SET", "txt", "hello"]);
    assert_eq!(error_of(&mut c, &["INCRBYFLOAT", "txt", "1"]), "ERR value is not a valid float");
    // Long double arithmetic, as Redis does it: a float counter of tenths reads 0.3, not
    // 0.30000000000000004, and past a double's precision the digits are the long double's.
    for expected in ["0.1", "0.2", "0.3"] {
        assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "tenths", "0.1"]), expected);
    }
    assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "tenths", "1e20"]), "100000000000000000000");
    assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "tenths", "10.5"]), "100000000000000000008");
    run::<String>(&mut c, &["SET", "odd", "9007199254740993"]);
    assert_eq!(run::<String>(&mut c, &["INCRBYFLOAT", "odd", "1"]), "9007199254740994");
    run::<i64>(&mut c, &["HSET", "h", "f", "0.1"]);
    assert_eq!(run::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "0.2"]), "0.3");
    assert_eq!(error_of(&mut c, &["HINCRBYFLOAT", "h", "f", "inf"]), "ERR value is NaN or Infinity");
}

#[test]
fn append_strlen_ranges() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["APPEND", "k", "Hello"]), 5);
    assert_eq!(run::<i64>(&mut c, &["APPEND", "k", " World, this is long now"]), 29);
    assert_eq!(run::<i64>(&mut c, &["STRLEN", "k"]), 29);
    assert_eq!(run::<i64>(&mut c, &["STRLEN", "nope"]), 0);
    assert_eq!(run::<String>(&mut c, &["GETRANGE", "k", "0", "4"]), "Hello");
    assert_eq!(run::<String>(&mut c, &["GETRANGE", "k", "-3", "-1"]), "now");
    assert_eq!(run::<String>(&mut c, &["GETRANGE", "k", "5", "1"]), "");
    assert_eq!(run::<String>(&mut c, &["GETRANGE", "k", "-1", "-5"]), "");
    assert_eq!(run::<String>(&mut c, &["SUBSTR", "k", "0", "100"]), "Hello World, this is long now");
    assert_eq!(run::<String>(&mut c, &["GETRANGE", "nope", "0", "1"]), "");
    assert_eq!(run::<i64>(&mut c, &["SETRANGE", "r", "5", "x"]), 6);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "r"]), b"\0\0\0\0\0x");
    assert_eq!(run::<i64>(&mut c, &["SETRANGE", "k", "0", "J"]), 29);
    assert_eq!(run::<String>(&mut c, &["GETRANGE", "k", "0", "4"]), "Jello");
    assert_eq!(run::<i64>(&mut c, &["SETRANGE", "empty", "3", ""]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "empty"]), 0);
    assert_eq!(error_of(&mut c, &["SETRANGE", "k", "-1", "x"]), "ERR offset is out of range");
    assert_eq!(
        error_of(&mut c, &["SETRANGE", "k", "536870911", "xx"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    run::<i64>(&mut c, &["INCR", "n"]);
    assert_eq!(run::<i64>(&mut c, &["APPEND", "n", "2"]), 2);
    assert_eq!(run::<String>(&mut c, &["GET", "n"]), "12");
}

#[test]
fn lcs_variants() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    assert_eq!(run::<String>(&mut c, &["LCS", "key1", "key2"]), "mytext");
    assert_eq!(run::<i64>(&mut c, &["LCS", "key1", "key2", "LEN"]), 6);
    let idx: Value = run(&mut c, &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]);
    let expected = Value::Array(vec![
        Value::BulkString(b"matches".to_vec()),
        Value::Array(vec![Value::Array(vec![
            Value::Array(vec![Value::Int(4), Value::Int(7)]),
            Value::Array(vec![Value::Int(5), Value::Int(8)]),
            Value::Int(4),
        ])]),
        Value::BulkString(b"len".to_vec()),
        Value::Int(6),
    ]);
    assert_eq!(idx, expected);
    assert_eq!(
        error_of(&mut c, &["LCS", "key1", "key2", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
}

#[test]
fn big_and_binary_values_roundtrip() {
    let s = TestServer::start();
    let mut c = s.client();
    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    redis::cmd("SET").arg("bin").arg(&binary).query::<()>(&mut c).unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("bin").query(&mut c).unwrap();
    assert_eq!(back, binary);
    let big = vec![b'x'; 8 * 1024 * 1024];
    redis::cmd("SET").arg("big").arg(&big).query::<()>(&mut c).unwrap();
    assert_eq!(run::<i64>(&mut c, &["STRLEN", "big"]), big.len() as i64);
}

/// SET with EX, PX or EXAT, SETEX and PSETEX reach the log as `SET key value PXAT <moment>`; a SET that
/// named its moment with PXAT goes as it came, its options and their case kept (Redis's rule, which its
/// replication-stream test checks).
#[test]
fn set_ttls_reach_the_log_as_absolute_moments() {
    let dir = common::TestDir::new();
    {
        let s = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut c = s.client();
        run::<()>(&mut c, &["SET", "a", "v", "EX", "100"]);
        run::<()>(&mut c, &["set", "b", "v", "pxat", "99999999999999", "NX"]);
        run::<()>(&mut c, &["SETEX", "c", "100", "v"]);
    }
    let log = common::incremental_log(&dir.0);
    assert!(
        log.contains("$3\r\nset\r\n$1\r\nb\r\n$1\r\nv\r\n$4\r\npxat\r\n$14\r\n99999999999999\r\n$2\r\nNX"),
        "{log}"
    );
    for key in ["a", "c"] {
        assert!(log.contains(&format!("$3\r\nSET\r\n$1\r\n{key}\r\n$1\r\nv\r\n$4\r\nPXAT\r\n")), "{log}");
    }
    assert!(!log.contains("SETEX") && !log.contains("EX\r\n$3\r\n100"), "{log}");
}
