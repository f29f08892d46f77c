//! A loaded model and its forward pass: weights from GGUF or safetensors, RoPE, and the CPU
//! reference engine the GPU engine is checked against.

pub mod cpu;
pub mod error;
pub mod kernels;
pub mod matrix;
pub mod names;
pub mod rope;
pub mod synthetic;
pub mod weights;

pub use cpu::CpuModel;
pub use error::ModelError;
pub use weights::{LoadFormat, RopeStyle, Weights, load_gguf, load_gguf_layout, load_safetensors};
