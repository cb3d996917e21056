//! Validation and compilation: raw YAML structs -> the compiled [`Policy`], routes, route
//! table and test cases. Every check runs and every error is collected; a snapshot is only
//! built when there are none.

use super::raw::{self, OrderedMap, SourceSpec, Sources, Str, API_VERSION};
use super::runner::{Expectation, SourceLocation, TestCase, TestInput, TestRequest};
use super::{BundleError, BundleErrors, BundleFile};
use crate::classify::router::RouteTable;
use crate::extract::{ContextMap, Field, Source};
use crate::policy::constraint::{self, ApplyError, Constraint};
use crate::policy::issue::IssueClass;
use crate::policy::model::{
    normalize_label, ApprovalPolicy, ClassId, ClassMask, Condition, QuestionTable, RiskModel, Rule,
    SideEffectClass,
};
use crate::policy::requirements::{NameSet, WindowId};
use crate::policy::window::{parse_time_of_day, parse_weekday, ChangeWindow};
use crate::policy::{IssueCode, IssueSet, Policy, Requirements, Verdict};
use crate::snapshot::{BundleMeta, Mode, Route, Snapshot};
use bytes::Bytes;
use http::{HeaderName, Method};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_saphyr::{Location, Spanned};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod bundle;
mod cases;
mod keys;
mod routes;
mod rules;
mod trust;

use bundle::compile_bundle;
use cases::compile_tests;
use routes::{build_table, compile_routes};
use rules::compile_rules;

/// The most side-effect classes a bundle may define (they are a `u32` mask).
const MAX_CLASSES: usize = 32;

/// Collects errors.
#[derive(Default)]
struct Sink {
    errors: Vec<BundleError>,
}

impl Sink {
    fn push(&mut self, file: &Path, loc: Option<Location>, field: &str, message: String) {
        self.errors.push(BundleError {
            file: file.to_path_buf(),
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            field: field.to_owned(),
            message,
        });
    }

    fn at(&mut self, file: &Path, loc: Location, field: &str, message: impl Into<String>) {
        self.push(file, Some(loc), field, message.into());
    }

    /// A missing top-level key has no location of its own: point at the document's start.
    fn at_start(&mut self, file: &Path, field: &str, message: String) {
        self.errors.push(BundleError {
            file: file.to_path_buf(),
            line: Some(1),
            column: Some(1),
            field: field.to_owned(),
            message,
        });
    }

    fn finish(mut self) -> BundleErrors {
        // Stable: errors on one spot keep the order they were found in.
        self.errors
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        BundleErrors(self.errors)
    }
}

/// A parsed document and the file it came from.
struct Doc<T> {
    file: PathBuf,
    doc: T,
}

#[derive(Default)]
struct Docs {
    bundles: Vec<(Doc<raw::BundleDoc>, Location)>,
    /// A file of kind `Bundle` was seen, even if it did not parse.
    bundle_seen: bool,
    /// Some route may be missing: a `RouteMap` (or a file of unknown kind) did not parse.
    /// References to unknown routes are then not reported: they would only echo that error.
    routes_incomplete: bool,
    route_maps: Vec<Doc<raw::RouteMapDoc>>,
    rule_sets: Vec<Doc<raw::RuleSetDoc>>,
    suites: Vec<Doc<raw::TestSuiteDoc>>,
}

const KINDS: &str = "Bundle, RouteMap, RuleSet, TestSuite";

