//! Tenancy as a hard boundary, tried the way an attacker holding one database's password and REST token
//! would: nothing of another database or of the server is seen, changed or stopped, whatever state the
//! server is in. Each test names the hole it closes (issue 13's reproductions).

mod common;
use common::{error_of, http_with, run, TestDir, TestServer};
use keel_protocol::Frame;
use serde_json::Value;
use std::time::Duration;

const ADMIN: &str = "Authorization: Bearer admin-secret";

fn admin(s: &TestServer, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, text) =
        http_with(s.http_addr, method, path, &[ADMIN, "Content-Type: application/json"], body.as_bytes());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn server_on(dir: &TestDir, configure: impl FnOnce(&mut keel_server::Settings)) -> TestServer {
    server_on_workers(dir, 2, configure)
}

/// [`server_on`] on a runtime of `workers` threads (one: a one-core machine).
fn server_on_workers(dir: &TestDir, workers: usize, configure: impl FnOnce(&mut keel_server::Settings)) -> TestServer {
    let path = dir.0.clone();
    TestServer::with_workers(workers, move |s| {
        s.dir = path;
        s.admin_token = "admin-secret".into();
        s.rest_token = "default-rest-token".into();
        s.requirepass = "default-pass".into();
        configure(s);
    })
}

fn connect(s: &TestServer, password: &str) -> redis::Connection {
    let url = format!("redis://default:{password}@{}/", s.addr);
    let con = redis::Client::open(url).unwrap().get_connection().unwrap();
    con.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    con
}

fn create(s: &TestServer, body: &str) -> Value {
    common::create_database(s, "admin-secret", body)
}

/// Whether the connection's database answers BUSY (a script holds it past the threshold).
fn is_busy(con: &mut redis::Connection) -> bool {
    redis::cmd("PING").query::<String>(con).is_err_and(|e| e.code() == Some("BUSY"))
}

fn password(db: &Value) -> &str {
    db["password"].as_str().unwrap()
}

fn bearer(db: &Value) -> String {
    format!("Authorization: Bearer {}", db["rest_token"].as_str().unwrap())
}

