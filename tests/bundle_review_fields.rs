//! A route's, MCP tool's and prompt's `redact` and `reviewer_roles`: a table of bundle
//! snippets, each compiling to the route's `review` settings or failing with the exact
//! error text (file, line, column, field, message); and the shipped examples that set them.

use std::path::Path;
use toolgate::bundle;
use toolgate::redact::redacted_value;
use toolgate::snapshot::{ReviewSettings, Snapshot};

fn now() -> jiff::Timestamp {
    "2026-03-16T10:00:00Z".parse().unwrap()
}

const BUNDLE: &str = "apiVersion: toolgate.dev/v1alpha1
kind: Bundle
metadata:
  name: t
  version: 1.0.0
spec:
  side_effects:
    money_movement:
      labels: [payout]
    read:
      labels: [read]
";

/// The entry under test is written from line 5 (routes) or line 7 (MCP) on.
const ROUTES_HEAD: &str = "apiVersion: toolgate.dev/v1alpha1
kind: RouteMap
spec:
  routes:
";

const MCP_HEAD: &str = "apiVersion: toolgate.dev/v1alpha1
kind: McpServer
metadata:
  name: payments-mcp
spec:
  path: /mcp
";

/// Which document the row's text completes; the route checked is named `r` (a REST route)
/// or `t` (a tool, prompt or resource).
#[derive(Clone, Copy)]
enum Doc {
    Routes,
    Mcp,
}

/// The route's review settings, or every error (as `file:line:column: field: message`).
type Outcome = Result<(Vec<String>, Vec<String>), Vec<String>>;

