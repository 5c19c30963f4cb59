//! The append-only log: commands in RESP, as Redis's AOF holds them. [`AppendLog`] owns the file. Bytes are
//! written to the OS by whoever submits them, at once and in submission order (callers submit under the
//! tenant lock, as Redis writes its AOF buffer before it replies), so a crash of the process loses nothing
//! that was acknowledged. A sync thread makes them durable by the policy: under `always` it fsyncs whatever
//! has been written since its last fsync and reports progress, so every client waiting at that moment is
//! acknowledged by one fsync (group commit); under `everysec` it fsyncs once a second; under `no` never.
//! The thread runs only while its log has work: after [`IDLE_EXIT`] with everything synced it ends, and the
//! next write that needs it starts another, so a process serving many idle databases holds no thread for
//! each.
//! [`LogReader`] reads a log back command by command and tells a cut-off tail from corruption.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn parse(name: &str) -> Option<Fsync> {
        match name.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
}

/// Appends one command in RESP (`*N\r\n$len\r\narg\r\n...`).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let mut num = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(num.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        out.extend_from_slice(num.format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Progress of the log, reported to waiters after each write or fsync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes (counted since the log was opened) that are on disk as the policy requires: fsynced under
    /// `always`, written to the OS otherwise.
    pub durable: u64,
    /// Set while writes fail; cleared when they succeed again.
    pub failing: bool,
}

/// The file and what has been written to it, behind one mutex.
struct Output {
    file: File,
    /// Bytes submitted but not written because a write failed; written before anything newer.
    carry: Vec<u8>,
    /// Total bytes submitted.
    submitted: u64,
    /// Total bytes written to the OS.
    written: u64,
    /// Bytes in the current file.
    file_size: u64,
    error: Option<String>,
}

struct SyncState {
    fsync: Fsync,
    /// The sync thread is waiting for work.
    idle: bool,
    /// A sync thread is running (it clears this as it ends, under this lock).
    running: bool,
    stop: bool,
}

/// How long a sync thread with nothing to sync waits before it ends (shorter in unit tests).
pub const IDLE_EXIT: Duration = Duration::from_millis(if cfg!(test) { 300 } else { 10_000 });