#[test]
fn config_get_never_shows_a_secret_and_a_database_sees_its_own_limits() {
    let dir = TestDir::new();
    let s = server_on(&dir, |s| s.tls_key_file = String::new());
    let a = create(&s, r#"{"name": "alpha", "max_memory": 1048576, "max_connections": 7, "eviction": "allkeys-lru"}"#);
    let mut ca = connect(&s, password(&a));
    let secrets = ["admin-secret", "default-rest-token", "default-pass"];
    let all: Vec<String> = run(&mut ca, &["CONFIG", "GET", "*"]);
    for secret in secrets {
        assert!(!all.iter().any(|v| v == secret), "a database read the secret {secret}");
    }
    for hidden in ["admin-token", "requirepass", "rest-token", "rest-readonly-token", "tls-key-file", "dir", "bind"] {
        assert!(!all.iter().any(|v| v == hidden), "a database sees the setting {hidden}");
    }
    let own: std::collections::BTreeMap<String, String> =
        run(&mut ca, &["CONFIG", "GET", "maxmemory", "maxmemory-policy", "maxclients"]);
    let expected = [("maxclients", "7"), ("maxmemory", "1048576"), ("maxmemory-policy", "allkeys-lru")];
    assert_eq!(own, expected.map(|(k, v)| (k.to_string(), v.to_string())).into());
    // Over REST, with the database's token.
    let (status, body) = http_with(s.http_addr, "GET", "/config/get/*", &[&bearer(&a)], b"");
    assert_eq!(status, 200);
    for secret in secrets {
        assert!(!body.contains(secret), "REST showed the secret {secret}: {body}");
    }
    // The administrator reads requirepass back over RESP (as Redis does), tokens never, and over REST
    // not even the password.
    let mut default = connect(&s, "default-pass");
    let admin_view: Vec<String> = run(&mut default, &["CONFIG", "GET", "*"]);
    assert!(admin_view.iter().any(|v| v == "default-pass"));
    assert!(!admin_view.iter().any(|v| v == "admin-secret" || v == "default-rest-token"));
    let rest = "Authorization: Bearer default-rest-token";
    let (_, body) = http_with(s.http_addr, "GET", "/config/get/*", &[rest], b"");
    for secret in secrets {
        assert!(!body.contains(secret), "REST showed the administrator the secret {secret}");
    }
    // A database changes only its own settings.
    let protected = "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - can't set protected config";
    assert_eq!(error_of(&mut ca, &["CONFIG", "SET", "maxmemory", "0"]), protected);
    assert!(error_of(&mut ca, &["CONFIG", "SET", "timeout", "1"]).contains("can't set protected config"));
    assert!(error_of(&mut ca, &["CONFIG", "SET", "requirepass", "x"]).starts_with("ERR Unknown option"));
    assert!(error_of(&mut ca, &["CONFIG", "SET", "dir", "/tmp"]).starts_with("ERR Unknown option"));
    run::<()>(&mut ca, &["CONFIG", "SET", "slowlog-max-len", "3"]);
    let server_value: Vec<String> = run(&mut default, &["CONFIG", "GET", "slowlog-max-len"]);
    assert_eq!(server_value, ["slowlog-max-len", "128"]);
    assert!(error_of(&mut ca, &["CONFIG", "REWRITE"]).contains("not available to a database"));
}

#[test]
fn a_busy_script_does_not_open_shutdown_to_anyone() {
    let dir = TestDir::new();
    let s = server_on(&dir, |s| s.busy_reply_threshold = 50);
    let b = create(&s, r#"{"name": "beta"}"#);
    // A long script in beta, and one in the default database.
    let busy_loop = "local i = 0 while true do i = i + 1 end";
    let start_script = |password: &str| {
        let mut con = connect(&s, password);
        let script = busy_loop.to_string();
        std::thread::spawn(move || redis::cmd("EVAL").arg(&script).arg(0).query::<redis::Value>(&mut con))
    };
    let beta_script = start_script(password(&b));
    let default_script = start_script("default-pass");
    let mut beta = connect(&s, password(&b));
    common::wait_for(|| is_busy(&mut beta));
    // Beta's own client: SHUTDOWN is the server administrator's, BUSY or not.
    assert!(error_of(&mut beta, &["SHUTDOWN", "NOSAVE"]).contains("not available to a database"));
    // A client that never logged in, while the default database is busy: NOAUTH, not a shutdown.
    let mut stranger = s.raw();
    common::wait_for(
        || matches!(stranger.command(&[b"PING"]), keel_protocol::Frame::Error(e) if e.starts_with(b"NOAUTH")),
    );
    assert!(
        matches!(stranger.command(&[b"SHUTDOWN", b"NOSAVE"]), keel_protocol::Frame::Error(e) if e.starts_with(b"NOAUTH"))
    );
    // An ACL user of the default database limited to GET: NOPERM.
    let mut default = connect(&s, "default-pass");
    common::wait_for(|| is_busy(&mut default));
    s.server.default_tenant().acl.write().set_user("reader", &["on", ">pw", "+get", "~*"], &s.server.commands).unwrap();
    let mut reader = s.raw();
    assert_eq!(reader.command(&[b"AUTH", b"reader", b"pw"]), keel_protocol::Frame::Simple(b"OK".to_vec()));
    let refused = reader.command(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(matches!(&refused, keel_protocol::Frame::Error(e) if e.starts_with(b"NOPERM")), "{refused:?}");
    // Beta's SCRIPT KILL stops beta's script only.
    run::<()>(&mut beta, &["SCRIPT", "KILL"]);
    assert!(beta_script.join().unwrap().is_err());
    assert!(error_of(&mut default, &["PING"]).starts_with("BUSY"), "beta's SCRIPT KILL reached the default database");
    run::<()>(&mut default, &["SCRIPT", "KILL"]);
    assert!(default_script.join().unwrap().is_err());
    assert_eq!(run::<String>(&mut default, &["PING"]), "PONG");
}

#[test]
fn a_database_cannot_capture_another_databases_logins() {
    let dir = TestDir::new();
    let s = server_on(&dir, |_| {});
    let a = create(&s, r#"{"name": "alpha"}"#);
    let b = create(&s, r#"{"name": "beta"}"#);
    let (mut ca, mut cb) = (connect(&s, password(&a)), connect(&s, password(&b)));
    run::<()>(&mut cb, &["SET", "owner", "beta"]);
    run::<()>(&mut ca, &["SET", "owner", "alpha"]);
    // Alpha makes a user that takes any password, and one named like beta's.
    run::<()>(&mut ca, &["ACL", "SETUSER", "app", "on", "nopass", "+@all", "~*"]);
    run::<()>(&mut cb, &["ACL", "SETUSER", "worker", "on", ">beta-worker-pass", "+@all", "~*"]);
    run::<()>(&mut ca, &["ACL", "SETUSER", "worker", "on", ">guess", "+@all", "~*"]);
    for _ in 0..20 {
        // Beta's password under alpha's nopass user's name opens nothing.
        let mut victim = s.client();
        assert!(error_of(&mut victim, &["AUTH", "app", password(&b)]).starts_with("WRONGPASS"));
        // Beta's user with beta's password lands in beta, whatever alpha named its users.
        run::<()>(&mut victim, &["AUTH", "worker", "beta-worker-pass"]);
        assert_eq!(run::<String>(&mut victim, &["GET", "owner"]), "beta");
    }
    // A name and password two databases answer to open neither.
    run::<()>(&mut ca, &["ACL", "SETUSER", "worker", "on", ">beta-worker-pass"]);
    let mut victim = s.client();
    assert!(error_of(&mut victim, &["AUTH", "worker", "beta-worker-pass"]).starts_with("WRONGPASS"));
    // Inside its own database, a client still switches to a nopass user, as in Redis.
    run::<()>(&mut ca, &["AUTH", "app", "anything"]);
    assert_eq!(run::<String>(&mut ca, &["ACL", "WHOAMI"]), "app");
    assert_eq!(run::<String>(&mut ca, &["GET", "owner"]), "alpha");
}

#[test]
fn a_login_refused_at_the_connection_cap_leaves_the_client_logged_out() {
    let dir = TestDir::new();
    let s = server_on(&dir, |_| {});
    let small = create(&s, r#"{"name": "small", "max_connections": 1}"#);
    let _only = connect(&s, password(&small));
    let mut late = connect(&s, "default-pass");
    assert_eq!(error_of(&mut late, &["AUTH", password(&small)]), "ERR max number of clients reached");
    assert_eq!(error_of(&mut late, &["INFO"]), "NOAUTH Authentication required.");
    assert_eq!(error_of(&mut late, &["GET", "k"]), "NOAUTH Authentication required.");
}

#[test]
fn info_and_client_ids_stay_inside_the_database() {
    let dir = TestDir::new();
    let s = server_on(&dir, |_| {});
    let a = create(&s, r#"{"name": "alpha", "max_memory": 2097152, "max_connections": 9}"#);
    let b = create(&s, r#"{"name": "beta"}"#);
    let (mut ca, mut cb) = (connect(&s, password(&a)), connect(&s, password(&b)));
    let mut default = connect(&s, "default-pass");
    for i in 0..50 {
        run::<()>(&mut default, &["SET", &format!("k{i}"), "server-only"]);
    }
    let info: String = run(&mut ca, &["INFO", "everything"]);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_string()
    };
    assert_eq!(field("maxmemory"), "2097152");
    assert_eq!(field("maxclients"), "9");
    assert_eq!(field("connected_clients"), "1");
    assert_eq!(field("total_connections_received"), "1");
    assert_eq!(field("executable"), "");
    assert!(field("total_commands_processed").parse::<u64>().unwrap() < 10, "the server's commands counted");
    assert_eq!(field("used_memory_rss"), field("used_memory"), "the process's memory shown to a database");
    assert!(!info.contains("cmdstat_set:"), "another database's command statistics: {info}");
    // Another database's client ids do not exist here.
    let beta_id: i64 = run(&mut cb, &["CLIENT", "ID"]);
    let redirect = error_of(&mut ca, &["CLIENT", "TRACKING", "on", "REDIRECT", &beta_id.to_string()]);
    assert_eq!(redirect, "ERR The client ID you want redirect to does not exist");
    assert_eq!(run::<i64>(&mut ca, &["CLIENT", "KILL", "ID", &beta_id.to_string()]), 0);
    assert_eq!(run::<i64>(&mut ca, &["CLIENT", "UNBLOCK", &beta_id.to_string()]), 0);
    let listed: String = run(&mut ca, &["CLIENT", "LIST", "ID", &beta_id.to_string()]);
    assert_eq!(listed, "");
    assert_eq!(run::<String>(&mut cb, &["PING"]), "PONG");
    // Readiness names no paths.
    let (_, ready) = http_with(s.http_addr, "GET", "/health/ready", &[], b"");
    assert!(!ready.contains(&dir.0.display().to_string()), "{ready}");
}

#[test]
fn a_long_script_in_one_database_stalls_no_other_nor_the_admin_api() {
    let dir = TestDir::new();
    // One runtime worker, as on a one-core machine: the script must leave it to the others.
    let s = server_on_workers(&dir, 1, |s| s.busy_reply_threshold = 100);
    let a = create(&s, r#"{"name": "alpha"}"#);
    let b = create(&s, r#"{"name": "beta"}"#);
    let mut script_client = connect(&s, password(&a));
    let script = std::thread::spawn(move || {
        redis::cmd("EVAL").arg("while true do end").arg(0).query::<redis::Value>(&mut script_client)
    });
    let mut ca = connect(&s, password(&a));
    common::wait_for(|| is_busy(&mut ca));
    // Each of these would wait for alpha's lock, the script's to hold until it is killed: they answer
    // while it still runs (a wait would time out the test's read).
    let (status, list) = admin(&s, "GET", "/v1/databases", "");
    assert_eq!(status, 200, "{list}");
    assert_eq!(admin(&s, "GET", "/v1/databases/alpha/usage", "").0, 200);
    assert_eq!(http_with(s.http_addr, "GET", "/metrics", &[ADMIN], b"").0, 200);
    assert_eq!(http_with(s.http_addr, "GET", "/health/ready", &[], b"").0, 200);
    let mut cb = connect(&s, password(&b));
    let mut worst = Duration::ZERO;
    for i in 0..200 {
        let started = std::time::Instant::now();
        run::<()>(&mut cb, &["SET", &format!("k{i}"), "v"]);
        worst = worst.max(started.elapsed());
    }
    let (status, _) = http_with(s.http_addr, "GET", "/get/k1", &[&bearer(&b)], b"");
    assert_eq!(status, 200);
    // Over REST, alpha answers BUSY like RESP does, instead of holding a worker.
    let (status, body) = http_with(s.http_addr, "GET", "/get/k1", &[&bearer(&a)], b"");
    assert_eq!((status, body.contains("BUSY")), (400, true), "{body}");
    assert!(error_of(&mut ca, &["PING"]).starts_with("BUSY"), "the script ended before the checks did");
    eprintln!("beta's slowest SET while alpha's script ran: {worst:?}");
    run::<()>(&mut ca, &["SCRIPT", "KILL"]);
    assert!(script.join().unwrap().is_err());
}

/// On one runtime worker (a one-core machine), a command that walks a big keyspace, writes a huge reply,
/// counts the bits of a big string or writes out a big JSON document in one database leaves the worker to
/// the others: another database's
/// PING is answered while alpha's command still holds alpha's lock. Without that, beta's connection would wait in the worker's queue
/// until alpha's command ended.
#[test]
fn a_long_command_in_one_database_stalls_no_other_on_one_worker() {
    let dir = TestDir::new();
    let s = server_on_workers(&dir, 1, |_| {});
    let a = create(&s, r#"{"name": "alpha"}"#);
    let b = create(&s, r#"{"name": "beta"}"#);
    let mut ca = connect(&s, password(&a));
    const KEYS: usize = 400_000;
    // A 64 MiB string, which BITCOUNT goes through in one go, and a JSON array of 1.5M numbers (3 MB, under
    // the size past which work leaves before it starts: its text is written in steps).
    run::<i64>(&mut ca, &["SETBIT", "bits", &(64 * 8 * 1024 * 1024 - 1).to_string(), "1"]);
    let document = format!("[0{}]", ",0".repeat(1_500_000));
    run::<()>(&mut ca, &["JSON.SET", "doc", "$", &document]);
    for chunk in 0..KEYS / 10_000 {
        let mut mset = redis::cmd("MSET");
        let mut rpush = redis::cmd("RPUSH");
        rpush.arg("list");
        let mut xadds = redis::pipe();
        for i in chunk * 10_000..(chunk + 1) * 10_000 {
            mset.arg(format!("key:{i}")).arg("v");
            rpush.arg(i);
            xadds.cmd("XADD").arg("stream").arg("*").arg("f").arg(i).ignore();
        }
        mset.query::<()>(&mut ca).unwrap();
        rpush.query::<()>(&mut ca).unwrap();
        xadds.query::<()>(&mut ca).unwrap();
    }
    // Every entry pending for one consumer of one group.
    run::<()>(&mut ca, &["XGROUP", "CREATE", "stream", "group", "0"]);
    let read: redis::Value = run(&mut ca, &["XREADGROUP", "GROUP", "group", "reader", "STREAMS", "stream", ">"]);
    assert!(matches!(read, redis::Value::Array(_)));
    let mut cb = connect(&s, password(&b));
    let alpha_locked = || s.server.tenants.read()["alpha"].data.is_locked();
    let walks: [(&[&str], usize); 3] =
        [(&["KEYS", "*e*y*:*:*:*"], 0), (&["LRANGE", "list", "0", "-1"], KEYS), (&["KEYS", "*"], KEYS + 4)];
    // Runs `command` in alpha from another thread, and PINGs beta while it runs: its reply.
    let mut while_beta_pings = |command: &'static [&'static str]| {
        let mut con = connect(&s, password(&a));
        let started = std::time::Instant::now();
        let long = std::thread::spawn(move || run::<redis::Value>(&mut con, command));
        while !alpha_locked() {
            assert!(started.elapsed() < Duration::from_secs(30), "alpha's command never took its lock");
            std::thread::yield_now();
        }
        assert_eq!(run::<String>(&mut cb, &["PING"]), "PONG");
        assert!(alpha_locked(), "beta's PING waited for alpha's {} to end", command[0]);
        let reply = long.join().unwrap();
        eprintln!("{} ran {:?}", command[0], started.elapsed());
        reply
    };
    for (command, replies) in walks {
        let redis::Value::Array(items) = while_beta_pings(command) else { panic!("{} answered no array", command[0]) };
        assert_eq!(items.len(), replies);
    }
    assert_eq!(while_beta_pings(&["BITCOUNT", "bits"]), redis::Value::Int(1));
    assert_eq!(while_beta_pings(&["JSON.GET", "doc"]), redis::Value::BulkString(document.into_bytes()));
    // A path that descends through every value of the document and selects none.
    assert_eq!(while_beta_pings(&["JSON.GET", "doc", "$..none"]), redis::Value::BulkString(b"[]".to_vec()));
    // The pending entries walked for an IDLE that none has been, and a consumer's given back one by one.
    let never_idle: &[&str] = &["XPENDING", "stream", "group", "IDLE", "999999999", "-", "+", "10", "reader"];
    assert_eq!(while_beta_pings(never_idle), redis::Value::Array(vec![]));
    assert_eq!(
        while_beta_pings(&["XGROUP", "DELCONSUMER", "stream", "group", "reader"]),
        redis::Value::Int(KEYS as i64)
    );
}

#[test]
fn quotas_hold_against_transactions_scripts_and_lua_memory() {
    let dir = TestDir::new();
    let s = server_on(&dir, |_| {});
    let quota = 10 * 1024 * 1024;
    let small = create(&s, &format!(r#"{{"name": "small", "max_memory": {quota}, "max_commands_per_second": 50}}"#));
    let mut c = connect(&s, password(&small));
    // One transaction of 100 x 1 MB stops at the quota: the first write that does not fit and the rest
    // answer OOM.
    let value = vec![b'x'; 1024 * 1024];
    let mut raw = s.raw();
    assert_eq!(raw.command(&[b"AUTH", password(&small).as_bytes()]), Frame::Simple(b"OK".to_vec()));
    assert_eq!(raw.command(&[b"MULTI"]), Frame::Simple(b"OK".to_vec()));
    for i in 0..30 {
        assert_eq!(raw.command(&[b"SET", format!("big{i}").as_bytes(), &value]), Frame::Simple(b"QUEUED".to_vec()));
    }
    let Frame::Array(results) = raw.command(&[b"EXEC"]) else { panic!("EXEC did not answer an array") };
    let refused = results.iter().position(|r| matches!(r, Frame::Error(_))).expect("no write refused");
    let oom = |r: &Frame| matches!(r, Frame::Error(e) if e.starts_with(b"OOM"));
    assert!(refused > 0 && results[refused..].iter().all(oom), "{:?}", &results[refused..]);
    let used: u64 = s.server.tenants.read()["small"].figures().used_memory;
    assert!(used <= quota + 2 * 1024 * 1024, "a transaction took the database to {used} bytes past its quota");
    run::<()>(&mut c, &["FLUSHALL"]);
    std::thread::sleep(Duration::from_millis(1100));
    // A script's Lua memory is capped by the quota.
    let hog = "local t = {} for i = 1, 50000000 do t[i] = i end return #t";
    let error = error_of(&mut c, &["EVAL", hog, "0"]);
    assert!(error.contains("not enough memory"), "{error}");
    assert_eq!(run::<String>(&mut c, &["PING"]), "PONG");
    std::thread::sleep(Duration::from_millis(1100));
    // Commands a script runs count against the commands-per-second limit.
    let many = "for i = 1, 200 do redis.call('INCR', 'n') end return 1";
    let error = error_of(&mut c, &["EVAL", many, "0"]);
    assert!(error.contains("max commands per second"), "{error}");
    std::thread::sleep(Duration::from_millis(1100));
    let n: i64 = run(&mut c, &["GET", "n"]);
    assert!(n < 60, "a script ran {n} commands past a limit of 50 a second");
}

#[test]
fn smaller_holes_stay_closed() {
    let dir = TestDir::new();
    let s = server_on(&dir, |s| s.advertise = "db.example.net".into());
    let a = create(&s, r#"{"name": "alpha"}"#);
    let b = create(&s, r#"{"name": "beta"}"#);
    // Each database scrapes its own metrics with its own token, and only its own.
    let (status, text) = http_with(s.http_addr, "GET", "/v1/databases/alpha/metrics", &[&bearer(&a)], b"");
    assert_eq!(status, 200);
    assert!(text.contains("keel_max_clients") && !text.contains("beta"), "{text}");
    assert_eq!(http_with(s.http_addr, "GET", "/v1/databases/alpha/metrics", &[&bearer(&b)], b"").0, 401);
    assert_eq!(http_with(s.http_addr, "GET", "/metrics", &[&bearer(&a)], b"").0, 401);
    // The admin API answers no cross-origin request; REST does.
    let origin = "Origin: https://evil.example";
    let (admin_headers, _) = raw_response(&s, "GET", "/v1/databases", &[ADMIN, origin]);
    assert!(!admin_headers.to_ascii_lowercase().contains("access-control-allow-origin"), "{admin_headers}");
    let (rest_headers, _) = raw_response(&s, "GET", "/ping", &[&bearer(&a), origin]);
    assert!(rest_headers.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{rest_headers}");
    // Returned URLs name the advertised host, not whatever Host a request claims; Bearer in any case.
    let lower_admin = "authorization: bearer admin-secret";
    let (_, body) = raw_response(&s, "POST", "/v1/databases", &[lower_admin, "Host: attacker.example"]);
    assert!(body.contains("db.example.net") && !body.contains("attacker.example"), "{body}");
    // JSON numbers keep their digits.
    let command = br#"["SET", "big", 12345678901234567890123]"#;
    assert_eq!(http_with(s.http_addr, "POST", "/", &[&bearer(&a)], command).0, 200);
    let mut ca = connect(&s, password(&a));
    assert_eq!(run::<String>(&mut ca, &["GET", "big"]), "12345678901234567890123");
    // Files with secrets are private.
    run::<()>(&mut ca, &["ACL", "SETUSER", "someone", "on", ">pw"]);
    s.server.tenants.read()["alpha"].meter(true);
    for file in ["databases.json", "databases/alpha/users.acl", "databases/alpha/usage.json"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.0.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}

/// One HTTP request; the response's head and body.
fn raw_response(s: &TestServer, method: &str, path: &str, headers: &[&str]) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(s.http_addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n");
    if !headers.iter().any(|h| h.to_ascii_lowercase().starts_with("host:")) {
        request.push_str("Host: keel\r\n");
    }
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

/// This machine's address on a network interface (not loopback), if it has one.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("10.255.255.255:1").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_lets_another_machine_reach_a_provisioned_database_and_nothing_else() {
    let Some(ip) = non_loopback_address() else {
        assert!(std::env::var_os("CI").is_none(), "no network interface besides loopback, and CI is set");
        return;
    };
    let dir = TestDir::new();
    let path = dir.0.clone();
    let s = TestServer::with(move |s| {
        s.dir = path;
        s.bind = "0.0.0.0".into();
        s.protected_mode = true;
        s.admin_token = "admin-secret".into();
    });
    let app = create(&s, r#"{"name": "app"}"#);
    let port = s.addr.port();
    // From another machine, with the database's own URL: served.
    let url = format!("redis://default:{}@{ip}:{port}/", password(&app));
    let mut remote = redis::Client::open(url).unwrap().get_connection().unwrap();
    run::<()>(&mut remote, &["SET", "k", "v"]);
    assert_eq!(run::<String>(&mut remote, &["GET", "k"]), "v");
    // Without a database's password, or into the passwordless default database: DENIED, as Redis answers.
    let mut anonymous = redis::Client::open(format!("redis://{ip}:{port}/")).unwrap().get_connection().unwrap();
    assert!(error_of(&mut anonymous, &["PING"]).starts_with("DENIED"));
    assert!(error_of(&mut anonymous, &["AUTH", "default", "anything"]).starts_with("DENIED"));
    assert!(error_of(&mut anonymous, &["GET", "k"]).starts_with("DENIED"));
    // From loopback the default database stays open, as before.
    let mut local = s.client();
    assert_eq!(run::<String>(&mut local, &["PING"]), "PONG");
}

/// RESET returns a connection to the `default` user of its database, logged in only if that user needs no
/// password: a database's connection is logged out, and an ACL user on an open server becomes `default`.
#[test]
fn reset_never_keeps_a_login_the_default_user_does_not_have() {
    let dir = TestDir::new();
    let s = server_on(&dir, |_| {});
    let db = create(&s, r#"{"name":"resetdb"}"#);
    let mut tenant = connect(&s, password(&db));
    run::<()>(&mut tenant, &["SET", "k", "v"]);
    assert_eq!(run::<String>(&mut tenant, &["RESET"]), "RESET");
    assert!(common::error_of(&mut tenant, &["GET", "k"]).starts_with("NOAUTH"));

    let open = TestServer::start();
    let mut c = open.client();
    run::<()>(&mut c, &["ACL", "SETUSER", "user1", "on", ">secret", "+@all", "~*"]);
    run::<()>(&mut c, &["AUTH", "user1", "secret"]);
    assert_eq!(run::<String>(&mut c, &["ACL", "WHOAMI"]), "user1");
    run::<String>(&mut c, &["RESET"]);
    assert_eq!(run::<String>(&mut c, &["ACL", "WHOAMI"]), "default");
}
