//! The README is the user's manual: these tests keep its tables true to the code.

use toolgate::policy::{IssueClass, IssueCode};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// Rows of the markdown table that follows `heading`.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("README lacks {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn issue_table_lists_every_code_with_its_class_and_question() {
    let rows = table_after(&readme(), "### Issue codes");
    let codes: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let want: Vec<&str> = IssueCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, want, "README issue table is out of date");
    for (row, code) in rows.iter().zip(IssueCode::ALL) {
        let class = match code.class() {
            IssueClass::Deny => "DENY",
            IssueClass::Defer => "DEFER",
        };
        assert_eq!(row[1], class, "{code}");
        let question = if code.default_question().is_empty() {
            "—"
        } else {
            code.default_question()
        };
        assert_eq!(row[3], question, "{code}");
    }
}

/// Leaf keys of a YAML mapping as dotted paths, with their values as text.
fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.into(), s.clone())),
        other => out.push((prefix.into(), other.to_string())),
    }
}

#[test]
fn config_table_matches_the_shipped_config_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/toolgate.yaml");
    let shipped: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut keys = Vec::new();
    leaves("", &shipped, &mut keys);
    let rows = table_after(&readme(), "## Configuration");
    let documented: Vec<(String, String)> = rows
        .iter()
        .flat_map(|r| {
            r[0].split(", ")
                .map(|k| (k.trim_matches('`').to_string(), r[1].clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (key, value) in &keys {
        if key == "apiVersion" || key == "kind" {
            continue;
        }
        let row = documented.iter().find(|(k, _)| k == key);
        let (_, default) = row.unwrap_or_else(|| panic!("README does not document `{key}`"));
        // The shipped file spells out every default; `policies` is the one required key.
        if default != "required" {
            assert_eq!(default, value, "README default of `{key}`");
        }
    }
    // And every documented key is one the config accepts (commented keys included).
    let text = std::fs::read_to_string(path).unwrap();
    for (key, _) in &documented {
        let last = key.rsplit('.').next().unwrap();
        assert!(
            text.contains(&format!("{last}:")),
            "`{key}` is not in config/toolgate.yaml"
        );
    }
}

// ---------------------------------------------------------------- shell examples

#[path = "support/demo.rs"]
mod demo;
mod support;

/// The ```sh block of "The approval loop": a script, run whole by
/// [`the_approval_loop_runs_as_written`], not command by command.
fn approval_loop_block(text: &str) -> &str {
    let section = &text[text
        .find("### The approval loop")
        .expect("README lacks the approval loop")..];
    let start = section
        .find("```sh\n")
        .expect("the approval loop has no sh block")
        + 6;
    let len = section[start..].find("```").unwrap();
    &section[start..start + len]
}

/// The README without the approval-loop script: the examples run one by one.
fn readme_examples() -> String {
    let text = readme();
    let script = approval_loop_block(&text).to_owned();
    assert!(script.contains("approve"), "{script}");
    text.replacen(&script, "", 1)
}

/// One command of a ```sh block (continuations joined) and the comment line above it.
#[derive(Clone, Debug)]
struct Example {
    comment: String,
    command: String,
}

fn sh_examples(text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let (mut comment, mut pending) = (String::new(), String::new());
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            comment.clear();
            continue;
        }
        if !in_sh {
            continue;
        }
        let t = line.trim();
        if t.is_empty() {
            comment.clear();
        } else if t.starts_with('#') && pending.is_empty() {
            comment = t.to_owned();
        } else if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push('\n');
        } else {
            pending.push_str(line);
            out.push(Example {
                comment: comment.clone(),
                command: std::mem::take(&mut pending),
            });
        }
    }
    out
}

/// Shell words: single and double quotes, backslash-newline continuations.
fn words(command: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    for c in command.chars() {
        match (quote, c) {
            (None, '\'' | '"') => (quote, in_word) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            (None, c) => (in_word, _) = (true, word.push(c)),
        }
    }
    assert!(quote.is_none(), "unclosed quote in {command}");
    if in_word {
        out.push(word);
    }
    out
}

