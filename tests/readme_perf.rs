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

/// The rows of the load table pasted under "### Measured": label -> cells.
fn readme_rows() -> Vec<Vec<String>> {
    let readme = read("README.md");
    let measured = readme
        .split_once("### Measured")
        .expect("README has a Measured section")
        .1;
    measured
        .lines()
        .skip_while(|l| !l.starts_with("| target"))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_table_has_every_target_the_script_measures() {
    let rows: BTreeSet<String> = readme_rows().into_iter().map(|r| r[0].clone()).collect();
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
fn the_readme_table_has_the_scripts_columns() {
    let readme = read("README.md");
    let header = readme
        .lines()
        .find(|l| l.starts_with("| target"))
        .expect("README has the load table");
    let readme_columns: Vec<String> = header
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect();
    assert_eq!(readme_columns, script_columns());
}

#[test]
fn the_ratios_are_the_requests_per_second_divided() {
    let rows = readme_rows();
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
    for row in &rows {
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
