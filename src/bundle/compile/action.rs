//! What routes and MCP tools have in common: an action (goal, tools, side effects,
//! constraints, questions, mode) and a context map whose defaults the entry's own fields
//! replace; and the one namespace their names share.

use super::*;

/// The action keys of a route or an MCP tool, resource or prompt, as written.
pub(super) struct ActionSpec<'a> {
    pub(super) goal: &'a Str,
    pub(super) tools: &'a [Str],
    pub(super) side_effects: &'a [Str],
    pub(super) constraints: &'a [Str],
    pub(super) questions: &'a OrderedMap<Str, String>,
    pub(super) mode: Option<&'a Str>,
}

/// An action, checked.
pub(super) struct ActionParts {
    pub(super) tools: Vec<String>,
    pub(super) side_effects: Vec<String>,
    pub(super) own: Requirements,
    pub(super) questions: QuestionTable,
    pub(super) mode: Mode,
}

/// Route names, with where each was first written: a route and an MCP tool may not share
/// one (it names the metrics series and the audit record).
pub(super) type Names = HashMap<String, (PathBuf, Location)>;

/// Reports `name` when an earlier route or MCP entry has it.
pub(super) fn unique_name(seen: &mut Names, file: &Path, name: &Str, at: &str, sink: &mut Sink) {
    if let Some((first, loc)) = seen.get(&name.value) {
        sink.at(
            file,
            name.referenced,
            at,
            format!(
                "duplicate route name {:?}; first defined at {}:{}:{}",
                name.value,
                first.display(),
                loc.line(),
                loc.column()
            ),
        );
    } else {
        seen.insert(name.value.clone(), (file.to_path_buf(), name.referenced));
    }
}

/// Checks an action's keys (at `field`).
pub(super) fn action_parts(
    base: &Base,
    file: &Path,
    field: &str,
    route: ActionSpec<'_>,
    sink: &mut Sink,
) -> ActionParts {
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
        route.constraints,
        &format!("{field}.constraints"),
        &mut own,
        sink,
    );
    let route_questions = questions(file, route.questions, &format!("{field}.questions"), sink);
    // A route's own mode wins; otherwise the bundle's (`spec.mode`).
    let mode = parse_mode(file, route.mode, &format!("{field}.mode"), sink).unwrap_or(base.mode);

    ActionParts {
        tools,
        side_effects,
        own,
        questions: route_questions,
        mode,
    }
}

/// The context fields of an entry: each default, unless the entry has its own for that
/// field, then the entry's own; `check` sees each entry kept.
pub(super) fn merge_context(
    defaults: &[ContextEntry<'_>],
    own: &[ContextEntry<'_>],
    check: impl Fn(&ContextEntry<'_>, &mut Sink),
    sink: &mut Sink,
) -> Vec<(Field, Vec<Source>)> {
    let mut fields = Vec::new();
    for d in defaults {
        if own.iter().any(|o| o.key == d.key) {
            continue;
        }
        check(d, sink);
        fields.push((d.field.clone(), d.sources.clone()));
    }
    for o in own {
        check(o, sink);
        fields.push((o.field.clone(), o.sources.clone()));
    }
    fields
}
