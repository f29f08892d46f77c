//! The forward pass as recorded GPU ops: one transformer block (`Builder::layer`) is RMSNorm,
//! the stacked q/k/v product, RoPE with the KV-cache store, attention, the output product
//! added to the residual, RMSNorm, the stacked gate/up product, SwiGLU and the down product
//! added to the residual — each a dispatch whose bind group is built once, at load.

use wgpu::util::DeviceExt;

use super::super::burn::SharedTensor;
use super::super::kernels::{Kernels, MatvecShape};
use super::super::upload::GpuMatrix;
use super::buffers::Lanes;
use crate::config::ModelConfig;

/// One recorded dispatch of a forward pass.
pub(super) struct Op {
    /// The kernel's name ("matvec", "norm", "rope", "attention", "swiglu"), for profiles.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(super) kind: &'static str,
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) bind: wgpu::BindGroup,
    pub(super) groups: (u32, u32),
}

pub(super) fn uniform(device: &wgpu::Device, values: &[u32]) -> wgpu::Buffer {
    let mut bytes = words(values);
    bytes.resize(bytes.len().div_ceil(16).max(1) * 16, 0);
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: &bytes,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

/// What a kernel binds: a uniform buffer of ours, or a burn tensor's part of its buffer.
pub(super) trait Bind {
    fn resource(&self) -> wgpu::BindingResource<'_>;
}

impl Bind for wgpu::Buffer {
    fn resource(&self) -> wgpu::BindingResource<'_> {
        self.as_entire_binding()
    }
}

impl Bind for SharedTensor {
    fn resource(&self) -> wgpu::BindingResource<'_> {
        self.binding()
    }
}

