//! Server commands over real sockets: INFO, CONFIG, SLOWLOG, COMMAND, FLUSH*, SWAPDB, DEBUG, MONITOR and
//! SHUTDOWN.

mod common;
use common::{error_of, run, TestServer};
use redis::Value;

#[test]
fn info_reports_truthful_sections() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["SET", "a", "1", "EX", "100"]);
    run::<Option<String>>(&mut c, &["GET", "a"]);
    run::<Option<String>>(&mut c, &["GET", "missing"]);
    let info: String = run(&mut c, &["INFO"]);
    for needle in [
        "# Server",
        "redis_version:8.2.0",
        "keel_version:",
        "# Clients",
        "connected_clients:1",
        "# Memory",
        "used_memory:",
        "maxmemory_policy:noeviction",
        "mem_not_counted_for_evict:",
        "migrate_cached_sockets:0",
        "# Stats",
        "keyspace_hits:1",
        "keyspace_misses:1",
        "instantaneous_ops_per_sec:",
        "# Keyspace",
        "db0:keys=1,expires=1",
    ] {
        assert!(info.contains(needle), "INFO lacks {needle}");
    }
    assert!(!info.contains("# Commandstats"));
    // used_memory counts the overhead beside the dataset (at least this client's buffers), as Redis's does.
    let field = |name: &str| -> u64 {
        info.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).and_then(|v| v.trim().parse().ok()).unwrap()
    };
    assert!(field("used_memory_overhead") >= 4096, "this client's buffers");
    assert_eq!(field("used_memory"), field("used_memory_dataset") + field("used_memory_overhead"));
    // The database's own structures are counted before it holds anything (a fresh Redis reports about
    // 1 MB), and by maxmemory, as its clients' buffers are (as in Redis): what eviction leaves out (the
    // backlog, the log's buffer) is not this client's buffers.
    assert!(field("used_memory_startup") >= 4096, "{info}");
    let clients = field("used_memory_overhead") - field("used_memory_startup") - field("mem_not_counted_for_evict");
    assert!(clients >= 4096, "{info}");
    let stats: String = run(&mut c, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_get:calls=2,"), "{stats}");
    assert!(stats.contains("cmdstat_set:calls=1,"), "{stats}");
    let both: String = run(&mut c, &["INFO", "cpu", "clients"]);
    assert!(both.contains("# CPU") && both.contains("# Clients") && !both.contains("# Server"));
    let total: i64 =
        info.lines().find_map(|l| l.strip_prefix("total_commands_processed:")).unwrap().trim().parse().unwrap();
    assert!(total >= 3);
    let _ = error_of(&mut c, &["GET"]);
    let errors: String = run(&mut c, &["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_ERR:count=1"), "{errors}");
}

