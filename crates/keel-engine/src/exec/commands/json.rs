//! JSON commands (RedisJSON's, as Redis 8 and Upstash serve them): setting, reading, merging and deleting
//! documents at paths; the per-type operations are in `json_ops.rs`. Paths come in two syntaxes: JSONPath
//! (`$...`) answers with one result per match, legacy paths (`.a`, `a.b`) with the one value they name.
//! Error texts are RedisJSON's, which are sent as written (some carry no `ERR` code).

use super::{typed, CmdError, CmdResult, Ctx, SYNTAX};
use crate::notify;
use keel_store::json::path::{Last, Path};
use keel_store::json::{outermost, write_list, Document, Json, Layout, Loc, Object};
use keel_store::{Expiry, Value};
use std::borrow::Cow;

pub(super) const NO_KEY: CmdError =
    CmdError(Cow::Borrowed("ERR could not perform this operation on a key that doesn't exist"));
pub(super) const NO_PATH: CmdError = CmdError(Cow::Borrowed("ERR Path does not exist"));
const NOT_AT_ROOT: CmdError = CmdError(Cow::Borrowed("ERR new objects must be created at the root"));

pub(super) fn path_arg(arg: &[u8]) -> Result<Path, CmdError> {
    Path::parse(arg).map_err(|e| CmdError::new(e.0))
}

/// A JSON argument; a parse error is serde_json's text, as RedisJSON sends it.
pub(super) fn json_arg(arg: &[u8]) -> Result<Json, CmdError> {
    Json::parse(arg).map_err(CmdError::new)
}

/// The path at `args[at]`, or the legacy root when the command omits it.
pub(super) fn optional_path(args: &[&[u8]], at: usize) -> Result<Path, CmdError> {
    args.get(at).map_or(Ok(Path::root()), |arg| path_arg(arg))
}

/// The document at `key` for reading (None when missing; WRONGTYPE for another type).
pub(super) fn read_doc<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c Json>, CmdError> {
    let db = ctx.session.db;
    match ctx.lookup_read(key) {
        Some(slot) => Ok(Some(typed::<Document>(ctx.ks.dbs[db].value(slot))?.root())),
        None => Ok(None),
    }
}

/// [`read_doc`] borrowing only the keyspace, so that the reply can be written while the document is read.
macro_rules! doc_for_read {
    ($ctx:expr, $key:expr) => {{
        let db = $ctx.session.db;
        match $ctx.lookup_read($key) {
            Some(slot) => Some(super::typed::<keel_store::json::Document>($ctx.ks.dbs[db].value(slot))?.root()),
            None => None,
        }
    }};
}
pub(super) use doc_for_read;

/// Publishes a JSON keyspace event (`json.set`, ...) and counts the change.
pub(super) fn changed(ctx: &mut Ctx, event: &str, key: &[u8]) {
    ctx.notify(notify::MODULE, event, key);
    ctx.dirty(1);
}

/// The compact text of a value.
pub(super) fn text(value: &Json) -> Vec<u8> {
    value.to_text()
}

/// JSON.SET key path value [NX | XX]
pub fn json_set(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[2])?;
    keel_pace::bytes_ahead(args[3].len());
    let value = json_arg(args[3])?;
    let (mut nx, mut xx) = (false, false);
    for option in &args[4..] {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" if !nx && !xx => nx = true,
            b"XX" if !nx && !xx => xx = true,
            _ => return Err(SYNTAX),
        }
    }
    match set_at(ctx, args[1], &path, value, (nx, xx))? {
        true => {
            changed(ctx, "json.set", args[1]);
            ctx.out.ok();
        }
        false => ctx.out.null(),
    }
    Ok(())
}

