//! Lua scripting over real sockets: EVAL/EVALSHA and the script cache, Redis's conversion rules, the
//! bundled libraries, the sandbox, read-only scripts and shebang flags, atomicity, effects in the log across
//! a restart, BUSY / SCRIPT KILL / SHUTDOWN NOSAVE, FUNCTION libraries, and one of BullMQ's own scripts.

mod common;

use common::{error_of, run, wait_for, TestDir, TestServer};
use redis::Value;
use std::path::Path;

fn eval<T: redis::FromRedisValue>(con: &mut redis::Connection, script: &str, keys: &[&str], args: &[&str]) -> T {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
    cmd.query(con).unwrap_or_else(|e| panic!("{script}: {e}"))
}

fn eval_error(con: &mut redis::Connection, script: &str) -> String {
    error_of(con, &["EVAL", script, "0"])
}

#[test]
fn replies_and_results_convert_as_in_redis() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["RPUSH", "l", "a", "b"]);
    // Lua → reply: numbers truncate, false is nil, tables stop at the first nil, status and error tables.
    let v: Value = eval(&mut con, "return {1, 2.9, 'x', false, 'after'}", &[], &[]);
    let expected = Value::Array(vec![
        Value::Int(1),
        Value::Int(2),
        Value::BulkString(b"x".to_vec()),
        Value::Nil,
        Value::BulkString(b"after".to_vec()),
    ]);
    assert_eq!(v, expected);
    assert_eq!(eval::<Value>(&mut con, "return {1, nil, 3}", &[], &[]), Value::Array(vec![Value::Int(1)]));
    assert_eq!(eval::<Value>(&mut con, "return true", &[], &[]), Value::Int(1));
    assert_eq!(
        eval::<Value>(&mut con, "return redis.status_reply('FINE')", &[], &[]),
        Value::SimpleString("FINE".into())
    );
    assert_eq!(eval_error(&mut con, "return redis.error_reply('MY custom error')"), "MY custom error");
    // Reply → Lua: integers, bulk strings, arrays, nil as false, status as {ok=...}.
    let script = "local t = {} \
        t[1] = type(redis.call('llen', 'l')) \
        t[2] = redis.call('lrange', 'l', 0, -1)[2] \
        t[3] = tostring(redis.call('get', 'missing')) \
        t[4] = redis.call('set', 'k', 'v')['ok'] \
        return t";
    let v: Vec<String> = eval(&mut con, script, &[], &[]);
    assert_eq!(v, ["number", "b", "false", "OK"]);
    // KEYS and ARGV, and numbers passed to redis.call as Redis 7.2+ formats them (the shortest digits that
    // read back, an integer when integral, 0 for negative zero; Redis 8.0.2 gives the same four strings).
    let v: Vec<String> = eval(&mut con, "return {KEYS[1], ARGV[1], ARGV[2]}", &["key"], &["a1", "a2"]);
    assert_eq!(v, ["key", "a1", "a2"]);
    let script = "redis.call('set', 'n', 0.1) redis.call('set', 'm', -0.0) redis.call('set', 'o', 1e20) \
                  redis.call('set', 'p', 3) return redis.call('mget', 'n', 'm', 'o', 'p')";
    assert_eq!(eval::<Vec<String>>(&mut con, script, &[], &[]), ["0.1", "0", "1e+20", "3"]);
    // RESP3 inside the script: a map reply becomes {map = ...}, returned as a map (flattened for RESP2).
    run::<()>(&mut con, &["HSET", "h", "f", "v"]);
    let v: Vec<String> = eval(&mut con, "redis.setresp(3) return redis.call('hgetall', 'h')", &[], &[]);
    assert_eq!(v, ["f", "v"]);
    let v: String = eval(&mut con, "redis.setresp(3) return redis.call('hgetall', 'h')['map']['f']", &[], &[]);
    assert_eq!(v, "v");
    // A recursive table gets Redis's stack-limit error, and the connection stays usable.
    let mut raw = server.raw();
    raw.send(b"EVAL \"local a = {} a[1] = a return a\" 0\r\n");
    let mut expected = b"*1\r\n".repeat(1001);
    expected.extend_from_slice(b"-ERR reached lua stack limit\r\n");
    raw.expect(&expected);
    raw.send(b"PING\r\n");
    raw.expect(b"+PONG\r\n");
}

