//! Verification and signing keys: parsed once, at bundle load (or when the `approve` CLI
//! starts), never per request. One loader serves identity tokens and signed approvals, so
//! the key formats the bundle verifies are exactly the ones `toolgate approve` signs with:
//! a PEM public key (RS256, ES256, EdDSA), a JWKS file, or a raw HMAC secret file (HS256).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// The algorithms toolgate accepts. Anything else (`none`, PS*, RS384, ...) is refused.
pub const SUPPORTED: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("ES256", Algorithm::ES256),
    ("EdDSA", Algorithm::EdDSA),
    ("HS256", Algorithm::HS256),
];

/// An HMAC secret shorter than the hash output would be the weakest link.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Parses an algorithm name as written in a bundle or on the command line.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    SUPPORTED.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// The wire name of a supported algorithm.
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    SUPPORTED
        .iter()
        .find(|(_, a)| *a == alg)
        .map_or("unsupported", |(n, _)| n)
}

/// Which kind of key an algorithm needs; a key of one family never verifies another's
/// signature (no RS256/HS256 confusion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Rsa,
    Ec,
    Ed,
    Hmac,
}

pub fn family(alg: Algorithm) -> Family {
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
        Algorithm::EdDSA => Family::Ed,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        _ => Family::Rsa,
    }
}

/// One verification key.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<Box<str>>,
    pub family: Family,
    /// The one algorithm a JWK pins with `alg`, if it does.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, even a public key: logs are not the place.
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// The keys a bundle trusts for one purpose (identity tokens, or approvals).
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    pub keys: Vec<Key>,
}

/// Where a key set is read from, as the bundle names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormat {
    /// A PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY`.
    PublicKeyPem,
    /// A JSON Web Key Set (RFC 7517): `{"keys": [...]}`.
    Jwks,
    /// The raw bytes of an HMAC secret (trailing whitespace trimmed).
    HmacSecret,
}

impl KeySet {
    /// Parses key file bytes for the given algorithms (already known to be supported).
    /// The error says what is wrong, for a bundle error message.
    pub fn parse(
        format: KeyFormat,
        bytes: &[u8],
        algorithms: &[Algorithm],
    ) -> Result<KeySet, String> {
        let families: Vec<Family> = algorithms.iter().map(|a| family(*a)).collect();
        match format {
            KeyFormat::HmacSecret => {
                if families.iter().any(|f| *f != Family::Hmac) {
                    return Err("an HMAC secret file verifies HS256 only".into());
                }
                let secret = hmac_secret(bytes)?;
                Ok(KeySet {
                    keys: vec![Key {
                        kid: None,
                        family: Family::Hmac,
                        alg: None,
                        key: DecodingKey::from_secret(secret),
                    }],
                })
            }
            KeyFormat::PublicKeyPem => {
                let first = families[0];
                if families.iter().any(|f| *f != first) || first == Family::Hmac {
                    return Err(
                        "a PEM public key verifies one of RS256, ES256 or EdDSA; list only its algorithm"
                            .into(),
                    );
                }
                let text = String::from_utf8_lossy(bytes);
                if text.contains("PRIVATE KEY") {
                    return Err(
                        "the file holds a private key; the bundle needs only the public key (never ship the signing key with the policy)"
                            .into(),
                    );
                }
                let key = match first {
                    Family::Rsa => DecodingKey::from_rsa_pem(bytes),
                    Family::Ec => DecodingKey::from_ec_pem(bytes),
                    Family::Ed => DecodingKey::from_ed_pem(bytes),
                    Family::Hmac => unreachable!("refused above"),
                }
                .map_err(|e| format!("not a PEM {first:?} public key: {e}"))?;
                Ok(KeySet {
                    keys: vec![Key {
                        kid: None,
                        family: first,
                        alg: None,
                        key,
                    }],
                })
            }
            KeyFormat::Jwks => parse_jwks(bytes, algorithms),
        }
    }

    /// The key for a token signed with `alg`, named by `kid` if the token names one. A token
    /// without `kid` is accepted only when exactly one key could verify it.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Key, String> {
        let fits = |k: &&Key| k.family == family(alg) && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(fits)
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or_else(|| format!("no trusted {} key has kid {kid:?}", algorithm_name(alg))),
            None => {
                let mut candidates = self.keys.iter().filter(fits);
                match (candidates.next(), candidates.next()) {
                    (Some(k), None) => Ok(k),
                    (None, _) => Err(format!("no trusted key verifies {}", algorithm_name(alg))),
                    (Some(_), Some(_)) => Err(format!(
                        "the token names no kid and several trusted {} keys could verify it",
                        algorithm_name(alg)
                    )),
                }
            }
        }
    }
}

/// An HMAC secret file's bytes, trailing blanks (a final newline) trimmed, long enough to
/// be a secret.
fn hmac_secret(bytes: &[u8]) -> Result<&[u8], String> {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let secret = &bytes[..end];
    if secret.len() < MIN_HMAC_SECRET_BYTES {
        return Err(format!(
            "the HMAC secret is {} bytes; at least {MIN_HMAC_SECRET_BYTES} are required",
            secret.len()
        ));
    }
    Ok(secret)
}

