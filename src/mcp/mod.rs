//! MCP awareness for Streamable HTTP: an MCP server has one endpoint and the operation lives
//! in the JSON-RPC body, so the body is read ([`message`]) to find which route of the bundle
//! judges it ([`endpoint`]): lifecycle methods pass, a `tools/call` is judged by its tool's
//! route with its arguments as context, anything unmapped is refused. Refusals are JSON-RPC
//! errors an MCP client decodes ([`reply`]), and `tools/list` answers show the caller only
//! the tools it may call ([`list`]). Pure, but for the body transform of [`list`].

pub mod endpoint;
pub mod list;
pub mod message;
pub mod reply;

pub use endpoint::{Endpoint, RefusalStyle, Target};
pub use message::{Kind, Malformed, Message};
