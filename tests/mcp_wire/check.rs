//! Runs a table against the sidecar and checks each row: the answer, the decision, and
//! what the upstream received.

use super::*;

pub(crate) fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() > 400 {
        format!(
            "{}... ({} bytes)",
            &text[..text.floor_char_boundary(400)],
            bytes.len()
        )
    } else {
        text.into_owned()
    }
}

/// Runs every row against `gate` (in front of `up`), in order; returns the failures, each
/// naming its table and row.
pub(crate) async fn run_table(
    gate: &Sidecar,
    up: &Upstream,
    table: &str,
    rows: &[Row],
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut ids = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let id = format!("mw-{table}-{i}");
        let before = up.seen().len();
        let ex = send(gate.proxy, &row.req, &id).await;
        // Rows run one at a time: whatever the upstream got meanwhile came of this row.
        let new: Vec<Seen> = up.seen()[before..].to_vec();
        let bad = check(row, &id, &ex, &new);
        if !bad.is_empty() {
            failures.push(format!("[{table}] {}: {}", row.name, bad.join("; ")));
        }
        ids.push(id);
    }
    // A refused request must not reach the upstream later either.
    let end = up.seen().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for seen in &up.seen()[end..] {
        let id = seen.header("x-request-id").unwrap_or("-");
        let name = ids
            .iter()
            .position(|i| i == id)
            .map_or("an unknown request".to_owned(), |i| rows[i].name.clone());
        failures.push(format!(
            "[{table}] {name}: reached the upstream after its answer: {} {} {}",
            seen.method,
            seen.target,
            shown(&seen.body)
        ));
    }
    failures
}

pub(crate) fn check(row: &Row, id: &str, ex: &Exchange, new: &[Seen]) -> Vec<String> {
    let mut bad = Vec::new();
    let resp = ex.finals().first().copied();
    let forwarded = |bad: &mut Vec<String>| {
        if let Some(s) = new.first() {
            bad.push(format!(
                "FORWARDED to the upstream ({} request(s)): {} {} (x-request-id {:?}) body {:?}",
                new.len(),
                s.method,
                s.target,
                s.header("x-request-id"),
                shown(&s.body)
            ));
        }
    };
    match &row.want {
        Want::Forwarded => {
            match resp {
                None => bad.push(format!("no answer (rest {:?})", shown(&ex.rest))),
                Some(r) => {
                    if r.status != 200 || r.header("x-upstream") != Some("1") {
                        bad.push(format!(
                            "status {} (want the upstream's 200): {}",
                            r.status,
                            shown(&r.body)
                        ));
                    }
                    if r.header("x-toolgate-verdict") != Some("ALLOW") {
                        bad.push(format!(
                            "x-toolgate-verdict {:?} (want ALLOW)",
                            r.header("x-toolgate-verdict")
                        ));
                    }
                }
            }
            match new {
                [seen] => bad.extend(compare_forwarded(&row.req, seen)),
                [] => bad.push("the upstream received nothing (want the request)".into()),
                many => bad.push(format!("the upstream received {} copies", many.len())),
            }
        }
        Want::Refused(w) => {
            match resp {
                None => bad.push(format!(
                    "no answer (want {}; closed: {}, rest {:?})",
                    w.status,
                    ex.closed,
                    shown(&ex.rest)
                )),
                Some(r) => bad.extend(check_refusal(w, id, r)),
            }
            forwarded(&mut bad);
        }
    }
    bad
}

/// The upstream got the request as the client sent it.
pub(crate) fn compare_forwarded(req: &Req, seen: &Seen) -> Vec<String> {
    let mut bad = Vec::new();
    if seen.method != req.method || seen.target != "/mcp" {
        bad.push(format!(
            "upstream got {} {} (want {} /mcp)",
            seen.method, seen.target, req.method
        ));
    }
    if seen.body != req.body {
        bad.push(format!(
            "upstream body {:?} differs from the body sent {:?}",
            shown(&seen.body),
            shown(&req.body)
        ));
    }
    for name in PASSED {
        let want = req.sent(name);
        let got: Vec<&str> = seen
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<not text>"))
            .collect();
        if got != want {
            bad.push(format!("upstream header {name}: {got:?} (sent {want:?})"));
        }
    }
    bad
}

