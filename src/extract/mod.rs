//! Context extraction: where each fact of a route's context comes from, compiled at bundle
//! load ([`context`]), and the per-request step that reads them into
//! [`Facts`](crate::policy::Facts) ([`read`]), over the query (`query`) and JSON bodies
//! (`json`); what a body may look like for toolgate to read it is [`media`].

pub mod context;
mod convert;
mod error;
pub(crate) mod json;
pub mod media;
mod query;
pub mod read;

pub use context::{ContextMap, Field, Source};
pub use error::ExtractError;
pub use json::MAX_DEPTH;
pub use read::{extract, Extracted, RequestView};

#[cfg(test)]
mod tests;
