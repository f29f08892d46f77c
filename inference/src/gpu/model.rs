//! The GPU forward pass: every decode step runs on the device through the kernels of
//! `shaders/`; all bind groups are built at load time, so a step only writes the position,
//! records the dispatches, submits, and reads back the logits.

use wgpu::util::DeviceExt;

use super::GpuError;
use super::context::GpuContext;
use super::kernels::{Kernels, MatvecShape};
use super::readback::read_f32;
use super::upload::{GpuMatrix, layout_of, stackable, upload, upload_stacked};
use crate::config::ModelConfig;
use crate::model::matrix::Matrix;
use crate::model::weights::{RopeStyle, Weights};
use crate::model::{ModelError, rope};

/// Load-time choices.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Shard weights above this many bytes (default: the device's largest binding); tests set
    /// it low to exercise sharding on tiny models.
    pub max_shard_bytes: Option<u64>,
    /// Matrix-vector kernel shape; `None` picks by adapter (thread per row on CPU adapters).
    pub matvec_shape: Option<MatvecShape>,
}

/// One recorded dispatch of a forward pass.
struct Op {
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: (u32, u32),
}

/// Activation buffers shared by every layer.
struct Activations {
    x: wgpu::Buffer,
    normed: wgpu::Buffer,
    qkv: wgpu::Buffer,
    attn: wgpu::Buffer,
    gate_up: wgpu::Buffer,
    act: wgpu::Buffer,
    scores: wgpu::Buffer,
    logits: wgpu::Buffer,
    staging: wgpu::Buffer,
    step: wgpu::Buffer,
    embed_params: wgpu::Buffer,
}

/// A model on the GPU with its KV cache.
pub struct GpuModel {
    ctx: GpuContext,
    config: ModelConfig,
    capacity: usize,
    shape: MatvecShape,
    embedding: GpuMatrix,
    embed_binds: Vec<wgpu::BindGroup>,
    embed_pipeline: wgpu::ComputePipeline,
    ops: Vec<Op>,
    act: Activations,
    /// Keeps weight buffers alive (ops hold bind groups that reference them).
    _keep: Vec<GpuMatrix>,
}

fn storage(device: &wgpu::Device, label: &str, floats: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (floats.max(1) * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn floats(device: &wgpu::Device, label: &str, values: &[f32]) -> wgpu::Buffer {
    let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes.resize(bytes.len().max(4), 0);
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: &bytes,
        usage: wgpu::BufferUsages::STORAGE,
    })
}

fn uniform(device: &wgpu::Device, words: &[u32]) -> wgpu::Buffer {
    let mut bytes: Vec<u8> = words.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes.resize(bytes.len().div_ceil(16).max(1) * 16, 0);
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: &bytes,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

/// Builds the op list.
struct Builder<'a> {
    device: &'a wgpu::Device,
    kernels: &'a Kernels,
    ops: Vec<Op>,
}

impl Builder<'_> {
    fn dispatch(
        &mut self,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        entries: &[(u32, &wgpu::Buffer)],
        groups: (u32, u32),
    ) {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = entries
            .iter()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &layout,
            entries: &entries,
        });
        self.ops.push(Op {
            pipeline: pipeline.clone(),
            bind,
            groups,
        });
    }

    /// `y[offset..] (+)= W x`, one dispatch per shard.
    fn matvec(
        &mut self,
        matrix: &GpuMatrix,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        offset: usize,
        accumulate: bool,
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
                ],
            );
            let rows = shard.rows as u32;
            let groups = match self.kernels.shape {
                MatvecShape::Workgroup => (rows.min(32768), rows.div_ceil(32768)),
                MatvecShape::Thread => (rows.div_ceil(64), 1),
            };
            let pipeline = self.kernels.matvec(matrix.format).clone();
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
        src: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        n: usize,
        eps: f32,
    ) {
        let params = uniform(self.device, &[n as u32, eps.to_bits()]);
        let pipeline = self.kernels.rms_norm.clone();
        self.dispatch(
            "norm",
            &pipeline,
            &[(0, src), (1, weight), (2, dst), (3, &params)],
            (1, 1),
        );
    }
}

