//! `RuleSet` documents: conditions and requirements.

use super::*;

pub(super) fn compile_rules(
    base: &Base,
    sets: &[Doc<raw::RuleSetDoc>],
    routes: &RouteNames<'_>,
    sink: &mut Sink,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut seen: HashMap<String, (PathBuf, Location)> = HashMap::new();
    for doc in sets {
        let file = doc.file.as_path();
        for (i, r) in doc.doc.spec.rules.iter().enumerate() {
            let field = format!("spec.rules[{i}]");
            let rule = &r.value;
            check_name(
                file,
                &rule.name,
                &format!("{field}.name"),
                "rule name",
                sink,
            );
            if let Some((first, loc)) = seen.get(&rule.name.value) {
                sink.at(
                    file,
                    rule.name.referenced,
                    &format!("{field}.name"),
                    format!(
                        "duplicate rule name {:?}; first defined at {}:{}:{}",
                        rule.name.value,
                        first.display(),
                        loc.line(),
                        loc.column()
                    ),
                );
            } else {
                seen.insert(
                    rule.name.value.clone(),
                    (file.to_path_buf(), rule.name.referenced),
                );
            }
            let when = compile_when(base, file, rule, r.referenced, &field, routes, sink);
            let require = match &rule.require {
                None => {
                    sink.at(
                        file,
                        r.referenced,
                        &format!("{field}.require"),
                        "a rule needs require: the requirements it adds",
                    );
                    Requirements::default()
                }
                Some(req) => compile_require(base, file, req, &format!("{field}.require"), sink),
            };
            let mut require = require;
            require.scope_counters(&format!("rule:{}", rule.name.value));
            rules.push(Rule {
                name: rule.name.value.as_str().into(),
                when,
                require,
            });
        }
    }
    rules
}

const WHEN_KEYS: &str = "side_effects, tools, routes, environments, min_risk";

