//! The shapes of the appliance's routes (models, conversations, assistant, approvals, the
//! agent's tools), one definition
//! for both ends: the appliance serialises them, the IDE (wasm32) deserialises them. No
//! `serde_json::Value` bags read by string index.

pub mod approvals;
pub mod chat;
pub mod llm;
pub mod models;
pub mod routes;
pub mod tools;
