//! Durability over real sockets: DUMP/RESTORE byte-compatible with Redis, RDB files both ways between Keel
//! and `redis-server`, recovery from the log after a restart, log compaction, point-in-time snapshots under
//! concurrent writes, a cut-off or corrupt log, the data directory lock, and MISCONF when the log cannot be
//! written. Crash tests with SIGKILL live with the binary (`crates/keel/tests/crash.rs`).

mod common;

use common::{error_of, run, wait_for, TestDir, TestServer};
use std::path::Path;
use std::time::{Duration, Instant};

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// A server on `dir` with neither the log nor save rules (snapshots only on demand).
fn without_persistence(dir: &Path) -> TestServer {
    TestServer::on_dir(dir, |s| {
        s.save = String::new();
        s.appendonly = false;
    })
}

fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = run(con, &["INFO", "persistence"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

/// Payloads `redis-server` 7.0.15 returned for DUMP, with the commands that made the values.
const REDIS_DUMPS: &[(&[&str], &str)] = &[
    (&["SET", "k", "12345"], "00c139300a009d94ea2793fc08b9"),
    (&["RPUSH", "k", "a", "1", "bb"], "12010210100000000300816102010182626203ff0a00df0af310be9d9e9d"),
    (&["SADD", "k", "3", "1", "2"], "0b0e02000000030000000100020003000a00a5025ce26d6e4d1b"),
    (&["ZADD", "k", "1", "a", "2.5", "b"], "1114140000000400816102010181620283322e3504ff0a00d44c6ea4f644d9d7"),
    (
        &["SET", "k", "abcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefgh"],
        "00c310405008616263646566676861e03c070167680a000db0c4745d888f3c",
    ),
];

#[test]
fn dump_equals_redis_bytes_and_restore_reads_them() {
    let server = TestServer::start();
    let mut con = server.client();
    for (make, payload) in REDIS_DUMPS {
        run::<()>(&mut con, &["DEL", "k"]);
        run::<redis::Value>(&mut con, make);
        let dumped: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut con).unwrap();
        assert_eq!(dumped, hex(payload), "DUMP after {make:?}");
        let _: () = redis::cmd("RESTORE").arg("copy").arg(0).arg(hex(payload)).arg("REPLACE").query(&mut con).unwrap();
        let again: Vec<u8> = redis::cmd("DUMP").arg("copy").query(&mut con).unwrap();
        assert_eq!(again, hex(payload));
    }
}

#[test]
fn restore_follows_redis_rules() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "src", "value"]);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("src").query(&mut con).unwrap();
    let restore = |con: &mut redis::Connection, args: &[&str]| -> redis::RedisResult<String> {
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(args[0]).arg(args[1]).arg(&payload);
        for a in &args[2..] {
            cmd.arg(*a);
        }
        cmd.query(con)
    };
    let busy = restore(&mut con, &["src", "0"]).unwrap_err();
    assert_eq!(busy.code(), Some("BUSYKEY"));
    assert_eq!(restore(&mut con, &["ttl", "5000"]).unwrap(), "OK");
    let pttl: i64 = run(&mut con, &["PTTL", "ttl"]);
    assert!((4000..=5000).contains(&pttl), "{pttl}");
    assert_eq!(restore(&mut con, &["abs", "4102444800000", "ABSTTL"]).unwrap(), "OK");
    assert_eq!(run::<i64>(&mut con, &["PEXPIRETIME", "abs"]), 4102444800000);
    // An absolute TTL in the past: OK, and no key.
    assert_eq!(restore(&mut con, &["gone", "1", "ABSTTL"]).unwrap(), "OK");
    assert_eq!(run::<i64>(&mut con, &["EXISTS", "gone"]), 0);
    assert_eq!(restore(&mut con, &["idle", "0", "IDLETIME", "1000"]).unwrap(), "OK");
    assert!(run::<i64>(&mut con, &["OBJECT", "IDLETIME", "idle"]) >= 1000);
    let negative = restore(&mut con, &["neg", "-1"]).unwrap_err();
    assert_eq!(negative.detail(), Some("Invalid TTL value, must be >= 0"));
    assert_eq!(
        error_of(&mut con, &["RESTORE", "bad", "0", "not a payload"]),
        "ERR DUMP payload version or checksum are wrong"
    );
    assert_eq!(
        error_of(&mut con, &["RESTORE", "bad", "0", "x", "FREQ", "300"]),
        "ERR Invalid FREQ value, must be >= 0 and <= 255"
    );
    let missing: Option<Vec<u8>> = redis::cmd("DUMP").arg("nosuchkey").query(&mut con).unwrap();
    assert_eq!(missing, None);
}

