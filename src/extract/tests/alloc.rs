//! The header-only path allocates nothing (counted by the test allocator below).

use super::*;

#[test]
fn header_only_extraction_does_not_allocate() {
    let m = map(
        &[
            ("actor", &["header:x-actor"]),
            ("actor_role", &["header:x-actor-role"]),
            ("environment", &["header:x-env", "header:x-environment"]),
            ("current_iteration", &["header:x-iteration"]),
            ("mfa", &["header:x-mfa"]),
        ],
        "amount",
    );
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("x-actor", "bob"),
        ("x-actor-role", "admin"),
        ("x-env", "prod"),
        ("x-environment", "PROD"),
        ("x-iteration", "4"),
        ("x-mfa", "true"),
        ("x_trace", "1"),
    ] {
        headers.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let params = matchit::Params::new();
    let view = RequestView {
        headers: &headers,
        params: &params,
        query: None,
        body: None,
    };
    assert_eq!(count_allocations(|| Vec::<u8>::with_capacity(1)).0, 1);
    let (allocs, got) = count_allocations(|| extract(&m, &view));
    let got = got.unwrap();
    assert_eq!(got.facts.environment.as_deref(), Some("prod"));
    assert!(got.facts.issues.is_empty());
    assert_eq!(allocs, 0);
}

// A per-thread allocation counter, to check the header-only path allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// The test's own allocator: counting allocations needs a GlobalAlloc, which is unsafe.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn count_allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (COUNT.with(Cell::get), r)
}
