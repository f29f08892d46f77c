//! burn, on its wgpu backend, running on the engine's own device and queue. burn allocates
//! every tensor of the model — weights, KV cache, activations, logits — and the WGSL kernels
//! bind that memory and read and write it in place; what follows the forward pass (the greedy
//! argmax, reading the logits back) runs as burn ops on the same queue, so nothing is copied
//! between two GPU runtimes and a greedy step reads back 4 bytes instead of the logits.

use std::sync::Arc;

use burn_backend::ops::{FloatTensorOps, IntTensorOps};
use burn_backend::{DType, FloatDType, IntDType, Shape};
use burn_cubecl::CubeDevice;
use burn_cubecl::cubecl::wgpu::{AutoCompiler, WgpuResource, WgpuServer};
use burn_wgpu::{CubeBackend, CubeTensor, RuntimeOptions, WgpuSetup};
use cubecl_runtime::memory_management::MemoryScope;
use cubecl_runtime::storage::ManagedResource;

use super::GpuError;

/// The engine's wgpu device registered with burn (cubecl's runtime for an existing device).
#[derive(Clone, Debug)]
pub struct BurnDevice {
    cube: CubeDevice,
    device: wgpu::Device,
    queue: wgpu::Queue,
}

/// What burn holds on the device, from its own books.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryInUse {
    /// Live allocations.
    pub allocations: u64,
    /// Bytes those allocations asked for.
    pub bytes_in_use: u64,
    /// Bytes reserved from the driver (in use, padding and free pool room).
    pub bytes_reserved: u64,
}

impl BurnDevice {
    /// Registers an opened device once; burn then allocates and launches on that device and
    /// queue, in submission order with the engine's own command buffers.
    pub fn register(setup: WgpuSetup) -> Result<Self, GpuError> {
        let (device, queue) = (setup.device.clone(), setup.queue.clone());
        burn_wgpu::try_init_device(setup, RuntimeOptions::default())
            .map(|cube| Self {
                cube: cube.into(),
                device,
                queue,
            })
            .map_err(|e| GpuError(format!("burn cannot use the device: {e:?}")))
    }

    /// The device as burn's ops take it.
    pub fn cube(&self) -> &CubeDevice {
        &self.cube
    }

    /// burn's account of the device memory it holds (every stream).
    pub fn memory(&self) -> MemoryInUse {
        let usage = self
            .cube
            .client()
            .memory_report(MemoryScope::Device)
            .usage();
        MemoryInUse {
            allocations: usage.number_allocs,
            bytes_in_use: usage.bytes_in_use,
            bytes_reserved: usage.bytes_reserved,
        }
    }
}

/// A 1-D burn tensor whose memory the WGSL kernels bind and write directly.
///
/// Each is its own device allocation (burn's dedicated allocation mode, outside its pools):
/// no other tensor shares the buffer, so a kernel may bind one tensor read-only and another
/// writable in the same dispatch, and nothing is rounded up to a pool's page size.
/// Clones share the tensor.
#[derive(Clone)]
pub struct SharedTensor(Arc<Allocation>);

struct Allocation {
    tensor: CubeTensor,
    /// Pins the allocation in place (cubecl never moves or reuses a bound resource).
    resource: ManagedResource<WgpuResource>,
    /// Bytes the engine uses (the allocation may be larger).
    bytes: u64,
}

impl SharedTensor {
    /// `len` zeroed f32 values (activations, norm weights, biases, logits).
    pub fn floats(device: &BurnDevice, len: usize) -> Result<Self, GpuError> {
        Self::allocate(device, len.max(1), DType::F32)
    }

    /// At least `bytes` zeroed bytes as whole u32 words (quantized weights, the KV cache).
    pub fn bytes(device: &BurnDevice, bytes: usize) -> Result<Self, GpuError> {
        Self::allocate(device, bytes.div_ceil(4).max(1), DType::U32)
    }

