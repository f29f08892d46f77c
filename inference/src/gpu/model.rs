//! The GPU forward pass: every decode step runs on the device through the kernels of
//! `shaders/`; all bind groups are built at load time, so a step only writes the position,
//! records the dispatches and submits. Every tensor — weights, KV cache, activations, logits —
//! is memory burn allocated (`SharedTensor`) that the kernels bind in place; after a step burn
//! reads the logits back, or only their argmax for a greedy step.

use std::collections::{BTreeSet, HashMap};

use wgpu::util::DeviceExt;

use super::GpuError;
use super::burn::{BurnDevice, SharedTensor};
use super::context::GpuContext;
use super::kernels::{Kernels, KvPrecision, MatvecShape, PREFILL_LANES};
use super::upload::{GpuMatrix, allocate, encode_rows, layout_of, stackable, write_rows};
use crate::config::ModelConfig;
use crate::generate::Output;
use crate::gguf::{GgmlType, dequantize};
use crate::model::matrix::{Matrix, Storage};
use crate::model::weights::{RopeStyle, Weights};
use crate::model::{ModelError, rope};
use crate::sampling::Want;

/// Load-time choices.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Shard weights above this many bytes (default: the device's largest binding); tests set
    /// it low to exercise sharding on tiny models.
    pub max_shard_bytes: Option<u64>,
    /// Matrix-vector kernel shape; `None` picks by adapter (thread per row on CPU adapters).
    pub matvec_shape: Option<MatvecShape>,
    /// KV-cache precision; `None` picks f16 where the device has `shader-f16`, else f32.
    pub kv_cache: Option<KvPrecision>,
}

/// One recorded dispatch of a forward pass.
struct Op {
    /// The kernel's name ("matvec", "norm", "rope", "attention", "swiglu"), for profiles.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    kind: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: (u32, u32),
}

/// Activation buffers for `lanes` tokens side by side (1 to decode, `PREFILL_LANES` to
/// prefill), shared by every layer.
struct Lanes {
    lanes: usize,
    x: SharedTensor,
    normed: SharedTensor,
    qkv: SharedTensor,
    attn: SharedTensor,
    gate_up: SharedTensor,
    act: SharedTensor,
    scores: SharedTensor,
}

