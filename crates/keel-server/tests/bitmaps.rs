//! Bitmap commands over real sockets: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO, their
//! error texts, what counts as a change, and bitmaps surviving a restart.

mod common;
use common::{changes, error_of, run, TestDir, TestServer};

#[test]
fn setbit_getbit_and_what_counts_as_a_change() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["SETBIT", "b", "7", "1"]), 0);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "b"]), [0x01]);
    assert_eq!(run::<i64>(&mut c, &["SETBIT", "b", "7", "1"]), 1);
    assert_eq!(run::<i64>(&mut c, &["GETBIT", "b", "7"]), 1);
    assert_eq!(run::<i64>(&mut c, &["GETBIT", "b", "1000"]), 0);
    assert_eq!(run::<i64>(&mut c, &["GETBIT", "missing", "3"]), 0);
    // SETBIT grows the string with zero bytes; it works on integer-encoded strings too.
    assert_eq!(run::<i64>(&mut c, &["SETBIT", "b", "23", "1"]), 0);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "b"]), [0x01, 0x00, 0x01]);
    run::<()>(&mut c, &["SET", "n", "1"]);
    assert_eq!(run::<i64>(&mut c, &["SETBIT", "n", "6", "1"]), 0);
    assert_eq!(run::<String>(&mut c, &["GET", "n"]), "3");
    // Only a change is a change.
    let before = changes(&mut c);
    run::<i64>(&mut c, &["SETBIT", "b", "7", "1"]);
    assert_eq!(changes(&mut c), before);
    run::<i64>(&mut c, &["SETBIT", "b", "7", "0"]);
    run::<i64>(&mut c, &["SETBIT", "b", "90", "0"]);
    assert_eq!(changes(&mut c), before + 2);
    for (args, error) in [
        (&["SETBIT", "b", "-1", "1"][..], "ERR bit offset is not an integer or out of range"),
        (&["SETBIT", "b", "4294967296", "1"], "ERR bit offset is not an integer or out of range"),
        (&["SETBIT", "b", "1", "2"], "ERR bit is not an integer or out of range"),
        (&["GETBIT", "b", "x"], "ERR bit offset is not an integer or out of range"),
    ] {
        assert_eq!(error_of(&mut c, args), error, "{args:?}");
    }
    run::<()>(&mut c, &["LPUSH", "l", "x"]);
    assert!(error_of(&mut c, &["SETBIT", "l", "1", "1"]).starts_with("WRONGTYPE"));
}

#[test]
fn bitcount_and_bitpos_with_byte_and_bit_ranges() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["SET", "s", "foobar"]);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "s"]), 26);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "s", "0", "0"]), 4);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "s", "1", "1"]), 6);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "s", "1", "1", "BYTE"]), 6);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "s", "5", "30", "BIT"]), 17);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "s", "-2", "-1"]), 7);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "s", "-1", "-2"]), 0);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "missing"]), 0);
    assert_eq!(error_of(&mut c, &["BITCOUNT", "s", "0"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["BITCOUNT", "s", "0", "1", "WORD"]), "ERR syntax error");
    run::<()>(&mut c, &["SET", "ff", "\u{7f}"]);
    assert_eq!(run::<i64>(&mut c, &["BITPOS", "ff", "0"]), 0);
    assert_eq!(run::<i64>(&mut c, &["BITPOS", "ff", "1"]), 1);
    run::<i64>(&mut c, &["SETBIT", "ones", "0", "1"]);
    run::<Vec<i64>>(&mut c, &["BITFIELD", "ones", "SET", "u8", "0", "255"]);
    // Without an end the string continues with zeros; with one, a range without a clear bit is -1.
    assert_eq!(run::<i64>(&mut c, &["BITPOS", "ones", "0"]), 8);
    assert_eq!(run::<i64>(&mut c, &["BITPOS", "ones", "0", "0", "-1"]), -1);
    assert_eq!(run::<i64>(&mut c, &["BITPOS", "ones", "1", "2", "5", "BIT"]), 2);
    assert_eq!(run::<i64>(&mut c, &["BITPOS", "missing", "0"]), 0);
    assert_eq!(run::<i64>(&mut c, &["BITPOS", "missing", "1"]), -1);
    assert_eq!(error_of(&mut c, &["BITPOS", "ones", "2"]), "ERR The bit argument must be 1 or 0.");
    assert_eq!(error_of(&mut c, &["BITPOS", "ones", "1", "0", "1", "BIT", "x"]), "ERR syntax error");
    // The unit is checked before the end, as Redis does, on a missing key too.
    for key in ["ones", "missing"] {
        assert_eq!(error_of(&mut c, &["BITPOS", key, "0", "1", "hello", "hello2"]), "ERR syntax error");
        assert_eq!(error_of(&mut c, &["BITPOS", key, "0", "0", "1", "hello"]), "ERR syntax error");
    }
}

