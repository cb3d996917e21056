//! A small in-code bundle for transport-level tests: routes whose verdict does not depend
//! on policy subtleties. (Policy scenarios use the shipped `policies/tools` bundle.)

use http::{HeaderName, Method};
use std::sync::Arc;
use toolgate::classify::router::RouteTable;
use toolgate::extract::{ContextMap, Field, Source};
use toolgate::policy::{Policy, Requirements};
use toolgate::snapshot::{BundleMeta, Mode, Route, Snapshot};

pub const POLICY_VERSION: &str = "fixture@1";
pub const ENV_HEADER: &str = "x-environment";

/// `GET /items/{id}` allowed; `DELETE /items/{id}` forbidden; `POST /orders` reads its JSON
/// body and is allowed; `PUT /files/{*rest}` streams its body and is allowed;
/// `POST /approve` defers (approval required); `POST /shadow` is forbidden in shadow mode.
pub fn snapshot() -> Snapshot {
    let policy = Policy {
        policy_version: POLICY_VERSION.into(),
        digest: "sha256:fixture".into(),
        ..Policy::default()
    };
    let env = || ContextMap {
        fields: vec![(
            Field::Environment,
            vec![Source::Header(HeaderName::from_static(ENV_HEADER))],
        )],
        reads_body: false,
        headers: vec![HeaderName::from_static(ENV_HEADER)],
        amount: None,
    };
    let forbid = Requirements {
        forbid: true,
        ..Requirements::default()
    };
    let approval = Requirements {
        approval: true,
        ..Requirements::default()
    };
    let spec: Vec<(&str, Method, &str, Requirements, ContextMap, Mode)> = vec![
        (
            "read_item",
            Method::GET,
            "/items/{id}",
            Requirements::default(),
            env(),
            Mode::Enforce,
        ),
        (
            "delete_item",
            Method::DELETE,
            "/items/{id}",
            forbid.clone(),
            env(),
            Mode::Enforce,
        ),
        (
            "create_order",
            Method::POST,
            "/orders",
            Requirements::default(),
            ContextMap::compile(
                vec![
                    (
                        Field::Environment,
                        vec![Source::Header(HeaderName::from_static(ENV_HEADER))],
                    ),
                    (
                        Field::RunId,
                        vec![Source::parse_pointer("/run_id").unwrap()],
                    ),
                ],
                "amount",
            ),
            Mode::Enforce,
        ),
        (
            "upload",
            Method::PUT,
            "/files/{*rest}",
            Requirements::default(),
            env(),
            Mode::Enforce,
        ),
        (
            "approve",
            Method::POST,
            "/approve",
            approval,
            env(),
            Mode::Enforce,
        ),
        (
            "shadow",
            Method::POST,
            "/shadow",
            forbid,
            env(),
            Mode::Shadow,
        ),
    ];
    let routes: Vec<Route> = spec
        .into_iter()
        .map(|(name, method, path, req, context, mode)| Route {
            name: name.into(),
            path: path.into(),
            action: policy.prepare(Some(name), name, &[] as &[&str], &[], req, None),
            refuses_body: toolgate::snapshot::is_bodiless_method(&method) && !context.reads_body,
            kind: Default::default(),
            review: Default::default(),
            method,
            context,
            mode,
        })
        .collect();
    let table = RouteTable::build(routes.iter().map(|r| (&r.method, &*r.path))).unwrap();
    Snapshot {
        meta: BundleMeta {
            name: "fixture".into(),
            version: "1".into(),
            policy_version: POLICY_VERSION.into(),
            policy_version_header: toolgate::headers::tag_value(POLICY_VERSION),
            digest: "sha256:fixture".into(),
            dir: ".".into(),
            loaded_at: "2026-03-16T10:00:00Z".parse().unwrap(),
        },
        policy,
        routes,
        table,
        mcp: Vec::new(),
        amount_field: Arc::from("amount"),
        route_metrics: Default::default(),
        trust: Default::default(),
    }
}