impl Lanes {
    fn new(
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
struct Activations {
    one: Lanes,
    batch: Lanes,
    /// The prefill batch's token ids.
    tokens: SharedTensor,
    /// Written by the output projection, read through burn.
    logits: SharedTensor,
    step: wgpu::Buffer,
    embed_params: wgpu::Buffer,
}

/// Where a tensor's bytes go on the device (by GGUF tensor name).
enum Target {
    /// Rows `first_row..first_row + rows` of `matrices[matrix]`, bytes in GPU layout.
    Rows {
        matrix: usize,
        first_row: usize,
        rows: usize,
    },
    /// `len` f32 values at byte `offset` of a tensor (norm weights, biases).
    Floats {
        buffer: SharedTensor,
        offset: u64,
        len: usize,
    },
    /// Llama 3 frequency divisors: the RoPE table is recomputed.
    RopeFreqs,
}

/// A model on the GPU with its KV cache.
pub struct GpuModel {
    ctx: GpuContext,
    config: ModelConfig,
    capacity: usize,
    shape: MatvecShape,
    kv: KvPrecision,
    /// Every weight matrix (ops hold bind groups that reference their buffers).
    matrices: Vec<GpuMatrix>,
    embedding: usize,
    embed_binds: Vec<wgpu::BindGroup>,
    embed_pipeline: wgpu::ComputePipeline,
    /// Per embedding shard: the prefill batch's embedding lookup.
    embed_lanes_binds: Vec<wgpu::BindGroup>,
    embed_lanes_pipeline: wgpu::ComputePipeline,
    /// Every layer for one token.
    ops: Vec<Op>,
    /// Every layer for a prefill batch of `PREFILL_LANES` tokens.
    prefill_ops: Vec<Op>,
    /// Final norm and output projection (of the one-token buffers).
    final_ops: Vec<Op>,
    act: Activations,
    rope_table: SharedTensor,
    /// Each layer's keys and values, held here: a burn tensor nothing holds is freed, and burn
    /// may give its memory to another allocation whatever bind groups still point at it.
    cache: Vec<(SharedTensor, SharedTensor)>,
    /// Bound in place of the bias and q/k norms of layers without them.
    _empty: SharedTensor,
    targets: HashMap<String, Target>,
    /// Tensors not written yet (a model allocated from a header before its data streams in).
    missing: BTreeSet<String>,
}

/// Little-endian bytes of `values`.
fn float_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A burn tensor holding `values`.
fn tensor_of(ctx: &GpuContext, values: &[f32]) -> Result<SharedTensor, GpuError> {
    let tensor = SharedTensor::floats(&ctx.burn, values.len())?;
    tensor.write(&ctx.queue, 0, &float_bytes(values))?;
    Ok(tensor)
}

fn uniform(device: &wgpu::Device, values: &[u32]) -> wgpu::Buffer {
    let mut bytes = words(values);
    bytes.resize(bytes.len().div_ceil(16).max(1) * 16, 0);
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: &bytes,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

/// What a kernel binds: a uniform buffer of ours, or a burn tensor's part of its buffer.
trait Bind {
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
fn bind_group(
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
fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Builds an op list over `lanes` tokens (1 or `PREFILL_LANES`).
struct Builder<'a> {
    device: &'a wgpu::Device,
    kernels: &'a Kernels,
    lanes: usize,
    ops: Vec<Op>,
}

impl Builder<'_> {
    fn dispatch(
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
    fn matvec(
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

    fn rms_norm(
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
    fn layer(&mut self, lanes: &Lanes, layer: &LayerBuffers, shared: &Shared, c: &ModelConfig) {
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

/// One layer's weights and KV cache on the device.
struct LayerBuffers<'a> {
    /// Stacked q/k/v matrices with their output offsets.
    qkv: &'a [(usize, usize)],
    /// Stacked gate/up matrices with their output offsets.
    gate_up: &'a [(usize, usize)],
    wo: usize,
    wd: usize,
    keys: &'a SharedTensor,
    values: &'a SharedTensor,
    attn_norm: &'a SharedTensor,
    ffn_norm: &'a SharedTensor,
    bias: Option<&'a SharedTensor>,
    norms: Option<&'a SharedTensor>,
    rope_params: &'a wgpu::Buffer,
}

/// Buffers every layer reads.
struct Shared<'a> {
    matrices: &'a [GpuMatrix],
    table: &'a SharedTensor,
    empty: &'a SharedTensor,
    attention_params: &'a wgpu::Buffer,
    step: &'a wgpu::Buffer,
}

/// Allocates weight matrices, records where each tensor goes, and writes the bytes of those
/// already loaded.
struct Placer<'a> {
    ctx: &'a GpuContext,
    max_shard: u64,
    matrices: Vec<GpuMatrix>,
    targets: HashMap<String, Target>,
    missing: BTreeSet<String>,
}

impl Placer<'_> {
    /// Places `parts` (GGUF name, matrix) stacked when their layouts allow (one dispatch), else
    /// one by one; returns each GPU matrix index with the output offset its rows go to.
    fn matrices(
        &mut self,
        label: &str,
        parts: &[(String, &Matrix)],
    ) -> Result<Vec<(usize, usize)>, GpuError> {
        let matrices: Vec<&Matrix> = parts.iter().map(|(_, m)| *m).collect();
        let groups: Vec<Vec<usize>> = if stackable(&matrices) {
            vec![(0..parts.len()).collect()]
        } else {
            (0..parts.len()).map(|i| vec![i]).collect()
        };
        let mut placed = Vec::new();
        let mut out_offset = 0;
        for group in groups {
            let members: Vec<&Matrix> = group.iter().map(|i| matrices[*i]).collect();
            let gpu = allocate(&self.ctx.burn, label, &members, self.max_shard)?;
            let index = self.matrices.len();
            let mut first_row = 0;
            for i in &group {
                let (name, matrix) = &parts[*i];
                let mut bytes = Vec::new();
                encode_rows(matrix, 0..matrix.rows, &mut bytes);
                if bytes.is_empty() {
                    self.missing.insert(name.clone());
                } else {
                    write_rows(&self.ctx.queue, &gpu, first_row, &bytes)?;
                }
                self.targets.insert(
                    name.clone(),
                    Target::Rows {
                        matrix: index,
                        first_row,
                        rows: matrix.rows,
                    },
                );
                first_row += matrix.rows;
            }
            placed.push((index, out_offset));
            out_offset += gpu.rows;
            self.matrices.push(gpu);
        }
        Ok(placed)
    }

    /// A buffer of the concatenated `parts` (GGUF name, values); a layout-only load (all
    /// values zero in a `Pending` model) marks them missing.
    fn floats(
        &mut self,
        parts: &[(String, &[f32])],
        pending: bool,
    ) -> Result<SharedTensor, GpuError> {
        let values: Vec<f32> = parts.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        let buffer = tensor_of(self.ctx, &values)?;
        let mut offset = 0;
        for (name, part) in parts {
            self.targets.insert(
                name.clone(),
                Target::Floats {
                    buffer: buffer.clone(),
                    offset,
                    len: part.len(),
                },
            );
            if pending {
                self.missing.insert(name.clone());
            }
            offset += (part.len() * 4) as u64;
        }
        Ok(buffer)
    }
}

/// Refuses a context whose per-layer KV cache or prefill attention scores would not fit in one
/// buffer binding of the device (`max_binding` bytes), with the context that would.
fn cache_fits(
    c: &ModelConfig,
    capacity: usize,
    kv: KvPrecision,
    max_binding: u64,
) -> Result<(), GpuError> {
    let per_position = [
        ("KV cache", (c.kv_heads * c.head_dim * kv.bytes()) as u64),
        ("attention scores", (PREFILL_LANES * c.heads * 4) as u64),
    ];
    for (what, bytes) in per_position {
        let needed = bytes.saturating_mul(capacity as u64);
        if needed > max_binding {
            return Err(GpuError(format!(
                "a context of {capacity} positions needs {} MiB of {what} per layer, above this \
                 GPU's largest buffer binding ({} MiB); use a context of at most {}",
                needed.div_ceil(1 << 20),
                max_binding >> 20,
                max_binding / bytes.max(1)
            )));
        }
    }
    Ok(())
}

/// Thread-per-row on CPU-emulated adapters, workgroup-per-row elsewhere.
fn default_shape(ctx: &GpuContext) -> MatvecShape {
    let name = ctx.adapter.to_lowercase();
    if ctx.is_cpu || name.contains("swiftshader") || name.contains("llvmpipe") {
        MatvecShape::Thread
    } else {
        MatvecShape::Workgroup
    }
}

impl GpuModel {
    /// Uploads `weights` and prepares a KV cache of `context` positions.
    pub async fn new(
        weights: &Weights,
        context: usize,
        options: GpuOptions,
    ) -> Result<Self, GpuError> {
        let ctx = GpuContext::new().await?;
        Self::with_context(ctx, weights, context, options)
    }

    /// As `new`, on an already opened device.
    pub fn with_context(
        ctx: GpuContext,
        weights: &Weights,
        context: usize,
        options: GpuOptions,
    ) -> Result<Self, GpuError> {
        let config = weights.config.clone();
        let c = &config;
        if c.head_dim > 512 {
            return Err(GpuError(format!("head_dim {} is above 512", c.head_dim)));
        }
        let capacity = context.min(c.context).max(1);
        let device = &ctx.device;
        let max_shard = options
            .max_shard_bytes
            .unwrap_or(ctx.max_binding)
            .min(ctx.max_binding);
        let shape = options.matvec_shape.unwrap_or_else(|| default_shape(&ctx));
        let mut formats = vec![
            layout_of(&weights.embedding).0,
            layout_of(weights.output_matrix()).0,
        ];
        for layer in &weights.layers {
            for m in [
                &layer.q,
                &layer.k,
                &layer.v,
                &layer.o,
                &layer.gate,
                &layer.up,
                &layer.down,
            ] {
                formats.push(layout_of(m).0);
            }
        }
        let kv = match options.kv_cache {
            Some(KvPrecision::F16) if !ctx.has_f16 => {
                return Err(GpuError(format!(
                    "an f16 KV cache needs shader-f16, which {} lacks",
                    ctx.adapter
                )));
            }
            Some(precision) => precision,
            None if ctx.has_f16 => KvPrecision::F16,
            None => KvPrecision::F32,
        };
        cache_fits(c, capacity, kv, ctx.max_binding)?;
        let embedding_format = layout_of(&weights.embedding).0;
        let kernels = Kernels::new(device, &formats, embedding_format, shape, kv, c.head_dim);
        let (q_dim, kv_dim) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let act = Activations {
            one: Lanes::new(&ctx.burn, c, capacity, 1)?,
            batch: Lanes::new(&ctx.burn, c, capacity, PREFILL_LANES)?,
            tokens: SharedTensor::bytes(&ctx.burn, PREFILL_LANES * 4)?,
            logits: SharedTensor::floats(&ctx.burn, c.vocab)?,
            step: uniform(device, &[0, 1]),
            embed_params: uniform(device, &[0, 0, 0]),
        };
        let inverse = rope::inverse_frequencies(c, weights.rope_freq_factors.as_deref());
        let table = tensor_of(&ctx, &rope::table(&inverse, capacity))?;
        let pending = matches!(weights.embedding.storage, Storage::Pending { .. });
        let mut place = Placer {
            ctx: &ctx,
            max_shard,
            matrices: Vec::new(),
            targets: HashMap::from([("rope_freqs.weight".to_owned(), Target::RopeFreqs)]),
            missing: BTreeSet::new(),
        };
        let interleaved = u32::from(weights.rope_style == RopeStyle::Interleaved);
        let qkv_stride = (q_dim + 2 * kv_dim) as u32;
        let attention_params = uniform(
            device,
            &[
                c.head_dim as u32,
                c.heads as u32,
                c.kv_heads as u32,
                capacity as u32,
                (1.0 / (c.head_dim as f32).sqrt()).to_bits(),
                qkv_stride,
            ],
        );
        let empty = SharedTensor::floats(&ctx.burn, 1)?;
        let mut b = Builder {
            device,
            kernels: &kernels,
            lanes: 1,
            ops: Vec::new(),
        };
        let mut prefill = Builder {
            device,
            kernels: &kernels,
            lanes: PREFILL_LANES,
            ops: Vec::new(),
        };
        let mut cache = Vec::with_capacity(weights.layers.len());
        for (i, layer) in weights.layers.iter().enumerate() {
            let blk = |t: &str| format!("blk.{i}.{t}");
            let qkv = place.matrices(
                "qkv",
                &[
                    (blk("attn_q.weight"), &layer.q),
                    (blk("attn_k.weight"), &layer.k),
                    (blk("attn_v.weight"), &layer.v),
                ],
            )?;
            let gate_up = place.matrices(
                "gate_up",
                &[
                    (blk("ffn_gate.weight"), &layer.gate),
                    (blk("ffn_up.weight"), &layer.up),
                ],
            )?;
            let wo = place.matrices("o", &[(blk("attn_output.weight"), &layer.o)])?[0].0;
            let wd = place.matrices("down", &[(blk("ffn_down.weight"), &layer.down)])?[0].0;
            let cache_bytes = capacity * kv_dim * kv.bytes();
            let keys = SharedTensor::bytes(&ctx.burn, cache_bytes)?;
            let values = SharedTensor::bytes(&ctx.burn, cache_bytes)?;
            let attn_norm =
                place.floats(&[(blk("attn_norm.weight"), &layer.attn_norm)], pending)?;
            let ffn_norm = place.floats(&[(blk("ffn_norm.weight"), &layer.ffn_norm)], pending)?;
            let bias = layer
                .qkv_bias
                .as_ref()
                .map(|[bq, bk, bv]| {
                    place.floats(
                        &[
                            (blk("attn_q.bias"), bq.as_slice()),
                            (blk("attn_k.bias"), bk.as_slice()),
                            (blk("attn_v.bias"), bv.as_slice()),
                        ],
                        pending,
                    )
                })
                .transpose()?;
            let norms = layer
                .qk_norm
                .as_ref()
                .map(|[nq, nk]| {
                    place.floats(
                        &[
                            (blk("attn_q_norm.weight"), nq.as_slice()),
                            (blk("attn_k_norm.weight"), nk.as_slice()),
                        ],
                        pending,
                    )
                })
                .transpose()?;
            let rope_params = uniform(
                device,
                &[
                    c.head_dim as u32,
                    c.heads as u32,
                    c.kv_heads as u32,
                    interleaved,
                    u32::from(bias.is_some()),
                    u32::from(norms.is_some()),
                    c.rms_eps.to_bits(),
                    qkv_stride,
                ],
            );
            let layer = LayerBuffers {
                qkv: &qkv,
                gate_up: &gate_up,
                wo,
                wd,
                keys: &keys,
                values: &values,
                attn_norm: &attn_norm,
                ffn_norm: &ffn_norm,
                bias: bias.as_ref(),
                norms: norms.as_ref(),
                rope_params: &rope_params,
            };
            let shared = Shared {
                matrices: &place.matrices,
                table: &table,
                empty: &empty,
                attention_params: &attention_params,
                step: &act.step,
            };
            b.layer(&act.one, &layer, &shared, c);
            prefill.layer(&act.batch, &layer, &shared, c);
            cache.push((keys, values));
        }
        let output_norm = place.floats(
            &[("output_norm.weight".to_owned(), &weights.output_norm)],
            pending,
        )?;
        let ops = std::mem::take(&mut b.ops);
        b.rms_norm(
            &act.one.x,
            &output_norm,
            &act.one.normed,
            c.hidden,
            c.rms_eps,
        );
        let embedding_index = place.matrices(
            "token_embd",
            &[("token_embd.weight".to_owned(), &weights.embedding)],
        )?[0]
            .0;
        let output_index = match &weights.output {
            Some(output) => place.matrices("output", &[("output.weight".to_owned(), output)])?[0].0,
            None => embedding_index,
        };
        b.matvec(
            &place.matrices[output_index],
            &act.one.normed,
            &act.logits,
            0,
            false,
            c.vocab,
        );
        let embedding = &place.matrices[embedding_index];
        debug_assert_eq!(embedding.format, embedding_format);
        let embed_pipeline = kernels.embed.clone();
        let layout = embed_pipeline.get_bind_group_layout(0);
        let embed_binds = embedding
            .shards
            .iter()
            .map(|shard| {
                let entries: [(u32, &dyn Bind); 3] =
                    [(0, &shard.buffer), (2, &act.one.x), (3, &act.embed_params)];
                bind_group(device, &layout, "embed", &entries)
            })
            .collect();
        let embed_lanes_pipeline = kernels.embed_lanes.clone();
        let layout = embed_lanes_pipeline.get_bind_group_layout(0);
        let embed_lanes_binds = embedding
            .shards
            .iter()
            .map(|shard| {
                let params = uniform(
                    device,
                    &[
                        shard.first_row as u32,
                        embedding.cols as u32,
                        embedding.row_bytes as u32,
                        shard.rows as u32,
                    ],
                );
                let entries: [(u32, &dyn Bind); 4] = [
                    (0, &shard.buffer),
                    (2, &act.batch.x),
                    (3, &params),
                    (4, &act.tokens),
                ];
                bind_group(device, &layout, "embed lanes", &entries)
            })
            .collect();
        let final_ops = b.ops;
        let prefill_ops = prefill.ops;
        let (matrices, targets, missing) = (place.matrices, place.targets, place.missing);
        Ok(Self {
            ctx,
            config,
            capacity,
            shape,
            kv,
            matrices,
            embedding: embedding_index,
            embed_binds,
            embed_pipeline,
            embed_lanes_binds,
            embed_lanes_pipeline,
            ops,
            prefill_ops,
            final_ops,
            act,
            rope_table: table,
            cache,
            _empty: empty,
            targets,
            missing,
        })
    }

    /// Writes one tensor's bytes (GGUF name, type and raw data) into its place on the device —
    /// how a model allocated from a GGUF header receives its data tensor by tensor. Tensors the
    /// engine does not use are ignored.
    pub fn write_tensor(
        &mut self,
        name: &str,
        ggml_type: GgmlType,
        bytes: &[u8],
    ) -> Result<(), GpuError> {
        let Some(target) = self.targets.get(name) else {
            return Ok(());
        };
        match target {
            Target::Rows {
                matrix,
                first_row,
                rows,
            } => {
                let gpu = &self.matrices[*matrix];
                if bytes.len() != rows * gpu.row_bytes {
                    return Err(GpuError(format!(
                        "tensor {name}: {} bytes, expected {rows} rows of {}",
                        bytes.len(),
                        gpu.row_bytes
                    )));
                }
                write_rows(&self.ctx.queue, gpu, *first_row, bytes)?;
            }
            Target::Floats {
                buffer,
                offset,
                len,
            } => {
                let values = dequantize(ggml_type, bytes, *len)
                    .map_err(|e| GpuError(format!("tensor {name}: {e}")))?;
                buffer.write(&self.ctx.queue, *offset, &float_bytes(&values))?;
            }
            Target::RopeFreqs => {
                let factors = dequantize(ggml_type, bytes, self.config.head_dim / 2)
                    .map_err(|e| GpuError(format!("tensor {name}: {e}")))?;
                let inverse = rope::inverse_frequencies(&self.config, Some(&factors));
                let table = float_bytes(&rope::table(&inverse, self.capacity));
                self.rope_table.write(&self.ctx.queue, 0, &table)?;
            }
        }
        self.missing.remove(name);
        Ok(())
    }

    /// A float weight (norm or bias, by GGUF name) as the burn tensor holding it and the range
    /// of its values there (q/k/v biases and q/k norms share one tensor per layer).
    pub fn float_weight(&self, name: &str) -> Option<(&SharedTensor, std::ops::Range<usize>)> {
        match self.targets.get(name)? {
            Target::Floats {
                buffer,
                offset,
                len,
            } => {
                let first = (*offset / 4) as usize;
                Some((buffer, first..first + len))
            }
            _ => None,
        }
    }

    /// Layer `layer`'s KV cache as burn tensors (keys, values): `capacity` positions of
    /// `kv_heads × head_dim` values each, in the precision `kv_precision` says.
    pub fn kv_cache(&self, layer: usize) -> Option<(&SharedTensor, &SharedTensor)> {
        self.cache.get(layer).map(|(keys, values)| (keys, values))
    }

    /// Tensors that were never written (empty once a streamed model is complete).
    pub fn missing_tensors(&self) -> Vec<String> {
        self.missing.iter().cloned().collect()
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Positions the KV cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The adapter in use (name and backend).
    pub fn adapter(&self) -> &str {
        &self.ctx.adapter
    }

    /// How the KV cache stores keys and values.
    pub fn kv_precision(&self) -> KvPrecision {
        self.kv
    }

    /// Which matrix-vector kernel shape runs.
    pub fn matvec_shape(&self) -> MatvecShape {
        self.shape
    }

    /// The device as burn sees it (every tensor of the model is burn's memory on it).
    pub fn burn_device(&self) -> &super::burn::BurnDevice {
        &self.ctx.burn
    }

    /// Dispatches per decode step (the per-token overhead on adapters that sync per dispatch).
    pub fn dispatches_per_step(&self) -> usize {
        self.ops.len() + self.final_ops.len() + 1
    }

    /// Seconds one decode step at `position` spends in each kind of kernel (best of three runs
    /// of `repeat` steps' worth of that kind alone), for comparing them with other kernels.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn kernel_seconds(
        &self,
        position: usize,
        repeat: u32,
    ) -> Result<Vec<(&'static str, f64)>, GpuError> {
        if position >= self.capacity {
            return Err(GpuError(format!("position {position} is past the cache")));
        }
        let queue = &self.ctx.queue;
        queue.write_buffer(&self.act.step, 0, &words(&[position as u32, 1]));
        let mut kinds: Vec<&'static str> = Vec::new();
        for op in self.ops.iter().chain(&self.final_ops) {
            if !kinds.contains(&op.kind) {
                kinds.push(op.kind);
            }
        }
        let mut times = Vec::new();
        for kind in kinds {
            let ops: Vec<&Op> = self
                .ops
                .iter()
                .chain(&self.final_ops)
                .filter(|op| op.kind == kind)
                .collect();
            let mut best = f64::MAX;
            for run in 0..4 {
                let started = std::time::Instant::now();
                let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    for _ in 0..repeat {
                        for op in &ops {
                            pass.set_pipeline(&op.pipeline);
                            pass.set_bind_group(0, &op.bind, &[]);
                            pass.dispatch_workgroups(op.groups.0, op.groups.1, 1);
                        }
                    }
                }
                queue.submit([encoder.finish()]);
                self.ctx
                    .device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| GpuError(format!("GPU wait failed: {e}")))?;
                if run > 0 {
                    best = best.min(started.elapsed().as_secs_f64());
                }
            }
            times.push((kind, best / f64::from(repeat.max(1))));
        }
        Ok(times)
    }

    fn run(pass: &mut wgpu::ComputePass, ops: &[Op]) {
        for op in ops {
            pass.set_pipeline(&op.pipeline);
            pass.set_bind_group(0, &op.bind, &[]);
            pass.dispatch_workgroups(op.groups.0, op.groups.1, 1);
        }
    }

    /// Records up to `PREFILL_LANES` prompt tokens at positions `pos..` as one batch; with
    /// `read`, also the last token's logits.
    fn record_lanes(&self, tokens: &[u32], pos: usize, read: bool) -> Result<(), GpuError> {
        let queue = &self.ctx.queue;
        let mut ids = [0u32; PREFILL_LANES];
        ids[..tokens.len()].copy_from_slice(tokens);
        self.act.tokens.write(queue, 0, &words(&ids))?;
        let step = words(&[pos as u32, tokens.len() as u32]);
        queue.write_buffer(&self.act.step, 0, &step);
        let embedding = &self.matrices[self.embedding];
        let items = ((embedding.cols / 32) as u32).div_ceil(64);
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.embed_lanes_pipeline);
            for bind in &self.embed_lanes_binds {
                pass.set_bind_group(0, bind, &[]);
                pass.dispatch_workgroups(items, PREFILL_LANES as u32, 1);
            }
            Self::run(&mut pass, &self.prefill_ops);
        }
        if read {
            let row = (self.config.hidden * 4) as u64;
            let last = (tokens.len() - 1) as u64;
            let (from, to) = (&self.act.batch.x, &self.act.one.x);
            encoder.copy_buffer_to_buffer(
                from.buffer(),
                from.offset() + last * row,
                to.buffer(),
                to.offset(),
                row,
            );
            let mut pass = encoder.begin_compute_pass(&Default::default());
            Self::run(&mut pass, &self.final_ops);
        }
        queue.submit([encoder.finish()]);
        Ok(())
    }