/// Checks the contents `make-redis-fixtures.sh` wrote.
fn assert_fixture_contents(con: &mut redis::Connection) {
    assert_eq!(run::<String>(con, &["GET", "str:int"]), "12345");
    assert_eq!(run::<String>(con, &["OBJECT", "ENCODING", "str:int"]), "int");
    assert_eq!(run::<String>(con, &["GET", "str:neg"]), "-7");
    assert_eq!(run::<String>(con, &["GET", "str:i64"]), "9223372036854775807");
    assert_eq!(run::<String>(con, &["GET", "str:embstr"]), "hello");
    assert_eq!(run::<String>(con, &["GET", "str:raw"]), "abcdefgh".repeat(40));
    assert_eq!(run::<Vec<u8>>(con, &["GET", "str:binary"]), (0..=255u8).collect::<Vec<u8>>());
    assert_eq!(run::<i64>(con, &["PEXPIRETIME", "str:ttl"]), 4102444800000);
    assert_eq!(run::<Vec<String>>(con, &["LRANGE", "list:small", "0", "-1"]), ["a", "b", "1", "2", "-3"]);
    assert_eq!(run::<i64>(con, &["LLEN", "list:big"]), 10000);
    assert_eq!(run::<String>(con, &["LINDEX", "list:big", "5000"]), "5000");
    assert_eq!(run::<String>(con, &["LINDEX", "list:big", "-1"]), "9999");
    assert_eq!(run::<String>(con, &["LINDEX", "list:long", "0"]).len(), 10000);
    assert_eq!(run::<String>(con, &["LINDEX", "list:long", "1"]), "tail");
    assert_eq!(run::<Vec<String>>(con, &["HMGET", "hash:small", "f1", "f2"]), ["v1", "2"]);
    assert_eq!(run::<String>(con, &["OBJECT", "ENCODING", "hash:small"]), "listpack");
    assert_eq!(run::<i64>(con, &["HLEN", "hash:big"]), 1000);
    assert_eq!(run::<String>(con, &["HGET", "hash:big", "field:777"]), "value:777");
    let mut members: Vec<i64> = run(con, &["SMEMBERS", "set:int64"]);
    members.sort();
    assert_eq!(members, [-5, 1099511627776]);
    assert_eq!(run::<String>(con, &["OBJECT", "ENCODING", "set:int16"]), "intset");
    assert_eq!(run::<i64>(con, &["SISMEMBER", "set:int32", "-100000"]), 1);
    assert_eq!(run::<i64>(con, &["SCARD", "set:big"]), 1000);
    assert_eq!(run::<i64>(con, &["SISMEMBER", "set:str", "b"]), 1);
    assert_eq!(
        run::<Vec<String>>(con, &["ZRANGE", "zset:small", "0", "-1", "WITHSCORES"]),
        ["c", "-inf", "a", "1", "b", "2.5"]
    );
    assert_eq!(run::<i64>(con, &["ZCARD", "zset:big"]), 1000);
    assert_eq!(run::<String>(con, &["ZSCORE", "zset:big", "member:999"]), "1498.5");
    assert_eq!(run::<i64>(con, &["DBSIZE"]), 19);
    run::<()>(con, &["SELECT", "3"]);
    assert_eq!(run::<String>(con, &["GET", "db3:key"]), "in-db-3");
    assert_eq!(run::<i64>(con, &["PEXPIRETIME", "db3:key"]), 4102444800000);
    run::<()>(con, &["SELECT", "0"]);
}