#[test]
fn quick_start_is_the_demo_then_the_tests() {
    let text = readme();
    let quick = &text[text.find("## Quick start").unwrap()..];
    let first: Vec<String> = sh_examples(quick)
        .into_iter()
        .take(2)
        .map(|e| e.command)
        .collect();
    assert_eq!(first, ["cargo run --release -- demo", "cargo test"]);
}

/// A `curl` example as a request: method, URL, headers, body.
struct Curl {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_curl(command: &str) -> Curl {
    let w = words(command);
    assert_eq!(w[0], "curl", "{command}");
    let mut c = Curl {
        method: String::new(),
        url: String::new(),
        headers: Vec::new(),
        body: String::new(),
    };
    let mut it = w[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-i" | "-s" | "-S" | "-sS" | "-f" => {}
            "-X" => c.method = it.next().unwrap().clone(),
            "-H" => {
                let (k, v) = it.next().unwrap().split_once(':').unwrap();
                c.headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            "-d" | "--data" | "--data-raw" => c.body = it.next().unwrap().clone(),
            url if url.starts_with("http://") => c.url = url.to_owned(),
            other => panic!("curl option {other} in the README: teach tests/readme.rs"),
        }
    }
    if c.method.is_empty() {
        c.method = if c.body.is_empty() { "GET" } else { "POST" }.into();
    }
    c
}

/// The scenario table's (name, status, verdict) rows in a demo's output.
fn table_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .skip_while(|l| !l.starts_with("SCENARIO "))
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with("```"))
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            let c: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (c[0].to_owned(), c[1].to_owned(), c[2].to_owned())
        })
        .collect()
}

/// Where the README's addresses point in a running demo: by the demo's printed labels.
const README_ADDRESSES: &[(&str, &str)] = &[
    ("127.0.0.1:8000", "proxy"),
    ("127.0.0.1:8080", "tool API"),
    ("127.0.0.1:9901", "admin"),
    ("127.0.0.1:8002", "MCP proxy"),
];

#[test]
fn curl_examples_are_the_demos_and_do_what_their_comments_say() {
    let text = readme();
    let mut args = vec!["demo"];
    args.extend(demo::ephemeral_demo_ports(&[]));
    let mut running = demo::Running::start(&args);
    let printed = running.stdout_until("Press Ctrl-C").join("\n");
    let lines: Vec<String> = printed.lines().map(str::to_owned).collect();
    let addresses = demo::printed_addresses(&lines);
    let live = |readme_addr: &str| -> std::net::SocketAddr {
        let (_, label) = README_ADDRESSES
            .iter()
            .find(|(a, _)| *a == readme_addr)
            .unwrap_or_else(|| panic!("README address {readme_addr}: not a demo address"));
        addresses
            .iter()
            .find(|(l, _)| l.starts_with(label))
            .unwrap_or_else(|| panic!("the demo prints no {label} address:\n{printed}"))
            .1
    };
    let proxy = live("127.0.0.1:8000").to_string();

    // The README's sample table is the demo's, scenario for scenario.
    let demo_section = &text[text.find("## Demo").unwrap()..];
    let demo_rows = table_rows(&printed);
    assert!(
        !demo_rows.is_empty(),
        "the demo printed no table:\n{printed}"
    );
    assert_eq!(table_rows(demo_section), demo_rows);

    // The README's curl lines for the proxy are exactly those the demo prints.
    let readme_curls: Vec<Example> = sh_examples(&readme_examples())
        .into_iter()
        .filter(|e| e.command.starts_with("curl "))
        .collect();
    let printed_curls: Vec<Example> = sh_examples(&format!(
        "```sh\n{}\n```",
        printed
            .split_once("Try it")
            .unwrap()
            .1
            .replace(&proxy, "127.0.0.1:8000")
    ))
    .into_iter()
    .filter(|e| e.command.starts_with("curl "))
    .collect();
    let for_proxy = |v: &[Example]| -> Vec<(String, String)> {
        v.iter()
            .filter(|e| e.command.contains("//127.0.0.1:8000/"))
            .map(|e| (e.comment.clone(), e.command.clone()))
            .collect()
    };
    assert!(
        !for_proxy(&printed_curls).is_empty(),
        "the demo printed no curl lines"
    );
    assert_eq!(for_proxy(&readme_curls), for_proxy(&printed_curls));

    // Each README curl, sent to the running demo, gets what its comment says.
    for e in &readme_curls {
        let c = parse_curl(&e.command);
        let rest = c.url.strip_prefix("http://").unwrap();
        let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let r = demo::http(live(authority), &c.method, target, &c.headers, &c.body);
        // "# name: 409 DEFER (why)" -> ("409", "DEFER"); no such words: any 2xx.
        let said: Vec<&str> = e
            .comment
            .split(": ")
            .nth(1)
            .unwrap_or("")
            .split(' ')
            .collect();
        match said.as_slice() {
            [status, verdict, ..] if status.parse::<u16>().is_ok() => {
                assert_eq!(r.status.to_string(), *status, "{}\n{r:?}", e.command);
                assert_eq!(
                    r.header("x-toolgate-verdict"),
                    Some(*verdict),
                    "{}",
                    e.command
                );
            }
            _ => assert!((200..300).contains(&r.status), "{}\n{r:?}", e.command),
        }
    }
    assert_eq!(running.interrupt(), 0);
}

