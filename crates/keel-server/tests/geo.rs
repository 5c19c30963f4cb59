//! Geospatial commands over real sockets: the same commands against Keel and a real redis-server give the
//! same replies to the last bit; error texts; STORE variants.

mod common;
use common::{error_of, run, same_replies_as, words, RealRedis, TestServer};
use redis::Value;

#[test]
fn replies_equal_redis_s_to_the_last_bit() {
    let Some(real) = RealRedis::start(&[]) else { return };
    let server = TestServer::start();
    let (mut keel, mut redis) = (server.client(), real.client());
    // A deterministic spread of points over the globe, near the poles and the date line too.
    let mut script = Vec::new();
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..400 {
        let lon = next() * 360.0 - 180.0;
        let lat = next() * 170.0 - 85.0;
        script.push(words(&format!("GEOADD points {lon:.6} {lat:.6} p{i}")));
    }
    script.push(words("GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania"));
    for line in [
        "GEOPOS points p0 p1 p399 missing",
        "GEOHASH points p0 p7 p123 missing",
        "GEODIST points p0 p1",
        "GEODIST points p2 p3 km",
        "GEODIST points p2 p3 mi",
        "GEODIST Sicily Palermo Catania ft",
        "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC",
        "GEORADIUSBYMEMBER Sicily Palermo 100 mi WITHDIST DESC",
        "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST",
        "GEOSEARCH points FROMMEMBER p5 BYRADIUS 3000 km ASC WITHDIST WITHCOORD",
        "GEOSEARCH points FROMLONLAT 0 0 BYRADIUS 5000 km DESC COUNT 5 WITHDIST",
        "GEOSEARCH points FROMLONLAT 179 80 BYBOX 4000 2000 km ASC WITHDIST",
        "GEOSEARCH points FROMLONLAT -179 -80 BYRADIUS 2500 km ASC WITHHASH",
        "GEOSEARCH points FROMMEMBER p9 BYBOX 10000 10000 km ASC COUNT 20 WITHDIST",
        "GEOSEARCHSTORE near points FROMMEMBER p9 BYRADIUS 4000 km ASC COUNT 10 STOREDIST",
        "ZRANGE near 0 -1 WITHSCORES",
        "GEORADIUS points 10 10 3000 km STORE stored",
        "ZRANGE stored 0 -1 WITHSCORES",
        "GEOADD points XX CH 1 1 p0 2 2 newone",
        "GEOPOS points p0 newone",
        "GEORADIUS points 1 1 0 m WITHDIST",
    ] {
        script.push(words(line));
    }
    same_replies_as(&mut keel, &mut redis, &script, as_numbers);
}

/// A reply with every number written as a string read as the double it is, to be compared bit for bit:
/// Debian's Redis 7.0 writes scores with `%.17g` and coordinates with 17 decimals of a long double, Keel as
/// Redis 8 does (the shortest digits that read back), so the same double reads 614.55056445358298 in one
/// and 614.550564453583 in the other.
fn as_numbers(reply: Value) -> Value {
    match reply {
        Value::BulkString(text) => match std::str::from_utf8(&text).ok().and_then(|t| t.parse::<f64>().ok()) {
            Some(number) => Value::Double(number),
            None => Value::BulkString(text),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(as_numbers).collect()),
        other => other,
    }
}

#[test]
fn errors_have_redis_s_texts() {
    let server = TestServer::start();
    let mut c = server.client();
    run::<i64>(&mut c, &["GEOADD", "g", "13.361389", "38.115556", "Palermo"]);
    for (args, error) in [
        (&["GEOADD", "g", "200", "38", "x"][..], "ERR invalid longitude,latitude pair 200.000000,38.000000"),
        (&["GEOADD", "g", "13", "38"], "ERR wrong number of arguments for 'geoadd' command"),
        (&["GEOADD", "g", "NX", "XX", "13", "38", "x"], "ERR syntax error"),
        (&["GEOADD", "g", "13", "38", "x", "14"], "ERR syntax error"),
        (&["GEODIST", "g", "Palermo", "x", "parsec"], "ERR unsupported unit provided. please use M, KM, FT, MI"),
        (&["GEORADIUS", "g", "13", "38", "-1", "km"], "ERR radius cannot be negative"),
        (&["GEORADIUS", "g", "13", "38", "x", "km"], "ERR need numeric radius"),
        (&["GEORADIUSBYMEMBER", "g", "nobody", "1", "km"], "ERR could not decode requested zset member"),
        (&["GEORADIUS", "g", "13", "38", "1", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
        (&["GEORADIUS", "g", "13", "38", "1", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
        (
            &["GEORADIUS", "g", "13", "38", "1", "km", "WITHDIST", "STORE", "d"],
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        ),
        (&["GEORADIUS_RO", "g", "13", "38", "1", "km", "STORE", "d"], "ERR syntax error"),
        (
            &["GEOSEARCH", "g", "BYRADIUS", "1", "km", "ASC", "WITHDIST"],
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH",
        ),
        (
            &["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "ASC", "ASC"],
            "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH",
        ),
        (
            &["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYBOX", "-1", "1", "m"],
            "ERR height or width cannot be negative",
        ),
        (&["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYBOX", "1", "x", "m"], "ERR need numeric height"),
        (&["GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m", "STORE", "x"], "ERR syntax error"),
    ] {
        assert_eq!(error_of(&mut c, args), error, "{args:?}");
    }
    run::<()>(&mut c, &["SET", "s", "x"]);
    assert!(error_of(&mut c, &["GEOPOS", "s", "a"]).starts_with("WRONGTYPE"));
    // A missing source: empty results, and STORE deletes its destination.
    run::<i64>(&mut c, &["GEOADD", "dest", "1", "1", "a"]);
    assert_eq!(run::<i64>(&mut c, &["GEOSEARCHSTORE", "dest", "missing", "FROMMEMBER", "a", "BYRADIUS", "1", "km"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "dest"]), 0);
    assert_eq!(run::<Vec<String>>(&mut c, &["GEORADIUSBYMEMBER", "missing", "a", "1", "km"]), Vec::<String>::new());
    let keys: Vec<String> =
        run(&mut c, &["COMMAND", "GETKEYS", "GEORADIUS", "g", "1", "1", "1", "km", "STORE", "a", "STOREDIST", "b"]);
    assert_eq!(keys, ["g", "a", "b"], "as Redis 7.0.15 finds them: both STORE and STOREDIST");
}
