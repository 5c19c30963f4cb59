//! HyperLogLog commands over real sockets: estimates, unions, Redis's exact bytes in both directions,
//! corrupt values, and the PFCOUNT cache.

mod common;
use common::{error_of, run, TestServer};

/// What Redis 7.0 stores after `PFADD h a b c` and `PFCOUNT h` (sparse, cached cardinality 3).
const REDIS_ABC: &[u8] =
    b"HYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a";

#[test]
fn pfadd_and_pfcount_write_the_bytes_redis_writes() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["PFADD", "h", "a", "b", "c"]), 1);
    assert_eq!(run::<i64>(&mut c, &["PFADD", "h", "a", "b", "c"]), 0);
    // Before PFCOUNT the cache is marked invalid (top bit of byte 15).
    let mut expected = REDIS_ABC.to_vec();
    expected[8] = 0;
    expected[15] = 0x80;
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "h"]), expected);
    assert_eq!(run::<i64>(&mut c, &["PFCOUNT", "h"]), 3);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "h"]), REDIS_ABC);
    // And a value written by Redis reads the same here.
    let mut set = redis::cmd("SET");
    set.arg("from-redis").arg(REDIS_ABC);
    set.query::<()>(&mut c).unwrap();
    assert_eq!(run::<i64>(&mut c, &["PFCOUNT", "from-redis"]), 3);
    assert_eq!(run::<i64>(&mut c, &["PFADD", "from-redis", "c"]), 0);
    assert_eq!(run::<i64>(&mut c, &["PFADD", "empty"]), 1);
    assert_eq!(run::<i64>(&mut c, &["PFCOUNT", "empty", "missing"]), 0);
}

#[test]
fn estimates_unions_and_the_dense_switch() {
    let s = TestServer::start();
    let mut c = s.client();
    for chunk in 0..20 {
        let mut cmd = redis::cmd("PFADD");
        cmd.arg("big");
        (0..1000).for_each(|i| {
            cmd.arg(format!("e{}", chunk * 1000 + i));
        });
        cmd.query::<i64>(&mut c).unwrap();
    }
    let estimate: i64 = run(&mut c, &["PFCOUNT", "big"]);
    assert!((estimate - 20000).abs() < 20000 / 50, "{estimate} is not within 2% of 20000");
    assert_eq!(run::<String>(&mut c, &["PFDEBUG", "ENCODING", "big"]), "dense");
    run::<i64>(&mut c, &["PFADD", "x", "a", "b", "c"]);
    run::<i64>(&mut c, &["PFADD", "y", "b", "c", "d"]);
    assert_eq!(run::<String>(&mut c, &["PFDEBUG", "ENCODING", "x"]), "sparse");
    assert_eq!(run::<i64>(&mut c, &["PFCOUNT", "x", "y"]), 4);
    assert_eq!(run::<String>(&mut c, &["PFMERGE", "u", "x", "y", "missing"]), "OK");
    assert_eq!(run::<i64>(&mut c, &["PFCOUNT", "u"]), 4);
    assert_eq!(run::<String>(&mut c, &["PFMERGE", "u", "big"]), "OK");
    assert_eq!(run::<String>(&mut c, &["PFDEBUG", "ENCODING", "u"]), "dense");
    assert_eq!(run::<i64>(&mut c, &["PFDEBUG", "TODENSE", "x"]), 1);
    assert_eq!(run::<i64>(&mut c, &["PFCOUNT", "x"]), 3);
    assert_eq!(run::<Vec<i64>>(&mut c, &["PFDEBUG", "GETREG", "x"]).len(), 16384);
    // A smaller sparse limit turns HLLs dense sooner.
    run::<()>(&mut c, &["CONFIG", "SET", "hll-sparse-max-bytes", "30"]);
    let mut cmd = redis::cmd("PFADD");
    cmd.arg("small");
    (0..20).for_each(|i| {
        cmd.arg(i);
    });
    cmd.query::<i64>(&mut c).unwrap();
    assert_eq!(run::<String>(&mut c, &["PFDEBUG", "ENCODING", "small"]), "dense");
}

#[test]
fn wrong_types_and_corrupt_values_get_errors() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["SET", "s", "not an hll"]);
    run::<()>(&mut c, &["SET", "n", "12"]);
    run::<()>(&mut c, &["LPUSH", "l", "x"]);
    let not_hll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    assert_eq!(error_of(&mut c, &["PFADD", "s", "a"]), not_hll);
    assert_eq!(error_of(&mut c, &["PFCOUNT", "n"]), not_hll);
    assert_eq!(error_of(&mut c, &["PFMERGE", "s", "missing"]), not_hll);
    assert!(error_of(&mut c, &["PFCOUNT", "l"]).starts_with("WRONGTYPE Operation against a key"));
    run::<i64>(&mut c, &["PFADD", "h", "a", "b"]);
    run::<i64>(&mut c, &["APPEND", "h", "tail"]);
    assert_eq!(error_of(&mut c, &["PFCOUNT", "h"]), "INVALIDOBJ Corrupted HLL object detected");
    run::<i64>(&mut c, &["PFADD", "d", "a"]);
    run::<i64>(&mut c, &["PFDEBUG", "TODENSE", "d"]);
    run::<i64>(&mut c, &["APPEND", "d", "x"]);
    assert_eq!(error_of(&mut c, &["PFCOUNT", "d"]), not_hll);
    assert_eq!(error_of(&mut c, &["PFDEBUG", "ENCODING", "missing"]), "ERR The specified key does not exist");
    assert_eq!(error_of(&mut c, &["PFDEBUG", "FROB", "h"]), "ERR Unknown PFDEBUG subcommand 'FROB'");
    // Random damage never takes the server down.
    run::<i64>(&mut c, &["PFADD", "f", "1", "2", "3", "4", "5", "6", "7", "8"]);
    for pos in 16..30 {
        for byte in [0x00u8, 0x3f, 0x40, 0x7f, 0xff] {
            let mut cmd = redis::cmd("SETRANGE");
            cmd.arg("f").arg(pos).arg(&[byte][..]);
            cmd.query::<i64>(&mut c).unwrap();
            let _ = redis::cmd("PFCOUNT").arg("f").query::<redis::Value>(&mut c);
            let _ = redis::cmd("PFADD").arg("f").arg(pos).query::<redis::Value>(&mut c);
        }
    }
    assert_eq!(run::<String>(&mut c, &["PING"]), "PONG");
}