fn copy_fixture(dir: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/redis-7.0-all-types.rdb");
    std::fs::copy(fixture, dir.join("dump.rdb")).unwrap();
}

#[test]
fn a_dump_rdb_written_by_redis_loads_with_every_value_and_ttl() {
    let dir = TestDir::new();
    copy_fixture(&dir.0);
    let server = TestServer::on_dir(&dir.0, |s| s.appendonly = false);
    assert_fixture_contents(&mut server.client());
}

#[test]
fn the_first_start_with_the_log_on_makes_the_loaded_rdb_its_base_and_restarts_keep_it() {
    let dir = TestDir::new();
    copy_fixture(&dir.0);
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        assert_fixture_contents(&mut con);
        run::<()>(&mut con, &["SELECT", "7"]);
        run::<()>(&mut con, &["SET", "after", "load"]);
    }
    std::fs::remove_file(dir.0.join("dump.rdb")).unwrap();
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    let mut con = server.client();
    assert_fixture_contents(&mut con);
    run::<()>(&mut con, &["SELECT", "7"]);
    assert_eq!(run::<String>(&mut con, &["GET", "after"]), "load");
}

/// Writes one key of every kind through commands whose log form differs from what the client sent.
fn write_everything(con: &mut redis::Connection) {
    for args in [
        &["SET", "s", "v", "EX", "1000"][..],
        &["SETEX", "se", "1000", "v"],
        &["SET", "plain", "v"],
        &["INCRBYFLOAT", "f", "1.25"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f", "1"],
        &["HINCRBYFLOAT", "h", "f", "0.5"],
        &["SADD", "s2", "x", "y", "z", "w"],
        &["SPOP", "s2"],
        &["ZADD", "z", "1", "a", "2", "b"],
        &["EXPIRE", "l", "500"],
        &["SET", "gone", "v"],
        &["PEXPIRE", "gone", "1"],
        &["SELECT", "5"],
        &["SET", "in5", "five"],
        &["SELECT", "0"],
        &["RPUSH", "q1", "a", "b"],
        &["RPUSH", "q2", "c"],
        &["BLPOP", "empty", "q1", "q2", "0"],
        &["BRPOP", "q2", "0"],
        &["BLMOVE", "q1", "q3", "LEFT", "RIGHT", "0"],
        &["ZADD", "zq", "1", "x", "2", "y"],
        &["BZPOPMIN", "zq", "0"],
        &["SET", "gx", "v"],
        &["GETEX", "gx", "EX", "900"],
        &["SET", "px", "v"],
        &["GETEX", "px", "PERSIST"],
    ] {
        run::<redis::Value>(con, args);
    }
    let payload: Vec<u8> = redis::cmd("DUMP").arg("plain").query(con).unwrap();
    let _: () = redis::cmd("RESTORE").arg("restored").arg(700_000).arg(payload).query(con).unwrap();
    run::<redis::Value>(con, &["MULTI"]);
    run::<redis::Value>(con, &["INCR", "counter"]);
    run::<redis::Value>(con, &["RPUSH", "l", "d"]);
    run::<redis::Value>(con, &["EXEC"]);
    std::thread::sleep(Duration::from_millis(20));
    // Lazy expiry: the log records the deletion.
    assert_eq!(run::<i64>(con, &["EXISTS", "gone"]), 0);
}

fn snapshot_of(con: &mut redis::Connection) -> Vec<(String, Vec<u8>, i64)> {
    let mut keys: Vec<String> = run(con, &["KEYS", "*"]);
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let dump: Vec<u8> = redis::cmd("DUMP").arg(&k).query(con).unwrap();
            let at: i64 = run(con, &["PEXPIRETIME", &k]);
            (k, dump, at)
        })
        .collect()
}