struct Shared {
    output: Mutex<Output>,
    sync: Mutex<SyncState>,
    wake: Condvar,
    written: AtomicU64,
    synced: AtomicU64,
    /// Unix milliseconds of the last successful fsync.
    last_fsync_ms: AtomicU64,
    report: Box<dyn Fn(Progress) + Send + Sync>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Writes as much of `bytes` as the OS takes; returns how much, and the error that stopped it.
fn write_some(file: &mut File, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => return (done, Some(std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote nothing"))),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

impl Output {
    /// Writes the carried bytes, then `bytes`; whatever the OS refuses is carried for a later attempt.
    fn write(&mut self, bytes: &[u8]) -> Result<(), std::io::Error> {
        self.submitted += bytes.len() as u64;
        if !self.carry.is_empty() {
            self.carry.extend_from_slice(bytes);
            return self.retry();
        }
        let (n, failed) = write_some(&mut self.file, bytes);
        self.written += n as u64;
        self.file_size += n as u64;
        match failed {
            None => Ok(()),
            Some(e) => {
                self.carry.extend_from_slice(&bytes[n..]);
                Err(e)
            }
        }
    }

    fn retry(&mut self) -> Result<(), std::io::Error> {
        let (n, failed) = write_some(&mut self.file, &self.carry);
        self.carry.drain(..n);
        self.written += n as u64;
        self.file_size += n as u64;
        match failed {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// An open log with its sync thread, while it has one.
pub struct AppendLog {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl AppendLog {
    /// Opens `file` (positioned at its end, `size` bytes long) for appending. `report` is called whenever
    /// durable progress or the failure state changes.
    pub fn open(file: File, size: u64, fsync: Fsync, report: Box<dyn Fn(Progress) + Send + Sync>) -> AppendLog {
        let shared = Arc::new(Shared {
            output: Mutex::new(Output {
                file,
                carry: Vec::new(),
                submitted: 0,
                written: 0,
                file_size: size,
                error: None,
            }),
            sync: Mutex::new(SyncState { fsync, idle: false, running: false, stop: false }),
            wake: Condvar::new(),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            last_fsync_ms: AtomicU64::new(unix_ms()),
            report,
        });
        AppendLog { shared, thread: Mutex::new(None) }
    }

    #[cfg(test)]
    fn has_thread(&self) -> bool {
        lock(&self.shared.sync).running
    }

    /// Starts a sync thread unless one runs (`sync` is its state, locked).
    fn ensure_thread(&self, sync: &mut SyncState) {
        if sync.running {
            return;
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new().name("keel-aof-sync".into()).spawn(move || sync_loop(shared));
        match spawned {
            Ok(handle) => {
                sync.running = true;
                *lock(&self.thread) = Some(handle);
            }
            Err(e) => eprintln_log(&format!("cannot start the sync thread ({e}); trying again at the next write")),
        }
    }

    /// Writes `bytes` to the log's file; returns the offset just past them (what a client waits for under
    /// `always`). Callers submit in the order the commands ran.
    pub fn submit(&self, bytes: &[u8]) -> u64 {
        let (end, written, failed) = {
            let mut out = lock(&self.shared.output);
            let result = out.write(bytes);
            let failed = match result {
                Ok(()) => None,
                Err(e) => {
                    let text = e.to_string();
                    if out.error.as_deref() != Some(&text) {
                        eprintln_log(&format!("error writing to the append-only log: {text}; retrying every second"));
                    }
                    out.error = Some(text);
                    Some(())
                }
            };
            (out.submitted, out.written, failed)
        };
        self.shared.written.store(written, Ordering::Release);
        {
            let mut sync = lock(&self.shared.sync);
            if sync.fsync != Fsync::No || failed.is_some() {
                self.ensure_thread(&mut sync);
            }
            if sync.idle && (sync.fsync == Fsync::Always || failed.is_some()) {
                sync.idle = false;
                self.shared.wake.notify_one();
            }
        }
        if failed.is_some() {
            (self.shared.report)(Progress { durable: written, failing: true });
        }
        end
    }

    /// Total bytes submitted so far.
    pub fn queued(&self) -> u64 {
        lock(&self.shared.output).submitted
    }

    /// From now on, writes go to `file` (the next file of a compacted log). The current file is fsynced
    /// first: the manifest will stop naming it.
    pub fn switch_to(&self, file: File) -> std::io::Result<()> {
        let mut out = lock(&self.shared.output);
        if !out.carry.is_empty() {
            out.retry()?;
        }
        out.file.sync_data()?;
        out.file = file;
        out.file_size = 0;
        Ok(())
    }

    pub fn set_fsync(&self, fsync: Fsync) {
        let mut sync = lock(&self.shared.sync);
        sync.fsync = fsync;
        sync.idle = false;
        if fsync != Fsync::No && self.unsynced() > 0 {
            self.ensure_thread(&mut sync);
        }
        self.shared.wake.notify_one();
    }

    pub fn fsync_policy(&self) -> Fsync {
        lock(&self.shared.sync).fsync
    }

    /// The last write error, while writes are failing.
    pub fn error(&self) -> Option<String> {
        lock(&self.shared.output).error.clone()
    }

    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    pub fn synced(&self) -> u64 {
        self.shared.synced.load(Ordering::Acquire)
    }

    pub fn last_fsync_ms(&self) -> u64 {
        self.shared.last_fsync_ms.load(Ordering::Relaxed)
    }

    /// Bytes handed to the OS but not yet fsynced.
    pub fn unsynced(&self) -> u64 {
        self.written().saturating_sub(self.synced())
    }

    /// How long (at `now_ms`) writes have waited for an fsync: 0 when everything written is synced.
    pub fn fsync_lag_ms(&self, now_ms: u64) -> u64 {
        if self.unsynced() > 0 {
            now_ms.saturating_sub(self.last_fsync_ms())
        } else {
            0
        }
    }

    /// Bytes in the file currently written.
    pub fn file_size(&self) -> u64 {
        lock(&self.shared.output).file_size
    }

    /// Writes and fsyncs everything submitted, then stops the thread (shutdown).
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let running = {
            let mut sync = lock(&self.shared.sync);
            if std::mem::replace(&mut sync.stop, true) {
                return;
            }
            self.shared.wake.notify_one();
            sync.running
        };
        if running {
            if let Some(thread) = lock(&self.thread).take() {
                let _ = thread.join();
            }
        } else {
            // No thread: the last pass (write what is carried, fsync what is not synced) runs here.
            sync_loop(self.shared.clone());
        }
    }
}

impl Drop for AppendLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The sync thread: retries failed writes, and fsyncs by the policy; ends once idle for [`IDLE_EXIT`].
fn sync_loop(shared: Arc<Shared>) {
    let mut last_sync = Instant::now();
    let mut last_work = Instant::now();
    loop {
        let (fsync, stop) = {
            let mut sync = lock(&shared.sync);
            loop {
                let written = shared.written.load(Ordering::Acquire);
                let behind = written > shared.synced.load(Ordering::Acquire);
                let failing = lock(&shared.output).error.is_some();
                let due = match sync.fsync {
                    Fsync::Always => behind,
                    Fsync::EverySec => behind && last_sync.elapsed() >= Duration::from_secs(1),
                    Fsync::No => false,
                };
                if sync.stop || due || failing {
                    break;
                }
                let owed = behind && sync.fsync != Fsync::No;
                if !owed && last_work.elapsed() >= IDLE_EXIT {
                    sync.running = false;
                    return;
                }
                let wait = match sync.fsync {
                    Fsync::EverySec if behind => Duration::from_secs(1).saturating_sub(last_sync.elapsed()),
                    _ => Duration::from_secs(1),
                };
                sync.idle = true;
                sync = shared.wake.wait_timeout(sync, wait).map(|r| r.0).unwrap_or_else(|p| p.into_inner().0);
                sync.idle = false;
            }
            (sync.fsync, sync.stop)
        };
        // Retry what a failed write left behind.
        let (target, handle, error) = {
            let mut out = lock(&shared.output);
            let error = if out.carry.is_empty() && out.error.is_none() {
                None
            } else {
                match out.retry() {
                    Ok(()) => {
                        if out.error.take().is_some() {
                            eprintln_log("the append-only log is writable again");
                        }
                        None
                    }
                    Err(e) => {
                        out.error = Some(e.to_string());
                        Some(e)
                    }
                }
            };
            shared.written.store(out.written, Ordering::Release);
            (out.written, out.file.try_clone(), error)
        };
        let mut sync_error = None;
        if target > shared.synced.load(Ordering::Acquire) && (fsync != Fsync::No || stop) {
            // fsync through a second handle, so that writers are not held while the disk works.
            match handle.and_then(|f| f.sync_data()) {
                Ok(()) => {
                    shared.synced.store(target, Ordering::Release);
                    shared.last_fsync_ms.store(unix_ms(), Ordering::Relaxed);
                    last_sync = Instant::now();
                }
                Err(e) => sync_error = Some(e),
            }
        }
        let failing = error.is_some() || sync_error.is_some();
        if let Some(e) = &sync_error {
            eprintln_log(&format!("error syncing the append-only log: {e}; retrying every second"));
            lock(&shared.output).error = Some(e.to_string());
        }
        let durable = if fsync == Fsync::Always { shared.synced.load(Ordering::Acquire) } else { target };
        (shared.report)(Progress { durable, failing });
        last_work = Instant::now();
        if stop {
            lock(&shared.sync).running = false;
            return;
        }
        if failing {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn eprintln_log(message: &str) {
    // keel-persist has no logging dependency: errors go to standard error as well as to `Progress`.
    eprintln!("keel-aof: {message}");
}

/// How reading a log ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// Every byte was a complete command.
    Complete,
    /// The last command was cut off: the log is valid up to `valid` bytes.
    Truncated { valid: u64 },
    /// A malformed byte at `offset`.
    Corrupt { offset: u64, message: String },
}

/// Reads commands from a log file one at a time.
pub struct LogReader<R> {
    input: BufReader<R>,
    offset: u64,
}

/// What reading one command found.
pub enum Next {
    Command(Vec<Vec<u8>>),
    End(LogEnd),
}

impl<R: Read> LogReader<R> {
    pub fn new(inner: R) -> LogReader<R> {
        LogReader { input: BufReader::with_capacity(256 * 1024, inner), offset: 0 }
    }

    /// Offset just past the last complete command.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn line(&mut self, consumed: &mut u64) -> Result<Option<Vec<u8>>, String> {
        let mut line = Vec::new();
        let n = (&mut self.input).take(64).read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        *consumed += n as u64;
        if n == 0 || line.last() != Some(&b'\n') {
            return if n == 64 { Err("line too long".into()) } else { Ok(None) };
        }
        if line.len() < 2 || line[line.len() - 2] != b'\r' {
            return Err("line not terminated by CRLF".into());
        }
        line.truncate(line.len() - 2);
        Ok(Some(line))
    }

    fn number(line: &[u8], prefix: u8) -> Result<u64, String> {
        if line.first() != Some(&prefix) {
            return Err(format!("expected '{}'", prefix as char));
        }
        std::str::from_utf8(&line[1..]).ok().and_then(|s| s.parse().ok()).ok_or_else(|| "invalid number".into())
    }

    /// The next command, or how the log ended.
    pub fn next_command(&mut self) -> Next {
        let start = self.offset;
        let mut consumed = 0u64;
        let truncated = Next::End(LogEnd::Truncated { valid: start });
        let corrupt = |consumed: u64, message: String| Next::End(LogEnd::Corrupt { offset: start + consumed, message });
        let header = match self.line(&mut consumed) {
            Ok(Some(line)) => line,
            Ok(None) if consumed == 0 => return Next::End(LogEnd::Complete),
            Ok(None) => return truncated,
            Err(e) => return corrupt(0, e),
        };
        let argc = match Self::number(&header, b'*') {
            Ok(n) if (1..=1024 * 1024).contains(&n) => n,
            Ok(_) => return corrupt(0, "invalid argument count".into()),
            Err(e) => return corrupt(0, e),
        };
        let mut args = Vec::with_capacity(argc.min(1024) as usize);
        for _ in 0..argc {
            let at = consumed;
            let len = match self.line(&mut consumed) {
                Ok(Some(line)) => match Self::number(&line, b'$') {
                    Ok(n) if n <= 512 * 1024 * 1024 => n,
                    Ok(_) => return corrupt(at, "argument too long".into()),
                    Err(e) => return corrupt(at, e),
                },
                Ok(None) => return truncated,
                Err(e) => return corrupt(at, e),
            };
            let mut arg = Vec::with_capacity(len.min(1 << 20) as usize);
            match (&mut self.input).take(len + 2).read_to_end(&mut arg) {
                Ok(n) if n as u64 == len + 2 => {}
                Ok(_) => return truncated,
                Err(e) => return corrupt(consumed, e.to_string()),
            }
            consumed += len + 2;
            if arg[len as usize..] != *b"\r\n" {
                return corrupt(consumed - 2, "argument not terminated by CRLF".into());
            }
            arg.truncate(len as usize);
            args.push(arg);
        }
        self.offset += consumed;
        Next::Command(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(commands: &[&[&str]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in commands {
            encode_command(&mut out, c);
        }
        out
    }

    fn read_all(bytes: &[u8]) -> (Vec<Vec<Vec<u8>>>, LogEnd) {
        let mut reader = LogReader::new(bytes);
        let mut commands = Vec::new();
        loop {
            match reader.next_command() {
                Next::Command(c) => commands.push(c),
                Next::End(end) => return (commands, end),
            }
        }
    }

    #[test]
    fn reads_back_what_was_encoded() {
        let bytes = log_of(&[&["SET", "k", "v\r\nx"], &["DEL", "k"]]);
        let (commands, end) = read_all(&bytes);
        assert_eq!(end, LogEnd::Complete);
        assert_eq!(commands[0][2], b"v\r\nx");
        assert_eq!(commands.len(), 2);
    }

    #[test]
    fn a_cut_off_tail_is_truncation_at_every_cut() {
        let bytes = log_of(&[&["SET", "k", "value"], &["INCR", "counter"]]);
        let first = log_of(&[&["SET", "k", "value"]]).len() as u64;
        for cut in first + 1..bytes.len() as u64 {
            let (commands, end) = read_all(&bytes[..cut as usize]);
            assert_eq!(commands.len(), 1);
            assert_eq!(end, LogEnd::Truncated { valid: first }, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_in_the_middle_is_corruption_with_its_offset() {
        let mut bytes = log_of(&[&["SET", "k", "v"]]);
        let at = bytes.len() as u64;
        bytes.extend_from_slice(b"+garbage\r\n");
        bytes.extend_from_slice(&log_of(&[&["DEL", "k"]]));
        let (_, end) = read_all(&bytes);
        assert!(matches!(end, LogEnd::Corrupt { offset, .. } if offset == at), "{end:?}");
    }

    #[test]
    fn the_writer_reports_durable_progress() {
        let dir = std::env::temp_dir().join(format!("keel-aof-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.aof");
        let file = File::create(&path).unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let reported = seen.clone();
        let log = AppendLog::open(
            file,
            0,
            Fsync::Always,
            Box::new(move |p| {
                reported.store(p.durable, Ordering::SeqCst);
            }),
        );
        let bytes = log_of(&[&["SET", "a", "1"]]);
        let end = log.submit(&bytes);
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.load(Ordering::SeqCst) < end && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(seen.load(Ordering::SeqCst), end);
        log.close();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The sync thread ends once idle and the next write starts another, which makes that write durable;
    /// closing a log with no thread still writes and fsyncs what it holds.
    #[test]
    fn the_sync_thread_ends_when_idle_and_returns_with_the_next_write() {
        let dir = std::env::temp_dir().join(format!("keel-aof-idle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.aof");
        let seen = Arc::new(AtomicU64::new(0));
        let reported = seen.clone();
        let report = Box::new(move |p: Progress| reported.store(p.durable, Ordering::SeqCst));
        let log = AppendLog::open(File::create(&path).unwrap(), 0, Fsync::Always, report);
        assert!(!log.has_thread(), "nothing written yet: no thread");
        let durable = |end: u64| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while seen.load(Ordering::SeqCst) < end && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            seen.load(Ordering::SeqCst) >= end
        };
        let first = log.submit(&log_of(&[&["SET", "a", "1"]]));
        assert!(log.has_thread() && durable(first));
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.has_thread() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!log.has_thread(), "idle past IDLE_EXIT: the thread ended");
        let second = log.submit(&log_of(&[&["SET", "b", "2"]]));
        assert!(log.has_thread() && durable(second), "a write after it ended is made durable");
        log.close();
        assert_eq!(std::fs::read(&path).unwrap(), log_of(&[&["SET", "a", "1"], &["SET", "b", "2"]]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
