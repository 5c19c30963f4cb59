//! A small etcd v3 client over etcd's own JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`,
//! `/v3/lease/grant`, `/v3/watch`, ...; keys and values base64), with the operations the cluster needs:
//! reads by key or prefix, puts under a lease, compare-and-swap transactions, leases and their keepalive,
//! and a prefix watch. The gRPC `etcd-client` crate would be the usual choice, but its build runs `protoc`,
//! which a fresh machine with only the Rust toolchain does not have: the gateway is the same API (etcd
//! generates it from the same protobufs) and needs nothing but HTTP. Calls are blocking; the cluster runs
//! them on threads of its own.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::io::BufRead;
use std::time::Duration;

/// One key and its value as etcd holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub mod_revision: i64,
    pub lease: i64,
}

/// A change a watch saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Put(KeyValue),
    Delete(String),
}

/// How long one request may take (a watch is exempt: it streams until closed).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct Etcd {
    base: String,
    agent: ureq::Agent,
}

fn encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn decode(value: &Value) -> Vec<u8> {
    value.as_str().and_then(|s| B64.decode(s).ok()).unwrap_or_default()
}

/// etcd writes 64-bit integers as JSON strings.
fn int(value: &Value) -> i64 {
    value.as_str().and_then(|s| s.parse().ok()).or_else(|| value.as_i64()).unwrap_or(0)
}

/// The end of the key range holding every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn key_value(kv: &Value) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(&decode(&kv["key"])).into_owned(),
        value: decode(&kv["value"]),
        mod_revision: int(&kv["mod_revision"]),
        lease: int(&kv["lease"]),
    }
}

