//! mcphub: one MCP endpoint in front of many MCP servers, and the toolkit that
//! watches it. The `mcphub` binary (in `commands/`) is a thin layer over this library.

pub mod alerts;
pub mod anomalies;
pub mod backends;
pub mod catalog;
pub mod config;
pub mod cron;
pub mod dashboard;
pub mod discovery;
pub mod filtering;
#[doc(hidden)]
pub mod fuzzing;
pub mod history;
pub mod http;
pub mod hub;
pub mod hub_client;
pub mod logscan;
pub mod mcp;
pub mod measure;
pub mod memory;
pub mod observe;
pub mod prune;
pub mod render;
pub mod reports;
pub mod rest;
pub mod runtime;
pub mod state;
pub mod summary;
pub mod telemetry;
pub mod validate;
