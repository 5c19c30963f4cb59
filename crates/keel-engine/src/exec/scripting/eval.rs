//! EVAL scripts (Redis's eval.c): the cache of scripts by SHA-1, shebang flags, and EVAL/EVALSHA's checks
//! before a script runs.

use super::engine::Engine;
use super::{engine_error, run, Run, ScriptFlags};
use crate::exec::commands::{CmdError, CmdResult, Ctx};

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// A cached script: its source (for SCRIPT EXISTS and the effects it had), flags and compiled chunk.
pub struct Script {
    pub body: Vec<u8>,
    pub flags: ScriptFlags,
    function: mlua::RegistryKey,
}

#[derive(Default)]
pub struct ScriptCache {
    /// By lowercase SHA-1, hashed with a seeded fast hash (names are SHA-1s, which no client picks).
    scripts: hashbrown::HashMap<String, Script, foldhash::fast::RandomState>,
    /// Bytes of script source held (`used_memory_scripts_eval`).
    pub bytes: usize,
}

impl ScriptCache {
    /// Whether the cached script `sha` declared `no-writes` (None when it is not cached).
    pub fn declares_no_writes(&self, sha: &str) -> Option<bool> {
        self.scripts.get(&sha.to_ascii_lowercase()).map(|script| script.flags.no_writes)
    }

    pub fn contains(&self, sha: &str) -> bool {
        self.scripts.contains_key(sha)
    }

    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }
}

/// Splits a shell-like line into words as Redis's sdssplitargs does for shebangs: a quote anywhere in a
/// word quotes up to its closing quote, which must end the word. None for unbalanced quotes.
pub fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut word = String::new();
        while let Some(c) = chars.next() {
            match c {
                c if c.is_whitespace() => break,
                '"' | '\'' => {
                    loop {
                        match chars.next()? {
                            q if q == c => break,
                            '\\' if c == '"' => word.push(chars.next()?),
                            other => word.push(other),
                        }
                    }
                    if chars.peek().is_some_and(|n| !n.is_whitespace()) {
                        return None;
                    }
                }
                other => word.push(other),
            }
        }
        words.push(word);
    }
}

/// The flags of a script's `#!lua flags=...` line and the line's length (0 without one).
pub fn shebang_flags(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags { compat: true, ..ScriptFlags::default() }, 0));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts = split_words(&line).filter(|p| !p.is_empty()).ok_or("Invalid engine in script shebang")?;
    if parts[0] != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {}", parts[0]));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            if !flags.set(flag) {
                return Err(format!("Unexpected flag in script shebang: {flag}"));
            }
        }
    }
    Ok((flags, end))
}

/// The engine in `slot`, created on first use.
pub fn engine_in<'s>(
    slot: &'s mut Option<Engine>,
    status: &std::sync::Arc<super::ScriptStatus>,
) -> Result<&'s mut Engine, CmdError> {
    if slot.is_none() {
        *slot = Some(Engine::new(status.clone()).map_err(engine_error)?);
    }
    slot.as_mut().ok_or_else(|| CmdError::new("ERR scripting engine unavailable"))
}

/// Compiles and caches `body` under its SHA-1 (SCRIPT LOAD, and EVAL of a script not seen yet).
pub fn load(ctx: &mut Ctx, body: &[u8]) -> Result<super::Sha1Hex, CmdError> {
    let sha = super::Sha1Hex::of(body);
    let status = ctx.tenant.scripts.clone();
    let scripting = &mut ctx.ks.scripting;
    if scripting.scripts.contains(sha.as_str()) {
        return Ok(sha);
    }
    let (flags, shebang_len) = shebang_flags(body).map_err(|e| CmdError::new(format!("ERR {e}")))?;
    let engine = engine_in(&mut scripting.eval, &status)?;
    // The shebang is skipped but its newline kept, so line numbers stay the user's.
    let function = engine
        .compile(&body[shebang_len..], "@user_script")
        .map_err(|e| CmdError::new(format!("ERR Error compiling script (new function): {e}")))?;
    let function = engine.keep(function).map_err(engine_error)?;
    engine.note_compiled();
    scripting.scripts.bytes += body.len() + 40;
    scripting.scripts.scripts.insert(sha.as_str().to_string(), Script { body: body.to_vec(), flags, function });
    Ok(sha)
}

