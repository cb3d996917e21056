//! Bundle loading: every bundle under `policies/` loads and passes its own tests; broken
//! bundles report every error, each with the right file, line, column and field path.

use std::path::{Path, PathBuf};
use tempfile::TempDir;
use toolgate::bundle::{self, BundleError};
use toolgate::snapshot::Mode;

fn now() -> jiff::Timestamp {
    "2026-03-16T10:00:00Z".parse().unwrap()
}

#[test]
fn every_bundle_under_policies_loads_and_passes_its_tests() {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut seen = 0;
    for entry in std::fs::read_dir(policies).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        seen += 1;
        let (snapshot, tests) = bundle::load_with_tests(&dir, now())
            .unwrap_or_else(|e| panic!("{}:\n{e}", dir.display()));
        assert!(!tests.is_empty(), "{} has no tests", dir.display());
        let failed: Vec<String> = bundle::run_tests(&snapshot, &tests)
            .iter()
            .filter(|r| !r.passed)
            .map(|r| {
                format!(
                    "{} {}:\n  {}\n  decision: {}",
                    r.location,
                    r.name,
                    r.failures.join("\n  "),
                    serde_json::to_string(&r.decision).unwrap()
                )
            })
            .collect();
        assert!(
            failed.is_empty(),
            "{}: failing tests:\n{}",
            dir.display(),
            failed.join("\n")
        );
    }
    assert!(seen > 0);
}

#[test]
fn the_example_bundle_compiles_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
    let s = bundle::load(&dir, now()).unwrap();
    assert_eq!(&*s.meta.policy_version, "tools@1.0.0");
    assert_eq!(s.meta.digest, bundle::digest(&dir).unwrap().into());
    assert_eq!(s.policy.digest, s.meta.digest);
    assert_eq!(&*s.amount_field, "amount");
    let names: Vec<&str> = s.routes.iter().map(|r| &*r.name).collect();
    assert_eq!(
        names,
        [
            "payouts-get",
            "payouts-create",
            "refunds-create",
            "deployments-create",
            "migrations-create",
            "tenants-get",
            "tenants-delete"
        ]
    );
    let payouts = &s.routes[1];
    assert!(payouts.context.reads_body);
    assert_eq!(payouts.action.requirements.max_amount, Some(10000.0));
    assert!(payouts.action.requirements.approval);
    let deploy = &s.routes[3];
    assert_eq!(deploy.action.dynamic_rules.len(), 1, "the production rule");
    assert!(deploy.context.headers.iter().any(|h| h == "x-environment"));
    // The bundle-wide question table is complete.
    for code in toolgate::policy::IssueCode::ALL {
        let asks = code.class() == toolgate::policy::IssueClass::Defer;
        assert_eq!(s.policy.questions.get(*code).is_some(), asks, "{code}");
    }
}

// ---------------------------------------------------------------- fixtures

const BUNDLE: &str = r#"apiVersion: toolgate.dev/v1alpha1
kind: Bundle
metadata:
  name: t
  version: 1.0.0
spec:
  environments: [staging, production]
  approval:
    max_age: 1h
  side_effects:
    money_movement:
      labels: [payout, refund]
      risk: 40
      questions:
        APPROVAL_REQUIRED: Who approved this payout?
    read:
      labels: [read]
  windows:
    business_hours:
      time_zone: Europe/Berlin
      days: [mon, tue]
      start: "09:00"
      end: "17:00"
  questions:
    APPROVER_MISSING: Who signed?
"#;

const ROUTES: &str = r#"apiVersion: toolgate.dev/v1alpha1
kind: RouteMap
spec:
  defaults:
    context:
      actor_role: { header: x-actor-role }
  routes:
    - name: payouts-create
      method: POST
      path: /payouts
      goal: Create a payout
      side_effects: [payout]
      constraints: ["max_amount:100", "business-hours only"]
      context:
        amount: { body: /amount }
    - name: payouts-get
      method: GET
      path: /payouts/{id}
      goal: Read a payout
      side_effects: [read]
      mode: shadow
      context:
        run_id: { param: id }
"#;

