//! The HTTP face over real HTTP: liveness, and readiness that names the failing component.

mod common;

use common::{http, run, TestServer};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn liveness_reports_version_and_uptime() {
    let server = TestServer::start();
    let (status, body) = http(server.http_addr, "GET", "/health");
    assert_eq!(status, 200);
    let body = json(&body);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_s"].is_u64());
}

#[test]
fn readiness_lists_every_component_and_names_the_failing_one() {
    let server = TestServer::with(|s| s.maxclients = 2);
    let (status, body) = http(server.http_addr, "GET", "/health/ready");
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    assert_eq!(body["status"], "ready");
    for component in ["loading", "storage", "persistence", "connections", "memory"] {
        assert_eq!(body["components"][component]["ok"], true, "{component}: {body}");
    }
    assert_eq!(body["components"]["connections"]["max"], 2);
    // Every connection slot taken: not ready, and the body says which component and why.
    let _a = server.client();
    let _b = server.client();
    let (status, body) = http(server.http_addr, "GET", "/health/ready");
    assert_eq!(status, 503, "{body}");
    let body = json(&body);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["failing"], serde_json::json!(["connections"]));
    assert_eq!(body["components"]["connections"]["error"], "2 of 2 connections in use");
    assert_eq!(body["components"]["storage"]["ok"], true);
}

#[test]
fn readiness_fails_on_memory_over_maxmemory() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "k", &"x".repeat(10_000)]);
    run::<()>(&mut con, &["CONFIG", "SET", "maxmemory", "1000"]);
    let (status, body) = http(server.http_addr, "GET", "/health/ready");
    assert_eq!(status, 503, "{body}");
    let body = json(&body);
    assert_eq!(body["failing"], serde_json::json!(["memory"]));
    assert_eq!(body["components"]["memory"]["max"], 1000);
    // Any other path is a REST command, which needs the token.
    assert_eq!(http(server.http_addr, "GET", "/nope").0, 401);
}

#[test]
fn metrics_are_prometheus_text_that_promtool_accepts() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "k", "v"]);
    run::<Option<String>>(&mut con, &["GET", "missing"]);
    assert!(common::error_of(&mut con, &["INCR", "k"]).starts_with("ERR"));
    http(server.http_addr, "GET", "/health");
    assert_eq!(http(server.http_addr, "GET", "/metrics").0, 401, "metrics need a token");
    let admin = format!("Authorization: bearer {}", server.server.settings.read().admin_token);
    let (status, body) = common::http_with(server.http_addr, "GET", "/metrics", &[&admin], b"");
    assert_eq!(status, 200);
    for expected in [
        "keel_commands_total{command=\"set\",result=\"ok\"} 1",
        "keel_commands_total{command=\"incr\",result=\"error\"} 1",
        "keel_command_duration_seconds_count{command=\"get\"} 1",
        "keel_command_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 1",
        "keel_keyspace_misses_total 1",
        "keel_keys{db=\"0\"} 1",
        "keel_connected_clients 1",
        "keel_aof_enabled 1",
        "keel_http_requests_total{route=\"/health\",status=\"200\"} 1",
    ] {
        assert!(body.contains(expected), "missing {expected}:\n{body}");
    }
    // `promtool check metrics` (Prometheus's own linter) when installed: `.ci/run` installs it.
    let Ok(mut promtool) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        common::skip_without("promtool is not installed: no promtool check (CI installs prometheus)");
        return;
    };
    use std::io::Write;
    promtool.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let result = promtool.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

const AUTH: &str = "Authorization: Bearer secret-token";

fn rest_server() -> TestServer {
    TestServer::with(|s| s.rest_token = "secret-token".into())
}

