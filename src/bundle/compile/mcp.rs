//! `McpServer` documents: an MCP endpoint (a route of its own in the route table, for
//! `POST`, and `GET`/`DELETE` when streams pass) and a route per tool, resource and prompt,
//! judged by the message's name rather than by method and path.

use super::routes::RouteDraft;
use super::*;
use crate::mcp::{Endpoint, RefusalStyle};

/// Which MCP endpoint a route belongs to, and as what.
#[derive(Clone, Copy, Debug)]
pub(super) enum McpDraft {
    /// The endpoint itself: in the route table.
    Endpoint { endpoint: usize, streams: bool },
    /// A tool, resource or prompt: reached through the endpoint.
    Entry { endpoint: usize },
}

/// An MCP tool name (SEP-986): 1 to 128 of `[A-Za-z0-9_.-]`.
fn is_tool_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Compiles every `McpServer` document: the drafts of their routes (to be indexed from
/// `first`) and the endpoints, which name those indexes.
pub(super) fn compile_mcp(
    base: &Base,
    docs: &[Doc<raw::McpServerDoc>],
    seen: &mut Names,
    first: usize,
    sink: &mut Sink,
) -> (Vec<RouteDraft>, Vec<Endpoint>) {
    let mut drafts = Vec::new();
    let mut endpoints = Vec::new();
    for doc in docs {
        let file = doc.file.as_path();
        let spec = &doc.doc.spec;
        let meta = &doc.doc.metadata;
        let endpoint = endpoints.len();
        check_name(file, &meta.name, "metadata.name", "MCP server name", sink);
        unique_name(seen, file, &meta.name, "metadata.name", sink);
        if !spec.path.value.starts_with('/') {
            sink.at(
                file,
                spec.path.referenced,
                "spec.path",
                format!("path {:?} must start with '/'", spec.path.value),
            );
        }
        let refusal = match spec.refusal.as_ref().map(|r| r.value.as_str()) {
            None | Some("jsonrpc") => RefusalStyle::JsonRpc,
            Some("http") => RefusalStyle::Http,
            Some(other) => {
                let r = spec.refusal.as_ref().expect("some");
                sink.at(
                    file,
                    r.referenced,
                    "spec.refusal",
                    format!("invalid refusal {other:?}: expected jsonrpc or http"),
                );
                RefusalStyle::JsonRpc
            }
        };
        let streams = spec.streams.as_ref().is_some_and(|s| s.value);
        let defaults = context_entries(
            file,
            &spec.defaults.context,
            "spec.defaults.context",
            SourceKinds::Mcp,
            sink,
        );
        let mut e = Endpoint {
            name: meta.name.value.as_str().into(),
            path: spec.path.value.as_str().into(),
            refusal,
            streams,
            allowed: spec
                .allow_methods
                .iter()
                .map(|m| m.value.as_str().into())
                .collect(),
            tools: HashMap::new(),
            resources: Vec::new(),
            prompts: HashMap::new(),
        };
        // The endpoint's own route: lifecycle messages, streams, refusals of what is
        // unmapped are recorded under it.
        drafts.push(RouteDraft {
            file: file.to_path_buf(),
            field: "spec".into(),
            path_loc: spec.path.referenced,
            name: meta.name.value.as_str().into(),
            method: Some(Method::POST),
            path: spec.path.value.clone(),
            goal: format!("the MCP server {}", meta.name.value),
            tools: Vec::new(),
            side_effects: Vec::new(),
            own: Requirements::default(),
            questions: QuestionTable::default(),
            context: ContextMap::compile(
                merge_context(&defaults, &[], |_, _| {}, sink),
                &base.amount_field,
            ),
            mode: base.mode,
            allow_body: false,
            review: ReviewSettings::default(),
            mcp: Some(McpDraft::Endpoint { endpoint, streams }),
        });
        let kinds: [(&str, &Vec<Spanned<raw::McpActionSpec>>); 3] = [
            ("tools", &spec.tools),
            ("resources", &spec.resources),
            ("prompts", &spec.prompts),
        ];
        for (kind, list) in kinds {
            for (i, entry) in list.iter().enumerate() {
                let field = format!("spec.{kind}[{i}]");
                let a = &entry.value;
                let name_ok = match kind {
                    "tools" => is_tool_name(&a.name.value),
                    _ => !a.name.value.is_empty() && a.name.value.len() <= 128,
                };
                if !name_ok {
                    sink.at(
                        file,
                        a.name.referenced,
                        &format!("{field}.name"),
                        format!(
                            "invalid {kind} name {:?}: 1 to 128 of [A-Za-z0-9_.-]",
                            a.name.value
                        ),
                    );
                }
                unique_name(seen, file, &a.name, &format!("{field}.name"), sink);
                let index = first + drafts.len();
                match (kind, &a.uri) {
                    ("resources", Some(uri)) => {
                        e.resources.push((uri.value.as_str().into(), index))
                    }
                    ("resources", None) => sink.at(
                        file,
                        a.name.referenced,
                        &field,
                        "a resource needs the uri template it is read by",
                    ),
                    (_, Some(uri)) => sink.at(
                        file,
                        uri.referenced,
                        &format!("{field}.uri"),
                        format!("only resources have a uri; {kind} are named"),
                    ),
                    ("tools", None) => {
                        e.tools.insert(a.name.value.as_str().into(), index);
                    }
                    (_, None) => {
                        e.prompts.insert(a.name.value.as_str().into(), index);
                    }
                }
                let parts = action_parts(
                    base,
                    file,
                    &field,
                    ActionSpec {
                        goal: &a.goal,
                        tools: &a.tools,
                        side_effects: &a.side_effects,
                        constraints: &a.constraints,
                        questions: &a.questions,
                        mode: a.mode.as_ref(),
                    },
                    sink,
                );
                let own_entries = context_entries(
                    file,
                    &a.context,
                    &format!("{field}.context"),
                    SourceKinds::Mcp,
                    sink,
                );
                let fields = merge_context(&defaults, &own_entries, |_, _| {}, sink);
                if kind == "resources" {
                    let why = "a resource read has no arguments to redact; redact applies to tools and prompts";
                    nothing_to_redact(file, &field, &a.redact, why.into(), sink);
                }
                let review = review_settings(
                    file,
                    &field,
                    &a.redact,
                    &a.reviewer_roles,
                    Payload::Arguments,
                    sink,
                );
                drafts.push(RouteDraft {
                    file: file.to_path_buf(),
                    field,
                    path_loc: a.name.referenced,
                    name: a.name.value.as_str().into(),
                    method: Some(Method::POST),
                    path: spec.path.value.clone(),
                    goal: a.goal.value.clone(),
                    tools: parts.tools,
                    side_effects: parts.side_effects,
                    own: parts.own,
                    questions: parts.questions,
                    context: ContextMap::compile(fields, &base.amount_field),
                    mode: parts.mode,
                    allow_body: false,
                    review,
                    mcp: Some(McpDraft::Entry { endpoint }),
                });
            }
        }
        endpoints.push(e);
    }
    (drafts, endpoints)
}
