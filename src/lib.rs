//! mcphub: one MCP endpoint in front of many MCP servers, and the toolkit that
//! watches it. The `mcphub` binary (in `commands/`) is a thin layer over this library.

pub mod backends;
pub mod catalog;
pub mod config;
pub mod http;
pub mod hub;
pub mod mcp;
pub mod rest;
pub mod runtime;
pub mod state;
pub mod telemetry;