#[test]
fn config_get_set_resetstat() {
    let s = TestServer::start();
    let mut c = s.client();
    let got: Vec<String> = run(&mut c, &["CONFIG", "GET", "maxmemory"]);
    assert_eq!(got, vec!["maxmemory", "0"]);
    assert_eq!(run::<String>(&mut c, &["CONFIG", "SET", "maxmemory", "10mb", "timeout", "30"]), "OK");
    assert_eq!(run::<Vec<String>>(&mut c, &["CONFIG", "GET", "maxmemory"]), vec!["maxmemory", "10485760"]);
    let pairs: Vec<String> = run(&mut c, &["CONFIG", "GET", "time*", "maxmemory-p*"]);
    assert!(pairs.contains(&"timeout".to_string()) && pairs.contains(&"maxmemory-policy".to_string()));
    assert_eq!(
        error_of(&mut c, &["CONFIG", "SET", "nosuch", "1"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(
        error_of(&mut c, &["CONFIG", "SET", "maxmemory", "lots"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        error_of(&mut c, &["CONFIG", "SET", "daemonize", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    );
    // All or nothing: a bad pair leaves the good one unapplied.
    let _ = error_of(&mut c, &["CONFIG", "SET", "timeout", "99", "maxmemory", "lots"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["CONFIG", "GET", "timeout"]), vec!["timeout", "30"]);
    // The settings Redis's test harness changes before every unit.
    for (name, value) in [
        ("save", ""),
        ("list-max-ziplist-size", "16"),
        ("set-max-intset-entries", "512"),
        ("slowlog-log-slower-than", "10000"),
        // Redis 7.2+ takes any int and reads values below -5 as -5 and 0 as 1.
        ("list-max-listpack-size", "-6"),
        ("list-max-listpack-size", "0"),
    ] {
        assert_eq!(run::<String>(&mut c, &["CONFIG", "SET", name, value]), "OK", "{name}");
    }
    run::<Option<String>>(&mut c, &["GET", "x"]);
    assert_eq!(run::<String>(&mut c, &["CONFIG", "RESETSTAT"]), "OK");
    let stats: String = run(&mut c, &["INFO", "stats"]);
    assert!(stats.contains("keyspace_misses:0"));
}

/// `disable-thp yes` (the default, as in Redis) turns transparent huge pages off for the process; the
/// server here runs in the test's own process, so its status shows it.
#[test]
fn transparent_huge_pages_are_off_by_default() {
    let s = TestServer::start();
    let mut c = s.client();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("THP_enabled:")).expect("a kernel that reports THP_enabled");
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    assert_eq!(run::<Vec<String>>(&mut c, &["CONFIG", "GET", "disable-thp"]), vec!["disable-thp", "yes"]);
    assert_eq!(
        error_of(&mut c, &["CONFIG", "SET", "disable-thp", "no"]),
        "ERR CONFIG SET failed (possibly related to argument 'disable-thp') - can't set immutable config"
    );
}

#[test]
fn slowlog_records_and_trims() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    run::<String>(&mut c, &["SLOWLOG", "RESET"]);
    let long = "x".repeat(200);
    run::<String>(&mut c, &["SET", "k", &long]);
    let entries: Value = run(&mut c, &["SLOWLOG", "GET", "1"]);
    let Value::Array(entries) = entries else { panic!() };
    let Value::Array(entry) = &entries[0] else { panic!() };
    let Value::Array(args) = &entry[3] else { panic!() };
    assert_eq!(args[0], Value::BulkString(b"SET".to_vec()));
    let Value::BulkString(trimmed) = &args[2] else { panic!() };
    assert!(trimmed.ends_with(b"... (72 more bytes)"));
    assert!(run::<i64>(&mut c, &["SLOWLOG", "LEN"]) >= 1);
    run::<String>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    run::<String>(&mut c, &["SLOWLOG", "RESET"]);
    run::<String>(&mut c, &["PING"]);
    assert_eq!(run::<i64>(&mut c, &["SLOWLOG", "LEN"]), 0);
    assert_eq!(error_of(&mut c, &["SLOWLOG", "GET", "-2"]), "ERR count should be greater than or equal to -1");
    // The threshold applies as soon as it is set, to the CONFIG SET itself and to what is pipelined after it.
    let mut raw = s.raw();
    raw.send(b"CONFIG SET slowlog-log-slower-than 0\r\nSLOWLOG RESET\r\nCONFIG SET slowlog-log-slower-than -1\r\n");
    raw.expect(b"+OK\r\n+OK\r\n+OK\r\n");
    raw.send(b"CONFIG SET slowlog-log-slower-than 0\r\nECHO pipelined\r\nCONFIG SET slowlog-log-slower-than -1\r\n");
    raw.expect(b"+OK\r\n$9\r\npipelined\r\n+OK\r\n");
    let entries = format!("{:?}", run::<Value>(&mut c, &["SLOWLOG", "GET", "-1"]));
    assert_eq!(entries.matches("slowlog-log-slower-than").count(), 1, "{entries}");
    assert!(entries.contains("pipelined") && entries.contains("RESET"), "{entries}");
}

/// A command's time in the slow log and the command statistics is its own: not the time it waited for the
/// database while another client's DEBUG SLEEP held it, and, for a script's call, not the Lua code that ran
/// before the call.
#[test]
fn a_command_is_timed_without_its_wait_for_the_database() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "100000"]);
    run::<String>(&mut c, &["SLOWLOG", "RESET"]);
    let mut sleeper = s.raw();
    sleeper.send(b"DEBUG SLEEP 0.4\r\n");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut waiter = s.raw();
    waiter.send(b"INCR waited\r\n");
    waiter.expect(b":1\r\n");
    sleeper.expect(b"+OK\r\n");
    let busy = "local start = os.clock() repeat until os.clock() - start >= 0.2 \
                redis.call('SET', 'after', 'lua') return 1";
    run::<i64>(&mut c, &["EVAL", busy, "0"]);
    let entries = format!("{:?}", run::<Value>(&mut c, &["SLOWLOG", "GET", "-1"]));
    assert!(entries.contains("SLEEP") && entries.contains("EVAL"), "{entries}");
    assert_eq!(run::<i64>(&mut c, &["SLOWLOG", "LEN"]), 2, "{entries}");
    let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut c).unwrap();
    let usec_of = |name: &str| -> u64 {
        let line = stats.lines().find(|l| l.starts_with(&format!("cmdstat_{name}:"))).unwrap();
        line.split(['=', ',']).nth(3).unwrap().parse().unwrap()
    };
    assert!(usec_of("incr") < 100_000 && usec_of("set") < 100_000, "{stats}");
    assert!(usec_of("eval") >= 200_000, "{stats}");
}

#[test]
fn command_introspection_comes_from_the_table() {
    let s = TestServer::start();
    let mut c = s.client();
    let count: i64 = run(&mut c, &["COMMAND", "COUNT"]);
    let all: Vec<Value> = run(&mut c, &["COMMAND"]);
    assert_eq!(all.len() as i64, count);
    let info: Vec<Value> = run(&mut c, &["COMMAND", "INFO", "get", "nosuch"]);
    let Value::Array(get) = &info[0] else { panic!("{info:?}") };
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2));
    assert_eq!(info[1], Value::Nil);
    let keys: Vec<String> = run(&mut c, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]);
    assert_eq!(keys, vec!["a", "b"]);
    assert_eq!(error_of(&mut c, &["COMMAND", "GETKEYS", "PING", "x"]), "ERR The command has no key arguments");
    assert_eq!(error_of(&mut c, &["COMMAND", "GETKEYS", "NOPE", "x"]), "ERR Invalid command specified");
    // Redis 7.0.15's replies, read off a running redis-server.
    let flagged: Vec<(String, Vec<String>)> =
        run(&mut c, &["COMMAND", "GETKEYSANDFLAGS", "LMOVE", "a", "b", "LEFT", "RIGHT"]);
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let expected = vec![("a".to_string(), words(&["RW", "access", "delete"])), ("b".into(), words(&["RW", "insert"]))];
    assert_eq!(flagged, expected);
    let list: Vec<String> = run(&mut c, &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "string"]);
    assert!(list.contains(&"get".to_string()) && !list.contains(&"del".to_string()));
    let docs: Value = run(&mut c, &["COMMAND", "DOCS", "set"]);
    assert!(format!("{docs:?}").contains("summary"));
    // HELP lists every subcommand Keel serves, in Redis 8's words.
    let help: Vec<String> = run(&mut c, &["CLIENT", "HELP"]);
    for line in ["NO-TOUCH (ON|OFF)", "SETINFO <option> <value>", "    * MAXAGE <maxage>", "GETREDIR"] {
        assert!(help.iter().any(|l| l == line), "{line}: {help:?}");
    }
    // Sorted-set commands are of group `sorted-set`, as Redis's COMMAND DOCS names it.
    let docs: Value = run(&mut c, &["COMMAND", "DOCS", "zadd"]);
    assert!(format!("{docs:?}").contains("bulk-string('\"sorted-set\"')"), "{docs:?}");
}

