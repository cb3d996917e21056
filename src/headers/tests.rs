//! Header hygiene: request ids, Connection tokens, the upstream leg, responses.

use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn request_ids_are_kept_only_when_clean() {
    let ids = RequestIds::default();
    let kept = ids.take_or_mint(&map(&[("x-request-id", "abc-1.2_3:4")]));
    assert_eq!(kept, "abc-1.2_3:4");
    for bad in ["", "a b", "a\"b", "é", &"x".repeat(129)] {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(bad) {
            h.insert(X_REQUEST_ID, v);
        }
        let id = ids.take_or_mint(&h);
        assert!(
            id.starts_with("tg-") && is_valid_request_id(id.as_bytes()),
            "{bad}"
        );
    }
    let two = map(&[("x-request-id", "a"), ("x-request-id", "b")]);
    assert!(ids.take_or_mint(&two).starts_with("tg-"));
    assert_ne!(ids.mint(), ids.mint());
}

#[test]
fn connection_cannot_remove_what_must_survive() {
    let reads = [HeaderName::from_static("x-env")];
    let h = map(&[("connection", "keep-alive, X-Debug ,upgrade")]);
    assert_eq!(
        connection_listed(&h, &reads, &[]).unwrap(),
        [HeaderName::from_static("x-debug")]
    );
    for token in [
        "x-env",
        "host",
        "x-request-id",
        "x-toolgate-verdict",
        "x-forwarded-for",
        "forwarded",
    ] {
        let h = map(&[("connection", &format!("close, {token}"))]);
        assert!(connection_listed(&h, &reads, &[]).is_err(), "{token}");
    }
    assert!(connection_listed(&map(&[("connection", "bad name")]), &reads, &[]).is_err());
    let verified = [header::AUTHORIZATION];
    let h = map(&[("connection", "Authorization")]);
    assert!(connection_listed(&h, &reads, &verified).is_err());
}

#[test]
fn upstream_headers_are_toolgates_own() {
    let mut h = map(&[
        ("host", "tools.local"),
        ("connection", "x-debug"),
        ("x-debug", "1"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("transfer-encoding", "chunked"),
        ("content-length", "3"),
        ("upgrade", "h2c"),
        ("proxy-authorization", "secret"),
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-host", "evil"),
        ("forwarded", "for=6.6.6.6"),
        ("x-real-ip", "6.6.6.6"),
        ("x-toolgate-verdict", "ALLOW"),
        ("x-toolgate-anything", "1"),
        ("traceparent", "00-abc-def-01"),
        ("authorization", "Bearer t"),
        ("expect", "100-continue"),
    ]);
    let peer = Peer::new("[::1]:5000".parse().unwrap(), true);
    let tags = Tags::new("r1", &HeaderValue::from_static("tools@1"));
    for_upstream(
        &mut h,
        &[HeaderName::from_static("x-debug")],
        None,
        &peer,
        &tags,
        "ALLOW",
    );
    let mut got: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    got.sort();
    let want = [
        ("authorization", "Bearer t"),
        ("forwarded", "for=\"[::1]\";proto=https"),
        ("host", "tools.local"),
        ("traceparent", "00-abc-def-01"),
        ("x-forwarded-for", "::1"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "r1"),
        ("x-toolgate-policy-version", "tools@1"),
        ("x-toolgate-verdict", "ALLOW"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn host_comes_from_the_authority_when_absent() {
    let mut h = HeaderMap::new();
    let peer = Peer::new("10.1.2.3:1".parse().unwrap(), false);
    let tags = Tags::new("r", &HeaderValue::from_static("v"));
    let auth: http::uri::Authority = "tools.local:8000".parse().unwrap();
    for_upstream(&mut h, &[], Some(&auth), &peer, &tags, "ALLOW");
    assert_eq!(h[header::HOST], "tools.local:8000");
    assert_eq!(h[header::FORWARDED], "for=10.1.2.3;proto=http");
}

#[test]
fn response_hop_by_hop_is_stripped() {
    let mut h = map(&[
        ("connection", "close, x-internal"),
        ("x-internal", "1"),
        ("transfer-encoding", "chunked"),
        ("content-type", "application/json"),
    ]);
    strip_response(&mut h);
    assert_eq!(h.len(), 1);
    assert!(h.contains_key(header::CONTENT_TYPE));
}

#[test]
fn minted_ids_spell_prefix_and_counter_in_hex() {
    let ids = RequestIds::default();
    for n in [1u64, 9, 10, 255, 256, 0xdead_beef, u64::MAX] {
        ids.next.store(n, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(ids.mint(), format!("tg-{:016x}-{n:x}", ids.prefix));
    }
}

#[test]
fn client_claims_and_aliases_of_owned_headers_do_not_pass() {
    for owned in [
        "x_forwarded_for",
        "X_Toolgate_Verdict",
        "x_request_id",
        "x-forwarded_host",
    ] {
        let name = HeaderName::from_bytes(owned.as_bytes()).unwrap();
        assert!(is_owned_by_toolgate(&name), "{owned}");
    }
    for claim in [
        "x-remote-user",
        "X_Remote_User",
        "true-client-ip",
        "x-real-ip",
    ] {
        let name = HeaderName::from_bytes(claim.as_bytes()).unwrap();
        assert!(is_client_claim(&name), "{claim}");
    }
    assert!(!is_client_claim(&HeaderName::from_static("x-actor")));
    // Dropped unless the route reads the claim (then it was evaluated and goes on as is).
    let h = map(&[("x-remote-user", "root"), ("x-client-ip", "6.6.6.6")]);
    assert_eq!(
        connection_listed(&h, &[], &[]).unwrap(),
        [
            HeaderName::from_static("x-remote-user"),
            HeaderName::from_static("x-client-ip")
        ]
    );
    let reads = [HeaderName::from_static("x-remote-user")];
    assert_eq!(
        connection_listed(&h, &reads, &[]).unwrap(),
        [HeaderName::from_static("x-client-ip")]
    );
}