#[test]
fn a_restart_replays_the_log_to_the_same_dataset() {
    let dir = TestDir::new();
    let (before, before5) = {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        write_everything(&mut con);
        let before = snapshot_of(&mut con);
        run::<()>(&mut con, &["SELECT", "5"]);
        (before, snapshot_of(&mut con))
    };
    assert!(!dir.0.join("dump.rdb").exists(), "no save rules: no snapshot on shutdown");
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    let mut con = server.client();
    assert_eq!(snapshot_of(&mut con), before);
    assert_eq!(run::<String>(&mut con, &["GET", "counter"]), "1");
    run::<()>(&mut con, &["SELECT", "5"]);
    assert_eq!(snapshot_of(&mut con), before5);
}

#[test]
fn compaction_makes_a_new_base_and_the_log_restarts() {
    let dir = TestDir::new();
    let before = {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        for i in 0..2000 {
            run::<()>(&mut con, &["SET", &format!("k{}", i % 100), &i.to_string()]);
        }
        assert_eq!(run::<String>(&mut con, &["BGREWRITEAOF"]), "Background append only file rewriting started");
        wait_for(|| {
            info_field(&mut con, "aof_rewrites") == "1" && info_field(&mut con, "aof_rewrite_in_progress") == "0"
        });
        run::<()>(&mut con, &["SET", "after", "compaction"]);
        snapshot_of(&mut con)
    };
    let manifest = std::fs::read_to_string(dir.0.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert_eq!(manifest, "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n");
    assert!(!dir.0.join("appendonlydir/appendonly.aof.1.incr.aof").exists());
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    assert_eq!(snapshot_of(&mut server.client()), before);
}

#[test]
fn the_log_compacts_itself_past_its_growth_factor() {
    let dir = TestDir::new();
    let server = TestServer::on_dir(&dir.0, |s| {
        s.save = String::new();
        s.auto_aof_rewrite_min_size = 64 * 1024;
        s.auto_aof_rewrite_percentage = 100;
    });
    let mut con = server.client();
    let value = "x".repeat(100);
    for i in 0..3000 {
        run::<()>(&mut con, &["SET", &format!("k{}", i % 10), &value]);
    }
    wait_for(|| info_field(&mut con, "aof_rewrites") != "0");
    // 3000 SETs of 100 bytes logged about 400 kB; ten keys' worth of data stays: once the cron has caught
    // up with the writes (on a busy machine they can all land between two of its checks), whatever was
    // written since the last compaction is at most twice the compacted size (the growth factor), far below.
    wait_for(|| {
        let size: u64 = info_field(&mut con, "aof_current_size").parse().unwrap_or(u64::MAX);
        info_field(&mut con, "aof_rewrite_in_progress") == "0" && size < 200 * 1024
    });
}

#[test]
fn a_background_snapshot_is_point_in_time_while_writes_continue() {
    let dir = TestDir::new();
    let server = without_persistence(&dir.0);
    let mut con = server.client();
    // Money moves between accounts in transactions; any instant's total is the same.
    const ACCOUNTS: usize = 50_000;
    const BALANCE: i64 = 100;
    run::<()>(&mut con, &["DEBUG", "POPULATE", &ACCOUNTS.to_string(), "acct"]);
    let mut fill = redis::pipe();
    for i in 0..ACCOUNTS {
        fill.cmd("SET").arg(format!("acct:{i}")).arg(BALANCE).ignore();
    }
    let _: () = fill.query(&mut con).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut writer = server.client();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut moves = 0u64;
                let mut i = w * 7919;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut batch = redis::pipe();
                    for _ in 0..100 {
                        i = (i * 31 + 17) % ACCOUNTS;
                        let j = (i * 7 + 3) % ACCOUNTS;
                        batch
                            .atomic()
                            .cmd("DECRBY")
                            .arg(format!("acct:{i}"))
                            .arg(1)
                            .cmd("INCRBY")
                            .arg(format!("acct:{j}"))
                            .arg(1);
                        let _: () = batch.query(&mut writer).unwrap();
                        batch = redis::pipe();
                        moves += 1;
                    }
                }
                moves
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(run::<String>(&mut con, &["BGSAVE"]), "Background saving started");
    wait_for(|| info_field(&mut con, "rdb_saves") == "1");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let moves: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(moves > 100, "the writers ran while saving");
    let file = std::fs::File::open(dir.0.join("dump.rdb")).unwrap();
    let (mut total, mut count) = (0i64, 0usize);
    keel_persist::rdb::load(file, &keel_persist::Limits::default(), 16, |e| {
        let text = e.value.as_string().unwrap().to_bytes().into_owned();
        total += std::str::from_utf8(&text).unwrap().parse::<i64>().unwrap();
        count += 1;
    })
    .unwrap();
    assert_eq!(count, ACCOUNTS);
    assert_eq!(total, ACCOUNTS as i64 * BALANCE, "the snapshot is one instant: no transfer is half in it");
}

