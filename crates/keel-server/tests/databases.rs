//! Provisioned databases over real sockets and HTTP: the admin API creates, lists, changes, rotates and
//! deletes them; a password or REST token leads to exactly one database; nothing of one database shows in
//! another; limits (connections, memory) hold per database; definitions and data survive a restart.

mod common;
use common::{error_of, http_with, run, TestDir, TestServer};
use serde_json::Value;

const ADMIN: &str = "Authorization: Bearer admin-secret";

fn admin(s: &TestServer, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, text) =
        http_with(s.http_addr, method, path, &[ADMIN, "Content-Type: application/json"], body.as_bytes());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn server_on(dir: &TestDir) -> TestServer {
    let path = dir.0.clone();
    TestServer::with(move |s| {
        s.dir = path;
        s.admin_token = "admin-secret".into();
        // With a password on the default database, a connection opens only what its password names.
        s.requirepass = "default-pass".into();
    })
}

fn connect(s: &TestServer, password: &str) -> redis::Connection {
    let url = format!("redis://default:{password}@{}/", s.addr);
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn create(s: &TestServer, body: &str) -> Value {
    common::create_database(s, "admin-secret", body)
}

#[test]
fn the_admin_api_provisions_and_refuses_without_its_token() {
    let dir = TestDir::new();
    let s = server_on(&dir);
    let (status, _) = http_with(s.http_addr, "GET", "/v1/databases", &[], b"");
    assert_eq!(status, 401);
    let created = create(&s, r#"{"name": "orders", "eviction": "allkeys-lru", "max_memory": 1048576, "plan": "payg"}"#);
    for field in ["password", "rest_token", "readonly_rest_token", "redis_url", "rest_url"] {
        assert!(created[field].is_string(), "{field} missing: {created}");
    }
    assert_eq!(admin(&s, "POST", "/v1/databases", r#"{"name": "orders"}"#).0, 409);
    assert_eq!(admin(&s, "POST", "/v1/databases", r#"{"eviction": "sometimes"}"#).0, 400);
    let generated = create(&s, "{}");
    assert!(generated["name"].as_str().unwrap().split('-').count() == 3, "{generated}");
    let (_, list) = admin(&s, "GET", "/v1/databases", "");
    assert_eq!(list["databases"].as_array().unwrap().len(), 2);
    assert!(list.to_string().find("password").is_none(), "secrets are shown once, not listed");
    let (status, changed) = admin(&s, "PATCH", "/v1/databases/orders", r#"{"max_connections": 5}"#);
    assert_eq!((status, changed["max_connections"].as_u64()), (200, Some(5)));
    let (status, openapi) = http_with(s.http_addr, "GET", "/v1/openapi.json", &[], b"");
    assert_eq!(status, 200);
    assert!(openapi.contains("/v1/databases/{name}/usage"));
    assert!(openapi.contains("/v1/databases/{name}/stats"));
    assert_eq!(admin(&s, "GET", "/v1/databases/nope", "").0, 404);
}

#[test]
fn credentials_lead_to_one_database_and_nothing_leaks_between_them() {
    let dir = TestDir::new();
    let s = server_on(&dir);
    let a = create(&s, r#"{"name": "alpha"}"#);
    let b = create(&s, r#"{"name": "beta"}"#);
    let mut ca = connect(&s, a["password"].as_str().unwrap());
    let mut cb = connect(&s, b["password"].as_str().unwrap());
    let mut default = connect(&s, "default-pass");
    run::<()>(&mut ca, &["SET", "shared-name", "from-alpha"]);
    run::<()>(&mut cb, &["SET", "shared-name", "from-beta"]);
    run::<()>(&mut default, &["SET", "only-default", "1"]);
    assert_eq!(run::<String>(&mut ca, &["GET", "shared-name"]), "from-alpha");
    assert_eq!(run::<String>(&mut cb, &["GET", "shared-name"]), "from-beta");
    assert_eq!(run::<Option<String>>(&mut default, &["GET", "shared-name"]), None);
    assert_eq!(run::<Vec<String>>(&mut ca, &["KEYS", "*"]), ["shared-name"]);
    assert_eq!(run::<i64>(&mut ca, &["DBSIZE"]), 1);
    let list: String = run(&mut ca, &["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    // Connections grouped by address and name, for the "too many connections" incident.
    run::<()>(&mut ca, &["CLIENT", "SETNAME", "checkout-api"]);
    let clients: String = run(&mut ca, &["INFO", "clients"]);
    assert!(clients.contains("client_group_0:addr=127.0.0.1,name=checkout-api,connections=1,"), "{clients}");
    let info: String = run(&mut cb, &["INFO", "keyspace"]);
    assert!(info.contains("db0:keys=1,"), "{info}");
    // Pub/sub stays inside its database.
    let mut sub = connect(&s, a["password"].as_str().unwrap());
    run::<()>(&mut sub, &["SUBSCRIBE", "news"]);
    assert_eq!(run::<i64>(&mut cb, &["PUBLISH", "news", "beta says hi"]), 0);
    assert_eq!(run::<i64>(&mut ca, &["PUBLISH", "news", "alpha says hi"]), 1);
    // Scripts too.
    run::<()>(&mut cb, &["FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)"]);
    assert!(error_of(&mut ca, &["FCALL", "f", "0"]).starts_with("ERR Function not found"));
    // SCAN, RANDOMKEY, keyspace events, MONITOR, SLOWLOG and the script cache stay inside too.
    let (cursor, keys): (String, Vec<String>) = run(&mut ca, &["SCAN", "0", "COUNT", "100"]);
    assert_eq!((cursor.as_str(), keys), ("0", vec!["shared-name".to_string()]));
    assert_eq!(run::<String>(&mut cb, &["RANDOMKEY"]), "shared-name");
    let sha: String = run(&mut ca, &["SCRIPT", "LOAD", "return 1"]);
    assert_eq!(run::<Vec<i64>>(&mut cb, &["SCRIPT", "EXISTS", &sha]), [0]);
    // Keyspace events are each database's own setting.
    run::<()>(&mut ca, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let beta_events: Vec<String> = run(&mut cb, &["CONFIG", "GET", "notify-keyspace-events"]);
    assert_eq!(beta_events, ["notify-keyspace-events", ""]);
    let mut watcher = connect(&s, a["password"].as_str().unwrap());
    run::<()>(&mut watcher, &["PSUBSCRIBE", "__key*__:*"]);
    let mut monitor = s.raw();
    monitor.send(format!("AUTH {}\r\nMONITOR\r\n", a["password"].as_str().unwrap()).as_bytes());
    monitor.expect(b"+OK\r\n+OK\r\n");
    run::<()>(&mut cb, &["SET", "beta-only", "1"]);
    run::<()>(&mut ca, &["SET", "alpha-marker", "1"]);
    let keel_protocol::Frame::Simple(line) = monitor.read_frame() else { panic!("not a MONITOR line") };
    assert!(String::from_utf8_lossy(&line).contains("alpha-marker"), "alpha's monitor saw another database");
    let event = watcher.recv_response().unwrap();
    assert!(
        format!("{event:?}").contains("alpha-marker"),
        "alpha's keyspace events showed another database: {event:?}"
    );
    // Server-wide settings and its own limits are not a database's to change.
    assert_eq!(
        error_of(&mut ca, &["CONFIG", "SET", "maxmemory", "1"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - can't set protected config"
    );
    assert!(error_of(&mut ca, &["SHUTDOWN", "NOSAVE"]).contains("not available to a database"));
    // A wrong password opens nothing.
    let mut stranger = s.client();
    assert!(error_of(&mut stranger, &["AUTH", "default", "not-a-password"]).starts_with("WRONGPASS"));
    // REST: the token picks the database; the read-only token cannot write.
    let token = format!("Authorization: Bearer {}", a["rest_token"].as_str().unwrap());
    let (status, body) = http_with(s.http_addr, "GET", "/get/shared-name", &[&token], b"");
    assert_eq!((status, body.as_str()), (200, r#"{"result":"from-alpha"}"#));
    let readonly = format!("Authorization: Bearer {}", b["readonly_rest_token"].as_str().unwrap());
    let (status, body) = http_with(s.http_addr, "GET", "/get/shared-name", &[&readonly], b"");
    assert_eq!((status, body.as_str()), (200, r#"{"result":"from-beta"}"#));
    let (status, _) = http_with(s.http_addr, "GET", "/set/x/1", &[&readonly], b"");
    assert_eq!(status, 400);
    // Operators see every database in /metrics, by name; the databases' tokens do not open it.
    assert_eq!(http_with(s.http_addr, "GET", "/metrics", &[&token], b"").0, 401);
    let (_, metrics) = http_with(s.http_addr, "GET", "/metrics", &[ADMIN], b"");
    assert!(metrics.contains(r#"keel_database_keys{database="alpha"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"keel_database_connections{database="beta"} 1"#), "{metrics}");
}

#[test]
fn limits_hold_per_database() {
    let dir = TestDir::new();
    let s = server_on(&dir);
    let small =
        create(&s, r#"{"name": "small", "max_connections": 2, "max_memory": 262144, "eviction": "noeviction"}"#);
    let password = small["password"].as_str().unwrap();
    let mut first = connect(&s, password);
    let _second = connect(&s, password);
    let mut third = connect(&s, "default-pass");
    assert_eq!(error_of(&mut third, &["AUTH", "default", password]), "ERR max number of clients reached");
    // Refused at the cap, the client is logged out, not left in the database it came from.
    assert_eq!(error_of(&mut third, &["INFO", "clients"]), "NOAUTH Authentication required.");
    run::<()>(&mut third, &["AUTH", "default-pass"]);
    // Memory: the small database refuses writes past its limit; the default one is not affected.
    let value = "x".repeat(4096);
    let refused = (0..100).find_map(|i| redis::cmd("SET").arg(i).arg(&value).query::<()>(&mut first).err());
    assert!(refused.is_some_and(|e| e.to_string().contains("command not allowed when used memory")));
    run::<()>(&mut third, &["SET", "big", &value]);
    // A database at its cap or quota degrades the server's readiness, named, without failing it.
    let (status, ready) = http_with(s.http_addr, "GET", "/health/ready", &[], b"");
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(
        (status, ready["status"].as_str(), &ready["degraded"]),
        (200, Some("degraded"), &serde_json::json!(["small"]))
    );
    let reasons = ready["components"]["databases"]["degraded"][0]["reasons"].to_string();
    assert!(reasons.contains("at its connection cap (2 of 2)") && reasons.contains("at its memory quota"), "{reasons}");
    let (_, stats) = admin(&s, "GET", "/v1/databases/small/stats", "");
    assert_eq!(stats["refused"]["logins"].as_u64(), Some(1), "{stats}");
    assert!(stats["refused"]["over_quota"].as_u64() >= Some(1), "{stats}");
    // Limits change live: with an eviction policy the same writes succeed by evicting.
    let (status, _) = admin(&s, "PATCH", "/v1/databases/small", r#"{"eviction": "allkeys-random"}"#);
    assert_eq!(status, 200);
    for i in 100..200 {
        run::<()>(&mut first, &["SET", &i.to_string(), &value]);
    }
    let (_, usage) = admin(&s, "GET", "/v1/databases/small/usage", "");
    assert!(usage["commands"].as_u64().unwrap() > 100, "{usage}");
    // A commands-per-second limit: RESP gets an error past it, REST a 429.
    let limited = create(&s, r#"{"name": "limited", "max_commands_per_second": 5}"#);
    let mut c = connect(&s, limited["password"].as_str().unwrap());
    let refused = (0..50).find_map(|_| redis::cmd("PING").query::<String>(&mut c).err());
    assert!(refused.is_some_and(|e| e.to_string().contains("max commands per second")));
    let token = format!("Authorization: Bearer {}", limited["rest_token"].as_str().unwrap());
    let statuses: Vec<u16> = (0..20).map(|_| http_with(s.http_addr, "GET", "/ping", &[&token], b"").0).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let refused_429s = statuses.iter().filter(|&&status| status == 429).count() as u64;
    let (_, stats) = admin(&s, "GET", "/v1/databases/limited/stats", "");
    assert!(stats["refused"]["rate_limited"].as_u64() > Some(refused_429s), "RESP's and REST's refusals: {stats}");
    // A request size limit: REST answers 413, RESP closes the connection with the error.
    let tiny = create(&s, r#"{"name": "tiny", "max_request_size": 1024}"#);
    let token = format!("Authorization: Bearer {}", tiny["rest_token"].as_str().unwrap());
    let (status, body) = http_with(s.http_addr, "POST", "/set/big", &[&token], &[b'x'; 2048]);
    assert_eq!((status, body.as_str()), (413, r#"{"error":"ERR max request size exceeded"}"#));
    let mut c = connect(&s, tiny["password"].as_str().unwrap());
    let refused = redis::cmd("SET").arg("big").arg(vec![b'x'; 4096]).query::<()>(&mut c).unwrap_err();
    assert!(refused.to_string().contains("max request size exceeded") || refused.is_io_error(), "{refused}");
    assert!(usage["cost_usd"].as_f64().unwrap() > 0.0, "{usage}");
    assert_eq!(usage["connections"]["peak"].as_u64(), Some(2));
    // REST traffic is metered as RESP's is: the commands' bytes in, the replies' bytes out.
    let rest_only = create(&s, r#"{"name": "rest-only"}"#);
    let token = format!("Authorization: Bearer {}", rest_only["rest_token"].as_str().unwrap());
    assert_eq!(http_with(s.http_addr, "POST", "/set/big", &[&token], &[b'x'; 1000]).0, 200);
    assert_eq!(http_with(s.http_addr, "GET", "/get/big", &[&token], b"").0, 200);
    let (_, usage) = admin(&s, "GET", "/v1/databases/rest-only/usage", "");
    assert!(usage["bytes"]["in"].as_u64().unwrap() >= 1000, "{usage}");
    assert!(usage["bytes"]["out"].as_u64().unwrap() >= 1000, "{usage}");
}

#[test]
fn definitions_and_data_survive_restarts_and_secrets_rotate_and_deletion_ends_it() {
    let dir = TestDir::new();
    let password = {
        let s = server_on(&dir);
        let created = create(&s, r#"{"name": "durable"}"#);
        let password = created["password"].as_str().unwrap().to_string();
        let mut c = connect(&s, &password);
        run::<()>(&mut c, &["SET", "kept", "yes"]);
        for i in 0..50 {
            run::<()>(&mut c, &["SET", &format!("logged{i}"), "v"]);
        }
        for _ in 0..20 {
            run::<String>(&mut c, &["PING"]);
        }
        let (_, usage) = admin(&s, "GET", "/v1/databases/durable/usage", "");
        assert!(usage["commands"].as_u64().unwrap() >= 21, "{usage}");
        password
    };
    let before_restart = {
        let s = server_on(&dir);
        let (_, usage) = admin(&s, "GET", "/v1/databases/durable/usage", "");
        usage["commands"].as_u64().unwrap()
    };
    let s = server_on(&dir);
    let mut c = connect(&s, &password);
    assert_eq!(run::<String>(&mut c, &["GET", "kept"]), "yes");
    // The meters survived the restarts and keep counting, and replaying the log's 51 writes at each start
    // billed nothing: only this client's handshake and GET were added.
    let (_, usage) = admin(&s, "GET", "/v1/databases/durable/usage", "");
    let commands = usage["commands"].as_u64().unwrap();
    assert!(commands >= 72 && commands <= before_restart + 5, "{before_restart} then {usage}");
    assert!(usage["days"][0]["bytes_in"].as_u64().unwrap() > 0, "{usage}");
    let (status, rotated) = admin(&s, "POST", "/v1/databases/durable/rotate-password", "");
    assert_eq!(status, 200);
    let mut old = s.client();
    assert!(error_of(&mut old, &["AUTH", &password]).starts_with("WRONGPASS"));
    let mut new = connect(&s, rotated["password"].as_str().unwrap());
    assert_eq!(run::<String>(&mut new, &["GET", "kept"]), "yes");
    assert_eq!(admin(&s, "DELETE", "/v1/databases/durable", "").0, 200);
    common::wait_for(|| redis::cmd("PING").query::<String>(&mut new).is_err());
    assert!(!dir.0.join("databases/durable").exists());
    let mut again = s.client();
    assert!(error_of(&mut again, &["AUTH", rotated["password"].as_str().unwrap()]).starts_with("WRONGPASS"));
}

#[test]
fn the_stats_endpoint_gives_a_databases_rates_and_limits_to_its_owner_and_the_admin() {
    let dir = TestDir::new();
    let s = server_on(&dir);
    let a = create(&s, r#"{"name":"stats-a","max_connections":4,"max_memory":10485760}"#);
    let b = create(&s, r#"{"name":"stats-b"}"#);
    let mut con = connect(&s, a["password"].as_str().unwrap());
    // Traffic over more than a second, so that two samples bracket it.
    for round in 0..3 {
        for i in 0..100 {
            run::<()>(&mut con, &["SET", &format!("k{i}"), "v"]);
            run::<Option<String>>(&mut con, &["GET", if i % 4 == 0 { "missing" } else { "k1" }]);
        }
        if round < 2 {
            std::thread::sleep(std::time::Duration::from_millis(700));
        }
    }
    let mut stats = Value::Null;
    common::wait_for(|| {
        stats = admin(&s, "GET", "/v1/databases/stats-a/stats", "").1;
        stats["rates"]["1m"]["commands_per_sec"].as_f64().is_some_and(|r| r > 0.0)
    });
    assert_eq!(stats["name"], "stats-a");
    let hit_rate = stats["rates"]["1m"]["hit_rate"].as_f64().unwrap();
    assert!(hit_rate > 0.5 && hit_rate < 1.0, "{stats}");
    assert_eq!(stats["connections"]["current"], 1);
    assert_eq!(stats["connections"]["max"], 4);
    assert_eq!(stats["connections"]["percent"], 25.0);
    assert_eq!(stats["memory"]["max"], 10485760);
    assert_eq!(stats["keys"], 100);
    assert!(stats["latency_us"]["p99"].as_u64().is_some(), "{stats}");
    assert_eq!(stats["replication"]["role"], "primary");
    // The database's own REST token reads it; another database's does not.
    let own = format!("Authorization: Bearer {}", a["rest_token"].as_str().unwrap());
    assert_eq!(http_with(s.http_addr, "GET", "/v1/databases/stats-a/stats", &[&own], b"").0, 200);
    let other = format!("Authorization: Bearer {}", b["rest_token"].as_str().unwrap());
    assert_eq!(http_with(s.http_addr, "GET", "/v1/databases/stats-a/stats", &[&other], b"").0, 401);
    assert_eq!(http_with(s.http_addr, "GET", "/v1/databases/stats-a/stats", &[], b"").0, 401);
    assert_eq!(admin(&s, "GET", "/v1/databases/nope/stats", "").0, 404);
}
