//! Everything that touches the protocol SDK (rmcp) lives under this module, so that a
//! new SDK major changes here and nowhere else. The rest of the library speaks in the
//! re-exported model types and in [`client::Connection`] / [`server::HubService`].

// The hub relays `notifications/message` for clients on revisions that still have
// logging (2025-06-18, 2025-11-25), though the SDK marks it deprecated (SEP-2577).
#![allow(deprecated)]

pub mod client;
pub mod server;

/// Protocol model types the rest of the library uses, re-exported from the SDK.
pub mod model {
    pub use rmcp::model::{
        CallToolRequestParams, CallToolResult, GetPromptRequestParams, GetPromptResult, JsonObject,
        LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, Prompt,
        ReadResourceRequestParams, ReadResourceResult, Resource, ResourceTemplate,
        ResourceUpdatedNotificationParam, Tool,
    };
}

/// The protocol's error object (`code`, `message`, `data`).
pub type McpError = rmcp::ErrorData;
