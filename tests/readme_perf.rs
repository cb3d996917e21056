//! The README's performance figures are what `benches/load.sh` printed: these tests keep
//! the pasted table in step with the script (every target it measures, its columns) and
//! internally consistent (the ratios are the requests/s divided, not typed in).

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The labels `load.sh` prints for its targets, from its `label()` function.
fn script_labels() -> BTreeSet<String> {
    let script = read("benches/load.sh");
    let body = script
        .split_once("label() {")
        .expect("load.sh has label()")
        .1
        .split_once("\n}")
        .expect("label() ends")
        .0;
    body.lines()
        .filter_map(|l| l.split_once(") echo \""))
        .map(|(_, rest)| rest.split_once('"').expect("quoted label").0.to_string())
        .collect()
}

/// The load tables pasted under "### Measured" (each one run of the script): their rows,
/// label first.
fn readme_tables() -> Vec<Vec<Vec<String>>> {
    let readme = read("README.md");
    let measured = readme
        .split_once("### Measured")
        .expect("README has a Measured section")
        .1;
    let mut tables = Vec::new();
    let mut lines = measured.lines().peekable();
    while lines.peek().is_some() {
        let rows: Vec<Vec<String>> = lines
            .by_ref()
            .skip_while(|l| !l.starts_with("| target "))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect();
        // Only the script's tables: a header with its columns (not a summary table).
        if rows
            .first()
            .is_some_and(|r| r.len() == script_columns().len())
        {
            tables.push(rows);
        }
    }
    tables
}

#[test]
fn the_readme_tables_have_every_target_the_script_measures() {
    let tables = readme_tables();
    assert!(!tables.is_empty(), "no load table under Measured");
    let rows: BTreeSet<String> = tables.iter().flatten().map(|r| r[0].clone()).collect();
    let labels = script_labels();
    assert!(!labels.is_empty(), "no labels read from load.sh");
    assert_eq!(rows, labels);
}

/// The column names of the table `load.sh` prints: the arguments of its header `printf`.
fn script_columns() -> Vec<String> {
    let script = read("benches/load.sh");
    let line = script
        .lines()
        .find(|l| l.starts_with("printf '| ") && l.contains(" target "))
        .expect("load.sh prints a table header");
    let args = line.rsplit_once('\'').expect("format string").1;
    // Shell words: "quoted words" or bare ones.
    let mut columns = Vec::new();
    let mut rest = args.trim();
    while !rest.is_empty() {
        let (word, tail) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').expect("closing quote"),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        columns.push(word.to_string());
        rest = tail.trim();
    }
    columns
}

#[test]
fn the_readme_tables_have_the_scripts_columns() {
    let readme = read("README.md");
    let headers: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| target "))
        .collect();
    assert!(!headers.is_empty(), "README has no load table");
    for header in headers {
        let readme_columns: Vec<String> = header
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        // A summary table (target, measured, ...) is not a pasted run.
        if readme_columns.len() == script_columns().len() {
            assert_eq!(readme_columns, script_columns());
        }
    }
}

#[test]
fn the_ratios_are_the_requests_per_second_divided() {
    for rows in readme_tables() {
        ratios_hold(&rows);
    }
}

/// Within one run's table, the ratio columns are its requests/s divided.
fn ratios_hold(rows: &[Vec<String>]) {
    let rps = |label: &str| -> f64 {
        rows.iter()
            .find(|r| r[0] == label)
            .unwrap_or_else(|| panic!("no row {label:?}"))[1]
            .parse()
            .unwrap()
    };
    let (nginx, auth) = (
        rps("nginx proxy_pass (no policy)"),
        rps("nginx + auth_request"),
    );
    for row in rows {
        let r: f64 = row[1].parse().unwrap();
        // The script divides unrounded medians; the table shows them rounded.
        for (cell, base) in [(&row[4], nginx), (&row[5], auth)] {
            let shown: f64 = cell.trim_end_matches('x').parse().unwrap();
            assert!(
                (shown - r / base).abs() < 0.006,
                "{}: {cell} is not {r} / {base}",
                row[0]
            );
        }
    }
}