struct Row {
    name: &'static str,
    doc: Doc,
    text: String,
    want: Outcome,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn ok(redact: &[&str], roles: &[&str]) -> Outcome {
    Ok((strings(redact), strings(roles)))
}

fn err(lines: &[&str]) -> Outcome {
    Err(strings(lines))
}

fn row(name: &'static str, doc: Doc, text: &str, want: Outcome) -> Row {
    let text = text.to_owned();
    Row {
        name,
        doc,
        text,
        want,
    }
}

const POST: &str = "    - name: r
      method: POST
      path: /payouts
      goal: Create a payout
      side_effects: [payout]
";

const GET: &str = "    - name: r
      method: GET
      path: /payouts
      goal: Read payouts
      side_effects: [read]
";

const TOOL: &str = "  tools:
    - name: t
      goal: Create a payout
      side_effects: [payout]
";

fn rows() -> Vec<Row> {
    use Doc::*;
    let post = |extra: &str| format!("{POST}{extra}");
    let get = |extra: &str| format!("{GET}{extra}");
    let tool = |extra: &str| format!("{TOOL}{extra}");
    let many: String = (0..33).map(|i| format!("        - /f{i}\n")).collect();
    vec![
        row("no fields: the defaults", Routes, POST, ok(&[], &[])),
        row(
            "pointers and roles, in order",
            Routes,
            &post("      redact: [/destination/account_number, /items/0/card, /a~1b~0c]\n      reviewer_roles: [payments-lead, finance-approver]\n"),
            ok(&["/destination/account_number", "/items/0/card", "/a~1b~0c"], &["payments-lead", "finance-approver"]),
        ),
        row(
            "a repeated pointer is kept once",
            Routes,
            &post("      redact: [/iban, /iban]\n"),
            ok(&["/iban"], &[]),
        ),
        row(
            "32 pointers are allowed",
            Routes,
            &post(&format!("      redact:\n{}", &many[..many.len() - "        - /f32\n".len()])),
            Ok(((0..32).map(|i| format!("/f{i}")).collect(), vec![])),
        ),
        row(
            "33 pointers are not",
            Routes,
            &post(&format!("      redact:\n{many}")),
            err(&["routes.yaml:43:11: spec.routes[0].redact: 33 pointers; at most 32 are allowed"]),
        ),
        row(
            "the empty pointer",
            Routes,
            &post("      redact: [/iban, \"\"]\n"),
            err(&["routes.yaml:10:23: spec.routes[0].redact[1]: the empty pointer would redact the whole body, which is not allowed; name the fields to mask, e.g. /destination/account_number"]),
        ),
        row(
            "a pointer without a leading slash",
            Routes,
            &post("      redact: [destination/iban]\n"),
            err(&["routes.yaml:10:16: spec.routes[0].redact[0]: JSON pointer \"destination/iban\" must start with '/', e.g. /amount"]),
        ),
        row(
            "a bad ~ escape",
            Routes,
            &post("      redact:\n        - /ok\n        - /a~2b\n"),
            err(&["routes.yaml:12:11: spec.routes[0].redact[1]: JSON pointer \"/a~2b\": '~' must be followed by '0' or '1'"]),
        ),
        row(
            "a trailing ~",
            Routes,
            &post("      redact: [\"/a~\"]\n"),
            err(&["routes.yaml:10:16: spec.routes[0].redact[0]: JSON pointer \"/a~\": '~' must be followed by '0' or '1'"]),
        ),
        row(
            "an empty reviewer role",
            Routes,
            &post("      reviewer_roles: [payments-lead, \"\"]\n"),
            err(&["routes.yaml:10:39: spec.routes[0].reviewer_roles[1]: a reviewer role must not be empty"]),
        ),
        row(
            "a reviewer role with whitespace",
            Routes,
            &post("      reviewer_roles: [\"payments lead\"]\n"),
            err(&["routes.yaml:10:24: spec.routes[0].reviewer_roles[0]: reviewer role \"payments lead\" must not contain whitespace"]),
        ),
        row(
            "a repeated reviewer role",
            Routes,
            &post("      reviewer_roles:\n        - payments-lead\n        - finance\n        - payments-lead\n"),
            err(&["routes.yaml:13:11: spec.routes[0].reviewer_roles[2]: duplicate reviewer role \"payments-lead\"; first listed as reviewer_roles[0]"]),
        ),
        row(
            "a GET that reads no body has none to redact",
            Routes,
            &get("      redact: [/iban]\n      reviewer_roles: [ops]\n"),
            err(&["routes.yaml:10:16: spec.routes[0].redact: this route has no body to redact: a GET route that reads no body field and does not set allow_body refuses any request body"]),
        ),
        row(
            "a DELETE neither",
            Routes,
            &get("      redact: [/iban]\n").replace("method: GET", "method: DELETE"),
            err(&["routes.yaml:10:16: spec.routes[0].redact: this route has no body to redact: a DELETE route that reads no body field and does not set allow_body refuses any request body"]),
        ),
        row(
            "a GET whose context reads the body",
            Routes,
            &get("      context:\n        amount: { body: /amount }\n      redact: [/iban]\n"),
            ok(&["/iban"], &[]),
        ),
        row(
            "a GET that allows a body",
            Routes,
            &get("      allow_body: true\n      redact: [/iban]\n"),
            ok(&["/iban"], &[]),
        ),
        row(
            "several errors in one route",
            Routes,
            &post("      redact: [\"\", x]\n      reviewer_roles: [a, a]\n"),
            err(&[
                "routes.yaml:10:16: spec.routes[0].redact[0]: the empty pointer would redact the whole body, which is not allowed; name the fields to mask, e.g. /destination/account_number",
                "routes.yaml:10:20: spec.routes[0].redact[1]: JSON pointer \"x\" must start with '/', e.g. /amount",
                "routes.yaml:11:27: spec.routes[0].reviewer_roles[1]: duplicate reviewer role \"a\"; first listed as reviewer_roles[0]",
            ]),
        ),
        row(
            "a tool: pointers into its arguments",
            Mcp,
            &tool("      redact: [/account, /card/number]\n      reviewer_roles: [payments-lead]\n"),
            ok(&["/account", "/card/number"], &["payments-lead"]),
        ),
        row(
            "a tool: the empty pointer",
            Mcp,
            &tool("      redact: [\"\"]\n"),
            err(&["server.yaml:11:16: spec.tools[0].redact[0]: the empty pointer would redact the whole arguments, which is not allowed; name the fields to mask, e.g. /destination/account_number"]),
        ),
        row(
            "a tool: a role with a tab",
            Mcp,
            &tool("      reviewer_roles: [\"a\\tb\"]\n"),
            err(&["server.yaml:11:24: spec.tools[0].reviewer_roles[0]: reviewer role \"a\\tb\" must not contain whitespace"]),
        ),
        row(
            "a prompt",
            Mcp,
            &format!(
                "{}      redact: [/customer]\n      reviewer_roles: [support]\n",
                TOOL.replace("tools:", "prompts:").replace("[payout]", "[read]")
            ),
            ok(&["/customer"], &["support"]),
        ),
        row(
            "a resource: reviewer roles only",
            Mcp,
            "  resources:\n    - name: t\n      uri: \"ledger://{account}\"\n      goal: Read a ledger\n      side_effects: [read]\n      reviewer_roles: [auditor]\n",
            ok(&[], &["auditor"]),
        ),
        row(
            "a resource has no arguments to redact",
            Mcp,
            "  resources:\n    - name: t\n      uri: \"ledger://{account}\"\n      goal: Read a ledger\n      side_effects: [read]\n      redact: [/account]\n",
            err(&["server.yaml:12:16: spec.resources[0].redact: a resource read has no arguments to redact; redact applies to tools and prompts"]),
        ),
    ]
}

/// Writes the row's bundle and loads it.
fn outcome(row: &Row) -> Result<ReviewSettings, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bundle.yaml"), BUNDLE).unwrap();
    let (file, head, route) = match row.doc {
        Doc::Routes => ("routes.yaml", ROUTES_HEAD, "r"),
        Doc::Mcp => ("server.yaml", MCP_HEAD, "t"),
    };
    std::fs::write(dir.path().join(file), format!("{head}{}", row.text)).unwrap();
    match bundle::load(dir.path(), now()) {
        Ok(s) => Ok(review_of(&s, route).clone()),
        Err(e) => Err(e
            .0
            .iter()
            .map(|e| {
                let file = e.file.strip_prefix(dir.path()).unwrap_or(&e.file);
                let at = format!(
                    "{}:{}:{}",
                    file.display(),
                    e.line.unwrap(),
                    e.column.unwrap()
                );
                format!("{at}: {}: {}", e.field, e.message)
            })
            .collect()),
    }
}