fn parse_file(path: &Path, bytes: &[u8], sink: &mut Sink, docs: &mut Docs) {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            sink.push(path, None, "", format!("the file is not UTF-8: {e}"));
            return;
        }
    };
    let has_content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !has_content {
        sink.push(
            path,
            None,
            "",
            format!(
                "the file is empty; expected a document with apiVersion: {API_VERSION} and kind"
            ),
        );
        return;
    }
    let header: raw::Header = match raw::parse(text) {
        Ok(h) => h,
        Err(e) => {
            // The kind is unknown; guess it from the text only to avoid echo errors.
            match guess_kind(text) {
                Some("Bundle") => docs.bundle_seen = true,
                Some("RuleSet" | "TestSuite") => {}
                _ => docs.routes_incomplete = true,
            }
            return report_parse(path, e, sink);
        }
    };
    match &header.api_version {
        None => sink.at_start(
            path,
            "apiVersion",
            format!("missing; expected {API_VERSION}"),
        ),
        Some(v) if v.value != API_VERSION => sink.at(
            path,
            v.referenced,
            "apiVersion",
            format!(
                "unsupported apiVersion {:?}; expected {API_VERSION}",
                v.value
            ),
        ),
        Some(_) => {}
    }
    let Some(kind) = header.kind else {
        sink.at_start(path, "kind", format!("missing; expected one of {KINDS}"));
        return;
    };
    let file = path.to_path_buf();
    let result = match kind.value.as_str() {
        "Bundle" => {
            docs.bundle_seen = true;
            raw::parse(text).map(|doc| docs.bundles.push((Doc { file, doc }, kind.referenced)))
        }
        "RouteMap" => raw::parse(text)
            .map(|doc| docs.route_maps.push(Doc { file, doc }))
            .inspect_err(|_| docs.routes_incomplete = true),
        "RuleSet" => raw::parse(text).map(|doc| docs.rule_sets.push(Doc { file, doc })),
        "TestSuite" => raw::parse(text).map(|doc| docs.suites.push(Doc { file, doc })),
        other => {
            sink.at(
                path,
                kind.referenced,
                "kind",
                format!("unknown kind {other:?}; expected one of {KINDS}"),
            );
            return;
        }
    };
    if let Err(e) = result {
        report_parse(path, e, sink);
    }
}

/// The value of a top-level `kind:` line, for a file that does not parse.
fn guess_kind(text: &str) -> Option<&str> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix("kind:")?.trim();
        Some(v.trim_matches(|c| c == '"' || c == '\''))
    })
}

fn report_parse(path: &Path, e: raw::ParseError, sink: &mut Sink) {
    sink.errors.push(BundleError {
        file: path.to_path_buf(),
        line: e.line,
        column: e.column,
        field: e.field,
        message: e.message,
    });
}

/// Everything the bundle document defines that the other documents refer to.
struct Base {
    name: String,
    version: String,
    policy: Policy,
    amount_field: String,
    /// `spec.mode`: the mode of routes that set none.
    mode: Mode,
}

/// A `mode:` value; `None` when absent (or invalid, which is reported).
fn parse_mode(file: &Path, mode: Option<&Str>, field: &str, sink: &mut Sink) -> Option<Mode> {
    let m = mode?;
    match m.value.as_str() {
        "enforce" => Some(Mode::Enforce),
        "shadow" => Some(Mode::Shadow),
        other => {
            sink.at(
                file,
                m.referenced,
                field,
                format!("invalid mode {other:?}: expected enforce or shadow"),
            );
            None
        }
    }
}

impl Base {
    fn window(&self, name: &str) -> Option<WindowId> {
        self.policy.window_id(&normalize_label(name))
    }

    /// `Err(message)` when the bundle lists its environments and `env` is not one of them.
    fn check_environment(&self, env: &str) -> Result<(), String> {
        match &self.policy.known_environments {
            Some(known) if !known.iter().any(|k| k.eq_ignore_ascii_case(env.trim())) => {
                Err(format!(
                    "unknown environment {env:?}; the Bundle's spec.environments lists {}",
                    known.join(", ")
                ))
            }
            _ => Ok(()),
        }
    }

    fn class_by_name(&self, name: &str) -> Option<ClassId> {
        self.policy
            .classes
            .iter()
            .position(|c| &*c.name == name)
            .map(|i| i as ClassId)
    }
}

