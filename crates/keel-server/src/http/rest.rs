//! The Upstash-compatible REST API, first part (`../shared/specs/rest-api.md`): commands in the path
//! (`/set/foo/bar`, a body as the last argument, query arguments after it), `POST /` with a JSON array and
//! `POST /pipeline` with an array of them, authenticated by the database's REST token (`Authorization:
//! Bearer` or `?_token=`, compared in constant time). Commands run on the same path as RESP's
//! (`dispatch::execute`), and handlers write their replies straight as JSON (`{"result": ...}` or `{"error":
//! "..."}`, keel-protocol's JSON writer) or, when asked, as RESP2 bytes.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_engine::exec::batch::Batch;
use keel_engine::exec::commands::cat;
use keel_engine::exec::session::{Action, RestToken, Session};
use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use keel_protocol::{Commands, JsonStrings, ReplyWriter, Resp};
use serde_json::json;
use std::sync::Arc;

const UNAUTHORIZED: &str = "WRONGPASS invalid or missing auth token";

/// The token the request carries: the `Authorization: Bearer` header first, else `?_token=`.
pub(super) fn request_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(token) = super::bearer_token(headers) {
        return Some(token.to_string());
    }
    let token = query?.split('&').find_map(|pair| pair.strip_prefix("_token="))?;
    String::from_utf8(percent_decode(token.as_bytes())).ok()
}

/// What a token opens: a database, with full or read-only rights (only commands the command table flags
/// `readonly`).
#[derive(Clone)]
struct Access {
    read_only: bool,
    tenant: Arc<Tenant>,
    /// The ACL user the request runs as (`default_ro` for the read-only token, the user of an ACL
    /// RESTTOKEN); None for `default`.
    user: Option<String>,
}

/// The access the request's token grants, or None (401): the default database's tokens from the settings,
/// or a provisioned database's.
fn access(server: &Server, headers: &HeaderMap, query: Option<&str>) -> Option<Access> {
    let token = request_token(headers, query)?;
    let matches = |expected: &str| super::token_matches(&token, expected);
    // Both comparisons always run, so timing does not tell which token was close.
    let (is_full, is_read_only) = {
        let s = server.settings.read();
        (matches(&s.rest_token), matches(&s.rest_readonly_token))
    };
    let read_only_user = || Some("default_ro".to_string());
    if is_full || is_read_only {
        let user = if is_full { None } else { read_only_user() };
        return Some(Access { read_only: !is_full, tenant: server.default_tenant(), user });
    }
    // Hashed once, outside the registry's lock, for the registry and the ACL REST tokens alike.
    let hash = keel_engine::databases::SecretHash::of(token.as_bytes())?;
    let provisioned = {
        let registry = server.databases.lock();
        registry.by_token_hash(&hash).map(|(def, rights)| (def.name.clone(), rights))
    };
    if let Some((name, rights)) = provisioned {
        let tenant = server.tenants.read().get(&name).cloned()?;
        let read_only = rights == keel_engine::databases::TokenAccess::ReadOnly;
        return Some(Access { read_only, tenant, user: if read_only { read_only_user() } else { None } });
    }
    // A token made by ACL RESTTOKEN, in whichever database holds its user.
    let hash = hash.hex();
    if !keel_engine::state::rest_token_filter::may_hold(hash) {
        return None;
    }
    let tenants: Vec<Arc<Tenant>> = server.tenants.read().values().cloned().collect();
    tenants.into_iter().find_map(|tenant| {
        let user = tenant.acl.read().user_by_rest_token(hash).map(|u| u.name.clone())?;
        Some(Access { read_only: false, tenant, user: Some(user) })
    })
}

/// 413 when a request of `size` bytes is over the database's own request size limit.
fn over_limit(access: &Access, size: usize) -> Option<Response> {
    let max = access.tenant.max_request_size()?;
    (size as u64 > max).then(|| {
        (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({ "error": "ERR max request size exceeded" }))).into_response()
    })
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({ "error": UNAUTHORIZED }))).into_response()
}

