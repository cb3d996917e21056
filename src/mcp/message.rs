//! One JSON-RPC message as an MCP client POSTs it, read strictly: the operation decided is
//! the one every JSON-RPC server would read from the bytes forwarded. The body must be one
//! UTF-8 JSON object (a batch array is refused: removed from MCP in 2025-06-18, still
//! executed by some servers); no key may repeat at any depth, nor differ only by case,
//! padding or a NUL from `jsonrpc`, `method`, `id`, `params`, `name`, `arguments`, `uri`
//! (the route's own argument pointers are checked the same way when the context is read);
//! `jsonrpc` must be `"2.0"`, `method` and `params.name` strings. `Mcp-Method` and `Mcp-Name`
//! headers (protocol 2026-07-28), when present, must say what the body says.

use crate::extract::json::{walk_shaped, Json};
use crate::extract::ExtractError;
use http::HeaderMap;
use std::borrow::Cow;
use std::sync::LazyLock;

/// The JSON-RPC version every message must name.
pub const JSONRPC: &str = "2.0";
/// The header that mirrors the message's method (SEP-2243).
pub const MCP_METHOD: &str = "mcp-method";
/// The header that mirrors `params.name` (or `params.uri`).
pub const MCP_NAME: &str = "mcp-name";

/// What kind of message it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A method call with an `id`: answered.
    Request,
    /// A method call without an `id`: never answered.
    Notification,
    /// A client's answer to a server's request (`result` or `error`, no `method`).
    Response,
}

/// A message's fields that decide what it is and which route judges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'b> {
    pub kind: Kind,
    /// The `id` as JSON text (`7`, `"abc"`), to answer with; `None` for a notification.
    pub id: Option<Box<str>>,
    pub method: Option<Cow<'b, str>>,
    /// `params.name`: the tool or the prompt.
    pub name: Option<Cow<'b, str>>,
    /// `params.uri`: the resource.
    pub uri: Option<Cow<'b, str>>,
}

/// Why a body is not one readable JSON-RPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Not JSON (JSON-RPC -32700, parse error).
    Parse(String),
    /// JSON, but not one valid message (JSON-RPC -32600, invalid request).
    Invalid(String),
}

impl Malformed {
    /// The JSON-RPC error code the specification gives it.
    pub const fn code(&self) -> i32 {
        match self {
            Malformed::Parse(_) => -32700,
            Malformed::Invalid(_) => -32600,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Malformed::Parse(m) | Malformed::Invalid(m) => m,
        }
    }
}

/// The members every message is read for, as JSON pointers. Walking them also refuses
/// their case, padding and NUL variants at every depth they are read at.
const POINTERS: [&[&str]; 9] = [
    &["jsonrpc"],
    &["method"],
    &["id"],
    &["params"],
    &["params", "name"],
    &["params", "uri"],
    &["params", "arguments"],
    &["result"],
    &["error"],
];

/// Indexes in [`POINTERS`] of the two values that must be objects.
const PARAMS: usize = 3;
const ARGUMENTS: usize = 6;
const _: () = assert!(POINTERS[PARAMS].len() == 1 && POINTERS[ARGUMENTS].len() == 2);

