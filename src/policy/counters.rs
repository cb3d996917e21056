//! Counted limits (`rate_limit`, `max_calls_per_run`, `daily_amount_limit`): how they are
//! written, what evaluation
//! checks before anything is counted (the facts a count is keyed by, an amount that alone
//! exceeds the day's budget), and which counted limits are in force for an evaluated
//! request. The counting is the runtime's, in the state store, after an ALLOW.

use super::facts::Facts;
use super::issue::{IssueCode, IssueSet};
use super::model::normalize_label;
use super::requirements::{Counted, Limit, Per};

/// The most a rate limit may count in one window: the sliding window keeps one entry per
/// counted request, so this bounds the state one key holds.
pub const MAX_RATE: u32 = 100_000;
/// The largest daily amount: sums are kept in thousandths of a unit, exactly, as long as
/// they stay below 2^53.
pub const MAX_DAILY_AMOUNT: f64 = 1e12;
/// The longest rate window.
pub const MAX_RATE_WINDOW_MS: u64 = 86_400_000;

/// How a counted limit is written, for a constraint that starts like one but does not parse.
pub fn grammar_of(text: &str) -> Option<&'static str> {
    let key = normalize_label(text.split([':', '=']).next().unwrap_or(""));
    match key.as_str() {
        "rate_limit" => Some("rate_limit:N/WINDOW per actor|run|route, N from 1 to 100000, WINDOW from 1s to 24h in s, m or h, e.g. rate_limit:5/1m per actor"),
        "max_calls_per_run" => Some("max_calls_per_run:N, N at least 1"),
        "daily_amount_limit" => Some("daily_amount_limit:N per actor, N from 0 to 1e12"),
        _ => None,
    }
}

/// `5/1m per actor`, `100/30s per route`, `10/h` (per route): a [`Limit::Rate`].
pub(super) fn rate_limit(value: &str) -> Option<Limit> {
    let (count, rest) = value.split_once('/')?;
    let limit: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_RATE).contains(n))?;
    let rest = rest.trim();
    let (window, per) = match rest.split_once(char::is_whitespace) {
        Some((w, _)) => (w, per_of(rest, w)?),
        None => (rest, Per::Route),
    };
    // `5/m` is five a minute.
    let digits = window
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(window.len());
    let count: u64 = match &window[..digits] {
        "" => 1,
        n => n.parse().ok()?,
    };
    let unit_ms: u64 = match &window[digits..] {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    let window_ms = count.checked_mul(unit_ms)?;
    (1000..=MAX_RATE_WINDOW_MS)
        .contains(&window_ms)
        .then_some(Limit::Rate {
            limit,
            window_ms,
            per,
        })
}

/// What follows `head` in `text`: `per actor|run|route`.
pub(super) fn per_of(text: &str, head: &str) -> Option<Per> {
    let tail = text[head.len()..].trim();
    let who = tail.strip_prefix("per")?;
    if !who.starts_with(char::is_whitespace) {
        return None;
    }
    match who.trim().to_ascii_lowercase().as_str() {
        "actor" => Some(Per::Actor),
        "run" => Some(Per::Run),
        "route" | "tool" => Some(Per::Route),
        _ => None,
    }
}

fn present(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

/// A count needs who it counts for: without an actor or a run id the request cannot be
/// counted, so it defers for that fact rather than counting under an empty key.
pub(super) fn check(counters: &[Counted], facts: &Facts<'_>, issues: &mut IssueSet) {
    let actor = present(facts.actor.as_deref());
    let run = present(facts.run_id.as_deref());
    for c in counters {
        match c.limit {
            Limit::Rate { per, .. } => match per {
                Per::Actor if !actor => issues.insert(IssueCode::ActorMissing),
                Per::Run if !run => issues.insert(IssueCode::RunIdMissing),
                Per::Actor | Per::Run | Per::Route => {}
            },
            Limit::RunCalls(_) => {
                if !run {
                    issues.insert(IssueCode::RunIdMissing);
                }
            }
            Limit::DailyAmount(max) => {
                if !actor {
                    issues.insert(IssueCode::ActorMissing);
                }
                match facts.amount {
                    None => issues.insert(IssueCode::AmountMissing),
                    // A negative amount would give budget back; NaN compares to nothing.
                    Some(a) if !(0.0..=max).contains(&a) => {
                        issues.insert(IssueCode::AmountBudgetExceeded)
                    }
                    Some(_) => {}
                }
            }
        }
    }
}