#[test]
fn errors_name_the_script_and_line_as_redis_does() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "s", "text"]);
    let sha = run::<String>(&mut con, &["SCRIPT", "LOAD", "return redis.call('incr', 's')"]);
    assert_eq!(
        error_of(&mut con, &["EVALSHA", &sha, "0"]),
        format!("ERR value is not an integer or out of range script: {sha}, on @user_script:1.")
    );
    assert!(eval_error(&mut con, "return redis.call('nosuchcommand')")
        .starts_with("ERR Unknown Redis command called from script script: "));
    assert!(eval_error(&mut con, "return redis.call('get')")
        .starts_with("ERR Wrong number of args calling Redis command from script"));
    assert!(eval_error(&mut con, "redis.call('subscribe', 'c')").starts_with("ERR This Redis command is not allowed"));
    assert!(eval_error(&mut con, "\n\nerror('boom')").starts_with("ERR user_script:3: boom script: "));
    // redis.pcall and pcall hand the error to the script instead of raising it.
    let v: String = eval(&mut con, "return redis.pcall('incr', 's')['err']", &[], &[]);
    assert_eq!(v, "ERR value is not an integer or out of range");
    let v: String = eval(&mut con, "local ok, e = pcall(redis.call, 'incr', 's') return e", &[], &[]);
    assert_eq!(v, "ERR value is not an integer or out of range");
    assert!(eval_error(&mut con, "return 'unclosed")
        .starts_with("ERR Error compiling script (new function): user_script:1:"));
    // Blocking commands run in a script without blocking, as in Redis 7.2: as if they timed out.
    let popped: Option<Vec<String>> = eval(&mut con, "return redis.call('blpop', 'nolist', 0)", &[], &[]);
    assert_eq!(popped, None);
    let read: Option<Vec<String>> =
        eval(&mut con, "return redis.call('xread', 'BLOCK', 0, 'STREAMS', 'nostream', '$')", &[], &[]);
    assert_eq!(read, None);
    // `os` holds `clock` alone, and pairs() lists a library's contents without opening it to writes.
    let listed: String = eval(
        &mut con,
        "local k = {} for name in pairs(os) do k[#k+1] = name end return table.concat(k, ',')",
        &[],
        &[],
    );
    assert_eq!(listed, "clock");
    assert!(eval_error(&mut con, "os.execute()").contains("attempt to call field 'execute'"));
    assert!(eval_error(&mut con, "os.clock = nil").contains("Attempt to modify a readonly table"));
}

