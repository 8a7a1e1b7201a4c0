//! The hub's faces to the world: HTTP (one listener and its security layer), the MCP
//! endpoint, mcp-hub's REST API, and `serve`, which runs them until a signal.

pub mod http;
pub mod mcp;
pub mod rest;
pub mod serve;
