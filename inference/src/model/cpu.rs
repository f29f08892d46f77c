//! The CPU forward pass. Two kinds of products: the f32 reference (every GPU kernel and the
//! fast path are checked against it) and the int8 kernels (`kernels/`, llama.cpp's scheme),
//! which run the CLI and the browser where no usable GPU is present. Prompts run in batches
//! of up to [`BATCH`] tokens, so each weight row is read once per batch; a KV cache is
//! allocated once for the whole context.

use super::error::ModelError;
use super::matrix::{Int8Scratch, Matrix};
use super::rope;
use super::weights::{LayerWeights, Weights};
use crate::config::ModelConfig;

/// Prompt tokens run together (bounds the scratch buffers: `BATCH × intermediate` floats).
/// Each weight row is unpacked once per batch; in the page a batch is also the stretch of
/// work between two returns to the event loop, so it stays shorter there.
pub const BATCH: usize = if cfg!(target_arch = "wasm32") { 32 } else { 64 };

/// Which products the forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Products {
    /// Weights widened to f32, activations in f32: the oracle.
    Reference,
    /// GGUF block weights times int8-quantized activations: the speed path.
    Int8,
}

/// A model ready to run, with its KV cache.
pub struct CpuModel {
    weights: Weights,
    inverse_freq: Vec<f32>,
    capacity: usize,
    /// `[layer][position][kv_heads * head_dim]`.
    keys: Vec<f32>,
    values: Vec<f32>,
    scratch: Scratch,
    int8: Option<Int8Scratch>,
}

/// Buffers reused by every step (no per-token allocation), each `BATCH` rows deep.
struct Scratch {
    x: Vec<f32>,
    normed: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
}

/// Root-mean-square normalisation with a learned scale.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean_square = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (mean_square + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// [`rms_norm`] of each `weight.len()`-wide row of `x`.
fn rms_norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let width = weight.len();
    for (row, o) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        rms_norm(row, weight, eps, o);
    }
}

