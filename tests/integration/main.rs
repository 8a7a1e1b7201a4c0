//! mcphub's integration tests: one binary that drives the real executables.

mod artifacts;
mod bounds;
mod config;
mod deps;
mod drop_in;
mod eras;
mod faults;
mod filtering;
mod front;
mod interop;
mod layers;
mod llm_client;
mod prometheus;
mod remote;
mod rest;
mod security;
mod side_by_side;
mod support;
mod toolkit;
