//! The audit line renderer: [`AuditRecord::render`] writes a record as one JSON object,
//! byte for byte what `serde_json::to_writer(&record)` writes (the same field order, the
//! same `null`s and skipped fields, the same number and string formatting).
//!
//! It exists because the audit writer renders one record per request: serde_json's generic
//! serializer spent about 12k instructions on each, a sixth of the sidecar's CPU per
//! request. Here the field order is fixed at compile time, a string is checked eight bytes
//! at a time and copied whole when it needs no escaping (almost always), integers go
//! through `itoa`, and floats through `zmij`, the formatter serde_json itself uses (not
//! `ryu`, which writes `1e21` where serde_json writes `1e+21`).
//!
//! The `Serialize` derive on [`AuditRecord`] stays the reference: when a field is added or
//! changed there, change it here too (tests/audit_render.rs compares the two).

use super::{AuditRecord, CandidateVerdict, FinalAction, StateAction};
use crate::policy::{DecisionKind, IssueCode, IssueSet};
use crate::snapshot::Mode;
use std::io::Write;
use std::sync::Arc;

impl AuditRecord {
    /// Appends the record's JSON (no newline) to `out`. Rendering cannot fail.
    pub fn render(&self, out: &mut Vec<u8>) {
        out.reserve(512);
        out.extend_from_slice(b"{\"ts\":\"");
        // Timestamp's Display is RFC 3339: digits, '-', ':', '.', 'T' and 'Z', nothing
        // to escape. Writing to a Vec cannot fail.
        let _ = write!(out, "{}", self.ts);
        out.extend_from_slice(b"\",\"request_id\":");
        string(out, &self.request_id);
        out.extend_from_slice(b",\"trace_id\":");
        opt_string(out, &self.trace_id);
        out.extend_from_slice(b",\"route\":");
        opt_string(out, &self.route);
        out.extend_from_slice(b",\"method\":");
        string(out, self.method.as_str());
        out.extend_from_slice(b",\"path\":");
        string(out, &self.path);
        out.extend_from_slice(b",\"policy_version\":");
        string(out, &self.policy_version);
        out.extend_from_slice(b",\"decision\":\"");
        out.extend_from_slice(decision(self.decision));
        out.extend_from_slice(b"\",\"verdict\":\"");
        out.extend_from_slice(self.verdict.as_str().as_bytes());
        out.extend_from_slice(b"\",\"issues\":");
        issues(out, self.issues);
        out.extend_from_slice(b",\"actor\":");
        opt_string(out, &self.actor);
        out.extend_from_slice(b",\"actor_role\":");
        opt_string(out, &self.actor_role);
        out.extend_from_slice(b",\"environment\":");
        opt_string(out, &self.environment);
        out.extend_from_slice(b",\"approval_status\":");
        opt_string(out, &self.approval_status);
        out.extend_from_slice(b",\"approved_by\":");
        opt_string(out, &self.approved_by);
        out.extend_from_slice(b",\"approved_at\":");
        match &self.approved_at {
            Some(at) => {
                out.push(b'"');
                let _ = write!(out, "{at}");
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"run_id\":");
        opt_string(out, &self.run_id);
        out.extend_from_slice(b",\"tools\":");
        labels(out, &self.tools);
        out.extend_from_slice(b",\"side_effects\":");
        labels(out, &self.side_effects);
        out.extend_from_slice(b",\"risk\":");
        int(out, self.risk);
        out.extend_from_slice(b",\"final_runtime_action\":\"");
        out.extend_from_slice(final_action(self.final_runtime_action));
        out.extend_from_slice(b"\",\"upstream_status\":");
        opt_int(out, self.upstream_status);
        out.extend_from_slice(b",\"decision_us\":");
        int(out, self.decision_us);
        out.extend_from_slice(b",\"upstream_ms\":");
        match self.upstream_ms {
            Some(ms) => float(out, ms),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"total_ms\":");
        float(out, self.total_ms);
        out.extend_from_slice(match self.mode {
            Mode::Enforce => b",\"mode\":\"enforce\"",
            Mode::Shadow => b",\"mode\":\"shadow\"",
        });
        self.render_optional(out);
        out.push(b'}');
    }

    /// The fields that are absent, not null, when unset.
    fn render_optional(&self, out: &mut Vec<u8>) {
        if let Some(v) = self.shadow_verdict {
            out.extend_from_slice(b",\"shadow_verdict\":\"");
            out.extend_from_slice(v.as_str().as_bytes());
            out.push(b'"');
        }
        if let Some(status) = self.shadow_status {
            out.extend_from_slice(b",\"shadow_status\":");
            int(out, status);
        }
        if let Some(c) = &self.candidate {
            out.extend_from_slice(b",\"candidate\":");
            candidate(out, c);
        }
        if let Some(m) = &self.mcp_method {
            out.extend_from_slice(b",\"mcp_method\":");
            string(out, m);
        }
        if let Some(t) = &self.mcp_tool {
            out.extend_from_slice(b",\"mcp_tool\":");
            string(out, t);
        }
        if let Some(s) = self.state {
            out.extend_from_slice(b",\"state\":\"");
            out.extend_from_slice(state(s));
            out.push(b'"');
        }
        if let Some(k) = &self.api_key {
            out.extend_from_slice(b",\"api_key\":");
            string(out, k);
        }
        if let Some(r) = &self.review_id {
            out.extend_from_slice(b",\"review_id\":");
            string(out, r);
        }
    }
}

fn candidate(out: &mut Vec<u8>, c: &CandidateVerdict) {
    out.extend_from_slice(b"{\"policy_version\":");
    string(out, &c.policy_version);
    out.extend_from_slice(b",\"verdict\":\"");
    out.extend_from_slice(c.verdict.as_str().as_bytes());
    out.extend_from_slice(b"\",\"issues\":");
    issues(out, c.issues);
    out.push(b'}');
}

/// `DecisionKind`'s serde names.
fn decision(d: DecisionKind) -> &'static [u8] {
    match d {
        DecisionKind::Go => b"GO",
        DecisionKind::NoGo => b"NO_GO",
        DecisionKind::Defer => b"DEFER",
    }
}

