//! The audit record's contract: every field a JSON line always carries (null when
//! unknown). Written out by hand, not derived from `AuditRecord`, so the tests hold the
//! code to the contract rather than to itself.

pub const AUDIT_FIELDS: &[&str] = &[
    "ts",
    "request_id",
    "trace_id",
    "route",
    "method",
    "path",
    "policy_version",
    "decision",
    "verdict",
    "issues",
    "actor",
    "actor_role",
    "environment",
    "approval_status",
    "approved_by",
    "approved_at",
    "run_id",
    "tools",
    "side_effects",
    "risk",
    "final_runtime_action",
    "upstream_status",
    "decision_us",
    "upstream_ms",
    "total_ms",
    "mode",
];
