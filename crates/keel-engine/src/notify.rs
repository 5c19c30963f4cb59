//! Keyspace notifications' classes (Redis's notify.c): which kinds of event `notify-keyspace-events` turns
//! on, its letters, and what a batch publishes with. Each handler publishes its events where it makes the
//! change, in Redis's order, through `Ctx::notify` (as Redis's `notifyKeyspaceEvent` is called); the
//! keyspace publishes them on `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` (`Keyspace::emit`).

use crate::config::ClassLimit;

/// Event classes, as Redis numbers them.
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
/// `A`: every class but key misses and new keys.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const LETTERS: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('m', KEY_MISS),
    ('d', MODULE),
    ('n', NEW),
];

/// Parses the `notify-keyspace-events` letters.
pub fn parse(text: &str) -> Result<u32, String> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            _ => LETTERS
                .iter()
                .find(|(l, _)| *l == c)
                .map(|(_, f)| *f)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())?,
        };
    }
    Ok(flags)
}

/// The letters CONFIG GET shows (Redis's canonical order: `A` when it applies, then K and E).
pub fn show(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    }
    for (letter, flag) in LETTERS {
        if (flags & ALL != ALL || flag & ALL == 0) && flags & flag != 0 {
            text.push(*letter);
        }
    }
    if flags & KEYSPACE != 0 {
        text.push('K');
    }
    if flags & KEYEVENT != 0 {
        text.push('E');
    }
    text
}

/// What notifications are on, and the output limit their subscribers are held to.
#[derive(Debug, Clone, Copy)]
pub struct Events {
    pub flags: u32,
    pub limit: ClassLimit,
}
