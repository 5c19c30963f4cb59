//! The front page (`GET /`): a small page saying what this Keel serves over HTTP, with links, so that a
//! newcomer who opens the address in a browser finds the health checks, the metrics and the API
//! descriptions instead of an error. It names no database and no secret.

use axum::response::{Html, IntoResponse, Response};

pub async fn index() -> Response {
    let version = env!("CARGO_PKG_VERSION");
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Keel {version}</title><link rel="icon" href="data:,">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}}code{{background:#eee;padding:0 .2em}}</style>
</head><body>
<h1>Keel {version}</h1>
<p>A Redis-compatible data service. Redis clients connect over RESP (<code>redis://</code> or <code>rediss://</code>);
HTTP-only runtimes use the REST API on this port.</p>
<ul>
<li><a href="/dashboard">/dashboard</a>: the live dashboard (sign in with the admin token or a database's REST token)</li>
<li><a href="/health">/health</a>: liveness, version and uptime</li>
<li><a href="/health/ready">/health/ready</a>: readiness, naming any component that is not ready</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics (with the metrics or admin token)</li>
<li><a href="/v1/openapi.json">/v1/openapi.json</a>: the admin API (databases, tokens, usage), with the admin token</li>
<li>REST API: <code>POST /</code> with <code>["SET","k","v"]</code>, <code>/pipeline</code>, <code>/multi-exec</code>,
<code>/get/k</code>; authorize with <code>Authorization: Bearer &lt;a database's REST token&gt;</code></li>
</ul>
</body></html>
"#
    ))
    .into_response()
}
