//! The decision engine: pure and deterministic. A bundle's policy is compiled once (see
//! `bundle`); each request is then matched to a prepared action, its facts are gathered, and
//! [`Policy::evaluate`] turns them into issues and a verdict at an instant passed in. No I/O
//! and no clock reads happen here.

pub mod check;
pub mod constraint;
mod counters;
pub mod decision;
mod eval;
mod explain;
pub mod facts;
pub mod issue;
pub mod model;
pub mod requirements;
pub mod window;

pub use check::{CheckRequest, PayloadError};
pub use decision::{Decision, DecisionKind, Risk, Verdict};
pub use facts::Facts;
pub use issue::{IssueClass, IssueCode, IssueSet};
pub use model::{Outcome, Policy, PreparedAction};
pub use requirements::{Counted, Limit, Per, Requirements};

#[cfg(test)]
mod props;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
