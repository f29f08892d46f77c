//! Airlock's model engine. This crate has no dependency on the appliance; it builds for
//! native (tests, benches, the `airlock-generate` CLI) and wasm32 (the browser). Model files
//! (`gguf`, `safetensors`, `config`, `tokenizer`) become `model::Weights`; `model::CpuModel` is
//! the reference forward pass and `gpu::GpuModel` the same pass as WGSL kernels on wgpu;
//! `generate` decodes over either. See docs/ARCHITECTURE.md and docs/ENGINE.md.

pub mod cache_record;
pub mod chat;
pub mod config;
pub mod constrain;
pub mod file_image;
pub mod fim;
pub mod fit;
pub mod generate;
pub mod gguf;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod loaded;
pub mod model;
pub mod prompt;
pub mod quant;
pub mod safetensors;
pub mod sampling;
pub mod tokenizer;
pub mod tool_calls;

/// Name the appliance reports for the engine, so the UI can show which engine build is loaded.
pub const ENGINE_NAME: &str = "airlock-inference";