#[test]
fn rest_commands_in_the_path_and_in_a_json_body() {
    let server = rest_server();
    let addr = server.http_addr;
    let (status, body) = common::http_with(addr, "GET", "/set/foo/bar/EX/100", &[AUTH], b"");
    assert_eq!((status, json(&body)), (200, serde_json::json!({"result": "OK"})));
    let (status, body) = common::http_with(addr, "GET", "/get/foo", &[AUTH], b"");
    assert_eq!((status, json(&body)), (200, serde_json::json!({"result": "bar"})));
    // The body is the last argument, raw; query arguments follow it; %2F is a slash inside an argument.
    let (status, _) = common::http_with(addr, "POST", "/set/a%2Fb?EX=100", &[AUTH], b"{\"raw\": 1}");
    assert_eq!(status, 200);
    assert_eq!(run::<String>(&mut server.client(), &["GET", "a/b"]), "{\"raw\": 1}");
    assert!(run::<i64>(&mut server.client(), &["TTL", "a/b"]) > 90);
    // JSON: numbers by their lexeme, booleans as words, explicit null results.
    let (status, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["SET", "n", 12345678901234567890]"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(run::<String>(&mut server.client(), &["GET", "n"]), "12345678901234567890");
    let (_, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["GET", "missing"]"#);
    assert_eq!(body, r#"{"result":null}"#);
    let (_, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["RPUSH", "l", "x", true]"#);
    assert_eq!(json(&body), serde_json::json!({"result": 2}));
    let (_, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["LRANGE", "l", 0, -1]"#);
    assert_eq!(json(&body), serde_json::json!({"result": ["x", "true"]}));
    // Errors: Redis's text with 400; a blocking command that would wait refused (one that need not,
    // answered); malformed JSON.
    let (status, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["INCR", "foo"]"#);
    assert_eq!(
        (status, json(&body)),
        (400, serde_json::json!({"error": "ERR value is not an integer or out of range"}))
    );
    let (status, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["BLPOP", "l", 0]"#);
    assert_eq!((status, json(&body)), (200, serde_json::json!({"result": ["l", "x"]})));
    let (status, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["BLPOP", "empty", 0]"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error"], "ERR BLPOP would block, which REST does not support");
    assert_eq!(common::http_with(addr, "POST", "/", &[AUTH], b"[not json").0, 400);
    // Arguments as written: a float's own lexeme, escapes undone; null, nested arrays and objects refused.
    let body = br#" [ "SET" , "f" , 1.50e1 ] "#;
    assert_eq!(common::http_with(addr, "POST", "/", &[AUTH], body).0, 200);
    assert_eq!(run::<String>(&mut server.client(), &["GET", "f"]), "1.50e1");
    let body = br#"["SET", "e", "a\"b\u00e9\\"]"#;
    assert_eq!(common::http_with(addr, "POST", "/", &[AUTH], body).0, 200);
    assert_eq!(run::<String>(&mut server.client(), &["GET", "e"]), "a\"b\u{e9}\\");
    for refused in [&br#"["SET", "k", null]"#[..], br#"["SET", "k", ["v"]]"#, br#"["SET", "k", {"v": 1}]"#, b"[]"] {
        let (status, body) = common::http_with(addr, "POST", "/", &[AUTH], refused);
        assert_eq!((status, json(&body)), (400, serde_json::json!({"error": "ERR failed to parse command"})));
    }
}

#[test]
fn rest_pipelines_answer_one_outcome_per_command() {
    let server = rest_server();
    let body = br#"[["SET", "k", "1"], ["INCR", "k"], ["HSET", "k", "f", "v"], ["GET", "k"]]"#;
    let (status, reply) = common::http_with(server.http_addr, "POST", "/pipeline", &[AUTH], body);
    assert_eq!(status, 200);
    assert_eq!(
        json(&reply),
        serde_json::json!([
            {"result": "OK"},
            {"result": 2},
            {"error": "WRONGTYPE Operation against a key holding the wrong kind of value"},
            {"result": "2"}
        ])
    );
    for malformed in [&br#"[["PING"], "PING"]"#[..], br#"[["PING"], []]"#, b"[]", br#"[["SET", "k", null]]"#] {
        let (status, reply) = common::http_with(server.http_addr, "POST", "/pipeline", &[AUTH], malformed);
        assert_eq!((status, json(&reply)), (400, serde_json::json!({"error": "ERR failed to parse pipeline request"})));
    }
}

#[test]
fn rest_requires_the_token() {
    let server = rest_server();
    let addr = server.http_addr;
    let unauthorized = serde_json::json!({"error": "WRONGPASS invalid or missing auth token"});
    let (status, body) = common::http(addr, "GET", "/get/foo");
    assert_eq!((status, json(&body)), (401, unauthorized.clone()));
    let (status, body) = common::http_with(addr, "GET", "/get/foo", &["Authorization: Bearer wrong"], b"");
    assert_eq!((status, json(&body)), (401, unauthorized));
    assert_eq!(common::http(addr, "GET", "/get/foo?_token=secret-token").0, 200);
    assert_eq!(common::http_with(addr, "GET", "/ping", &["authorization: bearer secret-token"], b"").0, 200);
}

#[test]
fn a_rest_token_is_generated_once_and_kept() {
    let dir = common::TestDir::new();
    let path = dir.0.clone();
    let first = {
        let server = TestServer::with(|s| s.dir = path.clone());
        let token = std::fs::read_to_string(dir.0.join("rest-token")).unwrap();
        let auth = format!("Authorization: Bearer {token}");
        assert_eq!(common::http_with(server.http_addr, "GET", "/ping", &[&auth], b"").0, 200);
        token
    };
    let server = TestServer::with(|s| s.dir = path.clone());
    assert_eq!(std::fs::read_to_string(dir.0.join("rest-token")).unwrap(), first);
    assert_eq!(common::http(server.http_addr, "GET", &format!("/ping?_token={first}")).0, 200);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.0.join("rest-token")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn rest_base64_encoding_carries_exact_bytes() {
    let server = rest_server();
    let addr = server.http_addr;
    let mut con = server.client();
    let binary: &[u8] = b"\xff\x00\xfeok";
    redis::cmd("SET").arg("bin").arg(binary).query::<()>(&mut con).unwrap();
    let base64 = "Upstash-Encoding: base64";
    let (status, body) = common::http_with(
        addr,
        "POST",
        "/pipeline",
        &[AUTH, base64],
        br#"[["GET","bin"],["SET","k","v"],["PING"],["INCR","n"],["GET","nope"],["INCR","k"]]"#,
    );
    assert_eq!(status, 200);
    assert_eq!(
        json(&body),
        serde_json::json!([
            {"result": "/wD+b2s="},
            {"result": "OK"},
            {"result": "UE9ORw=="},
            {"result": 1},
            {"result": null},
            {"error": "ERR value is not an integer or out of range"}
        ])
    );
    // Without the header, invalid UTF-8 is replaced.
    let (_, body) = common::http_with(addr, "GET", "/get/bin", &[AUTH], b"");
    assert_eq!(json(&body), serde_json::json!({"result": "\u{fffd}\u{0}\u{fffd}ok"}));
}

#[test]
fn rest_transactions_run_atomically_or_not_at_all() {
    let server = rest_server();
    let addr = server.http_addr;
    let (status, body) = common::http_with(
        addr,
        "POST",
        "/multi-exec",
        &[AUTH],
        br#"[["SET","a","1"],["INCR","a"],["HSET","a","f","v"]]"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body),
        serde_json::json!([
            {"result": "OK"},
            {"result": 2},
            {"error": "WRONGTYPE Operation against a key holding the wrong kind of value"}
        ])
    );
    // A command refused while queuing discards the whole transaction: nothing ran.
    let (status, body) = common::http_with(addr, "POST", "/multi-exec", &[AUTH], br#"[["SET","b","1"],["NOSUCH"]]"#);
    assert_eq!(status, 400, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().starts_with("EXECABORT"));
    assert_eq!(run::<Option<String>>(&mut server.client(), &["GET", "b"]), None);
    // What needs a connection is refused by name, alone or queued (which discards the transaction).
    let (status, body) = common::http_with(addr, "POST", "/", &[AUTH], br#"["SUBSCRIBE","c"]"#);
    assert_eq!((status, json(&body)), (400, serde_json::json!({"error": "ERR SUBSCRIBE is not supported over REST"})));
    let (status, body) =
        common::http_with(addr, "POST", "/multi-exec", &[AUTH], br#"[["SET","b","1"],["SUBSCRIBE","c"]]"#);
    assert_eq!(status, 400, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().starts_with("EXECABORT"), "{body}");
    assert_eq!(run::<Option<String>>(&mut server.client(), &["GET", "b"]), None);
    let (status, body) = common::http_with(addr, "POST", "/pipeline", &[AUTH], br#"[["HELLO","3"],["PING"]]"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), serde_json::json!([{"error": "ERR HELLO is not supported over REST"}, {"result": "PONG"}]));
}

#[test]
fn rest_replies_carry_a_fresh_sync_token() {
    let server = rest_server();
    let mut stream = std::net::TcpStream::connect(server.http_addr).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: k\r\nConnection: close\r\nupstash-sync-token: anything\r\nAuthorization: Bearer secret-token\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.to_ascii_lowercase().contains("upstash-sync-token: "), "{response}");
    assert!(response.ends_with(r#"{"result":"PONG"}"#), "{response}");
}

#[test]
fn rest_read_only_tokens_cors_methods_and_size() {
    let server = TestServer::with(|s| {
        s.rest_token = "secret-token".into();
        s.rest_readonly_token = "reader".into();
    });
    let addr = server.http_addr;
    run::<()>(&mut server.client(), &["SET", "k", "v"]);
    let reader = "Authorization: Bearer reader";
    assert_eq!(json(&common::http_with(addr, "GET", "/get/k", &[reader], b"").1), serde_json::json!({"result": "v"}));
    let (status, body) = common::http_with(addr, "GET", "/set/k/x", &[reader], b"");
    assert_eq!(status, 400);
    assert_eq!(
        json(&body),
        serde_json::json!({"error": "NOPERM this user has no permissions to run the 'set' command or its subcommand"})
    );
    assert_eq!(run::<String>(&mut server.client(), &["GET", "k"]), "v");
    // CORS preflight, and CORS on answers.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"OPTIONS /pipeline HTTP/1.1\r\nHost: k\r\nConnection: close\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let lower = response.to_ascii_lowercase();
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
    assert!(
        lower.contains("access-control-allow-origin: *")
            && lower.contains("access-control-allow-headers: authorization"),
        "{response}"
    );
    // Other methods: 405 with a JSON body.
    let (status, body) = common::http_with(addr, "DELETE", "/get/k", &[AUTH], b"");
    assert_eq!(status, 405);
    assert!(json(&body)["error"].is_string());
    // A body over 10 MB is refused before it is read.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(b"POST /set/big HTTP/1.1\r\nHost: k\r\nConnection: close\r\nAuthorization: Bearer secret-token\r\nContent-Length: 20000000\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.ends_with(r#"{"error":"ERR max request size exceeded"}"#), "{response}");
    // A chunked body (no declared length) over the limit gets the same answer once it passes 10 MB.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(b"POST /set/big HTTP/1.1\r\nHost: k\r\nConnection: close\r\nAuthorization: Bearer secret-token\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..11 {
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.ends_with(r#"{"error":"ERR max request size exceeded"}"#), "{response}");
}

/// Reads from `stream` until `expected` has arrived (failing after the stream's read timeout).
fn read_until(stream: &mut std::net::TcpStream, seen: &mut String, expected: &str) {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    while !seen.contains(expected) {
        let n = stream.read(&mut buf).unwrap_or_else(|e| panic!("waiting for {expected:?}: {e}; got {seen:?}"));
        assert!(n > 0, "stream closed before {expected:?}: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn rest_subscriptions_stream_messages_as_server_sent_events() {
    use std::io::Write;
    let server = TestServer::with(|s| {
        s.rest_token = "secret-token".into();
        s.rest_sse_heartbeat_ms = 200;
    });
    let mut stream = std::net::TcpStream::connect(server.http_addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream
        .write_all(
            b"POST /subscribe/chat HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer secret-token\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
        )
        .unwrap();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "data: subscribe,chat,1");
    assert!(seen.to_ascii_lowercase().contains("content-type: text/event-stream"), "{seen}");
    let mut con = server.client();
    assert_eq!(run::<i64>(&mut con, &["PUBLISH", "chat", "hello, world"]), 1);
    read_until(&mut stream, &mut seen, "data: message,chat,hello, world");
    // An idle stream keeps sending heartbeat comments.
    read_until(&mut stream, &mut seen, ": ping");
    // Patterns too.
    let mut patterns = std::net::TcpStream::connect(server.http_addr).unwrap();
    patterns.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    patterns.write_all(b"POST /psubscribe/ch* HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer secret-token\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut pattern_seen = String::new();
    read_until(&mut patterns, &mut pattern_seen, "data: psubscribe,ch*,1");
    run::<i64>(&mut con, &["PUBLISH", "chat", "again"]);
    read_until(&mut patterns, &mut pattern_seen, "data: pmessage,ch*,chat,again");
    // The client going away drops its subscription.
    drop(stream);
    drop(patterns);
    common::wait_for(|| {
        let counts: Vec<redis::Value> = run(&mut con, &["PUBSUB", "NUMSUB", "chat"]);
        counts.get(1) == Some(&redis::Value::Int(0)) && run::<i64>(&mut con, &["PUBSUB", "NUMPAT"]) == 0
    });
}

#[test]
fn rest_resp2_format_binary_bodies_and_monitor() {
    use std::io::Write;
    let server = rest_server();
    let addr = server.http_addr;
    // A binary body stored through the path form comes back exactly, base64-encoded.
    let binary: &[u8] = b"\x00\x01\xfe\xffbytes";
    assert_eq!(common::http_with(addr, "POST", "/set/raw", &[AUTH], binary).0, 200);
    let (_, body) = common::http_with(addr, "GET", "/get/raw", &[AUTH, "Upstash-Encoding: base64"], b"");
    assert_eq!(json(&body), serde_json::json!({"result": "AAH+/2J5dGVz"}));
    let stored: Vec<u8> = redis::cmd("GET").arg("raw").query(&mut server.client()).unwrap();
    assert_eq!(stored, binary);
    // RESP2 bodies on request; not together with base64; unknown formats refused.
    let resp2 = "Upstash-Response-Format: resp2";
    assert_eq!(common::http_with(addr, "GET", "/get/nothing", &[AUTH, resp2], b""), (200, "$-1\r\n".to_string()));
    let (status, body) = common::http_with(addr, "POST", "/pipeline", &[AUTH, resp2], br#"[["PING"],["INCR","raw"]]"#);
    assert_eq!((status, body.as_str()), (200, "+PONG\r\n-ERR value is not an integer or out of range\r\n"));
    assert_eq!(common::http_with(addr, "GET", "/ping", &[AUTH, resp2, "Upstash-Encoding: base64"], b"").0, 400);
    assert_eq!(common::http_with(addr, "GET", "/ping", &[AUTH, "Upstash-Response-Format: xml"], b"").0, 400);
    // MONITOR over SSE: "OK" first, then each command.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream
        .write_all(
            b"POST /monitor HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer secret-token\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "data: \"OK\"");
    run::<()>(&mut server.client(), &["SET", "watched", "1"]);
    read_until(&mut stream, &mut seen, "\"SET\" \"watched\" \"1\"");
}

/// A RESP2 reply as Upstash's JSON gives it: strings as strings, maps flattened, nulls null.
fn resp_as_json(value: redis::Value) -> serde_json::Value {
    use redis::Value;
    match value {
        Value::Nil => serde_json::Value::Null,
        Value::Int(n) => n.into(),
        Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned().into(),
        Value::SimpleString(text) => text.into(),
        Value::Okay => "OK".into(),
        Value::Array(items) | Value::Set(items) => items.into_iter().map(resp_as_json).collect(),
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [resp_as_json(k), resp_as_json(v)]).collect(),
        other => panic!("a RESP2 client got {other:?}"),
    }
}

#[test]
fn rest_json_is_what_resp_answers_for_nested_replies() {
    let server = rest_server();
    let mut client = server.client();
    for setup in [
        "HSET h a 1 b 2",
        "ZADD z 1.5 a 2 b",
        "XADD s 1-1 f v g w",
        "XADD s 2-1 f x",
        "RPUSH l a b c",
        "SADD st x",
        "GEOADD g 13.361389 38.115556 Palermo",
    ] {
        let args: Vec<&str> = setup.split(' ').collect();
        run::<redis::Value>(&mut client, &args);
    }
    let corpus = [
        "HGETALL h",
        "ZRANGE z 0 -1 WITHSCORES",
        "XRANGE s - +",
        "XREAD STREAMS s 0",
        "XINFO STREAM s",
        "LPOS l b COUNT 0",
        "SMEMBERS st",
        "GEOPOS g Palermo nowhere",
        "EVAL return{1,{2,'x'},'y'} 0",
        "ZMSCORE z a nothing",
        "ZRANDMEMBER nothing 2",
        "MGET h nothing l",
        "SCAN 0",
    ];
    for command in corpus {
        let args: Vec<&str> = command.split(' ').collect();
        let over_resp = resp_as_json(run::<redis::Value>(&mut client, &args));
        let body = serde_json::to_vec(&args).unwrap();
        let (status, reply) = common::http_with(server.http_addr, "POST", "/", &[AUTH], &body);
        assert_eq!(status, 200, "{command}: {reply}");
        assert_eq!(json(&reply), serde_json::json!({ "result": over_resp }), "{command}");
    }
}

#[test]
fn the_front_page_links_health_metrics_and_the_apis_and_names_no_secret() {
    let server = rest_server();
    let (status, body) = common::http(server.http_addr, "GET", "/");
    assert_eq!(status, 200);
    for link in ["href=\"/health\"", "href=\"/health/ready\"", "href=\"/metrics\"", "href=\"/v1/openapi.json\""] {
        assert!(body.contains(link), "{link}: {body}");
    }
    assert!(body.contains(env!("CARGO_PKG_VERSION")));
    assert!(!body.contains("secret-token"));
    // POST / is still the REST API.
    let (status, reply) = common::http_with(server.http_addr, "POST", "/", &[AUTH], br#"["PING"]"#);
    assert_eq!((status, reply.as_str()), (200, r#"{"result":"PONG"}"#));
}
