//! The LLM client against the fake provider (to be written).
