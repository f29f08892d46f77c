//! The GPU device: adapter, device and queue, with the largest storage-buffer binding the
//! adapter allows (weights bigger than that are sharded), registered with burn so that burn's
//! tensors and our kernels share one device and one queue.

use super::GpuError;
use super::burn::BurnDevice;

/// Features burn's wgpu runtime (cubecl) uses whenever the *adapter* lists them — it reads the
/// adapter's list, not the device's — so the device must be opened with each one the adapter
/// has. `SHADER_F16` is also what the f16 KV cache needs.
const ASSUMED_BY_BURN: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SHADER_INT64)
    .union(wgpu::Features::SHADER_F64)
    .union(wgpu::Features::SHADER_FLOAT32_ATOMIC)
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY);

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
    /// The same device as burn sees it.
    pub burn: BurnDevice,
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
        let required_features = adapter.features() & ASSUMED_BY_BURN;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("airlock-inference"),
                required_features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError(format!("cannot open the GPU device: {e}")))?;
        let burn = BurnDevice::register(burn_wgpu::WgpuSetup {
            instance,
            adapter,
            device: device.clone(),
            queue: queue.clone(),
            backend: info.backend,
        })?;
        Ok(Self {
            device,
            queue,
            burn,
            adapter: format!("{} ({:?})", info.name, info.backend),
            is_cpu: info.device_type == wgpu::DeviceType::Cpu,
            has_f16,
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        })
    }
}
