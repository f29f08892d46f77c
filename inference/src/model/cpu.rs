//! The reference forward pass on the CPU: every GPU kernel and the browser engine are checked
//! against it, and it runs the CLI where no GPU is present. One token at a time, with a KV cache
//! allocated once for the whole context.

use super::error::ModelError;
use super::matrix::Matrix;
use super::rope;
use super::weights::{LayerWeights, Weights};
use crate::config::ModelConfig;

/// A model ready to run, with its KV cache.
pub struct CpuModel {
    weights: Weights,
    inverse_freq: Vec<f32>,
    capacity: usize,
    /// `[layer][position][kv_heads * head_dim]`.
    keys: Vec<f32>,
    values: Vec<f32>,
    scratch: Scratch,
}

/// Buffers reused by every step (no per-token allocation).
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

fn add_bias(x: &mut [f32], bias: &[f32]) {
    for (v, b) in x.iter_mut().zip(bias) {
        *v += b;
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
    /// Prepares `weights` with a KV cache for `context` positions (capped at the model's own).
    /// (Weights from `load_gguf_layout` hold no data yet and read as zeros: they are for the
    /// GPU engine's streamed loading only.)
    pub fn new(weights: Weights, context: usize) -> Self {
        let c = &weights.config;
        let capacity = context.min(c.context).max(1);
        let kv_len = c.layers * capacity * c.kv_heads * c.head_dim;
        let inverse_freq = rope::inverse_frequencies(c, weights.rope_freq_factors.as_deref());
        let scratch = Scratch {
            x: vec![0.0; c.hidden],
            normed: vec![0.0; c.hidden],
            q: vec![0.0; c.heads * c.head_dim],
            k: vec![0.0; c.kv_heads * c.head_dim],
            v: vec![0.0; c.kv_heads * c.head_dim],
            attn: vec![0.0; c.heads * c.head_dim],
            proj: vec![0.0; c.hidden],
            gate: vec![0.0; c.intermediate],
            up: vec![0.0; c.intermediate],
            scores: vec![0.0; capacity],
        };
        Self {
            inverse_freq,
            capacity,
            keys: vec![0.0; kv_len],
            values: vec![0.0; kv_len],
            scratch,
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
        let mut out = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let last = i + 1 == tokens.len();
            self.step(*token, start + i);
            if every || last {
                out.push(self.logits());
            }
        }
        Ok(out)
    }

    fn step(&mut self, token: u32, pos: usize) {
        let mut row = std::mem::take(&mut self.scratch.x);
        self.weights.embedding.row_into(token as usize, &mut row);
        self.scratch.x = row;
        for layer in 0..self.weights.layers.len() {
            self.attention(layer, pos);
            self.mlp(layer);
        }
    }

    fn attention(&mut self, layer_index: usize, pos: usize) {
        let c = &self.weights.config;
        let (head_dim, heads, kv_heads) = (c.head_dim, c.heads, c.kv_heads);
        let kv_dim = kv_heads * head_dim;
        let layer: &LayerWeights = &self.weights.layers[layer_index];
        let s = &mut self.scratch;
        rms_norm(&s.x, &layer.attn_norm, c.rms_eps, &mut s.normed);
        layer.q.matvec(&s.normed, &mut s.q);
        layer.k.matvec(&s.normed, &mut s.k);
        layer.v.matvec(&s.normed, &mut s.v);
        if let Some([bq, bk, bv]) = &layer.qkv_bias {
            add_bias(&mut s.q, bq);
            add_bias(&mut s.k, bk);
            add_bias(&mut s.v, bv);
        }
        if let Some([nq, nk]) = &layer.qk_norm {
            for head in s.q.chunks_exact_mut(head_dim) {
                let copy = head.to_vec();
                rms_norm(&copy, nq, c.rms_eps, head);
            }
            for head in s.k.chunks_exact_mut(head_dim) {
                let copy = head.to_vec();
                rms_norm(&copy, nk, c.rms_eps, head);
            }
        }
        let style = self.weights.rope_style;
        rope::apply(&mut s.q, head_dim, pos, &self.inverse_freq, style);
        rope::apply(&mut s.k, head_dim, pos, &self.inverse_freq, style);
        let layer_base = layer_index * self.capacity * kv_dim;
        let slot = layer_base + pos * kv_dim;
        self.keys[slot..slot + kv_dim].copy_from_slice(&s.k);
        self.values[slot..slot + kv_dim].copy_from_slice(&s.v);
        let group = heads / kv_heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        for h in 0..heads {
            let kv_head = h / group;
            let q = &s.q[h * head_dim..(h + 1) * head_dim];
            let scores = &mut s.scores[..=pos];
            for (p, score) in scores.iter_mut().enumerate() {
                let at = layer_base + p * kv_dim + kv_head * head_dim;
                *score = super::matrix::dot(q, &self.keys[at..at + head_dim]) * scale;
            }
            softmax_in_place(scores);
            let out = &mut s.attn[h * head_dim..(h + 1) * head_dim];
            out.fill(0.0);
            for (p, weight) in scores.iter().enumerate() {
                let at = layer_base + p * kv_dim + kv_head * head_dim;
                for (o, v) in out.iter_mut().zip(&self.values[at..at + head_dim]) {
                    *o += weight * v;
                }
            }
        }
        layer.o.matvec(&s.attn, &mut s.proj);
        for (x, p) in s.x.iter_mut().zip(&s.proj) {
            *x += p;
        }
    }

    fn mlp(&mut self, layer_index: usize) {
        let c = &self.weights.config;
        let layer = &self.weights.layers[layer_index];
        let s = &mut self.scratch;
        rms_norm(&s.x, &layer.ffn_norm, c.rms_eps, &mut s.normed);
        layer.gate.matvec(&s.normed, &mut s.gate);
        layer.up.matvec(&s.normed, &mut s.up);
        for (g, u) in s.gate.iter_mut().zip(&s.up) {
            *g = *g / (1.0 + (-*g).exp()) * u;
        }
        layer.down.matvec(&s.gate, &mut s.proj);
        for (x, p) in s.x.iter_mut().zip(&s.proj) {
            *x += p;
        }
    }

    fn logits(&mut self) -> Vec<f32> {
        let c = &self.weights.config;
        let s = &mut self.scratch;
        rms_norm(&s.x, &self.weights.output_norm, c.rms_eps, &mut s.normed);
        let output: &Matrix = self.weights.output_matrix();
        let mut logits = vec![0.0; output.rows];
        output.matvec(&s.normed, &mut logits);
        logits
    }
}
