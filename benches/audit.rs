//! Criterion benchmarks of the audit writer's per-record work: one typical ALLOW record and
//! one DENY record with issues, serialized with `serde_json::to_writer` (what the writer
//! did) and with `AuditRecord::render` (what it does), into a reused buffer.
//! Run: `cargo bench --bench audit`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::Method;
use std::sync::Arc;
use toolgate::audit::{AuditRecord, FinalAction};
use toolgate::policy::{IssueCode, IssueSet, Verdict};

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().expect("timestamp")
}

/// A forwarded payment: identity and approval facts, labels, upstream status and timings.
fn allow() -> AuditRecord {
    let mut r = AuditRecord::new(
        ts("2026-03-14T09:26:53.589793Z"),
        "0b8e2f6a-58c1-4d5e-9f0c-3a7d2e1b4c6f".into(),
        Method::POST,
        "/v1/payments/refunds".into(),
        "payments-2026.03.1".into(),
        Verdict::Allow,
    );
    r.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
    r.route = Some("refund_payment".into());
    r.actor = Some("agent:billing-assistant".into());
    r.actor_role = Some("support_agent".into());
    r.environment = Some("production".into());
    r.approval_status = Some("approved".into());
    r.approved_by = Some("alice@example.com".into());
    r.approved_at = Some(ts("2026-03-14T09:20:00Z"));
    r.run_id = Some("run-7f3a9c".into());
    r.tools = Arc::from(vec!["payments".into(), "refunds".into()]);
    r.side_effects = Arc::from(vec!["money_movement".into()]);
    r.risk = 42;
    r.final_runtime_action = FinalAction::Forwarded;
    r.upstream_status = Some(201);
    r.decision_us = 37;
    r.upstream_ms = Some(12.483);
    r.total_ms = 12.61;
    r
}

/// A stopped delete: no approval, issues of both classes, no upstream.
fn deny() -> AuditRecord {
    let mut r = AuditRecord::new(
        ts("2026-03-14T09:26:54.001Z"),
        "5d1c9a7e-2b34-4f8a-b6e0-91c3d7f2a8e4".into(),
        Method::DELETE,
        "/v1/customers/cus_829/records".into(),
        "payments-2026.03.1".into(),
        Verdict::Deny,
    );
    r.route = Some("delete_customer_records".into());
    r.actor = Some("agent:cleanup-bot".into());
    r.actor_role = Some("automation".into());
    r.environment = Some("production".into());
    r.issues = [
        IssueCode::RoleNotAuthorized,
        IssueCode::ApprovalRequired,
        IssueCode::DestructiveActionRequiresApproval,
    ]
    .into_iter()
    .collect::<IssueSet>();
    r.tools = Arc::from(vec!["crm".into()]);
    r.side_effects = Arc::from(vec!["data_deletion".into(), "irreversible".into()]);
    r.risk = 90;
    r.decision_us = 21;
    r.total_ms = 0.094;
    r
}

fn bench_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_record");
    for (name, rec) in [("allow", allow()), ("deny", deny())] {
        let mut serde = Vec::new();
        serde_json::to_writer(&mut serde, &rec).expect("serializable");
        let mut ours = Vec::new();
        rec.render(&mut ours);
        assert_eq!(ours, serde, "render and serde_json disagree on {name}");

        let mut line = Vec::with_capacity(1024);
        group.bench_function(format!("{name}/serde_json"), |b| {
            b.iter(|| {
                line.clear();
                serde_json::to_writer(&mut line, black_box(&rec)).expect("serializable");
                black_box(line.len())
            })
        });
        group.bench_function(format!("{name}/render"), |b| {
            b.iter(|| {
                line.clear();
                black_box(&rec).render(&mut line);
                black_box(line.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
