//! A cluster of three `keel serve --cluster` processes and a real etcd (Debian's etcd-server), each started
//! on free loopback ports and stopped at the end: nodes register and leave with their leases, databases are
//! placed by region and load, a database's URL and REST URL work through every node (pipelining, MULTI,
//! pub/sub and blocking commands relayed unchanged), deletion reaches the serving node, and with etcd
//! stopped the nodes keep serving, readiness says the cluster is degraded and provisioning answers 503.

mod common;

use common::{connect, free_port, keel, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "cluster-admin";

/// A child process killed (SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcd(dir: &Path) -> Option<(Process, u16)> {
    let found =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("etcd").is_file()));
    assert!(found || std::env::var_os("CI").is_none(), "etcd is missing, and CI is set: .ci/run installs etcd-server");
    if !found {
        eprintln!("not run here: etcd is missing (apt-get install etcd-server)");
        return None;
    }
    let (client, peer) = (free_port(), free_port());
    let child = Command::new("etcd")
        .arg("--data-dir")
        .arg(dir.join("etcd"))
        .args(["--listen-client-urls", &format!("http://127.0.0.1:{client}")])
        .args(["--advertise-client-urls", &format!("http://127.0.0.1:{client}")])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-cluster", &format!("default=http://127.0.0.1:{peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let etcd = Process(child);
    wait_until("etcd answers", || {
        ureq::post(&format!("http://127.0.0.1:{client}/v3/kv/range")).send_string(r#"{"key":"AA=="}"#).is_ok()
    });
    Some((etcd, client))
}

struct Node {
    /// Killed when the node is dropped.
    _process: Process,
    port: u16,
    http: u16,
}

