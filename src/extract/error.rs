//! Why a request's context cannot be read: every refusal of extraction, typed (answered
//! 400 `INVALID_REQUEST`, the variant naming where and why).

use super::context::{Field, Source};
use super::json::MAX_DEPTH;
use http::HeaderName;
use std::sync::Arc;

/// A request whose context cannot be read unambiguously: answered 400 `INVALID_REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("header {header}: repeated")]
    DuplicateHeader { header: HeaderName },
    #[error("header {header}: value is not clean text (control or invisible character, or invalid UTF-8)")]
    HeaderNotText { header: HeaderName },
    #[error("header {alias}: refused, an underscore alias of header {header}")]
    HeaderAlias { header: HeaderName, alias: Box<str> },
    #[error("query parameter {key}: repeated")]
    DuplicateQueryParam { key: Arc<str> },
    #[error("query parameter {key}: also spelled {spelled:?}")]
    AmbiguousQueryKey { key: Arc<str>, spelled: Box<str> },
    #[error("query parameter {key}: hidden after ';' in {pair:?}")]
    QuerySemicolon { key: Arc<str>, pair: Box<str> },
    #[error("query parameter {key:?}: not valid UTF-8 once decoded")]
    QueryNotUtf8 { key: Box<str> },
    #[error("path parameter {param}: not valid UTF-8 once decoded")]
    ParamNotUtf8 { param: Arc<str> },
    #[error("body: invalid JSON: {0}")]
    BodyInvalidJson(Box<str>),
    #[error("body: the document must be a JSON object")]
    BodyNotObject,
    #[error("body: nested deeper than {MAX_DEPTH} levels")]
    BodyTooDeep,
    #[error("body: duplicate key {key:?}")]
    BodyDuplicateKey { key: Box<str> },
    #[error("body: key {key:?} is ambiguous with key {read:?}")]
    BodyAmbiguousKey { key: Box<str>, read: Box<str> },
    #[error("body: {0}; a body the policy reads must be uncompressed UTF-8 JSON")]
    BodyMediaType(Box<str>),
    #[error("body: a _method field would change the method after authorization")]
    BodyMethodOverride,
    #[error("body: number {text} is not exactly representable; send it with fewer digits")]
    BodyImpreciseNumber { text: Box<str> },
    #[error("{at} ({field}): control or invisible character in value")]
    ControlCharacter { field: Field, at: Source },
    #[error("{at} ({field}): expected {expected}")]
    Invalid {
        field: Field,
        at: Source,
        expected: &'static str,
    },
}
