//! The protocol, wrapping the SDK (rmcp) so that a new SDK major changes here (and in
//! `front::mcp`, which implements the SDK's server handler) and nowhere else. The rest
//! of the library speaks in [`model`]'s types and through [`client::Connection`]
//! (upstream servers), [`sessions::Sessions`] (downstream clients) and [`server`]
//! (the transports).

// The hub relays `notifications/message` for clients on revisions that still have
// logging (2025-06-18, 2025-11-25), though the SDK marks it deprecated (SEP-2577).
#![allow(deprecated)]

pub mod client;
pub mod legacy_sse;
pub mod legacy_sse_client;
pub mod model;
pub mod oauth;
pub mod offer;
pub mod oversize;
pub mod polling;
pub mod rounds;
pub mod server;
pub mod sessions;
pub mod stdio;