/// Redis's scriptPrepareForRun checks for a script with flags.
pub fn check_flags(ctx: &Ctx, flags: ScriptFlags, read_only_command: bool) -> Result<(), CmdError> {
    if flags.compat || flags.no_writes {
        return Ok(());
    }
    if let Some(refusal) = ctx.tenant.persistence.write_refusal() {
        let detail = refusal.split_once("AOF file: ").map(|(_, e)| e.to_string());
        return Err(CmdError::new(match detail {
            Some(error) => format!(
                "MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: {error}"
            ),
            None => "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.".to_string(),
        }));
    }
    if read_only_command {
        return Err(CmdError::new("ERR Can not execute a script with write flag using *_ro command."));
    }
    let settings = ctx.settings;
    let repl = &ctx.tenant.replication;
    if !ctx.session.master && repl.is_replica() && settings.replica_read_only {
        return Err(CmdError::new(crate::replication::READONLY));
    }
    if !ctx.session.master && !repl.is_replica() && settings.min_replicas_to_write > 0 {
        let good = repl.good_replicas(crate::clock::unix_ms(), settings.min_replicas_max_lag) as u64;
        if good < settings.min_replicas_to_write {
            return Err(CmdError::new(crate::replication::NOREPLICAS));
        }
    }
    // A script that may write does not start while memory is full, unless it says allow-oom.
    let limit = settings.memory;
    if !flags.allow_oom && limit.max > 0 && ctx.ks.used_memory() as u64 > limit.max {
        return Err(CmdError::new(crate::state::eviction::OOM));
    }
    Ok(())
}

/// Command arguments, as handlers receive them.
type Args<'a> = &'a [&'a [u8]];

/// Parses numkeys (`not_a_number` when it is not one: EVAL and FCALL word that differently) and splits
/// the arguments after it into keys and args.
pub fn split_keys<'a>(args: Args<'a>, not_a_number: CmdError) -> Result<(Args<'a>, Args<'a>), CmdError> {
    let numkeys = keel_store::number::parse_i64(args[2]).ok_or(not_a_number)?;
    let rest = &args[3..];
    if numkeys > rest.len() as i64 {
        return Err(CmdError::new("ERR Number of keys can't be greater than number of args"));
    }
    if numkeys < 0 {
        return Err(CmdError::new("ERR Number of keys can't be negative"));
    }
    Ok(rest.split_at(numkeys as usize))
}

/// EVAL, EVALSHA and their _RO forms.
pub fn eval(ctx: &mut Ctx, args: &[&[u8]], by_sha: bool, read_only_command: bool) -> CmdResult {
    let (keys, argv) = split_keys(args, crate::exec::commands::NOT_INTEGER)?;
    let mut lowercase = [0u8; 40];
    let loaded;
    let sha = if by_sha {
        // Cached scripts are named by lowercase SHA-1s; any other name finds nothing.
        if args[1].len() != 40 {
            return Err(CmdError::new(NOSCRIPT));
        }
        lowercase.copy_from_slice(args[1]);
        lowercase.make_ascii_lowercase();
        std::str::from_utf8(&lowercase).map_err(|_| CmdError::new(NOSCRIPT))?
    } else {
        loaded = load(ctx, args[1])?;
        loaded.as_str()
    };
    let Some(script) = ctx.ks.scripting.scripts.scripts.get(sha) else {
        return Err(CmdError::new(NOSCRIPT));
    };
    let flags = script.flags;
    check_flags(ctx, flags, read_only_command)?;
    let Some(mut engine) = ctx.ks.scripting.eval.take() else {
        return Err(CmdError::new(NOSCRIPT));
    };
    let kept = ctx.ks.scripting.scripts.scripts.get(sha).map(|script| engine.kept(&script.function));
    let function = match kept {
        Some(Ok(function)) => function,
        failed => {
            ctx.ks.scripting.eval = Some(engine);
            return Err(match failed {
                Some(Err(e)) => engine_error(e),
                _ => CmdError::new(NOSCRIPT),
            });
        }
    };
    let read_only = read_only_command || flags.no_writes;
    let result = run(
        ctx,
        &mut engine,
        Run {
            function: &function,
            keys,
            args: argv,
            read_only,
            is_function: false,
            name: sha,
            command: args,
            allow_oom: flags.allow_oom,
        },
    );
    ctx.ks.scripting.eval = Some(engine);
    result
}

/// SCRIPT FLUSH: forgets every script and starts a fresh Lua state; ASYNC frees the old ones in the
/// background when there are many.
pub fn flush(ctx: &mut Ctx, in_background: bool) {
    let scripting = &mut ctx.ks.scripting;
    let scripts = std::mem::take(&mut scripting.scripts);
    let engine = scripting.eval.take();
    if in_background {
        let count = scripts.len();
        crate::lazyfree::free_scripting((scripts, engine), count, count as u64, &ctx.tenant.lazyfree);
    }
}
