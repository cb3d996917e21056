//! The policy CLI as platform teams run it in CI: real processes, real files, exit codes
//! and output checked. Seed payloads are the Stage0 pages' own, verbatim.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn toolgate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(payload: &str, now: &str) -> (i32, Value) {
    let out = toolgate(
        &[
            "check",
            "--policies",
            "policies/tools",
            "--request",
            payload,
            "--now",
            now,
        ],
        None,
    );
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap(), json)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn seed_000_fully_evidenced_deploy_is_go_allow() {
    let (code, d) = check(
        "tests/fixtures/seeds/000_enterprise_deploy.json",
        "2026-03-14T09:45:00Z",
    );
    assert_eq!(
        (code, &d["decision"], &d["verdict"]),
        (0, &"GO".into(), &"ALLOW".into())
    );
    assert_eq!(strings(&d["issues"]), Vec::<&str>::new());
    assert_eq!(d["policy_version"], "tools@1.0.0");
    assert_eq!(d["environment"], "production");
    assert!(d["policy_digest"].as_str().unwrap().starts_with("sha256:"));
    // Later than the bundle's approval max age (1h): the same evidence no longer holds.
    let (code, d) = check(
        "tests/fixtures/seeds/000_enterprise_deploy.json",
        "2026-03-14T10:45:00Z",
    );
    assert_eq!(code, 3);
    assert_eq!(strings(&d["issues"]), ["APPROVAL_EXPIRED"]);
}

#[test]
fn seed_001_pending_production_deploy_is_deferred() {
    let payload = "tests/fixtures/seeds/001_deferred_production_deploy.json";
    // Monday 10:00 Berlin: inside business hours.
    let (code, d) = check(payload, "2026-03-16T09:00:00Z");
    assert_eq!(
        (code, &d["decision"], &d["verdict"]),
        (3, &"DEFER".into(), &"DEFER".into())
    );
    let issues = strings(&d["issues"]);
    for want in ["APPROVAL_REQUIRED", "ROLLBACK_PLAN_MISSING", "MFA_REQUIRED"] {
        assert!(issues.contains(&want), "{issues:?}");
    }
    assert!(!issues.contains(&"CHANGE_WINDOW_CLOSED"));
    assert_eq!(d["defer_questions"].as_array().unwrap().len(), issues.len());
    // Saturday: outside the window as well.
    let (code, d) = check(payload, "2026-03-14T09:00:00Z");
    assert_eq!(code, 3);
    assert!(strings(&d["issues"]).contains(&"CHANGE_WINDOW_CLOSED"));
}

#[test]
fn seed_002_payout_without_evidence_is_deferred_with_its_questions() {
    let (code, d) = check(
        "tests/fixtures/seeds/002_payout_missing_approval.json",
        "2026-03-16T09:00:00Z",
    );
    assert_eq!((code, &d["verdict"]), (3, &"DEFER".into()));
    let issues = strings(&d["issues"]);
    assert!(
        issues.contains(&"APPROVAL_REQUIRED") && issues.contains(&"APPROVAL_TIMESTAMP_MISSING")
    );
    let questions = strings(&d["defer_questions"]);
    assert!(
        questions.contains(&"Who approved this payout?"),
        "{questions:?}"
    );
    assert!(
        questions.contains(&"Is approval still valid?"),
        "{questions:?}"
    );
}

#[test]
fn blocked_production_delete_is_no_go_deny() {
    let (code, d) = check("tests/fixtures/blocked_delete.json", "2026-03-16T09:00:00Z");
    assert_eq!(
        (code, &d["decision"], &d["verdict"]),
        (4, &"NO_GO".into(), &"DENY".into())
    );
    let issues = strings(&d["issues"]);
    assert!(issues.contains(&"ROLE_NOT_AUTHORIZED"), "{issues:?}");
    assert!(
        issues.contains(&"DESTRUCTIVE_ACTION_REQUIRES_APPROVAL"),
        "{issues:?}"
    );
}

#[test]
fn check_reads_stdin_and_names_the_bad_field() {
    let out = toolgate(
        &[
            "check",
            "--policies",
            "policies/tools",
            "--now",
            "2026-03-16T09:00:00Z",
        ],
        Some(br#"{"goal":"g","context":{"current_iteration":"three"}}"#),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("context.current_iteration"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let out = toolgate(
        &["check", "--policies", "policies/tools", "--request", "-"],
        Some(br#"{"goal":"read a payout","side_effects":["read"]}"#),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn copy_bundle(to: &Path) {
    for entry in std::fs::read_dir(root().join("policies/tools")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn validate_and_test_pass_on_the_example_bundle() {
    let out = toolgate(&["validate", "--policies", "policies/tools"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tools@1.0.0"));
    let out = toolgate(&["test", "--policies", "policies/tools"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(" 0 failed"));
}

#[test]
fn validate_reports_every_error_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(dir.path());
    edit(
        &dir.path().join("routes.yaml"),
        "max_amount:10000",
        "max_amount:lots",
    );
    edit(
        &dir.path().join("rules.yaml"),
        "change_window: business_hours",
        "change_window: weekends",
    );
    let out = toolgate(
        &["validate", "--policies", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(".yaml:")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("routes.yaml:") && l.contains("constraints")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("rules.yaml:") && l.contains("change_window")),
        "{err}"
    );
}

#[test]
fn test_fails_when_a_case_does_not_hold() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(dir.path());
    edit(
        &dir.path().join("tests.yaml"),
        "issues_include: [ROLE_NOT_AUTHORIZED, DESTRUCTIVE_ACTION_REQUIRES_APPROVAL]",
        "issues_include: [ROLE_NOT_AUTHORIZED, MFA_REQUIRED]",
    );
    let out = toolgate(&["test", "--policies", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAIL  production delete with the wrong role is blocked"),
        "{stdout}"
    );
    assert!(stdout.contains("MFA_REQUIRED"), "{stdout}");
    assert!(stdout.contains(" 1 failed"), "{stdout}");
}
