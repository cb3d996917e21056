//! A compiled MCP endpoint: the path the server is reached at, and which route of the
//! bundle judges which message. Lifecycle and discovery methods pass for any caller;
//! `tools/call` is judged by the tool's route, `resources/read` by the route of the first
//! URI template the resource matches, `prompts/get` by the prompt's; any other method, tool,
//! resource or prompt is refused, unless the bundle allows the method outright. A client's
//! JSON-RPC response to the server passes.

use super::message::{Kind, Message};
use std::collections::HashMap;
use std::sync::Arc;

/// Methods any caller may send: the session's lifecycle (`server/discover` is its
/// 2026-07-28 form), and listing the tools (whose answer is filtered for the caller).
pub const LIFECYCLE: [&str; 6] = [
    "initialize",
    "notifications/initialized",
    "notifications/cancelled",
    "ping",
    "tools/list",
    "server/discover",
];

/// The 2026-07-28 form of the server's event stream (a long-lived POST, in place of the
/// GET stream): passes where `streams` does.
pub const LISTEN: &str = "subscriptions/listen";

/// How a refused request is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefusalStyle {
    /// HTTP 200 and a JSON-RPC error with the request's `id` (what MCP clients decode).
    #[default]
    JsonRpc,
    /// HTTP 403 or 409 with the same JSON-RPC error body.
    Http,
}

/// One MCP server the sidecar guards.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The `McpServer` document's name.
    pub name: Arc<str>,
    /// Where the server is reached (`/mcp`).
    pub path: Arc<str>,
    pub refusal: RefusalStyle,
    /// `GET` (the server's event stream), `DELETE` (ending the session) and
    /// `subscriptions/listen` pass.
    pub streams: bool,
    /// Methods the bundle allows for any caller beyond [`LIFECYCLE`] (e.g. `resources/list`).
    pub allowed: Vec<Box<str>>,
    /// Tool name -> route index.
    pub tools: HashMap<Box<str>, usize>,
    /// URI templates (`ledger://{account}/entries`) and their route indexes, in order.
    pub resources: Vec<(Box<str>, usize)>,
    /// Prompt name -> route index.
    pub prompts: HashMap<Box<str>, usize>,
}

/// What judges a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Passes without evaluation: a lifecycle or allowed method, or a client's response.
    Pass,
    /// Judged by this route.
    Route(usize),
    /// Nothing of the bundle maps it: refused (DENY).
    Unmapped,
}

impl Endpoint {
    /// The route (or the lack of one) that judges `msg`.
    pub fn target(&self, msg: &Message<'_>) -> Target {
        if msg.kind == Kind::Response {
            return Target::Pass;
        }
        let method = msg.method.as_deref().unwrap_or_default();
        if LIFECYCLE.contains(&method)
            || (self.streams && method == LISTEN)
            || self.allowed.iter().any(|m| &**m == method)
        {
            return Target::Pass;
        }
        let found = match method {
            "tools/call" => msg.name.as_deref().and_then(|n| self.tools.get(n)).copied(),
            "prompts/get" => msg
                .name
                .as_deref()
                .and_then(|n| self.prompts.get(n))
                .copied(),
            "resources/read" => msg.uri.as_deref().and_then(|u| {
                self.resources
                    .iter()
                    .find(|(t, _)| template_matches(t, u))
                    .map(|(_, i)| *i)
            }),
            _ => None,
        };
        found.map_or(Target::Unmapped, Target::Route)
    }
}

/// Whether `uri` matches `template`, compared `/`-segment by segment: a `{name}` segment is
/// any non-empty segment, a final `{*rest}` any non-empty rest; every other segment is
/// literal (case-sensitive).
pub fn template_matches(template: &str, uri: &str) -> bool {
    let mut t = template.split('/');
    let mut u = uri.split('/');
    loop {
        match (t.next(), u.next()) {
            (None, None) => return true,
            (Some(seg), Some(first)) if seg.starts_with("{*") && seg.ends_with('}') => {
                return t.next().is_none() && !(first.is_empty() && u.next().is_none());
            }
            (Some(seg), Some(part)) if seg.starts_with('{') && seg.ends_with('}') => {
                if part.is_empty() {
                    return false;
                }
            }
            (Some(seg), Some(part)) if seg == part => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_templates_match_segment_by_segment() {
        let cases = [
            (
                "ledger://{account}/entries",
                "ledger://acct-1/entries",
                true,
            ),
            (
                "ledger://{account}/entries",
                "ledger://acct-1/entries/x",
                false,
            ),
            ("ledger://{account}/entries", "ledger:///entries", false),
            (
                "ledger://{account}/entries",
                "LEDGER://acct-1/entries",
                false,
            ),
            ("files://{*path}", "files://a/b/c", true),
            ("files://{*path}", "files://", false),
            ("docs://readme", "docs://readme", true),
            ("docs://readme", "docs://readme/", false),
        ];
        for (t, u, want) in cases {
            assert_eq!(template_matches(t, u), want, "{t} ~ {u}");
        }
    }
}