#[test]
fn shell_examples_run() {
    let root = demo::root();
    // The approval loop's block runs whole, in the_approval_loop_runs_as_written.
    for e in sh_examples(&readme_examples()) {
        let w = words(&e.command);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        let toolgate_args: Option<&[&str]> = match w.as_slice() {
            ["cargo", "run", rest @ ..] => {
                let at = rest.iter().position(|a| *a == "--").unwrap();
                Some(&rest[at + 1..])
            }
            ["toolgate", rest @ ..] => Some(rest),
            _ => None,
        };
        match (toolgate_args, w.as_slice()) {
            (Some(args), _) => run_toolgate(args),
            // This test is part of it; CI runs .ci/run itself.
            (None, ["cargo", "test"] | ["bash", ".ci/run"]) => {}
            (None, ["curl", ..]) => {} // run against the demo, above
            // Load tests and benchmarks are run by hand (they need wrk, nginx, two idle
            // cores, minutes); here their scripts and targets must exist and parse.
            (
                None,
                ["bash", script @ ("benches/load.sh" | "benches/h2load.sh" | "benches/callgrind.sh"), ..],
            ) => {
                let ok = std::process::Command::new("bash")
                    .args(["-n", script])
                    .current_dir(&root)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "{script} does not parse");
            }
            (None, ["cargo", "bench", "--bench", name, ..]) => {
                assert!(root.join(format!("benches/{name}.rs")).is_file(), "{name}")
            }
            (None, ["cargo", "build", "--release", "--example", name]) => {
                assert!(root.join(format!("examples/{name}.rs")).is_file(), "{name}")
            }
            (None, ["docker", "build", .., context]) => {
                assert!(
                    root.join(context).join("Dockerfile").is_file(),
                    "{}",
                    e.command
                )
            }
            (None, ["kubectl", "apply", "-k", dir]) => {
                assert!(root.join(dir).join("kustomization.yaml").is_file(), "{dir}")
            }
            // Run as written by tests/deploy_monitoring.rs (it needs promtool, which
            // .ci/run installs); here, the files it names are the shipped ones.
            (None, ["promtool", "check" | "test", "rules", files @ ..]) => {
                for f in files {
                    assert!(root.join(f).is_file(), "{f}");
                }
            }
            _ => panic!(
                "README shell example not exercised by tests/readme.rs: {}",
                e.command
            ),
        }
    }
}

