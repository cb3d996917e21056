//! Classification, the first stage of the request path: normalize the request target once
//! (`normalize`), then match it against the bundle's compiled route table (`router`). What
//! is matched is exactly what will be forwarded.

pub mod normalize;
pub mod router;
