//! `TestSuite` documents: the bundle's own test cases.

use super::*;

fn issue_codes(file: &Path, list: &[Str], at: &str, sink: &mut Sink) -> IssueSet {
    let mut set = IssueSet::EMPTY;
    for (j, c) in list.iter().enumerate() {
        match IssueCode::parse(&c.value) {
            Some(code) => set.insert(code),
            None => sink.at(
                file,
                c.referenced,
                &format!("{at}[{j}]"),
                format!("unknown issue code {:?}", c.value),
            ),
        }
    }
    set
}

pub(super) fn compile_tests(
    suites: &[Doc<raw::TestSuiteDoc>],
    routes: &RouteNames<'_>,
    sink: &mut Sink,
) -> Vec<TestCase> {
    let mut tests = Vec::new();
    let mut seen: HashMap<String, (PathBuf, Location)> = HashMap::new();
    for doc in suites {
        let file = doc.file.as_path();
        for (i, t) in doc.doc.spec.tests.iter().enumerate() {
            let field = format!("spec.tests[{i}]");
            let spec = &t.value;
            let name = spec.name.value.trim();
            if name.is_empty() {
                sink.at(
                    file,
                    spec.name.referenced,
                    &format!("{field}.name"),
                    "the test name must not be empty",
                );
            } else if let Some((first, loc)) = seen.get(name) {
                sink.at(
                    file,
                    spec.name.referenced,
                    &format!("{field}.name"),
                    format!(
                        "duplicate test name {name:?}; first defined at {}:{}:{}",
                        first.display(),
                        loc.line(),
                        loc.column()
                    ),
                );
            } else {
                seen.insert(name.to_owned(), (file.to_path_buf(), spec.name.referenced));
            }
            let now = match &spec.now {
                None => {
                    sink.at(
                        file,
                        t.referenced,
                        &format!("{field}.now"),
                        "a test needs now: the fixed instant it is evaluated at, e.g. 2026-03-16T10:00:00Z",
                    );
                    None
                }
                Some(n) => match n.value.parse::<Timestamp>() {
                    Ok(ts) => Some(ts),
                    Err(e) => {
                        sink.at(
                            file,
                            n.referenced,
                            &format!("{field}.now"),
                            format!("invalid timestamp {:?}: {e}", n.value),
                        );
                        None
                    }
                },
            };
            let input = match (&spec.request, &spec.check) {
                (Some(_), Some(c)) => {
                    sink.at(
                        file,
                        c.referenced,
                        &format!("{field}.check"),
                        "a test has either request or check, not both",
                    );
                    None
                }
                (None, None) => {
                    sink.at(
                        file,
                        t.referenced,
                        &field,
                        "a test needs request (an HTTP request) or check (a /check payload)",
                    );
                    None
                }
                (None, Some(c)) => Some(TestInput::Check(Box::new(c.value.clone()))),
                (Some(r), None) => test_request(file, &r.value, &format!("{field}.request"), sink)
                    .map(TestInput::Request),
            };
            let expect = expectation(file, &spec.expect, &format!("{field}.expect"), routes, sink);
            if let (Some(now), Some(input), Some(expect)) = (now, input, expect) {
                tests.push(TestCase {
                    name: name.to_owned(),
                    now,
                    input,
                    expect,
                    location: SourceLocation {
                        file: file.to_path_buf(),
                        line: t.referenced.line(),
                        column: t.referenced.column(),
                    },
                });
            }
        }
    }
    tests
}

fn test_request(
    file: &Path,
    r: &raw::RequestSpec,
    at: &str,
    sink: &mut Sink,
) -> Option<TestRequest> {
    let mut ok = true;
    let method = if is_method_token(&r.method.value) {
        Method::from_bytes(r.method.value.as_bytes()).ok()
    } else {
        None
    };
    if method.is_none() {
        ok = false;
        sink.at(
            file,
            r.method.referenced,
            &format!("{at}.method"),
            format!(
                "invalid method {:?}: expected an upper-case token such as GET",
                r.method.value
            ),
        );
    }
    if !r.path.value.starts_with('/') {
        ok = false;
        sink.at(
            file,
            r.path.referenced,
            &format!("{at}.path"),
            format!("invalid path {:?}: it must start with '/'", r.path.value),
        );
    }
    let mut headers = Vec::new();
    for (name, value) in &r.headers.0 {
        if HeaderName::from_bytes(name.value.as_bytes()).is_err() {
            ok = false;
            sink.at(
                file,
                name.referenced,
                &format!("{at}.headers.{}", name.value),
                format!("invalid header name {:?}", name.value),
            );
        }
        headers.push((name.value.clone(), value.clone()));
    }
    let body = match &r.body {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(Bytes::from(s.clone())),
        Some(v) => Some(Bytes::from(
            serde_json::to_vec(v).expect("a JSON value serializes"),
        )),
    };
    let client_cert = r.client_cert.as_ref().map(|c| crate::identity::ClientCert {
        uris: c.uri.iter().map(|u| Box::from(u.as_str())).collect(),
        dns: c.dns.iter().map(|d| Box::from(d.as_str())).collect(),
    });
    let method = method?;
    ok.then(|| TestRequest {
        method,
        path: r.path.value.clone(),
        headers,
        body,
        client_cert,
    })
}

fn expectation(
    file: &Path,
    e: &Spanned<raw::ExpectSpec>,
    at: &str,
    routes: &RouteNames<'_>,
    sink: &mut Sink,
) -> Option<Expectation> {
    let spec = &e.value;
    let verdict = match spec.verdict.value.as_str() {
        "ALLOW" => Some(Verdict::Allow),
        "DENY" => Some(Verdict::Deny),
        "DEFER" => Some(Verdict::Defer),
        other => {
            sink.at(
                file,
                spec.verdict.referenced,
                &format!("{at}.verdict"),
                format!("invalid verdict {other:?}: expected ALLOW, DENY or DEFER"),
            );
            None
        }
    };
    let issues = spec
        .issues
        .as_ref()
        .map(|l| issue_codes(file, l, &format!("{at}.issues"), sink));
    let issues_include = spec.issues_include.as_ref().map_or(IssueSet::EMPTY, |l| {
        issue_codes(file, l, &format!("{at}.issues_include"), sink)
    });
    if let Some(r) = &spec.route {
        if routes.is_unknown(&r.value) {
            sink.at(
                file,
                r.referenced,
                &format!("{at}.route"),
                format!("unknown route {:?}: no RouteMap defines it", r.value),
            );
        }
    }
    Some(Expectation {
        verdict: verdict?,
        issues,
        issues_include,
        route: spec.route.as_ref().map(|r| r.value.clone()),
        defer_questions: spec.defer_questions.clone(),
        defer_questions_include: spec.defer_questions_include.clone().unwrap_or_default(),
    })
}
