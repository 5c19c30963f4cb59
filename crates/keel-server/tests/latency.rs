//! The latency monitor over real sockets: events past `latency-monitor-threshold` (LATEST, HISTORY,
//! GRAPH, DOCTOR, RESET) and the per-command histograms (LATENCY HISTOGRAM), Redis's reply shapes.

mod common;

use common::{error_of, run, TestServer};
use redis::Value;

#[test]
fn slow_commands_become_events_and_every_command_has_a_histogram() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["CONFIG", "SET", "latency-monitor-threshold", "50"]);
    assert_eq!(run::<Vec<String>>(&mut con, &["CONFIG", "GET", "latency-monitor-threshold"])[1], "50");
    assert_eq!(run::<Vec<Value>>(&mut con, &["LATENCY", "LATEST"]), vec![]);
    run::<()>(&mut con, &["DEBUG", "SLEEP", "0.12"]);
    run::<()>(&mut con, &["PING"]);
    let latest: Vec<(String, i64, i64, i64)> = run(&mut con, &["LATENCY", "LATEST"]);
    assert_eq!(latest.len(), 1, "{latest:?}");
    let (event, _, ms, max) = &latest[0];
    assert_eq!(event, "command");
    assert!(*ms >= 120 && max >= ms, "{latest:?}");
    let history: Vec<(i64, i64)> = run(&mut con, &["LATENCY", "HISTORY", "command"]);
    assert_eq!(history.len(), 1);
    assert!(run::<String>(&mut con, &["LATENCY", "GRAPH", "command"]).starts_with("command - high"));
    assert!(run::<String>(&mut con, &["LATENCY", "DOCTOR"]).contains("1. command"));
    assert_eq!(error_of(&mut con, &["LATENCY", "GRAPH", "nothing"]), "ERR No samples available for event 'nothing'");
    assert_eq!(run::<i64>(&mut con, &["LATENCY", "RESET", "nothing"]), 0);
    assert_eq!(run::<i64>(&mut con, &["LATENCY", "RESET"]), 1);
    assert_eq!(run::<Vec<Value>>(&mut con, &["LATENCY", "LATEST"]), vec![]);

    run::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    run::<()>(&mut con, &["SET", "a", "1"]);
    run::<()>(&mut con, &["SET", "b", "2"]);
    run::<i64>(&mut con, &["CLIENT", "ID"]);
    let histogram: Vec<Value> = run(&mut con, &["LATENCY", "HISTOGRAM", "set", "client", "nosuch"]);
    let shown = format!("{histogram:?}");
    assert_eq!(histogram.len(), 4, "set and client|id, each with its figures: {shown}");
    assert!(shown.contains("\"set\"") && shown.contains("\"client|id\"") && shown.contains("calls"), "{shown}");
    let Value::Array(figures) = &histogram[1] else { panic!("{shown}") };
    assert_eq!(figures[1], Value::Int(2), "two SET calls: {shown}");
    let Value::Array(buckets) = &figures[3] else { panic!("{shown}") };
    assert_eq!(buckets.last(), Some(&Value::Int(2)), "the last bucket counts every call: {shown}");
    assert_eq!(
        error_of(&mut con, &["LATENCY", "HELP", "x"]),
        "ERR wrong number of arguments for 'latency|help' command"
    );
}
