//! `kind: RuleSet` as written: rules, their conditions and requirements.

use super::{DocMeta, Str};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetDoc {
    #[serde(rename = "apiVersion")]
    pub _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    pub _kind: Option<IgnoredAny>,
    #[serde(default, rename = "metadata")]
    pub _metadata: DocMeta,
    pub spec: RuleSetSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    pub rules: Vec<Spanned<RuleSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: Str,
    pub when: Option<Spanned<WhenSpec>>,
    pub require: Option<Spanned<RequireSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenSpec {
    pub side_effects: Option<Spanned<Vec<Str>>>,
    pub tools: Option<Spanned<Vec<Str>>>,
    pub routes: Option<Spanned<Vec<Str>>>,
    pub environments: Option<Spanned<Vec<Str>>>,
    pub min_risk: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireSpec {
    #[serde(default)]
    pub approval: bool,
    pub roles: Option<Spanned<Vec<Str>>>,
    pub environments: Option<Spanned<Vec<Str>>>,
    pub change_window: Option<Str>,
    #[serde(default)]
    pub rollback_plan: bool,
    #[serde(default)]
    pub mfa: bool,
    pub max_iterations: Option<u64>,
    pub timeout: Option<Str>,
    pub max_cost_usd: Option<Spanned<f64>>,
    pub max_amount: Option<Spanned<f64>>,
    #[serde(default)]
    pub deny: bool,
    #[serde(default)]
    pub constraints: Vec<Str>,
}
