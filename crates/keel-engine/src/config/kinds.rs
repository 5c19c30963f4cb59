//! Parsers and printers per kind of setting value, with Redis's CONFIG SET error texts.

pub mod int {
    pub fn parse<T: TryFrom<i128>>(v: &str, min: i128, max: i128) -> Result<T, String> {
        let n: i128 = v.trim().parse().map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
        if n < min || n > max {
            return Err(format!("argument must be between {min} and {max} inclusive"));
        }
        T::try_from(n).map_err(|_| "argument couldn't be parsed into an integer".to_string())
    }
    pub fn show<T: ToString>(v: &T) -> String {
        v.to_string()
    }
}
pub mod memory {
    pub fn parse(v: &str) -> Result<u64, String> {
        crate::config::parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())
    }
    pub fn show(v: &u64) -> String {
        v.to_string()
    }
}
/// A memory amount (`10mb`, `1gb`, bytes) within bounds.
pub mod memory_range {
    pub fn parse(v: &str, min: u64, max: u64) -> Result<u64, String> {
        let n = super::memory::parse(v)?;
        if n < min || n > max {
            return Err(format!("argument must be between {min} and {max} inclusive"));
        }
        Ok(n)
    }
    pub fn show(v: &u64) -> String {
        v.to_string()
    }
}
/// A memory amount or a percentage of `maxmemory` (`maxmemory-clients`), kept as written.
pub mod memory_or_percent {
    pub fn parse(v: &str) -> Result<String, String> {
        match v.strip_suffix('%') {
            Some(percent) => {
                let n: u64 = percent.parse().map_err(|_| "argument must be a memory or percent value".to_string())?;
                if n > 100 {
                    return Err("percentage argument must be less or equal to 100".to_string());
                }
                Ok(format!("{n}%"))
            }
            None => super::memory::parse(v).map(|n| n.to_string()),
        }
    }
    pub fn show(v: &str) -> String {
        v.to_string()
    }
}
pub mod boolean {
    pub fn parse(v: &str) -> Result<bool, String> {
        match v.to_ascii_lowercase().as_str() {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err("argument must be 'yes' or 'no'".to_string()),
        }
    }
    pub fn show(v: &bool) -> String {
        if *v { "yes" } else { "no" }.to_string()
    }
}
pub mod string {
    pub fn parse(v: &str) -> Result<String, String> {
        Ok(v.to_string())
    }
    pub fn show(v: &str) -> String {
        v.to_string()
    }
}
pub mod path {
    use std::path::PathBuf;
    pub fn parse(v: &str) -> Result<PathBuf, String> {
        Ok(PathBuf::from(v))
    }
    pub fn show(v: &std::path::Path) -> String {
        v.display().to_string()
    }
}
pub mod choice {
    pub fn parse(v: &str, allowed: &[&str]) -> Result<String, String> {
        let lower = v.to_ascii_lowercase();
        if allowed.contains(&lower.as_str()) {
            Ok(lower)
        } else {
            Err("argument(s) must be one of the following: ".to_string() + &allowed.join(", "))
        }
    }
    pub fn show(v: &str) -> String {
        v.to_string()
    }
}
pub mod save {
    pub fn parse(v: &str) -> Result<String, String> {
        let parts: Vec<&str> = v.split_whitespace().collect();
        if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
            return Err("Invalid save parameters".to_string());
        }
        Ok(parts.join(" "))
    }
    pub fn show(v: &str) -> String {
        v.to_string()
    }
}
pub mod output_limits {
    use crate::config::{parse_memory, ClassLimit, OutputLimits};
    /// Redis's format, `<class> <hard> <soft> <seconds>` repeated; classes not named keep their limits.
    pub fn parse(v: &str, current: &OutputLimits) -> Result<OutputLimits, String> {
        let words: Vec<&str> = v.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".to_string());
        }
        let mut limits = *current;
        for group in words.chunks_exact(4) {
            let (hard, soft) = (parse_memory(group[1]), parse_memory(group[2]));
            let seconds = group[3].parse::<u64>().ok();
            let (Some(hard), Some(soft), Some(soft_seconds)) = (hard, soft, seconds) else {
                return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
            };
            let limit = ClassLimit { hard, soft, soft_seconds };
            match group[0].to_ascii_lowercase().as_str() {
                "normal" => limits.normal = limit,
                "replica" | "slave" => limits.replica = limit,
                "pubsub" => limits.pubsub = limit,
                _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
            }
        }
        Ok(limits)
    }
    pub fn show(v: &OutputLimits) -> String {
        let class = |name: &str, l: &ClassLimit| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds);
        [class("normal", &v.normal), class("slave", &v.replica), class("pubsub", &v.pubsub)].join(" ")
    }
}
pub mod events {
    pub fn parse(v: &str) -> Result<u32, String> {
        crate::notify::parse(v)
    }
    pub fn show(v: &u32) -> String {
        crate::notify::show(*v)
    }
}
