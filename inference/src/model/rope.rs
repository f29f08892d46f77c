//! Rotary position embedding: the per-pair frequencies (with Llama 3 scaling) and the rotation.

use super::weights::RopeStyle;
use crate::config::ModelConfig;

/// Inverse frequencies for the `head_dim / 2` pairs of a head.
pub fn inverse_frequencies(config: &ModelConfig, freq_factors: Option<&[f32]>) -> Vec<f32> {
    let half = config.head_dim / 2;
    let mut inverse: Vec<f32> = (0..half)
        .map(|i| {
            1.0 / config
                .rope_theta
                .powf(2.0 * i as f32 / config.head_dim as f32)
        })
        .collect();
    if let Some(scaling) = &config.rope_scaling {
        let low_wavelen = scaling.original_context as f32 / scaling.low_freq_factor;
        let high_wavelen = scaling.original_context as f32 / scaling.high_freq_factor;
        for f in &mut inverse {
            let wavelen = 2.0 * std::f32::consts::PI / *f;
            if wavelen > low_wavelen {
                *f /= scaling.factor;
            } else if wavelen >= high_wavelen {
                let smooth = (scaling.original_context as f32 / wavelen - scaling.low_freq_factor)
                    / (scaling.high_freq_factor - scaling.low_freq_factor);
                *f = (1.0 - smooth) * *f / scaling.factor + smooth * *f;
            }
        }
    }
    if let Some(factors) = freq_factors {
        for (f, factor) in inverse.iter_mut().zip(factors) {
            *f /= factor;
        }
    }
    inverse
}

/// `[position][pair] → (cos, sin)` for positions `0..capacity`, the same angles `apply` uses
/// (the GPU engine reads this table instead of computing sines itself).
pub fn table(inverse: &[f32], capacity: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(capacity * inverse.len() * 2);
    for pos in 0..capacity {
        for f in inverse {
            let (sin, cos) = (pos as f32 * f).sin_cos();
            out.push(cos);
            out.push(sin);
        }
    }
    out
}

/// Rotates every head of `x` (`heads × head_dim`) to position `pos`.
pub fn apply(x: &mut [f32], head_dim: usize, pos: usize, inverse: &[f32], style: RopeStyle) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for (i, f) in inverse.iter().enumerate() {
            let angle = pos as f32 * f;
            let (sin, cos) = angle.sin_cos();
            let (a, b) = match style {
                RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                RopeStyle::Halves => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cos - x1 * sin;
            head[b] = x0 * sin + x1 * cos;
        }
    }
}
