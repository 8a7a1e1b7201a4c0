//! The protocol's model types and error object, re-exported from the SDK: the rest of
//! the library names them through here.

pub use rmcp::model::{
    CallToolRequestParams, CallToolResult, CompleteRequestParams, CompleteResult, ErrorCode,
    GetPromptRequestParams, GetPromptResult, JsonObject, LoggingMessageNotificationParam,
    ProgressNotificationParam, ProgressToken, Prompt, ReadResourceRequestParams,
    ReadResourceResult, Reference, Resource, ResourceTemplate, ResourceUpdatedNotificationParam,
    SetLevelRequestParams, SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};

/// The protocol's error object (`code`, `message`, `data`).
pub type McpError = rmcp::ErrorData;
