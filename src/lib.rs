//! toolgate: an authorization sidecar that decides ALLOW / DEFER / DENY inline, for every
//! request to the tool API it guards, against a versioned policy bundle.
//!
//! # Layout
//!
//! From the top (the command line) down; no module imports one above it.
//!
//! | module | owns |
//! | --- | --- |
//! | `demo` | `toolgate demo`: the sidecars, a mock tool API and the scenario replay |
//! | [`app`] | the sidecar wired: live and candidate bundles, proxy, admin, audit, shutdown order |
//! | [`api`] | the decision API: Stage0's `POST /check` on its own listener, API keys |
//! | [`inbox`] | the review inbox: pending reviews, approve / reject, decision traces (`toolgate review`) |
//! | [`admin`] | the admin listener: health, readiness, metrics, reload, `/v1/check`, decisions |
//! | [`commands`] | the policy CLI: `check`, `validate`, `test`, `approve`, `token` |
//! | [`server`] | the proxy listener: accept, TLS, HTTP/1.1 framing guard, HTTP/2, deadlines |
//! | [`reload`] | hot reload: build a snapshot off the request path, swap it atomically |
//! | [`proxy`] | the request path's orchestrator, its refusals and its trail (audit + metrics) |
//! | [`bundle`] | loading a bundle: parse, validate, compile; its own test cases and runner |
//! | [`candidate`] | judging each request with a candidate bundle, never enforced |
//! | [`forward`] | stage 5: the upstream client and its bounded connection pool |
//! | [`decide`] | stages 2-4 as one pure function: admit, extract, verify, authorize |
//! | [`ops`] | the operational state shared by proxy and admin: metrics, audit sink, candidate |
//! | [`authorize`] | stage 4: evaluate an action, and forward, deny or defer |
//! | [`audit`] | the audit record and its sink |
//! | [`snapshot`] | the hot state: one immutable compiled bundle |
//! | [`state`] | runtime state shared across requests (and with Redis, replicas): used approvals, counted limits |
//! | [`identity`] | stage 3: verified identity and signed approvals as facts |
//! | [`approval`] | signed approvals: the token, its binding |
//! | [`extract`] | stage 2: the compiled context map and per-request extraction |
//! | [`mcp`] | MCP over Streamable HTTP: the JSON-RPC message, the route that judges it, JSON-RPC refusals, `tools/list` filtering |
//! | [`classify`] | stage 1: the request head checked, the target normalized, the route matched |
//! | [`metrics`] | every Prometheus series, in one owned registry |
//! | [`config`] | `toolgate.yaml`: plain serde data and its validation |
//! | [`policy`] | the decision engine: pure and deterministic |
//! | [`jose`] | keys and compact JWS verification |
//! | [`headers`] | header rules for both legs, request ids |
//! | [`duration`] | the one duration grammar |
//! | [`redact`] | what a reviewer is shown of a body or MCP arguments: JSON with the bundle's `redact` fields masked, bounded |
//! | [`reply`] | small JSON replies and bounded payload reads of the admin and API listeners |
//! | [`body`] | the body type of both legs |
//! | [`clock`] | where "now" comes from |
//!
//! # A request's life
//!
//! [`server`] accepts the connection and hands each request to [`proxy::handle`], which
//! loads the [`snapshot`] once and runs the stages in order: [`classify`] (head, target,
//! route) -> intake (what of the body is read, `proxy::intake`) -> [`decide`] ([`extract`]
//! the context, verify evidence with [`identity`], [`authorize`]) -> claim and count in the
//! [`state`] store -> [`forward`]. Every other way out is a `proxy::refusal::Refusal`, rendered in one
//! place; the trail writes one [`audit`] record and counts into [`metrics`].

#![deny(unsafe_code)]

pub mod admin;
pub mod api;
pub mod app;
pub mod approval;
pub mod audit;
pub mod authorize;
pub mod body;
pub mod bundle;
pub mod candidate;
pub mod classify;
pub mod clock;
pub mod commands;
pub mod config;
pub mod decide;
pub mod demo;
pub mod duration;
pub mod extract;
pub mod forward;
pub mod headers;
pub mod identity;
pub mod inbox;
pub mod jose;
pub mod mcp;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod proxy;
pub mod redact;
pub mod reload;
pub mod reply;
pub mod server;
pub mod snapshot;
pub mod state;