#[test]
fn bitop_combines_zero_padded_strings() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["SET", "a", "\u{f}\u{f}"]);
    run::<()>(&mut c, &["SET", "b", "\u{3c}"]);
    assert_eq!(run::<i64>(&mut c, &["BITOP", "AND", "d", "a", "b"]), 2);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "d"]), [0x0c, 0x00]);
    assert_eq!(run::<i64>(&mut c, &["BITOP", "OR", "d", "a", "b", "missing"]), 2);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "d"]), [0x3f, 0x0f]);
    assert_eq!(run::<i64>(&mut c, &["BITOP", "XOR", "d", "a", "b"]), 2);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "d"]), [0x33, 0x0f]);
    assert_eq!(run::<i64>(&mut c, &["BITOP", "NOT", "d", "b"]), 1);
    assert_eq!(run::<Vec<u8>>(&mut c, &["GET", "d"]), [0xc3]);
    // An empty result deletes the destination.
    assert_eq!(run::<i64>(&mut c, &["BITOP", "OR", "d", "missing"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "d"]), 0);
    assert_eq!(
        error_of(&mut c, &["BITOP", "NOT", "d", "a", "b"]),
        "ERR BITOP NOT must be called with a single source key."
    );
    assert_eq!(error_of(&mut c, &["BITOP", "NAND", "d", "a"]), "ERR syntax error");
    run::<()>(&mut c, &["LPUSH", "l", "x"]);
    assert!(error_of(&mut c, &["BITOP", "AND", "d", "a", "l"]).starts_with("WRONGTYPE"));
    let keys: Vec<String> = run(&mut c, &["COMMAND", "GETKEYS", "BITOP", "AND", "d", "a", "b"]);
    assert_eq!(keys, ["d", "a", "b"]);
}

#[test]
fn bitfield_types_offsets_and_overflow() {
    let s = TestServer::start();
    let mut c = s.client();
    let r: Vec<Option<i64>> =
        run(&mut c, &["BITFIELD", "f", "SET", "i8", "0", "-100", "GET", "u8", "0", "GET", "i8", "0"]);
    assert_eq!(r, [Some(0), Some(156), Some(-100)]);
    let r: Vec<Option<i64>> =
        run(&mut c, &["BITFIELD", "f", "SET", "u4", "#1", "15", "GET", "u4", "#1", "GET", "u8", "0"]);
    assert_eq!(r, [Some(12), Some(15), Some(0x9f)]);
    let r: Vec<Option<i64>> = run(
        &mut c,
        &[
            "BITFIELD", "c", "INCRBY", "u2", "0", "3", "INCRBY", "u2", "0", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
            "0", "9", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "1", "INCRBY", "i64", "8", "-5",
        ],
    );
    assert_eq!(r, [Some(3), Some(0), Some(3), None, Some(-5)]);
    let r: Vec<Option<i64>> = run(&mut c, &["BITFIELD_RO", "c", "GET", "i64", "8", "GET", "u63", "100"]);
    assert_eq!(r, [Some(-5), Some(0)]);
    let r: Vec<Option<i64>> = run(&mut c, &["BITFIELD", "missing", "GET", "u8", "0"]);
    assert_eq!(r, [Some(0)]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "missing"]), 0);
    let bad_type = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    for (args, error) in [
        (&["BITFIELD", "c", "GET", "u64", "0"][..], bad_type),
        (&["BITFIELD", "c", "GET", "i65", "0"], bad_type),
        (&["BITFIELD", "c", "GET", "x8", "0"], bad_type),
        (&["BITFIELD", "c", "GET", "u8", "-1"], "ERR bit offset is not an integer or out of range"),
        (&["BITFIELD", "c", "SET", "u8", "0", "x"], "ERR value is not an integer or out of range"),
        (&["BITFIELD", "c", "OVERFLOW", "LOUD"], "ERR Invalid OVERFLOW type specified"),
        (&["BITFIELD", "c", "FROB", "u8", "0"], "ERR syntax error"),
        (&["BITFIELD", "c", "GET", "u8"], "ERR syntax error"),
        (&["BITFIELD_RO", "c", "SET", "u8", "0", "1"], "ERR BITFIELD_RO only supports the GET subcommand"),
    ] {
        assert_eq!(error_of(&mut c, args), error, "{args:?}");
    }
    // A failed operation leaves the string as it was.
    assert_eq!(run::<Vec<Option<i64>>>(&mut c, &["BITFIELD", "c", "GET", "u2", "0"]), [Some(3)]);
}

