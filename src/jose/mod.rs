//! JOSE, below both of its users (bearer-token identity and signed approvals): the keys a
//! bundle names, in every accepted format ([`keys`]), and compact JWS verification with
//! time claims checked against an injected instant ([`claims`]).

pub mod claims;
pub mod keys;
