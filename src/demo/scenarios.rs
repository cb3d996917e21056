//! The requests `toolgate demo` replays: the Stage0 seed scenarios, as an agent would send
//! them to the three tool APIs of `policies/tools`. Each one is data (a request and the
//! outcome it must have), so adding a scenario is adding an entry to [`scenarios`].
//!
//! Every expectation holds at any time of day or week: the scenarios that the bundle's
//! `business_hours` window could change (the payout, the production deploy) defer for
//! missing evidence anyway, and the allowed ones are under no window. Only their issue
//! lists may gain `CHANGE_WINDOW_CLOSED`, so expectations name verdicts, not issues.

/// One request and what toolgate must do with it.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short, unique: the table's first column.
    pub name: &'static str,
    /// Why it ends as it does, for the printed `curl` line's comment.
    pub why: &'static str,
    pub method: &'static str,
    /// Origin-form target (path and query).
    pub target: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    /// A JSON body, sent with `content-type: application/json`.
    pub body: Option<&'static str>,
    pub expect: Expect,
}

/// The outcome a scenario must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// The HTTP status the client gets: the mock tool API's own on ALLOW.
    pub status: u16,
    /// `ALLOW`, `DEFER` or `DENY` (the `x-toolgate-verdict` header).
    pub verdict: &'static str,
    /// Whether the tool API receives the request.
    pub forwarded: bool,
}

const fn allow(status: u16) -> Expect {
    Expect {
        status,
        verdict: "ALLOW",
        forwarded: true,
    }
}

const DEFER: Expect = Expect {
    status: 409,
    verdict: "DEFER",
    forwarded: false,
};

const DENY: Expect = Expect {
    status: 403,
    verdict: "DENY",
    forwarded: false,
};

/// The scenarios, in the order they are replayed and printed.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "allowed payout read",
            why: "a read needs no approval",
            method: "GET",
            target: "/payments/v1/payouts/po-1001",
            headers: &[("x-actor", "agent-7"), ("x-actor-role", "viewer")],
            body: None,
            expect: allow(200),
        },
        Scenario {
            name: "allowed staging deploy",
            why: "a release manager may deploy to staging",
            method: "POST",
            target: "/deploy/v1/deployments",
            headers: &[
                ("x-actor", "agent-3"),
                ("x-actor-role", "release_manager"),
                ("x-environment", "staging"),
            ],
            body: Some(r#"{"service":"payments","release":"2026.03.16","environment":"staging"}"#),
            expect: allow(202),
        },
        Scenario {
            name: "blocked production delete",
            why: "a viewer may not delete a tenant",
            method: "DELETE",
            target: "/db/v1/tenants/t-42",
            headers: &[
                ("x-actor", "agent-5"),
                ("x-actor-role", "viewer"),
                ("x-environment", "production"),
            ],
            body: None,
            expect: DENY,
        },
        Scenario {
            name: "deferred payout",
            why: "money movement needs an approval of record",
            method: "POST",
            target: "/payments/v1/payouts",
            headers: &[
                ("x-actor", "agent-7"),
                ("x-actor-role", "finance_operator"),
                ("x-environment", "production"),
            ],
            body: Some(r#"{"amount":500,"currency":"EUR","destination":"acct-1"}"#),
            expect: DEFER,
        },
        Scenario {
            name: "deferred production deploy",
            why: "production needs approval, a rollback plan and MFA",
            method: "POST",
            target: "/deploy/v1/deployments",
            headers: &[
                ("x-actor", "agent-3"),
                ("x-actor-role", "release_manager"),
                ("x-environment", "production"),
            ],
            body: Some(
                r#"{"service":"payments","release":"2026.03.16","environment":"production"}"#,
            ),
            expect: DEFER,
        },
        Scenario {
            name: "unmapped route",
            why: "no route of the bundle maps it: fail closed",
            method: "GET",
            target: "/payments/v1/balances",
            headers: &[("x-actor", "agent-7")],
            body: None,
            expect: DENY,
        },
    ]
}

impl Scenario {
    /// The scenario as a `curl` command against `base` (e.g. `http://127.0.0.1:8000`):
    /// one option per line, joined with ` \` continuations, ready to paste into a shell.
    pub fn curl(&self, base: &str) -> String {
        let mut lines = vec![match self.method {
            "GET" => format!("curl -i {base}{}", self.target),
            m => format!("curl -i -X {m} {base}{}", self.target),
        }];
        lines.extend(self.headers.iter().map(|(k, v)| format!("  -H '{k}: {v}'")));
        if let Some(body) = self.body {
            lines.push("  -H 'content-type: application/json'".into());
            lines.push(format!("  -d '{body}'"));
        }
        lines.join(" \\\n")
    }

    /// The comment printed above [`Scenario::curl`]: name, expected outcome, reason.
    pub fn comment(&self) -> String {
        format!(
            "# {}: {} {} ({})",
            self.name, self.expect.status, self.expect.verdict, self.why
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_bodies_are_json() {
        let all = scenarios();
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for s in &all {
            if let Some(b) = s.body {
                serde_json::from_str::<serde_json::Value>(b).unwrap();
                // The body goes into single quotes in the printed curl line.
                assert!(!b.contains('\''), "{}", s.name);
            }
        }
    }

    #[test]
    fn curl_line_carries_method_headers_and_body() {
        let s = &scenarios()[3];
        let curl = s.curl("http://127.0.0.1:8000");
        assert!(curl.starts_with("curl -i -X POST http://127.0.0.1:8000/payments/v1/payouts \\\n"));
        assert!(curl.contains("  -H 'x-actor-role: finance_operator' \\\n"));
        assert!(curl.ends_with(r#"-d '{"amount":500,"currency":"EUR","destination":"acct-1"}'"#));
    }
}