#[test]
fn bitmaps_survive_a_restart_and_notify_setbit() {
    let dir = TestDir::new();
    {
        let s = TestServer::with(|st| st.dir = dir.0.clone());
        let mut c = s.client();
        run::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let mut sub = s.client();
        run::<()>(&mut sub, &["PSUBSCRIBE", "__keyevent@0__:*"]);
        run::<i64>(&mut c, &["SETBIT", "b", "100", "1"]);
        run::<Vec<Option<i64>>>(&mut c, &["BITFIELD", "b", "SET", "u8", "0", "200"]);
        run::<i64>(&mut c, &["BITOP", "NOT", "n", "b"]);
        let mut events = Vec::new();
        for _ in 0..3 {
            let msg = sub.recv_response().unwrap();
            let redis::Value::Array(parts) = msg else { panic!("{msg:?}") };
            events.push(redis::from_redis_value::<String>(&parts[2]).unwrap());
        }
        assert_eq!(events, ["__keyevent@0__:setbit", "__keyevent@0__:setbit", "__keyevent@0__:set"]);
    }
    let s = TestServer::with(|st| st.dir = dir.0.clone());
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["GETBIT", "b", "100"]), 1);
    assert_eq!(run::<Vec<Option<i64>>>(&mut c, &["BITFIELD_RO", "b", "GET", "u8", "0"]), [Some(200)]);
    assert_eq!(run::<i64>(&mut c, &["BITCOUNT", "n"]), 8 * 13 - 4);
}

#[test]
fn random_bit_operations_reply_as_redis_does() {
    let Some(real) = common::RealRedis::start(&[]) else { return };
    let server = TestServer::start();
    let (mut keel, mut redis) = (server.client(), real.client());
    let mut seed = 11u64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut script = Vec::new();
    for _ in 0..600 {
        let key = ["a", "b", "c"][next(3) as usize];
        let line = match next(8) {
            0 => format!("SETBIT {key} {} {}", next(200), next(2)),
            1 => format!(
                "BITCOUNT {key} {} {} {}",
                next(40) as i64 - 20,
                next(40) as i64 - 20,
                ["BYTE", "BIT"][next(2) as usize]
            ),
            2 => format!("BITPOS {key} {} {} {} BIT", next(2), next(300) as i64 - 150, next(300) as i64 - 150),
            3 => format!("BITPOS {key} {} {}", next(2), next(30) as i64 - 15),
            4 => {
                let ty = format!("{}{}", ["i", "u"][next(2) as usize], 1 + next(63));
                let overflow = ["WRAP", "SAT", "FAIL"][next(3) as usize];
                let value = next(1 << 20) as i64 - (1 << 19);
                format!("BITFIELD {key} OVERFLOW {overflow} INCRBY {ty} {} {value} GET {ty} #{}", next(100), next(5))
            }
            5 => format!("BITFIELD {key} SET i{} {} {}", 1 + next(64), next(150), next(1000) as i64 - 500),
            6 => format!("BITOP {} d{key} a b c", ["AND", "OR", "XOR"][next(3) as usize]),
            _ => format!("GET {key}"),
        };
        script.push(common::words(&line));
    }
    common::same_replies(&mut keel, &mut redis, &script);
}

#[test]
fn bitop_diff_diff1_andor_and_one_follow_redis_8_2() {
    let s = TestServer::start();
    let mut c = s.client();
    // key1: bits 0,1,2; key2: bits 1,2,3; key3: bits 2,3,4 (and key3 is a byte longer).
    redis::cmd("SET").arg("key1").arg(&[0xe0u8][..]).query::<()>(&mut c).unwrap();
    redis::cmd("SET").arg("key2").arg(&[0x70u8][..]).query::<()>(&mut c).unwrap();
    redis::cmd("SET").arg("key3").arg(&[0x38u8, 0x01][..]).query::<()>(&mut c).unwrap();
    for (op, expected) in
        [("DIFF", [0x80u8, 0x00]), ("DIFF1", [0x18, 0x01]), ("ANDOR", [0x60, 0x00]), ("ONE", [0x88, 0x01])]
    {
        let len: i64 = run(&mut c, &["BITOP", op, "dest", "key1", "key2", "key3"]);
        let result: Vec<u8> = redis::cmd("GET").arg("dest").query(&mut c).unwrap();
        assert_eq!((len, result), (2, expected.to_vec()), "BITOP {op}");
    }
    // ONE with a single source copies it; DIFF, DIFF1 and ANDOR need two.
    assert_eq!(run::<i64>(&mut c, &["BITOP", "one", "dest", "key2"]), 1);
    assert_eq!(redis::cmd("GET").arg("dest").query::<Vec<u8>>(&mut c).unwrap(), [0x70]);
    for op in ["diff", "DIFF1", "AndOr"] {
        let upper = op.to_ascii_uppercase();
        assert_eq!(
            error_of(&mut c, &["BITOP", op, "dest", "key1"]),
            format!("ERR BITOP {upper} must be called with at least two source keys.")
        );
    }
    assert_eq!(error_of(&mut c, &["BITOP", "NAND", "dest", "key1", "key2"]), "ERR syntax error");
}
