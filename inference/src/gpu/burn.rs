//! burn, on its wgpu backend, running on the engine's own device and queue: the forward pass's
//! output is a burn tensor that the WGSL kernels write in place, and what follows it — the
//! greedy argmax, reading the logits back — runs as burn ops on the same queue, so nothing is
//! copied between two GPU runtimes and a greedy step reads back 4 bytes instead of the logits.

use burn_backend::ops::{FloatTensorOps, IntTensorOps};
use burn_backend::{IntDType, TensorData};
use burn_cubecl::CubeDevice;
use burn_cubecl::cubecl::wgpu::{AutoCompiler, WgpuResource, WgpuServer};
use burn_wgpu::{CubeBackend, CubeTensor, RuntimeOptions, WgpuSetup};
use cubecl_runtime::storage::ManagedResource;

use super::GpuError;

/// The engine's wgpu device registered with burn (cubecl's runtime for an existing device).
#[derive(Clone, Debug)]
pub struct BurnDevice(CubeDevice);

impl BurnDevice {
    /// Registers an opened device once; burn then allocates and launches on that device and
    /// queue, in submission order with the engine's own command buffers.
    pub fn register(setup: WgpuSetup) -> Result<Self, GpuError> {
        burn_wgpu::try_init_device(setup, RuntimeOptions::default())
            .map(|device| Self(device.into()))
            .map_err(|e| GpuError(format!("burn cannot use the device: {e:?}")))
    }

    /// The device as burn's ops take it.
    pub fn cube(&self) -> &CubeDevice {
        &self.0
    }
}

/// An f32 vector owned by burn whose memory WGSL kernels bind directly.
pub struct SharedVector {
    tensor: CubeTensor,
    /// Pins the allocation in place (cubecl never moves or reuses a bound resource).
    resource: ManagedResource<WgpuResource>,
    len: usize,
}

impl SharedVector {
    /// A zeroed vector of `len` floats on `device`.
    pub fn zeros(device: &BurnDevice, len: usize) -> Result<Self, GpuError> {
        let tensor =
            CubeBackend::float_from_data(TensorData::new(vec![0f32; len], [len]), &device.0);
        let resource = tensor
            .client
            .get_resource::<WgpuServer<AutoCompiler>>(tensor.handle.clone())
            .map_err(|e| GpuError(format!("burn tensor memory is not reachable: {e:?}")))?;
        let part = resource.resource();
        let bytes = (len * 4) as u64;
        if part.offset + bytes > part.buffer.size() {
            return Err(GpuError(format!(
                "burn placed {bytes} bytes at {} in a {}-byte buffer",
                part.offset,
                part.buffer.size()
            )));
        }
        Ok(Self {
            tensor,
            resource,
            len,
        })
    }

    /// The vector's bytes, as a kernel binds them.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        let part = self.resource.resource();
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &part.buffer,
            offset: part.offset,
            size: wgpu::BufferSize::new((self.len * 4) as u64),
        })
    }

    /// Index of the largest value (burn's argmax on the device); only the index is read back.
    pub async fn argmax(&self) -> Result<u32, GpuError> {
        let index = CubeBackend::float_argmax(self.tensor.clone(), 0, IntDType::U32);
        let data = CubeBackend::int_into_data(index)
            .await
            .map_err(|e| GpuError(format!("reading the argmax failed: {e:?}")))?;
        let index = data
            .as_slice::<u32>()
            .ok()
            .and_then(|values| values.first().copied())
            .ok_or_else(|| GpuError(format!("argmax came back as {:?}", data.dtype())))?;
        if index as usize >= self.len {
            return Err(GpuError(format!(
                "argmax {index} is past {} values",
                self.len
            )));
        }
        Ok(index)
    }

    /// The values, read back.
    pub async fn read(&self) -> Result<Vec<f32>, GpuError> {
        let data = CubeBackend::float_into_data(self.tensor.clone())
            .await
            .map_err(|e| GpuError(format!("reading a tensor failed: {e:?}")))?;
        let values = data
            .as_slice::<f32>()
            .map_err(|e| GpuError(format!("tensor came back as {:?}: {e:?}", data.dtype())))?;
        if values.len() != self.len {
            return Err(GpuError(format!(
                "read {} values, expected {}",
                values.len(),
                self.len
            )));
        }
        Ok(values.to_vec())
    }
}