pub(in crate::bundle) fn compile(
    dir: &Path,
    files: &[BundleFile],
    digest: String,
    loaded_at: Timestamp,
) -> Result<(Snapshot, Vec<TestCase>), BundleErrors> {
    let mut sink = Sink::default();
    let mut docs = Docs::default();
    for f in files {
        if f.name.ends_with(".yaml") || f.name.ends_with(".yml") {
            parse_file(&dir.join(&f.name), &f.bytes, &mut sink, &mut docs);
        }
    }
    let Some((first, _)) = docs.bundles.first() else {
        if !docs.bundle_seen {
            sink.push(
                dir,
                None,
                "kind",
                "the bundle has no document of kind Bundle; exactly one is required".into(),
            );
        }
        return Err(sink.finish());
    };
    for (extra, kind) in &docs.bundles[1..] {
        sink.at(
            &extra.file,
            *kind,
            "kind",
            format!(
                "a second Bundle document; {} already defines this bundle (exactly one is allowed)",
                first.file.display()
            ),
        );
    }
    let mut base = compile_bundle(first, &digest, &mut sink);
    let mut trust = trust::compile_trust(first, files, base.policy.approval.clock_skew, &mut sink);

    let mut routes = compile_routes(&base, &docs.route_maps, &mut sink);
    trust::apply_to_routes(&mut trust, &mut routes);
    let table = build_table(&routes, &mut sink);
    let route_names = RouteNames {
        names: routes.iter().map(|r| &*r.name).collect(),
        complete: !docs.routes_incomplete,
    };
    base.policy.rules = compile_rules(&base, &docs.rule_sets, &route_names, &mut sink);
    let tests = compile_tests(&docs.suites, &route_names, &mut sink);

    if !sink.errors.is_empty() {
        return Err(sink.finish());
    }
    let table = table.expect("a route table is built when no route has an error");
    let policy = base.policy;
    let routes = routes
        .into_iter()
        .map(|r| {
            let action = policy.prepare(
                Some(&r.name),
                &r.goal,
                &r.tools,
                &r.side_effects,
                r.own,
                Some(&r.questions),
            );
            let method = r.method.expect("valid when there are no errors");
            // Decided before the approval binding below makes the route buffer its body:
            // binding a body the route does not evaluate is no reason to forward one.
            let refuses_body = crate::snapshot::is_bodiless_method(&method)
                && !r.context.reads_body
                && !r.allow_body;
            let mut context = r.context;
            // A signed approval binds the body: a route that may need approval reads it,
            // so its DEFER can name the digest a reviewer approves.
            if trust.approvals.is_some() && trust::may_need_approval(&policy, &action) {
                context.reads_body = true;
            }
            Route {
                action,
                name: r.name,
                method,
                path: r.path.into(),
                context,
                mode: r.mode,
                refuses_body,
            }
        })
        .collect();
    let name: Arc<str> = base.name.into();
    let version: Arc<str> = base.version.into();
    let snapshot = Snapshot {
        meta: BundleMeta {
            policy_version: policy.policy_version.clone(),
            digest: policy.digest.clone(),
            name,
            version,
            dir: dir.to_path_buf(),
            loaded_at,
        },
        policy,
        routes,
        table,
        amount_field: base.amount_field.into(),
        route_metrics: Default::default(),
        trust,
    };
    Ok((snapshot, tests))
}

/// The routes the bundle defines, for references from rules and tests.
struct RouteNames<'a> {
    names: std::collections::HashSet<&'a str>,
    /// False when a route file did not parse: an unknown name may be one of its routes.
    complete: bool,
}

impl RouteNames<'_> {
    /// Whether a reference to `name` is an error to report.
    fn is_unknown(&self, name: &str) -> bool {
        self.complete && !self.names.contains(name)
    }
}
// ---------------------------------------------------------------- names and small values