const RULES: &str = r#"apiVersion: toolgate.dev/v1alpha1
kind: RuleSet
spec:
  rules:
    - name: money
      when: { side_effects: [money_movement] }
      require:
        approval: true
        roles: [finance]
        change_window: business_hours
        timeout: 90s
    - name: payouts-route
      when: { routes: [payouts-create], environments: [production] }
      require: { mfa: true }
"#;

const TESTS: &str = r#"apiVersion: toolgate.dev/v1alpha1
kind: TestSuite
spec:
  tests:
    - name: read allowed
      now: 2026-03-16T10:00:00Z
      request: { method: GET, path: /payouts/p-1 }
      expect: { verdict: ALLOW, route: payouts-get }
    - name: payout defers
      now: 2026-03-16T10:00:00Z
      request:
        method: POST
        path: /payouts
        headers: { x-actor-role: finance }
        body: { amount: 5 }
      expect:
        verdict: DEFER
        issues: [ENVIRONMENT_MISSING, APPROVAL_REQUIRED, APPROVER_MISSING,
                 APPROVAL_TIMESTAMP_MISSING, ELAPSED_TIME_MISSING]
        issues_include: [APPROVAL_REQUIRED]
        defer_questions:
          - Which environment does this action target?
          - Who approved this payout?
          - Who signed?
          - Is approval still valid?
          - How long has the run been going?
"#;

fn base() -> Vec<(String, String)> {
    [
        ("bundle.yaml", BUNDLE),
        ("routes.yaml", ROUTES),
        ("rules.yaml", RULES),
        ("tests.yaml", TESTS),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), t.to_owned()))
    .collect()
}

