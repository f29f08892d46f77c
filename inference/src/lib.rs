//! Airlock's model engine. This crate has no dependency on the appliance; it builds for
//! native (tests, benches, CLI) and wasm32 (the browser). So far it holds the GGUF reader and
//! the reference dequantizers that every quantized kernel is checked against.

pub mod chat;
pub mod config;
pub mod generate;
pub mod gguf;
pub mod gpu;
pub mod loaded;
pub mod model;
pub mod quant;
pub mod safetensors;
pub mod sampling;
pub mod tokenizer;

/// Name the appliance reports for the engine, so the UI can show which engine build is loaded.
pub const ENGINE_NAME: &str = "airlock-inference";
