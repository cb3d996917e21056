//! Named change windows: weekdays and a time-of-day range in an IANA time zone. Whether a
//! window is open is a pure function of the instant passed in; the engine never reads a clock.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct ChangeWindow {
    pub name: Arc<str>,
    pub time_zone: TimeZone,
    /// Bit `n` set: open on the weekday `n` days after Monday.
    pub days: u8,
    /// Minutes after local midnight; `end` may be 1440 (midnight), and an `end` before
    /// `start` crosses midnight (the window belongs to the day it opens on).
    pub start_minute: u16,
    pub end_minute: u16,
}

fn day_bit(day: Weekday) -> u8 {
    1 << day.to_monday_zero_offset()
}

/// Parses `HH:MM` (00:00 to 24:00) into minutes after midnight.
pub fn parse_time_of_day(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    let total = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && total <= 1440).then_some(total)
}

/// Parses a weekday name (`mon`, `Monday`, ...) to its bit.
pub fn parse_weekday(text: &str) -> Option<u8> {
    let t = text.trim().to_ascii_lowercase();
    let day = match t.get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    };
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    (t.len() == 3 || full.contains(&t.as_str())).then(|| day_bit(day))
}

impl ChangeWindow {
    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let local = self.time_zone.to_datetime(now);
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let today = day_bit(local.weekday());
        if self.start_minute <= self.end_minute {
            self.days & today != 0 && minute >= self.start_minute && minute < self.end_minute
        } else {
            let yesterday = day_bit(local.weekday().previous());
            (self.days & today != 0 && minute >= self.start_minute)
                || (self.days & yesterday != 0 && minute < self.end_minute)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], start: &str, end: &str, tz: &str) -> ChangeWindow {
        ChangeWindow {
            name: "w".into(),
            time_zone: TimeZone::get(tz).unwrap(),
            days: days.iter().map(|d| parse_weekday(d).unwrap()).sum(),
            start_minute: parse_time_of_day(start).unwrap(),
            end_minute: parse_time_of_day(end).unwrap(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn business_hours_in_a_time_zone() {
        let w = window(
            &["mon", "tue", "wed", "thu", "fri"],
            "09:00",
            "17:00",
            "Europe/Berlin",
        );
        // Monday 2026-03-16: 08:30Z is 09:30 in Berlin (CET, +1).
        assert!(w.is_open(at("2026-03-16T08:30:00Z")));
        assert!(!w.is_open(at("2026-03-16T07:59:00Z")));
        assert!(!w.is_open(at("2026-03-16T16:00:00Z")));
        // Saturday.
        assert!(!w.is_open(at("2026-03-14T09:45:00Z")));
        // Summer time: 2026-07-06 is a Monday, Berlin is +2.
        assert!(w.is_open(at("2026-07-06T07:00:00Z")));
        assert!(!w.is_open(at("2026-07-06T06:59:00Z")));
    }

    #[test]
    fn overnight_window_belongs_to_its_opening_day() {
        let w = window(&["fri"], "22:00", "06:00", "UTC");
        assert!(w.is_open(at("2026-03-13T23:00:00Z"))); // Friday night
        assert!(w.is_open(at("2026-03-14T05:59:00Z"))); // Saturday early
        assert!(!w.is_open(at("2026-03-14T06:00:00Z")));
        assert!(!w.is_open(at("2026-03-12T23:00:00Z"))); // Thursday night
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_time_of_day("24:00"), Some(1440));
        assert_eq!(parse_time_of_day("9:05"), Some(545));
        assert_eq!(parse_time_of_day("24:01"), None);
        assert_eq!(parse_time_of_day("12:60"), None);
        assert_eq!(parse_weekday("Saturday"), Some(1 << 5));
        assert_eq!(parse_weekday("satur"), None);
    }
}
