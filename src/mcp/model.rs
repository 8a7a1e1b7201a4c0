//! The protocol's model types and error object, re-exported from the SDK: the rest of
//! the library names them through here.

pub use rmcp::model::{
    CallToolRequestParams, CallToolResult, ErrorCode, GetPromptRequestParams, GetPromptResult,
    JsonObject, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, Prompt,
    ReadResourceRequestParams, ReadResourceResult, Resource, ResourceTemplate,
    ResourceUpdatedNotificationParam, Tool,
};

/// The protocol's error object (`code`, `message`, `data`).
pub type McpError = rmcp::ErrorData;
