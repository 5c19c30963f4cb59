//! Backups over the admin API, against a Keel each test starts: a backup taken under a write load is one
//! point in time, a restore brings exactly that point back (and survives a restart, with what was written
//! after it), a backup restores into another database (also once its own is deleted), a corrupt backup
//! changes nothing, schedules take and prune backups, and the API refuses what it should.

mod common;

use common::{http_with, run, TestDir, TestServer};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ADMIN: &str = "Authorization: Bearer backup-admin";

fn server_on(dir: &TestDir, appendonly: bool) -> TestServer {
    let path = dir.0.clone();
    TestServer::with(move |s| {
        s.dir = path;
        s.admin_token = "backup-admin".into();
        s.appendonly = appendonly;
    })
}

fn admin(s: &TestServer, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, text) =
        http_with(s.http_addr, method, path, &[ADMIN, "Content-Type: application/json"], body.as_bytes());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn connect(s: &TestServer, password: &str) -> redis::Connection {
    redis::Client::open(format!("redis://default:{password}@{}/", s.addr)).unwrap().get_connection().unwrap()
}

/// Writes `counter` and `w<counter>` together in one transaction, over and over, until stopped: any point
/// in time holds `w1..=w<counter>` and nothing after.
fn writer(s: &TestServer, password: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let mut c = connect(s, password);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let n: i64 = run(&mut c, &["INCR", "pending"]);
            let _: () = redis::pipe().atomic().incr("counter", 1).set(format!("w{n}"), n).query(&mut c).unwrap();
        }
    })
}

/// Asserts the database holds exactly the point in time where `counter` was `at`.
fn holds_point(c: &mut redis::Connection, at: i64) {
    assert_eq!(run::<i64>(c, &["GET", "counter"]), at);
    assert_eq!(run::<Option<i64>>(c, &["GET", &format!("w{at}")]), Some(at));
    assert_eq!(run::<Option<i64>>(c, &["GET", &format!("w{}", at + 1)]), None, "a write after the backup");
}

