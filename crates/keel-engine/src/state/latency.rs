//! The latency monitor (Redis's latency.c): events that took at least `latency-monitor-threshold`
//! milliseconds (`command`, `fast-command`, `expire-cycle`), each with its last 160 samples (one per
//! second: a second's worst) and its all-time worst, for LATENCY LATEST, HISTORY, GRAPH and DOCTOR.

use std::collections::{BTreeMap, VecDeque};

/// Samples kept per event.
const SAMPLES: usize = 160;

#[derive(Debug, Default, Clone)]
pub struct Event {
    /// (unix seconds, milliseconds), oldest first.
    pub samples: VecDeque<(u64, u64)>,
    pub max: u64,
}

#[derive(Debug, Default)]
pub struct Latency {
    events: BTreeMap<String, Event>,
}

impl Latency {
    /// Records `ms` for `event` at `now` (a second keeps its worst sample).
    pub fn add(&mut self, event: &str, ms: u64, now: u64) {
        let entry = self.events.entry(event.to_string()).or_default();
        entry.max = entry.max.max(ms);
        match entry.samples.back_mut() {
            Some((time, worst)) if *time == now => *worst = (*worst).max(ms),
            _ => {
                if entry.samples.len() == SAMPLES {
                    entry.samples.pop_front();
                }
                entry.samples.push_back((now, ms));
            }
        }
    }

    pub fn events(&self) -> impl Iterator<Item = (&String, &Event)> {
        self.events.iter()
    }

    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.get(name)
    }

    /// Forgets the named events (all when none are named); how many there were.
    pub fn reset(&mut self, names: &[String]) -> usize {
        if names.is_empty() {
            let count = self.events.len();
            self.events.clear();
            return count;
        }
        names.iter().filter(|name| self.events.remove(name.as_str()).is_some()).count()
    }
}
