//! Identity sources through the proxy, over real sockets: bearer JWTs for each algorithm
//! (keys generated in the test), every way a token fails, hot key rotation, and client
//! certificates (a CA and certificates generated in the test). Caller-set identity headers
//! never count under a verified source, and never reach the upstream.

mod identity_support;
mod support;

use identity_support::*;
use serde_json::json;
use support::Gate;
use support::{call, Upstream};

const READ: &str = "/payouts/p-1";

/// Starts a gate with a jwt bundle for `key`.
async fn jwt_gate(key: &TestKey, up: &Upstream) -> (tempfile::TempDir, Gate) {
    let (tmp, dir) = tempdir();
    let (name, bytes) = &key.public_file;
    write_bundle(&dir, &jwt_identity(key), "", &[(name, bytes)]);
    let gate = Gate::start(load(&dir), &up.url(), |_| {}).await;
    (tmp, gate)
}

#[tokio::test]
async fn each_algorithm_verifies_and_the_token_decides_the_role() {
    let up = Upstream::start().await;
    let keys = [
        (TestKey::es256_jwks("k1"), Some("k1")),
        (TestKey::es256(), None),
        (TestKey::ed25519(), None),
        (TestKey::rs256(), None),
        (
            TestKey::hs256("an hmac secret of at least thirty-two bytes"),
            None,
        ),
    ];
    for (key, kid) in &keys {
        let (_tmp, gate) = jwt_gate(key, &up).await;
        let viewer = key.token(*kid, "agent-9", json!("viewer"), t0(), 600);
        let bearer = format!("Bearer {viewer}");
        let r = call(gate.addr, "GET", READ, &[("authorization", &bearer)], "").await;
        assert_eq!(r.status, 200, "{}: {:?}", key.alg, r.body);

        // The caller claims platform_admin; the token says viewer, and the token wins.
        let claimed = [
            ("authorization", bearer.as_str()),
            ("x-actor", "agent-5"),
            ("x-actor-role", "platform_admin"),
            ("x_actor_role", "platform_admin"),
            ("x-environment", "production"),
        ];
        let r = call(gate.addr, "DELETE", "/tenants/t-1", &claimed, "").await;
        assert_eq!(r.status, 403, "{}: {:?}", key.alg, r.body);
        assert!(r.json()["issues"]
            .as_array()
            .unwrap()
            .contains(&json!("ROLE_NOT_AUTHORIZED")));
    }
    // Identity headers were stripped from what reached the upstream; Authorization was not.
    let seen = up.seen();
    assert_eq!(seen.len(), keys.len());
    for s in &seen {
        assert!(s.header("authorization").is_some());
        assert!(s.header("x-actor").is_none() && s.header("x-actor-role").is_none());
    }
}

#[tokio::test]
async fn a_role_list_counts_any_of_its_roles() {
    let up = Upstream::start().await;
    let key = TestKey::ed25519();
    let (_tmp, gate) = jwt_gate(&key, &up).await;
    let t = key.token(
        None,
        "agent-5",
        json!(["viewer", "platform_admin"]),
        t0(),
        600,
    );
    let h = [("authorization", format!("Bearer {t}"))];
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = call(gate.addr, "DELETE", "/tenants/t-1", &h, "").await;
    // The role is satisfied by the second entry; what is left is approval.
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(!r.json()["issues"]
        .as_array()
        .unwrap()
        .contains(&json!("ROLE_NOT_AUTHORIZED")));
}

