//! The demo's report: one row per replayed scenario, as a plain-text table that reads in a
//! terminal and in a CI log (no colors, no box drawing). A row with several issues takes
//! one line per issue, so a long DEFER stays narrow.

use std::fmt::Write as _;

/// What one scenario got, as the client and the tool API saw it.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub scenario: String,
    pub status: u16,
    /// `x-toolgate-verdict`.
    pub verdict: String,
    /// The decision's issue codes, in toolgate's order (none for a forwarded request).
    pub issues: Vec<String>,
    /// The decision's `defer_questions`.
    pub questions: Vec<String>,
    /// `x-request-id`.
    pub request_id: String,
    /// `x-toolgate-policy-version`.
    pub policy_version: String,
    /// What the tool API received for this request: `None` when nothing reached it.
    pub upstream: Option<String>,
}

const HEADINGS: [&str; 7] = [
    "SCENARIO",
    "STATUS",
    "VERDICT",
    "REQUEST_ID",
    "POLICY_VERSION",
    "UPSTREAM SAW",
    "ISSUES",
];

/// The table, then each deferred scenario's questions (a DENY's are moot: it is final).
pub fn render(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.scenario.clone(),
                r.status.to_string(),
                r.verdict.clone(),
                r.request_id.clone(),
                r.policy_version.clone(),
                r.upstream
                    .clone()
                    .unwrap_or_else(|| "nothing (not forwarded)".into()),
            ]
        })
        .collect();
    let mut widths = HEADINGS.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    line(&mut out, &widths, HEADINGS.map(String::from).as_slice());
    let blank: [String; 6] = Default::default();
    for (row, r) in cells.iter().zip(rows) {
        let mut issues = r.issues.iter();
        let first = issues.next().cloned().unwrap_or_else(|| "-".into());
        line(&mut out, &widths, &[row.as_slice(), &[first]].concat());
        for more in issues {
            line(
                &mut out,
                &widths,
                &[blank.as_slice(), std::slice::from_ref(more)].concat(),
            );
        }
    }
    for r in rows
        .iter()
        .filter(|r| r.verdict == "DEFER" && !r.questions.is_empty())
    {
        let _ = writeln!(out, "\n{} asks:", r.scenario);
        for q in &r.questions {
            let _ = writeln!(out, "  - {q}");
        }
    }
    out
}

/// One line: every cell padded to its column, the last one as is.
fn line(out: &mut String, widths: &[usize], cells: &[String]) {
    let last = cells.len() - 1;
    let mut text = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i == last {
            text.push_str(c);
        } else {
            let _ = write!(text, "{c:<w$}  ", w = widths[i]);
        }
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_align_and_extra_issues_take_their_own_lines() {
        let rows = [
            Row {
                scenario: "allowed read".into(),
                status: 200,
                verdict: "ALLOW".into(),
                request_id: "tg-1".into(),
                policy_version: "tools@1.0.0".into(),
                upstream: Some("GET /x".into()),
                ..Row::default()
            },
            Row {
                scenario: "deferred payout".into(),
                status: 409,
                verdict: "DEFER".into(),
                issues: vec!["APPROVAL_REQUIRED".into(), "APPROVER_MISSING".into()],
                questions: vec!["Who approved this payout?".into()],
                request_id: "tg-2".into(),
                policy_version: "tools@1.0.0".into(),
                upstream: None,
            },
        ];
        let text = render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SCENARIO         STATUS  VERDICT"));
        assert!(lines[1].ends_with("GET /x                   -"), "{text}");
        assert!(lines[2].contains("nothing (not forwarded)  APPROVAL_REQUIRED"));
        let col = lines[2].find("APPROVAL_REQUIRED").unwrap();
        assert_eq!(lines[3].find("APPROVER_MISSING"), Some(col));
        assert!(text.contains("deferred payout asks:\n  - Who approved this payout?\n"));
    }
}
