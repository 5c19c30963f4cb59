//! Usage meters per database and per UTC day: commands, bytes in and out, hits and misses, peak storage
//! and peak connections, with the cost under the database's plan. The cron task folds the running
//! counters into today's entry and keeps them in `<database dir>/usage.json`, so meters survive restarts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A plan's prices in US dollars, from the `[plans.<name>]` tables of `keel.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Per 100,000 commands.
    #[serde(default)]
    pub per_100k_commands: f64,
    /// A flat price per day the database exists (a fixed monthly plan spread over its days).
    #[serde(default)]
    pub per_day: f64,
}

/// Plans by name.
pub type Plans = BTreeMap<String, Plan>;

/// The plans a Keel knows without configuration: pay-as-you-go at $0.20 per 100,000 commands (Upstash's
/// price), and a free plan. `keel.toml` may change their prices or add plans.
pub fn default_plans() -> Plans {
    let plan = |per_100k_commands, per_day| Plan { per_100k_commands, per_day };
    Plans::from([("payg".to_string(), plan(0.20, 0.0)), ("free".to_string(), plan(0.0, 0.0))])
}

/// One day of one database.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Day {
    pub commands: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub peak_storage: u64,
    pub peak_connections: u64,
}

/// The running counters connections add to without a lock (totals since start, which INFO shows), and the
/// days they were folded into.
#[derive(Default)]
pub struct Meters {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Connections that logged in to the database since start.
    pub connections_received: AtomicU64,
    state: parking_lot::Mutex<State>,
}

#[derive(Default)]
struct State {
    days: BTreeMap<String, Day>,
    /// Totals already folded into days (the keyspace's counters restart with the process).
    folded_commands: u64,
    folded_hits: u64,
    folded_misses: u64,
    folded_bytes_in: u64,
    folded_bytes_out: u64,
    changed: bool,
    last_save_unix: u64,
}

/// What the cron task reads from a database for its meters.
pub struct Sample {
    pub commands: u64,
    pub hits: u64,
    pub misses: u64,
    pub storage: u64,
    pub connections: u64,
}

/// `YYYY-MM-DD` of a Unix time, in UTC (Howard Hinnant's civil-from-days).
pub fn utc_day(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!("{year:04}-{month:02}-{day:02}")
}

fn file(dir: &Path) -> PathBuf {
    dir.join("usage.json")
}

impl Meters {
    /// Meters with the days kept in `dir` (none yet: empty).
    pub fn load(dir: &Path) -> Meters {
        let days = std::fs::read(file(dir))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<BTreeMap<String, Day>>(&bytes).ok())
            .unwrap_or_default();
        Meters { state: parking_lot::Mutex::new(State { days, ..State::default() }), ..Meters::default() }
    }

    /// Folds what happened since the last call into the day of `unix_secs`.
    pub fn fold(&self, sample: &Sample, unix_secs: u64) {
        let mut state = self.state.lock();
        let today = state.days.entry(utc_day(unix_secs)).or_default().clone();
        let mut day = today;
        // The keyspace's counters restart at 0 with the process (and CONFIG RESETSTAT): count from there.
        let delta = |now: u64, folded: u64| if now >= folded { now - folded } else { now };
        day.commands += delta(sample.commands, state.folded_commands);
        day.keyspace_hits += delta(sample.hits, state.folded_hits);
        day.keyspace_misses += delta(sample.misses, state.folded_misses);
        let (bytes_in, bytes_out) = (self.bytes_in.load(Ordering::Relaxed), self.bytes_out.load(Ordering::Relaxed));
        day.bytes_in += bytes_in - state.folded_bytes_in;
        day.bytes_out += bytes_out - state.folded_bytes_out;
        (state.folded_bytes_in, state.folded_bytes_out) = (bytes_in, bytes_out);
        day.peak_storage = day.peak_storage.max(sample.storage);
        day.peak_connections = day.peak_connections.max(sample.connections);
        state.folded_commands = sample.commands;
        state.folded_hits = sample.hits;
        state.folded_misses = sample.misses;
        let key = utc_day(unix_secs);
        if state.days.get(&key) != Some(&day) {
            state.changed = true;
            state.days.insert(key, day);
        }
    }

    /// Takes `sample`'s counters as already counted, without billing them: what replaying the log at start
    /// ran again was billed when clients first ran it.
    pub fn baseline(&self, sample: &Sample) {
        let mut state = self.state.lock();
        state.folded_commands = sample.commands;
        state.folded_hits = sample.hits;
        state.folded_misses = sample.misses;
    }

    /// [`Meters::save`], at most once every `every_secs`.
    pub fn save_if_due(&self, dir: &Path, now_unix: u64, every_secs: u64) {
        let due = now_unix >= self.state.lock().last_save_unix + every_secs;
        if due {
            self.save(dir);
            self.state.lock().last_save_unix = now_unix;
        }
    }

    /// Writes the days to `dir` when they changed since the last save.
    pub fn save(&self, dir: &Path) {
        let json = {
            let mut state = self.state.lock();
            if !state.changed {
                return;
            }
            state.changed = false;
            serde_json::to_vec(&state.days).unwrap_or_default()
        };
        let path = file(dir);
        if let Err(e) = keel_persist::private_file::replace(&path, &json) {
            tracing::warn!("cannot save the usage meters to {}: {e}", path.display());
        }
    }

    /// Every day, oldest first.
    pub fn days(&self) -> Vec<(String, Day)> {
        self.state.lock().days.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// The cost of `days` days with `commands` commands under `plan`, in US dollars, rounded to a millionth.
/// A plan since removed from the configuration costs nothing rather than failing the usage report.
pub fn cost(plan: Option<&Plan>, days: u64, commands: u64) -> f64 {
    let dollars = plan.map_or(0.0, |p| commands as f64 / 100_000.0 * p.per_100k_commands + days as f64 * p.per_day);
    (dollars * 1_000_000.0).round() / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400), "2000-02-29");
        assert_eq!(utc_day(1_795_342_491), "2026-11-22");
    }

    #[test]
    fn folding_counts_deltas_and_survives_a_reload() {
        let dir = std::env::temp_dir().join(format!("keel-meters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let meters = Meters::load(&dir);
        let sample = |commands| Sample { commands, hits: 1, misses: 0, storage: 100, connections: 2 };
        meters.bytes_in.fetch_add(10, Ordering::Relaxed);
        meters.fold(&sample(5), 86_400);
        meters.fold(&sample(8), 86_400 + 60);
        meters.fold(&sample(9), 2 * 86_400);
        meters.save(&dir);
        let reloaded = Meters::load(&dir);
        let days = reloaded.days();
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].1.commands, days[0].1.bytes_in, days[1].1.commands), (8, 10, 1));
        // A restarted process counts from zero again.
        reloaded.fold(&sample(3), 2 * 86_400);
        assert_eq!(reloaded.days()[1].1.commands, 4);
        let plans = default_plans();
        assert_eq!(cost(plans.get("payg"), 1, 100_000), 0.2);
        assert_eq!(cost(Some(&Plan { per_100k_commands: 0.0, per_day: 0.5 }), 2, 100_000), 1.0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
