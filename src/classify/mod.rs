//! Classification, the first stage of the request path: check that the request head is one
//! toolgate and any upstream read alike and normalize its target once (`target`, over
//! `normalize`), then match it against the bundle's compiled route table (`router`). What
//! is matched is exactly what will be forwarded.

pub mod normalize;
pub mod router;
pub mod target;
