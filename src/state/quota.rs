//! Plans for the decision API's per-key quotas: checks per minute (a sliding window) and
//! per calendar month (UTC), counted in the same store and the same atomic step as every
//! other count, so replicas of `toolgate api` share them. Pure.

use super::plan::{Op, Plan, Planner};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use smallvec::SmallVec;

/// A month's count outlives the month by this much, for clocks slightly behind.
const MONTH_GRACE_MS: i64 = 86_400_000;

/// Per minute and per month limits of one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    pub per_minute: Option<u64>,
    pub per_month: Option<u64>,
}

/// The month of `now` (`2026-12`) and the milliseconds until the next one starts.
pub fn month_of(now: jiff::Timestamp) -> (String, i64) {
    let date = now.to_zoned(TimeZone::UTC).date();
    let first = Date::new(date.year(), date.month(), 1).unwrap_or(date);
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .unwrap_or(first);
    let next_ms = next
        .to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now.as_millisecond());
    (
        format!("{:04}-{:02}", date.year(), date.month()),
        next_ms - now.as_millisecond(),
    )
}

impl Planner<'_> {
    /// The ops that count one check of key `name` against `limits` (minute first).
    pub fn quota(self, name: &str, limits: QuotaLimits) -> Plan {
        let now_ms = self.now.as_millisecond();
        let mut ops: SmallVec<[Op; 2]> = SmallVec::new();
        if limits == QuotaLimits::default() {
            // A key without limits costs nothing: no keys to build, no round trip.
            return Plan {
                ops,
                now_ms,
                member: String::new(),
                what: SmallVec::new(),
            };
        }
        let base = format!("{{{}}}quota:{}:{name}:", self.prefix, name.len());
        let (month, left_ms) = month_of(self.now);
        if let Some(n) = limits.per_minute {
            ops.push(Op::Rate {
                key: format!("{base}minute"),
                limit: u32::try_from(n).unwrap_or(u32::MAX),
                window_ms: 60_000,
            });
        }
        if let Some(n) = limits.per_month {
            ops.push(Op::Calls {
                key: format!("{base}month:{month}"),
                limit: i64::try_from(n).unwrap_or(i64::MAX),
                ttl_ms: left_ms + MONTH_GRACE_MS,
            });
        }
        let member = self.member();
        // The decision API explains a refused quota itself: nothing to say per op here.
        Plan {
            ops,
            now_ms,
            member,
            what: SmallVec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn months_end_where_the_calendar_says() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(
            month_of(at("2026-12-31T23:59:59Z")),
            ("2026-12".into(), 1000)
        );
        assert_eq!(month_of(at("2026-02-01T00:00:00Z")).0, "2026-02");
        assert_eq!(month_of(at("2026-02-01T00:00:00Z")).1, 28 * 86_400_000);
    }

    #[test]
    fn a_key_with_both_limits_gets_both_ops_and_none_without() {
        let seq = AtomicU64::new(0);
        let planner = || Planner {
            prefix: "toolgate:",
            run_ttl_ms: 1,
            now: "2026-12-04T12:00:00Z".parse().unwrap(),
            nonce: 1,
            seq: &seq,
        };
        let both = QuotaLimits {
            per_minute: Some(60),
            per_month: Some(1000),
        };
        let plan = planner().quota("ci", both);
        let keys: Vec<&str> = plan.ops.iter().map(Op::key).collect();
        assert_eq!(
            keys,
            [
                "{toolgate:}quota:2:ci:minute",
                "{toolgate:}quota:2:ci:month:2026-12"
            ]
        );
        assert!(planner().quota("ci", QuotaLimits::default()).is_empty());
    }
}