/// COMMAND DOCS lists since, complexity, history and arguments in Redis 8's layout (redis-cli 8 builds its
/// argument hints from them: Redis 8.0.2's hint suite passes 69/69 against Keel), newer commands included.
#[test]
fn command_docs_lists_arguments_as_redis_8_does() {
    let s = TestServer::start();
    let mut c = s.client();
    let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
    let docs: Value = run(&mut c, &["COMMAND", "DOCS", "get"]);
    let key = Value::Array(vec![
        bulk("name"),
        bulk("key"),
        bulk("type"),
        bulk("key"),
        bulk("display_text"),
        bulk("key"),
        bulk("key_spec_index"),
        Value::Int(0),
    ]);
    let expected = Value::Array(vec![
        bulk("get"),
        Value::Array(vec![
            bulk("summary"),
            bulk("Get the value of a key"),
            bulk("since"),
            bulk("1.0.0"),
            bulk("group"),
            bulk("string"),
            bulk("complexity"),
            bulk("O(1)"),
            bulk("arguments"),
            Value::Array(vec![key]),
        ]),
    ]);
    assert_eq!(docs, expected);
    // A choice has no display text but arguments of its own; flags are a set of status strings.
    let georadius = format!("{:?}", run::<Value>(&mut c, &["COMMAND", "DOCS", "georadius"]));
    let store =
        "bulk-string('\"name\"'), bulk-string('\"store\"'), bulk-string('\"type\"'), bulk-string('\"oneof\"'), \
                 bulk-string('\"flags\"'), array([simple-string(\"optional\")]), bulk-string('\"arguments\"')";
    assert!(georadius.contains(store), "{georadius}");
    assert!(georadius.contains("bulk-string('\"group\"'), bulk-string('\"geo\"')"), "{georadius}");
    let zadd = format!("{:?}", run::<Value>(&mut c, &["COMMAND", "DOCS", "zadd"]));
    assert!(zadd.contains("sorted-set") && zadd.contains("history"), "{zadd}");
    let hgetex = format!("{:?}", run::<Value>(&mut c, &["COMMAND", "DOCS", "hgetex"]));
    assert!(hgetex.contains("8.0.0") && hgetex.contains("PERSIST") && hgetex.contains("FIELDS"), "{hgetex}");
}