/// A bind group of whole buffers for `layout`.
pub(super) fn bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    label: &str,
    entries: &[(u32, &dyn Bind)],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = entries
        .iter()
        .map(|(binding, buffer)| wgpu::BindGroupEntry {
            binding: *binding,
            resource: buffer.resource(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// Little-endian bytes of `values` (uniforms and small writes).
pub(super) fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Builds an op list over `lanes` tokens (1 or `PREFILL_LANES`).
pub(super) struct Builder<'a> {
    pub(super) device: &'a wgpu::Device,
    pub(super) kernels: &'a Kernels,
    pub(super) lanes: usize,
    pub(super) ops: Vec<Op>,
}

impl Builder<'_> {
    pub(super) fn dispatch(
        &mut self,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        entries: &[(u32, &dyn Bind)],
        groups: (u32, u32),
    ) {
        let layout = pipeline.get_bind_group_layout(0);
        let bind = bind_group(self.device, &layout, label, entries);
        self.ops.push(Op {
            kind: label,
            pipeline: pipeline.clone(),
            bind,
            groups,
        });
    }

    /// `y[offset..] (+)= W x` for each lane (lane l's outputs at l · y_stride), one dispatch
    /// per shard.
    pub(super) fn matvec(
        &mut self,
        matrix: &GpuMatrix,
        x: &SharedTensor,
        y: &SharedTensor,
        offset: usize,
        accumulate: bool,
        y_stride: usize,
    ) {
        for shard in &matrix.shards {
            let params = uniform(
                self.device,
                &[
                    shard.rows as u32,
                    matrix.cols as u32,
                    matrix.row_bytes as u32,
                    (offset + shard.first_row) as u32,
                    u32::from(accumulate),
                    y_stride as u32,
                ],
            );
            let rows = shard.rows as u32;
            let groups = match self.kernels.shape {
                MatvecShape::Workgroup => (rows.min(32768), rows.div_ceil(32768)),
                MatvecShape::Thread => (rows.div_ceil(64), 1),
            };
            let pipeline = if self.lanes == 1 {
                self.kernels.matvec(matrix.format)
            } else {
                self.kernels.matvec_lanes(matrix.format)
            }
            .clone();
            self.dispatch(
                "matvec",
                &pipeline,
                &[(0, &shard.buffer), (1, x), (2, y), (3, &params)],
                groups,
            );
        }
    }

    pub(super) fn rms_norm(
        &mut self,
        src: &SharedTensor,
        weight: &SharedTensor,
        dst: &SharedTensor,
        n: usize,
        eps: f32,
    ) {
        let params = uniform(self.device, &[n as u32, eps.to_bits()]);
        let pipeline = self.kernels.rms_norm.clone();
        self.dispatch(
            "norm",
            &pipeline,
            &[(0, src), (1, weight), (2, dst), (3, &params)],
            (self.lanes as u32, 1),
        );
    }

    /// One transformer block over `lanes` (whose lane count must be this builder's).
    pub(super) fn layer(
        &mut self,
        lanes: &Lanes,
        layer: &LayerBuffers,
        shared: &Shared,
        c: &ModelConfig,
    ) {
        debug_assert_eq!(lanes.lanes, self.lanes);
        let n = lanes.lanes as u32;
        let qkv_stride = (c.heads + 2 * c.kv_heads) * c.head_dim;
        self.rms_norm(
            &lanes.x,
            layer.attn_norm,
            &lanes.normed,
            c.hidden,
            c.rms_eps,
        );
        for (matrix, offset) in layer.qkv {
            let m = &shared.matrices[*matrix];
            self.matvec(m, &lanes.normed, &lanes.qkv, *offset, false, qkv_stride);
        }
        let rope_store = self.kernels.rope_store.clone();
        self.dispatch(
            "rope",
            &rope_store,
            &[
                (0, &lanes.qkv),
                (1, layer.bias.unwrap_or(shared.empty)),
                (2, layer.norms.unwrap_or(shared.empty)),
                (3, shared.table),
                (4, layer.keys),
                (5, layer.values),
                (6, layer.rope_params),
                (7, shared.step),
            ],
            ((c.heads + c.kv_heads) as u32, n),
        );
        let attention = self.kernels.attention.clone();
        self.dispatch(
            "attention",
            &attention,
            &[
                (0, &lanes.qkv),
                (1, layer.keys),
                (2, layer.values),
                (3, &lanes.scores),
                (4, &lanes.attn),
                (5, shared.attention_params),
                (6, shared.step),
            ],
            (c.heads as u32, n),
        );
        let wo = &shared.matrices[layer.wo];
        self.matvec(wo, &lanes.attn, &lanes.x, 0, true, c.hidden);
        self.rms_norm(&lanes.x, layer.ffn_norm, &lanes.normed, c.hidden, c.rms_eps);
        for (matrix, offset) in layer.gate_up {
            let m = &shared.matrices[*matrix];
            self.matvec(
                m,
                &lanes.normed,
                &lanes.gate_up,
                *offset,
                false,
                2 * c.intermediate,
            );
        }
        let count = uniform(self.device, &[c.intermediate as u32, n]);
        let swiglu = self.kernels.swiglu.clone();
        self.dispatch(
            "swiglu",
            &swiglu,
            &[(0, &lanes.act), (1, &lanes.gate_up), (2, &count)],
            ((c.intermediate as u32 * n).div_ceil(64), 1),
        );
        let wd = &shared.matrices[layer.wd];
        self.matvec(wd, &lanes.act, &lanes.x, 0, true, c.hidden);
    }
}

pub(super) struct LayerBuffers<'a> {
    /// Stacked q/k/v matrices with their output offsets.
    pub(super) qkv: &'a [(usize, usize)],
    /// Stacked gate/up matrices with their output offsets.
    pub(super) gate_up: &'a [(usize, usize)],
    pub(super) wo: usize,
    pub(super) wd: usize,
    pub(super) keys: &'a SharedTensor,
    pub(super) values: &'a SharedTensor,
    pub(super) attn_norm: &'a SharedTensor,
    pub(super) ffn_norm: &'a SharedTensor,
    pub(super) bias: Option<&'a SharedTensor>,
    pub(super) norms: Option<&'a SharedTensor>,
    pub(super) rope_params: &'a wgpu::Buffer,
}

/// Buffers every layer reads.
pub(super) struct Shared<'a> {
    pub(super) matrices: &'a [GpuMatrix],
    pub(super) table: &'a SharedTensor,
    pub(super) empty: &'a SharedTensor,
    pub(super) attention_params: &'a wgpu::Buffer,
    pub(super) step: &'a wgpu::Buffer,
}
