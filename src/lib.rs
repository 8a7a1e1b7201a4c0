//! mcphub: one MCP endpoint in front of many MCP servers, and the toolkit that
//! watches it. The `mcphub` binary (in `commands/`) is a thin layer over this library.
//!
//! Layers, each importing only from those listed before it (ARCHITECTURE.md):
//! `util`, `api`, `state`, `telemetry` (the shared bottom) ← `config` ← `mcp` ← `hub` ←
//! `front`; and beside the hub, `toolkit`, which never imports `mcp`, `hub` or `front`.

pub mod api;
pub mod config;
pub mod front;
pub mod hub;
pub mod mcp;
pub mod state;
pub mod telemetry;
pub mod toolkit;
pub mod util;
