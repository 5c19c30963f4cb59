//! MIGRATE over real sockets: keys move to Debian's redis-server and to another Keel with their TTLs,
//! COPY, REPLACE, KEYS, AUTH and AUTH2 behave as Redis's, the target's errors and an unreachable target
//! are reported in Redis's words, the password never shows in the slow log, the moved keys are logged as
//! DEL, and a provisioned database may not make the server open connections.

mod common;
use common::{error_of, run, RealRedis, TestDir, TestServer};

fn migrate(con: &mut redis::Connection, port: u16, tail: &[&str]) -> Result<String, String> {
    let mut args = vec!["MIGRATE".to_string(), "127.0.0.1".into(), port.to_string()];
    args.extend(tail.iter().map(|s| s.to_string()));
    common::command_of(&args).query::<String>(con).map_err(|e| e.to_string())
}

#[test]
fn keys_move_to_redis_server_with_their_ttls() {
    let Some(redis) = RealRedis::start(&[]) else { return };
    let mut target = redis.client();
    let dir = TestDir::new();
    let path = dir.0.clone();
    let keel = TestServer::with(move |s| {
        s.dir = path;
        s.appendfsync = "always".into();
    });
    let mut c = keel.client();
    run::<()>(&mut c, &["SET", "k", "v", "EX", "100"]);
    run::<i64>(&mut c, &["RPUSH", "l", "a", "b"]);
    run::<()>(&mut c, &["SET", "kept", "here"]);
    assert_eq!(migrate(&mut c, redis.port, &["k", "0", "5000"]), Ok("OK".into()));
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(run::<String>(&mut target, &["GET", "k"]), "v");
    assert!((90..=100).contains(&run::<i64>(&mut target, &["TTL", "k"])));
    assert_eq!(
        migrate(&mut c, redis.port, &["", "0", "5000", "COPY", "KEYS", "l", "kept", "missing"]),
        Ok("OK".into())
    );
    assert_eq!(run::<Vec<String>>(&mut target, &["LRANGE", "l", "0", "-1"]), ["a", "b"]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "l", "kept"]), 2, "COPY keeps them");
    assert_eq!(migrate(&mut c, redis.port, &["nothing", "0", "5000"]), Ok("NOKEY".into()));
    let busy = migrate(&mut c, redis.port, &["kept", "0", "5000"]).unwrap_err();
    assert!(busy.contains("Target instance replied with error: BUSYKEY"), "{busy}");
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "kept"]), 1, "a key the target refused stays");
    assert_eq!(migrate(&mut c, redis.port, &["kept", "3", "5000", "REPLACE"]), Ok("OK".into()));
    run::<()>(&mut target, &["SELECT", "3"]);
    assert_eq!(run::<String>(&mut target, &["GET", "kept"]), "here");
    let info: String = run(&mut c, &["INFO", "stats"]);
    assert!(info.contains("migrate_cached_sockets:1"), "{info}");
    for (args, error) in [
        (&["MIGRATE", "127.0.0.1", "1", "k", "0", "10", "AUTH"][..], "ERR syntax error"),
        (
            &["MIGRATE", "127.0.0.1", "1", "k", "0", "10", "KEYS", "a"],
            "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
        ),
        (&["MIGRATE", "127.0.0.1", "1", "k", "x", "10"], "ERR value is not an integer or out of range"),
    ] {
        assert_eq!(error_of(&mut c, args), error, "{args:?}");
    }
    drop(c);
    drop(keel);
    // The moved keys are in the log as DELs, never as MIGRATE.
    let log = common::incremental_log_text(&dir.0);
    assert!(log.contains("DEL") && !log.contains("MIGRATE"), "{log}");
}

#[test]
fn keys_move_to_another_keel_with_its_password_which_no_log_shows() {
    let target_server = TestServer::with(|s| s.requirepass = "target-pass".into());
    let port = target_server.addr.port();
    let keel = TestServer::start();
    let mut c = keel.client();
    run::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    run::<()>(&mut c, &["HSET", "h", "f", "1"]);
    let refused = migrate(&mut c, port, &["h", "0", "5000", "AUTH", "wrong"]).unwrap_err();
    assert!(refused.contains("Target instance replied with error: WRONGPASS"), "{refused}");
    assert_eq!(migrate(&mut c, port, &["h", "0", "5000", "AUTH2", "default", "target-pass"]), Ok("OK".into()));
    let mut target =
        redis::Client::open(format!("redis://:target-pass@{}/", target_server.addr)).unwrap().get_connection().unwrap();
    assert_eq!(run::<String>(&mut target, &["HGET", "h", "f"]), "1");
    let slowlog = format!("{:?}", run::<redis::Value>(&mut c, &["SLOWLOG", "GET", "10"]));
    assert!(
        !slowlog.contains("target-pass") && !slowlog.contains("wrong") && slowlog.contains("(redacted)"),
        "{slowlog}"
    );
    drop(target_server);
    run::<()>(&mut c, &["SET", "k", "v"]);
    let unreachable = migrate(&mut c, port, &["k", "0", "200"]).unwrap_err();
    assert!(unreachable.starts_with("IOERR") && unreachable.contains("error or timeout connecting"), "{unreachable}");
    assert_eq!(run::<String>(&mut c, &["GET", "k"]), "v");
}

#[test]
fn a_provisioned_database_cannot_migrate() {
    let keel = TestServer::with(|s| s.admin_token = "admin-secret".into());
    let db = common::create_database(&keel, "admin-secret", r#"{"name":"tenant"}"#);
    let url = format!("redis://default:{}@{}/", db["password"].as_str().unwrap(), keel.addr);
    let mut tenant = redis::Client::open(url).unwrap().get_connection().unwrap();
    run::<()>(&mut tenant, &["SET", "k", "v"]);
    let refused = migrate(&mut tenant, keel.addr.port(), &["k", "0", "1000"]).unwrap_err();
    assert!(refused.contains("not available to a database"), "{refused}");
    assert_eq!(run::<String>(&mut tenant, &["GET", "k"]), "v");
}
