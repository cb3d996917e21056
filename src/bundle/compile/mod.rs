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
use crate::snapshot::{BundleMeta, Mode, ReviewSettings, Route, RouteKind, Snapshot};
use bytes::Bytes;
use http::{HeaderName, Method};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_saphyr::{Location, Spanned};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod action;
mod cases;
mod context;
mod docs;
mod fields;
mod keys;
mod mcp;
mod review;
mod routes;
mod rules;
mod settings;
mod trust;
pub(crate) use trust::DEFAULT_MAX_TTL_SECS;

use action::{action_parts, merge_context, unique_name, ActionSpec, Names};
use cases::compile_tests;
use context::{context_entries, ContextEntry, SourceKinds};
use docs::{parse_file, Doc, Docs, Sink};
use fields::*;
use mcp::{compile_mcp, McpDraft};
use review::{nothing_to_redact, review_settings, Payload};
use routes::{build_table, compile_routes};
use rules::compile_rules;
use settings::compile_bundle;

/// The most side-effect classes a bundle may define (they are a `u32` mask).
const MAX_CLASSES: usize = 32;

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

    let mut seen = Names::new();
    let mut routes = compile_routes(&base, &docs.route_maps, &mut seen, &mut sink);
    let (mcp_routes, mcp) =
        compile_mcp(&base, &docs.mcp_servers, &mut seen, routes.len(), &mut sink);
    routes.extend(mcp_routes);
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
            let kind = match r.mcp {
                None => RouteKind::Http,
                Some(McpDraft::Endpoint { endpoint, .. }) => RouteKind::McpEndpoint(endpoint),
                Some(McpDraft::Entry { endpoint }) => RouteKind::McpEntry(endpoint),
            };
            // An MCP endpoint's operation is in its body: it is always read.
            if matches!(kind, RouteKind::McpEndpoint(_)) {
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
                kind,
                review: r.review,
            }
        })
        .collect();
    let name: Arc<str> = base.name.into();
    let version: Arc<str> = base.version.into();
    let snapshot = Snapshot {
        meta: BundleMeta {
            policy_version_header: crate::headers::tag_value(&policy.policy_version),
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
        mcp,
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
