//! `keel check FILE [--fix]`: what `redis-check-rdb` and `redis-check-aof` do, for either kind of file and
//! for a log's manifest (which checks every file it names). A log with a cut-off or corrupt tail can be
//! repaired by truncating it to its last complete command; an RDB file can only be reported.

use crate::aof::{LogEnd, LogReader, Next};
use crate::manifest::{self, Manifest};
use crate::{rdb, Limits};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// What checking found, as lines for a person, and whether everything is (now) sound.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub ok: bool,
}

/// Checks `path` (an RDB file, a log, or a manifest); with `fix`, truncates a damaged log.
pub fn check(path: &Path, fix: bool) -> Report {
    check_reporting(path, fix, &mut |_, _, _| {})
}

/// [`check`], calling `progress` with the file being read, the bytes read and its size every few thousand
/// entries (for a terminal's progress line).
pub fn check_reporting(path: &Path, fix: bool, progress: &mut dyn FnMut(&Path, u64, u64)) -> Report {
    let mut report = Report { lines: Vec::new(), ok: true };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.ends_with(".manifest") {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => return failed(report, format!("{}: {e}", path.display())),
        };
        let m = match Manifest::parse(&text) {
            Ok(m) => m,
            Err(e) => return failed(report, format!("{}: {e}", path.display())),
        };
        report.lines.push(format!("{}: manifest names {} files", path.display(), m.parts.len()));
        let dir = path.parent().unwrap_or(Path::new("."));
        for part_path in manifest::paths(dir, &m) {
            let part = check_reporting(&part_path, fix, progress);
            report.ok &= part.ok;
            report.lines.extend(part.lines);
        }
        return report;
    }
    let mut magic = [0u8; 5];
    let is_rdb = File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"REDIS";
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut read = |done: u64| progress(path, done, size);
    if is_rdb {
        check_rdb(path, report, &mut read)
    } else {
        check_log(path, fix, report, &mut read)
    }
}

fn failed(mut report: Report, line: String) -> Report {
    report.lines.push(line);
    report.ok = false;
    report
}

/// Entries between two progress reports.
const PROGRESS_EVERY: u64 = 4096;

fn check_rdb(path: &Path, mut report: Report, progress: &mut dyn FnMut(u64)) -> Report {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return failed(report, format!("{}: {e}", path.display())),
    };
    let limits = Limits { max_string: u64::MAX >> 1, ..Limits::default() };
    let mut entries = 0u64;
    let loaded = rdb::load(BufReader::new(file), &limits, usize::MAX, |entry| {
        entries += 1;
        if entries.is_multiple_of(PROGRESS_EVERY) {
            progress(entry.offset);
        }
    });
    match loaded {
        Ok(summary) => {
            report.lines.push(format!(
                "{}: RDB version {}, {} keys, {} bytes, checksum OK",
                path.display(),
                summary.version,
                summary.keys,
                summary.bytes
            ));
            report
        }
        Err(e) => failed(report, format!("{}: corrupt RDB: {} at byte offset {}", path.display(), e.message, e.offset)),
    }
}

fn check_log(path: &Path, fix: bool, mut report: Report, progress: &mut dyn FnMut(u64)) -> Report {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return failed(report, format!("{}: {e}", path.display())),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = LogReader::new(file);
    let mut commands = 0u64;
    let end = loop {
        match reader.next_command() {
            Next::Command(_) => {
                commands += 1;
                if commands.is_multiple_of(PROGRESS_EVERY) {
                    progress(reader.offset());
                }
            }
            Next::End(end) => break end,
        }
    };
    let (valid, problem) = match end {
        LogEnd::Complete => {
            report.lines.push(format!("{}: log OK, {commands} commands, {size} bytes", path.display()));
            return report;
        }
        LogEnd::Truncated { valid } => {
            (valid, format!("the last command is cut off: {} bytes after offset {valid} are incomplete", size - valid))
        }
        LogEnd::Corrupt { offset, message } => {
            (reader.offset(), format!("corrupt at byte offset {offset} ({message}); {commands} commands before it"))
        }
    };
    if !fix {
        return failed(
            report,
            format!("{}: {problem}; run with --fix to truncate it to {valid} bytes", path.display()),
        );
    }
    let truncated = std::fs::OpenOptions::new().write(true).open(path).and_then(|f| {
        f.set_len(valid)?;
        f.sync_all()
    });
    match truncated {
        Ok(()) => {
            report.lines.push(format!(
                "{}: {problem}; fixed: truncated to {valid} bytes ({} bytes dropped)",
                path.display(),
                size - valid
            ));
            report
        }
        Err(e) => failed(report, format!("{}: {problem}; cannot truncate: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::encode_command;

    #[test]
    fn fix_truncates_a_cut_off_log() {
        let dir = std::env::temp_dir().join(format!("keel-check-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.aof");
        let mut bytes = Vec::new();
        encode_command(&mut bytes, &["SET", "a", "1"]);
        let good = bytes.len();
        bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r");
        std::fs::write(&path, &bytes).unwrap();
        assert!(!check(&path, false).ok);
        let fixed = check(&path, true);
        assert!(fixed.ok, "{:?}", fixed.lines);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good as u64);
        assert!(check(&path, false).ok);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn progress_is_reported_while_a_long_log_is_read() {
        let dir = std::env::temp_dir().join(format!("keel-check-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("long.aof");
        let mut bytes = Vec::new();
        for i in 0..3 * PROGRESS_EVERY {
            encode_command(&mut bytes, &["SET", &i.to_string(), "v"]);
        }
        std::fs::write(&path, &bytes).unwrap();
        let mut seen = Vec::new();
        let report = check_reporting(&path, false, &mut |_, done, size| seen.push((done, size)));
        assert!(report.ok, "{:?}", report.lines);
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0) && seen.iter().all(|&(done, size)| done <= size));
        assert_eq!(seen[2], (bytes.len() as u64, bytes.len() as u64));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
