//! `toolgate test`: run a bundle's own test cases (fixed clocks, no network), like
//! `opa test`: one line per case, the differences for each failure, a summary line.

use super::{exit, load};
use crate::bundle;
use std::path::Path;

pub fn test(dir: &Path) -> u8 {
    let (snapshot, tests) = match load(dir) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let results = bundle::run_tests(&snapshot, &tests);
    let mut failed = 0;
    for r in &results {
        if r.passed {
            println!("PASS  {}", r.name);
        } else {
            failed += 1;
            println!("FAIL  {}", r.name);
            for f in &r.failures {
                println!("        {f}");
            }
        }
    }
    println!(
        "{}: {} passed, {} failed",
        snapshot.meta.policy_version,
        results.len() - failed,
        failed
    );
    if failed == 0 {
        exit::OK
    } else {
        exit::FAILED
    }
}
