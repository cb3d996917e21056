//! toolgate: an authorization sidecar that decides ALLOW / DEFER / DENY inline, for every
//! request to the tool API it guards, against a versioned policy bundle.
//!
//! The request path is one module per stage: [`classify`] (normalize + route) ->
//! [`extract`] (context facts) -> [`policy`] (pure evaluation) -> forward. A bundle is
//! loaded and compiled by [`bundle`] into one immutable snapshot.

#![deny(unsafe_code)]

pub mod admin;
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
pub mod jose;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod snapshot;
