//! The requests `toolgate demo` replays: the Stage0 seed scenarios, as an agent would send
//! them to the three tool APIs of `policies/tools`, then the approve-and-retry loop through
//! the signed sidecar (`policies/tools-signed`). Each one is data (a request, the evidence
//! it carries and the outcome it must have), so adding a scenario is adding an entry to
//! [`scenarios`].
//!
//! Every expectation holds at any time of day or week: the scenarios that the bundle's
//! `business_hours` window could change (the payout, the production deploy) defer for
//! missing evidence anyway, and the allowed ones are under no window. Only their issue
//! lists may gain `CHANGE_WINDOW_CLOSED`, so expectations name verdicts (and at most one
//! issue no window can add or remove). The approval loop deletes a tenant: destructive,
//! so it needs a signed approval, but under no change window.

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
    /// Which sidecar it goes to, and the verified evidence it carries there.
    pub evidence: Evidence,
    pub expect: Expect,
}

/// Where a scenario is sent and what it proves its identity and approval with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// To the shipped config's sidecar (`policies/tools`): actor and role are headers.
    Headers,
    /// To the signed sidecar, with `authorization: Bearer` an identity token for these
    /// claims, minted with the bundle's example identity key (`toolgate token`'s code).
    Token { claims: &'static str },
    /// As [`Evidence::Token`], plus `x-approval`: the approval `approver` signed (with
    /// `toolgate approve`'s code) for the `approval_request` of the last 409. Minted once,
    /// when first needed: a later scenario sends the same approval again.
    Approved {
        claims: &'static str,
        approver: &'static str,
    },
}

impl Evidence {
    /// Whether the scenario goes to the signed sidecar.
    pub fn signed(&self) -> bool {
        !matches!(self, Evidence::Headers)
    }

    /// The identity token's claims, if one is sent.
    pub fn claims(&self) -> Option<&'static str> {
        match *self {
            Evidence::Headers => None,
            Evidence::Token { claims } | Evidence::Approved { claims, .. } => Some(claims),
        }
    }
}

/// The signed sidecar's example keys, in `example-private-keys/` of its bundle.
pub const IDENTITY_KEY: &str = "idp.es256.key.pem";
/// The `kid` of [`IDENTITY_KEY`] in the bundle's `idp.jwks.json`.
pub const IDENTITY_KID: &str = "example-idp-2026-03";
pub const APPROVAL_KEY: &str = "approvals.ed25519.key.pem";

/// A platform admin's agent, as the example identity provider would assert it.
const PLATFORM_ADMIN: &str = r#"{"iss":"https://idp.example.test","aud":"toolgate","sub":"agent-5","roles":["platform_admin"]}"#;

/// The outcome a scenario must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// The HTTP status the client gets: the mock tool API's own on ALLOW.
    pub status: u16,
    /// `ALLOW`, `DEFER` or `DENY` (the `x-toolgate-verdict` header).
    pub verdict: &'static str,
    /// Whether the tool API receives the request.
    pub forwarded: bool,
    /// An issue the refusal must name, whatever the time.
    pub issue: Option<&'static str>,
}

const fn allow(status: u16) -> Expect {
    Expect {
        status,
        verdict: "ALLOW",
        forwarded: true,
        issue: None,
    }
}

const DEFER: Expect = Expect {
    status: 409,
    verdict: "DEFER",
    forwarded: false,
    issue: None,
};

const DENY: Expect = Expect {
    status: 403,
    verdict: "DENY",
    forwarded: false,
    issue: None,
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
            evidence: Evidence::Headers,
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
            evidence: Evidence::Headers,
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
            evidence: Evidence::Headers,
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
            evidence: Evidence::Headers,
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
            evidence: Evidence::Headers,
            expect: DEFER,
        },
        Scenario {
            name: "unmapped route",
            why: "no route of the bundle maps it: fail closed",
            method: "GET",
            target: "/payments/v1/balances",
            headers: &[("x-actor", "agent-7")],
            body: None,
            evidence: Evidence::Headers,
            expect: DENY,
        },
        // The approve-and-retry loop, on the signed sidecar: one request, three times.
        Scenario {
            name: "approval loop: deferred delete",
            why: "a verified platform admin, but a destructive action needs a signed approval",
            evidence: Evidence::Token {
                claims: PLATFORM_ADMIN,
            },
            expect: Expect {
                issue: Some("APPROVAL_REQUIRED"),
                ..DEFER
            },
            ..TENANT_DELETE
        },
        Scenario {
            name: "approval loop: approved retry",
            why: "the same request with the approval signed for it: forwarded once",
            evidence: Evidence::Approved {
                claims: PLATFORM_ADMIN,
                approver: "bob.sre-lead",
            },
            expect: allow(200),
            ..TENANT_DELETE
        },
        Scenario {
            name: "approval loop: replayed approval",
            why: "an approval is good for one request",
            evidence: Evidence::Approved {
                claims: PLATFORM_ADMIN,
                approver: "bob.sre-lead",
            },
            expect: Expect {
                issue: Some("APPROVAL_REPLAYED"),
                ..DENY
            },
            ..TENANT_DELETE
        },
    ]
}

/// The approval loop's request: a production tenant delete (no change window applies).
const TENANT_DELETE: Scenario = Scenario {
    name: "",
    why: "",
    method: "DELETE",
    target: "/db/v1/tenants/t-42",
    headers: &[("x-environment", "production")],
    body: None,
    evidence: Evidence::Headers,
    expect: DENY,
};

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
    fn the_approval_loop_is_one_request_approved_after_its_deferral() {
        let all = scenarios();
        let signed: Vec<&Scenario> = all.iter().filter(|s| s.evidence.signed()).collect();
        assert_eq!(signed.len(), 3);
        // Signed scenarios come last: the plain ones print as curl lines, in order.
        assert!(all[all.len() - 3..].iter().all(|s| s.evidence.signed()));
        for s in &signed {
            let first = signed[0];
            assert_eq!(
                (s.method, s.target, s.body),
                (first.method, first.target, first.body)
            );
            assert_eq!(s.headers, first.headers);
            assert_eq!(s.evidence.claims(), first.evidence.claims());
        }
        assert!(matches!(signed[0].evidence, Evidence::Token { .. }));
        assert_eq!(signed[0].expect.verdict, "DEFER");
        assert!(matches!(signed[1].evidence, Evidence::Approved { .. }));
        assert_eq!(signed[1].evidence, signed[2].evidence);
        assert_eq!(signed[2].expect.issue, Some("APPROVAL_REPLAYED"));
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
