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
}

/// One compiled context entry, with where it was written.
struct ContextEntry<'a> {
    key: &'a str,
    field: Field,
    sources: Vec<Source>,
    /// Path parameters the sources read, with their locations.
    params: Vec<(Arc<str>, Location)>,
    file: &'a Path,
    at: String,
}

/// Compiles one source, or reports why it cannot be.
fn source(
    file: &Path,
    spec: &SourceSpec,
    loc: Location,
    at: &str,
    params: &mut Vec<(Arc<str>, Location)>,
    sink: &mut Sink,
) -> Option<Source> {
    let set: Vec<&str> = [
        ("header", &spec.header),
        ("param", &spec.param),
        ("query", &spec.query),
        ("body", &spec.body),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(k, _)| k)
    .collect();
    if set.len() != 1 {
        let found = if set.is_empty() {
            "none".to_owned()
        } else {
            set.join(", ")
        };
        sink.at(
            file,
            loc,
            at,
            format!("a source has exactly one of header, param, query, body; found {found}"),
        );
        return None;
    }
    let fail = |sink: &mut Sink, key: &str, message: String| {
        sink.at(file, loc, &format!("{at}.{key}"), message);
        None
    };
    if let Some(h) = &spec.header {
        return match HeaderName::from_bytes(h.trim().as_bytes()) {
            Ok(name) => match crate::headers::replaced_upstream(&name) {
                None => Some(Source::Header(name)),
                Some(why) => fail(
                    sink,
                    "header",
                    format!("{name} cannot be read as context: {why}, so the upstream would not get the value evaluated"),
                ),
            },
            Err(_) => fail(sink, "header", format!("invalid header name {h:?}")),
        };
    }
    if let Some(p) = &spec.param {
        if p.is_empty() {
            return fail(sink, "param", "the parameter name must not be empty".into());
        }
        let p: Arc<str> = p.as_str().into();
        params.push((p.clone(), loc));
        return Some(Source::Param(p));
    }
    if let Some(q) = &spec.query {
        if q.is_empty() {
            return fail(
                sink,
                "query",
                "the query parameter name must not be empty".into(),
            );
        }
        return Some(Source::Query(q.as_str().into()));
    }
    let b = spec.body.as_deref().unwrap_or_default();
    if b.is_empty() {
        let m = "a body source needs a JSON pointer to a field, e.g. /amount".to_string();
        return fail(sink, "body", m);
    }
    match Source::parse_pointer(b) {
        Ok(source) => Some(source),
        Err(m) => fail(sink, "body", m),
    }
}

