//! `kind: RouteMap` as written: routes and where their context is read.

use super::{DocMeta, OrderedMap, Str};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde::Deserializer;
use serde_saphyr::Spanned;
use std::fmt;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMapDoc {
    #[serde(rename = "apiVersion")]
    pub _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    pub _kind: Option<IgnoredAny>,
    #[serde(default, rename = "metadata")]
    pub _metadata: DocMeta,
    pub spec: RouteMapSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMapSpec {
    #[serde(default)]
    pub defaults: RouteDefaults,
    pub routes: Vec<Spanned<RouteSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDefaults {
    #[serde(default)]
    pub context: OrderedMap<Str, Spanned<Sources>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub name: Str,
    pub method: Str,
    pub path: Str,
    pub goal: Str,
    #[serde(default)]
    pub tools: Vec<Str>,
    #[serde(default)]
    pub side_effects: Vec<Str>,
    #[serde(default)]
    pub constraints: Vec<Str>,
    #[serde(default)]
    pub context: OrderedMap<Str, Spanned<Sources>>,
    #[serde(default)]
    pub questions: OrderedMap<Str, String>,
    pub mode: Option<Str>,
    /// GET, HEAD, DELETE, OPTIONS and TRACE routes only: stream a request body to the
    /// upstream unevaluated instead of refusing one. Default false.
    pub allow_body: Option<Spanned<bool>>,
    /// RFC 6901 pointers into the body: masked in what a reviewer of a deferred request sees.
    #[serde(default)]
    pub redact: Vec<Str>,
    /// The reviewer roles that may approve a deferred request: any one; empty = any reviewer.
    #[serde(default)]
    pub reviewer_roles: Vec<Str>,
}

/// Where one context field is read: exactly one of the keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub header: Option<String>,
    pub param: Option<String>,
    pub query: Option<String>,
    pub body: Option<String>,
    /// MCP tools and prompts only: a JSON pointer into the call's `params.arguments`.
    pub argument: Option<String>,
}

/// A context field's sources: one mapping, or a list of them (all must agree at runtime).
#[derive(Debug)]
pub enum Sources {
    One(SourceSpec),
    Many(Vec<Spanned<SourceSpec>>),
}

impl<'de> Deserialize<'de> for Sources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SourcesVisitor;
        impl<'de> Visitor<'de> for SourcesVisitor {
            type Value = Sources;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a source ({header|param|query|body: ...}) or a list of sources")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Sources, A::Error> {
                SourceSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Sources::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sources, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element()? {
                    all.push(s);
                }
                Ok(Sources::Many(all))
            }
        }
        d.deserialize_any(SourcesVisitor)
    }
}
