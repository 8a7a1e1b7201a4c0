//! Small pieces with no domain: used anywhere, importing nothing of the crate.

pub mod memory;
