//! Bundle loading: every bundle under `policies/` loads and passes its own tests; broken
//! bundles report every error, each with the right file, line, column and field path.
//!
//! Broken bundles are tables, one per theme: each row is the valid base fixture below with
//! some changes, and every error loading it must report, in order. A table's test checks
//! every row and then fails once, naming each failing row and what was wrong with it.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
    assert_eq!(&*s.meta.digest, bundle::digest(&dir).unwrap().as_str());
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

type Files = Vec<(String, String)>;

fn base() -> Files {
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

/// One change to the base fixture.
enum Change {
    /// Replaces `from`, which must occur exactly once, with `to` in `file`.
    Edit {
        file: &'static str,
        from: &'static str,
        to: String,
    },
    /// Adds a file.
    Add { file: &'static str, text: String },
    /// Removes a file.
    Remove { file: &'static str },
}

fn edit(file: &'static str, from: &'static str, to: impl Into<String>) -> Change {
    let to = to.into();
    Change::Edit { file, from, to }
}

fn add(file: &'static str, text: impl Into<String>) -> Change {
    let text = text.into();
    Change::Add { file, text }
}

fn remove(file: &'static str) -> Change {
    Change::Remove { file }
}

/// The base fixture with `changes` applied in order; `Err` if a change does not apply.
fn changed(changes: &[Change]) -> Result<Files, String> {
    let mut files = base();
    for change in changes {
        match change {
            Change::Edit { file, from, to } => {
                let Some((_, text)) = files.iter_mut().find(|(n, _)| n == file) else {
                    return Err(format!("no {file} to edit"));
                };
                let count = text.matches(from).count();
                if count != 1 {
                    return Err(format!("{from:?} occurs {count} times in {file}, not once"));
                }
                *text = text.replace(from, to);
            }
            Change::Add { file, text } => files.push(((*file).to_owned(), text.clone())),
            Change::Remove { file } => {
                let before = files.len();
                files.retain(|(n, _)| n != file);
                if files.len() == before {
                    return Err(format!("no {file} to remove"));
                }
            }
        }
    }
    Ok(files)
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

    /// The base fixture with `changes`.
    fn with(changes: &[Change]) -> Fixture {
        Fixture::new(&changed(changes).unwrap_or_else(|e| panic!("{e}")))
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The errors loading the bundle reports; `Err` if it loads.
    fn errors(&self) -> Result<Vec<BundleError>, String> {
        match bundle::load(self.dir.path(), now()) {
            Ok(_) => Err("the bundle loaded, but errors were expected".into()),
            Err(e) => Ok(e.0),
        }
    }

    /// Line and column (1-based) of the first occurrence of `needle` in `file`; a needle
    /// ending in `#2` means its second occurrence.
    fn position(&self, file: &str, needle: &str) -> Result<(u64, u64), String> {
        let (needle, mut skip) = match needle.strip_suffix("#2") {
            Some(n) => (n, 1),
            None => (needle, 0),
        };
        let text = std::fs::read_to_string(self.path(file)).map_err(|e| format!("{file}: {e}"))?;
        for (i, line) in text.lines().enumerate() {
            if let Some(col) = line.find(needle) {
                if skip == 0 {
                    return Ok((i as u64 + 1, col as u64 + 1));
                }
                skip -= 1;
            }
        }
        Err(format!("{needle:?} not in {file}"))
    }

    /// Checks that `error` is where `want` says, on its field, with its message substrings.
    fn check(&self, error: &BundleError, want: &Want) -> Result<(), String> {
        let (file, line, column) = match want.loc {
            Loc::At(file, needle) => {
                let (line, column) = self.position(file, needle)?;
                (self.path(file), Some(line), Some(column))
            }
            Loc::Line(file, line) => (self.path(file), Some(line), error.column),
            Loc::Dir => (self.dir.path().to_path_buf(), None, error.column),
        };
        let got = (&error.file, error.line, error.column, error.field.as_str());
        if got != (&file, line, column, want.field) {
            return Err(format!(
                "{error}\n  wanted: file {}, line {line:?}, column {column:?}, field {:?}",
                file.display(),
                want.field
            ));
        }
        for msg in &want.msg {
            if !error.message.contains(msg) {
                return Err(format!("{error}\n  wanted a message containing: {msg}"));
            }
        }
        Ok(())
    }
}

/// Where an expected error is.
enum Loc {
    /// At `needle` (`Fixture::position`) in the file: that file, line and column.
    At(&'static str, &'static str),
    /// On a line of the file; the column is not checked.
    Line(&'static str, u64),
    /// The bundle directory itself, with no line; the column is not checked.
    Dir,
}

/// One expected error: where it is, its field path, and substrings of its message ("" and
/// none at all accept any message).
struct Want {
    loc: Loc,
    field: &'static str,
    msg: Vec<&'static str>,
}

/// An error at `needle` in `file`, on `field`, with a message containing `msg`.
fn at(file: &'static str, needle: &'static str, field: &'static str, msg: &'static str) -> Want {
    let loc = Loc::At(file, needle);
    Want {
        loc,
        field,
        msg: vec![msg],
    }
}

impl Want {
    /// The message must contain `msg` too.
    fn and(mut self, msg: &'static str) -> Want {
        self.msg.push(msg);
        self
    }
}

/// A row: the base fixture with `changes` must fail to load with exactly the errors `want`,
/// in order.
struct Broken {
    name: String,
    changes: Vec<Change>,
    want: Vec<Want>,
}

impl Broken {
    /// Loads the row's bundle and checks its errors; the fixture and errors, for more checks.
    fn check(&self) -> Result<(Fixture, Vec<BundleError>), String> {
        let files = changed(&self.changes).map_err(|e| format!("the fixture: {e}"))?;
        let fx = Fixture::new(&files);
        let errors = fx.errors()?;
        let listing = errors
            .iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n");
        if errors.len() != self.want.len() {
            return Err(format!(
                "expected {} error(s), got {}:\n{listing}",
                self.want.len(),
                errors.len()
            ));
        }
        let wrong: Vec<String> = errors
            .iter()
            .zip(&self.want)
            .enumerate()
            .filter_map(|(i, (e, w))| fx.check(e, w).err().map(|m| format!("error {i}: {m}")))
            .collect();
        if !wrong.is_empty() {
            return Err(format!("{}\nall errors:\n{listing}", wrong.join("\n")));
        }
        Ok((fx, errors))
    }
}

/// A row of the common kind: one edit of the base fixture (`from`, which must occur exactly
/// once in `file`, becomes `to`) yields exactly one error, at `needle` in `file`, on `field`,
/// with a message containing `msg` ("" accepts any message).
struct OneError {
    name: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    needle: &'static str,
    field: &'static str,
    msg: &'static str,
}

impl OneError {
    fn broken(&self) -> Broken {
        Broken {
            name: self.name.to_owned(),
            changes: vec![edit(self.file, self.from, self.to)],
            want: vec![at(self.file, self.needle, self.field, self.msg)],
        }
    }
}

/// Checks every row of `one_error` and `more`, then fails once, naming each failing row.
fn run(one_error: &[OneError], more: Vec<Broken>) {
    let rows: Vec<Broken> = one_error.iter().map(OneError::broken).chain(more).collect();
    assert!(!rows.is_empty(), "an empty table");
    let mut names = HashSet::new();
    let mut failures = Vec::new();
    for row in &rows {
        if !names.insert(row.name.as_str()) {
            failures.push(format!("{}: another row has this name", row.name));
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| row.check().map(drop)));
        let why = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => why,
            Err(panic) => match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
                (Some(s), _) => format!("panicked: {s}"),
                (_, Some(s)) => format!("panicked: {s}"),
                _ => "panicked".to_owned(),
            },
        };
        failures.push(format!("{}:\n  {}", row.name, why.replace('\n', "\n  ")));
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
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
    // On a POST it is an error: the row "allow_body on a POST" of `route_errors`.
    let fx = Fixture::with(&[edit(
        "routes.yaml",
        "      goal: Read a payout\n",
        "      goal: Read a payout\n      allow_body: true\n",
    )]);
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

const SERDE_ERRORS: &[OneError] = &[
    OneError {
        name: "syntax error",
        file: "bundle.yaml",
        from: "days: [mon, tue]",
        to: "days: [mon, tue",
        needle: ": \"09:00\"",
        field: "spec.windows.business_hours.days",
        msg: "",
    },
    OneError {
        name: "unknown key",
        file: "routes.yaml",
        from: "goal: Read a payout",
        to: "gaol: Read a payout",
        needle: "gaol",
        field: "spec.routes[1].gaol",
        msg: "unknown field `gaol`",
    },
    OneError {
        name: "wrong type: a list for a bool",
        file: "rules.yaml",
        from: "approval: true",
        to: "approval: [yes]",
        needle: "[yes]",
        field: "spec.rules[0].require.approval",
        msg: "",
    },
    OneError {
        // Inside a mapping keyed by name, the path names the key.
        name: "wrong type: a word for a number, in a mapping keyed by name",
        file: "bundle.yaml",
        from: "risk: 40",
        to: "risk: high",
        needle: "high",
        field: "spec.side_effects.money_movement.risk",
        msg: "invalid u64",
    },
    OneError {
        name: "unknown key in a context source",
        file: "routes.yaml",
        from: "{ body: /amount }",
        to: "{ body: /amount, from: body }",
        needle: "from",
        field: "spec.routes[0].context.amount.from",
        msg: "unknown field `from`",
    },
    OneError {
        name: "duplicate key",
        file: "bundle.yaml",
        from: "max_age: 1h",
        to: "max_age: 1h\n    max_age: 2h",
        needle: "max_age: 2h",
        field: "spec.approval",
        msg: "duplicate mapping key: max_age",
    },
];

#[test]
fn serde_errors() {
    run(SERDE_ERRORS, vec![]);
}

// ---------------------------------------------------------------- documents

const DOCUMENT_ERRORS: &[OneError] = &[
    OneError {
        name: "wrong apiVersion",
        file: "rules.yaml",
        from: "apiVersion: toolgate.dev/v1alpha1",
        to: "apiVersion: toolgate.dev/v1",
        needle: "toolgate.dev/v1",
        field: "apiVersion",
        msg: "unsupported apiVersion",
    },
    OneError {
        name: "unknown kind",
        file: "rules.yaml",
        from: "kind: RuleSet",
        to: "kind: Rules",
        needle: "Rules",
        field: "kind",
        msg: "unknown kind \"Rules\"",
    },
    OneError {
        name: "bad bundle name",
        file: "bundle.yaml",
        from: "name: t",
        to: "name: Tools_1",
        needle: "Tools_1",
        field: "metadata.name",
        msg: "invalid bundle name",
    },
    OneError {
        name: "bad bundle version",
        file: "bundle.yaml",
        from: "version: 1.0.0",
        to: "version: v1@beta",
        needle: "v1@beta",
        field: "metadata.version",
        msg: "without whitespace or '@'",
    },
];

#[test]
fn document_errors() {
    run(
        DOCUMENT_ERRORS,
        vec![
            Broken {
                name: "no Bundle document".into(),
                changes: vec![remove("bundle.yaml")],
                want: vec![Want {
                    loc: Loc::Dir,
                    field: "kind",
                    msg: vec!["no document of kind Bundle"],
                }],
            },
            Broken {
                name: "a second Bundle document".into(),
                changes: vec![add("zz-bundle.yaml", BUNDLE)],
                want: vec![at("zz-bundle.yaml", "Bundle", "kind", "a second Bundle")],
            },
        ],
    );
}

// ---------------------------------------------------------------- Bundle spec

const BUNDLE_SPEC_ERRORS: &[OneError] = &[
    OneError {
        name: "risk over 100",
        file: "bundle.yaml",
        from: "risk: 40",
        to: "risk: 140",
        needle: "140",
        field: "spec.side_effects.money_movement.risk",
        msg: "0..=100",
    },
    OneError {
        name: "label claimed by two classes",
        file: "bundle.yaml",
        from: "labels: [read]",
        to: "labels: [read, Payout]",
        needle: "Payout",
        field: "spec.side_effects.read.labels[1]",
        msg: "already claimed by class money_movement",
    },
    OneError {
        name: "bad approval max_age duration",
        file: "bundle.yaml",
        from: "max_age: 1h",
        to: "max_age: 1 hour",
        needle: "1 hour",
        field: "spec.approval.max_age",
        msg: "invalid duration",
    },
    OneError {
        name: "unknown time zone",
        file: "bundle.yaml",
        from: "time_zone: Europe/Berlin",
        to: "time_zone: Europe/Berlinn",
        needle: "Europe/Berlinn",
        field: "spec.windows.business_hours.time_zone",
        msg: "unknown time zone",
    },
    OneError {
        name: "invalid day",
        file: "bundle.yaml",
        from: "days: [mon, tue]",
        to: "days: [mon, tuesday, funday]",
        needle: "funday",
        field: "spec.windows.business_hours.days[2]",
        msg: "invalid day",
    },
    OneError {
        name: "invalid time",
        file: "bundle.yaml",
        from: "end: \"17:00\"",
        to: "end: \"17:75\"",
        needle: "\"17:75\"",
        field: "spec.windows.business_hours.end",
        msg: "invalid time",
    },
    OneError {
        name: "unknown issue code in questions",
        file: "bundle.yaml",
        from: "APPROVER_MISSING: Who signed?",
        to: "APPROVER_MISING: Who signed?",
        needle: "APPROVER_MISING",
        field: "spec.questions.APPROVER_MISING",
        msg: "unknown issue code",
    },
    OneError {
        name: "a class question for an issue that is not DEFER",
        file: "bundle.yaml",
        from: "APPROVAL_REQUIRED: Who approved this payout?",
        to: "ROLE_NOT_AUTHORIZED: Who approved this payout?",
        needle: "ROLE_NOT_AUTHORIZED",
        field: "spec.side_effects.money_movement.questions.ROLE_NOT_AUTHORIZED",
        msg: "only DEFER issues ask a question",
    },
];

#[test]
fn bundle_spec_errors() {
    // money_movement, read, c0..c29 are 32 classes: c30 is one too many.
    let thirty_one_more: String = (0..31)
        .map(|i| format!("    c{i}: {{ labels: [l{i}] }}\n"))
        .collect();
    run(
        BUNDLE_SPEC_ERRORS,
        vec![Broken {
            name: "more than 32 side-effect classes".into(),
            changes: vec![edit(
                "bundle.yaml",
                "  windows:\n",
                format!("{thirty_one_more}  windows:\n"),
            )],
            want: vec![at(
                "bundle.yaml",
                "c30",
                "spec.side_effects.c30",
                "at most 32",
            )],
        }],
    );
}

// ---------------------------------------------------------------- routes

const ROUTE_ERRORS: &[OneError] = &[
    OneError {
        name: "allow_body on a POST",
        file: "routes.yaml",
        from: "      goal: Create a payout\n",
        to: "      goal: Create a payout\n      allow_body: yes\n",
        needle: "yes",
        field: "spec.routes[0].allow_body",
        msg: "allow_body applies to GET, HEAD, DELETE, OPTIONS and TRACE routes",
    },
    OneError {
        name: "path without a leading slash",
        file: "routes.yaml",
        from: "path: /payouts\n",
        to: "path: payouts\n",
        needle: "payouts#2",
        field: "spec.routes[0].path",
        msg: "must start with '/'",
    },
    OneError {
        name: "lower-case method",
        file: "routes.yaml",
        from: "method: POST",
        to: "method: post",
        needle: "post",
        field: "spec.routes[0].method",
        msg: "upper-case token",
    },
    OneError {
        name: "unknown mode",
        file: "routes.yaml",
        from: "mode: shadow",
        to: "mode: dry-run",
        needle: "dry-run",
        field: "spec.routes[1].mode",
        msg: "expected enforce or shadow",
    },
    OneError {
        name: "unrecognized constraint",
        file: "routes.yaml",
        from: "\"business-hours only\"",
        to: "\"be careful\"",
        needle: "\"be careful\"",
        field: "spec.routes[0].constraints[1]",
        msg: "not recognized",
    },
    OneError {
        name: "a rate limit per something toolgate cannot count by",
        file: "routes.yaml",
        from: "\"business-hours only\"",
        to: "\"rate_limit:5/1m per tenant\"",
        needle: "\"rate_limit:5/1m per tenant\"",
        field: "spec.routes[0].constraints[1]",
        msg: "write rate_limit:N/WINDOW per actor|run|route",
    },
    OneError {
        name: "a run call limit of zero",
        file: "routes.yaml",
        from: "\"business-hours only\"",
        to: "\"max_calls_per_run:0\"",
        needle: "\"max_calls_per_run:0\"",
        field: "spec.routes[0].constraints[1]",
        msg: "write max_calls_per_run:N, N at least 1",
    },
    OneError {
        name: "a daily amount limit per run",
        file: "routes.yaml",
        from: "\"business-hours only\"",
        to: "\"daily_amount_limit:100 per run\"",
        needle: "\"daily_amount_limit:100 per run\"",
        field: "spec.routes[0].constraints[1]",
        msg: "write daily_amount_limit:N per actor",
    },
    OneError {
        name: "constraint naming an unknown window",
        file: "routes.yaml",
        from: "\"business-hours only\"",
        to: "\"weekend only\"",
        needle: "\"weekend only\"",
        field: "spec.routes[0].constraints[1]",
        msg: "names window \"weekend\"",
    },
    OneError {
        name: "unknown side-effect label on a route",
        file: "routes.yaml",
        from: "side_effects: [read]",
        to: "side_effects: [reed]",
        needle: "reed",
        field: "spec.routes[1].side_effects[0]",
        msg: "not a label of any class",
    },
    OneError {
        name: "bad header name",
        file: "routes.yaml",
        from: "{ header: x-actor-role }",
        to: "{ header: \"x actor role\" }",
        needle: "{ header",
        field: "spec.defaults.context.actor_role.header",
        msg: "invalid header name",
    },
    OneError {
        name: "JSON pointer without a leading slash",
        file: "routes.yaml",
        from: "{ body: /amount }",
        to: "{ body: amount }",
        needle: "{ body",
        field: "spec.routes[0].context.amount.body",
        msg: "must start with '/'",
    },
    OneError {
        name: "context source with two keys",
        file: "routes.yaml",
        from: "run_id: { param: id }",
        to: "run_id: [ { param: id }, { header: x-run, query: run } ]",
        needle: "{ header: x-run",
        field: "spec.routes[1].context.run_id[1]",
        msg: "exactly one of header, param, query, body; found header, query",
    },
    OneError {
        name: "context from an unknown path parameter",
        file: "routes.yaml",
        from: "run_id: { param: id }",
        to: "run_id: { param: ident }",
        needle: "{ param",
        field: "spec.routes[1].context.run_id",
        msg: "no path parameter \"ident\"",
    },
];

#[test]
fn route_errors() {
    run(
        ROUTE_ERRORS,
        vec![
            Broken {
                name: "duplicate route names".into(),
                changes: vec![
                    edit("routes.yaml", "name: payouts-get", "name: payouts-create"),
                    edit("tests.yaml", "route: payouts-get", "route: payouts-create"),
                ],
                want: vec![at(
                    "routes.yaml",
                    "payouts-create#2",
                    "spec.routes[1].name",
                    "duplicate route name",
                )
                .and("routes.yaml:8:13")],
            },
            Broken {
                name: "duplicate route names across files".into(),
                changes: vec![add(
                    "routes2.yaml",
                    ROUTES
                        .replace("payouts-get", "other")
                        .replace("/payouts/{id}", "/other/{id}")
                        .replace("path: /payouts\n", "path: /more\n"),
                )],
                want: vec![at(
                    "routes2.yaml",
                    "payouts-create",
                    "spec.routes[0].name",
                    "first defined at",
                )
                .and("routes.yaml:8:")],
            },
            Broken {
                name: "route templates that tie".into(),
                changes: vec![
                    edit("routes.yaml", "method: POST", "method: GET"),
                    edit("routes.yaml", "path: /payouts\n", "path: /payouts/{key}\n"),
                    edit(
                        "routes.yaml",
                        "run_id: { param: id }",
                        "run_id: { header: x-run-id }",
                    ),
                ],
                want: vec![at(
                    "routes.yaml",
                    "/payouts/{id}",
                    "spec.routes[1].path",
                    "conflict with previously registered route: /payouts/{key}",
                )],
            },
        ],
    );
}

/// Headers toolgate sets, removes or rebuilds on the way upstream, and why each is refused.
const REPLACED_HEADERS: &[(&str, &str)] = &[
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
];

#[test]
fn context_from_a_header_toolgate_replaces_is_refused() {
    // The upstream would not receive the value the policy evaluated.
    let rows = REPLACED_HEADERS
        .iter()
        .map(|&(header, why)| Broken {
            name: format!("context from header {header}"),
            changes: vec![edit(
                "routes.yaml",
                "{ header: x-actor-role }",
                format!("{{ header: {header} }}"),
            )],
            want: vec![at(
                "routes.yaml",
                "{ header",
                "spec.defaults.context.actor_role.header",
                why,
            )],
        })
        .collect();
    run(&[], rows);
}

// ---------------------------------------------------------------- rules

const RULE_ERRORS: &[OneError] = &[
    OneError {
        name: "unknown class in a rule",
        file: "rules.yaml",
        from: "side_effects: [money_movement]",
        to: "side_effects: [payout]",
        needle: "payout",
        field: "spec.rules[0].when.side_effects[0]",
        msg: "label of class money_movement",
    },
    OneError {
        name: "unknown route in a rule",
        file: "rules.yaml",
        from: "routes: [payouts-create]",
        to: "routes: [payouts-delete]",
        needle: "payouts-delete",
        field: "spec.rules[1].when.routes[0]",
        msg: "unknown route",
    },
    OneError {
        name: "unknown environment in a rule",
        file: "rules.yaml",
        from: "environments: [production]",
        to: "environments: [prod]",
        needle: "prod]",
        field: "spec.rules[1].when.environments[0]",
        msg: "unknown environment",
    },
    OneError {
        name: "empty when",
        file: "rules.yaml",
        from: "when: { side_effects: [money_movement] }",
        to: "when: {}",
        needle: "{}",
        field: "spec.rules[0].when",
        msg: "when is empty",
    },
    OneError {
        name: "unknown change window",
        file: "rules.yaml",
        from: "change_window: business_hours",
        to: "change_window: weekends",
        needle: "weekends",
        field: "spec.rules[0].require.change_window",
        msg: "unknown change window",
    },
    OneError {
        name: "bad timeout duration",
        file: "rules.yaml",
        from: "timeout: 90s",
        to: "timeout: soon",
        needle: "soon",
        field: "spec.rules[0].require.timeout",
        msg: "invalid duration",
    },
];

#[test]
fn rule_errors() {
    run(RULE_ERRORS, vec![]);
}

// ---------------------------------------------------------------- tests

const TEST_SUITE_ERRORS: &[OneError] = &[
    OneError {
        name: "test without now",
        file: "tests.yaml",
        from: "      now: 2026-03-16T10:00:00Z\n      request: { method: GET",
        to: "      request: { method: GET",
        needle: "name: read allowed",
        field: "spec.tests[0].now",
        msg: "a test needs now",
    },
    OneError {
        name: "duplicate test names",
        file: "tests.yaml",
        from: "name: payout defers",
        to: "name: read allowed",
        needle: "read allowed#2",
        field: "spec.tests[1].name",
        msg: "duplicate test name",
    },
    OneError {
        name: "unknown issue code in an expectation",
        file: "tests.yaml",
        from: "issues_include: [APPROVAL_REQUIRED]",
        to: "issues_include: [APPROVAL_REQUIRED, APPROVER_GONE]",
        needle: "APPROVER_GONE",
        field: "spec.tests[1].expect.issues_include[1]",
        msg: "unknown issue code",
    },
];

#[test]
fn test_suite_errors() {
    run(TEST_SUITE_ERRORS, vec![]);
}

// ---------------------------------------------------------------- all errors at once

#[test]
fn several_errors_in_several_files_are_all_reported() {
    let row = Broken {
        name: "several errors in several files".into(),
        changes: vec![
            edit("bundle.yaml", "risk: 40", "risk: 140"),
            edit(
                "bundle.yaml",
                "time_zone: Europe/Berlin",
                "time_zone: Mars/Olympus",
            ),
            edit("routes.yaml", "\"business-hours only\"", "\"be careful\""),
            edit(
                "routes.yaml",
                "{ header: x-actor-role }",
                "{ header: \"x actor\" }",
            ),
            edit(
                "rules.yaml",
                "side_effects: [money_movement]",
                "side_effects: [money]",
            ),
            edit(
                "tests.yaml",
                "      now: 2026-03-16T10:00:00Z\n      request: { method: GET",
                "      request: { method: GET",
            ),
            // A file with a syntax error is reported too, and stops only itself.
            add(
                "extra.yaml",
                "apiVersion: toolgate.dev/v1alpha1\nkind: RuleSet\nspec: {rules: [\n",
            ),
        ],
        want: vec![
            at(
                "bundle.yaml",
                "140",
                "spec.side_effects.money_movement.risk",
                "0..=100",
            ),
            at(
                "bundle.yaml",
                "Mars/Olympus",
                "spec.windows.business_hours.time_zone",
                "unknown time zone",
            ),
            Want {
                loc: Loc::Line("extra.yaml", 3),
                field: "spec.rules",
                msg: vec![],
            },
            at(
                "routes.yaml",
                "{ header",
                "spec.defaults.context.actor_role.header",
                "invalid header name",
            ),
            at(
                "routes.yaml",
                "\"be careful\"",
                "spec.routes[0].constraints[1]",
                "not recognized",
            ),
            at(
                "rules.yaml",
                "money]",
                "spec.rules[0].when.side_effects[0]",
                "unknown side-effect class",
            ),
            at(
                "tests.yaml",
                "name: read allowed",
                "spec.tests[0].now",
                "a test needs now",
            ),
        ],
    };
    let (fx, errors) = row
        .check()
        .unwrap_or_else(|why| panic!("{}: {why}", row.name));
    // Display: one `file:line:column: field: message` per line.
    let shown = bundle::BundleErrors(errors).to_string();
    assert_eq!(shown.lines().count(), 7);
    let (line, column) = fx.position("bundle.yaml", "140").unwrap();
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
    let fx = Fixture::with(&[
        edit("tests.yaml", "verdict: DEFER", "verdict: DENY"),
        edit(
            "tests.yaml",
            "expect: { verdict: ALLOW, route: payouts-get }",
            "expect: { verdict: ALLOW, route: payouts-create }",
        ),
    ]);
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
        fx.position("tests.yaml", "name: payout defers").unwrap().0
    );
}

#[test]
fn bundle_tests_refuse_what_the_proxy_refuses_on_connection() {
    // `Connection` naming a header the route reads is a 400 at the proxy; the bundle's own
    // tests must decide the request the same way, not evaluate it without the header.
    let fx = Fixture::with(&[edit(
        "tests.yaml",
        "headers: { x-actor-role: finance }",
        "headers: { x-actor-role: finance, connection: x-actor-role }",
    )]);
    let (s, tests) = bundle::load_with_tests(fx.dir.path(), now()).unwrap();
    let results = bundle::run_tests(&s, &tests);
    assert!(!results[1].passed);
    assert!(
        results[1].failures[0].starts_with("verdict: expected DEFER, got DENY"),
        "{:?}",
        results[1].failures
    );
}