/// Runs a README `toolgate ...` example: to completion, or (serve) until it listens.
fn run_toolgate(args: &[&str]) {
    let line = args.join(" ");
    match args[0] {
        "validate" | "test" => {
            let out = demo::run(args);
            assert!(out.status.success(), "{line}: {out:?}");
        }
        "check" => {
            let code = demo::run(args).status.code();
            assert!(matches!(code, Some(0 | 3 | 4)), "{line}: {code:?}");
        }
        // Started for real by the curl test; here its --once form.
        "demo" => {
            let (code, out, err) = demo::demo_once(&args[1..]);
            assert_eq!(code, 0, "{line}\n{out}\n{err}");
        }
        "serve" => {
            let mut full = args.to_vec();
            for (flag, addr) in [
                ("--listen", "127.0.0.1:0"),
                ("--admin-listen", "127.0.0.2:0"),
            ] {
                if !args.contains(&flag) {
                    full.extend([flag, addr]);
                }
            }
            let mut running = demo::Running::start(&full);
            let listening = running.stderr_until("proxy listening");
            let proxy = listening
                .split_whitespace()
                .find_map(|w| w.strip_prefix("local="))
                .unwrap()
                .parse()
                .unwrap();
            // An answer means the accept loop runs, and so (it polls the shutdown future
            // first) that the signal handlers are in place: SIGINT is then a clean stop.
            let r = demo::http(proxy, "GET", "/readme-probe", &[], "");
            assert_eq!(r.status, 403, "an unmapped route: {r:?}");
            assert_eq!(running.interrupt(), 0, "{line}");
        }
        "keys" => {
            let out = demo::run(args);
            let text = demo::text(&out.stdout);
            assert!(out.status.success(), "{line}: {out:?}");
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("key (shown once): "));
            let entry = text
                .lines()
                .find_map(|l| l.strip_prefix("keys file line:   "));
            let (key, entry) = (key.unwrap(), entry.unwrap());
            assert!(key.starts_with("tg_") && !entry.contains(key), "{text}");
            assert!(entry.starts_with("orchestrator sha256:"), "{text}");
        }
        "api" => {
            let mut full = args.to_vec();
            full.extend(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.2:0"]);
            let mut running = demo::Running::start(&full);
            let listening = running.stderr_until("decision API listening");
            let api = listening
                .split_whitespace()
                .find_map(|w| w.strip_prefix("local="))
                .unwrap()
                .parse()
                .unwrap();
            // The shipped keys file holds no key: every call is refused.
            let r = demo::http(api, "POST", "/check", &[], r#"{"goal": "x"}"#);
            assert_eq!(r.status, 401, "{r:?}");
            assert_eq!(running.interrupt(), 0, "{line}");
        }
        "review" => {
            let mut full = args.to_vec();
            full.extend(["--listen", "127.0.0.1:0"]);
            let mut running = demo::Running::start(&full);
            let listening = running.stderr_until("review inbox listening");
            let inbox = listening
                .split_whitespace()
                .find_map(|w| w.strip_prefix("local="))
                .unwrap()
                .parse()
                .unwrap();
            // Nothing without a reviewer; the inbox for one.
            let r = demo::http(inbox, "GET", "/", &[], "");
            assert_eq!(r.status, 401, "{r:?}");
            let lead = [(
                "x-forwarded-email".to_owned(),
                "lead@example.com".to_owned(),
            )];
            // The shipped config's Redis (127.0.0.1:6379) may not be running here: then
            // the page says so, and nothing else.
            let r = demo::http(inbox, "GET", "/", &lead, "");
            let down = r.status == 503 && r.body.contains("State store unavailable");
            assert!(r.status == 200 || down, "{r:?}");
            assert_eq!(running.interrupt(), 0, "{line}");
        }
        _ => panic!("README example `toolgate {line}` is not exercised by tests/readme.rs"),
    }
}

/// The approval loop's block, run as written: `bash -euo pipefail` from a directory that
/// holds `config/` and `policies/` (as a checkout does), with `B` the test build, free
/// ports, and a recording tool API. Every line runs; what it prints and what reached the
/// tool are checked.
#[test]
fn the_approval_loop_runs_as_written() {
    use std::os::unix::process::CommandExt as _;
    let text = readme();
    let script = approval_loop_block(&text);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tool = rt.block_on(support::Upstream::start());
    let dir = tempfile::tempdir().unwrap();
    for d in ["config", "policies"] {
        std::os::unix::fs::symlink(demo::root().join(d), dir.path().join(d)).unwrap();
    }
    std::fs::write(dir.path().join("loop.sh"), script).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let file = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
    let mut bash = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "loop.sh"])
        .current_dir(dir.path())
        .env("B", env!("CARGO_BIN_EXE_toolgate"))
        .env("P", &port)
        .env("A", "0")
        .env("TOOL", tool.url())
        .stdin(std::process::Stdio::null())
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        // Its own process group: whatever it leaves behind is stopped below.
        .process_group(0)
        .spawn()
        .expect("bash (and curl) are needed to run the README's approval loop");
    let group = format!("-{}", bash.id());
    let deadline = std::time::Instant::now() + demo::PATIENCE * 2;
    let status = loop {
        if let Some(status) = bash.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .status();
    let _ = bash.wait();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let (stdout, stderr) = (read("stdout"), read("stderr"));
    let status = status.unwrap_or_else(|| panic!("still running:\n{stdout}\n{stderr}"));
    assert!(status.success(), "{status}:\n{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["409", "200", "403"],
        "{stderr}"
    );
    let json = |name: &str| -> serde_json::Value { serde_json::from_str(&read(name)).unwrap() };
    let deferred = json("deferred.json");
    assert_eq!(deferred["verdict"], "DEFER");
    let binding = &deferred["approval_request"]["binding"];
    assert_eq!(binding["route"], "tenants-delete", "{deferred}");
    assert_eq!(binding["actor"], "agent-5", "{deferred}");
    assert_eq!(
        json("out.json")["issues"],
        serde_json::json!(["APPROVAL_REPLAYED"])
    );
    // Exactly one request reached the tool: the approved delete, without its approval.
    let seen = tool.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("DELETE", "/db/v1/tenants/t-42")
    );
    assert_eq!(seen[0].header("x-approval"), None, "{seen:?}");
    assert_eq!(seen[0].header("x-toolgate-verdict"), Some("ALLOW"));
    // The audit trail: one record per request to the tenant, in order, plus the probe.
    let actions: Vec<String> = read("audit.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["path"] == "/db/v1/tenants/t-42")
        .map(|r| r["final_runtime_action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["execution_stopped", "forwarded", "execution_stopped"]
    );
    drop(rt);
}

#[test]
fn metrics_table_lists_every_family_with_its_type() {
    use toolgate::metrics::{Metrics, UpstreamErrorKind};
    use toolgate::policy::{IssueSet, Verdict};
    let registry = prometheus::Registry::new();
    let m = Metrics::new(&registry, "test").unwrap();
    // The review inbox's webhook series, registered beside them by `toolgate review`.
    toolgate::inbox::webhook::WebhookMetrics::register(&registry).unwrap();
    // Touch the lazily created series, so every family is exported.
    let t = m.for_routes(&[std::sync::Arc::from("r")]);
    t.decided(
        Some(0),
        Verdict::Deny,
        true,
        IssueSet::of(IssueCode::AmountMissing),
        1e-6,
    );
    t.decided(Some(0), Verdict::Deny, false, IssueSet::EMPTY, 1e-6);
    t.candidate_disagreement(Some(0), Verdict::Allow, Verdict::Deny);
    t.upstream_error(Some(0), UpstreamErrorKind::Reset);
    t.mcp(0, "s", "r", 0, Verdict::Allow);
    m.bundle_activated("b", "1", "sha256:0", jiff::Timestamp::UNIX_EPOCH);
    m.api.checked("k", Verdict::Allow);
    m.api.over_quota("k");
    m.review.refused("SELF_APPROVAL");
    let exported: std::collections::BTreeSet<(String, String)> = m
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, ty) = l.split_once(' ').unwrap();
            (name.to_owned(), ty.to_owned())
        })
        .collect();
    let documented: std::collections::BTreeSet<(String, String)> =
        table_after(&readme(), "## Metrics")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
    assert_eq!(documented, exported, "README metrics table is out of date");
}

