//! API keys for the decision API, hashed at rest: a keys file of `NAME sha256:HEX` lines
//! (and optional quotas, `per_minute=N`, `per_month=N`), read into a [`KeySet`]. A
//! presented key is hashed and compared with every entry in constant time, so neither the
//! answer nor its timing says how close a guess came. No key or hash is ever logged.

use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A key's limits; `None`: unlimited.
pub use crate::state::quota::QuotaLimits as Quota;

/// One key: its name (audit records and metrics use it) and the SHA-256 of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    pub name: Arc<str>,
    hash: [u8; 32],
    pub quota: Quota,
}

/// The keys of one file, as loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    entries: Vec<KeyEntry>,
}

/// The most keys one file may hold: every lookup compares against all of them.
pub const MAX_KEYS: usize = 1024;

impl KeySet {
    /// Parses a keys file; every error names its line.
    pub fn parse(text: &str) -> Result<KeySet, String> {
        let mut entries: Vec<KeyEntry> = Vec::new();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match entry(line) {
                Ok(e) if entries.iter().any(|x| x.name == e.name) => errors.push(format!(
                    "line {}: key name {:?} is used twice",
                    i + 1,
                    e.name
                )),
                Ok(e) => entries.push(e),
                Err(m) => errors.push(format!("line {}: {m}", i + 1)),
            }
        }
        if entries.len() > MAX_KEYS {
            errors.push(format!("{} keys: at most {MAX_KEYS}", entries.len()));
        }
        if errors.is_empty() {
            Ok(KeySet { entries })
        } else {
            Err(errors.join("\n"))
        }
    }

    /// The entry `presented` is the key of. Every entry is compared, whatever matches.
    pub fn find(&self, presented: &str) -> Option<&KeyEntry> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for e in &self.entries {
            if same(&e.hash, &hash) && found.is_none() {
                found = Some(e);
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Equality of two digests in time that does not depend on where they differ (and the
/// digest of a guess says nothing of the key anyway).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn entry(line: &str) -> Result<KeyEntry, String> {
    let mut parts = line.split_whitespace();
    let name = parts.next().unwrap_or_default();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "key name {name:?}: 1-64 characters of A-Z a-z 0-9 - _ ."
        ));
    }
    let hash = parts
        .next()
        .and_then(|h| h.strip_prefix("sha256:"))
        .ok_or("expected NAME sha256:HEX (toolgate keys new NAME prints one)")?;
    let bytes = hex::decode(hash).map_err(|_| "the hash is not hex".to_owned())?;
    let hash: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "the hash is not 32 bytes (SHA-256)".to_owned())?;
    let mut quota = Quota::default();
    for option in parts {
        let (k, v) = option
            .split_once('=')
            .ok_or_else(|| format!("{option:?}: expected per_minute=N or per_month=N"))?;
        let n: u64 = v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{k}: {v:?} is not a positive number"))?;
        match k {
            "per_minute" => quota.per_minute = Some(n),
            "per_month" => quota.per_month = Some(n),
            _ => return Err(format!("{k:?}: expected per_minute or per_month")),
        }
    }
    Ok(KeyEntry {
        name: name.into(),
        hash,
        quota,
    })
}

/// A new key for `name`: the key (shown once) and the keys-file line that admits it.
pub fn new_key(name: &str) -> Result<(String, String), String> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| "no randomness available".to_owned())?;
    let key = format!("tg_{}", hex::encode(bytes));
    let line = format!(
        "{name} sha256:{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    );
    // The line must parse back, or the name is not one a keys file accepts.
    entry(&line)?;
    Ok((key, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_found_by_its_line_and_nothing_else_is() {
        let (key, line) = new_key("orchestrator").unwrap();
        let (other, other_line) = new_key("ci").unwrap();
        let set =
            KeySet::parse(&format!("# keys\n{line} per_minute=60\n\n{other_line}\n")).unwrap();
        let found = set.find(&key).unwrap();
        assert_eq!(&*found.name, "orchestrator");
        assert_eq!(found.quota.per_minute, Some(60));
        assert_eq!(&*set.find(&other).unwrap().name, "ci");
        assert!(set.find("tg_guess").is_none());
        assert!(set.find(&key[..key.len() - 1]).is_none());
        assert!(
            !line.contains(&key),
            "the line holds the hash, never the key"
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let (_, line) = new_key("a").unwrap();
        for (text, want) in [
            ("a b", "line 1: expected NAME sha256:HEX"),
            ("a sha256:zz", "line 1: the hash is not hex"),
            ("a sha256:abcd", "not 32 bytes"),
            ("bad/name sha256:00", "key name"),
            (
                &*format!("{line} per_week=3"),
                "expected per_minute or per_month",
            ),
            (&*format!("{line} per_minute=0"), "not a positive number"),
            (
                &*format!("{line}\n{line}"),
                "line 2: key name \"a\" is used twice",
            ),
        ] {
            let e = KeySet::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        assert!(new_key("no spaces allowed").is_err());
    }
}