#[test]
fn flush_and_swapdb() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["SET", "zero", "0"]);
    run::<String>(&mut c, &["SELECT", "1"]);
    run::<String>(&mut c, &["SET", "one", "1"]);
    assert_eq!(run::<String>(&mut c, &["SWAPDB", "0", "1"]), "OK");
    assert_eq!(run::<String>(&mut c, &["GET", "zero"]), "0");
    assert_eq!(error_of(&mut c, &["SWAPDB", "0", "x"]), "ERR invalid second DB index");
    assert_eq!(error_of(&mut c, &["SWAPDB", "0", "99"]), "ERR DB index is out of range");
    assert_eq!(run::<String>(&mut c, &["FLUSHDB", "ASYNC"]), "OK");
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 0);
    run::<String>(&mut c, &["SELECT", "0"]);
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 1);
    assert_eq!(error_of(&mut c, &["FLUSHALL", "NOW"]), "ERR syntax error");
    assert_eq!(run::<String>(&mut c, &["FLUSHALL", "SYNC"]), "OK");
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 0);
    let (secs, micros): (String, String) = run(&mut c, &["TIME"]);
    assert!(secs.parse::<u64>().unwrap() > 1_700_000_000 && micros.parse::<u64>().unwrap() < 1_000_000);
}

#[test]
fn debug_populate_and_sleep() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<String>(&mut c, &["DEBUG", "POPULATE", "1000"]), "OK");
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 1000);
    assert_eq!(run::<String>(&mut c, &["GET", "key:999"]), "value:999");
    run::<String>(&mut c, &["DEBUG", "POPULATE", "10", "p", "20"]);
    assert_eq!(run::<i64>(&mut c, &["STRLEN", "p:3"]), 20);
    let started = std::time::Instant::now();
    assert_eq!(run::<String>(&mut c, &["DEBUG", "SLEEP", "0.2"]), "OK");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}

#[test]
fn monitor_streams_commands() {
    let s = TestServer::start();
    let mut monitor = s.raw();
    monitor.send(b"MONITOR\r\n");
    monitor.expect(b"+OK\r\n");
    let mut c = s.client();
    run::<String>(&mut c, &["SET", "k", "a b\"c"]);
    let Ok(_) = monitor.stream.set_read_timeout(Some(std::time::Duration::from_secs(5))) else { panic!() };
    // The client's own handshake (CLIENT SETINFO) comes first; find the SET.
    let line = loop {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            line.extend(monitor.read_exact_len(1));
        }
        let line = String::from_utf8(line).unwrap();
        if line.contains("\"SET\"") {
            break line;
        }
    };
    assert!(line.starts_with('+') && line.contains(" [0 127.0.0.1:"), "{line}");
    assert!(line.ends_with("\"SET\" \"k\" \"a b\\\"c\"\r\n"), "{line}");
}

