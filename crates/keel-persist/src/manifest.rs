//! The log's manifest, in Redis 7's multi-part format (`appendonlydir/appendonly.aof.manifest`): which file
//! is the base snapshot and which logs follow it, in order. It changes only by writing a new manifest next
//! to the old one, fsyncing it, renaming it over the old one and fsyncing the directory, so a crash at any
//! instant leaves one complete manifest naming complete files.

use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Base,
    Incr,
    History,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub parts: Vec<Part>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut parts = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut name = None;
            let mut seq = None;
            let mut kind = None;
            for pair in words.chunks(2) {
                match pair {
                    ["file", v] => name = Some(v.to_string()),
                    ["seq", v] => seq = v.parse::<u64>().ok(),
                    ["type", "b"] => kind = Some(Kind::Base),
                    ["type", "i"] => kind = Some(Kind::Incr),
                    ["type", "h"] => kind = Some(Kind::History),
                    _ => return Err(format!("invalid manifest line {}: {line}", n + 1)),
                }
            }
            match (name, seq, kind) {
                (Some(name), Some(seq), Some(kind)) if !name.contains('/') => parts.push(Part { name, seq, kind }),
                _ => return Err(format!("invalid manifest line {}: {line}", n + 1)),
            }
        }
        if parts.iter().filter(|p| p.kind == Kind::Base).count() > 1 {
            return Err("manifest names more than one base file".into());
        }
        Ok(Manifest { parts })
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        for p in &self.parts {
            let kind = match p.kind {
                Kind::Base => "b",
                Kind::Incr => "i",
                Kind::History => "h",
            };
            text.push_str(&format!("file {} seq {} type {}\n", p.name, p.seq, kind));
        }
        text
    }

    pub fn base(&self) -> Option<&Part> {
        self.parts.iter().find(|p| p.kind == Kind::Base)
    }

    /// The logs to replay after the base, in order.
    pub fn incrs(&self) -> impl Iterator<Item = &Part> {
        self.parts.iter().filter(|p| p.kind == Kind::Incr)
    }

    pub fn last_incr_seq(&self) -> u64 {
        self.incrs().map(|p| p.seq).max().unwrap_or(0)
    }

    pub fn base_seq(&self) -> u64 {
        self.base().map_or(0, |p| p.seq)
    }
}

/// File names of a log called `name` (`appendfilename`).
pub fn base_name(name: &str, seq: u64) -> String {
    format!("{name}.{seq}.base.rdb")
}

pub fn incr_name(name: &str, seq: u64) -> String {
    format!("{name}.{seq}.incr.aof")
}

pub fn manifest_name(name: &str) -> String {
    format!("{name}.manifest")
}

/// Reads the manifest in `dir`, if there is one.
pub fn read(dir: &Path, name: &str) -> Result<Option<Manifest>, String> {
    let path = dir.join(manifest_name(name));
    match fs::read_to_string(&path) {
        Ok(text) => Manifest::parse(&text).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Replaces `dir`'s manifest atomically.
pub fn write(dir: &Path, name: &str, manifest: &Manifest) -> std::io::Result<()> {
    crate::private_file::replace(&dir.join(manifest_name(name)), manifest.render().as_bytes())
}

/// Paths of the parts, for deleting the files a new manifest no longer names.
pub fn paths(dir: &Path, manifest: &Manifest) -> Vec<PathBuf> {
    manifest.parts.iter().map(|p| dir.join(&p.name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_redis_writes() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs().count(), 1);
        assert_eq!(m.render(), text);
        assert!(Manifest::parse("file x seq one type b\n").is_err());
        assert!(Manifest::parse("file ../x seq 1 type i\n").is_err());
    }
}