#[test]
fn a_log_cut_off_by_a_crash_is_truncated_and_garbage_stops_start_up() {
    let dir = TestDir::new();
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        run::<()>(&mut con, &["SET", "a", "1"]);
        run::<()>(&mut con, &["SET", "b", "2"]);
    }
    let log = dir.0.join("appendonlydir/appendonly.aof.1.incr.aof");
    let complete = std::fs::metadata(&log).unwrap().len();
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1");
    std::fs::write(&log, &bytes).unwrap();
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        assert_eq!(run::<String>(&mut con, &["GET", "b"]), "2");
        assert_eq!(run::<i64>(&mut con, &["EXISTS", "c"]), 0);
    }
    assert_eq!(std::fs::metadata(&log).unwrap().len(), complete, "the cut-off command was dropped");
    // Garbage before the end: start-up stops and names the file and offset.
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.len();
    bytes.extend_from_slice(b"+garbage\r\n*1\r\n$4\r\nPING\r\n");
    std::fs::write(&log, &bytes).unwrap();
    let settings = keel_server::Settings { port: 0, http_port: 0, dir: dir.0.clone(), ..Default::default() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let err = match rt.block_on(keel_server::start(settings)) {
        Ok(_) => panic!("started on a corrupt log"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("appendonly.aof.1.incr.aof") && err.contains(&format!("offset {at}")), "{err}");
}

#[test]
fn a_second_keel_on_the_same_directory_is_refused() {
    let first = TestServer::start();
    let dir = first.server.settings.read().dir.clone();
    let settings = keel_server::Settings { port: 0, http_port: 0, dir, ..Default::default() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let err = match rt.block_on(keel_server::start(settings)) {
        Ok(_) => panic!("two servers on one directory"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("in use by another Keel"), "{err}");
}

#[test]
fn data_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "a", "1"]);
    run::<()>(&mut con, &["SAVE"]);
    let dir = server.server.settings.read().dir.clone();
    for file in
        ["dump.rdb", "keel.lock", "appendonlydir/appendonly.aof.1.incr.aof", "appendonlydir/appendonly.aof.manifest"]
    {
        let mode = std::fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}

#[test]
fn writes_are_refused_with_misconf_while_the_log_cannot_be_written() {
    let dir = TestDir::new();
    let server = without_persistence(&dir.0);
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "before", "1"]);
    // The next log file is a device that is always full.
    std::fs::create_dir_all(dir.0.join("appendonlydir")).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.0.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    run::<()>(&mut con, &["CONFIG", "SET", "appendonly", "yes"]);
    run::<()>(&mut con, &["SET", "a", "1"]);
    wait_for(|| info_field(&mut con, "aof_last_write_status") == "err");
    let refused = error_of(&mut con, &["SET", "b", "2"]);
    assert!(refused.starts_with("MISCONF Errors writing to the AOF file: No space left on device"), "{refused}");
    assert_eq!(run::<String>(&mut con, &["GET", "before"]), "1", "reads keep working");
}

