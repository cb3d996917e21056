//! Reviewers by client certificate over real TLS: a CA and certificates generated in the
//! test, `review.client_ca` set; the reviewer is the certificate's `mailto:` URI SAN, a
//! header claims nothing, a client without a certificate gets 401 and one from another
//! CA no connection; such a reviewer holds no role (a payout needs one), and approves a
//! held refund, released once.

mod support;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use support::review::{review_id, ReviewSetup, PAYOUT, PAYOUTS};
use support::{test_cert, TestCert};
use tokio::net::{TcpListener, TcpStream};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    Ca {
        cert: p.self_signed(&key).unwrap(),
        key,
    }
}

type Identity = (CertificateDer<'static>, PrivateKeyDer<'static>);

/// A client certificate from `ca` for the reviewer `email` (a `mailto:` URI SAN).
fn reviewer(ca: &Ca, email: &str) -> Identity {
    let mut p = CertificateParams::new(Vec::new()).unwrap();
    let uri = format!("mailto:{email}");
    p.subject_alt_names = vec![SanType::URI(uri.as_str().try_into().unwrap())];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// One request over TLS as `identity`; `Err` when the handshake or exchange fails.
async fn send(
    addr: SocketAddr,
    server: &TestCert,
    identity: Option<Identity>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match identity {
        Some((c, k)) => builder.with_client_auth_cert(vec![c], k).unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = Full::new(bytes::Bytes::from(body.to_owned()));
    let resp = tx
        .send_request(req.body(body).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        String::from_utf8_lossy(&bytes.to_bytes()).into_owned(),
    ))
}

#[tokio::test]
async fn a_reviewer_by_client_certificate_and_no_one_else() {
    let s = ReviewSetup::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = test_cert(dir.path());
    let reviewers = ca("reviewers");
    let ca_file = dir.path().join("reviewers-ca.pem");
    std::fs::write(&ca_file, reviewers.cert.pem()).unwrap();
    // The same inbox, over TLS, its reviewers by certificate.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = support::review::config(s.inbox, |c| c.review.client_ca = Some(ca_file.clone()));
    let inbox =
        toolgate::inbox::start::build(&cfg, s.gate.ops.clone(), s.gate.clock.clock()).unwrap();
    let tls = toolgate::server::tls::acceptor(&server.cert, &server.key, Some(&ca_file)).unwrap();
    let inbox = Arc::new(inbox);
    tokio::spawn(inbox.run(listener, Some(tls), std::future::pending()));

    let id = review_id(&s.agent("POST", PAYOUTS, PAYOUT).await);
    let lead = || Some(reviewer(&reviewers, "lead@example.com"));
    let page = format!("/reviews/{id}");
    let spoof = [("x-forwarded-email", "lead@example.com")];
    let (status, body) = send(addr, &server, lead(), "GET", &page, &[], "")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<span id=\"reviewer\">lead@example.com</span>"),
        "{body}"
    );
    // No certificate: a header claims nothing.
    let (status, _) = send(addr, &server, None, "GET", &page, &spoof, "")
        .await
        .unwrap();
    assert_eq!(status, 401);
    // A certificate from another CA: no connection at all.
    let other = Some(reviewer(&ca("someone else"), "lead@example.com"));
    assert!(send(addr, &server, other, "GET", &page, &[], "")
        .await
        .is_err());
    // The certificate's reviewer decides. This one holds no role from a header either, and
    // the payout route requires payments-lead: refused, with the reason.
    let approve = format!("/api/reviews/{id}/approve");
    let json = [("content-type", "application/json")];
    let (status, body) = send(
        addr,
        &server,
        lead(),
        "POST",
        &approve,
        &json,
        r#"{"ttl_seconds":600}"#,
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("REVIEWER_ROLE_REQUIRED"), "{body}");
    assert!(s.up.seen().is_empty());
    // A refund needs no reviewer role: the certificate's reviewer approves it, and the
    // agent's identical retry is released once.
    let refund = r#"{"amount":900,"currency":"EUR","payment":"pay-77"}"#;
    let held = s.agent("POST", "/payments/v1/refunds", refund).await;
    let approve = format!("/api/reviews/{}/approve", review_id(&held));
    let (status, body) = send(
        addr,
        &server,
        lead(),
        "POST",
        &approve,
        &json,
        r#"{"ttl_seconds":600}"#,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"approver\":\"lead@example.com\""), "{body}");
    let released = s.agent("POST", "/payments/v1/refunds", refund).await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    assert_eq!(s.up.seen().len(), 1);
}