/// `[a-z0-9-]+`: bundle, route and rule names.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `[a-z0-9_]+`: class and window names, which constraints and labels reach normalized.
fn is_snake(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `[a-z][a-z0-9_]*`: context field names.
fn is_field_name(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && is_snake(s)
}

fn check_name(file: &Path, s: &Str, field: &str, what: &str, sink: &mut Sink) {
    if !is_name(&s.value) {
        sink.at(
            file,
            s.referenced,
            field,
            format!(
                "invalid {what} {:?}: use lower-case letters, digits and '-'",
                s.value
            ),
        );
    }
}

fn duration(file: &Path, s: &Str, field: &str, sink: &mut Sink) -> Option<SignedDuration> {
    match crate::duration::parse_signed(&s.value) {
        Ok(d) => Some(d),
        Err(_) => {
            sink.at(
                file,
                s.referenced,
                field,
                format!(
                    "invalid duration {:?}: expected {}",
                    s.value,
                    crate::duration::EXPECTED
                ),
            );
            None
        }
    }
}

fn percent(file: &Path, v: &Spanned<u64>, field: &str, sink: &mut Sink) -> u8 {
    if v.value > 100 {
        sink.at(
            file,
            v.referenced,
            field,
            format!("{} is out of range: risk weights are 0..=100", v.value),
        );
        100
    } else {
        v.value as u8
    }
}

/// A question table: keys must be DEFER-class issue codes.
fn questions(
    file: &Path,
    map: &OrderedMap<Str, String>,
    field: &str,
    sink: &mut Sink,
) -> QuestionTable {
    let mut table = QuestionTable::default();
    for (code, text) in &map.0 {
        let here = format!("{field}.{}", code.value);
        match IssueCode::parse(&code.value) {
            None => sink.at(
                file,
                code.referenced,
                &here,
                format!(
                    "unknown issue code {:?} (codes are upper case, e.g. APPROVAL_REQUIRED)",
                    code.value
                ),
            ),
            Some(c) if c.class() == IssueClass::Deny => sink.at(
                file,
                code.referenced,
                &here,
                format!("{c} is a DENY issue; only DEFER issues ask a question"),
            ),
            Some(_) if text.trim().is_empty() => sink.at(
                file,
                code.referenced,
                &here,
                "the question must not be empty",
            ),
            Some(c) => table.set(c, text.trim().into()),
        }
    }
    table
}

/// A non-empty list of non-empty names.
fn name_list(file: &Path, list: &Spanned<Vec<Str>>, field: &str, sink: &mut Sink) -> Vec<Box<str>> {
    if list.value.is_empty() {
        sink.at(file, list.referenced, field, "the list must not be empty");
    }
    let mut out: Vec<Box<str>> = Vec::new();
    for (i, item) in list.value.iter().enumerate() {
        let v = item.value.trim();
        if v.is_empty() {
            sink.at(
                file,
                item.referenced,
                &format!("{field}[{i}]"),
                "must not be empty",
            );
        } else if !out.iter().any(|o| &**o == v) {
            out.push(v.into());
        }
    }
    out
}

fn is_method_token(m: &str) -> bool {
    !m.is_empty()
        && !m.bytes().any(|b| b.is_ascii_lowercase())
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// ---------------------------------------------------------------- constraints

/// Parses constraint strings into requirements, reporting what is unrecognized, names an
/// unknown window, or names an unknown environment.
fn constraints(
    base: &Base,
    file: &Path,
    list: &[Str],
    field: &str,
    into: &mut Requirements,
    sink: &mut Sink,
) {
    for (i, c) in list.iter().enumerate() {
        let here = format!("{field}[{i}]");
        let parsed = constraint::parse(&c.value);
        if let Constraint::Environments(envs) = &parsed {
            for e in envs {
                if let Err(m) = base.check_environment(e) {
                    sink.at(file, c.referenced, &here, m);
                }
            }
        }
        match into.add(&parsed, |name| base.window(name)) {
            Ok(()) => {}
            Err(ApplyError::Unrecognized) => sink.at(
                file,
                c.referenced,
                &here,
                format!(
                    "constraint {:?} is not recognized (see the constraint vocabulary, e.g. \"approval required\", \"required_role:platform_admin\", \"max_amount:10000\")",
                    c.value
                ),
            ),
            Err(ApplyError::UnknownWindow(w)) => sink.at(
                file,
                c.referenced,
                &here,
                format!(
                    "constraint {:?} names window {w:?}, which the Bundle's spec.windows does not define",
                    c.value
                ),
            ),
        }
    }
}
