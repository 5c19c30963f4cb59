//! Per-command statistics of one database (`INFO commandstats`, `LATENCY HISTOGRAM`, `/metrics`): calls,
//! time, errors and a latency histogram for each command it has run. Kept only for the commands it ran (an
//! index by command id points into them), so a database that runs ten commands holds ten records rather
//! than one per command in the table, and publishing its figures copies those ten.

/// Upper bounds of the command latency histogram buckets, in microseconds (`/metrics`).
pub const LATENCY_BOUNDS_US: [u64; 13] =
    [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 100_000, 1_000_000];

/// Calls, time and errors of one command, as `INFO commandstats` reports them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Calls by duration: `latency[i]` counts those within `LATENCY_BOUNDS_US[i]` and above the bound
    /// before (the last bucket has no upper bound).
    pub latency: [u64; LATENCY_BOUNDS_US.len() + 1],
}

impl CommandStat {
    pub fn record(&mut self, elapsed_us: u64) {
        self.calls += 1;
        self.usec += elapsed_us;
        let bucket = LATENCY_BOUNDS_US.iter().position(|&bound| elapsed_us <= bound).unwrap_or(LATENCY_BOUNDS_US.len());
        self.latency[bucket] += 1;
    }
}

/// The statistics of the commands a database ran, by command id.
#[derive(Debug, Default, Clone)]
pub struct CommandStats {
    /// For each command id, 1 + its record's place in `ran`, or 0 before it first ran.
    index: Vec<u16>,
    ran: Vec<CommandStat>,
}

/// What a command that never ran reports.
const NEVER_RAN: CommandStat =
    CommandStat { calls: 0, usec: 0, rejected: 0, failed: 0, latency: [0; LATENCY_BOUNDS_US.len() + 1] };

impl CommandStats {
    /// Statistics for a table of `commands` commands, none run yet.
    pub fn new(commands: usize) -> CommandStats {
        CommandStats { index: vec![0; commands], ran: Vec::new() }
    }

    /// The command `id`'s statistics (all zero before it first ran).
    pub fn get(&self, id: usize) -> &CommandStat {
        match self.index.get(id) {
            Some(&at) if at > 0 => &self.ran[usize::from(at) - 1],
            _ => &NEVER_RAN,
        }
    }

    /// The command `id`'s statistics, to update.
    pub fn at(&mut self, id: usize) -> &mut CommandStat {
        let at = match self.index.get(id) {
            Some(&at) if at > 0 => usize::from(at) - 1,
            _ => {
                self.ran.push(CommandStat::default());
                if let Some(slot) = self.index.get_mut(id) {
                    *slot = self.ran.len() as u16;
                }
                self.ran.len() - 1
            }
        };
        &mut self.ran[at]
    }

    /// The statistics of every command that ran, in no particular order.
    pub fn ran(&self) -> &[CommandStat] {
        &self.ran
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * std::mem::size_of::<u16>() + self.ran.capacity() * std::mem::size_of::<CommandStat>()
    }

    /// Forgets everything (CONFIG RESETSTAT).
    pub fn reset(&mut self) {
        self.index.iter_mut().for_each(|at| *at = 0);
        self.ran = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commands_that_ran_hold_records() {
        let mut stats = CommandStats::new(400);
        assert_eq!(stats.get(7), &NEVER_RAN);
        stats.at(7).record(30);
        stats.at(7).record(2_000_000);
        stats.at(3).rejected += 1;
        assert_eq!((stats.get(7).calls, stats.get(7).usec), (2, 2_000_030));
        assert_eq!(stats.get(7).latency[2], 1);
        assert_eq!(stats.get(7).latency[LATENCY_BOUNDS_US.len()], 1);
        assert_eq!(stats.get(3).rejected, 1);
        assert_eq!(stats.ran().len(), 2);
        assert_eq!(stats.get(399), &NEVER_RAN);
        assert_eq!(stats.get(4000), &NEVER_RAN, "an id past the table reads as never run");
        stats.reset();
        assert_eq!((stats.get(7), stats.ran().len()), (&NEVER_RAN, 0));
    }
}