/// Sets `value` at `path` in the document at `key` (creating it at the root); true when every place was
/// set. `(nx, xx)`: only where nothing is, only where something is.
fn set_at(ctx: &mut Ctx, key: &[u8], path: &Path, value: Json, (nx, xx): (bool, bool)) -> Result<bool, CmdError> {
    let Some(slot) = ctx.find_typed::<Document>(key)? else {
        if xx {
            return Ok(false);
        }
        if !path.is_root() {
            return Err(NOT_AT_ROOT);
        }
        let db = ctx.session.db;
        ctx.add_key(db, key, Value::Json(Box::new(Document::new(value))), Expiry::Clear);
        return Ok(true);
    };
    if path.is_root() {
        if nx {
            return Ok(false);
        }
        ctx.modify::<Document, _>(slot, |doc| doc.replace(value));
        return Ok(true);
    }
    let doc = typed::<Document>(ctx.db().value(slot))?.root();
    let mut existing = if nx { Vec::new() } else { path.locate(doc) };
    if !existing.is_empty() {
        outermost(&mut existing);
        ctx.modify::<Document, _>(slot, |doc| {
            for loc in &existing {
                doc.set(loc, value.clone());
            }
        });
        return Ok(true);
    }
    if xx {
        return Ok(false);
    }
    let parents = new_member_parents(doc, path)?;
    if parents.is_empty() {
        return Ok(false);
    }
    let (_, Last::Key(name)) = path.split_last().ok_or(NO_PATH)? else { return Ok(false) };
    let added = ctx.modify::<Document, _>(slot, |doc| {
        parents.iter().map(|loc| doc.insert_member(loc, &name, value.clone())).collect::<Vec<bool>>()
    });
    Ok(added.iter().all(|&a| a))
}

/// Where `JSON.SET` adds a member that is not there yet: the objects the path's parent selects (the path
/// must name one member at each step, and end with a member name).
fn new_member_parents(doc: &Json, path: &Path) -> Result<Vec<Vec<Loc>>, CmdError> {
    if !path.is_static() {
        return Err(CmdError::new("Err wrong static path"));
    }
    match path.split_last() {
        Some((parent, Last::Key(_))) => Ok(parent.locate(doc)),
        Some((_, Last::Index)) => Err(CmdError::new("ERR array index out of range")),
        _ => Err(CmdError::new("Err path must end with object key to set")),
    }
}

/// The `JSON.GET` options that are not paths.
fn get_layout<'a>(args: &[&'a [u8]]) -> Result<(Layout<'a>, Vec<&'a [u8]>), CmdError> {
    let mut layout = Layout::default();
    let mut paths = Vec::new();
    let mut at = 2;
    while at < args.len() {
        let arg = args[at];
        let value = args.get(at + 1).copied();
        let slot = match arg.to_ascii_uppercase().as_slice() {
            b"INDENT" => &mut layout.indent,
            b"NEWLINE" => &mut layout.newline,
            b"SPACE" => &mut layout.space,
            b"NOESCAPE" => {
                at += 1;
                continue;
            }
            b"FORMAT" => return Err(CmdError::new("ERR FORMAT argument is not supported on RESP2")),
            _ => {
                paths.push(arg);
                at += 1;
                continue;
            }
        };
        *slot = value
            .ok_or_else(|| CmdError::new(format!("ERR wrong number of arguments for '{}' command", "json.get")))?;
        at += 2;
    }
    Ok((layout, paths))
}

/// JSON.GET key [INDENT s] [NEWLINE s] [SPACE s] [path ...]
pub fn json_get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (layout, path_args) = get_layout(args)?;
    let paths = path_args.iter().map(|p| path_arg(p)).collect::<Result<Vec<_>, _>>()?;
    let Some(doc) = read_doc(ctx, args[1])? else {
        ctx.out.null();
        return Ok(());
    };
    let mut text = Vec::new();
    match paths.as_slice() {
        [] => doc.write(&mut text, &layout),
        [path] if path.is_legacy() => path.select(doc).first().ok_or(NO_PATH)?.write(&mut text, &layout),
        [path] => write_list(&mut text, &path.select(doc), &layout),
        _ => {
            // Several paths: an object from each path's text to its value (legacy) or its matches.
            let legacy = paths.iter().all(Path::is_legacy);
            let mut members = Object::new();
            for (path, name) in paths.iter().zip(&path_args) {
                let found = path.select(doc);
                let value = if legacy {
                    (*found.first().ok_or(NO_PATH)?).clone()
                } else {
                    Json::Array(found.into_iter().cloned().collect())
                };
                members.insert(String::from_utf8_lossy(name).into_owned(), value);
            }
            Json::Object(Box::new(members)).write(&mut text, &layout);
        }
    }
    ctx.out.bulk(&text);
    Ok(())
}

