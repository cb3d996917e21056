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
    assert_eq!(table_rows(demo_section), table_rows(&printed));

    // The README's curl lines for the proxy are exactly those the demo prints.
    let readme_curls: Vec<Example> = sh_examples(&text)
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
    for e in sh_examples(&readme()) {
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
            (None, ["promtool", "check" | "test", "rules", files @ ..]) => {
                for f in files {
                    assert!(root.join(f).is_file(), "{f}");
                }
                match std::process::Command::new("promtool")
                    .args(&w[1..])
                    .current_dir(&root)
                    .output()
                {
                    Ok(out) => assert!(out.status.success(), "{}: {out:?}", e.command),
                    Err(_) => println!("skipped (no promtool): {}", e.command),
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
        _ => panic!("README example `toolgate {line}` is not exercised by tests/readme.rs"),
    }
}