fn compile_when(
    base: &Base,
    file: &Path,
    rule: &raw::RuleSpec,
    rule_loc: Location,
    field: &str,
    routes: &RouteNames<'_>,
    sink: &mut Sink,
) -> Condition {
    let at = format!("{field}.when");
    let Some(when) = &rule.when else {
        sink.at(
            file,
            rule_loc,
            &at,
            format!("a rule needs when, with at least one of {WHEN_KEYS}"),
        );
        return Condition::default();
    };
    let w = &when.value;
    if w.side_effects.is_none()
        && w.tools.is_none()
        && w.routes.is_none()
        && w.environments.is_none()
        && w.min_risk.is_none()
    {
        sink.at(
            file,
            when.referenced,
            &at,
            format!("when is empty: name at least one of {WHEN_KEYS} (a rule for everything is not allowed)"),
        );
    }
    let mut cond = Condition::default();
    if let Some(list) = &w.side_effects {
        let here = format!("{at}.side_effects");
        if list.value.is_empty() {
            sink.at(file, list.referenced, &here, "the list must not be empty");
        }
        let mut mask = ClassMask::default();
        for (j, c) in list.value.iter().enumerate() {
            match base.class_by_name(&c.value) {
                Some(id) => mask = mask.with(id),
                None => {
                    let hint = base
                        .policy
                        .class_of(&c.value)
                        .map(|id| {
                            format!(
                                "; {:?} is a label of class {}, name the class",
                                c.value,
                                base.policy.classes[usize::from(id)].name
                            )
                        })
                        .unwrap_or_default();
                    sink.at(
                        file,
                        c.referenced,
                        &format!("{here}[{j}]"),
                        format!(
                            "unknown side-effect class {:?}{hint} (classes: {})",
                            c.value,
                            base.policy
                                .classes
                                .iter()
                                .map(|c| &*c.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
        }
        cond.classes = Some(mask);
    }
    if let Some(list) = &w.tools {
        cond.tools = Some(name_list(file, list, &format!("{at}.tools"), sink).into());
    }
    if let Some(list) = &w.routes {
        let here = format!("{at}.routes");
        for (j, r) in list.value.iter().enumerate() {
            if routes.is_unknown(&r.value) {
                sink.at(
                    file,
                    r.referenced,
                    &format!("{here}[{j}]"),
                    format!("unknown route {:?}: no RouteMap defines it", r.value),
                );
            }
        }
        cond.routes = Some(name_list(file, list, &here, sink).into());
    }
    if let Some(list) = &w.environments {
        cond.environments = Some(environments(
            base,
            file,
            list,
            &format!("{at}.environments"),
            sink,
        ));
    }
    if let Some(m) = &w.min_risk {
        cond.min_risk = Some(percent(file, m, &format!("{at}.min_risk"), sink));
    }
    cond
}

fn environments(
    base: &Base,
    file: &Path,
    list: &Spanned<Vec<Str>>,
    at: &str,
    sink: &mut Sink,
) -> NameSet {
    for (j, e) in list.value.iter().enumerate() {
        if let Err(m) = base.check_environment(&e.value) {
            sink.at(file, e.referenced, &format!("{at}[{j}]"), m);
        }
    }
    name_list(file, list, at, sink)
        .into_iter()
        .map(|e| e.to_ascii_lowercase().into_boxed_str())
        .collect()
}

fn compile_require(
    base: &Base,
    file: &Path,
    req: &Spanned<raw::RequireSpec>,
    at: &str,
    sink: &mut Sink,
) -> Requirements {
    let spec = &req.value;
    let mut r = Requirements {
        forbid: spec.deny,
        approval: spec.approval,
        rollback_plan: spec.rollback_plan,
        mfa: spec.mfa,
        max_iterations: spec.max_iterations,
        ..Requirements::default()
    };
    if let Some(list) = &spec.roles {
        r.roles
            .push(name_list(file, list, &format!("{at}.roles"), sink).into());
    }
    if let Some(list) = &spec.environments {
        r.environments.push(environments(
            base,
            file,
            list,
            &format!("{at}.environments"),
            sink,
        ));
    }
    if let Some(w) = &spec.change_window {
        match base.window(&w.value) {
            Some(id) => r.windows.push(id),
            None => sink.at(
                file,
                w.referenced,
                &format!("{at}.change_window"),
                format!(
                    "unknown change window {:?}: the Bundle's spec.windows does not define it",
                    w.value
                ),
            ),
        }
    }
    if let Some(t) = &spec.timeout {
        if let Some(d) = duration(file, t, &format!("{at}.timeout"), sink) {
            r.timeout_seconds = Some(d.as_secs_f64());
        }
    }
    let limit = |v: &Option<Spanned<f64>>, key: &str, sink: &mut Sink| {
        let v = v.as_ref()?;
        if v.value.is_finite() && v.value >= 0.0 {
            Some(v.value)
        } else {
            sink.at(
                file,
                v.referenced,
                &format!("{at}.{key}"),
                format!("{} is not a limit: expected a non-negative number", v.value),
            );
            None
        }
    };
    r.max_cost_usd = limit(&spec.max_cost_usd, "max_cost_usd", sink);
    r.max_amount = limit(&spec.max_amount, "max_amount", sink);
    constraints(
        base,
        file,
        &spec.constraints,
        &format!("{at}.constraints"),
        &mut r,
        sink,
    );
    let declares_something = spec.deny
        || spec.approval
        || spec.rollback_plan
        || spec.mfa
        || spec.max_iterations.is_some()
        || spec.roles.is_some()
        || spec.environments.is_some()
        || spec.change_window.is_some()
        || spec.timeout.is_some()
        || spec.max_cost_usd.is_some()
        || spec.max_amount.is_some()
        || !spec.constraints.is_empty();
    if !declares_something {
        sink.at(
            file,
            req.referenced,
            at,
            "require is empty: the rule would add nothing",
        );
    }
    r
}