/// Adds `bias` to each `bias.len()`-wide row of `x`.
fn add_bias_rows(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

impl CpuModel {
    /// The reference engine for `weights` with a KV cache for `context` positions (capped at
    /// the model's own). (Weights from `load_gguf_layout` hold no data yet and read as zeros:
    /// they are for the GPU engine's streamed loading only.)
    pub fn new(weights: Weights, context: usize) -> Self {
        Self::with_products(weights, context, Products::Reference)
    }

    /// As [`CpuModel::new`], choosing the products.
    pub fn with_products(weights: Weights, context: usize, products: Products) -> Self {
        let c = &weights.config;
        let capacity = context.min(c.context).max(1);
        let kv_len = c.layers * capacity * c.kv_heads * c.head_dim;
        let inverse_freq = rope::inverse_frequencies(c, weights.rope_freq_factors.as_deref());
        let rows = |width: usize| vec![0.0; BATCH * width];
        let scratch = Scratch {
            x: rows(c.hidden),
            normed: rows(c.hidden),
            q: rows(c.heads * c.head_dim),
            k: rows(c.kv_heads * c.head_dim),
            v: rows(c.kv_heads * c.head_dim),
            attn: rows(c.heads * c.head_dim),
            proj: rows(c.hidden),
            gate: rows(c.intermediate),
            up: rows(c.intermediate),
            scores: vec![0.0; capacity],
        };
        Self {
            inverse_freq,
            capacity,
            keys: vec![0.0; kv_len],
            values: vec![0.0; kv_len],
            scratch,
            int8: (products == Products::Int8).then(Int8Scratch::default),
            weights,
        }
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.weights.config
    }

    /// Positions the KV cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Runs `tokens` at positions `start..` and returns the logits after the last one.
    pub fn forward(&mut self, tokens: &[u32], start: usize) -> Result<Vec<f32>, ModelError> {
        let mut logits = self.forward_all(tokens, start, false)?;
        Ok(logits.pop().unwrap_or_default())
    }

    /// Runs `tokens` at positions `start..`; returns logits for every token when `every` is set,
    /// else only the last token's (tests compare every position with the reference).
    pub fn forward_all(
        &mut self,
        tokens: &[u32],
        start: usize,
        every: bool,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let needed = start + tokens.len();
        if needed > self.capacity {
            return Err(ModelError::ContextFull {
                needed,
                capacity: self.capacity,
            });
        }
        if let Some(bad) = tokens.iter().find(|t| **t as usize >= self.config().vocab) {
            return Err(ModelError::BadToken(*bad));
        }
        // Natively the whole pass runs on one of the pool's threads, so that each product's
        // row split starts where it is (one hand-off per call, not one per product: on a busy
        // machine every hand-off waits for the scheduler).
        #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
        return Ok(rayon::scope(|_| self.run(tokens, start, every, needed)));
        #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
        Ok(self.run(tokens, start, every, needed))
    }

    /// [`CpuModel::forward_all`] once the tokens are checked.
    fn run(&mut self, tokens: &[u32], start: usize, every: bool, needed: usize) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for (i, batch) in tokens.chunks(BATCH).enumerate() {
            let first = start + i * BATCH;
            self.step(batch, first);
            let last_batch = first + batch.len() == needed;
            if every {
                out.extend(self.logits(0..batch.len()));
            } else if last_batch {
                out.extend(self.logits(batch.len() - 1..batch.len()));
            }
        }
        out
    }

    /// Runs one batch of tokens at positions `start..` through every layer.
    fn step(&mut self, tokens: &[u32], start: usize) {
        let hidden = self.weights.config.hidden;
        let mut row = Vec::with_capacity(hidden);
        for (t, token) in tokens.iter().enumerate() {
            self.weights.embedding.row_into(*token as usize, &mut row);
            self.scratch.x[t * hidden..(t + 1) * hidden].copy_from_slice(&row);
        }
        for layer in 0..self.weights.layers.len() {
            self.attention(layer, start, tokens.len());
            self.mlp(layer, tokens.len());
        }
    }

    fn attention(&mut self, layer_index: usize, start: usize, n: usize) {
        let c = &self.weights.config;
        let (head_dim, heads, kv_heads) = (c.head_dim, c.heads, c.kv_heads);
        let (q_dim, kv_dim) = (heads * head_dim, kv_heads * head_dim);
        let layer: &LayerWeights = &self.weights.layers[layer_index];
        let s = &mut self.scratch;
        let int8 = &mut self.int8;
        let (x, normed) = (&s.x[..n * c.hidden], &mut s.normed[..n * c.hidden]);
        rms_norm_rows(x, &layer.attn_norm, c.rms_eps, normed);
        let (q, k, v) = (
            &mut s.q[..n * q_dim],
            &mut s.k[..n * kv_dim],
            &mut s.v[..n * kv_dim],
        );
        Matrix::matmul_group(
            &[&layer.q, &layer.k, &layer.v],
            normed,
            &mut [&mut *q, &mut *k, &mut *v],
            int8.as_mut(),
        );
        if let Some([bq, bk, bv]) = &layer.qkv_bias {
            add_bias_rows(q, bq);
            add_bias_rows(k, bk);
            add_bias_rows(v, bv);
        }
        if let Some([nq, nk]) = &layer.qk_norm {
            for head in q.chunks_exact_mut(head_dim) {
                let copy = head.to_vec();
                rms_norm(&copy, nq, c.rms_eps, head);
            }
            for head in k.chunks_exact_mut(head_dim) {
                let copy = head.to_vec();
                rms_norm(&copy, nk, c.rms_eps, head);
            }
        }
        let style = self.weights.rope_style;
        let layer_base = layer_index * self.capacity * kv_dim;
        for t in 0..n {
            let pos = start + t;
            let (qt, kt) = (
                &mut q[t * q_dim..(t + 1) * q_dim],
                &mut k[t * kv_dim..(t + 1) * kv_dim],
            );
            rope::apply(qt, head_dim, pos, &self.inverse_freq, style);
            rope::apply(kt, head_dim, pos, &self.inverse_freq, style);
            let slot = layer_base + pos * kv_dim;
            self.keys[slot..slot + kv_dim].copy_from_slice(kt);
            self.values[slot..slot + kv_dim].copy_from_slice(&v[t * kv_dim..(t + 1) * kv_dim]);
        }
        let group = heads / kv_heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        for t in 0..n {
            let pos = start + t;
            for h in 0..heads {
                let kv_head = h / group;
                let qh = &q[t * q_dim + h * head_dim..][..head_dim];
                let scores = &mut s.scores[..=pos];
                for (p, score) in scores.iter_mut().enumerate() {
                    let at = layer_base + p * kv_dim + kv_head * head_dim;
                    *score = super::matrix::dot(qh, &self.keys[at..at + head_dim]) * scale;
                }
                softmax_in_place(scores);
                let out = &mut s.attn[t * q_dim + h * head_dim..][..head_dim];
                out.fill(0.0);
                for (p, weight) in scores.iter().enumerate() {
                    let at = layer_base + p * kv_dim + kv_head * head_dim;
                    for (o, v) in out.iter_mut().zip(&self.values[at..at + head_dim]) {
                        *o += weight * v;
                    }
                }
            }
        }
        let proj = &mut s.proj[..n * c.hidden];
        layer.o.matmul(&s.attn[..n * q_dim], proj, int8.as_mut());
        add_into(&mut s.x[..n * c.hidden], proj);
    }

    fn mlp(&mut self, layer_index: usize, n: usize) {
        let c = &self.weights.config;
        let layer = &self.weights.layers[layer_index];
        let s = &mut self.scratch;
        let int8 = &mut self.int8;
        let normed = &mut s.normed[..n * c.hidden];
        rms_norm_rows(&s.x[..n * c.hidden], &layer.ffn_norm, c.rms_eps, normed);
        let (gate, up) = (
            &mut s.gate[..n * c.intermediate],
            &mut s.up[..n * c.intermediate],
        );
        Matrix::matmul_group(
            &[&layer.gate, &layer.up],
            normed,
            &mut [&mut *gate, &mut *up],
            int8.as_mut(),
        );
        for (g, u) in gate.iter_mut().zip(up.iter()) {
            *g = *g / (1.0 + (-*g).exp()) * u;
        }
        let proj = &mut s.proj[..n * c.hidden];
        layer.down.matmul(gate, proj, int8.as_mut());
        add_into(&mut s.x[..n * c.hidden], proj);
    }

    /// Logits for the batch rows in `rows`.
    fn logits(&mut self, rows: std::ops::Range<usize>) -> Vec<Vec<f32>> {
        let c = &self.weights.config;
        let s = &mut self.scratch;
        let (from, to) = (rows.start * c.hidden, rows.end * c.hidden);
        rms_norm_rows(
            &s.x[from..to],
            &self.weights.output_norm,
            c.rms_eps,
            &mut s.normed[from..to],
        );
        let output: &Matrix = self.weights.output_matrix();
        let mut logits = vec![0.0; rows.len() * output.rows];
        output.matmul(&s.normed[from..to], &mut logits, self.int8.as_mut());
        logits
            .chunks_exact(output.rows)
            .map(<[f32]>::to_vec)
            .collect()
    }
}
