//! The hub: the backends it keeps connected, the catalog it builds from their offers,
//! the filter over that catalog, the call routing, and the hub's lifecycle. Below it:
//! `mcp` (the protocol), `config`, and the shared bottom; above it: the fronts.

pub mod backends;
pub mod calls;
pub mod catalog;
pub mod error;
pub mod filtering;
pub mod lifecycle;
pub mod marketplace;
pub mod watch;
