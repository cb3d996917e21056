//! Where "now" comes from: `Timestamp::now` in production, a fixed or stepped instant in
//! tests. The request path reads it once per request and hands the instant down; nothing
//! below the orchestrator reads a clock.

use jiff::Timestamp;
use std::sync::Arc;

/// A source of the current instant.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}