    /// Records one token's forward pass at `pos`; with `read`, through to the logits.
    fn record(&self, token: u32, pos: usize, read: bool) {
        let queue = &self.ctx.queue;
        let embedding = &self.matrices[self.embedding];
        let (shard, local) = embedding.locate(token as usize);
        let shard_index = embedding
            .shards
            .iter()
            .position(|s| std::ptr::eq(s, shard))
            .unwrap_or(0);
        queue.write_buffer(&self.act.step, 0, &words(&[pos as u32, 1]));
        let embed_params = words(&[
            local as u32,
            embedding.cols as u32,
            embedding.row_bytes as u32,
            0,
        ]);
        queue.write_buffer(&self.act.embed_params, 0, &embed_params);
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.embed_pipeline);
            pass.set_bind_group(0, &self.embed_binds[shard_index], &[]);
            pass.dispatch_workgroups(((embedding.cols / 32) as u32).div_ceil(64), 1, 1);
            Self::run(&mut pass, &self.ops);
            if read {
                Self::run(&mut pass, &self.final_ops);
            }
        }
        queue.submit([encoder.finish()]);
    }

    /// Runs `tokens` at positions `start..` and returns the logits after the last one.
    pub async fn forward_async(
        &mut self,
        tokens: &[u32],
        start: usize,
    ) -> Result<Vec<f32>, ModelError> {
        self.submit(tokens, start)?;
        self.act
            .logits
            .read()
            .await
            .map_err(|e| ModelError::Invalid(e.to_string()))
    }

    /// Runs `tokens` at positions `start..` and returns the most likely next token (the first
    /// on ties), read back as one index.
    pub async fn forward_greedy_async(
        &mut self,
        tokens: &[u32],
        start: usize,
    ) -> Result<u32, ModelError> {
        self.submit(tokens, start)?;
        self.act
            .logits
            .argmax()
            .await
            .map_err(|e| ModelError::Invalid(e.to_string()))
    }

    /// Runs `tokens` and returns what `want` asks for (the browser's async `forward_for`).
    pub async fn forward_for_async(
        &mut self,
        want: Want,
        tokens: &[u32],
        start: usize,
    ) -> Result<Output, ModelError> {
        Ok(match want {
            Want::Logits => Output::Logits(self.forward_async(tokens, start).await?),
            Want::Argmax => Output::Argmax(self.forward_greedy_async(tokens, start).await?),
        })
    }

    /// Checks and submits `tokens` at positions `start..`, through to the logits.
    fn submit(&mut self, tokens: &[u32], start: usize) -> Result<(), ModelError> {
        let needed = start + tokens.len();
        if needed > self.capacity {
            return Err(ModelError::ContextFull {
                needed,
                capacity: self.capacity,
            });
        }
        if let Some(bad) = tokens.iter().find(|t| **t as usize >= self.config.vocab) {
            return Err(ModelError::BadToken(*bad));
        }
        if tokens.is_empty() {
            return Err(ModelError::Invalid("no tokens to run".into()));
        }
        if tokens.len() == 1 {
            self.record(tokens[0], start, true);
        } else {
            let batches = tokens.len().div_ceil(PREFILL_LANES);
            for (i, batch) in tokens.chunks(PREFILL_LANES).enumerate() {
                self.record_lanes(batch, start + i * PREFILL_LANES, i + 1 == batches)
                    .map_err(|e| ModelError::Invalid(e.to_string()))?;
            }
        }
        Ok(())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl crate::generate::Forward for GpuModel {
    fn forward(&mut self, tokens: &[u32], start: usize) -> Result<Vec<f32>, ModelError> {
        pollster::block_on(self.forward_async(tokens, start))
    }

    fn forward_greedy(&mut self, tokens: &[u32], start: usize) -> Result<u32, ModelError> {
        pollster::block_on(self.forward_greedy_async(tokens, start))
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_too_long_for_one_binding_is_refused_with_the_context_that_fits() {
        let text = r#"{"model_type":"llama","hidden_size":4096,
            "intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,
            "num_key_value_heads":8,"vocab_size":128256,"max_position_embeddings":131072,
            "rms_norm_eps":1e-5,"rope_theta":500000.0}"#;
        let c = ModelConfig::from_hf_json(text).unwrap();
        let binding = 128 << 20;
        // 8 kv heads × 128 dims × 2 bytes = 2 KiB per position: 65536 positions fit in 128 MiB.
        assert!(cache_fits(&c, 65536, KvPrecision::F16, binding).is_ok());
        let error = cache_fits(&c, 131072, KvPrecision::F16, binding).unwrap_err();
        assert!(error.0.contains("at most 65536"), "{error}");
        let error = cache_fits(&c, 65536, KvPrecision::F32, binding).unwrap_err();
        assert!(
            error.0.contains("KV cache") && error.0.contains("at most 32768"),
            "{error}"
        );
    }
}