#[tokio::test]
async fn every_bad_token_is_denied_with_its_reason_and_none_is_held() {
    let up = Upstream::start().await;
    let key = TestKey::es256_jwks("k1");
    let (_tmp, gate) = jwt_gate(&key, &up).await;
    let other = TestKey::es256_jwks("k1");
    let hmac = TestKey::hs256("an hmac secret of at least thirty-two bytes");
    let claims = |extra: serde_json::Value| key.token_with(Some("k1"), extra, t0(), 600);
    let earlier = t0()
        .checked_sub(jiff::SignedDuration::from_mins(20))
        .unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            key.token(Some("k1"), "a", json!("viewer"), earlier, 60),
            "expired",
        ),
        (
            "wrong audience",
            claims(json!({"sub": "a", "aud": "billing"})),
            "audience",
        ),
        (
            "wrong issuer",
            claims(json!({"sub": "a", "iss": "https://evil.test"})),
            "issuer",
        ),
        (
            "no audience",
            claims(json!({"sub": "a", "aud": null})),
            "aud",
        ),
        (
            "not yet valid",
            claims(json!({"sub": "a", "nbf": t0().as_second() + 600})),
            "not valid before",
        ),
        (
            "untrusted key",
            other.token(Some("k1"), "a", json!("viewer"), t0(), 600),
            "signature",
        ),
        (
            "unknown kid",
            key.token(Some("k2"), "a", json!("viewer"), t0(), 600),
            "kid",
        ),
        (
            "other algorithm",
            hmac.token(Some("k1"), "a", json!("viewer"), t0(), 600),
            "not accepted",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64url(br#"{"alg":"none","typ":"JWT"}"#),
                b64url(br#"{"sub":"a"}"#)
            ),
            "compact JWS",
        ),
        ("garbage", "not-a-token".into(), "compact JWS"),
        ("no actor claim", claims(json!({"roles": "viewer"})), "sub"),
        (
            "roles not strings",
            claims(json!({"sub": "a", "roles": [1]})),
            "roles",
        ),
    ];
    for (name, token, reason) in cases {
        let bearer = format!("Bearer {token}");
        let r = call(gate.addr, "GET", READ, &[("authorization", &bearer)], "").await;
        assert_eq!(r.status, 403, "{name}: {:?}", r.body);
        let body = r.json();
        assert_eq!(body["issues"], json!(["IDENTITY_INVALID"]), "{name}");
        let details = body["details"].to_string();
        assert!(details.contains(reason), "{name}: {details}");
    }
    // A scheme other than Bearer, or two credentials, is invalid too.
    for auth in [
        vec![("authorization", "Basic YTpi")],
        vec![("authorization", "Bearer a"), ("authorization", "Bearer b")],
    ] {
        let r = call(gate.addr, "GET", READ, &auth, "").await;
        assert_eq!(r.status, 403, "{auth:?}");
    }
    // Within the leeway (30s), a just-expired token still verifies.
    let just = key.token(Some("k1"), "a", json!("viewer"), earlier, 20 * 60 - 20);
    let r = call(
        gate.addr,
        "GET",
        READ,
        &[("authorization", &format!("Bearer {just}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // On exp + leeway exactly it no longer does (RFC 7519: on or after).
    let edge = key.token(Some("k1"), "a", json!("viewer"), earlier, 20 * 60 - 30);
    let r = call(
        gate.addr,
        "GET",
        READ,
        &[("authorization", &format!("Bearer {edge}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn a_missing_credential_is_held_with_actor_role_missing() {
    let up = Upstream::start().await;
    let key = TestKey::es256();
    let (_tmp, gate) = jwt_gate(&key, &up).await;
    let r = call(
        gate.addr,
        "GET",
        READ,
        &[("x-actor-role", "platform_admin")],
        "",
    )
    .await;
    assert_eq!(r.status, 409);
    let body = r.json();
    assert_eq!(body["issues"], json!(["ACTOR_ROLE_MISSING"]));
    assert!(body["details"][0]
        .as_str()
        .unwrap()
        .contains("no Authorization"));
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn keys_rotate_with_the_bundle() {
    let up = Upstream::start().await;
    let old = TestKey::es256_jwks("2026-03");
    let (tmp, gate) = jwt_gate(&old, &up).await;
    let old_token = format!(
        "Bearer {}",
        old.token(Some("2026-03"), "a", json!("viewer"), t0(), 600)
    );
    let r = call(gate.addr, "GET", READ, &[("authorization", &old_token)], "").await;
    assert_eq!(r.status, 200);

    // A new bundle version with a new key set: the snapshot swap is the rotation.
    let new = TestKey::es256_jwks("2026-04");
    std::fs::write(tmp.path().join("jwks.json"), &new.public_file.1).unwrap();
    let before = gate.state.load().meta.digest.clone();
    gate.state.store(std::sync::Arc::new(load(tmp.path())));
    assert_ne!(
        gate.state.load().meta.digest,
        before,
        "the digest covers the key file"
    );

    let r = call(gate.addr, "GET", READ, &[("authorization", &old_token)], "").await;
    assert_eq!(r.status, 403);
    assert!(r.json()["details"].to_string().contains("kid"));
    let new_token = format!(
        "Bearer {}",
        new.token(Some("2026-04"), "a", json!("viewer"), t0(), 600)
    );
    let r = call(gate.addr, "GET", READ, &[("authorization", &new_token)], "").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn connection_cannot_drop_the_verified_token() {
    let up = Upstream::start().await;
    let key = TestKey::es256();
    let (_tmp, gate) = jwt_gate(&key, &up).await;
    let token = key.token(None, "agent-9", json!("viewer"), t0(), 600);
    let bearer = format!("Bearer {token}");
    // Verified as agent-9, then `Connection` would have the credential removed before the
    // upstream, which might fall back to another principal's.
    let r = call(
        gate.addr,
        "GET",
        READ,
        &[("authorization", &bearer), ("connection", "authorization")],
        "",
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(up.seen().is_empty());
}
