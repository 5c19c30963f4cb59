//! The live dashboard: its page and assets are served without a token and without any data; its snapshots
//! show the administrator the server and every database and a database's token that database alone; and a
//! real browser (Debian's chromium, driven by puppeteer-core from `target/npm`) signs in and sees the
//! charts move while a load runs.

mod common;

use common::{http_with, TestServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ADMIN_TOKEN: &str = "dash-admin";

fn server() -> TestServer {
    TestServer::with(|s| {
        s.admin_token = ADMIN_TOKEN.into();
        s.rest_token = "default-rest".into();
    })
}

fn snapshot(s: &TestServer, token: &str) -> (u16, Value) {
    let auth = format!("Authorization: Bearer {token}");
    let (status, body) = http_with(s.http_addr, "GET", "/v1/dashboard/snapshot", &[&auth], b"");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn names(snapshot: &Value) -> Vec<&str> {
    snapshot["databases"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect()
}

#[test]
fn the_page_is_static_and_each_token_sees_only_what_it_owns() {
    let s = server();
    let (_, front) = http_with(s.http_addr, "GET", "/", &[], b"");
    assert!(front.contains(r#"href="/dashboard""#), "the front page links the dashboard: {front}");
    let (status, page) = http_with(s.http_addr, "GET", "/dashboard", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("<title>Keel dashboard</title>") && !page.contains(ADMIN_TOKEN), "{page}");
    for asset in ["/dashboard/dashboard.js", "/dashboard/dashboard.css", "/dashboard/uPlot.iife.min.js"] {
        let (status, body) = http_with(s.http_addr, "GET", asset, &[], b"");
        assert!(status == 200 && body.len() > 1000, "{asset}: {status}");
    }
    let orders = common::create_database(&s, ADMIN_TOKEN, r#"{"name": "orders", "max_connections": 8}"#);
    common::create_database(&s, ADMIN_TOKEN, r#"{"name": "billing"}"#);

    let (status, admin) = snapshot(&s, ADMIN_TOKEN);
    assert_eq!(status, 200);
    assert_eq!(names(&admin), ["billing", "default", "orders"]);
    assert_eq!(admin["server"]["status"], "ready", "{admin}");
    assert!(admin["server"]["cluster"].is_null(), "a single node is not clustered");
    let orders_view = &admin["databases"][2];
    assert_eq!(orders_view["connections"]["max"], 8);
    for field in ["rates", "latency_us", "memory", "persistence", "clients", "cost_today_usd", "refused"] {
        assert!(!orders_view[field].is_null(), "{field} missing: {orders_view}");
    }

    // A database's token, full or read-only: that database, and no server figures.
    for token in [&orders["rest_token"], &orders["readonly_rest_token"]] {
        let (status, own) = snapshot(&s, token.as_str().unwrap());
        assert_eq!((status, names(&own)), (200, vec!["orders"]));
        assert!(own["server"].is_null(), "{own}");
    }
    let (_, default) = snapshot(&s, "default-rest");
    assert_eq!(names(&default), ["default"]);
    for token in ["", "wrong", "dash-admin2"] {
        assert_eq!(snapshot(&s, token).0, 401, "token {token:?}");
    }
    // The stream refuses the same way before it starts.
    assert_eq!(http_with(s.http_addr, "GET", "/v1/dashboard/stream", &["Authorization: Bearer wrong"], b"").0, 401);
}

#[test]
fn a_database_shows_its_clients_by_address_and_name_and_its_slow_log() {
    let s = server();
    let created = common::create_database(&s, ADMIN_TOKEN, r#"{"name": "leaky"}"#);
    let url = format!("redis://default:{}@{}/", created["password"].as_str().unwrap(), s.addr);
    let client = redis::Client::open(url).unwrap();
    let mut connections: Vec<redis::Connection> = (0..3).map(|_| client.get_connection().unwrap()).collect();
    for c in &mut connections {
        redis::cmd("CLIENT").arg("SETNAME").arg("worker").query::<()>(c).unwrap();
    }
    redis::cmd("CONFIG").arg("SET").arg("slowlog-log-slower-than").arg("0").query::<()>(&mut connections[0]).unwrap();
    redis::cmd("SET").arg("slow-key").arg("v").query::<()>(&mut connections[0]).unwrap();
    let (_, view) = snapshot(&s, created["rest_token"].as_str().unwrap());
    let db = &view["databases"][0];
    assert_eq!(db["clients"][0]["name"], "worker", "{db}");
    assert_eq!(
        (db["clients"][0]["addr"].as_str(), db["clients"][0]["connections"].as_u64()),
        (Some("127.0.0.1"), Some(3))
    );
    let commands: Vec<&str> =
        db["slowlog"].as_array().unwrap().iter().map(|e| e["command"].as_str().unwrap()).collect();
    assert!(commands.contains(&"SET slow-key v"), "{commands:?}");
}

fn npm_dir() -> PathBuf {
    std::env::var_os("KEEL_NPM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/npm"))
}

#[test]
fn a_real_browser_signs_in_and_sees_the_charts_move() {
    let npm = npm_dir();
    let chromium = common::which("chromium");
    let node = Command::new("node").arg("--version").output().is_ok();
    let (Some(chromium), true, true) = (chromium, node, npm.join("node_modules/puppeteer-core").exists()) else {
        common::skip_without("chromium, node or puppeteer-core is missing (.ci/run installs them)");
        return;
    };
    let s = server();
    let created = common::create_database(&s, ADMIN_TOKEN, r#"{"name": "shop", "max_connections": 10}"#);
    // A steady load in the database, from a named client, for the chart and the client list.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, url) =
            (stop.clone(), format!("redis://default:{}@{}/", created["password"].as_str().unwrap(), s.addr));
        std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            redis::cmd("CLIENT").arg("SETNAME").arg("dashboard-load").query::<()>(&mut c).unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                redis::cmd("SET").arg(i % 100).arg(i).query::<()>(&mut c).unwrap();
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/dashboard.mjs");
    let output = Command::new("node")
        .args(["--input-type=module"])
        .current_dir(&npm)
        .stdin(std::fs::File::open(script).unwrap())
        .env("KEEL_URL", format!("http://{}", s.http_addr))
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("DB_NAME", "shop")
        .env("DB_TOKEN", created["rest_token"].as_str().unwrap())
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    common::assert_printed_ok(&output);
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "no screenshot at {}",
        screenshot.display()
    );
}
