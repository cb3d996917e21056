//! Client-certificate identity over real TLS: a client CA and client certificates generated
//! in the test, `tls.client_ca` set, and a bundle with `identity.source: mtls` mapping URI
//! and DNS SANs to actors and roles.

mod identity_support;
mod support;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use identity_support::*;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{json, Value};
use std::sync::Arc;
use support::Gate;
use support::{test_cert, TestCert, Upstream};
use tokio::net::TcpStream;
use toolgate::config::Tls;

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

/// A client certificate issued by `ca` with the given SANs.
fn client(ca: &Ca, sans: Vec<SanType>) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut p = CertificateParams::new(Vec::new()).unwrap();
    p.subject_alt_names = sans;
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn uri(u: &str) -> SanType {
    SanType::URI(u.try_into().unwrap())
}

/// One HTTP/1.1 request over TLS, presenting `identity` if given. `Err` when the TLS
/// handshake or the exchange fails.
async fn send(
    gate: &Gate,
    server: &TestCert,
    identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, Value), String> {
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
    let tcp = TcpStream::connect(gate.addr).await.unwrap();
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
    let resp = tx
        .send_request(req.body(Full::new(bytes::Bytes::new())).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, json))
}

const MTLS: &str = r#"identity:
    source: mtls
    mtls:
      subjects:
        - { uri: "spiffe://cluster.test/ns/agents/sa/payments", actor: payments-agent, actor_role: finance_operator }
        - { dns: admin-agent.agents.svc, actor: admin-agent, actor_role: platform_admin }
"#;

#[tokio::test]
async fn client_certificates_map_to_actors_and_roles() {
    let (_tmp, dir) = tempdir();
    let server = test_cert(&dir);
    let trusted = ca("agents CA");
    std::fs::write(dir.join("client-ca.pem"), trusted.cert.pem()).unwrap();
    let bundle_dir = dir.join("bundle");
    std::fs::create_dir(&bundle_dir).unwrap();
    write_bundle(&bundle_dir, MTLS, "", &[]);
    let up = Upstream::start().await;
    let tls = Tls {
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: Some(dir.join("client-ca.pem")),
    };
    let gate = Gate::start(load(&bundle_dir), &up.url(), |c| c.tls = Some(tls)).await;

    // A URI SAN (SPIFFE ID) maps to the payments agent; headers claiming more are ignored.
    let payments = client(
        &trusted,
        vec![uri("spiffe://cluster.test/ns/agents/sa/payments")],
    );
    let claims = [
        ("x-actor-role", "platform_admin"),
        ("x-environment", "production"),
    ];
    let (status, body) = send(
        &gate,
        &server,
        Some((payments.0.clone(), payments.1.clone_key())),
        "DELETE",
        "/tenants/t-1",
        &claims,
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body["issues"]
        .as_array()
        .unwrap()
        .contains(&json!("ROLE_NOT_AUTHORIZED")));
    let (status, _) = send(
        &gate,
        &server,
        Some(payments),
        "GET",
        "/payouts/p-1",
        &claims,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].header("x-actor-role").is_none(), "stripped");

    // A DNS SAN maps to the admin agent: the role holds, approval is what is missing.
    let admin = client(
        &trusted,
        vec![SanType::DnsName(
            "admin-agent.agents.svc".try_into().unwrap(),
        )],
    );
    let (status, body) = send(
        &gate,
        &server,
        Some(admin),
        "DELETE",
        "/tenants/t-1",
        &[("x-environment", "production")],
    )
    .await
    .unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(!body["issues"]
        .as_array()
        .unwrap()
        .contains(&json!("ROLE_NOT_AUTHORIZED")));

    // No certificate: held, not refused at the handshake.
    let (status, body) = send(&gate, &server, None, "GET", "/payouts/p-1", &[])
        .await
        .unwrap();
    assert_eq!(status, 409);
    assert_eq!(body["issues"], json!(["ACTOR_ROLE_MISSING"]));

    // A verified certificate no subject maps: denied, with its SANs in the reason.
    let stranger = client(
        &trusted,
        vec![uri("spiffe://cluster.test/ns/agents/sa/other")],
    );
    let (status, body) = send(&gate, &server, Some(stranger), "GET", "/payouts/p-1", &[])
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert_eq!(body["issues"], json!(["IDENTITY_INVALID"]));
    assert!(body["details"].to_string().contains("sa/other"));

    // A certificate from another CA never gets a request through.
    let rogue = client(
        &ca("rogue CA"),
        vec![uri("spiffe://cluster.test/ns/agents/sa/payments")],
    );
    assert!(
        send(&gate, &server, Some(rogue), "GET", "/payouts/p-1", &[])
            .await
            .is_err()
    );
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn without_a_client_ca_an_mtls_bundle_holds_every_request() {
    let (_tmp, dir) = tempdir();
    let server = test_cert(&dir);
    let bundle_dir = dir.join("bundle");
    std::fs::create_dir(&bundle_dir).unwrap();
    write_bundle(&bundle_dir, MTLS, "", &[]);
    let up = Upstream::start().await;
    let tls = Tls {
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: None,
    };
    let gate = Gate::start(load(&bundle_dir), &up.url(), |c| c.tls = Some(tls)).await;
    let (status, body) = send(
        &gate,
        &server,
        None,
        "GET",
        "/payouts/p-1",
        &[("x-actor", "payments-agent")],
    )
    .await
    .unwrap();
    assert_eq!(status, 409);
    assert_eq!(body["issues"], json!(["ACTOR_ROLE_MISSING"]));
    assert!(up.seen().is_empty());
}

#[test]
fn a_client_ca_that_is_not_a_file_is_a_config_error() {
    let (_tmp, dir) = tempdir();
    let server = test_cert(&dir);
    let mut cfg = toolgate::config::Config {
        policies: Some(dir.clone()),
        ..Default::default()
    };
    cfg.tls = Some(Tls {
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: Some(dir.join("missing-ca.pem")),
    });
    let errs = cfg.validate().unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].path, "tls.client_ca");
}
