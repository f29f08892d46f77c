//! The GPU device: adapter, device and queue, with the largest storage-buffer binding the
//! adapter allows (weights bigger than that are sharded).

use super::GpuError;

/// A ready device.
pub struct GpuContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Adapter name and backend, for reports and benchmarks.
    pub adapter: String,
    /// Largest storage buffer binding, in bytes.
    pub max_binding: u64,
    /// Whether the adapter is a CPU implementation (lavapipe, SwiftShader).
    pub is_cpu: bool,
    /// Whether the device was opened with `shader-f16` (f16 storage and arithmetic in WGSL).
    pub has_f16: bool,
}

impl GpuContext {
    /// Opens the default adapter (Vulkan, Metal or DX12 natively; WebGPU in the browser).
    pub async fn new() -> Result<Self, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError(format!("no GPU adapter: {e}")))?;
        let info = adapter.get_info();
        let supported = adapter.limits();
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: supported.max_storage_buffer_binding_size,
            max_buffer_size: supported.max_buffer_size,
            max_storage_buffers_per_shader_stage: supported
                .max_storage_buffers_per_shader_stage
                .min(8),
            ..wgpu::Limits::downlevel_defaults()
        };
        let has_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let required_features = if has_f16 {
            wgpu::Features::SHADER_F16
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("airlock-inference"),
                required_features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError(format!("cannot open the GPU device: {e}")))?;
        Ok(Self {
            device,
            queue,
            adapter: format!("{} ({:?})", info.name, info.backend),
            is_cpu: info.device_type == wgpu::DeviceType::Cpu,
            has_f16,
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        })
    }
}
