//! HyperLogLog commands (Redis's hyperloglog.c): PFADD PFCOUNT PFMERGE, and PFDEBUG and PFSELFTEST that
//! Redis's tests use. The format and the estimator live in `keel_store::hyperloglog`.

use super::{CmdError, CmdResult, Ctx, WRONGTYPE};
use keel_store::hyperloglog::{self as hll, REGISTERS};
use keel_store::{CompactBytes, Expiry, StrRef, Value};
use std::borrow::Cow;

const NOT_HLL: CmdError = CmdError(Cow::Borrowed("WRONGTYPE Key is not a valid HyperLogLog string value."));
const CORRUPT: CmdError = CmdError(Cow::Borrowed("INVALIDOBJ Corrupted HLL object detected"));

/// Looks `key` up (for reading or writing) and checks it holds an HLL: its bytes, if it exists.
fn find_hll(ctx: &mut Ctx, key: &[u8], read: bool) -> Result<Option<(usize, Vec<u8>)>, CmdError> {
    let slot = if read { ctx.lookup_read(key) } else { ctx.lookup_write(key) };
    let Some(slot) = slot else { return Ok(None) };
    let bytes = match ctx.db().value(slot).as_string().ok_or(WRONGTYPE)? {
        StrRef::Raw(bytes) => bytes,
        StrRef::Int(_) => return Err(NOT_HLL),
    };
    hll::check(bytes).map_err(|_| NOT_HLL)?;
    Ok(Some((slot, bytes.to_vec())))
}

/// Stores changed HLL bytes back at `slot`.
fn store(ctx: &mut Ctx, slot: usize, bytes: Vec<u8>) {
    ctx.db().replace(slot, Value::Str(CompactBytes::from_vec(bytes)));
}

fn sparse_max(ctx: &Ctx) -> usize {
    ctx.server.settings.read().hll_sparse_max_bytes as usize
}

pub fn pfadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let limit = sparse_max(ctx);
    let (slot, mut bytes) = match find_hll(ctx, args[1], false)? {
        Some((slot, bytes)) => (Some(slot), bytes),
        None => (None, hll::new_sparse()),
    };
    let mut updated = slot.is_none() as u64;
    for element in &args[2..] {
        match hll::add(&mut bytes, element, limit) {
            Ok(changed) => updated += changed as u64,
            Err(hll::Corrupt) => return Err(CORRUPT),
        }
    }
    if updated > 0 {
        hll::invalidate_cache(&mut bytes);
        match slot {
            Some(slot) => store(ctx, slot, bytes),
            None => {
                let db = ctx.session.db;
                ctx.add_key(db, args[1], Value::Str(CompactBytes::from_vec(bytes)), Expiry::Clear);
            }
        }
        ctx.dirty(updated);
        ctx.notify(crate::notify::STRING, "pfadd", args[1]);
    }
    ctx.out.int((updated > 0) as i64);
    Ok(())
}

pub fn pfcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 2 {
        // The cardinality of the union.
        let registers = merged_registers(ctx, &args[1..])?.0;
        ctx.out.int(hll::count_registers(&registers) as i64);
        return Ok(());
    }
    let Some((slot, mut bytes)) = find_hll(ctx, args[1], true)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let card = match hll::cached(&bytes) {
        Some(card) => card,
        None => {
            let card = hll::count(&bytes).map_err(|_| CORRUPT)?;
            // The cache is part of the string: updating it is a change, as in Redis.
            hll::set_cached(&mut bytes, card);
            store(ctx, slot, bytes);
            ctx.dirty(1);
            card
        }
    };
    ctx.out.int(card as i64);
    Ok(())
}

/// The register-wise maximum of the HLLs at `keys` (missing keys are empty), and whether any is dense.
fn merged_registers(ctx: &mut Ctx, keys: &[&[u8]]) -> Result<(Box<[u8; REGISTERS]>, bool), CmdError> {
    let mut max = Box::new([0u8; REGISTERS]);
    let mut any_dense = false;
    for key in keys {
        if let Some((_, bytes)) = find_hll(ctx, key, true)? {
            any_dense |= !hll::is_sparse(&bytes);
            hll::merge_into(&mut max, &bytes).map_err(|_| CORRUPT)?;
        }
    }
    Ok((max, any_dense))
}

pub fn pfmerge(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let limit = sparse_max(ctx);
    // The destination takes part in the union.
    let (max, any_dense) = merged_registers(ctx, &args[1..])?;
    let (slot, mut bytes) = match find_hll(ctx, args[1], false)? {
        Some((slot, bytes)) => (Some(slot), bytes),
        None => (None, hll::new_sparse()),
    };
    hll::store_merged(&mut bytes, &max, any_dense, limit).map_err(|_| CORRUPT)?;
    match slot {
        Some(slot) => store(ctx, slot, bytes),
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, args[1], Value::Str(CompactBytes::from_vec(bytes)), Expiry::Clear);
        }
    }
    ctx.dirty(1);
    ctx.notify(crate::notify::STRING, "pfadd", args[1]);
    ctx.out.ok();
    Ok(())
}

pub fn pfdebug(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let sub = String::from_utf8_lossy(args[1]).into_owned();
    let Some((slot, mut bytes)) = find_hll(ctx, args[2], false)? else {
        return Err(CmdError::new("ERR The specified key does not exist"));
    };
    match sub.to_ascii_lowercase().as_str() {
        "getreg" => {
            if hll::to_dense(&mut bytes).map_err(|_| CORRUPT)? {
                store(ctx, slot, bytes.clone());
                ctx.dirty(1);
            }
            let registers = hll::registers(&bytes).map_err(|_| CORRUPT)?;
            ctx.out.array(registers.len());
            registers.iter().for_each(|&r| ctx.out.int(r as i64));
        }
        "decode" => {
            if !hll::is_sparse(&bytes) {
                return Err(CmdError::new("ERR HLL encoding is not sparse"));
            }
            ctx.out.bulk(hll::decode_sparse(&bytes).as_bytes());
        }
        "encoding" => ctx.out.simple(if hll::is_sparse(&bytes) { "sparse" } else { "dense" }),
        "todense" => {
            let converted = hll::to_dense(&mut bytes).map_err(|_| CORRUPT)?;
            if converted {
                store(ctx, slot, bytes);
                ctx.dirty(1);
            }
            ctx.out.int(converted as i64);
        }
        _ => return Err(CmdError::new(format!("ERR Unknown PFDEBUG subcommand '{sub}'"))),
    }
    Ok(())
}

pub fn pfselftest(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let limit = sparse_max(ctx);
    hll::self_test(rand::random::<u64>, limit).map_err(CmdError::new)?;
    ctx.out.ok();
    Ok(())
}
