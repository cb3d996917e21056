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
