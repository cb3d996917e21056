//! Harness for the identity and approval tests: keys generated per test (RSA from a
//! committed test-only fixture), a small bundle written to a temp dir with the identity and
//! approval settings under test, and token minting with the same code the CLI uses;
//! toolgate itself starts as in every other test (`support::Gate`, its clock moved with
//! `set_clock`).
#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use toolgate::approval::request::mint;
use toolgate::approval::{ApprovalRequest, Binding};
use toolgate::jose::keys::SigningKey;
use toolgate::snapshot::Snapshot;

/// Monday 2026-03-16 10:00 UTC, where every test's clock starts.
pub const T0: &str = "2026-03-16T10:00:00Z";
pub const ISSUER: &str = "https://idp.test";
pub const AUDIENCE: &str = "toolgate";

pub fn t0() -> Timestamp {
    T0.parse().unwrap()
}

/// RFC 4648 base64url without padding (JWK coordinates).
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A key pair: the private half as the CLI reads it, the public half as a bundle names it.
pub struct TestKey {
    pub private_pem: Vec<u8>,
    /// (file name, bytes) for the bundle dir.
    pub public_file: (&'static str, Vec<u8>),
    /// `public_key_file`, `jwks_file` or `hmac_secret_file`.
    pub yaml_key: &'static str,
    pub alg: &'static str,
}

impl TestKey {
    pub fn es256_jwks(kid: &str) -> TestKey {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = kp.public_key_raw();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
            "x": b64url(&raw[1..33]), "y": b64url(&raw[33..65])}]});
        TestKey {
            private_pem: kp.serialize_pem().into_bytes(),
            public_file: ("jwks.json", serde_json::to_vec(&jwks).unwrap()),
            yaml_key: "jwks_file",
            alg: "ES256",
        }
    }

    pub fn es256() -> TestKey {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        TestKey {
            private_pem: kp.serialize_pem().into_bytes(),
            public_file: ("es256.pub.pem", kp.public_key_pem().into_bytes()),
            yaml_key: "public_key_file",
            alg: "ES256",
        }
    }

    pub fn ed25519() -> TestKey {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        TestKey {
            private_pem: kp.serialize_pem().into_bytes(),
            public_file: ("ed25519.pub.pem", kp.public_key_pem().into_bytes()),
            yaml_key: "public_key_file",
            alg: "EdDSA",
        }
    }

    pub fn rs256() -> TestKey {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys");
        TestKey {
            private_pem: std::fs::read(dir.join("rsa-test.key.pem")).unwrap(),
            public_file: (
                "rsa.pub.pem",
                std::fs::read(dir.join("rsa-test.pub.pem")).unwrap(),
            ),
            yaml_key: "public_key_file",
            alg: "RS256",
        }
    }

    pub fn hs256(secret: &str) -> TestKey {
        TestKey {
            private_pem: secret.as_bytes().to_vec(),
            public_file: ("hmac.secret", secret.as_bytes().to_vec()),
            yaml_key: "hmac_secret_file",
            alg: "HS256",
        }
    }

    pub fn signing(&self) -> SigningKey {
        SigningKey::parse(&self.private_pem, None).unwrap()
    }

    /// An identity token with the standard claims plus `extra`, valid from `iat` for `ttl`.
    pub fn token(
        &self,
        kid: Option<&str>,
        sub: &str,
        roles: Value,
        iat: Timestamp,
        ttl: i64,
    ) -> String {
        self.token_with(kid, json!({"sub": sub, "roles": roles}), iat, ttl)
    }

    pub fn token_with(&self, kid: Option<&str>, extra: Value, iat: Timestamp, ttl: i64) -> String {
        let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "iat": iat.as_second(),
            "exp": iat.as_second() + ttl});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.signing().sign(kid, &claims).unwrap()
    }

    /// A signed approval for `binding`.
    pub fn approval(&self, binding: &Binding, by: &str, at: Timestamp, ttl_secs: i64) -> String {
        mint(
            &self.signing(),
            None,
            binding,
            by,
            at,
            SignedDuration::from_secs(ttl_secs),
        )
        .unwrap()
    }
}

/// `identity:` YAML for a jwt source with `key`.
pub fn jwt_identity(key: &TestKey) -> String {
    format!(
        "identity:\n    source: jwt\n    jwt:\n      issuer: {ISSUER}\n      audience: {AUDIENCE}\n      algorithms: [{}]\n      {}: {}\n      leeway: 30s\n",
        key.alg, key.yaml_key, key.public_file.0
    )
}

/// The `approval:` keys for signed approvals with `key`.
pub fn signed_approvals(key: &TestKey) -> String {
    format!(
        "source: signed\n    algorithm: {}\n    {}: {}\n    max_ttl: 2h\n",
        key.alg, key.yaml_key, key.public_file.0
    )
}

pub const ROUTES: &str = r#"apiVersion: toolgate.dev/v1alpha1
kind: RouteMap
spec:
  defaults:
    context:
      actor: { header: x-actor }
      actor_role: { header: x-actor-role }
      approval_status: { header: x-approval-status }
      approved_by: { header: x-approved-by }
      approved_at: { header: x-approved-at }
      environment: { header: x-environment }
      run_id: { header: x-run-id }
  routes:
    - { name: payouts-get, method: GET, path: "/payouts/{id}", goal: Read a payout, side_effects: [read] }
    - name: payouts-create
      method: POST
      path: /payouts
      goal: Create a payout
      side_effects: [payout]
      constraints: ["human approval required", "required_role:finance_operator", "max_amount:100000"]
      context: { amount: { body: /amount } }
    - name: tenants-delete
      method: DELETE
      path: "/tenants/{id}"
      goal: Delete a tenant
      side_effects: [delete]
      constraints: ["required_role:platform_admin"]
"#;

/// Writes a bundle to `dir`: `identity` (a whole `identity:` block, or empty), `approval`
/// (keys under `approval:`, or empty), and `files` beside it.
pub fn write_bundle(dir: &Path, identity: &str, approval: &str, files: &[(&str, &[u8])]) {
    let bundle = format!(
        "apiVersion: toolgate.dev/v1alpha1\nkind: Bundle\nmetadata: {{ name: trust-test, version: \"1\" }}\nspec:\n  environments: [staging, production]\n  {identity}\n  approval:\n    max_age: 30m\n    clock_skew: 60s\n    {approval}\n  side_effects:\n    money_movement: {{ labels: [payout], risk: 40 }}\n    destructive: {{ labels: [delete], risk: 50, destructive: true }}\n    read: {{ labels: [read] }}\n"
    );
    std::fs::write(dir.join("bundle.yaml"), bundle).unwrap();
    std::fs::write(dir.join("routes.yaml"), ROUTES).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

pub fn load(dir: &Path) -> Snapshot {
    toolgate::bundle::load(dir, t0()).unwrap_or_else(|e| panic!("{e}"))
}

/// The approval request of a 409 body.
pub fn approval_request(body: &Value) -> ApprovalRequest {
    serde_json::from_value(body["approval_request"].clone())
        .unwrap_or_else(|e| panic!("{e}: {body}"))
}

pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().to_path_buf();
    (d, p)
}

/// Runs the toolgate binary with `stdin`; (exit code, stdout, stderr).
pub fn toolgate(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}
