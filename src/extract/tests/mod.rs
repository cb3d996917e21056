//! Table tests of context extraction: every source, every conversion, every refusal.
//!
//! Each table is a list of rows, one per case: a context map, a request, and the facts (with
//! the `Other` values) or the refusal expected. A table runs every row and reports all its
//! failing rows together, by name. The themes: reading headers ([`headers`]), the query
//! and path parameters ([`query`]), JSON bodies ([`json`]), converting values to the
//! fields' types ([`convert`]), sources that must agree ([`agree`]), the compiled context
//! map ([`context`]), and the header-only path allocating nothing ([`alloc`]).

use super::context::{ContextMap, Field, Source};
use super::error::ExtractError;
use super::read::{extract, Extracted, RequestView};
use crate::policy::{Facts, IssueCode, IssueSet};
use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::{Debug, Display};

/// The facts with the fields named set and every other one default:
/// `facts!(actor: t("bob"), mfa: Some(true))`.
macro_rules! facts {
    () => {
        Facts::default()
    };
    ($($field:ident: $value:expr),+ $(,)?) => {
        Facts { $($field: $value,)+ ..Facts::default() }
    };
}

mod agree;
mod alloc;
mod context;
mod convert;
mod headers;
mod json;
mod query;

/// A context map in short: each field with its sources, written `kind:arg` (`header:x-env`,
/// `param:id`, `query:env`, `body:/a/b`).
type Spec = &'static [(&'static str, &'static [&'static str])];

const ROLE_H: Spec = &[("actor_role", &["header:x-actor-role"])];
const ITER_H: Spec = &[("current_iteration", &["header:x-iteration"])];
const ELAPSED_H: Spec = &[("elapsed_seconds", &["header:x-elapsed"])];
const AMOUNT_H: Spec = &[("amount", &["header:x-amount"])];
const AMOUNT_Q: Spec = &[("amount", &["query:amount"])];
const AMOUNT_B: Spec = &[("amount", &["body:/amount"])];
const ACTOR_Q: Spec = &[("actor", &["query:actor"])];
const ACTOR_B: Spec = &[("actor", &["body:/actor"])];
const ENV_HQ: Spec = &[("environment", &["header:x-env", "query:env"])];
const ACTOR_HB: Spec = &[("actor", &["header:x-actor", "body:/actor"])];
const AMOUNT_HB: Spec = &[("amount", &["header:x-amount", "body:/amount"])];
const ITER_HB: Spec = &[("current_iteration", &["header:x-iteration", "body:/it"])];
const RUN_Q: Spec = &[("run_id", &["query:run_id"])];

fn source(spec: &str) -> Source {
    let (kind, arg) = spec.split_once(':').expect("kind:arg");
    match kind {
        "header" => Source::Header(HeaderName::from_bytes(arg.as_bytes()).unwrap()),
        "param" => Source::Param(arg.into()),
        "query" => Source::Query(arg.into()),
        "body" => Source::parse_pointer(arg).unwrap(),
        _ => panic!("unknown source kind {kind}"),
    }
}

fn map(fields: &[(&str, &[&str])], amount: &str) -> ContextMap {
    ContextMap::compile(
        fields
            .iter()
            .map(|(f, s)| (Field::parse(f), s.iter().map(|s| source(s)).collect()))
            .collect(),
        amount,
    )
}

/// A request: headers (raw bytes, in order), a route template and the path it matches, a
/// query, a body.
#[derive(Clone, Default)]
struct Req {
    headers: Vec<(String, Vec<u8>)>,
    route: Option<(&'static str, String)>,
    query: Option<String>,
    body: Option<String>,
}

/// A request with these headers.
fn h(headers: &[(&str, &[u8])]) -> Req {
    Req {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
        ..Req::default()
    }
}

/// A request with this query.
fn q(query: &str) -> Req {
    Req::default().query(query)
}

/// A request with this body.
fn b(body: impl Into<String>) -> Req {
    Req::default().body(body)
}

/// A request for `path`, matched by the route `template`.
fn at(template: &'static str, path: &str) -> Req {
    Req {
        route: Some((template, path.into())),
        ..Req::default()
    }
}

impl Req {
    fn query(self, query: &str) -> Req {
        Req {
            query: Some(query.into()),
            ..self
        }
    }

