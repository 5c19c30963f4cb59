//! A database's recent rates (commands, hits and misses, evictions, bytes in and out per second) over the
//! last second, minute and hour, for the stats endpoint and the dashboard. The cron task records the
//! running counters once a second; an hour is kept as one sample a minute, so a database's history costs
//! about 8 KB whatever its traffic.

use std::collections::VecDeque;

/// The running counters a rate is taken from (totals since start).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub commands: u64,
    pub hits: u64,
    pub misses: u64,
    pub evicted: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Per-second rates over a window, and the hit rate in it (None when nothing was read).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    pub commands: f64,
    pub evicted: f64,
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub hit_rate: Option<f64>,
}

/// Samples: one a second for the last minute, one a minute for the last hour.
#[derive(Debug, Default)]
pub struct History {
    seconds: VecDeque<(u64, Counters)>,
    minutes: VecDeque<(u64, Counters)>,
}

impl History {
    /// Records the counters as of `now_secs` (once a second; repeated calls within a second are ignored).
    pub fn record(&mut self, now_secs: u64, counters: Counters) {
        if self.seconds.back().is_some_and(|(at, _)| *at >= now_secs) {
            return;
        }
        self.seconds.push_back((now_secs, counters));
        if self.seconds.len() > 61 {
            self.seconds.pop_front();
        }
        if self.minutes.back().is_none_or(|(at, _)| now_secs >= at + 60) {
            self.minutes.push_back((now_secs, counters));
            if self.minutes.len() > 61 {
                self.minutes.pop_front();
            }
        }
    }

    /// Rates over about the last `window_secs` (1, 60 or 3600), from the samples that cover it; zeros
    /// until two samples exist.
    pub fn rates(&self, window_secs: u64) -> Rates {
        let samples = if window_secs > 60 { &self.minutes } else { &self.seconds };
        let Some(&(end_at, end)) = samples.back() else { return Rates::default() };
        let start = samples.iter().find(|(at, _)| end_at - at <= window_secs).filter(|(at, _)| *at < end_at);
        let Some(&start) = start.or_else(|| samples.iter().rev().nth(1)) else { return Rates::default() };
        between(start, (end_at, end))
    }

    /// The rates of each second of the last minute that has a sample before it, oldest first, as (the
    /// second it ended at, rates): what a chart opened now starts with.
    pub fn per_second(&self) -> Vec<(u64, Rates)> {
        let pairs = self.seconds.iter().zip(self.seconds.iter().skip(1));
        pairs.map(|(&start, &end)| (end.0, between(start, end))).collect()
    }
}

/// The rates between two samples (a second apart at least).
fn between((start_at, start): (u64, Counters), (end_at, end): (u64, Counters)) -> Rates {
    let secs = end_at.saturating_sub(start_at).max(1) as f64;
    let per_sec = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
    let (hits, misses) = (end.hits.saturating_sub(start.hits), end.misses.saturating_sub(start.misses));
    Rates {
        commands: per_sec(start.commands, end.commands),
        evicted: per_sec(start.evicted, end.evicted),
        bytes_in: per_sec(start.bytes_in, end.bytes_in),
        bytes_out: per_sec(start.bytes_out, end.bytes_out),
        hit_rate: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(commands: u64, hits: u64, misses: u64) -> Counters {
        Counters { commands, hits, misses, ..Counters::default() }
    }

    #[test]
    fn rates_cover_the_second_the_minute_and_the_hour() {
        let mut history = History::default();
        assert_eq!(history.rates(1), Rates::default());
        // 100 commands a second for two hours, three hits for each miss.
        for s in 0..7200u64 {
            history.record(s, at(s * 100, s * 3, s));
        }
        for window in [1, 60, 3600] {
            let rates = history.rates(window);
            assert_eq!(rates.commands, 100.0, "window {window}");
            assert_eq!(rates.hit_rate, Some(0.75));
        }
        history.record(7200, at(7199 * 100 + 1000, 7199 * 3, 7199));
        assert_eq!(history.rates(1).commands, 1000.0, "the last second's burst");
        assert!(history.rates(60).commands < 120.0, "diluted over the minute");
        assert_eq!(history.rates(1).hit_rate, None, "nothing read in the last second");
        let recent = history.per_second();
        assert_eq!(recent.len(), 60, "the last minute, one rate a second");
        assert_eq!(recent.last().map(|(at, r)| (*at, r.commands)), Some((7200, 1000.0)));
        assert!(recent[..59].iter().all(|(_, r)| r.commands == 100.0));
    }
}
