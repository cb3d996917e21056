//! The bounded `method` label of `toolgate_mcp_messages_total`.

/// The `method` label of `toolgate_mcp_messages_total`: the methods of the MCP
/// specification by name, and three buckets for the rest, so the label stays bounded
/// whatever a client sends.
pub const MCP_METHODS: [&str; 22] = [
    "initialize",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "ping",
    "server/discover",
    "subscriptions/listen",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    // A client's JSON-RPC response to the server.
    "response",
    // Any other method.
    "other",
    // Not one readable JSON-RPC message.
    "malformed",
];

/// The index in [`MCP_METHODS`] of a message calling `method` (`response`: a client's
/// JSON-RPC response, which calls none).
pub fn mcp_method_label(response: bool, method: Option<&str>) -> usize {
    let other = MCP_METHODS.len() - 2;
    match (response, method) {
        (true, _) => other - 1,
        (_, Some(m)) => MCP_METHODS[..other - 1]
            .iter()
            .position(|l| *l == m)
            .unwrap_or(other),
        (_, None) => other,
    }
}

/// The index in [`MCP_METHODS`] of a malformed message.
pub const MCP_MALFORMED: usize = MCP_METHODS.len() - 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_bounded() {
        assert_eq!(
            MCP_METHODS[mcp_method_label(false, Some("tools/call"))],
            "tools/call"
        );
        assert_eq!(
            MCP_METHODS[mcp_method_label(false, Some("Tools/Call"))],
            "other"
        );
        assert_eq!(
            MCP_METHODS[mcp_method_label(false, Some("response"))],
            "other"
        );
        assert_eq!(
            MCP_METHODS[mcp_method_label(false, Some("malformed"))],
            "other"
        );
        assert_eq!(MCP_METHODS[mcp_method_label(true, None)], "response");
        assert_eq!(MCP_METHODS[MCP_MALFORMED], "malformed");
    }
}