#[test]
fn shutdown_stops_the_server() {
    let s = TestServer::start();
    // Idle connections close too: one that only waits for input, and a subscriber waiting for messages.
    let mut idle = s.raw();
    idle.send(b"PING\r\n");
    idle.expect(b"+PONG\r\n");
    let mut subscriber = s.raw();
    subscriber.send(b"SUBSCRIBE news\r\n");
    subscriber.expect(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    let mut c = s.client();
    let _ = redis::cmd("SHUTDOWN").query::<Value>(&mut c);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(s.server.is_shutting_down());
    assert!(std::net::TcpStream::connect(s.addr).is_err(), "listener must be closed");
    for raw in [&mut idle, &mut subscriber] {
        // Closed by the shutdown itself, not by the listener aborting what is left after its 5-second grace.
        raw.stream.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut raw.stream, &mut byte).unwrap(), 0, "the server closes the connection");
    }
}

#[test]
fn monitor_shows_a_transaction_in_the_order_it_ran_and_client_list_the_query_buffer() {
    let s = TestServer::start();
    let mut monitor = s.raw();
    monitor.send(b"MONITOR\r\n");
    monitor.expect(b"+OK\r\n");
    let mut c = s.raw();
    c.send(b"MULTI\r\nSET foo bar\r\nEXEC\r\n");
    c.expect(b"+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
    let mut lines = Vec::new();
    while lines.len() < 3 {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            line.extend(monitor.read_exact_len(1));
        }
        lines.push(String::from_utf8(line).unwrap());
    }
    assert!(lines[0].ends_with("\"MULTI\"\r\n"), "{lines:?}");
    assert!(lines[1].ends_with("\"SET\" \"foo\" \"bar\"\r\n"), "{lines:?}");
    assert!(lines[2].ends_with("\"EXEC\"\r\n"), "{lines:?}");
    c.send(b"*2\r\n$6\r\nclient\r\n$4\r\nlist\r\n");
    let keel_protocol::Frame::Bulk(list) = c.read_frame() else { panic!("CLIENT LIST is a bulk string") };
    let list = String::from_utf8(list).unwrap();
    let own = list.lines().find(|l| l.contains("cmd=client|list")).unwrap();
    assert!(own.contains(" qbuf=26 "), "{own}");
}