/// Replaces `from` (which must occur exactly once) with `to` in `file`.
fn edit(files: &mut [(String, String)], file: &str, from: &str, to: &str) {
    let (_, text) = files.iter_mut().find(|(n, _)| n == file).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
    *text = text.replace(from, to);
}

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new(files: &[(String, String)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Fixture { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn errors(&self) -> Vec<BundleError> {
        match bundle::load(self.dir.path(), now()) {
            Ok(_) => panic!("the bundle loaded, but errors were expected"),
            Err(e) => e.0,
        }
    }

    /// Line and column (1-based) of the first occurrence of `needle` in `file`; a needle
    /// ending in `#2` means its second occurrence.
    fn position(&self, file: &str, needle: &str) -> (u64, u64) {
        let (needle, mut skip) = match needle.strip_suffix("#2") {
            Some(n) => (n, 1),
            None => (needle, 0),
        };
        let text = std::fs::read_to_string(self.path(file)).unwrap();
        for (i, line) in text.lines().enumerate() {
            if let Some(col) = line.find(needle) {
                if skip == 0 {
                    return (i as u64 + 1, col as u64 + 1);
                }
                skip -= 1;
            }
        }
        panic!("{needle:?} not in {file}")
    }

    /// Asserts `error` is at `needle` in `file`, on `field`, with a message containing `msg`.
    fn assert_at(&self, error: &BundleError, file: &str, needle: &str, field: &str, msg: &str) {
        let (line, column) = self.position(file, needle);
        let want = (self.path(file), Some(line), Some(column), field);
        let got = (
            error.file.clone(),
            error.line,
            error.column,
            error.field.as_str(),
        );
        assert_eq!(got, want, "{error}");
        assert!(
            error.message.contains(msg),
            "{error}\n  wanted message: {msg}"
        );
    }
}

/// One edit of the valid base bundle yields exactly one error, at `needle`.
fn one_error(file: &str, from: &str, to: &str, needle: &str, field: &str, msg: &str) {
    let mut files = base();
    edit(&mut files, file, from, to);
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    assert_eq!(
        errors.len(),
        1,
        "expected one error, got:\n{}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    fx.assert_at(&errors[0], file, needle, field, msg);
}

#[test]
fn the_base_fixture_is_valid_and_its_tests_pass() {
    let fx = Fixture::new(&base());
    let (s, tests) = bundle::load_with_tests(fx.dir.path(), now()).unwrap();
    assert_eq!(s.routes[0].mode, Mode::Enforce);
    assert_eq!(s.routes[1].mode, Mode::Shadow);
    assert!(s.routes[0].context.reads_body && !s.routes[1].context.reads_body);
    let results = bundle::run_tests(&s, &tests);
    assert_eq!(results.len(), 2);
    for r in results {
        assert!(r.passed, "{}: {:?}", r.name, r.failures);
    }
}

#[test]
fn allow_body_is_for_methods_without_body_semantics() {
    one_error(
        "routes.yaml",
        "      goal: Create a payout\n",
        "      goal: Create a payout\n      allow_body: yes\n",
        "yes",
        "spec.routes[0].allow_body",
        "allow_body applies to GET, HEAD, DELETE, OPTIONS and TRACE routes",
    );
    let mut files = base();
    edit(
        &mut files,
        "routes.yaml",
        "      goal: Read a payout\n",
        "      goal: Read a payout\n      allow_body: true\n",
    );
    let fx = Fixture::new(&files);
    let s = bundle::load(fx.dir.path(), now()).unwrap();
    assert!(!s.routes[1].refuses_body, "allowed");
    let s = bundle::load(Fixture::new(&base()).dir.path(), now()).unwrap();
    assert!(!s.routes[0].refuses_body, "a POST takes a body");
    assert!(
        s.routes[1].refuses_body,
        "a GET that reads none refuses one"
    );
}

// ---------------------------------------------------------------- serde errors

#[test]
fn syntax_error() {
    one_error(
        "bundle.yaml",
        "days: [mon, tue]",
        "days: [mon, tue",
        ": \"09:00\"",
        "spec.windows.business_hours.days",
        "",
    );
}

#[test]
fn unknown_key() {
    one_error(
        "routes.yaml",
        "goal: Read a payout",
        "gaol: Read a payout",
        "gaol",
        "spec.routes[1].gaol",
        "unknown field `gaol`",
    );
}

#[test]
fn wrong_type() {
    one_error(
        "rules.yaml",
        "approval: true",
        "approval: [yes]",
        "[yes]",
        "spec.rules[0].require.approval",
        "",
    );
    // Inside a mapping keyed by name, the path names the key.
    one_error(
        "bundle.yaml",
        "risk: 40",
        "risk: high",
        "high",
        "spec.side_effects.money_movement.risk",
        "invalid u64",
    );
    one_error(
        "routes.yaml",
        "{ body: /amount }",
        "{ body: /amount, from: body }",
        "from",
        "spec.routes[0].context.amount.from",
        "unknown field `from`",
    );
}

#[test]
fn duplicate_key() {
    one_error(
        "bundle.yaml",
        "max_age: 1h",
        "max_age: 1h\n    max_age: 2h",
        "max_age: 2h",
        "spec.approval",
        "duplicate mapping key: max_age",
    );
}

// ---------------------------------------------------------------- documents

#[test]
fn wrong_api_version() {
    one_error(
        "rules.yaml",
        "apiVersion: toolgate.dev/v1alpha1",
        "apiVersion: toolgate.dev/v1",
        "toolgate.dev/v1",
        "apiVersion",
        "unsupported apiVersion",
    );
}

#[test]
fn unknown_kind() {
    one_error(
        "rules.yaml",
        "kind: RuleSet",
        "kind: Rules",
        "Rules",
        "kind",
        "unknown kind \"Rules\"",
    );
}

#[test]
fn missing_bundle() {
    let files: Vec<_> = base()
        .into_iter()
        .filter(|(n, _)| n != "bundle.yaml")
        .collect();
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].file, fx.dir.path());
    assert_eq!((errors[0].line, errors[0].field.as_str()), (None, "kind"));
    assert!(errors[0].message.contains("no document of kind Bundle"));
}

#[test]
fn duplicate_bundle() {
    let mut files = base();
    files.push(("zz-bundle.yaml".into(), BUNDLE.into()));
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    fx.assert_at(
        &errors[0],
        "zz-bundle.yaml",
        "Bundle",
        "kind",
        "a second Bundle",
    );
}

#[test]
fn bad_name_and_version() {
    one_error(
        "bundle.yaml",
        "name: t",
        "name: Tools_1",
        "Tools_1",
        "metadata.name",
        "invalid bundle name",
    );
    one_error(
        "bundle.yaml",
        "version: 1.0.0",
        "version: v1@beta",
        "v1@beta",
        "metadata.version",
        "without whitespace or '@'",
    );
}

// ---------------------------------------------------------------- Bundle spec

#[test]
fn risk_over_100() {
    one_error(
        "bundle.yaml",
        "risk: 40",
        "risk: 140",
        "140",
        "spec.side_effects.money_movement.risk",
        "0..=100",
    );
}

#[test]
fn label_claimed_by_two_classes() {
    one_error(
        "bundle.yaml",
        "labels: [read]",
        "labels: [read, Payout]",
        "Payout",
        "spec.side_effects.read.labels[1]",
        "already claimed by class money_movement",
    );
}

#[test]
fn more_than_32_classes() {
    let mut files = base();
    let extra: String = (0..31)
        .map(|i| format!("    c{i}: {{ labels: [l{i}] }}\n"))
        .collect();
    edit(
        &mut files,
        "bundle.yaml",
        "  windows:\n",
        &format!("{extra}  windows:\n"),
    );
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    // money_movement, read, c0..c29 are 32 classes: c30 is one too many.
    fx.assert_at(
        &errors[0],
        "bundle.yaml",
        "c30",
        "spec.side_effects.c30",
        "at most 32",
    );
}

#[test]
fn bad_duration() {
    one_error(
        "bundle.yaml",
        "max_age: 1h",
        "max_age: 1 hour",
        "1 hour",
        "spec.approval.max_age",
        "invalid duration",
    );
    one_error(
        "rules.yaml",
        "timeout: 90s",
        "timeout: soon",
        "soon",
        "spec.rules[0].require.timeout",
        "invalid duration",
    );
}

#[test]
fn bad_time_zone() {
    one_error(
        "bundle.yaml",
        "time_zone: Europe/Berlin",
        "time_zone: Europe/Berlinn",
        "Europe/Berlinn",
        "spec.windows.business_hours.time_zone",
        "unknown time zone",
    );
}

#[test]
fn bad_days_and_times() {
    one_error(
        "bundle.yaml",
        "days: [mon, tue]",
        "days: [mon, tuesday, funday]",
        "funday",
        "spec.windows.business_hours.days[2]",
        "invalid day",
    );
    one_error(
        "bundle.yaml",
        "end: \"17:00\"",
        "end: \"17:75\"",
        "\"17:75\"",
        "spec.windows.business_hours.end",
        "invalid time",
    );
}

#[test]
fn unknown_issue_code_in_questions() {
    one_error(
        "bundle.yaml",
        "APPROVER_MISSING: Who signed?",
        "APPROVER_MISING: Who signed?",
        "APPROVER_MISING",
        "spec.questions.APPROVER_MISING",
        "unknown issue code",
    );
    one_error(
        "bundle.yaml",
        "APPROVAL_REQUIRED: Who approved this payout?",
        "ROLE_NOT_AUTHORIZED: Who approved this payout?",
        "ROLE_NOT_AUTHORIZED",
        "spec.side_effects.money_movement.questions.ROLE_NOT_AUTHORIZED",
        "only DEFER issues ask a question",
    );
}

// ---------------------------------------------------------------- routes

#[test]
fn duplicate_route_names() {
    let mut files = base();
    edit(
        &mut files,
        "routes.yaml",
        "name: payouts-get",
        "name: payouts-create",
    );
    edit(
        &mut files,
        "tests.yaml",
        "route: payouts-get",
        "route: payouts-create",
    );
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    fx.assert_at(
        &errors[0],
        "routes.yaml",
        "payouts-create#2",
        "spec.routes[1].name",
        "duplicate route name",
    );
    assert!(
        errors[0].message.contains("routes.yaml:8:13"),
        "{}",
        errors[0]
    );
}

#[test]
fn duplicate_route_names_across_files() {
    let mut files = base();
    files.push((
        "routes2.yaml".into(),
        ROUTES
            .replace("payouts-get", "other")
            .replace("/payouts/{id}", "/other/{id}")
            .replace("path: /payouts\n", "path: /more\n"),
    ));
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    fx.assert_at(
        &errors[0],
        "routes2.yaml",
        "payouts-create",
        "spec.routes[0].name",
        "first defined at",
    );
    assert!(
        errors[0].message.contains("routes.yaml:8:"),
        "{}",
        errors[0]
    );
}

#[test]
fn route_templates_that_tie_or_are_malformed() {
    let mut files = base();
    edit(&mut files, "routes.yaml", "method: POST", "method: GET");
    edit(
        &mut files,
        "routes.yaml",
        "path: /payouts\n",
        "path: /payouts/{key}\n",
    );
    edit(
        &mut files,
        "routes.yaml",
        "run_id: { param: id }",
        "run_id: { header: x-run-id }",
    );
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    fx.assert_at(
        &errors[0],
        "routes.yaml",
        "/payouts/{id}",
        "spec.routes[1].path",
        "conflict with previously registered route: /payouts/{key}",
    );
    one_error(
        "routes.yaml",
        "path: /payouts\n",
        "path: payouts\n",
        "payouts#2",
        "spec.routes[0].path",
        "must start with '/'",
    );
}

#[test]
fn bad_method() {
    one_error(
        "routes.yaml",
        "method: POST",
        "method: post",
        "post",
        "spec.routes[0].method",
        "upper-case token",
    );
}

#[test]
fn bad_mode() {
    one_error(
        "routes.yaml",
        "mode: shadow",
        "mode: dry-run",
        "dry-run",
        "spec.routes[1].mode",
        "expected enforce or shadow",
    );
}

#[test]
fn unrecognized_constraint() {
    one_error(
        "routes.yaml",
        "\"business-hours only\"",
        "\"be careful\"",
        "\"be careful\"",
        "spec.routes[0].constraints[1]",
        "not recognized",
    );
}

#[test]
fn unknown_window() {
    one_error(
        "routes.yaml",
        "\"business-hours only\"",
        "\"weekend only\"",
        "\"weekend only\"",
        "spec.routes[0].constraints[1]",
        "names window \"weekend\"",
    );
    one_error(
        "rules.yaml",
        "change_window: business_hours",
        "change_window: weekends",
        "weekends",
        "spec.rules[0].require.change_window",
        "unknown change window",
    );
}

#[test]
fn unknown_side_effect_label_on_a_route() {
    one_error(
        "routes.yaml",
        "side_effects: [read]",
        "side_effects: [reed]",
        "reed",
        "spec.routes[1].side_effects[0]",
        "not a label of any class",
    );
}

#[test]
fn bad_header_name() {
    one_error(
        "routes.yaml",
        "{ header: x-actor-role }",
        "{ header: \"x actor role\" }",
        "{ header",
        "spec.defaults.context.actor_role.header",
        "invalid header name",
    );
}

#[test]
fn context_from_a_header_toolgate_replaces_is_refused() {
    // The upstream would not receive the value the policy evaluated.
    for (header, why) in [
        ("x-forwarded-for", "toolgate sets it"),
        ("X_Forwarded_For", "toolgate sets it"),
        ("forwarded", "toolgate sets it"),
        ("x-real-ip", "toolgate removes it"),
        ("x-request-id", "toolgate sets it"),
        ("x-toolgate-verdict", "toolgate sets it"),
        ("connection", "hop-by-hop"),
        ("te", "hop-by-hop"),
        ("proxy-authorization", "hop-by-hop"),
        ("content-length", "rebuilds it"),
        ("expect", "rebuilds it"),
    ] {
        one_error(
            "routes.yaml",
            "{ header: x-actor-role }",
            &format!("{{ header: {header} }}"),
            "{ header",
            "spec.defaults.context.actor_role.header",
            why,
        );
    }
}

#[test]
fn bad_json_pointer() {
    one_error(
        "routes.yaml",
        "{ body: /amount }",
        "{ body: amount }",
        "{ body",
        "spec.routes[0].context.amount.body",
        "must start with '/'",
    );
}

#[test]
fn source_with_two_keys_and_unknown_param() {
    one_error(
        "routes.yaml",
        "run_id: { param: id }",
        "run_id: [ { param: id }, { header: x-run, query: run } ]",
        "{ header: x-run",
        "spec.routes[1].context.run_id[1]",
        "exactly one of header, param, query, body; found header, query",
    );
    one_error(
        "routes.yaml",
        "run_id: { param: id }",
        "run_id: { param: ident }",
        "{ param",
        "spec.routes[1].context.run_id",
        "no path parameter \"ident\"",
    );
}

// ---------------------------------------------------------------- rules

#[test]
fn unknown_class_in_rule() {
    one_error(
        "rules.yaml",
        "side_effects: [money_movement]",
        "side_effects: [payout]",
        "payout",
        "spec.rules[0].when.side_effects[0]",
        "label of class money_movement",
    );
}

#[test]
fn unknown_route_in_rule() {
    one_error(
        "rules.yaml",
        "routes: [payouts-create]",
        "routes: [payouts-delete]",
        "payouts-delete",
        "spec.rules[1].when.routes[0]",
        "unknown route",
    );
}

#[test]
fn unknown_environment_in_rule() {
    one_error(
        "rules.yaml",
        "environments: [production]",
        "environments: [prod]",
        "prod]",
        "spec.rules[1].when.environments[0]",
        "unknown environment",
    );
}

#[test]
fn empty_rule_when() {
    one_error(
        "rules.yaml",
        "when: { side_effects: [money_movement] }",
        "when: {}",
        "{}",
        "spec.rules[0].when",
        "when is empty",
    );
}

// ---------------------------------------------------------------- tests

#[test]
fn test_without_now() {
    one_error(
        "tests.yaml",
        "      now: 2026-03-16T10:00:00Z\n      request: { method: GET",
        "      request: { method: GET",
        "name: read allowed",
        "spec.tests[0].now",
        "a test needs now",
    );
}

#[test]
fn duplicate_test_names() {
    one_error(
        "tests.yaml",
        "name: payout defers",
        "name: read allowed",
        "read allowed#2",
        "spec.tests[1].name",
        "duplicate test name",
    );
}

#[test]
fn unknown_issue_code_in_expectation() {
    one_error(
        "tests.yaml",
        "issues_include: [APPROVAL_REQUIRED]",
        "issues_include: [APPROVAL_REQUIRED, APPROVER_GONE]",
        "APPROVER_GONE",
        "spec.tests[1].expect.issues_include[1]",
        "unknown issue code",
    );
}

// ---------------------------------------------------------------- all errors at once

#[test]
fn several_errors_in_several_files_are_all_reported() {
    let mut files = base();
    edit(&mut files, "bundle.yaml", "risk: 40", "risk: 140");
    edit(
        &mut files,
        "bundle.yaml",
        "time_zone: Europe/Berlin",
        "time_zone: Mars/Olympus",
    );
    edit(
        &mut files,
        "routes.yaml",
        "\"business-hours only\"",
        "\"be careful\"",
    );
    edit(
        &mut files,
        "routes.yaml",
        "{ header: x-actor-role }",
        "{ header: \"x actor\" }",
    );
    edit(
        &mut files,
        "rules.yaml",
        "side_effects: [money_movement]",
        "side_effects: [money]",
    );
    edit(
        &mut files,
        "tests.yaml",
        "      now: 2026-03-16T10:00:00Z\n      request: { method: GET",
        "      request: { method: GET",
    );
    // A file with a syntax error is reported too, and stops only itself.
    files.push((
        "extra.yaml".into(),
        "apiVersion: toolgate.dev/v1alpha1\nkind: RuleSet\nspec: {rules: [\n".into(),
    ));
    let fx = Fixture::new(&files);
    let errors = fx.errors();
    let listing = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(errors.len(), 7, "{listing}");
    fx.assert_at(
        &errors[0],
        "bundle.yaml",
        "140",
        "spec.side_effects.money_movement.risk",
        "0..=100",
    );
    fx.assert_at(
        &errors[1],
        "bundle.yaml",
        "Mars/Olympus",
        "spec.windows.business_hours.time_zone",
        "unknown time zone",
    );
    assert_eq!(errors[2].file, fx.path("extra.yaml"), "{listing}");
    assert_eq!(
        (errors[2].line, errors[2].field.as_str()),
        (Some(3), "spec.rules"),
        "{listing}"
    );
    fx.assert_at(
        &errors[3],
        "routes.yaml",
        "{ header",
        "spec.defaults.context.actor_role.header",
        "invalid header name",
    );
    fx.assert_at(
        &errors[4],
        "routes.yaml",
        "\"be careful\"",
        "spec.routes[0].constraints[1]",
        "not recognized",
    );
    fx.assert_at(
        &errors[5],
        "rules.yaml",
        "money]",
        "spec.rules[0].when.side_effects[0]",
        "unknown side-effect class",
    );
    fx.assert_at(
        &errors[6],
        "tests.yaml",
        "name: read allowed",
        "spec.tests[0].now",
        "a test needs now",
    );
    // Display: one `file:line:column: field: message` per line.
    let shown = bundle::BundleErrors(errors.clone()).to_string();
    assert_eq!(shown.lines().count(), 7);
    let (line, column) = fx.position("bundle.yaml", "140");
    assert!(shown.starts_with(&format!(
        "{}:{line}:{column}: spec.side_effects.money_movement.risk: ",
        fx.path("bundle.yaml").display()
    )));
}

// ---------------------------------------------------------------- directory handling

#[test]
fn dot_names_are_skipped_and_symlinks_followed() {
    // A Kubernetes ConfigMap volume: files are symlinks into `..data`.
    let fx = Fixture::new(&[]);
    let data = fx.path("..2026_03_16");
    std::fs::create_dir(&data).unwrap();
    for (name, text) in base() {
        std::fs::write(data.join(&name), text).unwrap();
    }
    std::os::unix::fs::symlink("..2026_03_16", fx.path("..data")).unwrap();
    for (name, _) in base() {
        std::os::unix::fs::symlink(format!("..data/{name}"), fx.path(&name)).unwrap();
    }
    std::fs::write(fx.path(".hidden.yaml"), "not: [valid").unwrap();
    std::fs::write(fx.path("README.md"), "notes").unwrap();
    let s = bundle::load(fx.dir.path(), now()).unwrap();
    assert_eq!(s.routes.len(), 2);

    // The digest covers every regular file, README included, and nothing hidden.
    let d1 = bundle::digest(fx.dir.path()).unwrap();
    assert!(d1.starts_with("sha256:") && d1.len() == 7 + 64);
    std::fs::write(fx.path(".hidden.yaml"), "changed").unwrap();
    assert_eq!(bundle::digest(fx.dir.path()).unwrap(), d1);
    std::fs::write(fx.path("README.md"), "other notes").unwrap();
    assert_ne!(bundle::digest(fx.dir.path()).unwrap(), d1);
}

#[test]
fn a_failing_test_says_what_differs() {
    let mut files = base();
    edit(&mut files, "tests.yaml", "verdict: DEFER", "verdict: DENY");
    edit(
        &mut files,
        "tests.yaml",
        "expect: { verdict: ALLOW, route: payouts-get }",
        "expect: { verdict: ALLOW, route: payouts-create }",
    );
    let fx = Fixture::new(&files);
    let (s, tests) = bundle::load_with_tests(fx.dir.path(), now()).unwrap();
    let results = bundle::run_tests(&s, &tests);
    assert_eq!(
        results[0].failures,
        ["route: expected payouts-create, got payouts-get"]
    );
    assert!(!results[1].passed);
    assert_eq!(results[1].failures.len(), 1);
    assert!(
        results[1].failures[0].starts_with("verdict: expected DENY, got DEFER"),
        "{:?}",
        results[1].failures
    );
    assert_eq!(
        results[1].location.line,
        fx.position("tests.yaml", "name: payout defers").0
    );
}

#[test]
fn bundle_tests_refuse_what_the_proxy_refuses_on_connection() {
    // `Connection` naming a header the route reads is a 400 at the proxy; the bundle's own
    // tests must decide the request the same way, not evaluate it without the header.
    let mut files = base();
    edit(
        &mut files,
        "tests.yaml",
        "headers: { x-actor-role: finance }",
        "headers: { x-actor-role: finance, connection: x-actor-role }",
    );
    let fx = Fixture::new(&files);
    let (s, tests) = bundle::load_with_tests(fx.dir.path(), now()).unwrap();
    let results = bundle::run_tests(&s, &tests);
    assert!(!results[1].passed);
    assert!(
        results[1].failures[0].starts_with("verdict: expected DEFER, got DENY"),
        "{:?}",
        results[1].failures
    );
}
