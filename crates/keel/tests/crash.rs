//! Crash tests: Keel is killed with SIGKILL at random moments while clients write, then restarted on the same
//! directory; every write it acknowledged must be there, under `appendfsync always` and `everysec` alike
//! (both write to the OS before acknowledging; they differ in what a power failure, which these tests cannot
//! cause, would lose). Rounds also kill it in the middle of a snapshot and of a log compaction.

mod common;

use common::{free_port, keel, temp_dir};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 4;

/// A running Keel, killed when dropped (also when a failing assertion unwinds).
struct Keel(Child);

impl Drop for Keel {
    fn drop(&mut self) {
        kill9(&mut self.0);
    }
}

fn start(dir: &Path, port: u16, fsync: &str) -> Keel {
    let child = keel()
        .args(["serve", "--http-port", "0", "--port", &port.to_string(), "--appendfsync", fsync, "--save", ""])
        .arg("--dir")
        .arg(dir)
        .env("KEEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Keel(child)
}

fn kill9(child: &mut Child) {
    // std sends SIGKILL; the process gets no chance to flush or clean up.
    let _ = child.kill();
    let _ = child.wait();
}

/// What one writer got acknowledged: the last INCR reply and the keys it SET.
#[derive(Default)]
struct Acked {
    last_incr: i64,
    keys: Vec<String>,
}

/// Writers alternate INCR on their counter and SET of a fresh key until the server goes away.
fn spawn_writers(port: u16, round: usize, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Acked>> {
    (0..WRITERS)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = Acked::default();
                let Ok(mut con) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection()
                else {
                    return acked;
                };
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match redis::cmd("INCR").arg(format!("counter:{w}")).query::<i64>(&mut con) {
                        Ok(v) => acked.last_incr = v,
                        Err(_) => break,
                    }
                    let key = format!("r{round}:w{w}:{n}");
                    match redis::cmd("SET").arg(&key).arg(n).query::<()>(&mut con) {
                        Ok(()) => acked.keys.push(key),
                        Err(_) => break,
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect()
}

/// Runs rounds of write-then-SIGKILL-then-restart; `before_kill` may start a snapshot or a compaction.
fn crash_rounds(name: &str, fsync: &str, rounds: usize, before_kill: Option<&str>, populate: usize) {
    let dir = temp_dir(&format!("crash-{name}"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b65656c ^ rounds as u64);
    let port = free_port();
    let mut child = start(&dir, port, fsync);
    let mut con = common::connect(port, None);
    if populate > 0 {
        let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(populate).query(&mut con).unwrap();
        // DEBUG POPULATE is not logged (as in Redis): compact so that the data is durable.
        let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
        wait_idle(&mut con);
    }
    let mut counters = [0i64; WRITERS];
    let mut lost_total = 0usize;
    let mut acked_total = 0usize;
    let mut killed_mid_job = 0usize;
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = spawn_writers(port, round, stop.clone());
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..120)));
        if let Some(command) = before_kill {
            let _: redis::RedisResult<String> = redis::cmd(command).query(&mut con);
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..30)));
            let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap_or_default();
            if info.contains("rdb_bgsave_in_progress:1") || info.contains("aof_rewrite_in_progress:1") {
                killed_mid_job += 1;
            }
        }
        kill9(&mut child.0);
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<Acked> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        acked_total += acked.iter().map(|a| a.keys.len() + a.last_incr as usize).sum::<usize>();
        child = start(&dir, port, fsync);
        con = common::connect(port, None);
        for (w, a) in acked.iter().enumerate() {
            let counter: i64 =
                redis::cmd("GET").arg(format!("counter:{w}")).query::<Option<i64>>(&mut con).unwrap().unwrap_or(0);
            let lost = a.keys.iter().filter(|k| !redis::cmd("EXISTS").arg(k).query::<bool>(&mut con).unwrap());
            // Both policies write to the OS before acknowledging, so a killed process loses nothing; the
            // policies differ only in what a power failure could lose (up to a second under everysec).
            let lost: Vec<_> = lost.collect();
            lost_total += lost.len();
            assert!(
                counter >= a.last_incr,
                "round {round}: counter:{w} is {counter}, {} was acknowledged",
                a.last_incr
            );
            assert!(
                lost.is_empty(),
                "round {round}: writer {w} lost acknowledged SETs: {:?}",
                &lost[..lost.len().min(3)]
            );
            assert!(counter >= counters[w], "round {round}: counter:{w} went back from {} to {counter}", counters[w]);
            counters[w] = counter;
        }
    }
    drop(child);
    eprintln!(
        "{name}: {rounds} rounds, {acked_total} writes acknowledged, {lost_total} lost, {killed_mid_job} kills during a job"
    );
    assert!(acked_total > rounds * 10, "the writers wrote");
    if before_kill.is_some() {
        assert!(killed_mid_job > 0, "at least one kill landed while the job ran");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_idle(con: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("rdb_bgsave_in_progress:0") {
            return;
        }
        assert!(Instant::now() < deadline, "background job did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn always_loses_no_acknowledged_write_across_sigkills() {
    crash_rounds("always", "always", 20, None, 0);
}

#[test]
fn everysec_loses_at_most_about_a_second() {
    crash_rounds("everysec", "everysec", 5, None, 0);
}

#[test]
fn a_sigkill_during_a_snapshot_loses_nothing() {
    crash_rounds("snapshot", "always", 5, Some("BGSAVE"), 200_000);
}

#[test]
fn a_sigkill_during_log_compaction_loses_nothing() {
    crash_rounds("compaction", "always", 5, Some("BGREWRITEAOF"), 200_000);
}

/// A full disk, simulated with a file-size limit (`prlimit`): writes are refused with MISCONF while the log
/// cannot grow, reads, PING and INFO keep working, and once there is room again the server takes writes and
/// nothing it acknowledged is lost.
#[test]
fn a_full_disk_refuses_writes_until_there_is_room_again() {
    full_disk("everysec");
}

/// The same under `appendfsync always`, where the write that meets the full disk waits for durability
/// that cannot come: it answers MISCONF too, and the connection stays.
#[test]
fn a_full_disk_under_appendfsync_always_answers_misconf_and_keeps_reads() {
    full_disk("always");
}

fn full_disk(fsync: &str) {
    let dir = temp_dir(&format!("crash-full-disk-{fsync}"));
    let port = free_port();
    let child = Command::new("prlimit")
        .arg("--fsize=400000:unlimited")
        .arg(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--http-port", "0", "--port", &port.to_string(), "--save", "", "--appendfsync", fsync])
        .arg("--dir")
        .arg(&dir)
        .env("KEEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let keel_pid = child.id();
    let server = Keel(child);
    let mut con = common::connect(port, None);
    let value = "v".repeat(1000);
    let mut acknowledged = Vec::new();
    let refusal = loop {
        let key = format!("k{}", acknowledged.len());
        match redis::cmd("SET").arg(&key).arg(&value).query::<()>(&mut con) {
            Ok(()) => acknowledged.push(key),
            Err(e) => break e,
        }
        assert!(acknowledged.len() < 10_000, "the file-size limit never bit");
    };
    assert_eq!(refusal.code(), Some("MISCONF"), "{refusal}");
    assert!(refusal.to_string().contains("Errors writing to the AOF file"), "{refusal}");
    let read: String = redis::cmd("GET").arg("k0").query(&mut con).unwrap();
    assert_eq!(read, value, "reads keep working");
    assert_eq!(redis::cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    let again = redis::cmd("SET").arg("refused").arg("x").query::<()>(&mut con).unwrap_err();
    assert_eq!(again.code(), Some("MISCONF"), "{again}");
    let raised = Command::new("prlimit").arg(format!("--pid={keel_pid}")).arg("--fsize=unlimited:unlimited").status();
    assert!(raised.unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match redis::cmd("SET").arg("after").arg("room").query::<()>(&mut con) {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline && e.code() == Some("MISCONF"), "{e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
    let restarted = start(&dir, port, "everysec");
    let mut con = common::connect(port, None);
    for key in &acknowledged {
        assert!(redis::cmd("EXISTS").arg(key).query::<bool>(&mut con).unwrap(), "{key} was acknowledged");
    }
    assert_eq!(redis::cmd("GET").arg("after").query::<String>(&mut con).unwrap(), "room");
    drop(restarted);
    let _ = std::fs::remove_dir_all(&dir);
}
