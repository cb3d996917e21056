//! The bundle side of identity and signed approvals: every configuration mistake is a
//! bundle error with file, line and field; verified sources drop the context entries they
//! replace; routes that may need a signed approval read the body; and the bundle's own
//! tests can carry tokens and client certificates.

mod identity_support;
mod support;

use identity_support::*;
use toolgate::bundle::{load as load_bundle, run_tests};

/// Loads `dir` and returns its errors, one `file:line:col: field: message` per entry.
fn errors(dir: &std::path::Path) -> Vec<String> {
    match load_bundle(dir, t0()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn one_error(identity: &str, approval: &str, files: &[(&str, &[u8])], field: &str, says: &str) {
    let (_tmp, dir) = tempdir();
    write_bundle(&dir, identity, approval, files);
    let errs = errors(&dir);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert!(e.contains("bundle.yaml:"), "{e}");
    assert!(
        e.contains(&format!(": {field}: ")),
        "want field {field}: {e}"
    );
    assert!(e.contains(says), "want {says:?}: {e}");
}

#[test]
fn identity_mistakes_are_located() {
    let key = TestKey::es256();
    let pem = key.public_file.1.as_slice();
    let file = [("es256.pub.pem", pem)];
    one_error(
        "identity: { source: ldap }",
        "",
        &[],
        "spec.identity.source",
        "expected trusted_headers, jwt or mtls",
    );
    one_error(
        "identity: { source: jwt }",
        "",
        &[],
        "spec.identity.jwt",
        "needs a jwt block",
    );
    let jwt = |extra: &str| {
        format!("identity:\n    source: jwt\n    jwt:\n      issuer: https://idp.test\n      audience: toolgate\n{extra}")
    };
    one_error(
        &jwt("      algorithms: [ES256]\n"),
        "",
        &file,
        "spec.identity.jwt",
        "exactly one key",
    );
    one_error(
        &jwt("      algorithms: [none]\n      public_key_file: es256.pub.pem\n"),
        "",
        &file,
        "spec.identity.jwt.algorithms[0]",
        "unsupported algorithm",
    );
    one_error(
        &jwt("      algorithms: [ES256]\n      public_key_file: ../es256.pub.pem\n"),
        "",
        &file,
        "spec.identity.jwt.public_key_file",
        "no path",
    );
    one_error(
        &jwt("      algorithms: [ES256]\n      public_key_file: missing.pem\n"),
        "",
        &file,
        "spec.identity.jwt.public_key_file",
        "no file \"missing.pem\"",
    );
    one_error(
        &jwt("      algorithms: [RS256]\n      public_key_file: es256.pub.pem\n"),
        "",
        &file,
        "spec.identity.jwt.public_key_file",
        "not a PEM Rsa public key",
    );
    let private = key.private_pem.as_slice();
    one_error(
        &jwt("      algorithms: [ES256]\n      public_key_file: signing.pem\n"),
        "",
        &[("signing.pem", private)],
        "spec.identity.jwt.public_key_file",
        "private key",
    );
    one_error(
        &jwt("      algorithms: [HS256]\n      hmac_secret_file: s\n"),
        "",
        &[("s", b"short")],
        "spec.identity.jwt.hmac_secret_file",
        "at least 32",
    );
    one_error(
        &jwt("      algorithms: [ES256]\n      jwks_file: jwks.json\n"),
        "",
        &[("jwks.json", br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#)],
        "spec.identity.jwt.jwks_file",
        "hmac_secret_file",
    );
    one_error(
        "identity:\n    source: mtls\n    mtls:\n      subjects:\n        - { uri: spiffe://a, dns: b, actor: x }\n",
        "",
        &[],
        "spec.identity.mtls.subjects[0]",
        "exactly one of uri or dns",
    );
    one_error(
        "identity:\n    source: trusted_headers\n    mtls: { subjects: [] }\n",
        "",
        &[],
        "spec.identity.mtls",
        "only with source: mtls",
    );
}

#[test]
fn approval_mistakes_are_located() {
    let key = TestKey::ed25519();
    let file = [(key.public_file.0, key.public_file.1.as_slice())];
    one_error(
        "",
        "source: maybe\n",
        &[],
        "spec.approval.source",
        "expected headers or signed",
    );
    one_error(
        "",
        "public_key_file: ed25519.pub.pem\n",
        &file,
        "spec.approval.public_key_file",
        "only with source: signed",
    );
    one_error(
        "",
        "source: signed\n    public_key_file: ed25519.pub.pem\n",
        &file,
        "spec.approval.algorithm",
        "needs the algorithm",
    );
    one_error(
        "",
        "source: signed\n    algorithm: EdDSA\n    public_key_file: ed25519.pub.pem\n    max_ttl: 0s\n",
        &file,
        "spec.approval.max_ttl",
        "at least 1s",
    );
    one_error(
        "",
        "source: signed\n    algorithm: EdDSA\n    bogus: 1\n",
        &file,
        "spec.approval.bogus",
        "unknown field `bogus`",
    );
}

#[test]
fn verified_sources_replace_context_and_signed_approvals_read_the_body() {
    let (_tmp, dir) = tempdir();
    let idp = TestKey::es256();
    let ap = TestKey::ed25519();
    let files = [
        (idp.public_file.0, idp.public_file.1.as_slice()),
        (ap.public_file.0, ap.public_file.1.as_slice()),
    ];
    write_bundle(&dir, &jwt_identity(&idp), &signed_approvals(&ap), &files);
    let snap = load(&dir);
    for route in &snap.routes {
        let names: Vec<&str> = route.context.fields.iter().map(|(f, _)| f.name()).collect();
        for gone in [
            "actor",
            "actor_role",
            "approval_status",
            "approved_by",
            "approved_at",
        ] {
            assert!(!names.contains(&gone), "{}: {names:?}", route.name);
        }
        assert!(!route
            .context
            .headers
            .iter()
            .any(|h| h.as_str() == "x-actor-role"));
        // Only the routes that may need approval buffer their body.
        let needs = route.name.as_ref() != "payouts-get";
        assert_eq!(route.context.reads_body, needs, "{}", route.name);
    }
    let strip: Vec<&str> = snap.trust.strip.iter().map(|h| h.as_str()).collect();
    for h in [
        "x-actor",
        "x-actor-role",
        "x-approval",
        "x-approval-status",
        "x-approved-by",
        "x-approved-at",
    ] {
        assert!(strip.contains(&h), "{h}: {strip:?}");
    }

    // Under trusted headers and header approvals nothing changes.
    let (_tmp2, plain) = tempdir();
    write_bundle(&plain, "", "", &[]);
    let snap = load(&plain);
    assert!(snap.trust.strip.is_empty());
    let get = snap
        .routes
        .iter()
        .find(|r| &*r.name == "tenants-delete")
        .unwrap();
    assert!(!get.context.reads_body);
    assert!(get
        .context
        .fields
        .iter()
        .any(|(f, _)| f.name() == "actor_role"));
}

#[test]
fn bundle_tests_carry_client_certificates() {
    let (_tmp, dir) = tempdir();
    let identity = "identity:\n    source: mtls\n    mtls:\n      subjects:\n        - { uri: \"spiffe://t/admin\", actor: admin, actor_role: platform_admin }\n";
    write_bundle(&dir, identity, "", &[]);
    let tests = r#"apiVersion: toolgate.dev/v1alpha1
kind: TestSuite
spec:
  tests:
    - name: a mapped certificate holds its role
      now: 2026-03-16T10:00:00Z
      request:
        method: DELETE
        path: /tenants/t-1
        headers: { x-environment: production }
        client_cert: { uri: ["spiffe://t/admin"] }
      expect: { verdict: DEFER, issues: [DESTRUCTIVE_ACTION_REQUIRES_APPROVAL] }
    - name: no certificate is held
      now: 2026-03-16T10:00:00Z
      request: { method: GET, path: /payouts/p-1, headers: { x-actor-role: platform_admin } }
      expect: { verdict: DEFER, issues: [ACTOR_ROLE_MISSING] }
    - name: an unmapped certificate is denied
      now: 2026-03-16T10:00:00Z
      request: { method: GET, path: /payouts/p-1, client_cert: { dns: [other.svc] } }
      expect: { verdict: DENY, issues: [IDENTITY_INVALID] }
"#;
    std::fs::write(dir.join("tests.yaml"), tests).unwrap();
    let (snap, tests) = toolgate::bundle::load_with_tests(&dir, t0()).unwrap();
    let results = run_tests(&snap, &tests);
    assert_eq!(results.len(), 3);
    for r in results {
        assert!(r.passed, "{}: {:?}", r.name, r.failures);
    }
}

#[test]
fn the_shipped_signed_bundle_passes_its_own_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools-signed");
    let (snap, tests) =
        toolgate::bundle::load_with_tests(&dir, t0()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.trust.identity.name(), "jwt");
    assert!(snap.trust.approvals.is_some());
    let results = run_tests(&snap, &tests);
    assert!(results.len() >= 20);
    for r in results {
        assert!(r.passed, "{}: {:?}", r.name, r.failures);
    }
    // Same routes as policies/tools.
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
    let tools = toolgate::bundle::load(&tools, t0()).unwrap();
    let names = |s: &toolgate::snapshot::Snapshot| {
        s.routes
            .iter()
            .map(|r| (r.name.to_string(), r.method.to_string(), r.path.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&snap), names(&tools));
}