/// Reads the message in `body`; `headers` may carry `Mcp-Method` and `Mcp-Name`.
pub fn parse<'b>(body: &'b [u8], headers: &HeaderMap) -> Result<Message<'b>, Malformed> {
    // Built once: the walker takes its pointers in the form compiled routes keep them.
    static OWNED: LazyLock<Vec<Vec<Box<str>>>> = LazyLock::new(|| {
        POINTERS
            .iter()
            .map(|p| p.iter().map(|t| Box::from(*t)).collect())
            .collect()
    });
    let mut pointers: [&[Box<str>]; POINTERS.len()] = [&[]; POINTERS.len()];
    for (slot, p) in pointers.iter_mut().zip(OWNED.iter()) {
        *slot = p.as_slice();
    }
    // `params` and `params.arguments` must be objects (refused below otherwise): each is
    // walked once, in place.
    let mut v = walk_shaped(body, &pointers, &[PARAMS, ARGUMENTS]).map_err(|e| match e {
        ExtractError::BodyInvalidJson(why) => Malformed::Parse(format!("not JSON: {why}")),
        ExtractError::BodyNotObject => Malformed::Invalid(
            "the body must be one JSON-RPC message (an object); batches are refused".into(),
        ),
        other => Malformed::Invalid(other.to_string()),
    })?;
    let mut take = |i: usize| v[i].take();
    let (jsonrpc, method, id, params) = (take(0), take(1), take(2), take(3));
    let (name, uri, arguments, result, error) = (take(4), take(5), take(6), take(7), take(8));
    if jsonrpc != Some(Json::Str(Cow::Borrowed(JSONRPC))) {
        return Err(invalid("\"jsonrpc\" must be \"2.0\""));
    }
    if !matches!(params, None | Some(Json::Composite)) {
        return Err(invalid("\"params\" must be an object"));
    }
    if !matches!(arguments, None | Some(Json::Composite)) {
        return Err(invalid("\"params.arguments\" must be an object"));
    }
    let id = match id {
        None => None,
        Some(Json::Str(s)) => Some(serde_json::to_string(&*s).unwrap_or_default().into()),
        Some(Json::Composite | Json::Array | Json::Bool(_)) => {
            return Err(invalid("\"id\" must be a string or a number"))
        }
        Some(n) => n.render().map(Box::from),
    };
    let text = |v: Option<Json<'b>>, what: &str| match v {
        None => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(&format!("\"{what}\" must be a string"))),
    };
    let method = text(method, "method")?;
    let name = text(name, "params.name")?;
    let uri = text(uri, "params.uri")?;
    let kind = match (&method, &id) {
        (Some(_), Some(_)) => Kind::Request,
        (Some(_), None) => Kind::Notification,
        (None, Some(_)) if result.is_some() != error.is_some() => Kind::Response,
        (None, _) => return Err(invalid("neither a request nor a response")),
    };
    let msg = Message {
        kind,
        id,
        method,
        name,
        uri,
    };
    check_headers(&msg, headers)?;
    Ok(msg)
}

fn invalid(why: &str) -> Malformed {
    Malformed::Invalid(why.to_owned())
}

/// `Mcp-Method` and `Mcp-Name`, when sent, must be sent once and say what the body says:
/// an intermediary that routes by them must see the operation that is decided.
fn check_headers(msg: &Message<'_>, headers: &HeaderMap) -> Result<(), Malformed> {
    let one = |name: &str| -> Result<Option<&str>, Malformed> {
        let mut all = headers.get_all(name).iter();
        match (all.next(), all.next()) {
            (None, _) => Ok(None),
            (Some(v), None) => v
                .to_str()
                .map(Some)
                .map_err(|_| invalid(&format!("{name} is not text"))),
            (Some(_), Some(_)) => Err(invalid(&format!("{name} is repeated"))),
        }
    };
    if let Some(m) = one(MCP_METHOD)? {
        if msg.method.as_deref() != Some(m) {
            return Err(invalid("Mcp-Method differs from the body's method"));
        }
    }
    if let Some(n) = one(MCP_NAME)? {
        if msg.name.as_deref().or(msg.uri.as_deref()) != Some(n) {
            return Err(invalid(
                "Mcp-Name differs from the body's params.name or params.uri",
            ));
        }
    }
    Ok(())
}

/// The message's `params.arguments` in RFC 8785 canonical form (an absent one is `{}`): what
/// an approval binds, so that the same call with another `id`, or its members in another
/// order, is the approved call.
pub fn canonical_arguments(body: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let args = v
        .get("params")
        .and_then(|p| p.get("arguments"))
        .cloned()
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    serde_jcs::to_vec(&args).ok()
}

#[cfg(test)]
#[path = "message/tests.rs"]
mod tests;
