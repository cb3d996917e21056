//! `kind: TestSuite` as written: a bundle's own test cases.

use super::{DocMeta, OrderedMap, Str};
use crate::policy::CheckRequest;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSuiteDoc {
    #[serde(rename = "apiVersion")]
    pub _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    pub _kind: Option<IgnoredAny>,
    #[serde(default, rename = "metadata")]
    pub _metadata: DocMeta,
    pub spec: TestSuiteSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSuiteSpec {
    pub tests: Vec<Spanned<TestSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub name: Str,
    pub now: Option<Str>,
    pub request: Option<Spanned<RequestSpec>>,
    pub check: Option<Spanned<CheckRequest>>,
    pub expect: Spanned<ExpectSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    pub method: Str,
    pub path: Str,
    #[serde(default)]
    pub headers: OrderedMap<Str, String>,
    pub body: Option<serde_json::Value>,
    /// The verified client certificate the request arrives with (mTLS identity).
    pub client_cert: Option<ClientCertSpec>,
}

/// A client certificate's SANs, as rustls would have verified them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertSpec {
    #[serde(default)]
    pub uri: Vec<String>,
    #[serde(default)]
    pub dns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    pub verdict: Str,
    pub issues: Option<Vec<Str>>,
    pub issues_include: Option<Vec<Str>>,
    pub route: Option<Str>,
    pub defer_questions: Option<Vec<String>>,
    pub defer_questions_include: Option<Vec<String>>,
}
