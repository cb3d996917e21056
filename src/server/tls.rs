//! TLS termination: a rustls server config (ring provider, TLS 1.2 and 1.3) from PEM files,
//! offering ALPN `h2` and `http/1.1` so clients pick HTTP/2 by negotiation. With a client
//! CA, client certificates are requested and verified (`WebPkiClientVerifier`); a client
//! may still connect without one, and the bundle decides what that means.

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Builds the acceptor from a PEM certificate chain and a PEM private key, and optionally
/// the PEM CA certificates client certificates must chain to.
pub fn acceptor(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls.cert: reading {}", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "tls.cert: {} holds no certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls.key: reading {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("tls.client_ca: reading {}", ca.display()))?
            {
                let c = c.with_context(|| format!("tls.client_ca: reading {}", ca.display()))?;
                roots
                    .add(c)
                    .with_context(|| format!("tls.client_ca: {}", ca.display()))?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "tls.client_ca: {} holds no certificate",
                ca.display()
            );
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    // No certificate is a missing credential, decided by the bundle (DEFER),
                    // not a failed handshake; a certificate that does not verify still fails.
                    .allow_unauthenticated()
                    .build()
                    .context("tls.client_ca: cannot build the client verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("tls: certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