#[test]
fn evalsha_and_the_script_cache() {
    let server = TestServer::start();
    let mut con = server.client();
    let body = "return 'cached'";
    let sha = run::<String>(&mut con, &["SCRIPT", "LOAD", body]);
    assert_eq!(sha.len(), 40);
    assert!(sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(run::<String>(&mut con, &["EVALSHA", &sha, "0"]), "cached");
    assert_eq!(run::<String>(&mut con, &["EVALSHA", &sha.to_uppercase(), "0"]), "cached");
    let exists: Vec<i64> = run(&mut con, &["SCRIPT", "EXISTS", &sha, "0000000000000000000000000000000000000000"]);
    assert_eq!(exists, [1, 0]);
    // Clients fall back to EVAL on exactly this text.
    let nosha = "ffffffffffffffffffffffffffffffffffffffff";
    assert_eq!(error_of(&mut con, &["EVALSHA", nosha, "0"]), "NOSCRIPT No matching script. Please use EVAL.");
    assert_eq!(error_of(&mut con, &["EVALSHA", "short", "0"]), "NOSCRIPT No matching script. Please use EVAL.");
    run::<()>(&mut con, &["SCRIPT", "FLUSH"]);
    assert_eq!(error_of(&mut con, &["EVALSHA", &sha, "0"]), "NOSCRIPT No matching script. Please use EVAL.");
    assert_eq!(
        error_of(&mut con, &["EVAL", "return 1", "2", "a"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(error_of(&mut con, &["EVAL", "return 1", "-1"]), "ERR Number of keys can't be negative");
    assert_eq!(error_of(&mut con, &["EVAL", "return 1", "x"]), "ERR value is not an integer or out of range");
}

#[test]
fn the_bundled_libraries_behave_as_in_redis() {
    let server = TestServer::start();
    let mut con = server.client();
    // cjson: arrays, objects, cjson.null, %.14g numbers, escaped slashes.
    let v: String = eval(&mut con, "return cjson.encode({1, 2.5, 'a/b', {x = true}})", &[], &[]);
    assert_eq!(v, r#"[1,2.5,"a\/b",{"x":true}]"#);
    let v: String = eval(&mut con, "return cjson.encode({})", &[], &[]);
    assert_eq!(v, "{}");
    let v: String = eval(
        &mut con,
        "local t = cjson.decode('{\"a\":[1,null,\"\\\\u00e9\"],\"b\":0.3e-3}') \
         return table.concat({t.a[1], tostring(t.a[2] == cjson.null), t.a[3], t.b}, ' ')",
        &[],
        &[],
    );
    assert_eq!(v, "1 true é 0.0003");
    assert!(
        eval_error(&mut con, "return cjson.decode('[1,')").contains("Expected value but found T_END at character 4")
    );
    assert!(eval_error(&mut con, "return cjson.encode({[1]=1, [100]=2})").contains("excessively sparse array"));
    // cmsgpack: smallest encodings, round trip, several values.
    let v: String = eval(
        &mut con,
        "local s = cmsgpack.pack({1, -1, 300, 'hi', true}, 0.5) \
         local h = '' for i = 1, #s do h = h .. string.format('%02x', s:byte(i)) end return h",
        &[],
        &[],
    );
    assert_eq!(v, "9501ffcd012ca26869c3ca3f000000");
    let v: i64 = eval(
        &mut con,
        "local a, b = cmsgpack.unpack(cmsgpack.pack({x = {1, 2, 3}}, 7)) return a.x[3] * 10 + b",
        &[],
        &[],
    );
    assert_eq!(v, 37);
    // bit: 32-bit operations with signed results.
    let v: Vec<i64> = eval(
        &mut con,
        "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 1), bit.lshift(1, 31), bit.tobit(2^32 + 5), bit.bnot(0)}",
        &[],
        &[],
    );
    assert_eq!(v, [15, 7, 4, -2147483648, 5, -1]);
    assert_eq!(eval::<String>(&mut con, "return bit.tohex(65535, -2147483648)", &[], &[]), "0000FFFF");
    // struct: pack, unpack with the next position, size.
    let v: Vec<i64> = eval(
        &mut con,
        "local s = struct.pack('>I2i4', 258, -2) local a, b, nxt = struct.unpack('>I2i4', s) \
         return {#s, a, b, nxt, struct.size('<i8')}",
        &[],
        &[],
    );
    assert_eq!(v, [6, 258, -2, 7, 8]);
    // The global unpack, including its guard against huge ranges (Lua 5.1 overflowed there).
    let v: i64 = eval(
        &mut con,
        "local a = {} for i = 1, 7999 do a[i] = 'x' end return redis.call('rpush', 'big', unpack(a))",
        &[],
        &[],
    );
    assert_eq!(v, 7999);
    assert!(eval_error(&mut con, "return {unpack({1,2,3}, -2, 2147483647)}").contains("too many results to unpack"));
}

#[test]
fn the_sandbox_keeps_scripts_from_the_system_and_from_each_other() {
    let server = TestServer::start();
    let mut con = server.client();
    for script in ["io.open('/etc/passwd')", "loadfile('/etc/passwd')", "dofile('/x')", "print('x')"] {
        let e = eval_error(&mut con, script);
        assert!(e.contains("Script attempted to access nonexistent global variable"), "{script}: {e}");
    }
    // `os` has `clock` and nothing else (Redis 7's sandbox).
    for script in ["os.exit()", "os.execute('id')", "os.getenv('HOME')", "os.remove('/x')"] {
        assert!(eval_error(&mut con, script).contains("attempt to call field"), "{script}");
    }
    for script in [
        "x = 1",
        "redis.call = nil",
        "cjson.encode = nil",
        "setmetatable(_G, {})",
        "getmetatable(_G).__index = {}",
        "rawset(_G, 'y', 1)",
        "getmetatable('').__index = {}",
    ] {
        let e = eval_error(&mut con, script);
        assert!(e.contains("Attempt to modify a readonly table"), "{script}: {e}");
    }
    assert!(eval_error(&mut con, "return loadstring(string.dump(function() return 1 end))()")
        .contains("attempt to call a nil value"));
    // Code loaded at run time is sandboxed too.
    assert!(eval_error(&mut con, "loadstring('z = 1')()").contains("Attempt to modify a readonly table"));
}

/// The tables behind the sandbox's read-only views are out of every script's reach: neither a view's
/// metatable nor pairs() hands them out. Through them a user allowed only read-only scripts could swap
/// `redis.call` for code that every later script, whoever ran it, would call with its own rights.
#[test]
fn no_script_reaches_the_tables_behind_the_read_only_views() {
    let server = TestServer::start();
    let mut admin = server.client();
    run::<()>(&mut admin, &["ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@read", "+eval_ro", "+ping"]);
    let mut reader = server.client();
    run::<()>(&mut reader, &["AUTH", "reader", "pw"]);
    for script in [
        "getmetatable(redis).__index.call = function() return 'hijacked' end",
        "getmetatable(string).__index.upper = nil",
        "getmetatable('').__index.upper = nil",
        "getmetatable(getmetatable(redis)).__index.call = nil",
        "local _, t = pairs(redis) t.call = nil",
        "local _, t = pairs(cjson) t.encode = nil",
        "getmetatable(_G).__index.redis = nil",
    ] {
        let refused = redis::cmd("EVAL_RO").arg(script).arg(0).query::<Value>(&mut reader).unwrap_err();
        assert!(refused.to_string().contains("Attempt to modify a readonly table"), "{script}: {refused}");
    }
    // Reading through the views still works, and what they read is unchanged.
    let script = "return {redis.call('ping'), string.upper('a'), ('b'):upper(), cjson.encode({1})}";
    let replies: Vec<String> = eval(&mut admin, script, &[], &[]);
    assert_eq!(replies, ["PONG", "A", "B", "[1]"]);
    let count = "local n = 0 for _ in pairs(string) do n = n + 1 end return n";
    assert!(eval::<i64>(&mut admin, count, &[], &[]) > 10, "pairs() still lists a library");
}

#[test]
fn read_only_scripts_and_shebang_flags() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "k", "v"]);
    assert_eq!(run::<String>(&mut con, &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"]), "v");
    assert!(error_of(&mut con, &["EVAL_RO", "return redis.call('set', 'k', 'x')", "0"])
        .starts_with("ERR Write commands are not allowed from read-only scripts."));
    let no_writes = "#!lua flags=no-writes\nreturn redis.call('set', 'k', 'x')";
    assert!(eval_error(&mut con, no_writes).starts_with("ERR Write commands are not allowed from read-only scripts."));
    assert_eq!(
        error_of(&mut con, &["EVAL_RO", "#!lua\nreturn 1", "0"]),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    // The flag the Upstash rate-limit library sets on its scripts is accepted.
    let upstash = "#!lua flags=allow-key-locking,allow-cross-slot-keys\nreturn redis.call('incr', KEYS[1])";
    assert_eq!(eval::<i64>(&mut con, upstash, &["hits"], &[]), 1);
    assert_eq!(eval_error(&mut con, "#!lua flags=bogus\nreturn 1"), "ERR Unexpected flag in script shebang: bogus");
    assert_eq!(eval_error(&mut con, "#!python\nreturn 1"), "ERR Unexpected engine in script shebang: #!python");
    // Line numbers count the shebang line.
    assert!(eval_error(&mut con, "#!lua\nerror('x')").contains("user_script:2: x"));
}

#[test]
fn a_script_runs_atomically_among_concurrent_clients() {
    let server = TestServer::start();
    // A read-modify-write in Lua: only atomic execution makes the counts add up.
    let script = "local v = tonumber(redis.call('get', KEYS[1]) or '0') redis.call('set', KEYS[1], v + 1) return v + 1";
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut con = server.client();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    eval::<i64>(&mut con, script, &["counter"], &[]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(run::<i64>(&mut server.client(), &["GET", "counter"]), 2000);
}

#[test]
fn a_script_s_effects_are_logged_as_its_commands_and_survive_a_restart() {
    let dir = TestDir::new();
    let expected: (String, Vec<String>, String) = {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        run::<()>(&mut con, &["SADD", "pool", "a", "b", "c", "d"]);
        // SPOP and TIME differ on every run: replaying the EVAL would not give the same data.
        let script = "local popped = redis.call('spop', KEYS[1]) \
                      local t = redis.call('time')[1] \
                      redis.call('set', KEYS[2], popped .. ':' .. t, 'EX', 1000) \
                      redis.call('incrbyfloat', KEYS[3], '0.1') \
                      return popped";
        eval::<String>(&mut con, script, &["pool", "result", "float"], &[]);
        let result = run::<String>(&mut con, &["GET", "result"]);
        let mut pool: Vec<String> = run(&mut con, &["SMEMBERS", "pool"]);
        pool.sort();
        (result, pool, run::<String>(&mut con, &["GET", "float"]))
    };
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    let mut con = server.client();
    let mut pool: Vec<String> = run(&mut con, &["SMEMBERS", "pool"]);
    pool.sort();
    assert_eq!(
        (run::<String>(&mut con, &["GET", "result"]), pool, run::<String>(&mut con, &["GET", "float"])),
        expected
    );
    assert!(run::<i64>(&mut con, &["TTL", "result"]) > 900);
}

#[test]
fn a_busy_script_answers_others_with_busy_until_script_kill() {
    let server = TestServer::with(|s| s.busy_reply_threshold = 50);
    let mut runner = server.client();
    let handle = std::thread::spawn(move || {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg("local i = 0 while true do i = i + 1 end").arg(0);
        cmd.query::<Value>(&mut runner).expect_err("the script is killed")
    });
    let mut other = server.client();
    common::wait_for(|| redis::cmd("PING").query::<String>(&mut other).is_err_and(|e| e.code() == Some("BUSY")));
    assert_eq!(
        error_of(&mut other, &["GET", "k"]),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    assert_eq!(
        error_of(&mut other, &["FUNCTION", "KILL"]),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    // A transaction opened during the script: its refused command aborts it, and EXEC discards it.
    let mut tx = server.raw();
    tx.send(b"MULTI\r\nINCR n\r\nEXEC\r\nPING\r\n");
    tx.expect(b"+OK\r\n-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n");
    tx.expect(b"-EXECABORT Transaction discarded because of: BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n");
    tx.expect(b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n");
    run::<()>(&mut other, &["SCRIPT", "KILL"]);
    let error = handle.join().unwrap();
    assert!(error.to_string().contains("Script killed by user with SCRIPT KILL..."), "{error}");
    assert_eq!(run::<String>(&mut other, &["PING"]), "PONG");
    assert_eq!(error_of(&mut other, &["SCRIPT", "KILL"]), "NOTBUSY No scripts in execution right now.");
    // The transaction is over: the same connection runs commands again, and nothing was incremented.
    tx.send(b"GET n\r\n");
    tx.expect(b"$-1\r\n");
}

#[test]
fn a_script_that_wrote_cannot_be_killed_and_shutdown_nosave_drops_its_effects() {
    let dir = TestDir::new();
    {
        let server = TestServer::on_dir(&dir.0, |s| {
            s.busy_reply_threshold = 50;
            s.save = String::new();
        });
        let mut runner = server.client();
        run::<()>(&mut runner, &["SET", "before", "1"]);
        std::thread::spawn(move || {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg("redis.call('set', 'during', '1') while true do end").arg(0);
            let _ = cmd.query::<Value>(&mut runner);
        });
        let mut other = server.client();
        common::wait_for(|| redis::cmd("PING").query::<String>(&mut other).is_err());
        assert!(error_of(&mut other, &["SCRIPT", "KILL"]).starts_with("UNKILLABLE Sorry the script already executed"));
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<Value>(&mut other);
        common::wait_for(|| server.server.is_shutting_down());
    }
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    let mut con = server.client();
    assert_eq!(run::<Option<String>>(&mut con, &["GET", "before"]).as_deref(), Some("1"));
    assert_eq!(run::<Option<String>>(&mut con, &["GET", "during"]), None);
}

const LIBRARY: &str = "#!lua name=mylib
local function incr_by(keys, args) return redis.call('incrby', keys[1], args[1]) end
redis.register_function('incr_by', incr_by)
redis.register_function{function_name = 'peek', callback = function(keys) return redis.call('get', keys[1]) end,
  flags = {'no-writes'}, description = 'reads a key'}";

#[test]
fn function_libraries_load_run_list_dump_restore_and_persist() {
    let dir = TestDir::new();
    let payload: Vec<u8> = {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        assert_eq!(run::<String>(&mut con, &["FUNCTION", "LOAD", LIBRARY]), "mylib");
        assert_eq!(error_of(&mut con, &["FUNCTION", "LOAD", LIBRARY]), "ERR Library 'mylib' already exists");
        assert_eq!(run::<i64>(&mut con, &["FCALL", "incr_by", "1", "n", "5"]), 5);
        assert_eq!(run::<String>(&mut con, &["FCALL_RO", "peek", "1", "n"]), "5");
        assert_eq!(
            error_of(&mut con, &["FCALL_RO", "incr_by", "1", "n", "1"]),
            "ERR Can not execute a script with write flag using *_ro command."
        );
        assert_eq!(error_of(&mut con, &["FCALL", "nope", "0"]), "ERR Function not found");
        assert_eq!(error_of(&mut con, &["FUNCTION", "LOAD", "return 1"]), "ERR Missing library metadata");
        assert_eq!(
            error_of(&mut con, &["FUNCTION", "LOAD", "#!lua name=empty\nlocal x = 1"]),
            "ERR No functions registered"
        );
        assert!(error_of(&mut con, &["FUNCTION", "LOAD", "#!lua name=bad\nredis.call('ping')"])
            .starts_with("ERR Error registering functions:"));
        let list: Value = run(&mut con, &["FUNCTION", "LIST", "WITHCODE"]);
        let text = format!("{list:?}");
        assert!(text.contains("mylib") && text.contains("reads a key") && text.contains("no-writes"), "{text}");
        run::<Vec<u8>>(&mut con, &["FUNCTION", "DUMP"])
    };
    // Functions come back from the log after a restart, and from a compacted base after another.
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        assert_eq!(run::<i64>(&mut con, &["FCALL", "incr_by", "1", "n", "1"]), 6);
        run::<()>(&mut con, &["BGREWRITEAOF"]);
        common::wait_for(|| {
            let info: String = run(&mut con, &["INFO", "persistence"]);
            info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")
        });
    }
    let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
    let mut con = server.client();
    assert_eq!(run::<String>(&mut con, &["FCALL_RO", "peek", "1", "n"]), "6");
    run::<()>(&mut con, &["FUNCTION", "DELETE", "mylib"]);
    assert_eq!(error_of(&mut con, &["FCALL", "peek", "1", "n"]), "ERR Function not found");
    let mut restore = redis::cmd("FUNCTION");
    restore.arg("RESTORE").arg(&payload);
    restore.query::<()>(&mut con).unwrap();
    assert_eq!(run::<String>(&mut con, &["FCALL_RO", "peek", "1", "n"]), "6");
    let mut again = redis::cmd("FUNCTION");
    again.arg("RESTORE").arg(&payload);
    assert!(again.query::<()>(&mut con).is_err());
}

/// Where `.ci/run` installs BullMQ from npm; override with `KEEL_BULLMQ_DIR`.
fn bullmq_dir() -> std::path::PathBuf {
    std::env::var_os("KEEL_BULLMQ_DIR")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/npm/node_modules/bullmq"))
}

/// A Lua script as BullMQ ships it (the template literal in its compiled `scripts/NAME.js`).
fn bullmq_script(name: &str) -> Option<String> {
    let path = bullmq_dir().join("dist/cjs/scripts").join(format!("{name}.js"));
    let source = std::fs::read_to_string(&path).ok()?;
    let start = source.find("const content = `")? + "const content = `".len();
    let end = start + source[start..].find("`;")?;
    Some(source[start..end].to_string())
}

fn msgpack_strings(items: &[&str]) -> Vec<u8> {
    let mut out = vec![0x90 | items.len() as u8];
    for item in items {
        out.push(0xa0 | item.len() as u8);
        out.extend_from_slice(item.as_bytes());
    }
    out
}

#[test]
fn a_bullmq_script_runs_unchanged() {
    let Some(script) = bullmq_script("extendLocks-1") else {
        common::skip_without(&format!(
            "BullMQ is not installed at {} (.ci/run installs it from npm)",
            bullmq_dir().display()
        ));
        return;
    };
    let server = TestServer::start();
    let mut con = server.client();
    // Two jobs hold locks; the worker renews both, with the right token for job 1 only.
    run::<()>(&mut con, &["SET", "bull:q:1:lock", "token-1", "PX", "1000"]);
    run::<()>(&mut con, &["SET", "bull:q:2:lock", "someone-else", "PX", "1000"]);
    run::<()>(&mut con, &["SADD", "bull:q:stalled", "1", "2"]);
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(&script)
        .arg(1)
        .arg("bull:q:stalled")
        .arg("bull:q:")
        .arg(msgpack_strings(&["token-1", "token-2"]))
        .arg(msgpack_strings(&["1", "2"]))
        .arg(60_000);
    let failed: Vec<String> = cmd.query(&mut con).unwrap();
    assert_eq!(failed, ["2"]);
    assert!(run::<i64>(&mut con, &["PTTL", "bull:q:1:lock"]) > 50_000);
    assert!(run::<i64>(&mut con, &["PTTL", "bull:q:2:lock"]) <= 1000);
    assert_eq!(run::<Vec<String>>(&mut con, &["SMEMBERS", "bull:q:stalled"]), ["2"]);
    // Clients run scripts with EVALSHA first and fall back to EVAL on NOSCRIPT.
    let sha = run::<String>(&mut con, &["SCRIPT", "LOAD", &script]);
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(&sha)
        .arg(1)
        .arg("bull:q:stalled")
        .arg("bull:q:")
        .arg(msgpack_strings(&[]))
        .arg(msgpack_strings(&[]))
        .arg(1);
    assert_eq!(cmd.query::<Vec<String>>(&mut con).unwrap(), Vec::<String>::new());
}

/// Regression: the script cache and the function libraries held a Lua reference per script, and Lua 5.1
/// caps those at 8,000: past that many SCRIPT LOADs (or registered functions) nothing more compiled.
#[test]
fn thousands_of_scripts_and_functions_stay_loadable() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..9_000 {
        pipe.cmd("SCRIPT").arg("LOAD").arg(format!("return {i}")).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let sha: String = run(&mut con, &["SCRIPT", "LOAD", "return 'still'"]);
    assert_eq!(run::<String>(&mut con, &["EVALSHA", &sha, "0"]), "still");
    let mut pipe = redis::pipe();
    for i in 0..9_000 {
        let code = format!("#!lua name=lib{i}\nredis.register_function('f{i}', function() return {i} end)");
        pipe.cmd("FUNCTION").arg("LOAD").arg(code).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    assert_eq!(run::<i64>(&mut con, &["FCALL", "f8999", "0"]), 8999);
    assert_eq!(run::<i64>(&mut con, &["FCALL", "F0", "0"]), 0, "FCALL ignores case");
}

/// A reply too big for the script's Lua memory fails that script with Lua's memory error, and costs nothing
/// else: the next scripts (even one that only compiles) run, because the failed run's garbage is collected
/// (regression: Lua 5.1 does not collect when an allocation fails, and every later script failed too).
#[test]
fn a_reply_past_the_lua_memory_limit_fails_only_its_script() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for chunk in 0..50 {
        let items: Vec<String> = (0..1_000).map(|i| format!("{chunk:04}-{i:04}-{}", "x".repeat(90))).collect();
        pipe.cmd("RPUSH").arg("big").arg(items).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    run::<()>(&mut con, &["CONFIG", "SET", "lua-memory-limit", "2mb"]);
    let error = error_of(&mut con, &["EVAL", "return #redis.call('lrange', KEYS[1], 0, -1)", "1", "big"]);
    assert!(error.contains("not enough memory"), "{error}");
    for attempt in 0..3 {
        let script = format!("return redis.call('set', KEYS[1], 'after {attempt}')");
        assert_eq!(eval::<String>(&mut con, &script, &["next"], &[]), "OK");
    }
    assert_eq!(run::<String>(&mut con, &["GET", "next"]), "after 2");
    run::<()>(&mut con, &["CONFIG", "SET", "lua-memory-limit", "256mb"]);
    let all: i64 = eval(&mut con, "return #redis.call('lrange', KEYS[1], 0, -1)", &["big"], &[]);
    assert_eq!(all, 50_000);
}

/// A command a script runs that is refused (here by maxmemory) counts as that command's rejection and its
/// error once, when it is refused: not again as the script's error the client gets, and still when the
/// script catches it with pcall (Redis's "consistent eval error reporting").
#[test]
fn a_refused_command_in_a_script_counts_one_error() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "filler", "x"]);
    run::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    run::<()>(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
    let e = eval_error(&mut con, "return redis.call('set','x','y')");
    assert!(e.starts_with("OOM command not allowed"), "{e}");
    let errors: String = run(&mut con, &["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_OOM:count=1\r\n"), "{errors}");
    let stats: String = run(&mut con, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_set:calls=0,") && stats.contains("rejected_calls=1,failed_calls=0"), "{stats}");
    let total =
        |con: &mut redis::Connection| run::<String>(con, &["INFO", "stats"]).contains("total_error_replies:1\r\n");
    assert!(total(&mut con));
    // pcall hands the error to the script, which answers normally: the refusal is still counted, once.
    run::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    let v: i64 =
        eval(&mut con, "local t = redis.pcall('set','x','y') if t['err'] then return 1 end return 0", &[], &[]);
    assert_eq!(v, 1);
    let errors: String = run(&mut con, &["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_OOM:count=1\r\n") && !errors.contains("errorstat_ERR"), "{errors}");
    assert!(total(&mut con));
    let stats: String = run(&mut con, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_eval:calls=1,") && stats.contains("rejected_calls=0,failed_calls=0"), "{stats}");
    // A script returning the error pcall caught fails with it, counted once.
    run::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    assert!(eval_error(&mut con, "return redis.pcall('set','x','y')").starts_with("OOM"));
    let errors: String = run(&mut con, &["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_OOM:count=1\r\n"), "{errors}");
    assert!(total(&mut con));
    run::<()>(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
    // Refused by the script's own checks (a write from EVAL_RO): the same, once.
    run::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    let e: String = error_of(&mut con, &["EVAL_RO", "return redis.call('set','x','y')", "1", "x"]);
    assert!(e.starts_with("ERR Write commands are not allowed from read-only scripts"), "{e}");
    let errors: String = run(&mut con, &["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_ERR:count=1\r\n"), "{errors}");
    assert!(total(&mut con));
    let stats: String = run(&mut con, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_set:calls=0,") && stats.contains("rejected_calls=1,failed_calls=0"), "{stats}");
}

/// SCRIPT FLUSH and FUNCTION FLUSH with ASYNC (or no mode under `lazyfree-lazy-user-flush`) free many scripts
/// or libraries on the lazy-free thread, counted as Redis counts them: each script, or each function and
/// the engine; a few are freed at once and not counted.
#[test]
fn async_script_and_function_flushes_free_in_the_background() {
    let server = TestServer::start();
    let mut con = server.client();
    let lazyfreed = |con: &mut redis::Connection| -> String {
        let info: String = run(con, &["INFO", "memory"]);
        info.lines().find_map(|l| l.strip_prefix("lazyfreed_objects:")).unwrap_or_default().to_string()
    };
    let load_functions = |con: &mut redis::Connection, n: usize| {
        for i in 0..n {
            let code = format!("#!lua name=lib{i}\nredis.register_function('f{i}', function() return {i} end)");
            run::<String>(con, &["FUNCTION", "LOAD", &code]);
        }
    };
    load_functions(&mut con, 10);
    run::<()>(&mut con, &["FUNCTION", "FLUSH", "ASYNC"]);
    assert_eq!(lazyfreed(&mut con), "0");
    load_functions(&mut con, 100);
    run::<()>(&mut con, &["FUNCTION", "FLUSH", "ASYNC"]);
    wait_for(|| lazyfreed(&mut con) == "101");
    assert_eq!(run::<Vec<redis::Value>>(&mut con, &["FUNCTION", "LIST"]).len(), 0);

    for i in 0..100 {
        run::<String>(&mut con, &["SCRIPT", "LOAD", &format!("return {i}")]);
    }
    run::<()>(&mut con, &["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]);
    run::<()>(&mut con, &["SCRIPT", "FLUSH"]);
    wait_for(|| lazyfreed(&mut con) == "201");
    let exists: Vec<i64> = run(&mut con, &["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"]);
    assert_eq!(exists, [0]);
}
