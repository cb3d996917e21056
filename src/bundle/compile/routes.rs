//! `RouteMap` documents: routes, their context maps, and the route table.

use super::*;

/// A route before its action is prepared (that needs the rules).
pub(super) struct RouteDraft {
    pub(super) file: PathBuf,
    pub(super) field: String,
    pub(super) path_loc: Location,
    pub(super) name: Arc<str>,
    pub(super) method: Option<Method>,
    pub(super) path: String,
    pub(super) goal: String,
    pub(super) tools: Vec<String>,
    pub(super) side_effects: Vec<String>,
    pub(super) own: Requirements,
    pub(super) questions: QuestionTable,
    pub(super) context: ContextMap,
    pub(super) mode: Mode,
    pub(super) allow_body: bool,
    pub(super) review: ReviewSettings,
    /// For an MCP endpoint or one of its tools, resources or prompts: which, and where.
    pub(super) mcp: Option<McpDraft>,
}

/// The parameter names of a matchit template: `{id}` and `{*rest}` (`{{` is a literal).
fn template_params(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if bytes.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            if let Some(end) = template[i + 1..].find('}') {
                let name = &template[i + 1..i + 1 + end];
                out.push(name.strip_prefix('*').unwrap_or(name));
                i += end + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

pub(super) fn compile_routes(
    base: &Base,
    maps: &[Doc<raw::RouteMapDoc>],
    seen: &mut Names,
    sink: &mut Sink,
) -> Vec<RouteDraft> {
    let mut drafts = Vec::new();
    for doc in maps {
        let file = doc.file.as_path();
        let spec = &doc.doc.spec;
        let defaults = context_entries(
            file,
            &spec.defaults.context,
            "spec.defaults.context",
            SourceKinds::Http,
            sink,
        );
        for (i, r) in spec.routes.iter().enumerate() {
            let field = format!("spec.routes[{i}]");
            let route = &r.value;
            check_name(
                file,
                &route.name,
                &format!("{field}.name"),
                "route name",
                sink,
            );
            unique_name(seen, file, &route.name, &format!("{field}.name"), sink);
            let method = if is_method_token(&route.method.value) {
                Method::from_bytes(route.method.value.as_bytes()).ok()
            } else {
                None
            };
            if method.is_none() {
                sink.at(
                    file,
                    route.method.referenced,
                    &format!("{field}.method"),
                    format!(
                        "invalid method {:?}: expected an upper-case token such as GET or POST",
                        route.method.value
                    ),
                );
            }
            let parts = action_parts(
                base,
                file,
                &field,
                ActionSpec {
                    goal: &route.goal,
                    tools: &route.tools,
                    side_effects: &route.side_effects,
                    constraints: &route.constraints,
                    questions: &route.questions,
                    mode: route.mode.as_ref(),
                },
                sink,
            );

            let allow_body = route.allow_body.as_ref().is_some_and(|a| a.value);
            if let (Some(a), Some(m)) = (&route.allow_body, &method) {
                if !crate::snapshot::is_bodiless_method(m) {
                    sink.at(
                        file,
                        a.referenced,
                        &format!("{field}.allow_body"),
                        format!("allow_body applies to GET, HEAD, DELETE, OPTIONS and TRACE routes; a {m} route always takes a body"),
                    );
                }
            }

            // Context: defaults, each replaced by the route's own entry for that field.
            let own_entries = context_entries(
                file,
                &route.context,
                &format!("{field}.context"),
                SourceKinds::Http,
                sink,
            );
            let template = route.path.value.as_str();
            let params = template_params(template);
            let check_params = |entry: &ContextEntry<'_>, sink: &mut Sink| {
                for (p, loc) in &entry.params {
                    if !params.contains(&&**p) {
                        let list = if params.is_empty() {
                            "none".to_owned()
                        } else {
                            params.join(", ")
                        };
                        sink.at(
                            entry.file,
                            *loc,
                            &entry.at,
                            format!(
                                "route {} ({template}) has no path parameter {p:?}; its parameters: {list}",
                                route.name.value
                            ),
                        );
                    }
                }
            };
            let fields = merge_context(
                &defaults,
                &own_entries,
                |e, sink| check_params(e, sink),
                sink,
            );
            let context = ContextMap::compile(fields, &base.amount_field);
            // A route that refuses any body (see `Route::refuses_body`) has none to redact.
            if let Some(m) = &method {
                if crate::snapshot::is_bodiless_method(m) && !context.reads_body && !allow_body {
                    let why = format!("this route has no body to redact: a {m} route that reads no body field and does not set allow_body refuses any request body");
                    nothing_to_redact(file, &field, &route.redact, why, sink);
                }
            }
            let review = review_settings(
                file,
                &field,
                &route.redact,
                &route.reviewer_roles,
                Payload::Body,
                sink,
            );
            drafts.push(RouteDraft {
                file: file.to_path_buf(),
                field,
                path_loc: route.path.referenced,
                name: route.name.value.as_str().into(),
                method,
                path: route.path.value.clone(),
                goal: route.goal.value.clone(),
                tools: parts.tools,
                side_effects: parts.side_effects,
                own: parts.own,
                questions: parts.questions,
                context,
                mode: parts.mode,
                allow_body,
                review,
                mcp: None,
            });
        }
    }
    drafts
}

/// Builds the route table from every route with a valid method; reports each template
/// that is malformed or ties with an earlier one.
pub(super) fn build_table(routes: &[RouteDraft], sink: &mut Sink) -> Option<RouteTable> {
    static STREAMS: [Method; 2] = [Method::GET, Method::DELETE];
    let mut entries: Vec<(usize, &Method, &str)> = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let Some(method) = &r.method else { continue };
        match r.mcp {
            None => entries.push((i, method, &r.path)),
            Some(McpDraft::Endpoint { streams, .. }) => {
                entries.push((i, method, &r.path));
                if streams {
                    entries.extend(STREAMS.iter().map(|m| (i, m, r.path.as_str())));
                }
            }
            // Reached through the endpoint: not by method and path.
            Some(McpDraft::Entry { .. }) => {}
        }
    }
    match RouteTable::build_indexed(entries) {
        Ok(table) => Some(table),
        Err(errors) => {
            for e in errors {
                let r = &routes[e.index];
                let at = match r.mcp {
                    None => format!("{}.path", r.field),
                    Some(_) => "spec.path".to_owned(),
                };
                sink.at(&r.file, r.path_loc, &at, e.message);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_and_templates() {
        assert_eq!(
            template_params("/db/{id}/files/{*rest}"),
            vec!["id", "rest"]
        );
        assert_eq!(template_params("/a/{{literal}}"), Vec::<&str>::new());
        assert!(is_method_token("POST") && !is_method_token("post") && !is_method_token(""));
    }
}
