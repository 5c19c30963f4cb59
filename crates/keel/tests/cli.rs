//! The `keel` binary as a user runs it: version, settings precedence (flags over environment over the
//! file), the data directory, bad configuration, and a graceful exit on SIGTERM/SIGINT.

mod common;

use common::{connect, free_port, keel, temp_dir};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "keel did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn version_is_printed() {
    let out = keel().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("keel {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn flags_win_over_environment_over_file_and_sigterm_exits_cleanly() {
    let dir = temp_dir("cli-precedence");
    let port = free_port();
    let config = dir.join("keel.toml");
    std::fs::write(
        &config,
        format!(
            "port = {port}\nhttp-port = 0\nrequirepass = \"from-file\"\nmaxclients = 7\ntimeout = 40\ndir = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = keel()
        .args(["serve", "--config", config.to_str().unwrap(), "--requirepass", "from-flag"])
        .env("KEEL_REQUIREPASS", "from-env")
        .env("KEEL_MAXCLIENTS", "9")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut con = connect(port, Some("from-flag"));
    let get = |con: &mut redis::Connection, name: &str| -> String {
        let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(con).unwrap();
        pair[1].clone()
    };
    assert_eq!(get(&mut con, "maxclients"), "9", "environment beats the file");
    assert_eq!(get(&mut con, "timeout"), "40", "the file beats the defaults");
    assert!(dir.join("data").is_dir(), "the data directory is created");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join("data")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    redis::cmd("SET").arg("k").arg("v").query::<()>(&mut con).unwrap();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
}

#[test]
fn sigint_with_idle_clients_exits_cleanly() {
    let dir = temp_dir("cli-sigint");
    let port = free_port();
    let mut child = keel()
        .args(["serve", "--http-port", "0", "--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _idle = connect(port, None);
    let _other = connect(port, None);
    signal(&child, "INT");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "SIGINT must exit 0, got {status}");
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = temp_dir("cli-bad");
    let out = keel().args(["serve", "--port", "notaport", "--dir", dir.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--port") && stderr.contains("integer"), "{stderr}");
    let out = keel().args(["serve", "--set", "maxmemory-policy=sometimes"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("maxmemory-policy"));
    // A port in use: the error names what could not listen, and where.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out =
        keel().args(["serve", "--port", &port, "--http-port", "0", "--dir", dir.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen for RESP on 127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn check_reports_and_fixes_a_cut_off_log_and_reads_redis_rdb_files() {
    let dir = temp_dir("cli-check");
    let log = dir.join("appendonly.aof.1.incr.aof");
    std::fs::write(&log, b"*2\r\n$3\r\nDEL\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb").unwrap();
    let out = keel().arg("check").arg(&log).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cut off") && text.contains("--fix"), "{text}");
    let out = keel().arg("check").arg("--fix").arg(&log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 20);
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../keel-server/tests/data/redis-7.0-all-types.rdb");
    let out = keel().arg("check").arg(&fixture).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("20 keys") && text.contains("checksum OK"), "{text}");
    let mut corrupt = std::fs::read(&fixture).unwrap();
    corrupt[5000] ^= 0xff;
    let bad = dir.join("bad.rdb");
    std::fs::write(&bad, corrupt).unwrap();
    let out = keel().arg("check").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("byte offset"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keel_db_provisions_on_a_running_server_and_the_printed_url_connects() {
    let dir = temp_dir("db-cli");
    let (port, http_port) = (free_port(), free_port());
    // The admin token and a plans table come from keel.toml.
    let config = dir.join("keel.toml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&config, "admin-token = \"cli-admin\"\n[plans.team]\nper_day = 2.5\n").unwrap();
    let mut server = keel()
        .args(["serve", "--port", &port.to_string(), "--http-port", &http_port.to_string(), "--save", ""])
        .args(["--requirepass", "default-pass", "--config"])
        .arg(&config)
        .arg("--dir")
        .arg(&dir)
        .env("KEEL_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _default = connect(port, Some("default-pass"));
    let db = |args: &[&str]| {
        let output = keel()
            .arg("db")
            .args(args)
            .env("KEEL_ADMIN_URL", format!("http://127.0.0.1:{http_port}"))
            .env("KEEL_ADMIN_TOKEN", "cli-admin")
            .output()
            .unwrap();
        assert!(output.status.success(), "keel db {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let created: serde_json::Value = serde_json::from_str(&db(&[
        "create",
        "--name",
        "summer-tree-7498",
        "--region",
        "dfw",
        "--plan",
        "payg",
        "--eviction",
        "noeviction",
        "--max-memory",
        "256mb",
        "--max-connections",
        "1000",
        "--json",
    ]))
    .unwrap();
    let url = created["redis_url"].as_str().unwrap();
    assert!(url.starts_with("redis://default:") && url.ends_with(&format!("@127.0.0.1:{port}")), "{url}");
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    assert!(db(&["list"]).contains("summer-tree-7498"));
    assert!(db(&["show", "summer-tree-7498"]).contains("\"current\":1"));
    db(&["set", "summer-tree-7498", "--max-memory", "1mb", "--eviction", "allkeys-lru"]);
    assert!(db(&["show", "summer-tree-7498", "--json"]).contains("\"allkeys-lru\""));
    assert!(db(&["usage", "summer-tree-7498"]).contains("cost_usd"));
    db(&["create", "--name", "team-db", "--plan", "team"]);
    let usage: serde_json::Value = serde_json::from_str(&db(&["usage", "team-db", "--json"])).unwrap();
    assert_eq!(usage["cost_usd"].as_f64(), Some(2.5), "{usage}");
    let rotated: serde_json::Value =
        serde_json::from_str(&db(&["rotate-token", "summer-tree-7498", "--json"])).unwrap();
    assert!(rotated["rest_token"].is_string());
    // A backup on demand, restored over a change; then, once its database is gone, into another one.
    let backup: serde_json::Value = serde_json::from_str(&db(&["backup", "summer-tree-7498", "--json"])).unwrap();
    let id = backup["id"].as_str().unwrap();
    assert!(db(&["backups", "summer-tree-7498"]).contains(id));
    let _: () = redis::cmd("SET").arg("k").arg("changed").query(&mut con).unwrap();
    let restored: serde_json::Value = serde_json::from_str(&db(&["restore", "summer-tree-7498", "--json"])).unwrap();
    assert_eq!(restored["restored_from"]["id"].as_str(), Some(id), "{restored}");
    assert_eq!(redis::cmd("GET").arg("k").query::<String>(&mut con).unwrap(), "v");
    db(&["delete", "summer-tree-7498"]);
    assert!(!db(&["list"]).contains("summer-tree-7498"));
    db(&["restore", "team-db", "--from", &format!("summer-tree-7498/{id}")]);
    let team: serde_json::Value = serde_json::from_str(&db(&["rotate-password", "team-db", "--json"])).unwrap();
    let mut team_con = redis::Client::open(team["redis_url"].as_str().unwrap()).unwrap().get_connection().unwrap();
    assert_eq!(redis::cmd("GET").arg("k").query::<String>(&mut team_con).unwrap(), "v");
    signal(&server, "TERM");
    wait_exit(&mut server, Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn json_logs_and_generated_tokens_stay_out_of_the_log() {
    let (port, http_port) = (free_port(), free_port());
    let dir = temp_dir("json-logs");
    let child = keel()
        .args(["--log-format", "json", "serve", "--port", &port.to_string(), "--http-port", &http_port.to_string()])
        .arg("--dir")
        .arg(&dir)
        .args(["--save", ""])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut con = connect(port, None);
    let _: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !redis::cmd("INFO").arg("persistence").query::<String>(&mut con).unwrap().contains("rdb_saves:1") {
        assert!(std::time::Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    signal(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    // A line about a database names it: the snapshot's, and loading it at start.
    for about in ["background snapshot done", "data loaded from disk"] {
        let line = stderr.lines().find(|l| l.contains(about)).unwrap_or_else(|| panic!("no '{about}' in {stderr}"));
        assert!(line.contains(r#""database":"default""#), "{line}");
    }
    let token = std::fs::read_to_string(dir.join("admin-token")).unwrap();
    assert!(!stdout.contains(token.trim()) && !stderr.contains(token.trim()), "the token reached the log: {stdout}");
    assert!(stdout.contains("admin-token"), "where the token is: {stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let parsed: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed["level"].is_string() && parsed["fields"]["message"].is_string(), "{line}");
    }
}

#[test]
fn serve_help_names_each_flags_environment_variable_and_each_is_a_setting() {
    let help = String::from_utf8(keel().args(["serve", "--help"]).output().unwrap().stdout).unwrap();
    let names: Vec<String> = help
        .split("[env: KEEL_")
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .map(|name| name.trim_end_matches('=').to_ascii_lowercase().replace('_', "-"))
        .collect();
    assert!(names.len() >= 20, "{help}");
    assert!(help.contains("[default: 6379]"));
    let port = free_port();
    let dir = temp_dir("cli-help");
    let mut child = keel()
        .args(["serve", "--port", &port.to_string(), "--http-port", "0", "--save", ""])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut con = connect(port, None);
    // Secrets are settings CONFIG never shows (not even that they exist); log-format is the command line's.
    let unseen = ["rest-token", "admin-token", "tls-key-file", "log-format"];
    for name in names.iter().filter(|n| !unseen.contains(&n.as_str())) {
        let found: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut con).unwrap();
        assert!(!found.is_empty(), "KEEL_{} in --help is not a setting", name.to_uppercase().replace('-', "_"));
    }
    signal(&child, "TERM");
    let _ = child.wait();
}
