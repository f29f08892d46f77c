//! Activations quantized to int8 in blocks of 32 (ggml's Q8_1): the CPU engine's products
//! multiply int8 weights by int8 activations, as llama.cpp does, instead of widening the
//! weights to f32.

/// Values per activation block.
pub const BLOCK: usize = 32;

/// One or more activation vectors, each quantized to int8 blocks of [`BLOCK`] with one scale.
#[derive(Debug, Default, Clone)]
pub struct Q8Activations {
    /// Values per vector (a multiple of [`BLOCK`]).
    pub cols: usize,
    /// The int8 values, vector after vector.
    pub q: Vec<i8>,
    /// One scale per block: value ≈ `d · q`.
    pub d: Vec<f32>,
    /// Per block `d · Σq`, which a weight format's offset term multiplies.
    pub s: Vec<f32>,
}

impl Q8Activations {
    /// Quantizes `rows` vectors of `cols` values, laid out one after another in `x`.
    /// `cols` must be a multiple of [`BLOCK`] (every quantized weight format's is).
    pub fn quantize(&mut self, x: &[f32], cols: usize) {
        debug_assert!(cols.is_multiple_of(BLOCK) && x.len().is_multiple_of(cols));
        let blocks = x.len() / BLOCK;
        self.cols = cols;
        self.q.resize(x.len(), 0);
        self.d.resize(blocks, 0.0);
        self.s.resize(blocks, 0.0);
        for (((values, q), d), s) in x
            .chunks_exact(BLOCK)
            .zip(self.q.chunks_exact_mut(BLOCK))
            .zip(&mut self.d)
            .zip(&mut self.s)
        {
            let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            let mut sum = 0i32;
            for (slot, v) in q.iter_mut().zip(values) {
                let level = (v * inverse).round() as i8;
                *slot = level;
                sum += i32::from(level);
            }
            *d = scale;
            *s = scale * sum as f32;
        }
    }

    /// How many vectors this holds.
    pub fn rows(&self) -> usize {
        self.q.len().checked_div(self.cols).unwrap_or(0)
    }

    /// The blocks of vector `row`: (values, scales, scaled sums).
    pub fn row(&self, row: usize) -> (&[i8], &[f32], &[f32]) {
        let blocks = self.cols / BLOCK;
        (
            &self.q[row * self.cols..(row + 1) * self.cols],
            &self.d[row * blocks..(row + 1) * blocks],
            &self.s[row * blocks..(row + 1) * blocks],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_values_stay_within_half_a_step() {
        let x: Vec<f32> = (0..64)
            .map(|i| ((i * 29 % 61) as f32 - 30.0) / 7.0)
            .collect();
        let mut a = Q8Activations::default();
        a.quantize(&x, 64);
        assert_eq!(a.rows(), 1);
        let (q, d, s) = a.row(0);
        for (i, v) in x.iter().enumerate() {
            let back = d[i / BLOCK] * f32::from(q[i]);
            assert!(
                (back - v).abs() <= d[i / BLOCK] * 0.5 + 1e-6,
                "{i}: {back} vs {v}"
            );
        }
        let sum: i32 = q[..32].iter().map(|v| i32::from(*v)).sum();
        assert_eq!(s[0], d[0] * sum as f32);
        assert!(
            q.iter().any(|v| v.abs() == 127),
            "the largest value maps to ±127"
        );
    }

    #[test]
    fn a_zero_block_has_a_zero_scale() {
        let mut a = Q8Activations::default();
        a.quantize(&[0.0; 32], 32);
        assert_eq!((a.d[0], a.s[0]), (0.0, 0.0));
        assert!(a.q.iter().all(|v| *v == 0));
    }
}