fn parse_jwks(bytes: &[u8], algorithms: &[Algorithm]) -> Result<KeySet, String> {
    let set: JwkSet =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
    let mut keys: Vec<Key> = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let at = format!("keys[{i}]");
        // Encryption keys may share a published set; they never verify a signature.
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Family::Ec,
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Family::Ed,
            AlgorithmParameters::OctetKey(_) => {
                return Err(format!(
                    "{at}: a symmetric (oct) key; use hmac_secret_file for HS256"
                ))
            }
            _ => return Err(format!("{at}: unsupported key type or curve")),
        };
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(ka) => {
                let name = ka.to_string();
                let alg = parse_algorithm(&name)
                    .ok_or_else(|| format!("{at}: alg {name} is not supported"))?;
                if self::family(alg) != family {
                    return Err(format!("{at}: alg {name} does not fit the key type"));
                }
                Some(alg)
            }
        };
        if !algorithms
            .iter()
            .any(|a| self::family(*a) == family && alg.is_none_or(|k| k == *a))
        {
            // A key no accepted algorithm can use is dead weight, and probably a mistake.
            return Err(format!(
                "{at}: no algorithm listed in algorithms can use this key"
            ));
        }
        let kid = jwk.common.key_id.as_deref().map(Box::from);
        if let Some(kid) = &kid {
            if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(format!("{at}: duplicate kid {kid:?}"));
            }
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("{at}: {e}"))?;
        keys.push(Key {
            kid,
            family,
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err("the key set holds no signature key".into());
    }
    Ok(KeySet { keys })
}

type ParsePem = fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>;

/// A signing key, as `toolgate approve` and `toolgate token` read it: a PEM private key
/// (PKCS#8, or the PKCS#1/SEC1 forms) for RS256, ES256 or EdDSA, or a raw HMAC secret
/// file for HS256. The algorithm follows from the key unless one is given.
pub struct SigningKey {
    pub alg: Algorithm,
    pub key: EncodingKey,
}

impl SigningKey {
    pub fn parse(bytes: &[u8], alg: Option<Algorithm>) -> Result<SigningKey, String> {
        let is_pem = String::from_utf8_lossy(bytes).contains("-----BEGIN");
        if !is_pem {
            if alg.is_some_and(|a| family(a) != Family::Hmac) {
                return Err("the key file is not PEM; only HS256 uses a raw secret".into());
            }
            let secret = hmac_secret(bytes)?;
            return Ok(SigningKey {
                alg: Algorithm::HS256,
                key: EncodingKey::from_secret(secret),
            });
        }
        let tries: [(Algorithm, ParsePem); 3] = [
            (Algorithm::EdDSA, EncodingKey::from_ed_pem),
            (Algorithm::ES256, EncodingKey::from_ec_pem),
            (Algorithm::RS256, EncodingKey::from_rsa_pem),
        ];
        for (a, parse) in tries {
            if alg.is_some_and(|want| want != a) {
                continue;
            }
            if let Ok(key) = parse(bytes) {
                return Ok(SigningKey { alg: a, key });
            }
        }
        Err(match alg {
            Some(a) => format!("not a PEM private key for {}", algorithm_name(a)),
            None => "not a PEM private key for RS256, ES256 or EdDSA".into(),
        })
    }

    /// Signs `claims` into a compact JWS (header `typ: JWT`, `alg`, and `kid` if given).
    pub fn sign<T: serde::Serialize>(
        &self,
        kid: Option<&str>,
        claims: &T,
    ) -> Result<String, String> {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| format!("signing failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_round_trip_and_none_is_refused() {
        for (name, alg) in SUPPORTED {
            assert_eq!(parse_algorithm(name), Some(*alg));
            assert_eq!(algorithm_name(*alg), *name);
        }
        assert_eq!(parse_algorithm("none"), None);
        assert_eq!(parse_algorithm("rs256"), None);
    }

    #[test]
    fn hmac_secrets_are_trimmed_and_must_be_long() {
        let short = KeySet::parse(KeyFormat::HmacSecret, b"short\n", &[Algorithm::HS256]);
        assert!(short.unwrap_err().contains("at least 32"));
        let ok = KeySet::parse(
            KeyFormat::HmacSecret,
            b"0123456789abcdef0123456789abcdef\n",
            &[Algorithm::HS256],
        );
        assert_eq!(ok.unwrap().keys.len(), 1);
        let mixed = KeySet::parse(
            KeyFormat::HmacSecret,
            b"0123456789abcdef0123456789abcdef",
            &[Algorithm::HS256, Algorithm::ES256],
        );
        assert!(mixed.is_err());
    }

    #[test]
    fn a_private_key_is_refused_where_a_public_key_belongs() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let err = KeySet::parse(
            KeyFormat::PublicKeyPem,
            kp.serialize_pem().as_bytes(),
            &[Algorithm::ES256],
        )
        .unwrap_err();
        assert!(err.contains("private key"), "{err}");
        let ok = KeySet::parse(
            KeyFormat::PublicKeyPem,
            kp.public_key_pem().as_bytes(),
            &[Algorithm::ES256],
        );
        assert!(ok.is_ok());
        let signing = SigningKey::parse(kp.serialize_pem().as_bytes(), None).unwrap();
        assert_eq!(signing.alg, Algorithm::ES256);
    }
}
