//! The GPU forward pass: every decode step runs on the device through the kernels of
//! `shaders/`; all bind groups are built at load time, so a step only writes the position,
//! records the dispatches and submits. Every tensor — weights, KV cache, activations, logits —
//! is memory burn allocated (`SharedTensor`) that the kernels bind in place; after a step burn
//! reads the logits back, or only their argmax for a greedy step.
//!
//! Where things are: `record.rs` is the forward pass as recorded ops (one transformer block
//! in `Builder::layer`, reading as the math); `build.rs` allocates the buffers and records the
//! op lists at load; `place.rs` says where each GGUF tensor's bytes go and writes them as a
//! streamed model arrives; `buffers.rs` holds the activations; `profile.rs` is bench-only.

mod buffers;
mod build;
mod place;
#[cfg(not(target_arch = "wasm32"))]
mod profile;
mod record;

use std::collections::{BTreeSet, HashMap};

use super::GpuError;
use super::burn::SharedTensor;
use super::context::GpuContext;
use super::kernels::{KvPrecision, MatvecShape, PREFILL_LANES};
use super::upload::GpuMatrix;
use crate::config::ModelConfig;
use crate::generate::Output;
use crate::model::ModelError;
use crate::model::weights::Weights;
use crate::sampling::Want;
use buffers::Activations;
use place::Target;
use record::{Op, words};

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