#[test]
fn keel_snapshots_load_into_redis_server() {
    let Some(redis_server) = common::which("redis-server") else {
        common::skip_without("redis-server is not installed: no interop check (CI installs it)");
        return;
    };
    let dir = TestDir::new();
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    let mut con = server.client();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/redis-7.0-all-types.rdb");
    // Fill Keel from the fixture's contents, then let Keel write its own snapshot.
    let source = TestDir::new();
    std::fs::copy(fixture, source.0.join("dump.rdb")).unwrap();
    {
        let loader = TestServer::on_dir(&source.0, |s| s.appendonly = false);
        let mut from = loader.client();
        for db in [0, 3] {
            run::<()>(&mut from, &["SELECT", &db.to_string()]);
            run::<()>(&mut con, &["SELECT", &db.to_string()]);
            for (key, dump, at) in snapshot_of(&mut from) {
                let ttl = if at > 0 { at } else { 0 };
                let _: () = redis::cmd("RESTORE").arg(&key).arg(ttl).arg(dump).arg("ABSTTL").query(&mut con).unwrap();
            }
        }
        run::<()>(&mut con, &["SELECT", "0"]);
    }
    run::<()>(&mut con, &["SAVE"]);
    let check = std::process::Command::new(redis_server.with_file_name("redis-check-rdb"))
        .arg(dir.0.join("dump.rdb"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let dir_arg = dir.0.to_string_lossy();
    let Some(redis) = common::RealRedis::start(&["--dbfilename", "dump.rdb", "--dir", &dir_arg]) else { return };
    let mut redis_con = redis.client();
    assert_fixture_contents(&mut redis_con);
}

#[test]
fn a_blocked_pop_served_later_replays_as_the_pop_it_was() {
    let dir = TestDir::new();
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut waiter = server.client();
        let blocked = std::thread::spawn(move || run::<Vec<String>>(&mut waiter, &["BLPOP", "jobs", "0"]));
        let mut con = server.client();
        wait_for(|| run::<String>(&mut con, &["CLIENT", "LIST"]).contains("cmd=blpop"));
        run::<()>(&mut con, &["RPUSH", "jobs", "first", "second"]);
        assert_eq!(blocked.join().unwrap(), ["jobs", "first"]);
    }
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    assert_eq!(run::<Vec<String>>(&mut server.client(), &["LRANGE", "jobs", "0", "-1"]), ["second"]);
}

#[test]
fn shutdown_saves_a_snapshot_when_save_rules_are_set_unless_nosave() {
    let dir = TestDir::new();
    {
        let server = TestServer::on_dir(&dir.0, |_| {});
        run::<()>(&mut server.client(), &["SET", "k", "v"]);
    }
    assert!(dir.0.join("dump.rdb").exists(), "default save rules: a snapshot on shutdown");
    std::fs::remove_file(dir.0.join("dump.rdb")).unwrap();
    {
        let server = TestServer::on_dir(&dir.0, |_| {});
        let mut con = server.client();
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
    }
    assert!(!dir.0.join("dump.rdb").exists(), "SHUTDOWN NOSAVE");
}

#[test]
fn clients_are_told_loading_while_the_data_loads() {
    let dir = TestDir::new();
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        run::<()>(&mut con, &["DEBUG", "POPULATE", "300000", "key", "50"]);
        run::<String>(&mut con, &["BGREWRITEAOF"]);
        wait_for(|| {
            info_field(&mut con, "aof_rewrites") == "1" && info_field(&mut con, "aof_rewrite_in_progress") == "0"
        });
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = dir.0.clone();
    let starting = std::thread::spawn(move || {
        TestServer::on_dir(&path, |s| {
            s.save = String::new();
            s.port = port;
        })
    });
    let mut saw_loading = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !starting.is_finished() && Instant::now() < deadline {
        let Ok(mut con) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        match redis::cmd("GET").arg("key:1").query::<Option<String>>(&mut con) {
            Err(e) if e.code() == Some("LOADING") => {
                let info: String = redis::cmd("INFO").query(&mut con).unwrap();
                assert!(info.contains("loading:1") && info.contains("loading_total_bytes:"), "{info}");
                saw_loading = true;
                break;
            }
            _ => break,
        }
    }
    let server = starting.join().unwrap();
    assert!(saw_loading, "a client connected during loading was told LOADING");
    assert_eq!(run::<i64>(&mut server.client(), &["DBSIZE"]), 300000);
}

/// Keel's own LZF encoder (one hash table per thread, never cleared) writes strings that Redis's
/// decompressor reads back exactly, for every shape: runs, repeats at every distance, and noise.
#[test]
fn redis_reads_every_compressed_string_keel_writes() {
    if common::which("redis-server").is_none() {
        return common::skip_without("redis-server is not installed (CI installs it)");
    }
    let dir = TestDir::new();
    let mut expected = Vec::new();
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for n in 0..400usize {
            let mut value = Vec::new();
            while value.len() < 21 + n * 13 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                match seed % 4 {
                    0 => value.extend(std::iter::repeat_n(b'a' + (seed % 26) as u8, (seed % 300) as usize)),
                    1 if value.len() > 8 => {
                        let from = (seed as usize / 7) % value.len();
                        let piece = value[from..(from + 40).min(value.len())].to_vec();
                        value.extend(piece);
                    }
                    _ => value.extend((0..(seed % 50)).map(|i| (seed >> (i % 56)) as u8)),
                }
            }
            let key = format!("k{n}");
            let _: () = redis::cmd("SET").arg(&key).arg(&value).query(&mut con).unwrap();
            expected.push((key, value));
        }
        run::<()>(&mut con, &["SAVE"]);
    }
    let raw: usize = expected.iter().map(|(_, v)| v.len()).sum();
    let saved = std::fs::metadata(dir.0.join("dump.rdb")).unwrap().len() as usize;
    assert!(saved < raw * 3 / 4, "the strings were compressed: {saved} bytes for {raw}");
    let dir_arg = dir.0.to_string_lossy();
    let Some(redis) = common::RealRedis::start(&["--dbfilename", "dump.rdb", "--dir", &dir_arg]) else { return };
    let mut con = redis.client();
    for (key, value) in expected {
        let got: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
        assert_eq!(got, value, "{key}");
    }
}

