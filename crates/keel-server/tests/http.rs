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
    // An unknown path is a 404, not a crash.
    assert_eq!(http(server.http_addr, "GET", "/nope").0, 404);
}

#[test]
fn metrics_are_prometheus_text_that_promtool_accepts() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "k", "v"]);
    run::<Option<String>>(&mut con, &["GET", "missing"]);
    assert!(common::error_of(&mut con, &["INCR", "k"]).starts_with("ERR"));
    http(server.http_addr, "GET", "/health");
    let (status, body) = http(server.http_addr, "GET", "/metrics");
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
        eprintln!("skipped the promtool check: promtool is not installed");
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
