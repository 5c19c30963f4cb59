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
