//! The append-only log: commands in RESP, as Redis's AOF holds them. [`AppendLog`] owns the file and a
//! writer thread; command execution only copies bytes into its queue. The thread writes what is queued and
//! fsyncs by the policy: `always` syncs before reporting progress, so everyone waiting on it is acknowledged
//! by one fsync (group commit); `everysec` syncs at most once a second; `no` leaves it to the OS.
//! [`LogReader`] reads a log back command by command and tells a cut-off tail from corruption.

use std::collections::VecDeque;
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

struct State {
    queue: Vec<u8>,
    /// Total bytes ever queued.
    queued: u64,
    /// Files to switch to once the bytes before their offset are written (log compaction).
    switches: VecDeque<(u64, File)>,
    fsync: Fsync,
    idle: bool,
    stop: bool,
    error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    written: AtomicU64,
    synced: AtomicU64,
    /// Unix milliseconds of the last successful fsync.
    last_fsync_ms: AtomicU64,
    /// Bytes in the current file.
    file_size: AtomicU64,
    report: Box<dyn Fn(Progress) + Send + Sync>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An open log with its writer thread.
pub struct AppendLog {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AppendLog {
    /// Opens `file` (positioned at its end, `size` bytes long) for appending. `report` is called from the
    /// writer thread whenever durable progress or the failure state changes.
    pub fn open(file: File, size: u64, fsync: Fsync, report: Box<dyn Fn(Progress) + Send + Sync>) -> AppendLog {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: Vec::new(),
                queued: 0,
                switches: VecDeque::new(),
                fsync,
                idle: false,
                stop: false,
                error: None,
            }),
            wake: Condvar::new(),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            last_fsync_ms: AtomicU64::new(unix_ms()),
            file_size: AtomicU64::new(size),
            report,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("keel-aof".into())
            .spawn(move || writer(thread_shared, file))
            .ok();
        AppendLog { shared, thread }
    }

    /// Queues bytes; returns the offset just past them (what a client waits for under `always`).
    pub fn submit(&self, bytes: &[u8]) -> u64 {
        let mut state = lock(&self.shared.state);
        state.queue.extend_from_slice(bytes);
        state.queued += bytes.len() as u64;
        if state.idle {
            state.idle = false;
            self.shared.wake.notify_one();
        }
        state.queued
    }

    /// Total bytes queued so far.
    pub fn queued(&self) -> u64 {
        lock(&self.shared.state).queued
    }

    /// From the bytes queued after this call on, writes go to `file` (the next file of a compacted log).
    pub fn switch_to(&self, file: File) {
        let mut state = lock(&self.shared.state);
        let at = state.queued;
        state.switches.push_back((at, file));
        state.idle = false;
        self.shared.wake.notify_one();
    }

    pub fn set_fsync(&self, fsync: Fsync) {
        lock(&self.shared.state).fsync = fsync;
    }

    pub fn fsync_policy(&self) -> Fsync {
        lock(&self.shared.state).fsync
    }

    /// The last write error, while writes are failing.
    pub fn error(&self) -> Option<String> {
        lock(&self.shared.state).error.clone()
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

    /// Bytes in the file currently written.
    pub fn file_size(&self) -> u64 {
        self.shared.file_size.load(Ordering::Relaxed)
    }

    /// Writes and fsyncs everything queued, then stops the thread (shutdown).
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        {
            let mut state = lock(&self.shared.state);
            state.stop = true;
            self.shared.wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AppendLog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Writes `bytes` fully, retrying after interruptions; returns how much was written before an error.
fn write_fully(file: &mut File, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
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

fn writer(shared: Arc<Shared>, mut file: File) {
    // Bytes taken from the queue and not yet written (kept across failed attempts, in order).
    let mut carry: Vec<u8> = Vec::new();
    // Offset (in queued bytes) of the first byte of `carry`.
    let mut carry_at: u64 = 0;
    let mut last_sync = Instant::now();
    let mut unsynced = false;
    let mut failing = false;
    loop {
        let (fsync, stop, mut switches) = {
            let mut state = lock(&shared.state);
            loop {
                if !state.queue.is_empty() || state.stop || !state.switches.is_empty() || failing {
                    break;
                }
                if unsynced && state.fsync == Fsync::EverySec {
                    let left = Duration::from_secs(1).saturating_sub(last_sync.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    state.idle = true;
                    state = shared.wake.wait_timeout(state, left).map(|r| r.0).unwrap_or_else(|p| p.into_inner().0);
                } else {
                    state.idle = true;
                    state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            }
            state.idle = false;
            carry.extend_from_slice(&state.queue);
            state.queue.clear();
            (state.fsync, state.stop, std::mem::take(&mut state.switches))
        };
        // Write the carried bytes, switching files at the offsets compaction asked for.
        let mut error = None;
        while !carry.is_empty() || !switches.is_empty() {
            let boundary = switches.front().map(|(at, _)| *at);
            let upto = match boundary {
                Some(at) => (at.saturating_sub(carry_at) as usize).min(carry.len()),
                None => carry.len(),
            };
            let (n, failed) = write_fully(&mut file, &carry[..upto]);
            carry.drain(..n);
            carry_at += n as u64;
            shared.file_size.fetch_add(n as u64, Ordering::Relaxed);
            if n > 0 {
                unsynced = true;
            }
            if let Some(e) = failed {
                error = Some(e);
                break;
            }
            match boundary {
                Some(at) if carry_at >= at => {
                    let Some((_, next)) = switches.pop_front() else { break };
                    // The old file must be complete on disk before the manifest stops naming it.
                    if let Err(e) = file.sync_data() {
                        error = Some(e);
                        switches.push_front((at, next));
                        break;
                    }
                    file = next;
                    shared.file_size.store(0, Ordering::Relaxed);
                }
                _ => break,
            }
        }
        if error.is_none() && !switches.is_empty() {
            // Put back switches beyond what was queued so far.
            let mut state = lock(&shared.state);
            while let Some(s) = switches.pop_back() {
                state.switches.push_front(s);
            }
        }
        shared.written.store(carry_at, Ordering::Release);
        let due = match fsync {
            Fsync::Always => unsynced,
            Fsync::EverySec => unsynced && (last_sync.elapsed() >= Duration::from_secs(1) || stop),
            Fsync::No => unsynced && stop,
        };
        if error.is_none() && due {
            match file.sync_data() {
                Ok(()) => {
                    shared.synced.store(carry_at, Ordering::Release);
                    shared.last_fsync_ms.store(unix_ms(), Ordering::Relaxed);
                    last_sync = Instant::now();
                    unsynced = false;
                }
                Err(e) => error = Some(e),
            }
        }
        let durable = if fsync == Fsync::Always { shared.synced.load(Ordering::Acquire) } else { carry_at };
        match error {
            Some(e) => {
                if !failing {
                    eprintln_log(&format!("error writing to the append-only log: {e}; retrying every second"));
                }
                failing = true;
                lock(&shared.state).error = Some(e.to_string());
                (shared.report)(Progress { durable, failing: true });
                if stop {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            None => {
                if failing {
                    eprintln_log("the append-only log is writable again");
                    failing = false;
                    lock(&shared.state).error = None;
                }
                (shared.report)(Progress { durable, failing: false });
                if stop {
                    let _ = file.sync_data();
                    return;
                }
            }
        }
    }
}

fn eprintln_log(message: &str) {
    // keel-persist has no logging dependency; the server's tracing subscriber does not see this thread's
    // events otherwise, so errors go to standard error as well as to `Progress`.
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
}
