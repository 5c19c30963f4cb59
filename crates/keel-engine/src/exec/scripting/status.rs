//! What other connections may know about the script running in a tenant without taking its lock: whether
//! it has run past `busy-reply-threshold` (they then get `BUSY`), and the SCRIPT KILL / FUNCTION KILL
//! request the script's instruction hook acts on (Redis's script.c run context, the shared part).

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The error a killed script ends with (Redis's text).
pub const KILLED: &str = "Script killed by user with SCRIPT KILL...";
/// The error of library code that runs too long while it loads.
pub const LOAD_TIMEOUT: &str = "FUNCTION LOAD timeout";
/// How long FUNCTION LOAD lets a library's code run (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT_MS: u64 = 500;

#[derive(Default)]
pub struct ScriptStatus {
    /// The script running now, if any.
    running: Mutex<Running>,
    /// SHUTDOWN NOSAVE stopped the script: its effects must not reach the log.
    forced: AtomicBool,
    /// FUNCTION LOAD's code is stopped after this many milliseconds (0: no limit).
    load_timeout_ms: AtomicU64,
    busy: AtomicBool,
    kill: AtomicBool,
    wrote: AtomicBool,
    function: AtomicBool,
    threshold_ms: AtomicU64,
    /// The database the scripts run in, for the log.
    database: String,
}

/// A script in progress: when it began, and its name (SHA-1 or function name) and command line for
/// FUNCTION STATS. Kept between scripts, so that a run allocates nothing: `started` says whether one runs.
#[derive(Default)]
struct Running {
    started: Option<Instant>,
    name: String,
    command: Vec<Vec<u8>>,
}

/// Why a kill request was refused.
pub enum KillRefused {
    NotBusy,
    Wrote,
    /// SCRIPT KILL for a function, or FUNCTION KILL for an EVAL script: the `BUSY` text to answer.
    WrongKind(&'static str),
}

pub const BUSY_EVAL: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

impl ScriptStatus {
    /// The status of the scripts of database `database`.
    pub fn for_database(database: &str) -> ScriptStatus {
        ScriptStatus { database: database.to_string(), ..ScriptStatus::default() }
    }

    pub fn begin(&self, function: bool, threshold_ms: u64, name: &str, command: &[&[u8]]) {
        let mut running = self.running.lock();
        running.started = Some(Instant::now());
        running.name.clear();
        running.name.push_str(name);
        running.command.clear();
        // FUNCTION STATS shows a running function's command line; EVAL's hot path skips the copy.
        if function {
            running.command.extend(command.iter().map(|a| a.to_vec()));
        }
        drop(running);
        self.forced.store(false, Ordering::Relaxed);
        self.load_timeout_ms.store(0, Ordering::Relaxed);
        self.function.store(function, Ordering::Relaxed);
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
    }

    /// FUNCTION LOAD running a library's code: never BUSY, stopped after [`LOAD_TIMEOUT_MS`].
    pub fn begin_load(&self) {
        self.begin(true, 0, "", &[]);
        self.load_timeout_ms.store(LOAD_TIMEOUT_MS, Ordering::Relaxed);
    }

    pub fn end(&self) {
        self.running.lock().started = None;
        self.busy.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
    }

    pub fn note_write(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// The `BUSY` error for other clients while a script runs past the threshold.
    pub fn busy_error(&self) -> Option<&'static str> {
        if !self.busy.load(Ordering::Acquire) {
            return None;
        }
        Some(if self.function.load(Ordering::Relaxed) { BUSY_FUNCTION } else { BUSY_EVAL })
    }

    /// Called by the instruction hook: marks the script busy once past the threshold; the error to stop
    /// it with when it must stop.
    pub fn check(&self) -> Option<&'static str> {
        if self.kill.load(Ordering::Relaxed) {
            return Some(KILLED);
        }
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        let started = self.running.lock().started;
        let elapsed = started.map_or(0, |s| s.elapsed().as_millis() as u64);
        // A long script blocks its tokio worker, and with it whatever that worker would run next,
        // possibly the I/O driver: past keel_pace's hold it hands the worker to a new thread, so that
        // other clients get BUSY and SCRIPT KILL gets through.
        keel_pace::look();
        if !self.busy.load(Ordering::Relaxed) && threshold > 0 && started.is_some() && elapsed >= threshold {
            tracing::warn!(
                database = %self.database,
                elapsed_ms = elapsed,
                "slow script detected: still in execution; you can try killing it with SCRIPT KILL"
            );
            self.busy.store(true, Ordering::Release);
        }
        let load_timeout = self.load_timeout_ms.load(Ordering::Relaxed);
        (load_timeout > 0 && elapsed >= load_timeout).then_some(LOAD_TIMEOUT)
    }

    /// SCRIPT KILL (`function == false`) or FUNCTION KILL.
    pub fn request_kill(&self, function: bool) -> Result<(), KillRefused> {
        if self.running.lock().started.is_none() || !self.busy.load(Ordering::Acquire) {
            return Err(KillRefused::NotBusy);
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Err(KillRefused::Wrote);
        }
        let running_function = self.function.load(Ordering::Relaxed);
        if running_function != function {
            return Err(KillRefused::WrongKind(if running_function { BUSY_FUNCTION } else { BUSY_EVAL }));
        }
        self.kill.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// SHUTDOWN NOSAVE stops any script, writes or not.
    pub fn force_kill(&self) {
        self.forced.store(true, Ordering::Relaxed);
        self.kill.store(true, Ordering::Relaxed);
    }

    /// The script was stopped by SHUTDOWN NOSAVE.
    pub fn was_forced(&self) -> bool {
        self.forced.load(Ordering::Relaxed)
    }

    /// The running script's name, command line and milliseconds run, while one runs.
    pub fn running(&self) -> Option<(String, Vec<Vec<u8>>, u64)> {
        let running = self.running.lock();
        let started = running.started?;
        Some((running.name.clone(), running.command.clone(), started.elapsed().as_millis() as u64))
    }
}
