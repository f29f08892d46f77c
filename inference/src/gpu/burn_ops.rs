//! The decode hot path written with burn's generic tensor ops (f32 weights), so that our WGSL
//! kernels are chosen over burn's by measurement on the same device, as `docs/ENGINE.md`
//! records: RMSNorm, rotary embedding, attention over a KV cache (grouped-query), the
//! matrix-vector products of a layer and the SwiGLU gate.

use std::time::Instant;

use burn_backend::ops::{ActivationOps, FloatTensorOps};
use burn_backend::{FloatDType, Shape, Slice, TensorData};
use burn_wgpu::{CubeBackend, CubeTensor};

use super::GpuError;
use super::burn::BurnDevice;
use crate::config::ModelConfig;

type B = CubeBackend;

/// A tensor of `values` with `dims` on `device`.
pub fn tensor(device: &BurnDevice, values: Vec<f32>, dims: &[usize]) -> CubeTensor {
    B::float_from_data(
        TensorData::new(values, Shape::from(dims.to_vec())),
        device.cube(),
    )
}

/// Reads a tensor back.
pub fn read(tensor: CubeTensor) -> Result<Vec<f32>, GpuError> {
    let data = pollster::block_on(B::float_into_data(tensor))
        .map_err(|e| GpuError(format!("reading a tensor failed: {e:?}")))?;
    data.try_to_vec::<f32>()
        .map_err(|e| GpuError(format!("tensor data: {e:?}")))
}

/// `x / sqrt(mean(x²) + eps) * weight` over the last dimension of `x` `[rows, n]`.
pub fn rms_norm(x: CubeTensor, weight: CubeTensor, eps: f32) -> CubeTensor {
    let squares = B::float_mul(x.clone(), x.clone());
    let mean = B::float_mean_dim(squares, 1);
    let scale = B::float_recip(B::float_sqrt(B::float_add_scalar(mean, eps.into())));
    B::float_mul(B::float_mul(x, scale), weight)
}

/// Rotary embedding, rotate-half layout, of `x` `[heads, d]` with `cos`/`sin` `[1, d/2]`.
pub fn rope(x: CubeTensor, cos: CubeTensor, sin: CubeTensor) -> CubeTensor {
    let dims = x.meta.shape().to_vec();
    let (heads, d) = (dims[0], dims[1]);
    let half = |from: usize| {
        B::float_slice(
            x.clone(),
            &[
                Slice::new(0, Some(heads as isize), 1),
                Slice::new(from as isize, Some((from + d / 2) as isize), 1),
            ],
        )
    };
    let (first, second) = (half(0), half(d / 2));
    let rotated_first = B::float_sub(
        B::float_mul(first.clone(), cos.clone()),
        B::float_mul(second.clone(), sin.clone()),
    );
    let rotated_second = B::float_add(B::float_mul(second, cos), B::float_mul(first, sin));
    B::float_cat(vec![rotated_first, rotated_second], 1)
}

/// Softmax attention of `q` `[kv_heads, group, d]` over `keys`/`values` `[kv_heads, len, d]`
/// (each key/value head serves `group` query heads).
pub fn attention(q: CubeTensor, keys: CubeTensor, values: CubeTensor) -> CubeTensor {
    let d = q.meta.shape()[2];
    let scores = B::float_mul_scalar(
        B::float_matmul(q, B::float_swap_dims(keys, 1, 2)),
        (1.0 / (d as f32).sqrt()).into(),
    );
    let max = B::float_max_dim(scores.clone(), 2);
    let weights = B::float_exp(B::float_sub(scores, max));
    let total = B::float_sum_dim(weights.clone(), 2);
    B::float_matmul(B::float_div(weights, total), values)
}

/// `silu(gate) * up`.
pub fn swiglu(gate: CubeTensor, up: CubeTensor) -> CubeTensor {
    let silu = B::float_mul(gate.clone(), B::sigmoid(gate));
    B::float_mul(silu, up)
}