/// `rdb-key-save-delay` (Redis's test hook) paces a background snapshot to one key per pause, so tests can
/// see one in progress; set back to 0, the snapshot finishes at once.
#[test]
fn rdb_key_save_delay_paces_a_background_snapshot() {
    let dir = TestDir::new();
    let s = without_persistence(&dir.0);
    let mut c = s.client();
    for key in ["a", "b", "c"] {
        run::<()>(&mut c, &["SET", key, "v"]);
    }
    run::<()>(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "100000000"]);
    run::<String>(&mut c, &["BGSAVE"]);
    wait_for(|| info_field(&mut c, "rdb_bgsave_in_progress") == "1");
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1", "one key per 100 s");
    run::<()>(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    wait_for(|| info_field(&mut c, "rdb_bgsave_in_progress") == "0");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
}

/// RESTORE .. REPLACE of a payload already past its TTL deletes the key it replaced, and the log says so
/// with DEL, or UNLINK under `lazyfree-lazy-server-del`, as Redis propagates it.
#[test]
fn restore_of_an_expired_payload_over_a_key_is_logged_as_its_deletion() {
    let dir = TestDir::new();
    {
        let s = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut c = s.client();
        run::<()>(&mut c, &["SET", "source", "v"]);
        let dump: Vec<u8> = redis::cmd("DUMP").arg("source").query(&mut c).unwrap();
        for (key, lazy) in [("first", "no"), ("second", "yes")] {
            run::<()>(&mut c, &["SET", key, "old"]);
            run::<()>(&mut c, &["CONFIG", "SET", "lazyfree-lazy-server-del", lazy]);
            let restored: String =
                redis::cmd("RESTORE").arg(key).arg(1).arg(&dump).arg("REPLACE").arg("ABSTTL").query(&mut c).unwrap();
            assert_eq!(restored, "OK");
        }
        assert_eq!(run::<i64>(&mut c, &["EXISTS", "first", "second"]), 0);
    }
    let log = common::incremental_log_text(&dir.0);
    assert!(log.contains("$3\r\nDEL\r\n$5\r\nFIRST\r\n"), "{log}");
    assert!(log.contains("$6\r\nUNLINK\r\n$6\r\nSECOND\r\n"), "{log}");
}