    fn allocate(device: &BurnDevice, words: usize, dtype: DType) -> Result<Self, GpuError> {
        let bytes = (words * 4) as u64;
        if bytes > device.device.limits().max_buffer_size {
            return Err(GpuError(format!(
                "a tensor of {bytes} bytes is above this GPU's largest buffer ({} bytes)",
                device.device.limits().max_buffer_size
            )));
        }
        let shape = Shape::new([words]);
        let cube = device.cube.clone();
        let tensor =
            cube.client()
                .memory_dedicated_allocation((shape, cube.clone()), |(shape, cube)| match dtype {
                    DType::F32 => CubeBackend::float_empty(shape, &cube, FloatDType::F32),
                    _ => CubeBackend::int_empty(shape, &cube, IntDType::U32),
                });
        let resource = tensor
            .client
            .get_resource::<WgpuServer<AutoCompiler>>(tensor.handle.clone())
            .map_err(|e| GpuError(format!("burn tensor memory is not reachable: {e:?}")))?;
        let part = resource.resource();
        if part.offset + bytes > part.buffer.size() {
            return Err(GpuError(format!(
                "burn placed {bytes} bytes at {} in a {}-byte buffer",
                part.offset,
                part.buffer.size()
            )));
        }
        // A dedicated allocation may be one an earlier model freed: start from zeros.
        let mut encoder = device.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&part.buffer, part.offset, Some(bytes));
        device.queue.submit([encoder.finish()]);
        Ok(Self(Arc::new(Allocation {
            tensor,
            resource,
            bytes,
        })))
    }

    /// The tensor's bytes, as a kernel binds them.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.buffer(),
            offset: self.offset(),
            size: wgpu::BufferSize::new(self.0.bytes),
        })
    }

    /// The wgpu buffer holding the tensor (at `offset`), for copies.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.0.resource.resource().buffer
    }

    /// Where the tensor starts in `buffer`.
    pub fn offset(&self) -> u64 {
        self.0.resource.resource().offset
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.0.bytes
    }

    /// The tensor as burn's ops take it (f32 values or u32 words).
    pub fn tensor(&self) -> &CubeTensor {
        &self.0.tensor
    }

    /// Queues `data` to land at byte `at` before the next submission (whole words only).
    pub fn write(&self, queue: &wgpu::Queue, at: u64, data: &[u8]) -> Result<(), GpuError> {
        if !at.is_multiple_of(4) || !data.len().is_multiple_of(4) {
            return Err(GpuError(format!(
                "a write of {} bytes at {at} is not whole words",
                data.len()
            )));
        }
        if at + data.len() as u64 > self.0.bytes {
            return Err(GpuError(format!(
                "a write of {} bytes at {at} passes the tensor's {} bytes",
                data.len(),
                self.0.bytes
            )));
        }
        queue.write_buffer(self.buffer(), self.offset() + at, data);
        Ok(())
    }

    fn floats_len(&self) -> Result<usize, GpuError> {
        match self.0.tensor.dtype {
            DType::F32 => Ok((self.0.bytes / 4) as usize),
            other => Err(GpuError(format!(
                "a tensor of {other:?} holds no f32 values"
            ))),
        }
    }

    /// Index of the largest value (burn's argmax on the device); only the index is read back.
    pub async fn argmax(&self) -> Result<u32, GpuError> {
        let len = self.floats_len()?;
        let index = CubeBackend::float_argmax(self.0.tensor.clone(), 0, IntDType::U32);
        let data = CubeBackend::int_into_data(index)
            .await
            .map_err(|e| GpuError(format!("reading the argmax failed: {e:?}")))?;
        let index = data
            .as_slice::<u32>()
            .ok()
            .and_then(|values| values.first().copied())
            .ok_or_else(|| GpuError(format!("argmax came back as {:?}", data.dtype())))?;
        if index as usize >= len {
            return Err(GpuError(format!("argmax {index} is past {len} values")));
        }
        Ok(index)
    }

    /// The raw u32 words (any tensor: quantized weights, an f16 or f32 KV cache), read back.
    pub async fn read_words(&self) -> Result<Vec<u32>, GpuError> {
        let words = (self.0.bytes / 4) as usize;
        let data = match self.0.tensor.dtype {
            DType::U32 => CubeBackend::int_into_data(self.0.tensor.clone()).await,
            _ => CubeBackend::float_into_data(self.0.tensor.clone()).await,
        }
        .map_err(|e| GpuError(format!("reading a tensor failed: {e:?}")))?;
        let bytes = data.as_bytes();
        if bytes.len() != words * 4 {
            return Err(GpuError(format!(
                "read {} bytes, expected {}",
                bytes.len(),
                words * 4
            )));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect())
    }

    /// The f32 values, read back.
    pub async fn read(&self) -> Result<Vec<f32>, GpuError> {
        let len = self.floats_len()?;
        let data = CubeBackend::float_into_data(self.0.tensor.clone())
            .await
            .map_err(|e| GpuError(format!("reading a tensor failed: {e:?}")))?;
        let values = data
            .as_slice::<f32>()
            .map_err(|e| GpuError(format!("tensor came back as {:?}: {e:?}", data.dtype())))?;
        if values.len() != len {
            return Err(GpuError(format!(
                "read {} values, expected {len}",
                values.len()
            )));
        }
        Ok(values.to_vec())
    }
}
