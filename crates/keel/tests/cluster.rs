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

/// One cluster at a time: each test runs etcd and up to three nodes on 2-second leases, and several at once
/// on a small machine would starve each other's lease renewals (and fail over for no reason of the test's).
fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A child process killed (SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[path = "../../keel-cluster/tests/support/local_etcd.rs"]
mod local_etcd;

/// A real etcd for the test, and its client port.
fn etcd(dir: &Path) -> Option<(local_etcd::LocalEtcd, u16)> {
    let local = local_etcd::LocalEtcd::start(dir)?;
    let port = local.client;
    Some((local, port))
}

struct Node {
    /// Killed when the node is dropped.
    _process: Process,
    port: u16,
    http: u16,
}

fn node(dir: &Path, etcd: u16, name: &str, region: &str) -> Node {
    node_with(dir, etcd, name, region, &[])
}

/// A node started with more settings (`--set NAME=VALUE` pairs).
fn node_with(dir: &Path, etcd: u16, name: &str, region: &str, settings: &[&str]) -> Node {
    let (port, http) = (free_port(), free_port());
    let child = keel()
        .args(["serve", "--port", &port.to_string(), "--http-port", &http.to_string(), "--save", ""])
        .args(["--cluster", &format!("etcd://127.0.0.1:{etcd}"), "--node-name", name, "--region", region])
        .args(["--admin-token", ADMIN, "--set", "cluster-lease=2"])
        .args(settings.iter().flat_map(|setting| ["--set", setting]))
        .arg("--dir")
        .arg(dir.join(name))
        .env("KEEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let node = Node { _process: Process(child), port, http };
    connect(port, None);
    // RESP answers as soon as it listens; the node has joined once its admin API knows the cluster.
    wait_until("the node joined the cluster", || admin(&node, "GET", "/v1/cluster", None).0 == 200);
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
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// The record of node `name` as `keel cluster status` reports it through `via` (Null when it is not live).
fn node_record(via: &Node, name: &str) -> Value {
    let (_, status) = admin(via, "GET", "/v1/cluster", None);
    let found = status["nodes"].as_array().and_then(|nodes| nodes.iter().find(|n| n["name"] == name).cloned());
    found.unwrap_or(Value::Null)
}

/// Whether node `name` keeps a replica of `database` that has applied some of its stream.
fn keeps_replica(via: &Node, name: &str, database: &str) -> bool {
    node_record(via, name)["replica_offsets"][database].as_u64().unwrap_or(0) > 0
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
    let _serial = one_cluster_at_a_time();
    let dir: PathBuf = temp_dir("cluster");
    let Some((mut etcd, etcd_port)) = etcd(&dir) else { return };
    let nodes =
        [node(&dir, etcd_port, "n1", "dfw"), node(&dir, etcd_port, "n2", "dfw"), node(&dir, etcd_port, "n3", "iad")];
    let (_, status) = admin(&nodes[0], "GET", "/v1/cluster", None);
    assert_eq!(node_names(&status), ["n1", "n2", "n3"], "{status}");
    assert!(cli(&nodes[1], &["cluster", "status"]).contains("n3"));
    let (_, dashboard) = admin(&nodes[0], "GET", "/v1/dashboard/snapshot", None);
    assert_eq!(dashboard["server"]["cluster"]["node"], "n1", "the dashboard names the node");

    // Placement: the region asked for; without one, the least loaded node.
    let (status, shop) = admin(&nodes[0], "POST", "/v1/databases", Some(r#"{"name": "shop", "region": "iad"}"#));
    assert_eq!((status, shop["node"].as_str()), (201, Some("n3")), "{shop}");
    let (_, other) = admin(&nodes[0], "POST", "/v1/databases", Some(r#"{"name": "other", "region": "dfw"}"#));
    assert!(["n1", "n2"].contains(&other["node"].as_str().unwrap()), "{other}");
    // A replica in a read region, and its lag as the nodes publish it.
    let global: Value = serde_json::from_str(&cli(
        &nodes[1],
        &["db", "create", "--name", "global", "--region", "dfw", "--read-regions", "iad", "--json"],
    ))
    .unwrap();
    assert!(["n1", "n2"].contains(&global["node"].as_str().unwrap()), "{global}");
    assert_eq!(placement(&nodes[0], "global").1, ["n3"]);
    let mut global_con = connect(nodes[2].port, Some(global["password"].as_str().unwrap()));
    redis::cmd("SET").arg("g").arg("1").query::<()>(&mut global_con).unwrap();
    wait_until("the read region's replica reports no lag", || {
        let (_, shown) = admin(&nodes[2], "GET", "/v1/databases/global", None);
        shown["replica_lag_bytes"]["n3"].as_u64() == Some(0)
    });
    assert_eq!(admin(&nodes[1], "POST", "/v1/databases", Some(r#"{"read_regions": ["fra"]}"#)).0, 503);
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

    // A REST subscription (SSE) through another node streams from the serving node.
    let mut sse = std::net::TcpStream::connect(("127.0.0.1", nodes[0].http)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET /subscribe/alerts HTTP/1.1\r\nHost: keel\r\nAuthorization: Bearer {token}\r\n\r\n");
    std::io::Write::write_all(&mut sse, request.as_bytes()).unwrap();
    let read_until = |sse: &mut std::net::TcpStream, wanted: &str| {
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains(wanted) {
            let n = std::io::Read::read(sse, &mut buf).unwrap_or(0);
            assert!(n > 0, "the stream ended before {wanted:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_until(&mut sse, "subscribe,alerts,1");
    let receivers: i64 = redis::cmd("PUBLISH").arg("alerts").arg("rest-hello").query(&mut through[1]).unwrap();
    assert_eq!(receivers, 1);
    read_until(&mut sse, "message,alerts,rest-hello");
    drop(sse);

    // Limits and secrets change in the catalog, from any node, and reach the serving node.
    let (status, changed) = admin(&nodes[1], "PATCH", "/v1/databases/shop", Some(r#"{"max_connections": 7}"#));
    assert_eq!((status, changed["max_connections"].as_u64()), (200, Some(7)), "{changed}");
    wait_until("the serving node applies the new cap", || {
        let mut con = connect(nodes[0].port, Some(password));
        let maxclients: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("maxclients").query(&mut con).unwrap();
        maxclients[1] == "7"
    });
    let (status, rotated) = admin(&nodes[0], "POST", "/v1/databases/shop/rotate-password", None);
    assert_eq!(status, 200, "{rotated}");
    let new_password = rotated["password"].as_str().unwrap().to_string();
    wait_until("the new password opens the database through every node", || {
        nodes.iter().all(|n| {
            let mut con = connect(n.port, Some(&new_password));
            redis::cmd("GET").arg("from-n1").query::<Option<String>>(&mut con).unwrap().as_deref() == Some("0")
        })
    });
    let mut old = connect(nodes[0].port, Some(password));
    let keys: Vec<String> = redis::cmd("KEYS").arg("from-*").query(&mut old).unwrap();
    assert!(keys.is_empty(), "the old password still opens the database: {keys:?}");
    let password = new_password.as_str();
    through = nodes.iter().map(|n| connect(n.port, Some(password))).collect();

    // etcd stopped: nodes keep serving, readiness says why the cluster is degraded, provisioning waits.
    Command::new("kill").args(["-STOP", &etcd.pid()]).status().unwrap();
    wait_until("readiness names the cluster", || {
        let ready: Value =
            ureq::get(&format!("http://127.0.0.1:{}/health/ready", nodes[1].http)).call().unwrap().into_json().unwrap();
        ready["status"] == "degraded"
            && ready["components"]["cluster"]["status"].as_str().unwrap_or_default().contains("etcd unreachable")
    });
    assert_eq!(redis::cmd("GET").arg("from-n1").query::<String>(&mut through[1]).unwrap(), "0");
    assert_eq!(admin(&nodes[1], "POST", "/v1/databases", Some(r#"{"name": "later"}"#)).0, 503);
    Command::new("kill").args(["-CONT", &etcd.pid()]).status().unwrap();
    // etcd killed and started again: the nodes find it, keep their leases or register again, and the
    // cluster takes changes again.
    etcd.restart();
    wait_until("provisioning works after etcd restarted", || {
        admin(&nodes[2], "POST", "/v1/databases", Some(r#"{"name": "after-restart"}"#)).0 == 201
    });
    wait_until("every node is back", || node_names(&admin(&nodes[0], "GET", "/v1/cluster", None).1).len() == 3);

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

/// The node a database's primary is on, and its replicas' nodes, as `keel db show` reports them.
fn placement(node: &Node, name: &str) -> (String, Vec<String>) {
    let (_, shown) = admin(node, "GET", &format!("/v1/databases/{name}"), None);
    let replicas =
        shown["replicas"].as_array().map(|r| r.iter().filter_map(|n| n.as_str().map(String::from)).collect());
    (shown["node"].as_str().unwrap_or_default().to_string(), replicas.unwrap_or_default())
}

#[test]
fn a_killed_primary_fails_over_to_its_replica_and_no_acknowledged_write_is_lost() {
    let _serial = one_cluster_at_a_time();
    let dir: PathBuf = temp_dir("failover");
    let Some((_etcd, etcd_port)) = etcd(&dir) else { return };
    let mut nodes: Vec<Option<Node>> =
        ["n1", "n2", "n3"].iter().map(|name| Some(node(&dir, etcd_port, name, "dfw"))).collect();
    let first = nodes[0].as_ref().unwrap();
    let created = cli(first, &["db", "create", "--name", "orders", "--replicas", "1", "--json"]);
    let orders: Value = serde_json::from_str(&created).unwrap();
    let (primary, replicas) = placement(first, "orders");
    assert_eq!(replicas.len(), 1, "{orders}");
    assert_ne!(primary, replicas[0]);
    let index = |name: &str| name[1..].parse::<usize>().unwrap() - 1;
    let (p, r) = (index(&primary), index(&replicas[0]));
    let x = (0..3).find(|i| *i != p && *i != r).unwrap();
    let password = orders["password"].as_str().unwrap().to_string();
    let via = nodes[x].as_ref().unwrap().port;
    // An ACL user of the database, which its replica keeps too.
    let mut con = connect(via, Some(&password));
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">app-pass")
        .arg("~*")
        .arg("+@all")
        .query::<()>(&mut con)
        .unwrap();
    let users = dir.join(&replicas[0]).join("databases/orders/users.acl");
    wait_until("the replica has the ACL user", || {
        std::fs::read_to_string(&users).is_ok_and(|t| t.contains("user app on"))
    });
    // Writes through the third node, each acknowledged by the replica (WAIT 1).
    let mut acknowledged = Vec::new();
    let wait_synced = Instant::now() + Duration::from_secs(30);
    for i in 0..300u64 {
        redis::cmd("SET").arg(format!("k{i}")).arg(i).query::<()>(&mut con).unwrap();
        let replicas: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut con).unwrap();
        if replicas == 1 {
            acknowledged.push(i);
        }
        assert!(acknowledged.len() as u64 > i / 2 || Instant::now() < wait_synced, "the replica never acknowledged");
    }
    assert!(acknowledged.len() > 100, "{} of 300 writes acknowledged", acknowledged.len());
    // The primary's node is killed; writes through the third node resume on the replica.
    nodes[p] = None;
    let killed = Instant::now();
    let resumed = loop {
        let written = connect_quietly(via, &password)
            .and_then(|mut c| redis::cmd("SET").arg("after-failover").arg(1).query::<()>(&mut c).ok());
        if written.is_some() {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "writes never resumed");
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "failover: writes resumed {:.1} s after the primary's node was killed (lease 2 s)",
        resumed.as_secs_f64()
    );
    let (new_primary, new_replicas) = placement(nodes[x].as_ref().unwrap(), "orders");
    assert_eq!(new_primary, replicas[0]);
    assert_eq!(new_replicas, std::slice::from_ref(&primary), "the old primary becomes a replica when it returns");
    let mut con = connect(via, Some(&password));
    let lost: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|i| redis::cmd("GET").arg(format!("k{i}")).query::<Option<u64>>(&mut con).unwrap() != Some(*i))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    // The ACL user logs in to the new primary through any node.
    let mut as_app =
        redis::Client::open(format!("redis://app:app-pass@127.0.0.1:{via}/")).unwrap().get_connection().unwrap();
    assert_eq!(redis::cmd("GET").arg("after-failover").query::<i64>(&mut as_app).unwrap(), 1);
    let who: String = redis::cmd("ACL").arg("WHOAMI").query(&mut as_app).unwrap();
    assert_eq!(who, "app");
    // Another database on another node declares the same user and password: that login now opens
    // neither database, through any node (no database captures another's logins across nodes).
    let (status, copycat) = admin(nodes[x].as_ref().unwrap(), "POST", "/v1/databases", Some(r#"{"name": "copycat"}"#));
    assert_eq!(status, 201, "{copycat}");
    let mut cc = connect(via, Some(copycat["password"].as_str().unwrap()));
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">app-pass")
        .arg("~*")
        .arg("+@all")
        .query::<()>(&mut cc)
        .unwrap();
    let live: Vec<u16> = nodes.iter().flatten().map(|n| n.port).collect();
    wait_until("the shared login opens neither database", || {
        live.iter().all(|port| first_reply(*port, "AUTH app app-pass\r\nPING\r\n").starts_with("-WRONGPASS"))
    });
    // The old primary's node returns (same name and data) and follows the new primary as its replica.
    nodes[p] = Some(node(&dir, etcd_port, &primary, "dfw"));
    let returned = nodes[p].as_ref().unwrap();
    wait_until("the returned node keeps a replica", || keeps_replica(returned, &primary, "orders"));
    let mut through_returned = connect(returned.port, Some(&password));
    assert_eq!(redis::cmd("GET").arg("after-failover").query::<i64>(&mut through_returned).unwrap(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// A connection through `port` with `password`, or None while the database cannot be reached.
fn connect_quietly(port: u16, password: &str) -> Option<redis::Connection> {
    let client = redis::Client::open(format!("redis://default:{password}@127.0.0.1:{port}/")).ok()?;
    client.get_connection_with_timeout(Duration::from_secs(2)).ok()
}

/// A TCP proxy to `target` that the test can cut (every connection closed, new ones refused) and heal.
struct Proxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", target)) else { continue };
                if flag.load(Ordering::Relaxed) {
                    continue;
                }
                for (mut from, mut to) in
                    [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)]
                {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        from.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                        let mut buf = [0u8; 16384];
                        while !flag.load(Ordering::Relaxed) {
                            match from.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                Err(e)
                                    if e.kind() == std::io::ErrorKind::WouldBlock
                                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                                Err(_) => break,
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_primary_cut_off_from_etcd_stops_acknowledging_writes_before_its_replica_takes_over() {
    let _serial = one_cluster_at_a_time();
    let dir: PathBuf = temp_dir("partition");
    let Some((_etcd, etcd_port)) = etcd(&dir) else { return };
    // n1 reaches etcd through a proxy the test cuts; n2 directly.
    let proxy = Proxy::start(etcd_port);
    let n1 = node(&dir, proxy.port, "n1", "dfw");
    let n2 = node(&dir, etcd_port, "n2", "iad");
    let (status, db) =
        admin(&n1, "POST", "/v1/databases", Some(r#"{"name": "ledger", "region": "dfw", "replicas": 1}"#));
    assert_eq!((status, db["node"].as_str()), (201, Some("n1")), "{db}");
    let password = db["password"].as_str().unwrap().to_string();
    // A writer connected to n1 itself, and another through n2 (relayed to whichever node is primary).
    let mut direct = connect(n1.port, Some(&password));
    wait_until("the replica is in sync", || redis::cmd("WAIT").arg(1).arg(500).query::<i64>(&mut direct).unwrap() == 1);
    proxy.set_cut(true);
    let cut_at = Instant::now();
    let mut old_primary_acks = Vec::new();
    let mut new_primary_first: Option<Duration> = None;
    let mut i = 0u64;
    while cut_at.elapsed() < Duration::from_secs(8) {
        i += 1;
        if redis::cmd("SET").arg(format!("direct{i}")).arg(i).query::<()>(&mut direct).is_ok() {
            old_primary_acks.push(cut_at.elapsed());
        }
        if new_primary_first.is_none() {
            // A write through n2 counts for the new primary once n2 serves it itself (not relayed to n1).
            let served_by_n2 = connect_quietly(n2.port, &password).and_then(|mut c| {
                redis::cmd("SET").arg("via-n2").arg(i).query::<()>(&mut c).ok()?;
                let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut c).ok()?;
                Some(info.contains(&format!("laddr=127.0.0.1:{} ", n2.port)))
            });
            if served_by_n2 == Some(true) {
                new_primary_first = Some(cut_at.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let new_first = new_primary_first.expect("the replica never took over");
    let last_old = old_primary_acks.last().copied().unwrap_or_default();
    let overlapping = old_primary_acks.iter().filter(|at| **at >= new_first).count();
    eprintln!(
        "partition: the old primary acknowledged its last write {:.2} s after the cut, the new one its first at {:.2} s",
        last_old.as_secs_f64(),
        new_first.as_secs_f64()
    );
    assert_eq!(overlapping, 0, "writes acknowledged by two primaries");
    let error = redis::cmd("SET").arg("still-fenced").arg(1).query::<()>(&mut direct).unwrap_err().to_string();
    assert!(error.contains("cannot confirm it is still the database's primary"), "{error}");
    // Healed: n1 learns it lost the database's primary and follows n2.
    proxy.set_cut(false);
    wait_until("n1 follows the new primary", || keeps_replica(&n2, "n1", "ledger"));
    let mut through_n1 = connect(n1.port, Some(&password));
    assert!(redis::cmd("GET").arg("via-n2").query::<Option<u64>>(&mut through_n1).unwrap().is_some());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_database_moves_to_another_node_under_load_with_a_short_pause() {
    let _serial = one_cluster_at_a_time();
    let dir: PathBuf = temp_dir("move");
    let Some((_etcd, etcd_port)) = etcd(&dir) else { return };
    let nodes: Vec<Node> = ["n1", "n2", "n3"].iter().map(|name| node(&dir, etcd_port, name, "dfw")).collect();
    let (status, db) = admin(&nodes[0], "POST", "/v1/databases", Some(r#"{"name": "movable"}"#));
    assert_eq!(status, 201, "{db}");
    let password = db["password"].as_str().unwrap().to_string();
    let from = db["node"].as_str().unwrap().to_string();
    let index = |name: &str| name[1..].parse::<usize>().unwrap() - 1;
    let to = ["n1", "n2", "n3"].into_iter().find(|n| *n != from).unwrap().to_string();
    let via = nodes[(0..3).find(|i| *i != index(&from) && *i != index(&to)).unwrap()].port;
    // A client increments a counter through the third node, reconnecting when its connection breaks.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (stop, password) = (stop.clone(), password.clone());
        move || {
            let (mut acknowledged, mut errors) = (0u64, Vec::new());
            let mut con = connect(via, Some(&password));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match redis::cmd("INCR").arg("counter").query::<u64>(&mut con) {
                    Ok(_) => acknowledged += 1,
                    Err(e) => {
                        errors.push(e.to_string());
                        std::thread::sleep(Duration::from_millis(20));
                        if let Some(again) = connect_quietly(via, &password) {
                            con = again;
                        }
                    }
                }
            }
            (acknowledged, errors)
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let moved: Value =
        serde_json::from_str(&cli(&nodes[index(&to)], &["db", "move", "movable", "--to", &to, "--json"])).unwrap();
    assert_eq!(moved["to"].as_str(), Some(to.as_str()), "{moved}");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acknowledged, errors) = writer.join().unwrap();
    eprintln!(
        "move: writes paused {:.1} ms; {acknowledged} increments acknowledged; the client saw {} error(s): {errors:?}",
        moved["pause_ms"].as_f64().unwrap_or_default(),
        errors.len()
    );
    assert!(errors.len() <= 2, "{errors:?}");
    assert_eq!(placement(&nodes[0], "movable").0, to);
    let mut con = connect(via, Some(&password));
    let counter: u64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert!(counter >= acknowledged && counter <= acknowledged + errors.len() as u64, "{counter} vs {acknowledged}");
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    let served_by = nodes[index(&to)].port;
    assert!(info.contains(&format!("laddr=127.0.0.1:{served_by} ")), "{info}");
    wait_until("the old copy is retired", || !dir.join(&from).join("databases/movable").exists());
    std::thread::sleep(Duration::from_millis(300));
    let (_, status) = admin(&nodes[0], "GET", "/v1/cluster", None);
    let serving: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["databases"].as_array().is_some_and(|d| d.iter().any(|d| d == "movable")))
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(serving, [to.as_str()], "the retired copy's node must not take the new primary's announcement with it");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn real_clients_continue_after_a_failover() {
    let _serial = one_cluster_at_a_time();
    let npm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/npm");
    let pypi = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pypi");
    let have = npm.join("node_modules/ioredis").exists()
        && npm.join("node_modules/@upstash/redis").exists()
        && pypi.join("redis").exists();
    assert!(have || std::env::var_os("CI").is_none(), "ioredis, @upstash/redis or redis-py is missing, and CI is set");
    if !have {
        eprintln!("not run here: the client libraries are missing (.ci/run installs them)");
        return;
    }
    let dir: PathBuf = temp_dir("clients-failover");
    let Some((_etcd, etcd_port)) = etcd(&dir) else { return };
    let mut nodes: Vec<Option<Node>> =
        ["n1", "n2", "n3"].iter().map(|name| Some(node(&dir, etcd_port, name, "dfw"))).collect();
    let (status, db) =
        admin(nodes[0].as_ref().unwrap(), "POST", "/v1/databases", Some(r#"{"name": "app", "replicas": 1}"#));
    assert_eq!(status, 201, "{db}");
    let primary = db["node"].as_str().unwrap().to_string();
    let p = primary[1..].parse::<usize>().unwrap() - 1;
    let replica = admin(nodes[0].as_ref().unwrap(), "GET", "/v1/databases/app", None).1["replicas"][0]
        .as_str()
        .unwrap()
        .to_string();
    let x = (0..3).find(|i| *i != p && format!("n{}", i + 1) != replica).unwrap();
    let via = nodes[x].as_ref().unwrap();
    // The replica must hold the data before the primary goes.
    let mut con = connect(via.port, Some(db["password"].as_str().unwrap()));
    wait_until("the replica is in sync", || redis::cmd("WAIT").arg(1).arg(500).query::<i64>(&mut con).unwrap() == 1);
    let env = [
        ("KEEL_PORT", via.port.to_string()),
        ("KEEL_PASSWORD", db["password"].as_str().unwrap().to_string()),
        ("KEEL_URL", format!("http://127.0.0.1:{}", via.http)),
        ("KEEL_TOKEN", db["rest_token"].as_str().unwrap().to_string()),
        ("KEEL_SECONDS", "9".to_string()),
    ];
    let script = |name: &str| {
        std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)).unwrap()
    };
    let node_client = Command::new("node")
        .args(["--input-type=module"])
        .current_dir(&npm)
        .stdin(script("cluster-failover.mjs"))
        .envs(env.clone())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let python_client = Command::new("python3")
        .arg("-")
        .stdin(script("cluster_failover.py"))
        .env("PYTHONPATH", &pypi)
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    nodes[p] = None;
    for (name, child) in [("node", node_client), ("python", python_client)] {
        let output = child.wait_with_output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        eprintln!("{name}: {}", stderr.trim());
        assert!(output.status.success() && stdout.trim_end().ends_with("ok"), "{name}: {stdout}{stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn with_rebalancing_on_a_new_node_takes_its_share_of_primaries() {
    let _serial = one_cluster_at_a_time();
    let dir: PathBuf = temp_dir("rebalance");
    let Some((_etcd, etcd_port)) = etcd(&dir) else { return };
    let n1 = node_with(&dir, etcd_port, "n1", "dfw", &["cluster-rebalance=yes"]);
    let mut passwords = Vec::new();
    for i in 0..4 {
        let (status, db) = admin(&n1, "POST", "/v1/databases", Some(&format!(r#"{{"name": "db{i}"}}"#)));
        assert_eq!((status, db["node"].as_str()), (201, Some("n1")), "{db}");
        let password = db["password"].as_str().unwrap().to_string();
        redis::cmd("SET").arg("mine").arg(i).query::<()>(&mut connect(n1.port, Some(&password))).unwrap();
        passwords.push(password);
    }
    let n2 = node_with(&dir, etcd_port, "n2", "dfw", &["cluster-rebalance=yes"]);
    let serving = |node: &str| node_record(&n1, node)["databases"].as_array().map_or(0, Vec::len);
    wait_until("two databases moved to the new node", || serving("n1") == 2 && serving("n2") == 2);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!((serving("n1"), serving("n2")), (2, 2), "balanced primaries stay where they are");
    for (i, password) in passwords.iter().enumerate() {
        let mut con = connect(n2.port, Some(password));
        assert_eq!(redis::cmd("GET").arg("mine").query::<usize>(&mut con).unwrap(), i, "db{i} kept its data");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_brief_loss_of_etcd_fences_writes_only_while_the_lease_is_in_doubt() {
    let _serial = one_cluster_at_a_time();
    let dir: PathBuf = temp_dir("brief-pause");
    let Some((etcd, etcd_port)) = etcd(&dir) else { return };
    // A 4 s lease: fenced 2 s after the last renewal, gone at 4 s; etcd comes back (SIGCONT) in between,
    // and the fence must lift with no failover.
    let n1 = node_with(&dir, etcd_port, "n1", "dfw", &["cluster-lease=4"]);
    let (status, db) = admin(&n1, "POST", "/v1/databases", Some(r#"{"name": "steady"}"#));
    assert_eq!(status, 201, "{db}");
    let mut con = connect(n1.port, Some(db["password"].as_str().unwrap()));
    redis::cmd("SET").arg("k").arg(1).query::<()>(&mut con).unwrap();
    Command::new("kill").args(["-STOP", &etcd.pid()]).status().unwrap();
    wait_until("the primary fences itself", || {
        redis::cmd("SET").arg("k").arg(2).query::<()>(&mut con).is_err_and(|e| e.to_string().contains("cannot confirm"))
    });
    Command::new("kill").args(["-CONT", &etcd.pid()]).status().unwrap();
    // Renewed before it ended, the lease lifts the fence by itself: no catalog change is needed.
    wait_until("writes are accepted again", || redis::cmd("SET").arg("k").arg(3).query::<()>(&mut con).is_ok());
    assert_eq!(redis::cmd("GET").arg("k").query::<i64>(&mut con).unwrap(), 3);
    assert_eq!(placement(&n1, "steady").0, "n1");
    let _ = std::fs::remove_dir_all(dir);
}
