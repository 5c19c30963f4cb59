//! `keel db`: provisioning databases on a running Keel through its admin API. The server is found at
//! `KEEL_ADMIN_URL` (default `http://127.0.0.1:8080`) and authorized with `KEEL_ADMIN_TOKEN` (or the
//! `admin-token` file a local Keel keeps in its data directory).

use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create a database and print its connection URL, REST URL and tokens (shown once).
    Create {
        /// Name (generated when omitted, like summer-tree-7498).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        region: Option<String>,
        /// payg, free or fixed.
        #[arg(long)]
        plan: Option<String>,
        /// Eviction policy (noeviction, allkeys-lru, ...).
        #[arg(long)]
        eviction: Option<String>,
        /// Memory limit, e.g. 256mb.
        #[arg(long)]
        max_memory: Option<String>,
        #[arg(long)]
        max_connections: Option<u64>,
        /// Commands a second before the database refuses more (0: no limit).
        #[arg(long)]
        max_commands_per_second: Option<u64>,
        /// The largest request, e.g. 1mb (default: the server's limits).
        #[arg(long)]
        max_request_size: Option<String>,
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
        #[arg(long)]
        max_memory: Option<String>,
        #[arg(long)]
        eviction: Option<String>,
        #[arg(long)]
        max_connections: Option<u64>,
        #[arg(long)]
        max_commands_per_second: Option<u64>,
        #[arg(long)]
        max_request_size: Option<String>,
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
        DbCommand::Create {
            name,
            region,
            plan,
            eviction,
            max_memory,
            max_connections,
            max_commands_per_second,
            max_request_size,
            json,
        } => {
            let body = json!({
                "name": name, "region": region, "plan": plan, "eviction": eviction,
                "max_memory": memory(&max_memory)?, "max_connections": max_connections,
                "max_commands_per_second": max_commands_per_second, "max_request_size": memory(&max_request_size)?,
            });
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
                    "{:<32} {:<8} {:<8} {:<16} {:>12} {:>8}",
                    "NAME", "REGION", "PLAN", "EVICTION", "MAX MEMORY", "CLIENTS"
                );
                for db in listed["databases"].as_array().into_iter().flatten() {
                    println!(
                        "{:<32} {:<8} {:<8} {:<16} {:>12} {:>8}",
                        db["name"].as_str().unwrap_or_default(),
                        db["region"].as_str().unwrap_or_default(),
                        db["plan"].as_str().unwrap_or_default(),
                        db["eviction"].as_str().unwrap_or_default(),
                        db["max_memory"].to_string(),
                        db["connections"]["current"].to_string(),
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
        DbCommand::Set { name, max_memory, eviction, max_connections, max_commands_per_second, max_request_size } => {
            let body = json!({
                "max_memory": memory(&max_memory)?, "eviction": eviction, "max_connections": max_connections,
                "max_commands_per_second": max_commands_per_second, "max_request_size": memory(&max_request_size)?,
            });
            print(&call("PATCH", &format!("/v1/databases/{name}"), Some(body))?, false);
        }
    }
    Ok(())
}
