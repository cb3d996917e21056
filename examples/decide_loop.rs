//! A fixed-count loop over whole decisions, for instruction-level profiles that do not
//! depend on machine load:
//!
//! ```sh
//! cargo build --release --example decide_loop
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='decide_loop::run' \
//!     target/release/examples/decide_loop 2 10000   # scenario index, iterations
//! callgrind_annotate --inclusive=yes callgrind.out.* | head -40
//! ```
//!
//! Instructions per decision = the `run` total / iterations. `list` prints the scenarios.

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;

#[inline(never)]
fn run(snap: &toolgate::snapshot::Snapshot, s: &common::Scenario, n: u64) -> u64 {
    let now = common::now();
    let mut acc = 0u64;
    for _ in 0..n {
        acc += u64::from(black_box(common::decide(snap, black_box(s), now)).is_empty());
    }
    acc
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = common::scenarios();
    if args.first().map(String::as_str) == Some("list") {
        for (i, s) in all.iter().enumerate() {
            println!("{i}: {}", s.name);
        }
        return;
    }
    let index: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(0);
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let snap = common::example();
    let s = &all[index];
    let t = std::time::Instant::now();
    let allowed = run(&snap, s, n);
    println!(
        "{}: {n} decisions, {allowed} ALLOW, {:.0} ns each",
        s.name,
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
