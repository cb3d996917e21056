//! JSON-RPC error bodies, in shapes every MCP client SDK decodes. A refusal carries
//! toolgate's own code (one per verdict, outside the range JSON-RPC reserves,
//! -32768..-32000), a message naming the verdict and the issues, and in `error.data` the
//! whole decision JSON. A message that is not a readable JSON-RPC request gets the codes the
//! JSON-RPC specification gives (-32700, -32600) and `id: null`.

use serde::Serialize;
use serde_json::value::RawValue;

/// `error.code` for a DENY (and for a request toolgate could not evaluate).
pub const DENY: i32 = -31403;
/// `error.code` for a DEFER: held for review or missing evidence.
pub const DEFER: i32 = -31409;
/// `error.code` when an ALLOWed call got no answer from the MCP server (the server was
/// unreachable, too slow, or answered with something that is not HTTP).
pub const UPSTREAM: i32 = -31502;

#[derive(Serialize)]
struct Response<'a> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
}

/// The JSON-RPC error response to the request whose `id` is `id` (JSON text), with the
/// decision (or fault) JSON `data` as `error.data`.
pub fn error(id: Option<&str>, code: i32, message: &str, data: Option<&[u8]>) -> Vec<u8> {
    let null: &RawValue = serde_json::from_str("null").expect("null is JSON");
    let id = id
        .and_then(|i| serde_json::from_str::<&RawValue>(i).ok())
        .unwrap_or(null);
    let data = data
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| serde_json::from_str::<&RawValue>(d).ok());
    serde_json::to_vec(&Response {
        jsonrpc: "2.0",
        id,
        error: ErrorBody {
            code,
            message,
            data,
        },
    })
    .unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#
            .to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_echo_the_id_and_carry_the_decision() {
        let body = error(
            Some("7"),
            DEFER,
            "DEFER: APPROVAL_REQUIRED",
            Some(br#"{"verdict":"DEFER"}"#),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], -31409);
        assert_eq!(v["error"]["data"]["verdict"], "DEFER");
        let body = error(Some("\"a\\\"b\""), -32600, "invalid", None);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "a\"b");
        assert!(v["error"].get("data").is_none());
        let v: serde_json::Value = serde_json::from_slice(&error(None, -32700, "x", None)).unwrap();
        assert!(v["id"].is_null());
    }
}
