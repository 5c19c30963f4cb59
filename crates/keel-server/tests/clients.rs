//! Real clients, unchanged, against a Keel each test starts: the official Upstash clients over the REST API
//! (`@upstash/redis` from npm, `upstash-redis` from PyPI), BullMQ and the JSON commands of node-redis and
//! redis-py over RESP, each running its script from `tests/clients/`. `.ci/run` installs them into `target/npm` and `target/pypi`; without them a test says
//! it skipped.

mod common;

use common::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn target_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target").join(default))
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

/// Runs `command` with Keel's REST URL and token and its RESP port in its environment; it must print "ok".
fn run_against_keel(mut command: Command) {
    let server = TestServer::with(|s| s.rest_token = "smoke-token".into());
    let output = command
        .env("KEEL_URL", format!("http://{}", server.http_addr))
        .env("KEEL_TOKEN", "smoke-token")
        .env("KEEL_PORT", server.addr.port().to_string())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    common::assert_printed_ok(&output);
}

#[test]
fn the_javascript_client_works_unchanged() {
    let npm = target_dir("KEEL_NPM_DIR", "npm");
    if !npm.join("node_modules/@upstash/redis").exists() || Command::new("node").arg("--version").output().is_err() {
        common::skip_without(&format!(
            "node or @upstash/redis is missing (.ci/run installs them into {})",
            npm.display()
        ));
        return;
    }
    run_against_keel(node_module(&npm, "smoke-upstash-redis.mjs"));
}

/// Runs a Node ES module from `tests/clients/` with the packages in `target/npm`.
fn node_module(npm: &Path, name: &str) -> Command {
    let mut command = Command::new("node");
    // An ES module read from stdin resolves its imports from the working directory.
    command.args(["--input-type=module"]).current_dir(npm).stdin(std::fs::File::open(script(name)).unwrap());
    command
}

#[test]
fn node_redis_json_commands_work_unchanged() {
    let npm = target_dir("KEEL_NPM_DIR", "npm");
    if !npm.join("node_modules/@redis/json").exists() || Command::new("node").arg("--version").output().is_err() {
        common::skip_without(&format!("node or redis is missing (.ci/run installs them into {})", npm.display()));
        return;
    }
    run_against_keel(node_module(&npm, "node-redis-json.mjs"));
}

#[test]
fn redis_py_json_commands_work_unchanged() {
    let pypi = target_dir("KEEL_PYPI_DIR", "pypi");
    if !pypi.join("redis").exists() {
        common::skip_without(&format!("redis-py is missing (.ci/run installs it into {})", pypi.display()));
        return;
    }
    let mut command = Command::new("python3");
    command.arg(script("redis_py_json.py")).env("PYTHONPATH", &pypi).env("PYTHONDONTWRITEBYTECODE", "1");
    run_against_keel(command);
}

#[test]
fn bullmq_queues_workers_and_queue_events_work_unchanged() {
    let npm = target_dir("KEEL_NPM_DIR", "npm");
    if !npm.join("node_modules/bullmq").exists() || Command::new("node").arg("--version").output().is_err() {
        common::skip_without(&format!("node or bullmq is missing (.ci/run installs them into {})", npm.display()));
        return;
    }
    run_against_keel(node_module(&npm, "bullmq-queue.mjs"));
}

#[test]
fn the_python_client_works_unchanged() {
    let pypi = target_dir("KEEL_PYPI_DIR", "pypi");
    if !pypi.join("upstash_redis").exists() {
        common::skip_without(&format!("upstash-redis is missing (.ci/run installs it into {})", pypi.display()));
        return;
    }
    let mut command = Command::new("python3");
    command.arg(script("smoke_upstash_redis.py")).env("PYTHONPATH", &pypi).env("PYTHONDONTWRITEBYTECODE", "1");
    run_against_keel(command);
}
