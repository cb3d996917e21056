//! The `Bundle` document: classes, labels, windows, risk, approval and questions.

use super::*;

pub(super) fn compile_bundle(doc: &Doc<raw::BundleDoc>, digest: &str, sink: &mut Sink) -> Base {
    let file = doc.file.as_path();
    let meta = &doc.doc.metadata.value;
    check_name(file, &meta.name, "metadata.name", "bundle name", sink);
    let version = &meta.version;
    if version.value.is_empty()
        || version.value.contains('@')
        || version.value.chars().any(char::is_whitespace)
    {
        sink.at(
            file,
            version.referenced,
            "metadata.version",
            format!(
                "invalid version {:?}: it must be non-empty, without whitespace or '@'",
                version.value
            ),
        );
    }
    let spec = &doc.doc.spec;
    let mut policy = Policy {
        policy_version: format!("{}@{}", meta.name.value, version.value).into(),
        digest: digest.into(),
        ..Policy::default()
    };

    // Environments first: everything else may refer to them.
    if let Some(envs) = &spec.environments {
        let mut known: Vec<Box<str>> = Vec::new();
        for (i, e) in envs.iter().enumerate() {
            let field = format!("spec.environments[{i}]");
            let v = e.value.as_str();
            if v.is_empty() || v.chars().any(char::is_whitespace) || v != v.to_ascii_lowercase() {
                sink.at(
                    file,
                    e.referenced,
                    &field,
                    format!("invalid environment {v:?}: use lower case, without whitespace"),
                );
            } else if known.iter().any(|k| &**k == v) {
                sink.at(
                    file,
                    e.referenced,
                    &field,
                    format!("duplicate environment {v:?}"),
                );
            } else {
                known.push(v.into());
            }
        }
        policy.known_environments = Some(known.into());
    }

    // Approval ageing.
    let mut approval = ApprovalPolicy::default();
    if let Some(s) = &spec.approval.max_age {
        if let Some(d) = duration(file, s, "spec.approval.max_age", sink) {
            if d.is_zero() {
                sink.at(
                    file,
                    s.referenced,
                    "spec.approval.max_age",
                    "max_age must be longer than zero",
                );
            }
            approval.max_age = d;
        }
    }
    if let Some(s) = &spec.approval.clock_skew {
        if let Some(d) = duration(file, s, "spec.approval.clock_skew", sink) {
            approval.clock_skew = d;
        }
    }
    policy.approval = approval;

    let amount_field = match &spec.limits.amount_field {
        None => "amount".to_owned(),
        Some(s) => {
            if !is_field_name(&s.value) {
                sink.at(
                    file,
                    s.referenced,
                    "spec.limits.amount_field",
                    format!(
                        "invalid field name {:?}: use lower_snake_case ([a-z][a-z0-9_]*)",
                        s.value
                    ),
                );
            }
            s.value.clone()
        }
    };

    // Side-effect classes and their labels.
    let mut owners: HashMap<String, ClassId> = HashMap::new();
    for (i, (name, class)) in spec.side_effects.0.iter().enumerate() {
        let field = format!("spec.side_effects.{}", name.value);
        if i >= MAX_CLASSES {
            sink.at(
                file,
                name.referenced,
                &field,
                format!(
                    "too many side-effect classes: a bundle defines at most {MAX_CLASSES} (this is number {})",
                    i + 1
                ),
            );
            continue;
        }
        let id = i as ClassId;
        if !is_snake(&name.value) {
            sink.at(
                file,
                name.referenced,
                &field,
                format!(
                    "invalid class name {:?}: use lower_snake_case ([a-z0-9_]+)",
                    name.value
                ),
            );
        }
        let risk = class
            .risk
            .as_ref()
            .map_or(0, |r| percent(file, r, &format!("{field}.risk"), sink));
        let class_questions =
            questions(file, &class.questions, &format!("{field}.questions"), sink);
        let mut claim = |label: &str, loc: Location, at: &str, sink: &mut Sink| {
            let n = normalize_label(label);
            if n.is_empty() {
                sink.at(file, loc, at, "the label must not be empty");
                return;
            }
            match owners.get(&n) {
                Some(&other) if other != id => sink.at(
                    file,
                    loc,
                    at,
                    format!(
                        "label {label:?} is already claimed by class {}",
                        spec.side_effects.0[usize::from(other)].0.value
                    ),
                ),
                Some(_) => {}
                None => {
                    owners.insert(n, id);
                }
            }
        };
        claim(&name.value, name.referenced, &field, sink);
        for (j, label) in class.labels.iter().enumerate() {
            claim(
                &label.value,
                label.referenced,
                &format!("{field}.labels[{j}]"),
                sink,
            );
        }
        policy.classes.push(SideEffectClass {
            name: name.value.as_str().into(),
            risk,
            destructive: class.destructive,
            signal: format!("side_effect:{}", name.value).into(),
            questions: class_questions,
        });
    }
    policy.labels = owners
        .into_iter()
        .map(|(label, id)| (label.into_boxed_str(), id))
        .collect();

    // Risk model.
    let mut risk = RiskModel::default();
    if let Some(u) = &spec.risk.unclassified {
        risk.unclassified_weight = percent(file, u, "spec.risk.unclassified", sink);
    }
    if let Some(d) = spec.risk.defer_unclassified {
        risk.defer_unclassified = d;
    }
    let mode = parse_mode(file, spec.mode.as_ref(), "spec.mode", sink).unwrap_or_default();
    let mut base = Base {
        name: meta.name.value.clone(),
        version: version.value.clone(),
        policy,
        amount_field,
        mode,
    };
    for (env, weight) in &spec.risk.environments.0 {
        let field = format!("spec.risk.environments.{}", env.value);
        if let Err(m) = base.check_environment(&env.value) {
            sink.at(file, env.referenced, &field, m);
        }
        let w = percent(file, weight, &field, sink);
        let name = env.value.to_ascii_lowercase();
        risk.environments.push((
            name.as_str().into(),
            w,
            format!("environment:{name}").into(),
        ));
    }
    base.policy.risk = risk;

    // Change windows.
    for (name, w) in &spec.windows.0 {
        let field = format!("spec.windows.{}", name.value);
        if !is_snake(&name.value) {
            sink.at(
                file,
                name.referenced,
                &field,
                format!(
                    "invalid window name {:?}: use lower_snake_case, the form constraints reach it in (\"business-hours only\" names business_hours)",
                    name.value
                ),
            );
        }
        let window_name = normalize_label(&name.value);
        let time_zone = match TimeZone::get(&w.time_zone.value) {
            Ok(tz) => tz,
            Err(e) => {
                sink.at(
                    file,
                    w.time_zone.referenced,
                    &format!("{field}.time_zone"),
                    format!("unknown time zone {:?}: {e}", w.time_zone.value),
                );
                TimeZone::UTC
            }
        };
        let mut days = 0u8;
        if w.days.value.is_empty() {
            sink.at(
                file,
                w.days.referenced,
                &format!("{field}.days"),
                "a window needs at least one day",
            );
        }
        for (j, d) in w.days.value.iter().enumerate() {
            match parse_weekday(&d.value) {
                Some(bit) => days |= bit,
                None => sink.at(
                    file,
                    d.referenced,
                    &format!("{field}.days[{j}]"),
                    format!(
                        "invalid day {:?}: expected mon, tue, wed, thu, fri, sat or sun",
                        d.value
                    ),
                ),
            }
        }
        let minute = |s: &Str, key: &str, sink: &mut Sink| {
            parse_time_of_day(&s.value).unwrap_or_else(|| {
                sink.at(
                    file,
                    s.referenced,
                    &format!("{field}.{key}"),
                    format!("invalid time {:?}: expected HH:MM, 00:00 to 24:00", s.value),
                );
                0
            })
        };
        let start = minute(&w.start, "start", sink);
        let end = minute(&w.end, "end", sink);
        if start == end && parse_time_of_day(&w.start.value).is_some() {
            sink.at(
                file,
                w.end.referenced,
                &format!("{field}.end"),
                "end equals start: the window would never open",
            );
        }
        base.policy.windows.push(ChangeWindow {
            name: window_name.into(),
            time_zone,
            days,
            start_minute: start,
            end_minute: end,
        });
    }

    // Bundle-wide questions: complete, defaults first.
    let mut table = QuestionTable::default();
    for code in IssueCode::ALL {
        if code.class() == IssueClass::Defer {
            table.set(*code, code.default_question().into());
        }
    }
    let own = questions(file, &spec.questions, "spec.questions", sink);
    for code in IssueCode::ALL {
        if let Some(q) = own.get(*code) {
            table.set(*code, q.clone());
        }
    }
    base.policy.questions = table;
    base
}