/// JSON.MGET key [key ...] path: each key's value at the path, null for a missing key or one of
/// another type.
pub fn json_mget(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    let mut replies: Vec<Option<Vec<u8>>> = Vec::with_capacity(keys.len());
    for key in keys {
        let doc = read_doc(ctx, key).ok().flatten();
        replies.push(doc.and_then(|doc| {
            let found = path.select(doc);
            if path.is_legacy() {
                found.first().map(|v| text(v))
            } else {
                let mut out = Vec::new();
                write_list(&mut out, &found, &Layout::default());
                Some(out)
            }
        }));
    }
    ctx.out.array(replies.len());
    for reply in replies {
        match reply {
            Some(text) => ctx.out.bulk(&text),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// JSON.MSET key path value [key path value ...]: every triplet is checked before any is set.
pub fn json_mset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if !(args.len() - 1).is_multiple_of(3) {
        return Err(CmdError::new("ERR wrong number of arguments for 'json.mset' command"));
    }
    let mut triplets = Vec::with_capacity(args.len() / 3);
    for triplet in args[1..].chunks_exact(3) {
        let path = path_arg(triplet[1])?;
        let value = json_arg(triplet[2])?;
        if ctx.find_typed::<Document>(triplet[0])?.is_none() && !path.is_root() {
            return Err(NOT_AT_ROOT);
        }
        triplets.push((triplet[0], path, value));
    }
    let mut all = true;
    for (key, path, value) in triplets {
        let set = set_at(ctx, key, &path, value, (false, false))?;
        if set {
            changed(ctx, "json.mset", key);
        }
        all &= set;
    }
    if all {
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

/// JSON.MERGE key path value: an RFC 7396 merge patch at each match (a new member where the path names
/// one that is not there).
pub fn json_merge(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = path_arg(args[2])?;
    let patch = json_arg(args[3])?;
    let Some(slot) = ctx.find_typed::<Document>(args[1])? else {
        if !path.is_root() {
            return Err(NOT_AT_ROOT);
        }
        let db = ctx.session.db;
        ctx.add_key(db, args[1], Value::Json(Box::new(Document::new(patch))), Expiry::Clear);
        changed(ctx, "json.merge", args[1]);
        ctx.out.ok();
        return Ok(());
    };
    let doc = typed::<Document>(ctx.db().value(slot))?.root();
    let existing = path.locate(doc);
    let merged = if !existing.is_empty() {
        ctx.modify::<Document, _>(slot, |doc| {
            for loc in &existing {
                doc.rebuild(loc, |place| place.merge_patch(patch.clone()));
            }
        });
        true
    } else {
        let parents = new_member_parents(doc, &path)?;
        match path.split_last() {
            Some((_, Last::Key(name))) if !parents.is_empty() => ctx.modify::<Document, _>(slot, |doc| {
                parents.iter().filter(|loc| doc.insert_member(loc, &name, patch.clone())).count() > 0
            }),
            _ => false,
        }
    };
    if merged {
        changed(ctx, "json.merge", args[1]);
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

/// JSON.DEL key [path] (and JSON.FORGET): how many values went. Deleting the root, or emptying the root
/// object or array, deletes the key.
pub fn json_del(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = optional_path(args, 2)?;
    let Some(slot) = ctx.find_typed::<Document>(args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = if path.is_root() {
        ctx.db().remove_slot(slot);
        1
    } else {
        let mut locs = path.locate(typed::<Document>(ctx.db().value(slot))?.root());
        outermost(&mut locs);
        let (deleted, emptied) = ctx.modify::<Document, _>(slot, |doc| {
            let deleted = locs.iter().filter(|loc| doc.remove(loc)).count();
            let emptied = match doc.root() {
                Json::Object(members) => members.is_empty(),
                Json::Array(items) => items.is_empty(),
                _ => false,
            };
            (deleted, emptied)
        });
        if deleted > 0 && emptied {
            ctx.db().remove_slot(slot);
        }
        deleted
    };
    if deleted > 0 {
        // Only `json.del`, also when the key went: RedisJSON deletes keys without a generic `del` event.
        changed(ctx, "json.del", args[1]);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

/// A read that writes each match: null for a missing key; a legacy path answers its first match (null
/// where it leads nowhere, or `NO_PATH` when `nowhere_is_an_error`), a JSONPath an array of them all.
fn write_matches(
    ctx: &mut Ctx,
    args: &[&[u8]],
    nowhere_is_an_error: bool,
    write: fn(&mut keel_protocol::ReplyWriter, &Json),
) -> CmdResult {
    let path = optional_path(args, 2)?;
    let Some(doc) = doc_for_read!(ctx, args[1]) else {
        ctx.out.null();
        return Ok(());
    };
    let found = path.select(doc);
    if !path.is_legacy() {
        ctx.out.array(found.len());
        found.iter().for_each(|value| write(ctx.out, value));
        return Ok(());
    }
    match found.first() {
        Some(value) => write(ctx.out, value),
        None if nowhere_is_an_error => return Err(NO_PATH),
        None => ctx.out.null(),
    }
    Ok(())
}

/// JSON.TYPE key [path]
pub fn json_type(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    write_matches(ctx, args, false, |out, value| out.simple(value.type_name()))
}

/// JSON.RESP key [path]: the value in RESP's own types (arrays as `[` then the elements, objects as `{`
/// then keys and values).
pub fn json_resp(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    write_matches(ctx, args, true, write_resp)
}

fn write_resp(out: &mut keel_protocol::ReplyWriter, value: &Json) {
    match value {
        Json::Null => out.null(),
        Json::Bool(b) => out.simple(if *b { "true" } else { "false" }),
        Json::Int(n) => out.int(*n),
        Json::Float(f) => out.double(*f),
        Json::Str(s) => out.bulk(s.as_bytes()),
        Json::Array(items) => {
            out.array(items.len() + 1);
            out.simple("[");
            items.iter().for_each(|item| write_resp(out, item));
        }
        Json::Object(members) => {
            out.array(2 * members.len() + 1);
            out.simple("{");
            for (key, value) in members.iter() {
                out.bulk(key.as_bytes());
                write_resp(out, value);
            }
        }
    }
}

/// JSON.DEBUG HELP
pub fn json_debug_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let lines = ["MEMORY <key> [path] - reports memory usage", "HELP                - this message"];
    ctx.out.array(lines.len());
    lines.iter().for_each(|line| ctx.out.bulk(line.as_bytes()));
    Ok(())
}

/// JSON.DEBUG MEMORY key [path]: the bytes of the value (legacy) or of each match.
pub fn json_debug_memory(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let path = optional_path(args, 3)?;
    let sizes: Vec<i64> = match read_doc(ctx, args[2])? {
        Some(doc) => path.select(doc).iter().map(|v| v.memory() as i64).collect(),
        None => Vec::new(),
    };
    if path.is_legacy() {
        ctx.out.int(sizes.first().copied().unwrap_or(0));
    } else {
        ctx.out.array(sizes.len());
        sizes.iter().for_each(|size| ctx.out.int(*size));
    }
    Ok(())
}
