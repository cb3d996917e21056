//! Criterion benchmarks of the decision path: route matching at 10, 100 and 1,000 routes,
//! context extraction from headers and from a JSON body, evaluation for each example route,
//! and a whole decision (normalize + match + extract + evaluate) for the seed scenarios.
//! Run: `cargo bench --bench engine`.

mod common;

use arc_swap::ArcSwap;
use common::{decide, example, scenarios};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use http::Method;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use toolgate::classify::normalize::normalize;
use toolgate::classify::router::RouteTable;
use toolgate::extract::{extract, RequestView};

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_match");
    for n in [10usize, 100, 1000] {
        let templates: Vec<(Method, String)> = (0..n)
            .map(|i| match i % 3 {
                0 => (Method::GET, format!("/svc{i}/v1/items/{{id}}")),
                1 => (Method::POST, format!("/svc{i}/v1/items")),
                _ => (
                    Method::DELETE,
                    format!("/svc{i}/v1/items/{{id}}/children/{{child}}"),
                ),
            })
            .collect();
        let table =
            RouteTable::build(templates.iter().map(|(m, p)| (m, p.as_str()))).expect("routes");
        let probe = format!("/svc{}/v1/items/abc", (n / 3) * 3);
        group.bench_with_input(BenchmarkId::from_parameter(n), &probe, |b, p| {
            b.iter(|| black_box(table.find(&Method::GET, black_box(p)).is_some()))
        });
    }
    group.finish();
}

fn bench_decisions(c: &mut Criterion) {
    let snap = example();
    let now = common::now();
    let mut extract_group = c.benchmark_group("extract");
    let mut whole = Vec::new();
    for s in scenarios() {
        let target = normalize(s.target).expect("normalizes");
        let m = snap.table.find(&s.method, &target.path).expect("mapped");
        let route = &snap.routes[m.index];
        let view = RequestView {
            headers: &s.headers,
            params: &m.params,
            query: target.query,
            body: s.body,
        };
        extract_group.bench_function(s.name, |b| {
            b.iter(|| black_box(extract(&route.context, black_box(&view)).is_ok()))
        });
        whole.push(s);
    }
    extract_group.finish();

    let mut group = c.benchmark_group("decision");
    for s in &whole {
        group.bench_function(s.name, |b| {
            b.iter(|| black_box(decide(&snap, black_box(s), now)))
        });
    }
    group.finish();

    let mut eval = c.benchmark_group("evaluate");
    for s in &whole {
        let target = normalize(s.target).expect("normalizes");
        let m = snap.table.find(&s.method, &target.path).expect("mapped");
        let route = &snap.routes[m.index];
        let view = RequestView {
            headers: &s.headers,
            params: &m.params,
            query: target.query,
            body: s.body,
        };
        let facts = extract(&route.context, &view).expect("extracts").facts;
        eval.bench_function(s.name, |b| {
            b.iter(|| black_box(snap.policy.evaluate(&route.action, black_box(&facts), now)))
        });
    }
    eval.finish();
}

/// Snapshot handling: a whole bundle load (read, digest, parse, compile: what a reload does
/// off the request path), and the one `ArcSwap` load each request makes, alone and while
/// another thread keeps swapping snapshots in (a reload storm).
fn bench_snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    group.bench_function("bundle load (policies/tools)", |b| {
        let dir = common::bundle_dir();
        b.iter(|| black_box(toolgate::bundle::load(&dir, jiff::Timestamp::UNIX_EPOCH).is_ok()))
    });
    let store = Arc::new(ArcSwap::from_pointee(example()));
    group.bench_function("load_full, idle", |b| {
        b.iter(|| black_box(store.load_full().routes.len()))
    });
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (store, stop) = (store.clone(), stop.clone());
        let (a, b) = (Arc::new(example()), Arc::new(example()));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                store.store(if n.is_multiple_of(2) {
                    a.clone()
                } else {
                    b.clone()
                });
                n += 1;
                std::thread::yield_now();
            }
            n
        })
    };
    group.bench_function("load_full, under concurrent stores", |b| {
        b.iter(|| black_box(store.load_full().routes.len()))
    });
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    black_box(swaps);
    group.finish();
}

criterion_group!(benches, bench_match, bench_decisions, bench_snapshot);
criterion_main!(benches);
