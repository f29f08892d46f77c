//! Airlock's model engine. The quantized Llama/Qwen forward pass lands here; the crate
//! exists now so the workspace layout, build and CI are fixed before the engine arrives.

/// Name the appliance reports for the engine, so the UI can show which engine build is loaded.
pub const ENGINE_NAME: &str = "airlock-inference";