fn review_of<'a>(s: &'a Snapshot, route: &str) -> &'a ReviewSettings {
    let r = s.routes.iter().find(|r| &*r.name == route);
    &r.unwrap_or_else(|| panic!("no route {route}")).review
}

fn settings<S: AsRef<str>>(redact: &[S], roles: &[S]) -> ReviewSettings {
    ReviewSettings {
        redact: redact.iter().map(|p| p.as_ref().into()).collect(),
        reviewer_roles: roles.iter().map(|r| r.as_ref().into()).collect(),
    }
}

#[test]
fn review_fields_compile_or_fail_with_the_exact_error() {
    let mut failures = Vec::new();
    for row in rows() {
        let want = match &row.want {
            Ok((redact, roles)) => Ok(settings(redact, roles)),
            Err(lines) => Err(lines.clone()),
        };
        let got = outcome(&row);
        if got != want {
            failures.push(format!(
                "{}:\n  got:    {got:#?}\n  wanted: {want:#?}",
                row.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_shipped_examples_set_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = bundle::load(&root.join("policies/tools-signed"), now()).unwrap();
    assert_eq!(
        review_of(&s, "payouts-create"),
        &settings(&["/destination/account_number"], &["payments-lead"])
    );
    assert_eq!(review_of(&s, "refunds-create"), &ReviewSettings::default());

    let s = bundle::load(&root.join("policies/mcp"), now()).unwrap();
    let payout = review_of(&s, "create_payout");
    assert_eq!(payout, &settings(&["/account"], &[]));
    // The endpoint's own route has none.
    assert_eq!(review_of(&s, "payments-mcp"), &ReviewSettings::default());
    let args = serde_json::json!({"account": "acc-1", "amount": 250});
    assert_eq!(
        redacted_value(&args, &payout.redact),
        "{\n  \"account\": \"[redacted]\",\n  \"amount\": 250\n}"
    );
}