#[test]
fn the_audit_record_example_has_every_field() {
    use toolgate::audit::AuditRecord;
    use toolgate::policy::Verdict;
    let text = readme();
    let start = text
        .find("### Audit record")
        .expect("README lacks the audit example");
    let block = text[start..].split("```json").nth(1).unwrap();
    let example: serde_json::Value =
        serde_json::from_str(block.split("```").next().unwrap()).expect("the example is JSON");
    let rec = AuditRecord::new(
        jiff::Timestamp::UNIX_EPOCH,
        "id".into(),
        http::Method::GET,
        "/".into(),
        "b@1".into(),
        Verdict::Allow,
    );
    let real = serde_json::to_value(rec).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&example),
        keys(&real),
        "README audit example is out of date"
    );
}

/// The position of the first `needle` in `text` after `from`, for checking an order.
fn position(text: &str, from: usize, needle: &str, file: &str) -> usize {
    from + text[from..]
        .find(needle)
        .unwrap_or_else(|| panic!("{file} no longer has {needle:?} where it should"))
}

#[test]
fn how_it_works_names_the_modules_in_request_order() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = table_after(&readme(), "The request path, module by module");
    assert!(rows.len() >= 8, "{rows:?}");
    let mut last_stage = 0;
    let mut modules = Vec::new();
    for row in &rows {
        let stage: u32 = row[0].parse().unwrap();
        assert!(stage >= last_stage, "stages out of order at {row:?}");
        last_stage = stage;
        assert!(root.join(&row[1]).exists(), "{} does not exist", row[1]);
        modules.push(row[1].as_str());
    }
    // The orchestrator runs them in that order...
    let proxy = std::fs::read_to_string(root.join("src/proxy/mod.rs")).unwrap();
    let run = proxy.find("async fn run<B>").expect("the orchestrator");
    let mut at = run;
    for (module, marker) in [
        ("src/classify/", "target::check("),
        ("src/proxy/intake.rs", "RequestBody::"),
        ("src/proxy/stage.rs", "stage::decide("),
        ("src/forward/", ".send(Request::from_parts("),
    ] {
        assert!(modules.contains(&module), "the table lacks {module}");
        at = position(&proxy, at, marker, "src/proxy/mod.rs");
    }
    // The decision stage calls the decision function...
    let stage = std::fs::read_to_string(root.join("src/proxy/stage.rs")).unwrap();
    assert!(
        modules.contains(&"src/decide/"),
        "the table lacks src/decide/"
    );
    position(&stage, 0, "decide::judge(", "src/proxy/stage.rs");
    // ...which runs its own steps in order: an MCP message is parsed before its tool's
    // route reads the context.
    let decide = std::fs::read_to_string(root.join("src/decide/mod.rs")).unwrap();
    let mcp = std::fs::read_to_string(root.join("src/decide/mcp.rs")).unwrap();
    let judge = decide.find("pub fn judge").expect("judge");
    position(&decide, judge, "mcp::judge_endpoint(", "src/decide/mod.rs");
    assert!(modules.contains(&"src/mcp/"), "the table lacks src/mcp/");
    position(&mcp, 0, "message::parse(", "src/decide/mcp.rs");
    let mut at = decide.find("fn judge_route").expect("judge_route");
    for (module, marker) in [
        ("src/extract/", "extract(&route.context"),
        ("src/identity/", ".verify("),
        ("src/authorize.rs", "authorize::evaluate("),
    ] {
        assert!(modules.contains(&module), "the table lacks {module}");
        at = position(&decide, at, marker, "src/decide/mod.rs");
    }
    // The table rows appear in the order the code runs them.
    let order = |m: &str| modules.iter().position(|x| *x == m).unwrap();
    assert!(order("src/classify/") < order("src/proxy/intake.rs"));
    assert!(order("src/proxy/intake.rs") < order("src/proxy/stage.rs"));
    assert!(order("src/proxy/stage.rs") < order("src/decide/"));
    assert!(order("src/decide/") < order("src/mcp/"));
    assert!(order("src/mcp/") < order("src/extract/"));
    assert!(order("src/extract/") < order("src/identity/"));
    assert!(order("src/identity/") < order("src/authorize.rs"));
    assert!(order("src/authorize.rs") < order("src/forward/"));
}

