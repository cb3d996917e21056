//! The one duration grammar of toolgate, for the config file, bundles and command-line
//! flags alike: one or more `<integer><unit>` parts, units `ms`, `s`, `m`, `h`, written
//! without spaces (`500ms`, `2s`, `15m`, `1h`, `1h30m`). Fractions, signs and bare numbers
//! are refused rather than guessed at.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// What a duration looks like, for error messages.
pub const EXPECTED: &str = "a duration such as 500ms, 90s, 15m, 1h or 1h30m";

/// Parses a duration in the grammar above; the error says what was expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not {EXPECTED}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit] {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            "" => return Err(format!("{text:?} has no unit: {EXPECTED}")),
            _ => return Err(bad()),
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("{text:?} is too long"))?;
        rest = &rest[unit..];
    }
    // Every duration must also fit the signed type the policy engine computes with.
    jiff::SignedDuration::try_from(total).map_err(|_| format!("{text:?} is too long"))?;
    Ok(total)
}

/// Parses a duration for the policy engine's signed arithmetic.
pub fn parse_signed(text: &str) -> Result<jiff::SignedDuration, String> {
    let d = parse(text)?;
    jiff::SignedDuration::try_from(d).map_err(|_| format!("{text:?} is too long"))
}

/// A [`Duration`] read from and written in the grammar above (serde: a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(s: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(s))
    }

    pub const fn get(self) -> Duration {
        self.0
    }

    /// Parses the grammar above.
    pub fn parse(text: &str) -> Result<HumanDuration, String> {
        parse(text).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    /// The shortest spelling that parses back to the same value (`1h30m`, `250ms`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
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
    fn one_grammar_for_every_duration() {
        let ok = [
            ("500ms", 500, "500ms"),
            ("2s", 2000, "2s"),
            ("1m", 60_000, "1m"),
            ("1h", 3_600_000, "1h"),
            ("1h30m", 5_400_000, "1h30m"),
            ("90s", 90_000, "1m30s"),
            ("1m500ms", 60_500, "1m500ms"),
            ("0s", 0, "0s"),
        ];
        for (text, ms, shown) in ok {
            let d = HumanDuration::parse(text).unwrap();
            assert_eq!(d.get(), Duration::from_millis(ms), "{text}");
            assert_eq!(d.to_string(), shown, "{text}");
            assert_eq!(HumanDuration::parse(shown), Ok(d), "{shown} parses back");
        }
        for bad in [
            "",
            "2",
            "s",
            "1.5s",
            "-1s",
            "2 d",
            "1h 30m",
            "1d",
            "99999999999999999999h",
            "5124095576030432h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_signed("1h30m"),
            Ok(jiff::SignedDuration::from_secs(5400))
        );
    }
}
