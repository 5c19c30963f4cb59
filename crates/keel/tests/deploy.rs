//! The deployment files in `deploy/` hold together with the binary: the alert rules pass `promtool check
//! rules`, the systemd unit passes `systemd-analyze verify` (run against this build of keel), the YAML and
//! TOML files parse, the Dockerfile keeps its promises (non-root, /data volume, health check on
//! /health/ready, the profile-guided build), the profile's training load runs clean, and every metric the alert rules and the Grafana dashboard name is one a running Keel
//! serves. What this machine cannot do (build or run the image, apply the manifests) the README says.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Whether a tool is on PATH; without one, the check fails under CI and is reported otherwise.
fn tool(name: &str) -> bool {
    let found =
        Command::new("sh").args(["-c", &format!("command -v {name}")]).output().is_ok_and(|o| o.status.success());
    assert!(found || std::env::var_os("CI").is_none(), "{name} is missing, and CI is set: .ci/run installs it");
    found
}

#[test]
fn alert_rules_pass_promtool() {
    if !tool("promtool") {
        return;
    }
    let output =
        Command::new("promtool").arg("check").arg("rules").arg(deploy("prometheus/alerts.yml")).output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_systemd_unit_verifies_against_this_binary() {
    if !tool("systemd-analyze") {
        return;
    }
    let dir = common::temp_dir("unit");
    let unit = read("systemd/keel.service").replace("/usr/local/bin/keel", env!("CARGO_BIN_EXE_keel"));
    let path = dir.join("keel.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn yaml_and_toml_files_parse() {
    // Python's tomllib and PyYAML (.ci/run installs PyYAML into target/pypi).
    let pypi = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pypi");
    let script = r#"
import sys, tomllib, yaml
for path in sys.argv[1:]:
    if path.endswith(".toml"):
        tomllib.load(open(path, "rb"))
    else:
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        assert docs, path
print("ok")
"#;
    let files =
        ["fly.toml", "docker-compose.yml", "k8s/keel.yaml", "k8s/cluster.yaml", "prometheus/alerts.yml"].map(deploy);
    let output = Command::new("python3").arg("-c").arg(script).args(&files).env("PYTHONPATH", pypi).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.trim() == "ok", "{stdout}{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_dockerfile_runs_keel_as_a_non_root_user_with_a_data_volume_and_a_readiness_check() {
    let dockerfile = read("Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let last_user = lines.iter().rev().find_map(|l| l.strip_prefix("USER ")).expect("a USER line");
    assert_ne!(last_user.trim(), "root");
    assert!(lines.iter().any(|l| l.starts_with("VOLUME") && l.contains("/data")));
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/health/ready"));
    assert!(lines.iter().filter(|l| l.starts_with("FROM ")).count() >= 2, "a build stage and a runtime stage");
    assert!(lines.iter().any(|l| l.starts_with("ENTRYPOINT") && l.contains("serve")));
    // It ships the profile-guided build.
    assert!(lines.iter().any(|l| l.starts_with("RUN deploy/pgo-build.sh")));
    assert!(lines.iter().any(|l| l.starts_with("COPY --from=build /src/target/pgo/release/keel ")));
    // The settings it sets are ones Keel knows.
    for name in ["KEEL_DIR", "KEEL_BIND", "KEEL_PORT", "KEEL_HTTP_PORT"] {
        assert!(dockerfile.contains(name), "{name}");
    }
}

/// The profile-guided build's training load runs against this build without a failed command or request: a
/// profile of error paths would teach the compiler the wrong ones (scaled down: this is a debug build).
#[test]
fn the_profile_guided_builds_training_load_runs_clean() {
    if !["redis-benchmark", "redis-cli", "wrk"].into_iter().all(tool) {
        return;
    }
    let output = Command::new(deploy("pgo-build.sh"))
        .args(["--train", env!("CARGO_BIN_EXE_keel")])
        .env("TRAIN_REQUESTS", "2000")
        .env("TRAIN_SECONDS", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `keel_*` metric names an expression file mentions.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("keel_"))
        .map(|word| word.trim_end_matches("_bucket").to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_name_is_served() {
    let (port, http_port) = (common::free_port(), common::free_port());
    let dir = common::temp_dir("deploy-metrics");
    let mut child = common::keel()
        .args(["serve", "--port", &port.to_string(), "--http-port", &http_port.to_string()])
        .arg("--dir")
        .arg(&dir)
        .args(["--set", "metrics-public=yes", "--save", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut con = common::connect(port, None);
    redis::cmd("SET").arg("k").arg("v").query::<()>(&mut con).unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n").unwrap();
    let mut scrape = String::new();
    stream.read_to_string(&mut scrape).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let served: Vec<&str> =
        scrape.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
    assert!(served.len() > 20, "{scrape}");
    for file in ["prometheus/alerts.yml", "grafana/keel.json"] {
        for name in metric_names(&read(file)) {
            assert!(served.contains(&name.as_str()), "{file} names {name}, which /metrics does not serve");
        }
    }
}

#[test]
fn every_keel_variable_the_deploy_files_set_is_a_setting() {
    let mut text = String::new();
    for file in
        ["Dockerfile", "fly.toml", "docker-compose.yml", "k8s/keel.yaml", "k8s/cluster.yaml", "systemd/keel.service"]
    {
        text.push_str(&read(file));
    }
    let known: Vec<String> = keel_server::config::PARAMS
        .iter()
        .map(|p| format!("KEEL_{}", p.name.to_uppercase().replace('-', "_")))
        .collect();
    let mut unknown: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| word.len() > 5 && word.starts_with("KEEL_") && !["KEEL_LOG", "KEEL_LOG_FORMAT"].contains(word))
        .filter(|word| !known.iter().any(|k| k == word))
        .collect();
    unknown.dedup();
    assert!(unknown.is_empty(), "not settings: {unknown:?}");
}
