//! Context maps as written: each field's sources compiled (header, path parameter, query
//! parameter, JSON body, or for MCP the call's arguments), with every error located.

use super::*;

/// One compiled context entry, with where it was written.
pub(super) struct ContextEntry<'a> {
    pub(super) key: &'a str,
    pub(super) field: Field,
    pub(super) sources: Vec<Source>,
    /// Path parameters the sources read, with their locations.
    pub(super) params: Vec<(Arc<str>, Location)>,
    pub(super) file: &'a Path,
    pub(super) at: String,
}

/// Where a context map's values may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SourceKinds {
    /// A REST route: header, path parameter, query parameter, JSON body.
    Http,
    /// An MCP tool, resource or prompt: header, or the call's arguments.
    Mcp,
}

impl SourceKinds {
    const fn keys(self) -> &'static str {
        match self {
            SourceKinds::Http => "header, param, query, body",
            SourceKinds::Mcp => "header, argument",
        }
    }
}

/// Compiles one source, or reports why it cannot be.
fn source(
    file: &Path,
    spec: &SourceSpec,
    loc: Location,
    at: &str,
    kinds: SourceKinds,
    params: &mut Vec<(Arc<str>, Location)>,
    sink: &mut Sink,
) -> Option<Source> {
    let set: Vec<&str> = [
        ("header", spec.header.is_some()),
        ("param", spec.param.is_some()),
        ("query", spec.query.is_some()),
        ("body", spec.body.is_some()),
        ("argument", spec.argument.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect();
    let allowed = kinds.keys();
    if set.len() != 1 || !allowed.split(", ").any(|k| k == set[0]) {
        let found = if set.is_empty() {
            "none".to_owned()
        } else {
            set.join(", ")
        };
        sink.at(
            file,
            loc,
            at,
            format!("a source has exactly one of {allowed}; found {found}"),
        );
        return None;
    }
    let fail = |sink: &mut Sink, key: &str, message: String| {
        sink.at(file, loc, &format!("{at}.{key}"), message);
        None
    };
    if let Some(a) = &spec.argument {
        if a.is_empty() {
            let m = "an argument source needs a JSON pointer into the arguments, e.g. /amount";
            return fail(sink, "argument", m.into());
        }
        // A pointer into the call's `params.arguments`, read from the JSON-RPC body.
        return match Source::parse_pointer(a) {
            Ok(Source::Body(tokens)) => {
                let mut all: Vec<Box<str>> = vec!["params".into(), "arguments".into()];
                all.extend(tokens.iter().cloned());
                Some(Source::Body(Arc::from(all)))
            }
            Ok(_) => None,
            Err(m) => fail(sink, "argument", m),
        };
    }
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

pub(super) fn context_entries<'a>(
    file: &'a Path,
    map: &'a OrderedMap<Str, Spanned<Sources>>,
    field: &str,
    kinds: SourceKinds,
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
                if let Some(s) = source(
                    file,
                    s,
                    sources.referenced,
                    &at,
                    kinds,
                    &mut entry.params,
                    sink,
                ) {
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
                    if let Some(s) = source(
                        file,
                        &s.value,
                        s.referenced,
                        &here,
                        kinds,
                        &mut entry.params,
                        sink,
                    ) {
                        entry.sources.push(s);
                    }
                }
            }
        }
        out.push(entry);
    }
    out
}
