//! Human-written durations in the config file (`500ms`, `2s`, `1m`, `1h`): one integer and
//! one unit, so a value reads the same to a person and to the parser. Fractions and
//! compound forms (`1m30s`) are refused rather than guessed at.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A [`Duration`] read from and written as `<integer><unit>`, unit one of `ms`, `s`, `m`, `h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(s: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(s))
    }

    pub const fn get(self) -> Duration {
        self.0
    }

    /// Parses `<integer><unit>`; the error says what was expected.
    pub fn parse(text: &str) -> Result<HumanDuration, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is not a duration such as 500ms, 2s, 1m or 1h"))?;
        let d = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            _ => {
                return Err(format!(
                    "{text:?} has no unit: write it as 500ms, 2s, 1m or 1h"
                ))
            }
        };
        d.map(HumanDuration)
            .ok_or_else(|| format!("{text:?} is too long"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HumanDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_integer_and_one_unit() {
        let ok = [
            ("500ms", 500),
            ("2s", 2000),
            ("1m", 60_000),
            ("1h", 3_600_000),
        ];
        for (text, ms) in ok {
            let d = HumanDuration::parse(text).unwrap();
            assert_eq!(d.get(), Duration::from_millis(ms));
            assert_eq!(d.to_string(), text);
        }
        for bad in [
            "",
            "2",
            "s",
            "1.5s",
            "1m30s",
            "-1s",
            "2 d",
            "99999999999999999999h",
        ] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad}");
        }
    }
}