/// Uploads `parts` stacked when their layouts allow (one dispatch), else one by one; returns
/// each matrix with the output offset its rows go to.
fn upload_group(
    ctx: &GpuContext,
    name: &str,
    parts: &[&Matrix],
    max_shard: u64,
) -> Result<Vec<(GpuMatrix, usize)>, GpuError> {
    if stackable(parts) {
        return Ok(vec![(
            upload_stacked(&ctx.device, &ctx.queue, name, parts, max_shard)?,
            0,
        )]);
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, part) in parts.iter().enumerate() {
        out.push((
            upload(
                &ctx.device,
                &ctx.queue,
                &format!("{name}[{i}]"),
                part,
                max_shard,
            )?,
            offset,
        ));
        offset += part.rows;
    }
    Ok(out)
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
        let kernels = Kernels::new(device, &formats, shape, c.head_dim);
        let (q_dim, kv_dim) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let act = Activations {
            x: storage(device, "x", c.hidden),
            normed: storage(device, "normed", c.hidden),
            qkv: storage(device, "qkv", q_dim + 2 * kv_dim),
            attn: storage(device, "attn", q_dim),
            gate_up: storage(device, "gate_up", 2 * c.intermediate),
            act: storage(device, "act", c.intermediate),
            scores: storage(device, "scores", c.heads * capacity),
            logits: storage(device, "logits", c.vocab),
            staging: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("logits staging"),
                size: (c.vocab * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            step: uniform(device, &[0]),
            embed_params: uniform(device, &[0, 0, 0]),
        };
        let inverse = rope::inverse_frequencies(c, weights.rope_freq_factors.as_deref());
        let table = floats(device, "rope table", &rope::table(&inverse, capacity));
        let interleaved = u32::from(weights.rope_style == RopeStyle::Interleaved);
        let attention_params = uniform(
            device,
            &[
                c.head_dim as u32,
                c.heads as u32,
                c.kv_heads as u32,
                capacity as u32,
                (1.0 / (c.head_dim as f32).sqrt()).to_bits(),
            ],
        );
        let empty = floats(device, "empty", &[0.0]);
        let mut keep = Vec::new();
        let mut b = Builder {
            device,
            kernels: &kernels,
            ops: Vec::new(),
        };
        for (i, layer) in weights.layers.iter().enumerate() {
            let qkv = upload_group(
                &ctx,
                &format!("blk.{i}.qkv"),
                &[&layer.q, &layer.k, &layer.v],
                max_shard,
            )?;
            let gate_up = upload_group(
                &ctx,
                &format!("blk.{i}.gate_up"),
                &[&layer.gate, &layer.up],
                max_shard,
            )?;
            let wo = upload(
                &ctx.device,
                &ctx.queue,
                &format!("blk.{i}.o"),
                &layer.o,
                max_shard,
            )?;
            let wd = upload(
                &ctx.device,
                &ctx.queue,
                &format!("blk.{i}.down"),
                &layer.down,
                max_shard,
            )?;
            let keys = storage(device, "keys", capacity * kv_dim);
            let values = storage(device, "values", capacity * kv_dim);
            let attn_norm = floats(device, "attn_norm", &layer.attn_norm);
            let ffn_norm = floats(device, "ffn_norm", &layer.ffn_norm);
            let bias = layer
                .qkv_bias
                .as_ref()
                .map(|parts| floats(device, "qkv bias", &parts.concat()));
            let norms = layer
                .qk_norm
                .as_ref()
                .map(|parts| floats(device, "qk norm", &parts.concat()));
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
                ],
            );
            b.rms_norm(&act.x, &attn_norm, &act.normed, c.hidden, c.rms_eps);
            for (matrix, offset) in &qkv {
                b.matvec(matrix, &act.normed, &act.qkv, *offset, false);
            }
            let rope_store = kernels.rope_store.clone();
            b.dispatch(
                "rope",
                &rope_store,
                &[
                    (0, &act.qkv),
                    (1, bias.as_ref().unwrap_or(&empty)),
                    (2, norms.as_ref().unwrap_or(&empty)),
                    (3, &table),
                    (4, &keys),
                    (5, &values),
                    (6, &rope_params),
                    (7, &act.step),
                ],
                ((c.heads + c.kv_heads) as u32, 1),
            );
            let attention = kernels.attention.clone();
            b.dispatch(
                "attention",
                &attention,
                &[
                    (0, &act.qkv),
                    (1, &keys),
                    (2, &values),
                    (3, &act.scores),
                    (4, &act.attn),
                    (5, &attention_params),
                    (6, &act.step),
                ],
                (c.heads as u32, 1),
            );
            b.matvec(&wo, &act.attn, &act.x, 0, true);
            b.rms_norm(&act.x, &ffn_norm, &act.normed, c.hidden, c.rms_eps);
            for (matrix, offset) in &gate_up {
                b.matvec(matrix, &act.normed, &act.gate_up, *offset, false);
            }
            let count = uniform(device, &[c.intermediate as u32]);
            let swiglu = kernels.swiglu.clone();
            b.dispatch(
                "swiglu",
                &swiglu,
                &[(0, &act.act), (1, &act.gate_up), (2, &count)],
                ((c.intermediate as u32).div_ceil(64), 1),
            );
            b.matvec(&wd, &act.act, &act.x, 0, true);
            keep.extend(qkv.into_iter().chain(gate_up).map(|(m, _)| m));
            keep.extend([wo, wd]);
        }
        let output_norm = floats(device, "output_norm", &weights.output_norm);
        b.rms_norm(&act.x, &output_norm, &act.normed, c.hidden, c.rms_eps);
        let embedding = upload(
            &ctx.device,
            &ctx.queue,
            "token_embd",
            &weights.embedding,
            max_shard,
        )?;
        match &weights.output {
            Some(output) => {
                let output = upload(&ctx.device, &ctx.queue, "output", output, max_shard)?;
                b.matvec(&output, &act.normed, &act.logits, 0, false);
                keep.push(output);
            }
            None => b.matvec(&embedding, &act.normed, &act.logits, 0, false),
        }
        let embed_pipeline = kernels.embed(embedding.format).clone();
        let layout = embed_pipeline.get_bind_group_layout(0);
        let embed_binds = embedding
            .shards
            .iter()
            .map(|shard| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("embed"),
                    layout: &layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: shard.buffer.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: act.x.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: act.embed_params.as_entire_binding(),
                        },
                    ],
                })
            })
            .collect();
        let ops = b.ops;
        Ok(Self {
            ctx,
            config,
            capacity,
            shape,
            embedding,
            embed_binds,
            embed_pipeline,
            ops,
            act,
            _keep: keep,
        })
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

    /// Which matrix-vector kernel shape runs.
    pub fn matvec_shape(&self) -> MatvecShape {
        self.shape
    }

    /// Dispatches per decode step (the per-token overhead on adapters that sync per dispatch).
    pub fn dispatches_per_step(&self) -> usize {
        self.ops.len() + 1
    }

    /// Records one token's forward pass at `pos`; copies logits out when `read` is set.
    fn record(&self, token: u32, pos: usize, read: bool) {
        let queue = &self.ctx.queue;
        let (shard, local) = self.embedding.locate(token as usize);
        let shard_index = self
            .embedding
            .shards
            .iter()
            .position(|s| std::ptr::eq(s, shard))
            .unwrap_or(0);
        queue.write_buffer(&self.act.step, 0, &(pos as u32).to_le_bytes());
        let embed_params: Vec<u8> = [
            local as u32,
            self.embedding.cols as u32,
            self.embedding.row_bytes as u32,
            0,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
        queue.write_buffer(&self.act.embed_params, 0, &embed_params);
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.embed_pipeline);
            pass.set_bind_group(0, &self.embed_binds[shard_index], &[]);
            pass.dispatch_workgroups(((self.embedding.cols / 32) as u32).div_ceil(64), 1, 1);
            for op in &self.ops {
                pass.set_pipeline(&op.pipeline);
                pass.set_bind_group(0, &op.bind, &[]);
                pass.dispatch_workgroups(op.groups.0, op.groups.1, 1);
            }
        }
        if read {
            encoder.copy_buffer_to_buffer(
                &self.act.logits,
                0,
                &self.act.staging,
                0,
                (self.config.vocab * 4) as u64,
            );
        }
        queue.submit([encoder.finish()]);
    }

    /// Runs `tokens` at positions `start..` and returns the logits after the last one.
    pub async fn forward_async(
        &mut self,
        tokens: &[u32],
        start: usize,
    ) -> Result<Vec<f32>, ModelError> {
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
        for (i, token) in tokens.iter().enumerate() {
            self.record(*token, start + i, i + 1 == tokens.len());
        }
        read_f32(&self.ctx.device, &self.act.staging, self.config.vocab)
            .await
            .map_err(|e| ModelError::Invalid(e.to_string()))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl crate::generate::Forward for GpuModel {
    fn forward(&mut self, tokens: &[u32], start: usize) -> Result<Vec<f32>, ModelError> {
        pollster::block_on(self.forward_async(tokens, start))
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}
