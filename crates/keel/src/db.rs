//! `keel db`: provisioning databases on a running Keel through its admin API. The server is found at
//! `KEEL_ADMIN_URL` (default `http://127.0.0.1:8080`) and authorized with `KEEL_ADMIN_TOKEN` (or the
//! `admin-token` file a local Keel keeps in its data directory).

use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// The limits a database is created with, or changed to.
#[derive(Args)]
pub struct LimitArgs {
    /// Eviction policy (noeviction, allkeys-lru, ...).
    #[arg(long)]
    eviction: Option<String>,
    /// Memory limit, e.g. 256mb.
    #[arg(long)]
    max_memory: Option<String>,
    /// Connections it accepts at once (default 1000).
    #[arg(long)]
    max_connections: Option<u64>,
    /// Commands a second before the database refuses more (0: no limit).
    #[arg(long)]
    max_commands_per_second: Option<u64>,
    /// The largest request, e.g. 1mb (default: the server's limits).
    #[arg(long)]
    max_request_size: Option<String>,
    /// Scheduled backups: hourly, daily, none, or a period such as 6h.
    #[arg(long)]
    backup: Option<String>,
    /// How many scheduled backups are kept (default 7).
    #[arg(long)]
    backup_keep: Option<u64>,
}

impl LimitArgs {
    /// The limits as the admin API takes them (sizes in bytes; absent ones null, which leaves them as is).
    fn to_json(&self) -> Result<Value, String> {
        Ok(json!({
            "eviction": self.eviction, "max_memory": memory(&self.max_memory)?,
            "max_connections": self.max_connections, "max_commands_per_second": self.max_commands_per_second,
            "max_request_size": memory(&self.max_request_size)?,
            "backup": self.backup, "backup_keep": self.backup_keep,
        }))
    }
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create a database and print its connection URL, REST URL and tokens (shown once).
    Create {
        /// Name (generated when omitted, like summer-tree-7498).
        #[arg(long)]
        name: Option<String>,
        /// Where it is said to run (a label shown in listings; default local).
        #[arg(long)]
        region: Option<String>,
        /// A plan of the server's plans table (payg and free unless keel.toml adds more).
        #[arg(long)]
        plan: Option<String>,
        /// Replicas on other nodes of a cluster, which take over if its node is lost.
        #[arg(long)]
        replicas: Option<u64>,
        /// Regions that each get a replica (comma-separated), e.g. iad,fra.
        #[arg(long, value_delimiter = ',')]
        read_regions: Option<Vec<String>>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List databases.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a database, its limits and its connections.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a database and its data.
    Delete { name: String },
    /// Replace a database's password (the old one stops working).
    RotatePassword {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace a database's REST tokens.
    RotateToken {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Usage meters and cost.
    Usage {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a database's limits, live.
    Set {
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Move a database to another node of the cluster while its clients are served (writes pause briefly).
    Move {
        name: String,
        /// The node to serve it.
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// Take a backup of a database now, into the server's backup directory.
    Backup {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List a database's backups, newest first (also of a deleted database).
    Backups {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace a database's data with a backup: its newest by default, or --from ID, --from OTHER (another
    /// database's newest) or --from OTHER/ID. Clients are served throughout; the data switches at once.
    Restore {
        name: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn admin_url() -> String {
    std::env::var("KEEL_ADMIN_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into()).trim_end_matches('/').to_string()
}

fn admin_token() -> Result<String, String> {
    if let Ok(token) = std::env::var("KEEL_ADMIN_TOKEN") {
        return Ok(token);
    }
    let dir = std::env::var("KEEL_DIR").unwrap_or_else(|_| "keel-data".into());
    let path = std::path::Path::new(&dir).join("admin-token");
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .map_err(|_| format!("set KEEL_ADMIN_TOKEN (no {} to read it from)", path.display()))
}

fn memory(text: &Option<String>) -> Result<Option<u64>, String> {
    text.as_deref()
        .map(|t| keel_server::config::parse_memory(t).ok_or_else(|| format!("'{t}' is not a memory size (e.g. 256mb)")))
        .transpose()
}

/// Sends one request to the admin API and returns its JSON, or the API's error.
fn call(method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let url = format!("{}{path}", admin_url());
    let request = ureq::request(method, &url).set("Authorization", &format!("Bearer {}", admin_token()?));
    let response = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match response {
        Ok(r) => r.into_json().map_err(|e| format!("{url}: unreadable answer: {e}")),
        Err(ureq::Error::Status(status, r)) => {
            let text = r.into_json::<Value>().ok().and_then(|v| v["error"].as_str().map(String::from));
            Err(format!("{status}: {}", text.unwrap_or_else(|| "request refused".into())))
        }
        Err(e) => Err(format!("cannot reach Keel's admin API at {url}: {e}")),
    }
}

fn print(value: &Value, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        return;
    }
    let Some(fields) = value.as_object() else {
        println!("{value}");
        return;
    };
    for (name, v) in fields {
        match v {
            Value::String(s) => println!("{name:<20} {s}"),
            Value::Object(_) | Value::Array(_) => println!("{name:<20} {v}"),
            other => println!("{name:<20} {other}"),
        }
    }
}

pub fn run(command: DbCommand) -> Result<(), String> {
    match command {
        DbCommand::Create { name, region, plan, replicas, read_regions, limits, json } => {
            let mut body = limits.to_json()?;
            body["name"] = json!(name);
            body["region"] = json!(region);
            body["plan"] = json!(plan);
            body["replicas"] = json!(replicas);
            body["read_regions"] = json!(read_regions);
            let created = call("POST", "/v1/databases", Some(body))?;
            print(&created, json);
            if !json {
                eprintln!("(the password and tokens are shown once: keep them now, or rotate them later)");
            }
        }
        DbCommand::List { json } => {
            let listed = call("GET", "/v1/databases", None)?;
            if json {
                print(&listed, true);
            } else {
                println!(
                    "{:<32} {:<8} {:<8} {:<16} {:>12} {:>8}  NODE",
                    "NAME", "REGION", "PLAN", "EVICTION", "MAX MEMORY", "CLIENTS"
                );
                for db in listed["databases"].as_array().into_iter().flatten() {
                    println!(
                        "{:<32} {:<8} {:<8} {:<16} {:>12} {:>8}  {}",
                        db["name"].as_str().unwrap_or_default(),
                        db["region"].as_str().unwrap_or_default(),
                        db["plan"].as_str().unwrap_or_default(),
                        db["eviction"].as_str().unwrap_or_default(),
                        db["max_memory"].to_string(),
                        db["connections"]["current"].to_string(),
                        db["node"].as_str().unwrap_or("this node"),
                    );
                }
            }
        }
        DbCommand::Show { name, json } => print(&call("GET", &format!("/v1/databases/{name}"), None)?, json),
        DbCommand::Delete { name } => {
            call("DELETE", &format!("/v1/databases/{name}"), None)?;
            println!("deleted {name}");
        }
        DbCommand::RotatePassword { name, json } => {
            print(&call("POST", &format!("/v1/databases/{name}/rotate-password"), None)?, json)
        }
        DbCommand::RotateToken { name, json } => {
            print(&call("POST", &format!("/v1/databases/{name}/rotate-token"), None)?, json)
        }
        DbCommand::Usage { name, json } => print(&call("GET", &format!("/v1/databases/{name}/usage"), None)?, json),
        DbCommand::Set { name, limits } => {
            let body = limits.to_json()?;
            print(&call("PATCH", &format!("/v1/databases/{name}"), Some(body))?, false);
        }
        DbCommand::Move { name, to, json } => {
            print(&call("POST", &format!("/v1/databases/{name}/move"), Some(json!({ "to": to })))?, json)
        }
        DbCommand::Backup { name, json } => {
            let answer = call("POST", &format!("/v1/databases/{name}/backups"), Some(json!({})))?;
            let backup = follow(&name, answer)?;
            print(&backup, json);
        }
        DbCommand::Backups { name, json } => {
            let listed = call("GET", &format!("/v1/databases/{name}/backups"), None)?;
            if json {
                print(&listed, true);
            } else {
                println!("{:<22} {:<10} {:>14}", "ID", "TRIGGER", "BYTES");
                for b in listed["backups"].as_array().into_iter().flatten() {
                    let (id, trigger) =
                        (b["id"].as_str().unwrap_or_default(), b["trigger"].as_str().unwrap_or_default());
                    println!("{id:<22} {trigger:<10} {:>14}", b["bytes"]);
                }
            }
        }
        DbCommand::Restore { name, from, json } => {
            let answer = call("POST", &format!("/v1/databases/{name}/restore"), Some(json!({ "from": from })))?;
            let restored = follow(&name, answer)?;
            print(&restored, json);
        }
    }
    Ok(())
}

/// `keel cluster status`: the nodes of the cluster the admin API's node belongs to.
pub fn cluster_status(as_json: bool) -> Result<(), String> {
    let status = call("GET", "/v1/cluster", None)?;
    if as_json {
        print(&status, true);
        return Ok(());
    }
    let etcd = &status["etcd"];
    let seen = etcd["problem"].as_str().map_or("reachable".to_string(), String::from);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    println!(
        "node {} (region {}); etcd {}: {seen}",
        text(&status["node"]),
        text(&status["region"]),
        text(&etcd["endpoint"])
    );
    println!("{:<16} {:<8} {:<22} {:<22} {:>12}  DATABASES", "NODE", "REGION", "RESP", "HTTP", "MEMORY");
    for node in status["nodes"].as_array().into_iter().flatten() {
        let text = |field: &str| node[field].as_str().unwrap_or_default().to_string();
        let databases: Vec<&str> =
            node["databases"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        println!(
            "{:<16} {:<8} {:<22} {:<22} {:>12}  {}",
            text("name"),
            text("region"),
            text("resp"),
            text("http"),
            node["used_memory"].to_string(),
            databases.join(",")
        );
    }
    Ok(())
}

/// A backup or restore the server answered 202 for: follows it on `/operation` until it ends, drawing a
/// progress line on a terminal, and returns what it ended with.
fn follow(name: &str, answer: Value) -> Result<Value, String> {
    use std::io::{IsTerminal, Write};
    if answer["state"] != "running" {
        return Ok(answer);
    }
    let terminal = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let operation = call("GET", &format!("/v1/databases/{name}/operation"), None)?;
        match operation["state"].as_str() {
            Some("running") if terminal => {
                let percent = operation["percent"].as_f64();
                let eta = percent.filter(|p| *p > 0.0).map(|p| started.elapsed().as_secs_f64() * (100.0 - p) / p);
                let line = match (percent, eta) {
                    (Some(p), Some(eta)) => {
                        format!("{} {}: {p:.1}%, about {eta:.0} s left", operation["kind"], operation["backup"])
                    }
                    _ => format!("{} {}: {} s", operation["kind"], operation["backup"], started.elapsed().as_secs()),
                };
                eprint!("\r{line:<72}");
                let _ = std::io::stderr().flush();
            }
            Some("running") => {}
            Some("failed") => return Err(operation["error"].as_str().unwrap_or("failed").to_string()),
            _ => {
                if terminal {
                    eprintln!();
                }
                return Ok(operation);
            }
        }
    }
}