#[test]
fn a_backup_under_load_restores_its_point_in_time_and_survives_a_restart() {
    let dir = TestDir::new();
    let (password, backup_id, point) = {
        let s = server_on(&dir, true);
        let created = common::create_database(&s, "backup-admin", r#"{"name": "shop"}"#);
        let password = created["password"].as_str().unwrap().to_string();
        let mut c = connect(&s, &password);
        for i in 0..2000 {
            run::<()>(&mut c, &["SET", &format!("k{i}"), "before"]);
        }
        run::<()>(
            &mut c,
            &["FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 7 end)"],
        );
        let stop = Arc::new(AtomicBool::new(false));
        let load = writer(&s, &password, stop.clone());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (status, backup) = admin(&s, "POST", "/v1/databases/shop/backups", "");
        assert_eq!(status, 201, "{backup}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        load.join().unwrap();
        let written: i64 = run(&mut c, &["GET", "counter"]);
        // After the backup: changes that the restore must undo.
        run::<()>(&mut c, &["SET", "k1", "after"]);
        run::<()>(&mut c, &["DEL", "k2"]);
        run::<()>(&mut c, &["FUNCTION", "FLUSH"]);
        let id = backup["id"].as_str().unwrap().to_string();
        let (status, listed) = admin(&s, "GET", "/v1/databases/shop/backups", "");
        assert_eq!((status, listed["backups"][0]["id"].as_str()), (200, Some(id.as_str())));
        let (status, restored) = admin(&s, "POST", "/v1/databases/shop/restore", "");
        assert_eq!(status, 200, "{restored}");
        assert_eq!(restored["restored_from"]["id"].as_str(), Some(id.as_str()));
        // The restored point: a consistent moment of the load, before its end.
        let point: i64 = run(&mut c, &["GET", "counter"]);
        assert!(point > 0 && point < written, "the backup's point {point} is within the load (to {written})");
        holds_point(&mut c, point);
        assert_eq!(run::<String>(&mut c, &["GET", "k1"]), "before");
        assert_eq!(run::<String>(&mut c, &["GET", "k2"]), "before");
        assert_eq!(run::<i64>(&mut c, &["FCALL", "f", "0"]), 7, "functions come back too");
        let (_, operation) = admin(&s, "GET", "/v1/databases/shop/operation", "");
        assert_eq!((operation["kind"].as_str(), operation["state"].as_str()), (Some("restore"), Some("done")));
        assert_eq!(operation["percent"].as_f64(), Some(100.0), "{operation}");
        // Written after the restore: the log keeps it after the restored base.
        run::<()>(&mut c, &["SET", "after-restore", "kept"]);
        (password, id, point)
    };
    let s = server_on(&dir, true);
    let mut c = connect(&s, &password);
    holds_point(&mut c, point);
    assert_eq!(run::<String>(&mut c, &["GET", "after-restore"]), "kept");
    assert_eq!(run::<String>(&mut c, &["GET", "k1"]), "before");
    let (_, listed) = admin(&s, "GET", "/v1/databases/shop/backups", "");
    assert_eq!(listed["backups"][0]["id"].as_str(), Some(backup_id.as_str()));
}

#[test]
fn a_backup_restores_into_another_database_even_once_its_own_is_deleted() {
    let dir = TestDir::new();
    let s = server_on(&dir, false);
    let source = common::create_database(&s, "backup-admin", r#"{"name": "source"}"#);
    let target = common::create_database(&s, "backup-admin", r#"{"name": "target"}"#);
    let mut c = connect(&s, source["password"].as_str().unwrap());
    run::<()>(&mut c, &["SET", "from-source", "yes"]);
    let (status, backup) = admin(&s, "POST", "/v1/databases/source/backups", "");
    assert_eq!(status, 201, "{backup}");
    let id = backup["id"].as_str().unwrap();
    assert_eq!(admin(&s, "DELETE", "/v1/databases/source", "").0, 200);
    let (status, restored) =
        admin(&s, "POST", "/v1/databases/target/restore", &json!({ "from": format!("source/{id}") }).to_string());
    assert_eq!(status, 200, "{restored}");
    let mut t = connect(&s, target["password"].as_str().unwrap());
    assert_eq!(run::<String>(&mut t, &["GET", "from-source"]), "yes");
    // Without the log, the restored data is the snapshot file: it survives a restart.
    drop(s);
    let s = server_on(&dir, false);
    let mut t = connect(&s, target["password"].as_str().unwrap());
    assert_eq!(run::<String>(&mut t, &["GET", "from-source"]), "yes");
    // The newest backup of another database by its name alone.
    let (status, _) = admin(&s, "POST", "/v1/databases/target/restore", r#"{"from": "source"}"#);
    assert_eq!(status, 200);
}

#[test]
fn a_corrupt_backup_changes_nothing_and_the_api_refuses_what_it_should() {
    let dir = TestDir::new();
    let s = server_on(&dir, true);
    let created = common::create_database(&s, "backup-admin", r#"{"name": "careful"}"#);
    let mut c = connect(&s, created["password"].as_str().unwrap());
    for i in 0..500 {
        run::<()>(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let (_, backup) = admin(&s, "POST", "/v1/databases/careful/backups", "");
    let id = backup["id"].as_str().unwrap().to_string();
    let rdb = dir.0.join("backups/careful").join(format!("{id}.rdb"));
    let mut bytes = std::fs::read(&rdb).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&rdb, bytes).unwrap();
    run::<()>(&mut c, &["SET", "live", "data"]);
    let (status, refused) = admin(&s, "POST", "/v1/databases/careful/restore", "");
    assert_eq!(status, 500, "{refused}");
    assert_eq!(run::<String>(&mut c, &["GET", "live"]), "data", "the live data is untouched");
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 501);
    let (_, operation) = admin(&s, "GET", "/v1/databases/careful/operation", "");
    assert_eq!(operation["state"].as_str(), Some("failed"), "{operation}");
    // Refusals: no token, unknown backups and databases, names that are not names, a bad body.
    assert_eq!(http_with(s.http_addr, "POST", "/v1/databases/careful/backups", &[], b"").0, 401);
    assert_eq!(http_with(s.http_addr, "GET", "/v1/databases/careful/backups", &[], b"").0, 401);
    assert_eq!(admin(&s, "POST", "/v1/databases/careful/restore", r#"{"from": "20200101T000000000Z"}"#).0, 404);
    assert_eq!(admin(&s, "POST", "/v1/databases/careful/restore", r#"{"from": "../../etc"}"#).0, 404);
    assert_eq!(admin(&s, "POST", "/v1/databases/careful/restore", r#"["from"]"#).0, 400);
    assert_eq!(admin(&s, "POST", "/v1/databases/nobody/backups", "").0, 404);
    assert_eq!(admin(&s, "POST", "/v1/databases/default/backups", "").0, 404);
    assert_eq!(admin(&s, "DELETE", &format!("/v1/databases/careful/backups/{id}"), "").0, 200);
    assert_eq!(admin(&s, "DELETE", &format!("/v1/databases/careful/backups/{id}"), "").0, 404);
    assert!(!rdb.exists());
}

#[test]
fn scheduled_backups_are_taken_and_pruned_and_manual_ones_stay() {
    let dir = TestDir::new();
    let s = server_on(&dir, true);
    common::create_database(&s, "backup-admin", r#"{"name": "nightly", "backup": "1s", "backup_keep": 2}"#);
    let (_, manual) = admin(&s, "POST", "/v1/databases/nightly/backups", "");
    let manual_id = manual["id"].as_str().unwrap().to_string();
    let scheduled = |s: &TestServer| {
        let (_, listed) = admin(s, "GET", "/v1/databases/nightly/backups", "");
        let all = listed["backups"].as_array().unwrap().clone();
        (all.iter().filter(|b| b["trigger"] == "scheduled").count(), all)
    };
    let first = scheduled(&s).1.iter().find(|b| b["trigger"] == "scheduled").map(|b| b["id"].clone());
    common::wait_for(|| {
        scheduled(&s).0 == 2
            && scheduled(&s).1.iter().find(|b| b["trigger"] == "scheduled").map(|b| b["id"].clone()) != first
    });
    // Two more seconds: still two scheduled ones (older ones pruned), and the manual one.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (count, all) = scheduled(&s);
    assert_eq!(count, 2, "{all:?}");
    assert!(all.iter().any(|b| b["id"] == manual_id.as_str()), "{all:?}");
    // A daily schedule takes its first backup once the database serves, not a day later.
    common::create_database(&s, "backup-admin", r#"{"name": "daily", "backup": "daily"}"#);
    common::wait_for(|| admin(&s, "GET", "/v1/databases/daily/backups", "").1["backups"][0]["trigger"] == "scheduled");
    let (status, def) = admin(&s, "PATCH", "/v1/databases/nightly", r#"{"backup": "none"}"#);
    assert_eq!((status, def["backup_every_secs"].as_u64()), (200, Some(0)));
    assert_eq!(admin(&s, "PATCH", "/v1/databases/nightly", r#"{"backup": "sometimes"}"#).0, 400);
}