fn node(dir: &Path, etcd: u16, name: &str, region: &str) -> Node {
    let (port, http) = (free_port(), free_port());
    let child = keel()
        .args(["serve", "--port", &port.to_string(), "--http-port", &http.to_string(), "--save", ""])
        .args(["--cluster", &format!("etcd://127.0.0.1:{etcd}"), "--node-name", name, "--region", region])
        .args(["--admin-token", ADMIN, "--set", "cluster-lease=2"])
        .arg("--dir")
        .arg(dir.join(name))
        .env("KEEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let node = Node { _process: Process(child), port, http };
    connect(port, None);
    node
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn admin(node: &Node, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let request = ureq::request(method, &format!("http://127.0.0.1:{}{path}", node.http))
        .set("Authorization", &format!("Bearer {ADMIN}"));
    let reply = match body {
        Some(body) => request.set("Content-Type", "application/json").send_string(body),
        None => request.call(),
    };
    match reply {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

fn node_names(status: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        status["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

fn rest(node: &Node, token: &str, path: &str) -> Value {
    let url = format!("http://127.0.0.1:{}{path}", node.http);
    ureq::get(&url).set("Authorization", &format!("Bearer {token}")).call().unwrap().into_json().unwrap()
}

fn cli(node: &Node, args: &[&str]) -> String {
    let output = keel()
        .args(args)
        .env("KEEL_ADMIN_URL", format!("http://127.0.0.1:{}", node.http))
        .env("KEEL_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert!(output.status.success(), "keel {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The replies (first lines) to `commands` sent raw to `port`, as text.
fn first_reply(port: u16, commands: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(commands.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while reply.iter().filter(|&&b| b == b'\n').count() < 2 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn databases_are_placed_served_through_every_node_and_removed() {
    let dir: PathBuf = temp_dir("cluster");
    let Some((etcd, etcd_port)) = etcd(&dir) else { return };
    let nodes =
        [node(&dir, etcd_port, "n1", "dfw"), node(&dir, etcd_port, "n2", "dfw"), node(&dir, etcd_port, "n3", "iad")];
    let (_, status) = admin(&nodes[0], "GET", "/v1/cluster", None);
    assert_eq!(node_names(&status), ["n1", "n2", "n3"], "{status}");
    assert!(cli(&nodes[1], &["cluster", "status"]).contains("n3"));

    // Placement: the region asked for; without one, the least loaded node.
    let (status, shop) = admin(&nodes[0], "POST", "/v1/databases", Some(r#"{"name": "shop", "region": "iad"}"#));
    assert_eq!((status, shop["node"].as_str()), (201, Some("n3")), "{shop}");
    let (_, other) = admin(&nodes[0], "POST", "/v1/databases", Some(r#"{"name": "other", "region": "dfw"}"#));
    assert!(["n1", "n2"].contains(&other["node"].as_str().unwrap()), "{other}");
    assert_eq!(admin(&nodes[1], "POST", "/v1/databases", Some(r#"{"name": "shop"}"#)).0, 409);
    assert_eq!(admin(&nodes[1], "POST", "/v1/databases", Some(r#"{"region": "fra"}"#)).0, 503);
    assert!(cli(&nodes[2], &["db", "list"]).contains("shop"));

    // The URL works through every node, as one database.
    let password = shop["password"].as_str().unwrap();
    let mut through: Vec<redis::Connection> = nodes.iter().map(|n| connect(n.port, Some(password))).collect();
    for (i, con) in through.iter_mut().enumerate() {
        redis::cmd("SET").arg(format!("from-n{}", i + 1)).arg(i).query::<()>(con).unwrap();
    }
    let keys: Vec<String> = redis::cmd("KEYS").arg("from-*").query(&mut through[0]).unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let (a, b): (i64, i64) = redis::pipe().atomic().incr("n", 1).incr("n", 1).query(&mut through[1]).unwrap();
    assert_eq!((a, b), (1, 2), "MULTI through a relay");
    // Pub/sub and blocking commands cross nodes too.
    let mut subscriber = redis::Client::open(format!("redis://default:{password}@127.0.0.1:{}/", nodes[0].port))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("news").unwrap();
    let receivers: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query(&mut through[1]).unwrap();
    assert_eq!(receivers, 1);
    assert_eq!(pubsub.get_message().unwrap().get_payload::<String>().unwrap(), "hello");
    drop(pubsub);
    let pusher_port = nodes[2].port;
    let pusher = std::thread::spawn({
        let password = password.to_string();
        move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut con = connect(pusher_port, Some(&password));
            redis::cmd("LPUSH").arg("jobs").arg("j1").query::<()>(&mut con).unwrap();
        }
    });
    let popped: (String, String) = redis::cmd("BLPOP").arg("jobs").arg(10).query(&mut through[0]).unwrap();
    assert_eq!(popped.1, "j1");
    pusher.join().unwrap();

    // REST through every node.
    let token = shop["rest_token"].as_str().unwrap();
    assert_eq!(rest(&nodes[0], token, "/set/rest-key/yes")["result"], "OK");
    for n in &nodes {
        assert_eq!(rest(n, token, "/get/rest-key")["result"], "yes");
    }

    // etcd stopped: nodes keep serving, readiness says why the cluster is degraded, provisioning waits.
    Command::new("kill").args(["-STOP", &etcd.0.id().to_string()]).status().unwrap();
    wait_until("readiness names the cluster", || {
        let ready: Value =
            ureq::get(&format!("http://127.0.0.1:{}/health/ready", nodes[1].http)).call().unwrap().into_json().unwrap();
        ready["status"] == "degraded"
            && ready["components"]["cluster"]["status"].as_str().unwrap_or_default().contains("etcd unreachable")
    });
    assert_eq!(redis::cmd("GET").arg("from-n1").query::<String>(&mut through[1]).unwrap(), "0");
    assert_eq!(admin(&nodes[1], "POST", "/v1/databases", Some(r#"{"name": "later"}"#)).0, 503);
    Command::new("kill").args(["-CONT", &etcd.0.id().to_string()]).status().unwrap();

    // Deleting through any node stops the database on its node.
    let (status, _) = admin(&nodes[1], "DELETE", "/v1/databases/shop", None);
    assert_eq!(status, 200);
    assert!(!cli(&nodes[0], &["db", "list"]).contains("shop"));
    wait_until("the serving node removed the database's data", || !dir.join("n3/databases/shop").exists());
    // Its password now opens nothing of it (without requirepass, `default` opens the node's own database).
    let mut after = connect(nodes[2].port, Some(password));
    let keys: Vec<String> = redis::cmd("KEYS").arg("from-*").query(&mut after).unwrap();
    assert!(keys.is_empty(), "{keys:?}");

    // A node killed leaves the cluster when its lease ends; its databases answer TRYAGAIN elsewhere.
    let other_password = other["password"].as_str().unwrap();
    let other_node = other["node"].as_str().unwrap().to_string();
    let [n1, n2, n3] = nodes;
    let (killed, alive) = if other_node == "n1" { (n1, n2) } else { (n2, n1) };
    drop(killed);
    wait_until("the killed node's lease ends", || node_names(&admin(&alive, "GET", "/v1/cluster", None).1).len() == 2);
    let error = first_reply(alive.port, &format!("AUTH default {other_password}\r\nPING\r\n"));
    assert!(error.starts_with("-TRYAGAIN") && error.contains(&other_node), "{error}");
    drop((alive, n3, etcd));
    let _ = std::fs::remove_dir_all(dir);
}