#[test]
fn the_crate_map_lists_every_module() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let declared: std::collections::BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let mapped: std::collections::BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter_map(|l| l.split(" | ").next())
        .map(|m| m.trim_matches(|c| c == '`' || c == '[' || c == ']'))
        .filter(|m| *m != "module" && *m != "---")
        .collect();
    assert!(!declared.is_empty());
    assert_eq!(
        declared, mapped,
        "src/lib.rs's Layout table and its modules differ"
    );
}

/// The ```lang block that follows `heading`.
fn block_after<'a>(text: &'a str, heading: &str, lang: &str) -> &'a str {
    let section = &text[text
        .find(heading)
        .unwrap_or_else(|| panic!("README lacks {heading:?}"))..];
    let open = format!("```{lang}\n");
    let start = section
        .find(&open)
        .unwrap_or_else(|| panic!("no {lang} block after {heading}"))
        + open.len();
    let len = section[start..].find("```").unwrap();
    &section[start..start + len]
}

#[test]
fn the_mcp_server_example_is_a_valid_bundle_document() {
    let text = readme();
    let example = block_after(&text, "### `McpServer`", "yaml");
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("policies/mcp/bundle.yaml"),
        dir.path().join("bundle.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("server.yaml"), example).unwrap();
    let snapshot = toolgate::bundle::load(dir.path(), jiff::Timestamp::now())
        .unwrap_or_else(|e| panic!("the README's McpServer example: {e:#}"));
    let server = &snapshot.mcp[0];
    assert_eq!(&*server.path, "/mcp");
    assert_eq!(server.tools.len(), 1);
    assert_eq!(server.resources.len(), 1);
    assert_eq!(server.prompts.len(), 1);
}

#[test]
fn the_mcp_method_table_is_the_lifecycle_the_code_passes() {
    let rows = table_after(&readme(), "These methods pass for any caller");
    let documented: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(documented, toolgate::mcp::endpoint::LIFECYCLE);
}

#[test]
fn the_mcp_refusal_codes_and_example_are_the_code_s() {
    use toolgate::mcp::reply;
    let text = readme();
    let rows = table_after(&text, "### Refusals an MCP client decodes");
    let codes: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    let deny = reply::DENY.to_string();
    let defer = reply::DEFER.to_string();
    let upstream = reply::UPSTREAM.to_string();
    assert_eq!(
        codes,
        [
            ("DENY", deny.as_str()),
            ("DEFER", defer.as_str()),
            (
                "ALLOW, but the MCP server gave no answer",
                upstream.as_str()
            ),
        ]
    );
    // The example answer is what toolgate decides for that call: the same decision fields.
    let example: serde_json::Value = serde_json::from_str(block_after(
        &text,
        "### Refusals an MCP client decodes",
        "json",
    ))
    .expect("the example is JSON");
    assert_eq!(example["error"]["code"], reply::DEFER);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (snapshot, _) =
        toolgate::bundle::load_with_tests(&root.join("policies/mcp"), jiff::Timestamp::now())
            .unwrap();
    let curl = block_after(&text, "### Refusals an MCP client decodes", "sh");
    let body = curl
        .split("-d '")
        .nth(1)
        .unwrap()
        .trim_end()
        .trim_end_matches('\'');
    let req = toolgate::bundle::TestRequest {
        method: http::Method::POST,
        path: "/mcp".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-actor-role".into(), "finance_operator".into()),
            ("x-environment".into(), "production".into()),
        ],
        body: Some(bytes::Bytes::from(body.to_owned())),
        client_cert: None,
    };
    let decision = toolgate::bundle::decide_request(&snapshot, &req, jiff::Timestamp::now());
    let real = serde_json::to_value(&decision).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&example["error"]["data"]),
        keys(&real),
        "the example's data fields"
    );
    assert_eq!(example["error"]["data"]["issues"], real["issues"]);
    assert_eq!(
        example["error"]["data"]["defer_questions"],
        real["defer_questions"]
    );
}