/// One decode step's tensors for `config` at `position`, in f32, for timing burn's ops.
struct Step {
    x: CubeTensor,
    norm: CubeTensor,
    q: CubeTensor,
    k: CubeTensor,
    cos: CubeTensor,
    sin: CubeTensor,
    grouped_q: CubeTensor,
    keys: CubeTensor,
    values: CubeTensor,
    gate: CubeTensor,
    /// `(input, weight [in, out])` of one layer's products, then the output projection.
    products: Vec<(CubeTensor, CubeTensor)>,
}

impl Step {
    fn new(device: &BurnDevice, c: &ModelConfig, position: usize) -> Self {
        let zeros = |dims: &[usize]| {
            B::float_zeros(Shape::from(dims.to_vec()), device.cube(), FloatDType::F32)
        };
        let (q_dim, kv_dim) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let len = position + 1;
        let product = |rows: usize, cols: usize| (zeros(&[1, cols]), zeros(&[cols, rows]));
        let products = vec![
            product(q_dim, c.hidden),
            product(kv_dim, c.hidden),
            product(kv_dim, c.hidden),
            product(c.hidden, q_dim),
            product(c.intermediate, c.hidden),
            product(c.intermediate, c.hidden),
            product(c.hidden, c.intermediate),
            product(c.vocab, c.hidden),
        ];
        Self {
            x: zeros(&[1, c.hidden]),
            norm: zeros(&[1, c.hidden]),
            q: zeros(&[c.heads, c.head_dim]),
            k: zeros(&[c.kv_heads, c.head_dim]),
            cos: zeros(&[1, c.head_dim / 2]),
            sin: zeros(&[1, c.head_dim / 2]),
            grouped_q: zeros(&[c.kv_heads, c.heads / c.kv_heads.max(1), c.head_dim]),
            keys: zeros(&[c.kv_heads, len, c.head_dim]),
            values: zeros(&[c.kv_heads, len, c.head_dim]),
            gate: zeros(&[1, c.intermediate]),
            products,
        }
    }

    /// One step's worth of `kind` (as many calls as a decode step of `layers` layers makes);
    /// returns the last result, whose read waits for all of them.
    fn run(&self, kind: &str, layers: usize) -> CubeTensor {
        let mut last = None;
        match kind {
            "norm" => {
                for _ in 0..2 * layers + 1 {
                    last = Some(rms_norm(self.x.clone(), self.norm.clone(), 1e-5));
                }
            }
            "rope" => {
                for _ in 0..layers {
                    let _ = rope(self.q.clone(), self.cos.clone(), self.sin.clone());
                    last = Some(rope(self.k.clone(), self.cos.clone(), self.sin.clone()));
                }
            }
            "attention" => {
                for _ in 0..layers {
                    last = Some(attention(
                        self.grouped_q.clone(),
                        self.keys.clone(),
                        self.values.clone(),
                    ));
                }
            }
            "swiglu" => {
                for _ in 0..layers {
                    last = Some(swiglu(self.gate.clone(), self.gate.clone()));
                }
            }
            _ => {
                let (per_layer, output) = self.products.split_at(self.products.len() - 1);
                for _ in 0..layers {
                    for (x, w) in per_layer {
                        drop(B::float_matmul(x.clone(), w.clone()));
                    }
                }
                last = Some(B::float_matmul(output[0].0.clone(), output[0].1.clone()));
            }
        }
        last.expect("every kind runs at least once")
    }
}

/// Seconds one decode step of `config` at `position` spends in each of `kinds` ("norm",
/// "rope", "attention", "swiglu", "matvec") done with burn's ops (best of three runs).
pub fn kernel_seconds(
    device: &BurnDevice,
    config: &ModelConfig,
    position: usize,
    kinds: &[&'static str],
) -> Result<Vec<(&'static str, f64)>, GpuError> {
    let step = Step::new(device, config, position);
    let mut times = Vec::new();
    for kind in kinds {
        let mut best = f64::MAX;
        for run in 0..4 {
            let started = Instant::now();
            read(step.run(kind, config.layers))?;
            if run > 0 {
                best = best.min(started.elapsed().as_secs_f64());
            }
        }
        times.push((*kind, best));
    }
    Ok(times)
}