fn bad_request(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

/// `%XX` escapes decoded to bytes (a `%` not followed by two hex digits stays as it is).
fn percent_decode(text: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            if let (Some(high), Some(low)) = (hex(text.get(i + 1)), hex(text.get(i + 2))) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// How the request wants its replies: Upstash JSON (strings as text, or as base64 with `Upstash-Encoding:
/// base64`), or the raw RESP2 bytes (`Upstash-Response-Format: resp2`).
#[derive(Clone, Copy)]
enum Format {
    Json(JsonStrings),
    Resp2,
}

impl Format {
    /// The format the request asks for, or the 400 its headers earn.
    fn of(headers: &HeaderMap) -> Result<Format, Box<Response>> {
        let base64 = headers.get("upstash-encoding").and_then(|v| v.to_str().ok());
        let strings = match base64 {
            Some(v) if v.trim().eq_ignore_ascii_case("base64") => JsonStrings::Base64,
            _ => JsonStrings::Text,
        };
        let format = headers.get("upstash-response-format").and_then(|v| v.to_str().ok()).map(str::trim);
        match format {
            None => Ok(Format::Json(strings)),
            Some(f) if f.eq_ignore_ascii_case("json") => Ok(Format::Json(strings)),
            Some(f) if f.eq_ignore_ascii_case("resp2") && strings == JsonStrings::Base64 => {
                Err(Box::new(bad_request("ERR base64 encoding can not be used with the resp2 response format")))
            }
            Some(f) if f.eq_ignore_ascii_case("resp2") => Ok(Format::Resp2),
            Some(_) => Err(Box::new(bad_request("ERR unknown response format, expected json or resp2"))),
        }
    }

    /// The writer for a request's replies; in JSON each command's reply is its outcome.
    fn writer(self) -> ReplyWriter {
        match self {
            Format::Json(strings) => ReplyWriter::json(strings, 0),
            Format::Resp2 => ReplyWriter::with_capacity(Resp::V2, 1024),
        }
    }

    /// The HTTP status of one command's reply: 200, 400 for an error, 429 past the commands-per-second limit
    /// (so clients back off).
    fn status(self, reply: &[u8]) -> StatusCode {
        let error = match self {
            Format::Json(_) => reply.strip_prefix(br#"{"error":""#),
            Format::Resp2 => reply.strip_prefix(b"-"),
        };
        match error {
            Some(text) if text.starts_with(keel_engine::exec::dispatch::RATE_LIMITED.as_bytes()) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Some(_) => StatusCode::BAD_REQUEST,
            None => StatusCode::OK,
        }
    }

    fn respond(self, status: StatusCode, body: Vec<u8>, token: &str) -> Response {
        match self {
            Format::Json(_) => respond_json(status, body, token),
            Format::Resp2 => (status, [("content-type", "application/octet-stream")], body).into_response(),
        }
    }
}

/// A JSON response with the `upstash-sync-token` header clients send back with their next request.
fn respond_json(status: StatusCode, body: Vec<u8>, token: &str) -> Response {
    (status, [("upstash-sync-token", token), ("content-type", "application/json")], body).into_response()
}

/// The `upstash-sync-token` a reply carries: the database's replication stream, ID and offset, as the
/// request left it. A later request that sends it back to a replica reads at least what this one saw.
fn sync_token(tenant: &Tenant) -> String {
    let (replid, offset) = tenant.persistence.stream.position();
    format!("{replid}-{offset}")
}

/// On a replica, waits (at most `repl-sync-token-timeout`) until its stream has applied the offset of the
/// token the request carries, so a client reads its own writes wherever it lands (Upstash's promise). A
/// token of another stream (another database, another history) or one that is no token is ignored.
async fn wait_for_sync_token(server: &Server, tenant: &Tenant, headers: &HeaderMap) {
    if !tenant.replication.is_replica() {
        return;
    }
    let token = headers.get("upstash-sync-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some((replid, offset)) = token.trim().split_once('-') else { return };
    let Ok(offset) = offset.parse::<u64>() else { return };
    let stream = &tenant.persistence.stream;
    if stream.position().0 != replid || stream.offset() >= offset {
        return;
    }
    let limit = std::time::Duration::from_millis(server.settings.read().repl_sync_token_timeout);
    let _ = tokio::time::timeout(limit, stream.wait_past(offset - 1)).await;
}

/// What a request's commands wrote, in its format: one reply per command, back to back in one buffer.
struct Replies {
    out: ReplyWriter,
    ends: Vec<usize>,
    /// The sync token the response carries.
    token: String,
}

impl Replies {
    fn each(&self) -> impl Iterator<Item = &[u8]> {
        let bytes = self.out.as_bytes();
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(move |(start, end)| &bytes[start..end])
    }

    fn last(&self) -> &[u8] {
        self.each().last().unwrap_or_default()
    }

    /// Ends the reply that began at `start`; a command that wrote nothing gets an error in its place, so
    /// that every command has exactly one reply.
    fn end(&mut self, start: usize) {
        if self.out.len() == start {
            self.out.error("ERR the command sent no reply");
        }
        self.ends.push(self.out.len());
    }
}

/// Runs `commands` for a REST request on the token's database, in order, as one batch (or, when CLIENT
/// PAUSE holds a command, one batch before the pause and another after it): the same gate, lock, fairness
/// and durability as a RESP pipeline (`batch`), each reply written by the handler straight into `out` in
/// the request's format. What a request cannot do is refused: by the gate, which knows the session's REST
/// token, commands that need a connection (`no_rest`) and, for the read-only token, writes; here, a
/// blocking command that would have to wait.
async fn run(
    server: &Arc<Server>,
    access: Access,
    commands: Commands,
    out: ReplyWriter,
    headers: &HeaderMap,
) -> Replies {
    let tenant = access.tenant.clone();
    wait_for_sync_token(server, &tenant, headers).await;
    let mut session = Session::new(super::request_client(server, &tenant, "rest"), true);
    session.acl_user = access.user.clone();
    session.over_rest = true;
    session.rest_token = Some(if access.read_only { RestToken::ReadOnly } else { RestToken::Full });
    let mut replies = Replies { out, ends: Vec::with_capacity(commands.len()), token: String::new() };
    let mut durability = keel_engine::exec::batch::Durability::default();
    let mut next = 0;
    while next < commands.len() {
        let (done, batch_durability, held) = run_batch(server, &access, &mut session, &commands, next, &mut replies);
        next += done;
        durability.offset = durability.offset.max(batch_durability.offset);
        durability.wrote |= batch_durability.wrote;
        match held {
            // A SYNC flush: the request goes on once what it took out is freed, as a connection would.
            Some(Held::Freeing(freed)) => freed.wait().await,
            // CLIENT PAUSE holds the next command: wait, outside the lock, and go on from it.
            Some(Held::Paused) => tenant.pause.wait().await,
            None => {}
        }
    }
    // Metered as the same commands over RESP would be: the arguments in, the replies out.
    tenant.meters.bytes_in.fetch_add(commands.arg_bytes() as u64, std::sync::atomic::Ordering::Relaxed);
    tenant.meters.bytes_out.fetch_add(replies.out.len() as u64, std::sync::atomic::Ordering::Relaxed);
    // Acknowledged means durable under `appendfsync always`, as over RESP: a request that wrote while the
    // log cannot be written answers MISCONF throughout.
    if let Some(offset) = durability.offset {
        if tenant.persistence.wait_durable(offset).await.is_err() && durability.wrote {
            let refusal = tenant.persistence.write_refusal();
            let refusal = refusal.as_deref().unwrap_or("MISCONF Errors writing to the AOF file");
            replies.out.clear();
            replies.ends.clear();
            for _ in 0..commands.len() {
                replies.out.error(refusal);
                replies.ends.push(replies.out.len());
            }
        }
    }
    replies.token = sync_token(&tenant);
    replies
}

/// Why a batch of a request stopped before its last command.
enum Held {
    /// CLIENT PAUSE holds the next command.
    Paused,
    /// A SYNC flush ran: the rest waits for its freeing.
    Freeing(keel_engine::lazyfree::FreeDone),
}

/// Runs `commands` from the `first` as one batch until one holds the rest; returns how many ran, what must
/// be durable, and what held the rest.
fn run_batch(
    server: &Arc<Server>,
    access: &Access,
    session: &mut Session,
    commands: &Commands,
    first: usize,
    replies: &mut Replies,
) -> (usize, keel_engine::exec::batch::Durability, Option<Held>) {
    let mut batch = Batch::new(server, &access.tenant);
    let mut args = Vec::new();
    for done in 0..commands.len() - first {
        let start = replies.out.len();
        commands.args(first + done, &mut args);
        batch.run(session, &args, &mut replies.out);
        match session.action.take() {
            Some(Action::Paused) => return (done, batch.finish(), Some(Held::Paused)),
            Some(Action::AwaitFree(freed)) => {
                replies.end(start);
                return (done + 1, batch.finish(), Some(Held::Freeing(freed)));
            }
            Some(Action::Block(_)) => {
                let name = String::from_utf8_lossy(args[0]).to_ascii_uppercase();
                replies.out.truncate(start);
                replies.out.error(&format!("ERR {name} would block, which REST does not support"));
            }
            _ => {}
        }
        replies.end(start);
    }
    (commands.len() - first, batch.finish(), None)
}

/// The access and commands of a `/pipeline` or `/multi-exec` request (`what` names it in the parse
/// error), or the 401/400 that refuses it.
fn batch(
    server: &Server,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    what: &str,
) -> Result<(Access, Commands), Box<Response>> {
    let Some(access) = access(server, headers, query) else {
        return Err(Box::new(unauthorized()));
    };
    if let Some(refused) = over_limit(&access, body.len()) {
        return Err(Box::new(refused));
    }
    match Commands::from_json_commands(body) {
        Some(commands) => Ok((access, commands)),
        None => Err(Box::new(bad_request(&format!("ERR failed to parse {what} request")))),
    }
}

/// `POST /` with `["CMD", arg, ...]`.
pub async fn body_command(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(access) = access(&server, &headers, query.as_deref()) else {
        return unauthorized();
    };
    if let Some(refused) = over_limit(&access, body.len()) {
        return refused;
    }
    let Some(command) = Commands::from_json_command(&body) else {
        return bad_request("ERR failed to parse command");
    };
    single(&server, access, command, &headers).await
}

/// Runs one command: 200 with its result, or 400 with its error.
async fn single(server: &Arc<Server>, access: Access, command: Commands, headers: &HeaderMap) -> Response {
    let format = match Format::of(headers) {
        Ok(format) => format,
        Err(response) => return *response,
    };
    let replies = run(server, access, command, format.writer(), headers).await;
    let reply = replies.last();
    format.respond(format.status(reply), reply.to_vec(), &replies.token)
}

/// `POST /pipeline` with `[["CMD", ...], ...]`: always 200, one result or error per command.
pub async fn pipeline(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (access, commands) = match batch(&server, &headers, query.as_deref(), &body, "pipeline") {
        Ok(batch) => batch,
        Err(response) => return *response,
    };
    let format = match Format::of(&headers) {
        Ok(format) => format,
        Err(response) => return *response,
    };
    let replies = run(&server, access, commands, format.writer(), &headers).await;
    let body = match format {
        Format::Resp2 => replies.out.as_bytes().to_vec(),
        Format::Json(_) => {
            let mut body = Vec::with_capacity(replies.out.len() + replies.ends.len() + 2);
            body.push(b'[');
            for (i, reply) in replies.each().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(reply);
            }
            body.push(b']');
            body
        }
    };
    format.respond(StatusCode::OK, body, &replies.token)
}

/// `POST /multi-exec`: the commands as one transaction (MULTI, the commands, EXEC on one session), the
/// per-command outcomes on success; a transaction discarded as a whole is one error with 400.
pub async fn multi_exec(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (access, commands) = match batch(&server, &headers, query.as_deref(), &body, "transaction") {
        Ok(batch) => batch,
        Err(response) => return *response,
    };
    // The request is the transaction: nothing inside it may control one.
    let control = (0..commands.len()).find_map(|i| match server.commands.find(commands.name(i)) {
        Some(cmd) if cmd.categories & cat::TRANSACTION != 0 => Some(cmd.spec.name.to_ascii_uppercase()),
        _ => None,
    });
    if let Some(name) = control {
        return bad_request(&format!("ERR {name} is not allowed in a REST transaction"));
    }
    let strings = match Format::of(&headers) {
        Ok(Format::Json(strings)) => strings,
        Ok(Format::Resp2) | Err(_) => JsonStrings::Text,
    };
    // EXEC's array holds the outcomes, one per command.
    let transaction = commands.as_transaction();
    let replies = run(&server, access, transaction, ReplyWriter::json(strings, 1), &headers).await;
    let exec = replies.last();
    if exec.starts_with(b"[") {
        respond_json(StatusCode::OK, exec.to_vec(), &replies.token)
    } else if exec.starts_with(br#"{"error":"#) {
        respond_json(StatusCode::BAD_REQUEST, exec.to_vec(), &replies.token)
    } else {
        bad_request("ERR the transaction did not run")
    }
}

/// `POST /subscribe/<channel>` and `POST /psubscribe/<pattern>`: an SSE stream of the subscription (the
/// body, `[]` from the JS SDK, is ignored).
pub async fn subscribe(
    State(server): State<Arc<Server>>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(access) = access(&server, &headers, query.as_deref()) else {
        return unauthorized();
    };
    let path = uri.path().trim_start_matches('/');
    let (kind, name) = match path.split_once('/') {
        Some(("psubscribe", name)) => (Some(keel_engine::state::pubsub::Kind::Pattern), name),
        Some((_, name)) => (Some(keel_engine::state::pubsub::Kind::Channel), name),
        None => return bad_request("ERR wrong number of arguments for 'subscribe' command"),
    };
    super::sse::stream(&server, access.tenant, access.user, kind, percent_decode(name.as_bytes()))
}

/// `POST /monitor`: an SSE stream of every command the database runs, as MONITOR prints them.
pub async fn monitor(State(server): State<Arc<Server>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    match access(&server, &headers, query.as_deref()) {
        Some(access) if !access.read_only => super::sse::stream(&server, access.tenant, access.user, None, Vec::new()),
        Some(_) => bad_request("NOPERM this user has no permissions to run the 'monitor' command or its subcommand"),
        None => unauthorized(),
    }
}

/// `/cmd/arg/...`: the path's segments (split, then percent-decoded, so `%2F` is a slash inside an
/// argument), then the body if there is one, then query arguments (`k=v` gives two, `_token` none).
pub async fn path_command(
    State(server): State<Arc<Server>>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(access) = access(&server, &headers, query.as_deref()) else {
        return unauthorized();
    };
    if let Some(refused) = over_limit(&access, uri.path().len() + body.len()) {
        return refused;
    }
    let mut args = Commands::default();
    for segment in uri.path().split('/').filter(|s| !s.is_empty()) {
        args.push_arg(&percent_decode(segment.as_bytes()));
    }
    if !body.is_empty() {
        args.push_arg(&body);
    }
    for pair in query.as_deref().unwrap_or("").split('&').filter(|p| !p.is_empty() && !p.starts_with("_token=")) {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        args.push_arg(&percent_decode(key.as_bytes()));
        if let Some(value) = value {
            args.push_arg(&percent_decode(value.as_bytes()));
        }
    }
    if !args.end_command() {
        return bad_request("ERR empty command");
    }
    single(&server, access, args, &headers).await
}