/// `FinalAction`'s serde names (snake_case).
fn final_action(a: FinalAction) -> &'static [u8] {
    match a {
        FinalAction::Forwarded => b"forwarded",
        FinalAction::ExecutionStopped => b"execution_stopped",
        FinalAction::UpstreamError => b"upstream_error",
        FinalAction::UpstreamOverloaded => b"upstream_overloaded",
        FinalAction::ClientCancelled => b"client_cancelled",
        FinalAction::DecisionOnly => b"decision_only",
    }
}

/// `StateAction`'s serde names (snake_case).
fn state(s: StateAction) -> &'static [u8] {
    match s {
        StateAction::Claimed => b"claimed",
        StateAction::Counted => b"counted",
        StateAction::Refused => b"refused",
        StateAction::Unavailable => b"unavailable",
    }
}

/// An issue set as serde writes it: an array of codes, in canonical order. The codes are
/// SCREAMING_SNAKE ASCII, nothing to escape. (`IssueSet::iter` tests every code; this
/// stops at the last one present, and an empty set, the common case, tests none.)
fn issues(out: &mut Vec<u8>, set: IssueSet) {
    if set.is_empty() {
        out.extend_from_slice(b"[]");
        return;
    }
    let mut left = set.len();
    out.push(b'[');
    for &code in IssueCode::ALL {
        if !set.contains(code) {
            continue;
        }
        out.push(b'"');
        out.extend_from_slice(code.as_str().as_bytes());
        out.push(b'"');
        left -= 1;
        if left == 0 {
            break;
        }
        out.push(b',');
    }
    out.push(b']');
}

fn labels(out: &mut Vec<u8>, labels: &[Box<str>]) {
    out.push(b'[');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, label);
    }
    out.push(b']');
}

fn int<I: itoa::Integer>(out: &mut Vec<u8>, n: I) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn opt_int<I: itoa::Integer>(out: &mut Vec<u8>, n: Option<I>) {
    match n {
        Some(n) => int(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

/// As serde_json's `serialize_f64`: NaN and the infinities are `null`, the rest goes
/// through `zmij` (so `1.0` is `1.0`, `1e21` is `1e+21`, `-0.0` is `-0.0`).
fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn opt_string(out: &mut Vec<u8>, s: &Option<Arc<str>>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string, quoted and escaped as serde_json escapes: `\"`, `\\`, the short forms
/// `\b \t \n \f \r`, and `\u00XX` (lower-case hex) for the other bytes below 0x20.
/// Everything else, DEL and non-ASCII included, is copied as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if needs_escape(bytes) {
        escape(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Whether any byte is a quote, a backslash or below 0x20: eight bytes per step, the last
/// step overlapping the one before, so only strings under eight bytes go byte by byte.
fn needs_escape(bytes: &[u8]) -> bool {
    let Some(last) = bytes.last_chunk::<8>() else {
        return bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    };
    let (chunks, _) = bytes.as_chunks::<8>();
    chunks.iter().any(|c| special(u64::from_ne_bytes(*c))) || special(u64::from_ne_bytes(*last))
}

/// Whether any of the eight bytes in `v` is a quote, a backslash or below 0x20. Each test
/// sets the high bit of a matching byte; borrows can also set it in bytes above a match,
/// never when there is none, so "any" is exact.
fn special(v: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGH;
    // A byte equal to `c` is a zero byte of `v ^ c`: a byte below 1.
    let control = below(v, 0x20);
    let quote = below(v ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(v ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        if short == b'u' {
            let (hi, lo) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]);
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
    }
    out.extend_from_slice(&bytes[run..]);
}

#[cfg(test)]
mod tests {
    use super::needs_escape;

    #[test]
    fn escape_detection_is_exact_for_every_byte_at_every_offset() {
        for byte in 0..=u8::MAX {
            let special = byte < 0x20 || byte == b'"' || byte == b'\\';
            for len in 1..=24 {
                for at in 0..len {
                    for fill in [b'a', 0x21, 0x7f, 0xff] {
                        let mut v = vec![fill; len];
                        v[at] = byte;
                        assert_eq!(needs_escape(&v), special, "{byte:#x} at {at} of {len}");
                    }
                }
            }
        }
        assert!(!needs_escape(b""));
    }
}