pub(crate) fn check_refusal(w: &Refused, id: &str, r: &RawResponse) -> Vec<String> {
    let mut bad = Vec::new();
    if r.status != w.status {
        bad.push(format!("status {} (want {})", r.status, w.status));
    }
    if r.header("x-toolgate-verdict") != Some(w.verdict) {
        bad.push(format!(
            "x-toolgate-verdict {:?} (want {})",
            r.header("x-toolgate-verdict"),
            w.verdict
        ));
    }
    if r.header("x-request-id") != Some(id) {
        bad.push(format!("x-request-id {:?}", r.header("x-request-id")));
    }
    if r.header("content-type") != Some("application/json") {
        bad.push(format!("content-type {:?}", r.header("content-type")));
    }
    let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
        bad.push(format!("body is not JSON: {:?}", shown(&r.body)));
        return bad;
    };
    let data = match &w.shape {
        Shape::Rpc { code, id: rpc_id }
            if v.get("verdict").is_some() && v.get("jsonrpc").is_none() =>
        {
            bad.push(format!(
                "the plain decision, not a JSON-RPC error (want error.code {code}, id {rpc_id})"
            ));
            v.clone()
        }
        Shape::Rpc { code, id: rpc_id } => {
            let mut rpc_bad = Vec::new();
            if v.get("jsonrpc") != Some(&json!("2.0")) {
                rpc_bad.push("no \"jsonrpc\":\"2.0\"".to_owned());
            }
            if v.get("id") != Some(rpc_id) {
                rpc_bad.push(format!("id {:?} (want {rpc_id})", v.get("id")));
            }
            if v.get("result").is_some() {
                rpc_bad.push("has a result".into());
            }
            if v["error"]["code"] != json!(code) {
                rpc_bad.push(format!("error.code {} (want {code})", v["error"]["code"]));
            }
            match v["error"]["message"].as_str() {
                None => rpc_bad.push("no error.message".into()),
                Some(m) if *code == DENY || *code == DEFER => {
                    for word in std::iter::once(w.verdict).chain(w.issues.iter().copied()) {
                        if !m.contains(word) {
                            rpc_bad.push(format!("error.message {m:?} does not name {word}"));
                        }
                    }
                }
                Some(_) => {}
            }
            if !rpc_bad.is_empty() {
                bad.push(format!(
                    "JSON-RPC error: {} in {}",
                    rpc_bad.join(", "),
                    shown(&r.body)
                ));
            }
            v["error"]["data"].clone()
        }
        Shape::Plain => {
            if v.get("jsonrpc").is_some() || v.get("error").is_some() {
                bad.push(format!(
                    "a JSON-RPC body (want the plain decision): {}",
                    shown(&r.body)
                ));
            }
            v.clone()
        }
    };
    bad.extend(check_decision(w, id, r, &data));
    bad
}

/// The decision (the plain body, or `error.data`).
pub(crate) fn check_decision(w: &Refused, id: &str, r: &RawResponse, d: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    if !d.is_object() {
        bad.push(format!("decision is not an object: {d}"));
        return bad;
    }
    if d["verdict"] != w.verdict {
        bad.push(format!(
            "decision verdict {} (want {})",
            d["verdict"], w.verdict
        ));
    }
    let kind = if w.verdict == "DEFER" {
        "DEFER"
    } else {
        "NO_GO"
    };
    if d["decision"] != kind {
        bad.push(format!("decision {} (want {kind})", d["decision"]));
    }
    let issues: BTreeSet<&str> = d["issues"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let want: BTreeSet<&str> = w.issues.iter().copied().collect();
    if issues != want {
        bad.push(format!("issues {issues:?} (want {want:?})"));
    }
    match d["defer_questions"].as_array() {
        None => bad.push("no defer_questions array".into()),
        Some(q) => {
            if w.verdict == "DEFER" && q.is_empty() {
                bad.push("defer_questions empty on a DEFER".into());
            }
            for want in w.questions {
                if !q.iter().any(|x| x == want) {
                    bad.push(format!("defer_questions {q:?} lack {want:?}"));
                }
            }
        }
    }
    if d["request_id"] != id {
        bad.push(format!(
            "decision request_id {} (want {id})",
            d["request_id"]
        ));
    }
    let version = r.header("x-toolgate-policy-version");
    if d["policy_version"].as_str().is_none_or(str::is_empty)
        || d["policy_version"].as_str() != version
    {
        bad.push(format!(
            "decision policy_version {} (header {version:?})",
            d["policy_version"]
        ));
    }
    if d["route"] != w.route {
        bad.push(format!("decision route {} (want {})", d["route"], w.route));
    }
    bad
}

pub(crate) fn assert_rows(rows: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