impl Etcd {
    /// A client of the etcd at `endpoint` (`etcd://host:port` or `http://host:port`).
    pub fn new(endpoint: &str) -> Result<Etcd, String> {
        let address = endpoint.strip_prefix("etcd://").or_else(|| endpoint.strip_prefix("http://")).unwrap_or(endpoint);
        let address = address.trim_end_matches('/');
        if address.is_empty() || address.contains('/') {
            return Err(format!("'{endpoint}' is not an etcd endpoint (etcd://host:port)"));
        }
        let agent = ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(2)).build();
        Ok(Etcd { base: format!("http://{address}"), agent })
    }

    fn call(&self, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let response = self.agent.post(&url).timeout(REQUEST_TIMEOUT).send_json(body);
        match response {
            Ok(r) => r.into_json().map_err(|e| format!("etcd {path}: {e}")),
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                Err(format!("etcd {path}: {status} {text}"))
            }
            Err(e) => Err(format!("etcd at {} unreachable: {e}", self.base)),
        }
    }

    /// The value of `key`, if it exists.
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>, String> {
        let reply = self.call("/v3/kv/range", json!({ "key": encode(key.as_bytes()) }))?;
        Ok(reply["kvs"].as_array().and_then(|kvs| kvs.first()).map(key_value))
    }

    /// Every key under `prefix`, and the store's revision they were read at.
    pub fn list(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), String> {
        let body = json!({ "key": encode(prefix.as_bytes()), "range_end": encode(&prefix_end(prefix)) });
        let reply = self.call("/v3/kv/range", body)?;
        let kvs = reply["kvs"].as_array().map(|kvs| kvs.iter().map(key_value).collect()).unwrap_or_default();
        Ok((kvs, int(&reply["header"]["revision"])))
    }

    /// Writes `key` (under `lease` when not 0).
    pub fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<(), String> {
        let mut body = json!({ "key": encode(key.as_bytes()), "value": encode(value) });
        if lease != 0 {
            body["lease"] = json!(lease.to_string());
        }
        self.call("/v3/kv/put", body).map(|_| ())
    }

    pub fn delete(&self, key: &str) -> Result<(), String> {
        self.call("/v3/kv/deleterange", json!({ "key": encode(key.as_bytes()) })).map(|_| ())
    }

    /// Deletes `key` only while it holds `value` (what this node wrote there, not a later writer's).
    pub fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, String> {
        let key = encode(key.as_bytes());
        let compare = json!({ "key": key, "target": "VALUE", "result": "EQUAL", "value": encode(value) });
        let body = json!({ "compare": [compare], "success": [{ "request_delete_range": { "key": key } }] });
        let reply = self.call("/v3/kv/txn", body)?;
        Ok(reply["succeeded"].as_bool().unwrap_or(false))
    }

    /// Writes `key` only if it does not exist; whether it was written.
    pub fn create(&self, key: &str, value: &[u8], lease: i64) -> Result<bool, String> {
        let compare =
            json!({ "key": encode(key.as_bytes()), "target": "CREATE", "result": "EQUAL", "create_revision": "0" });
        self.put_if(key, value, lease, compare)
    }

    /// Writes `key` only if it was last changed at `mod_revision`; whether it was written.
    pub fn replace(&self, key: &str, value: &[u8], mod_revision: i64) -> Result<bool, String> {
        let compare = json!({ "key": encode(key.as_bytes()), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string() });
        self.put_if(key, value, 0, compare)
    }

    fn put_if(&self, key: &str, value: &[u8], lease: i64, compare: Value) -> Result<bool, String> {
        let mut put = json!({ "key": encode(key.as_bytes()), "value": encode(value) });
        if lease != 0 {
            put["lease"] = json!(lease.to_string());
        }
        let reply = self.call("/v3/kv/txn", json!({ "compare": [compare], "success": [{ "request_put": put }] }))?;
        Ok(reply["succeeded"].as_bool().unwrap_or(false))
    }

    /// A new lease of `ttl_secs`; its ID.
    pub fn grant(&self, ttl_secs: u64) -> Result<i64, String> {
        let reply = self.call("/v3/lease/grant", json!({ "TTL": ttl_secs.to_string() }))?;
        match int(&reply["ID"]) {
            0 => Err(format!("etcd granted no lease: {reply}")),
            id => Ok(id),
        }
    }

    /// Renews a lease; the seconds it now has left (0: it had expired, its keys are gone).
    pub fn keep_alive(&self, lease: i64) -> Result<i64, String> {
        let reply = self.call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))?;
        Ok(int(&reply["result"]["TTL"]))
    }

    /// Ends a lease at once, deleting its keys.
    pub fn revoke(&self, lease: i64) -> Result<(), String> {
        self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() })).map(|_| ())
    }

    /// Streams changes under `prefix` after `revision` to `on_event` until it returns false or the stream
    /// breaks (an error then, so the caller can list again and resume).
    pub fn watch(&self, prefix: &str, revision: i64, mut on_event: impl FnMut(Event) -> bool) -> Result<(), String> {
        let body = json!({ "create_request": {
            "key": encode(prefix.as_bytes()),
            "range_end": encode(&prefix_end(prefix)),
            "start_revision": (revision + 1).to_string(),
        } });
        let url = format!("{}/v3/watch", self.base);
        let response = self.agent.post(&url).send_json(body).map_err(|e| format!("etcd watch: {e}"))?;
        let reader = std::io::BufReader::new(response.into_reader());
        for line in reader.lines() {
            let line = line.map_err(|e| format!("etcd watch: {e}"))?;
            let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
            if message["result"]["canceled"].as_bool() == Some(true) {
                return Err(format!("etcd cancelled the watch: {}", message["result"]["cancel_reason"]));
            }
            for event in message["result"]["events"].as_array().into_iter().flatten() {
                let kv = key_value(&event["kv"]);
                let event = if event["type"] == "DELETE" { Event::Delete(kv.key) } else { Event::Put(kv) };
                if !on_event(event) {
                    return Ok(());
                }
            }
        }
        Err("etcd closed the watch".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_end_after_the_prefix() {
        assert_eq!(prefix_end("/keel/nodes/"), b"/keel/nodes0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(Etcd::new("etcd://127.0.0.1:2379").is_ok());
        assert!(Etcd::new("http://127.0.0.1:2379/").is_ok());
        assert!(Etcd::new("etcd://").is_err());
        assert!(Etcd::new("etcd://host:1/path").is_err());
    }
}
