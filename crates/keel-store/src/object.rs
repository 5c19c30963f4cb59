//! Access metadata kept with every key, as Redis keeps it in `robj->lru`: the last access time in seconds
//! (for LRU and OBJECT IDLETIME) or, under an LFU policy, a logarithmic access counter with its decay time.

use rand::Rng;

/// The counter a new key starts with under LFU, so that it is not evicted before it had a chance.
pub const LFU_INIT_VAL: u8 = 5;
/// Redis's LRU clock has 24 bits of seconds.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// What an access records: the time, and the LFU parameters when an LFU policy is active.
#[derive(Debug, Clone, Copy)]
pub struct AccessClock {
    pub now_ms: u64,
    /// `(lfu-log-factor, lfu-decay-time)` when the eviction policy is LFU.
    pub lfu: Option<(u32, u32)>,
}

impl AccessClock {
    pub fn lru(now_ms: u64) -> Self {
        AccessClock { now_ms, lfu: None }
    }

    fn lru_clock(&self) -> u32 {
        ((self.now_ms / 1000) as u32) & LRU_CLOCK_MAX
    }

    fn minutes(&self) -> u32 {
        ((self.now_ms / 60_000) as u32) & 0xffff
    }

    /// The metadata for a key created now.
    pub fn initial(&self) -> u32 {
        match self.lfu {
            Some(_) => (self.minutes() << 8) | LFU_INIT_VAL as u32,
            None => self.lru_clock(),
        }
    }

    /// The metadata after one more access.
    pub fn touched(&self, previous: u32) -> u32 {
        match self.lfu {
            Some((log_factor, decay)) => {
                let counter = lfu_decay(previous, self.now_ms, decay);
                let counter = lfu_log_incr(counter, log_factor, &mut rand::thread_rng());
                (self.minutes() << 8) | counter as u32
            }
            None => self.lru_clock(),
        }
    }

    /// The LRU metadata of a key last accessed `idle` seconds ago (RESTORE IDLETIME).
    pub fn idle_since(&self, idle: u64) -> u32 {
        let idle = (idle.min(LRU_CLOCK_MAX as u64)) as u32;
        let clock = self.lru_clock();
        if clock >= idle {
            clock - idle
        } else {
            LRU_CLOCK_MAX - (idle - clock)
        }
    }

    /// The LFU metadata of a key with access counter `counter` (RESTORE FREQ).
    pub fn with_counter(&self, counter: u8) -> u32 {
        (self.minutes() << 8) | counter as u32
    }

    /// Seconds since the last access recorded in `meta` (LRU form).
    pub fn idle_seconds(&self, meta: u32) -> u64 {
        let clock = self.lru_clock();
        let meta = meta & LRU_CLOCK_MAX;
        if clock >= meta {
            (clock - meta) as u64
        } else {
            (clock + (LRU_CLOCK_MAX - meta)) as u64
        }
    }
}

/// Redis's `LFUDecrAndReturn`: the counter in `meta` minus one per `decay_minutes` elapsed.
pub fn lfu_decay(meta: u32, now_ms: u64, decay_minutes: u32) -> u8 {
    let last = meta >> 8;
    let counter = (meta & 0xff) as u8;
    let now = ((now_ms / 60_000) as u32) & 0xffff;
    let elapsed = if now >= last { now - last } else { 65535 - last + now };
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods.min(255) as u8)
}

/// Redis's `LFULogIncr`: increments with probability 1 / ((counter - LFU_INIT_VAL) * factor + 1).
pub fn lfu_log_incr(counter: u8, log_factor: u32, rng: &mut impl Rng) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if rng.gen::<f64>() < p {
        counter + 1
    } else {
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut rng = rand::thread_rng();
        let mut counter = LFU_INIT_VAL;
        for _ in 0..1000 {
            counter = lfu_log_incr(counter, 10, &mut rng);
        }
        assert!(counter > LFU_INIT_VAL && counter < 40, "counter {counter}");
        let meta = (1u32 << 8) | 20;
        assert_eq!(lfu_decay(meta, 11 * 60_000, 1), 10);
        assert_eq!(lfu_decay(meta, 100 * 60_000, 1), 0);
        assert_eq!(lfu_decay(meta, 100 * 60_000, 0), 20);
    }

    #[test]
    fn lru_idle_time_wraps() {
        let clock = AccessClock::lru(10_000);
        assert_eq!(clock.idle_seconds(clock.initial()), 0);
        assert_eq!(clock.idle_seconds(4), 6);
    }
}