/// The targets `load.sh` judges, as it prints their names: the first argument of each
/// `row` call, the loop's over both REST routes, `$CONNS` at its default (64).
fn script_targets() -> BTreeSet<String> {
    let script = read("benches/load.sh");
    let section = script
        .split_once("# --- targets")
        .expect("load.sh has a targets section")
        .1;
    let mut out = BTreeSet::new();
    for line in section.lines() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("row \"") else {
            continue;
        };
        let name = rest.split_once('"').expect("quoted target").0;
        if name.contains("$t") {
            for t in ["toolgate_headers", "toolgate_json"] {
                out.insert(name.replace("$t", t));
            }
        } else {
            out.insert(name.replace("$CONNS", "64"));
        }
    }
    out
}

/// The README shows the targets table as the script printed it: every target it judges,
/// each met or missed.
#[test]
fn the_readme_shows_every_target_the_script_judges() {
    let readme = read("README.md");
    let after = readme
        .split_once("targets (this run):")
        .expect("README shows a targets table")
        .1;
    let rows: Vec<Vec<String>> = after
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let names: BTreeSet<String> = rows.iter().map(|r| r[0].clone()).collect();
    let wanted = script_targets();
    assert!(wanted.len() >= 14, "{wanted:?}");
    assert_eq!(names, wanted);
    for r in &rows {
        assert!(r[2] == "met" || r[2] == "missed", "{r:?}");
        let met = judged(&r[0], &r[1]);
        assert_eq!(r[2] == "met", met, "{r:?}: the figure says {met}");
    }
}

/// Whether `measured` meets `target`, read from the target's own words: a bound after
/// `>=`, `<=` or `<` (its first number), "<= nginx's" (the figure's "A vs B": A <= B), or
/// "loses nothing" ("0 lost").
fn judged(target: &str, measured: &str) -> bool {
    let first_number = |s: &str| -> f64 {
        let start = s
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or_else(|| panic!("no number in {s:?}"));
        let digits: String = s[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        digits.parse().unwrap()
    };
    if target.contains("loses nothing") {
        return measured.starts_with("0 lost");
    }
    let value = first_number(measured);
    if target.contains("<= nginx's") {
        let (_, theirs) = measured.split_once(" vs ").expect("A vs B");
        return value <= first_number(theirs);
    }
    for (op, holds) in [
        (">=", (|v: f64, b: f64| v >= b) as fn(f64, f64) -> bool),
        ("<=", |v, b| v <= b),
        ("< ", |v, b| v < b),
    ] {
        if let Some((_, bound)) = target.split_once(op) {
            return holds(value, first_number(bound));
        }
    }
    panic!("no bound in the target {target:?}")
}

#[test]
fn a_target_is_met_exactly_when_its_figure_says_so() {
    let cases = [
        (
            "req/s >= 1.0x nginx proxy_pass (toolgate_json)",
            "0.99x",
            false,
        ),
        (
            "req/s >= 1.0x nginx proxy_pass (toolgate_json)",
            "1.00x",
            true,
        ),
        (
            "proxy CPU per request <= nginx's (toolgate_headers)",
            "9.5 vs 11.82 µs",
            true,
        ),
        (
            "closed-loop p99 <= nginx's (toolgate_headers)",
            "2.580 vs 1.700 ms",
            false,
        ),
        (
            "fixed rate: added p50 over direct <= +0.05 ms",
            "+0.051 ms",
            false,
        ),
        (
            "stateful (Redis) p50 <= 1.5x stateless, fixed rate",
            "1.20x (p99 2.05x, 3 ms)",
            true,
        ),
        ("RSS < 30 MB at 64 connections", "30.0 MB", false),
        (
            "a bundle swap every second under load loses nothing",
            "0 lost",
            true,
        ),
        (
            "a bundle swap every second under load loses nothing",
            "10 lost",
            false,
        ),
    ];
    for (target, measured, want) in cases {
        assert_eq!(judged(target, measured), want, "{target}: {measured}");
    }
}
