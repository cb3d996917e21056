//! The audit sink as the proxy uses it: records go in without blocking, come out as JSON
//! lines with every contract field, are counted when dropped, drain on close, and stay
//! findable by request id in a bounded ring.

use prometheus::IntCounter;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::{mpsc as std_mpsc, Arc, Condvar, Mutex};
#[path = "support/audit_fields.rs"]
mod audit_fields;
use audit_fields::AUDIT_FIELDS;
use toolgate::audit::{
    trace_id, AuditOptions, AuditRecord, AuditSink, CandidateVerdict, FinalAction,
};
use toolgate::policy::{Facts, IssueCode, IssueSet, Verdict};
use toolgate::snapshot::Mode;

fn counter() -> IntCounter {
    IntCounter::new("dropped_total", "test").unwrap()
}

fn record(id: &str) -> AuditRecord {
    let ts = jiff::Timestamp::from_second(1_700_000_000).unwrap();
    AuditRecord::new(
        ts,
        id.into(),
        http::Method::POST,
        "/payouts".into(),
        "tools@7".into(),
        Verdict::Allow,
    )
}

/// A writer into shared memory, so the test can read what was written.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "partial line");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect()
    }
}

/// A writer that blocks inside `write` until released, announcing that it is blocked.
struct Gated {
    inner: Shared,
    entered: std_mpsc::Sender<()>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Write for Gated {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.entered.send(());
        let (open, cv) = &*self.gate;
        let _g = cv.wait_while(open.lock().unwrap(), |open| !*open).unwrap();
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(|k| k.as_str()).collect()
}

#[tokio::test]
async fn records_are_json_lines_with_every_field() {
    let out = Shared::default();
    let sink = AuditSink::writer(Box::new(out.clone()), AuditOptions::new(16, counter())).unwrap();

    // A stopped request with no facts.
    let mut stopped = record("req-stopped");
    stopped.set_verdict(Verdict::Defer);
    stopped.issues = IssueSet::of(IssueCode::ApprovalRequired);
    sink.record(stopped);

    // A forwarded, traced request on a shadow route, with facts and a candidate opinion.
    let mut fwd = record("req-fwd");
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    fwd.trace_id = trace_id(tp).map(Into::into);
    fwd.route = Some("payout".into());
    let facts = Facts {
        actor: Some("alice".into()),
        actor_role: Some("finance".into()),
        environment: Some("production".into()),
        approval_status: Some("approved".into()),
        approved_by: Some("bob".into()),
        approved_at: Some(jiff::Timestamp::from_second(1_699_999_000).unwrap()),
        run_id: Some("run-9".into()),
        ..Facts::default()
    };
    fwd.set_facts(&facts);
    fwd.tools = Arc::from([Box::from("stripe")]);
    fwd.side_effects = Arc::from([Box::from("money_movement")]);
    fwd.risk = 60;
    fwd.final_runtime_action = FinalAction::Forwarded;
    fwd.upstream_status = Some(201);
    fwd.decision_us = 12;
    fwd.upstream_ms = Some(40.5);
    fwd.total_ms = 41.0;
    fwd.mode = Mode::Shadow;
    fwd.shadow_verdict = Some(Verdict::Deny);
    fwd.shadow_status = Some(403);
    fwd.candidate = Some(CandidateVerdict {
        policy_version: "tools@8".into(),
        verdict: Verdict::Defer,
        issues: IssueSet::of(IssueCode::MfaRequired),
    });
    sink.record(fwd);
    sink.flush_and_close().await;

    let lines = out.lines();
    assert_eq!(lines.len(), 2);
    let (s, f) = (&lines[0], &lines[1]);
    let base: BTreeSet<&str> = AUDIT_FIELDS.iter().copied().collect();
    assert_eq!(
        keys(s),
        base,
        "optional fields are absent, the rest present"
    );
    let mut full = base.clone();
    full.extend(["shadow_verdict", "shadow_status", "candidate"]);
    assert_eq!(keys(f), full);

    assert_eq!(s["ts"], "2023-11-14T22:13:20Z");
    assert!(s["ts"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());
    assert_eq!(s["request_id"], "req-stopped");
    assert_eq!(s["trace_id"], Value::Null);
    assert_eq!(s["route"], Value::Null);
    assert_eq!(s["method"], "POST");
    assert_eq!(s["decision"], "DEFER");
    assert_eq!(s["verdict"], "DEFER");
    assert_eq!(s["issues"], serde_json::json!(["APPROVAL_REQUIRED"]));
    assert_eq!(s["final_runtime_action"], "execution_stopped");
    assert_eq!(s["upstream_status"], Value::Null);
    assert_eq!(s["upstream_ms"], Value::Null);
    assert_eq!(s["mode"], "enforce");
    assert_eq!(s["tools"], serde_json::json!([]));

    assert_eq!(f["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(f["route"], "payout");
    assert_eq!(f["policy_version"], "tools@7");
    assert_eq!(f["decision"], "GO");
    assert_eq!(f["actor"], "alice");
    assert_eq!(f["actor_role"], "finance");
    assert_eq!(f["environment"], "production");
    assert_eq!(f["approval_status"], "approved");
    assert_eq!(f["approved_by"], "bob");
    assert_eq!(f["approved_at"], "2023-11-14T21:56:40Z");
    assert_eq!(f["run_id"], "run-9");
    assert_eq!(f["tools"], serde_json::json!(["stripe"]));
    assert_eq!(f["side_effects"], serde_json::json!(["money_movement"]));
    assert_eq!(f["risk"], 60);
    assert_eq!(f["final_runtime_action"], "forwarded");
    assert_eq!(f["upstream_status"], 201);
    assert_eq!(f["decision_us"], 12);
    assert_eq!(f["upstream_ms"], 40.5);
    assert_eq!(f["total_ms"], 41.0);
    assert_eq!(f["mode"], "shadow");
    assert_eq!(f["shadow_verdict"], "DENY");
    assert_eq!(f["shadow_status"], 403);
    let c = serde_json::json!({"policy_version": "tools@8", "verdict": "DEFER", "issues": ["MFA_REQUIRED"]});
    assert_eq!(f["candidate"], c);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let out = Shared::default();
    let (entered_tx, entered) = std_mpsc::channel();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let gated = Gated {
        inner: out.clone(),
        entered: entered_tx,
        gate: gate.clone(),
    };
    let dropped = counter();
    let sink = AuditSink::writer(Box::new(gated), AuditOptions::new(4, dropped.clone())).unwrap();

    // The writer takes record 0 off the queue and blocks writing it out.
    sink.record(record("r0"));
    entered.recv().unwrap();
    // Exactly `capacity` more fit; the rest are dropped, without blocking this task.
    for i in 1..=7 {
        sink.record(record(&format!("r{i}")));
    }
    assert_eq!(dropped.get(), 3);
    assert_eq!(sink.dropped(), 3);

    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    sink.flush_and_close().await;
    let ids: Vec<_> = out
        .lines()
        .iter()
        .map(|l| l["request_id"].clone())
        .collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
    assert_eq!(dropped.get(), 3);
}

#[tokio::test]
async fn a_failed_writer_counts_every_lost_record() {
    let dropped = counter();
    let sink = AuditSink::writer(Box::new(Broken), AuditOptions::new(8, dropped.clone())).unwrap();
    sink.record(record("a"));
    sink.flush().await;
    assert_eq!(dropped.get(), 1, "the buffered record was lost at flush");
    sink.record(record("b"));
    sink.record(record("c"));
    assert_eq!(dropped.get(), 3, "later records are refused at the door");
    sink.flush_and_close().await;
    assert_eq!(dropped.get(), 3);
}

#[tokio::test]
async fn close_drains_everything_then_refuses() {
    let out = Shared::default();
    let dropped = counter();
    let sink = AuditSink::writer(
        Box::new(out.clone()),
        AuditOptions::new(2048, dropped.clone()),
    )
    .unwrap();
    for i in 0..2000 {
        sink.record(record(&format!("r{i}")));
    }
    sink.flush_and_close().await;
    let lines = out.lines();
    assert_eq!(lines.len(), 2000);
    assert!(lines
        .iter()
        .enumerate()
        .all(|(i, l)| l["request_id"] == format!("r{i}").as_str()));
    assert_eq!(dropped.get(), 0);

    sink.record(record("late"));
    assert_eq!(
        dropped.get(),
        1,
        "a record after close is counted, not lost silently"
    );
    sink.flush().await; // returns at once on a closed sink
}

#[tokio::test]
async fn recent_records_are_found_by_request_id() {
    let sink = AuditSink::writer(Box::new(io::sink()), AuditOptions::new(16, counter())).unwrap();
    let mut a = record("a");
    a.route = Some("payout".into());
    sink.record(a.clone());
    sink.record(record("b"));
    sink.flush().await;
    assert_eq!(sink.recent("a").as_deref(), Some(&a));
    assert_eq!(sink.recent("b").unwrap().request_id.as_ref(), "b");
    assert!(sink.recent("nope").is_none());
}

#[tokio::test]
async fn the_ring_evicts_the_oldest_at_capacity() {
    let opts = AuditOptions::new(16, counter()).ring_capacity(3);
    let sink = AuditSink::writer(Box::new(io::sink()), opts).unwrap();
    for id in ["a", "b", "c", "d", "e"] {
        sink.record(record(id));
    }
    sink.flush().await;
    let present: Vec<_> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .filter(|id| sink.recent(id).is_some())
        .collect();
    assert_eq!(present, ["c", "d", "e"]);

    // A reused id: evicting the older record keeps the newer one findable.
    let mut c2 = record("c");
    c2.risk = 99;
    sink.record(c2); // ring: d e c2
    sink.record(record("f")); // evicts d
    sink.flush().await;
    assert_eq!(sink.recent("c").unwrap().risk, 99);
    assert!(sink.recent("d").is_none());
    sink.record(record("g")); // evicts e
    sink.record(record("h")); // evicts c2
    sink.flush().await;
    assert!(sink.recent("c").is_none());
}

#[tokio::test]
async fn a_file_sink_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for id in ["first", "second"] {
        let sink = AuditSink::file(&path, AuditOptions::new(4, counter())).unwrap();
        sink.record(record(id));
        sink.flush_and_close().await;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .into()
        })
        .collect();
    assert_eq!(ids, ["first", "second"]);
}
