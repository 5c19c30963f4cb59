//! The official Upstash clients, unchanged, against Keel's REST API: `@upstash/redis` (npm) and
//! `upstash-redis` (PyPI) run their smoke scripts (`tests/clients/`) against a Keel this test starts.
//! `.ci/run` installs them into `target/npm` and `target/pypi`; without them a test says it skipped.

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

/// Runs `command` with Keel's REST URL and token in its environment; it must print "ok".
fn run_against_keel(mut command: Command) {
    let server = TestServer::with(|s| s.rest_token = "smoke-token".into());
    let output = command
        .env("KEEL_URL", format!("http://{}", server.http_addr))
        .env("KEEL_TOKEN", "smoke-token")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_javascript_client_works_unchanged() {
    let npm = target_dir("KEEL_NPM_DIR", "npm");
    if !npm.join("node_modules/@upstash/redis").exists() || Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipped: node or @upstash/redis is missing (.ci/run installs them into {})", npm.display());
        return;
    }
    let mut command = Command::new("node");
    // An ES module read from stdin resolves its imports from the working directory.
    command
        .args(["--input-type=module"])
        .current_dir(&npm)
        .stdin(std::fs::File::open(script("smoke-upstash-redis.mjs")).unwrap());
    run_against_keel(command);
}

#[test]
fn the_python_client_works_unchanged() {
    let pypi = target_dir("KEEL_PYPI_DIR", "pypi");
    if !pypi.join("upstash_redis").exists() {
        eprintln!("skipped: upstash-redis is missing (.ci/run installs it into {})", pypi.display());
        return;
    }
    let mut command = Command::new("python3");
    command.arg(script("smoke_upstash_redis.py")).env("PYTHONPATH", &pypi).env("PYTHONDONTWRITEBYTECODE", "1");
    run_against_keel(command);
}
