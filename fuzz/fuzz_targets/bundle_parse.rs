//! Bundle parsing and compilation: the example bundle with one file replaced by the input
//! (selector byte: 0 bundle.yaml, 1 routes.yaml, 2 rules.yaml, 3 tests.yaml). Loading never
//! panics; an error names a file; a bundle that loads can run its own tests and matches
//! every route's template with its parameters filled in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::LazyLock;

const FILES: [&str; 4] = ["bundle.yaml", "routes.yaml", "rules.yaml", "tests.yaml"];

/// A scratch bundle directory for this process, holding the example files.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("toolgate-fuzz-bundle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
});

static EXAMPLE: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/tools");
    FILES
        .iter()
        .map(|f| std::fs::read(src.join(f)).unwrap())
        .collect()
});

/// A route template with every `{param}` / `{*rest}` replaced by `p`.
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match (c, in_param) {
            ('{', false) => {
                in_param = true;
                out.push('p');
            }
            ('}', true) => in_param = false,
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, text)) = data.split_first() else {
        return;
    };
    let which = usize::from(which) % FILES.len();
    for (i, f) in FILES.iter().enumerate() {
        let bytes: &[u8] = if i == which { text } else { &EXAMPLE[i] };
        std::fs::write(DIR.join(f), bytes).unwrap();
    }
    let now: jiff::Timestamp = "2026-03-16T10:00:00Z".parse().unwrap();
    match toolgate::bundle::load_with_tests(&DIR, now) {
        Err(errors) => {
            assert!(!errors.0.is_empty());
            let text = errors.to_string();
            assert!(errors.0.iter().all(|e| !e.message.is_empty()), "{text}");
        }
        Ok((snapshot, tests)) => {
            let _ = toolgate::bundle::run_tests(&snapshot, &tests);
            for route in &snapshot.routes {
                if route.path.contains("{{") || route.path.contains("}}") {
                    continue;
                }
                let path = fill(&route.path);
                {
                    assert!(
                        snapshot.table.find(&route.method, &path).is_some(),
                        "{} {} does not match itself",
                        route.method,
                        route.path
                    );
                }
            }
        }
    }
});