fn context_entries<'a>(
    file: &'a Path,
    map: &'a OrderedMap<Str, Spanned<Sources>>,
    field: &str,
    sink: &mut Sink,
) -> Vec<ContextEntry<'a>> {
    let mut out = Vec::new();
    for (key, sources) in &map.0 {
        let at = format!("{field}.{}", key.value);
        if !is_field_name(&key.value) {
            sink.at(
                file,
                key.referenced,
                &at,
                format!(
                    "invalid context field {:?}: use lower_snake_case ([a-z][a-z0-9_]*)",
                    key.value
                ),
            );
        }
        let mut entry = ContextEntry {
            key: &key.value,
            field: Field::parse(&key.value),
            sources: Vec::new(),
            params: Vec::new(),
            file,
            at: at.clone(),
        };
        match &sources.value {
            Sources::One(s) => {
                if let Some(s) = source(file, s, sources.referenced, &at, &mut entry.params, sink) {
                    entry.sources.push(s);
                }
            }
            Sources::Many(list) => {
                if list.is_empty() {
                    sink.at(
                        file,
                        sources.referenced,
                        &at,
                        "the list of sources is empty",
                    );
                }
                for (j, s) in list.iter().enumerate() {
                    let here = format!("{at}[{j}]");
                    if let Some(s) =
                        source(file, &s.value, s.referenced, &here, &mut entry.params, sink)
                    {
                        entry.sources.push(s);
                    }
                }
            }
        }
        out.push(entry);
    }
    out
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
    sink: &mut Sink,
) -> Vec<RouteDraft> {
    let mut drafts = Vec::new();
    let mut seen: HashMap<String, (PathBuf, Location)> = HashMap::new();
    for doc in maps {
        let file = doc.file.as_path();
        let spec = &doc.doc.spec;
        let defaults = context_entries(file, &spec.defaults.context, "spec.defaults.context", sink);
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
            if let Some((first, loc)) = seen.get(&route.name.value) {
                sink.at(
                    file,
                    route.name.referenced,
                    &format!("{field}.name"),
                    format!(
                        "duplicate route name {:?}; first defined at {}:{}:{}",
                        route.name.value,
                        first.display(),
                        loc.line(),
                        loc.column()
                    ),
                );
            } else {
                seen.insert(
                    route.name.value.clone(),
                    (file.to_path_buf(), route.name.referenced),
                );
            }
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
            if route.goal.value.trim().is_empty() {
                sink.at(
                    file,
                    route.goal.referenced,
                    &format!("{field}.goal"),
                    "the goal must not be empty",
                );
            }
            let mut tools = Vec::new();
            for (j, t) in route.tools.iter().enumerate() {
                if t.value.trim().is_empty() {
                    sink.at(
                        file,
                        t.referenced,
                        &format!("{field}.tools[{j}]"),
                        "must not be empty",
                    );
                } else {
                    tools.push(t.value.trim().to_owned());
                }
            }
            let mut side_effects = Vec::new();
            for (j, s) in route.side_effects.iter().enumerate() {
                if base.policy.class_of(&s.value).is_none() {
                    sink.at(
                        file,
                        s.referenced,
                        &format!("{field}.side_effects[{j}]"),
                        format!(
                            "side effect {:?} is not a label of any class in the Bundle's spec.side_effects",
                            s.value
                        ),
                    );
                }
                side_effects.push(s.value.clone());
            }
            let mut own = Requirements::default();
            constraints(
                base,
                file,
                &route.constraints,
                &format!("{field}.constraints"),
                &mut own,
                sink,
            );
            let route_questions =
                questions(file, &route.questions, &format!("{field}.questions"), sink);
            // A route's own mode wins; otherwise the bundle's (`spec.mode`).
            let mode = parse_mode(file, route.mode.as_ref(), &format!("{field}.mode"), sink)
                .unwrap_or(base.mode);

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
            let own_entries =
                context_entries(file, &route.context, &format!("{field}.context"), sink);
            let template = route.path.value.as_str();
            let params = template_params(template);
            let mut fields = Vec::new();
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
            for d in &defaults {
                if own_entries.iter().any(|o| o.key == d.key) {
                    continue;
                }
                check_params(d, sink);
                fields.push((d.field.clone(), d.sources.clone()));
            }
            for o in &own_entries {
                check_params(o, sink);
                fields.push((o.field.clone(), o.sources.clone()));
            }
            drafts.push(RouteDraft {
                file: file.to_path_buf(),
                field,
                path_loc: route.path.referenced,
                name: route.name.value.as_str().into(),
                method,
                path: route.path.value.clone(),
                goal: route.goal.value.clone(),
                tools,
                side_effects,
                own,
                questions: route_questions,
                context: ContextMap::compile(fields, &base.amount_field),
                mode,
                allow_body,
            });
        }
    }
    drafts
}

/// Builds the route table from every route with a valid method; reports each template
/// that is malformed or ties with an earlier one.
pub(super) fn build_table(routes: &[RouteDraft], sink: &mut Sink) -> Option<RouteTable> {
    let included: Vec<usize> = (0..routes.len())
        .filter(|&i| routes[i].method.is_some())
        .collect();
    let pairs = included.iter().map(|&i| {
        let r = &routes[i];
        (r.method.as_ref().expect("filtered"), r.path.as_str())
    });
    match RouteTable::build(pairs) {
        Ok(table) => Some(table),
        Err(errors) => {
            for e in errors {
                let r = &routes[included[e.index]];
                sink.at(&r.file, r.path_loc, &format!("{}.path", r.field), e.message);
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
