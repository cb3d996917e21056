//! Client-certificate identity. rustls verifies the certificate chain against the
//! configured client CA during the handshake (`tls.client_ca`); the connection then carries
//! the verified leaf's URI and DNS subject alternative names to every request on it, as a
//! request extension the wire cannot set. The bundle maps a SAN to an actor and a role.

use super::{IdentityError, Verified};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// The verified client certificate of a connection: its SANs, read once per connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCert {
    pub uris: Arc<[Box<str>]>,
    pub dns: Arc<[Box<str>]>,
}

impl ClientCert {
    /// The SANs of a leaf certificate rustls has already verified. A certificate whose
    /// SANs cannot be read yields none, so no subject maps it (IDENTITY_INVALID).
    pub fn from_der(der: &CertificateDer<'_>) -> ClientCert {
        match webpki::EndEntityCert::try_from(der) {
            Ok(cert) => ClientCert {
                uris: cert.valid_uri_names().map(Box::from).collect(),
                dns: cert.valid_dns_names().map(Box::from).collect(),
            },
            Err(_) => ClientCert::default(),
        }
    }
}

/// What a SAN must equal for a subject to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    Uri(Box<str>),
    Dns(Box<str>),
}

/// One `identity.mtls.subjects` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub san: San,
    pub actor: Box<str>,
    pub actor_role: Option<Box<str>>,
}

/// A compiled `identity.mtls` block: subjects in bundle order, the first match wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MtlsMap {
    pub subjects: Vec<Subject>,
}

impl MtlsMap {
    /// Maps a connection's certificate; `None` (no certificate) is a missing credential.
    pub fn verify(&self, cert: Option<&ClientCert>) -> Result<Verified, IdentityError> {
        let Some(cert) = cert else {
            return Err(IdentityError::Missing(
                "no client certificate was presented",
            ));
        };
        let found = self.subjects.iter().find(|s| match &s.san {
            San::Uri(u) => cert.uris.iter().any(|c| c == u),
            // DNS names compare case-insensitively (RFC 4343).
            San::Dns(d) => cert.dns.iter().any(|c| c.eq_ignore_ascii_case(d)),
        });
        match found {
            Some(s) => Ok(Verified {
                actor: s.actor.to_string(),
                roles: s.actor_role.iter().map(|r| r.to_string()).collect(),
            }),
            None => Err(IdentityError::Invalid(format!(
                "the client certificate (URI SANs {:?}, DNS SANs {:?}) maps to no subject of the bundle",
                cert.uris, cert.dns
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_are_read_from_a_certificate_and_mapped() {
        let mut params =
            rcgen::CertificateParams::new(vec!["payments-agent.internal".into()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://example.test/agent/payments".try_into().unwrap(),
        ));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cc = ClientCert::from_der(cert.der());
        assert_eq!(
            &*cc.uris,
            &[Box::<str>::from("spiffe://example.test/agent/payments")]
        );
        assert_eq!(&*cc.dns, &[Box::<str>::from("payments-agent.internal")]);

        let map = MtlsMap {
            subjects: vec![
                Subject {
                    san: San::Dns("PAYMENTS-agent.internal".into()),
                    actor: "by-dns".into(),
                    actor_role: None,
                },
                Subject {
                    san: San::Uri("spiffe://example.test/agent/payments".into()),
                    actor: "by-uri".into(),
                    actor_role: Some("finance_operator".into()),
                },
            ],
        };
        assert_eq!(map.verify(Some(&cc)).unwrap().actor, "by-dns");
        assert!(matches!(map.verify(None), Err(IdentityError::Missing(_))));
        let other = ClientCert {
            uris: Arc::from(vec![Box::from("spiffe://example.test/other")]),
            dns: Arc::from(Vec::new()),
        };
        assert!(matches!(
            map.verify(Some(&other)),
            Err(IdentityError::Invalid(_))
        ));
    }
}
