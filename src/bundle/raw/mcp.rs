//! `kind: McpServer` as written: the MCP endpoint, and the action each tool, resource and
//! prompt maps to (like a route's).

use super::routes::{RouteDefaults, Sources};
use super::{OrderedMap, Str};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerDoc {
    #[serde(rename = "apiVersion")]
    pub _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    pub _kind: Option<IgnoredAny>,
    pub metadata: McpMeta,
    pub spec: McpServerSpec,
}

/// `metadata` of an `McpServer`: its name is the endpoint's route name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpMeta {
    pub name: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSpec {
    /// Where the server is reached, e.g. `/mcp`.
    pub path: Str,
    /// `jsonrpc` (the default: HTTP 200 and a JSON-RPC error) or `http` (403/409).
    pub refusal: Option<Str>,
    /// `GET` (the server's event stream), `DELETE` (session end) and `subscriptions/listen`
    /// (the 2026-07-28 stream) pass. Default false.
    pub streams: Option<Spanned<bool>>,
    /// Methods any caller may send beyond the lifecycle ones (e.g. `resources/list`).
    #[serde(default)]
    pub allow_methods: Vec<Str>,
    #[serde(default)]
    pub defaults: RouteDefaults,
    #[serde(default)]
    pub tools: Vec<Spanned<McpActionSpec>>,
    #[serde(default)]
    pub resources: Vec<Spanned<McpActionSpec>>,
    #[serde(default)]
    pub prompts: Vec<Spanned<McpActionSpec>>,
}

/// A tool (by `name`), a resource (by `uri` template, its route named `name`) or a prompt
/// (by `name`), and the action it maps to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpActionSpec {
    pub name: Str,
    /// Resources only: the URI template they are read by.
    pub uri: Option<Str>,
    pub goal: Str,
    #[serde(default)]
    pub tools: Vec<Str>,
    #[serde(default)]
    pub side_effects: Vec<Str>,
    #[serde(default)]
    pub constraints: Vec<Str>,
    #[serde(default)]
    pub context: OrderedMap<Str, Spanned<Sources>>,
    #[serde(default)]
    pub questions: OrderedMap<Str, String>,
    pub mode: Option<Str>,
    /// Tools and prompts only: RFC 6901 pointers into the call's `params.arguments`, masked
    /// in what a reviewer of a deferred call sees.
    #[serde(default)]
    pub redact: Vec<Str>,
    /// The reviewer roles that may approve a deferred call: any one; empty = any reviewer.
    #[serde(default)]
    pub reviewer_roles: Vec<Str>,
}
