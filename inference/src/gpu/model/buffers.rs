//! The activation buffers every layer's ops read and write.

use super::super::GpuError;
use super::super::burn::{BurnDevice, SharedTensor};
use crate::config::ModelConfig;

/// Activation buffers for `lanes` tokens side by side (1 to decode, `PREFILL_LANES` to
/// prefill), shared by every layer.
pub(super) struct Lanes {
    pub(super) lanes: usize,
    pub(super) x: SharedTensor,
    pub(super) normed: SharedTensor,
    pub(super) qkv: SharedTensor,
    pub(super) attn: SharedTensor,
    pub(super) gate_up: SharedTensor,
    pub(super) act: SharedTensor,
    pub(super) scores: SharedTensor,
}

impl Lanes {
    pub(super) fn new(
        device: &BurnDevice,
        c: &ModelConfig,
        capacity: usize,
        lanes: usize,
    ) -> Result<Self, GpuError> {
        let (q_dim, kv_dim) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let floats = |len: usize| SharedTensor::floats(device, len);
        Ok(Self {
            lanes,
            x: floats(lanes * c.hidden)?,
            normed: floats(lanes * c.hidden)?,
            qkv: floats(lanes * (q_dim + 2 * kv_dim))?,
            attn: floats(lanes * q_dim)?,
            gate_up: floats(lanes * 2 * c.intermediate)?,
            act: floats(lanes * c.intermediate)?,
            scores: floats(lanes * c.heads * capacity)?,
        })
    }
}

/// Activation buffers: one token's (decode) and a prefill batch's.
pub(super) struct Activations {
    pub(super) one: Lanes,
    pub(super) batch: Lanes,
    /// The prefill batch's token ids.
    pub(super) tokens: SharedTensor,
    /// Written by the output projection, read through burn.
    pub(super) logits: SharedTensor,
    pub(super) step: wgpu::Buffer,
    pub(super) embed_params: wgpu::Buffer,
}
