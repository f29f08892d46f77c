//! The GPU engine on wgpu (Vulkan, Metal, DX12 natively; WebGPU in the browser) with the WGSL
//! kernels of `shaders/`. Quantized weights stay in their block formats on the device.

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod burn;
#[cfg(not(target_arch = "wasm32"))]
pub mod burn_ops;
pub mod context;
#[cfg(not(target_arch = "wasm32"))]
pub mod cube_ops;
pub mod kernels;
pub mod model;
pub mod upload;

pub use context::GpuContext;
pub use model::{GpuModel, GpuOptions};

/// Why the GPU engine could not start or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuError(pub String);

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GPU: {}", self.0)
    }
}

impl std::error::Error for GpuError {}
