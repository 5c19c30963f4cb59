//! The slow log (`SLOWLOG GET|LEN|RESET`): commands that took longer than `slowlog-log-slower-than`
//! microseconds, with arguments trimmed as Redis trims them (32 arguments, 128 bytes each).

use std::collections::VecDeque;

const MAX_ARGS: usize = 32;
const MAX_ARG_LEN: usize = 128;

pub struct SlowEntry {
    pub id: u64,
    pub time_unix: u64,
    pub duration_us: u64,
    pub args: Vec<Vec<u8>>,
    pub client_addr: String,
    pub client_name: String,
}

#[derive(Default)]
pub struct SlowLog {
    pub entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    pub fn record(&mut self, entry_args: &[&[u8]], duration_us: u64, client: (String, String), max_len: usize) {
        let mut args: Vec<Vec<u8>> = Vec::with_capacity(entry_args.len().min(MAX_ARGS));
        for (i, arg) in entry_args.iter().enumerate() {
            if i == MAX_ARGS - 1 && entry_args.len() > MAX_ARGS {
                let more = entry_args.len() - i;
                args.push(format!("... ({more} more arguments)").into_bytes());
                break;
            }
            if arg.len() > MAX_ARG_LEN {
                let mut trimmed = arg[..MAX_ARG_LEN].to_vec();
                trimmed.extend(format!("... ({} more bytes)", arg.len() - MAX_ARG_LEN).as_bytes());
                args.push(trimmed);
            } else {
                args.push(arg.to_vec());
            }
        }
        self.entries.push_front(SlowEntry {
            id: self.next_id,
            time_unix: crate::clock::unix_ms() / 1000,
            duration_us,
            args,
            client_addr: client.0,
            client_name: client.1,
        });
        self.next_id += 1;
        self.entries.truncate(max_len);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}