#[test]
fn commands_redis_answers_without_modules_or_cluster_mode_answer_as_it_does() {
    let s = TestServer::start();
    let mut keel = s.client();
    let Some(real) = common::RealRedis::start(&["--enable-debug-command", "yes"]) else {
        common::skip_without("redis-server is missing");
        return;
    };
    let mut redis = real.client();
    let script: Vec<Vec<String>> = [
        "LOLWUT VERSION x",
        "MODULE LIST",
        "MODULE LOAD /nonexistent.so",
        "MODULE UNLOAD nothing",
        "MODULE LOADEX /nonexistent.so",
        "CLUSTER INFO",
        "CLUSTER KEYSLOT foo",
        "CLUSTER SLOTS",
        "CLUSTER ADDSLOTS 1 2",
        "CLUSTER MEET 127.0.0.1 7000",
        "CLUSTER RESET HARD",
        "ASKING",
        "SET k v",
        "DUMP k",
        "FAILOVER",
        "FAILOVER ABORT",
        "FAILOVER TIMEOUT 0",
        "FAILOVER TIMEOUT x",
        "FAILOVER TO host 6379 FORCE",
        "FAILOVER BOGUS",
        "DEBUG ERROR boom",
        "DEBUG ERROR -CUSTOM went wrong",
    ]
    .iter()
    .map(|line| common::words(line))
    .collect();
    common::same_replies(&mut keel, &mut redis, &script);
    // LOLWUT names the Redis Keel answers as (8.2; the reference here is 7.0).
    let lolwut: String = run(&mut keel, &["LOLWUT"]);
    assert_eq!(lolwut, "Redis ver. 8.2.0\n");
    // RESTORE-ASKING restores as RESTORE does.
    let payload: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut keel).unwrap();
    let restored: String = redis::cmd("RESTORE-ASKING").arg("k2").arg(0).arg(payload).query(&mut keel).unwrap();
    assert_eq!((restored, run::<String>(&mut keel, &["GET", "k2"])), ("OK".to_string(), "v".to_string()));
    // Redis 7.2's ZRANK/ZREVRANK WITHSCORE (the reference here is 7.0, so the values are checked directly).
    run::<()>(&mut keel, &["ZADD", "z", "1.5", "a", "2", "b"]);
    let ranked: (i64, String) = run(&mut keel, &["ZRANK", "z", "b", "WITHSCORE"]);
    assert_eq!(ranked, (1, "2".to_string()));
    let reverse: (i64, String) = run(&mut keel, &["ZREVRANK", "z", "a", "WITHSCORE"]);
    assert_eq!(reverse, (1, "1.5".to_string()));
    assert_eq!(run::<Value>(&mut keel, &["ZRANK", "z", "missing", "WITHSCORE"]), Value::Nil);
    assert_eq!(error_of(&mut keel, &["ZRANK", "z", "a", "WITHSCORES"]), "ERR syntax error");
    assert_eq!(
        error_of(&mut keel, &["ZRANK", "z", "a", "WITHSCORE", "x"]),
        "ERR wrong number of arguments for 'zrank' command"
    );
    let malloc: String = run(&mut keel, &["MEMORY", "MALLOC-STATS"]);
    assert_eq!(malloc, "Stats not supported for the current allocator");
}

/// Redis's hidden settings answer only when named; memory settings take units; HELLO's password is
/// redacted in the slow log, its other arguments are not (Redis 7.2's redaction).
#[test]
fn hidden_settings_memory_units_and_hello_redaction() {
    let s = TestServer::start();
    let mut c = s.client();
    let all: Vec<String> = run(&mut c, &["CONFIG", "GET", "*"]);
    // Keel's own start-up settings too: Redis's CONFIG sanity test sets back everything `*` lists.
    for hidden in ["key-load-delay", "http-port", "advertise", "cluster-lease"] {
        assert!(!all.iter().any(|n| n == hidden), "{hidden}");
    }
    let named: Vec<String> = run(&mut c, &["CONFIG", "GET", "key-load-delay"]);
    assert_eq!(named, ["key-load-delay", "0"]);
    let named: Vec<String> = run(&mut c, &["CONFIG", "GET", "http-port"]);
    assert_eq!(named[0], "http-port");
    let threads: Vec<String> = run(&mut c, &["CONFIG", "GET", "io-threads"]);
    assert_eq!(threads, ["io-threads", "1"]);
    run::<()>(&mut c, &["CONFIG", "SET", "client-query-buffer-limit", "10mb"]);
    let limit: Vec<String> = run(&mut c, &["CONFIG", "GET", "client-query-buffer-limit"]);
    assert_eq!(limit[1], "10485760");
    run::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    run::<redis::Value>(&mut c, &["HELLO", "2", "AUTH", "default", "nopass-needed"]);
    let slowlog = format!("{:?}", run::<redis::Value>(&mut c, &["SLOWLOG", "GET", "5"]));
    let shown = r#"bulk-string('"HELLO"'), bulk-string('"2"'), bulk-string('"AUTH"'), bulk-string('"(redacted)"'), bulk-string('"(redacted)"')"#;
    assert!(slowlog.contains(shown) && !slowlog.contains("nopass-needed"), "{slowlog}");
}