    fn body(self, body: impl Into<String>) -> Req {
        Req {
            body: Some(body.into()),
            ..self
        }
    }
}

fn with_request<R>(
    m: &ContextMap,
    req: &Req,
    f: impl FnOnce(Result<Extracted<'_>, ExtractError>) -> R,
) -> R {
    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let mut router = matchit::Router::new();
    let (template, path) = req.route.as_ref().map_or(("/", "/"), |(t, p)| (*t, &**p));
    router.insert(template, ()).unwrap();
    let matched = router.at(path).expect("route matches");
    let view = RequestView {
        headers: &headers,
        params: &matched.params,
        query: req.query.as_deref(),
        body: req.body.as_deref().map(str::as_bytes),
    };
    f(extract(m, &view))
}

/// What a row expects: the facts and the `Other` values read (name, text), or the
/// refusal's message.
type Want = Result<(Facts<'static>, Vec<(&'static str, &'static str)>), &'static str>;

/// These facts, no `Other` value.
fn ok(facts: Facts<'static>) -> Want {
    Ok((facts, vec![]))
}

/// These facts and these `Other` values.
fn ok_other(facts: Facts<'static>, other: &[(&'static str, &'static str)]) -> Want {
    Ok((facts, other.to_vec()))
}

/// Nothing read, nothing refused.
fn nothing() -> Want {
    ok(facts!())
}

fn t(s: &'static str) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(s))
}

fn ts(s: &str) -> Option<Timestamp> {
    Some(s.parse().unwrap())
}

fn issues(codes: &[IssueCode]) -> IssueSet {
    codes.iter().copied().collect()
}

/// One case: a context map (with the amount field's name), a request, what it yields.
struct Row {
    name: &'static str,
    fields: Spec,
    amount: &'static str,
    req: Req,
    want: Want,
}

/// A row whose amount field is `amount`.
fn row(name: &'static str, fields: Spec, req: Req, want: Want) -> Row {
    Row {
        name,
        fields,
        amount: "amount",
        req,
        want,
    }
}

impl Row {
    /// The row with another amount field (`spec.limits.amount_field`).
    fn amount_field(self, amount: &'static str) -> Row {
        Row { amount, ..self }
    }
}

/// Runs every row of a table: the facts (compared by their `Debug` text, so `-0.0` is not
/// `0.0`) and the `Other` values, or the refusal's message.
fn run(table: &str, rows: Vec<Row>) {
    let mut failures = Failures::new(table);
    for row in &rows {
        let m = map(row.fields, row.amount);
        let got = with_request(&m, &row.req, |r| match r {
            Ok(x) => Ok((
                format!("{:?}", x.facts),
                x.other
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            )),
            Err(e) => Err(e.to_string()),
        });
        let want = match &row.want {
            Ok((f, o)) => Ok((
                format!("{f:?}"),
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )),
            Err(e) => Err(e.to_string()),
        };
        failures.check(row.name, got, want);
    }
    failures.assert();
}

/// The failing rows of one table, reported together by name. Row names must be unique.
struct Failures {
    table: String,
    names: HashSet<String>,
    failed: Vec<String>,
}

impl Failures {
    fn new(table: &str) -> Failures {
        Failures {
            table: table.into(),
            names: HashSet::new(),
            failed: Vec::new(),
        }
    }

    /// Records the row `name`, failed unless `got` is `want`.
    fn check<T: PartialEq + Debug>(&mut self, name: impl Display, got: T, want: T) {
        let failure = (got != want).then(|| format!("\n   got {got:?}\n  want {want:?}"));
        self.record(name, failure);
    }

    /// Records the row `name`, failed with `why` unless `ok`.
    fn expect(&mut self, name: impl Display, ok: bool, why: impl Display) {
        self.record(name, (!ok).then(|| format!(" {why}")));
    }

    fn record(&mut self, name: impl Display, failure: Option<String>) {
        if !self.names.insert(name.to_string()) {
            self.failed.push(format!("{name}: row name used twice"));
        }
        if let Some(why) = failure {
            self.failed.push(format!("{name}:{why}"));
        }
    }

    fn assert(self) {
        assert!(
            self.failed.is_empty(),
            "{}: {} failed:\n{}",
            self.table,
            self.failed.len(),
            self.failed.join("\n")
        );
    }
}
