//! `kind: Bundle` as written: name, version, environments, identity, approvals, classes,
//! risk, windows and questions.

use super::{OrderedMap, Str};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleDoc {
    #[serde(rename = "apiVersion")]
    pub _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    pub _kind: Option<IgnoredAny>,
    pub metadata: Spanned<BundleMeta>,
    #[serde(default)]
    pub spec: BundleSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleMeta {
    pub name: Str,
    pub version: Str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSpec {
    pub environments: Option<Vec<Str>>,
    /// Where the actor and role come from (`crate::identity`). Absent: trusted headers.
    pub identity: Option<Spanned<IdentitySpec>>,
    #[serde(default)]
    pub approval: ApprovalSpec,
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(default)]
    pub side_effects: OrderedMap<Str, ClassSpec>,
    #[serde(default)]
    pub risk: RiskSpec,
    #[serde(default)]
    pub windows: OrderedMap<Str, WindowSpec>,
    #[serde(default)]
    pub questions: OrderedMap<Str, String>,
    /// `enforce` (default) or `shadow`: the mode of every route that sets none.
    pub mode: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    pub max_age: Option<Str>,
    pub clock_skew: Option<Str>,
    /// `headers` (the default: `x-approval-*` context as mapped) or `signed` (a JWS in
    /// `x-approval`, verified with the key below; see `crate::approval`).
    pub source: Option<Str>,
    pub algorithm: Option<Str>,
    pub public_key_file: Option<Str>,
    pub jwks_file: Option<Str>,
    pub hmac_secret_file: Option<Str>,
    /// The longest lifetime (`exp - iat`) a signed approval may have. Default 1h.
    pub max_ttl: Option<Str>,
}

/// `spec.identity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// `trusted_headers`, `jwt` or `mtls`.
    pub source: Str,
    pub jwt: Option<Spanned<JwtSpec>>,
    pub mtls: Option<Spanned<MtlsSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    pub issuer: Str,
    pub audience: Str,
    pub algorithms: Spanned<Vec<Str>>,
    pub public_key_file: Option<Str>,
    pub jwks_file: Option<Str>,
    pub hmac_secret_file: Option<Str>,
    #[serde(default)]
    pub claims: JwtClaimsSpec,
    pub leeway: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtClaimsSpec {
    pub actor: Option<Str>,
    pub actor_role: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsSpec {
    pub subjects: Vec<Spanned<SubjectSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectSpec {
    pub uri: Option<Str>,
    pub dns: Option<Str>,
    pub actor: Str,
    pub actor_role: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub amount_field: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    #[serde(default)]
    pub labels: Vec<Str>,
    pub risk: Option<Spanned<u64>>,
    #[serde(default)]
    pub destructive: bool,
    #[serde(default)]
    pub questions: OrderedMap<Str, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSpec {
    pub unclassified: Option<Spanned<u64>>,
    pub defer_unclassified: Option<bool>,
    #[serde(default)]
    pub environments: OrderedMap<Str, Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub time_zone: Str,
    pub days: Spanned<Vec<Str>>,
    pub start: Str,
    pub end: Str,
}