/// A blocking command reaches MONITOR once, when it first runs, and the slow log once, when it is served
/// (Redis 7.2).
#[test]
fn a_blocked_command_is_monitored_and_slow_logged_once() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    run::<()>(&mut c, &["SLOWLOG", "RESET"]);
    let mut monitor = s.raw();
    monitor.send(b"MONITOR\r\n");
    monitor.expect(b"+OK\r\n");
    let mut blocked = s.raw();
    blocked.send(b"BLPOP mylist 0\r\n");
    common::wait_for(|| run::<String>(&mut c, &["INFO", "clients"]).contains("blocked_clients:1"));
    let log_has_blpop =
        |c: &mut redis::Connection| format!("{:?}", run::<Value>(c, &["SLOWLOG", "GET", "100"])).contains("BLPOP");
    assert!(!log_has_blpop(&mut c), "not while it waits");
    run::<i64>(&mut c, &["LPUSH", "mylist", "1"]);
    blocked.expect(b"*2\r\n$6\r\nmylist\r\n$1\r\n1\r\n");
    run::<i64>(&mut c, &["LPUSH", "mylist", "2"]);
    assert!(log_has_blpop(&mut c), "once it is served");
    let mut seen = String::new();
    while !seen.contains("\"LPUSH\" \"mylist\" \"2\"") {
        seen.push_str(&String::from_utf8_lossy(&monitor.read_exact_len(1)));
    }
    assert_eq!(seen.matches("\"BLPOP\"").count(), 1, "{seen}");
}

/// INFO keysizes (Redis 8.0): per database and type, keys counted in power-of-two bins of their size
/// (bytes for strings, items for collections), following every change; expected text from Redis 8.0.2.
#[test]
fn info_keysizes_counts_keys_by_size() {
    let s = TestServer::start();
    let mut c = s.client();
    for command in [
        &["SET", "a", "1"][..],
        &["SET", "b", "12345678901234567"],
        &["SET", "n", "1234567890123456"],
        &["RPUSH", "l", "a", "b", "c"],
        &["SADD", "s", "x"],
        &["ZADD", "z", "1", "a"],
        &["HSET", "h", "f", "v"],
        &["XADD", "st", "*", "a", "b"],
    ] {
        run::<redis::Value>(&mut c, command);
    }
    let mut other = s.client();
    run::<()>(&mut other, &["SELECT", "3"]);
    run::<()>(&mut other, &["SET", "k", "vvvv"]);
    let expected = "# Keysizes\r\ndb0_distrib_strings_sizes:1=1,16=2\r\ndb0_distrib_lists_items:2=1\r\n\
                    db0_distrib_sets_items:1=1\r\ndb0_distrib_zsets_items:1=1\r\ndb0_distrib_hashes_items:1=1\r\n\
                    db3_distrib_strings_sizes:4=1\r\n";
    assert_eq!(run::<String>(&mut c, &["INFO", "keysizes"]), expected);
    run::<()>(&mut c, &["APPEND", "a", "23"]);
    run::<()>(&mut c, &["INCRBY", "n", "-1234567890123456"]);
    run::<()>(&mut c, &["LPOP", "l", "3"]);
    run::<()>(&mut c, &["SWAPDB", "0", "3"]);
    let expected = "# Keysizes\r\ndb0_distrib_strings_sizes:4=1\r\n\
                    db3_distrib_strings_sizes:1=1,2=1,16=1\r\ndb3_distrib_sets_items:1=1\r\n\
                    db3_distrib_zsets_items:1=1\r\ndb3_distrib_hashes_items:1=1\r\n";
    assert_eq!(run::<String>(&mut c, &["INFO", "keysizes"]), expected);
    run::<()>(&mut c, &["FLUSHALL"]);
    assert_eq!(run::<String>(&mut c, &["INFO", "keysizes"]), "# Keysizes\r\n");
}

/// DEBUG PAUSE-CRON (Redis's test hook): while set, the cron does nothing, so an expired key stays until
/// a read finds it; cleared, the cron expires it again.
#[test]
fn debug_pause_cron_stops_and_restarts_the_cron() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["DEBUG", "PAUSE-CRON", "1"]);
    run::<()>(&mut c, &["SET", "k", "v", "PX", "10"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 1, "no active expiry while the cron is paused");
    run::<()>(&mut c, &["DEBUG", "PAUSE-CRON", "0"]);
    common::wait_for(|| run::<i64>(&mut c, &["DBSIZE"]) == 0);
}
