//! The one product kernel: an unpacked weight row (`unpack.rs`) times int8 activations
//! (`activation.rs`). Picks AVX2 on x86-64 CPUs that have it, SIMD128 in wasm builds with it,
//! and the portable loop (also the oracle the SIMD versions are tested against) otherwise.

use super::activation::BLOCK;
use super::unpack::UnpackedRow;
use crate::gguf::GgmlType;

/// One activation vector's blocks: (values, scales, scaled sums).
pub type Activation<'a> = (&'a [i8], &'a [f32], &'a [f32]);

/// `w · a` for one row and one activation vector.
pub fn dot(w: &UnpackedRow, a: Activation<'_>) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::x86::available() {
        return super::x86::dot(w, a);
    }
    #[cfg(target_arch = "wasm32")]
    return super::wasm::dot(w, a);
    #[allow(unreachable_code)]
    portable(w, a)
}

/// Whether [`dot_blocks`] reads `ggml_type`'s blocks directly on this machine.
pub fn reads_blocks(ggml_type: GgmlType) -> bool {
    #[cfg(target_arch = "x86_64")]
    if super::x86::available() {
        return super::x86::reads_blocks(ggml_type);
    }
    #[cfg(target_arch = "wasm32")]
    return super::wasm::reads_blocks(ggml_type);
    #[allow(unreachable_code)]
    {
        let _ = ggml_type;
        false
    }
}

/// `row · a` straight from the file's blocks (one token: no unpacked copy), where
/// [`reads_blocks`] says so; `None` otherwise.
pub fn dot_blocks(ggml_type: GgmlType, row: &[u8], a: Activation<'_>) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if super::x86::available() {
        return super::x86::dot_blocks(ggml_type, row, a);
    }
    #[cfg(target_arch = "wasm32")]
    return super::wasm::dot_blocks(ggml_type, row, a);
    #[allow(unreachable_code)]
    {
        let _ = (ggml_type, row, a);
        None
    }
}

/// Activation vectors [`dot_tokens`] takes together.
pub const TOKENS: usize = 4;

/// `w · a` for [`TOKENS`] activation vectors at once (prompt batches: each weight block is
/// loaded and widened once for all of them), where a SIMD kernel does it; `None` otherwise.
pub fn dot_tokens(w: &UnpackedRow, a: [Activation<'_>; TOKENS]) -> Option<[f32; TOKENS]> {
    #[cfg(target_arch = "x86_64")]
    if super::x86::available() {
        return Some(super::x86::dot_tokens(w, a));
    }
    #[cfg(target_arch = "wasm32")]
    return Some(super::wasm::dot_tokens(w, a));
    #[allow(unreachable_code)]
    {
        let _ = (w, a);
        None
    }
}

/// The plain loop: exact integer sums per group of 16, then the float scales.
pub fn portable(w: &UnpackedRow, (q, d, s): Activation<'_>) -> f32 {
    let mut sum = 0f32;
    for (b, (wq, aq)) in
        w.q.chunks_exact(BLOCK)
            .zip(q.chunks_exact(BLOCK))
            .enumerate()
    {
        let group = |range: std::ops::Range<usize>| -> i32 {
            range
                .map(|i| i32::from(wq[i]) * i32::from(aq[i]))
                .sum::<i32>()
        };
        let (low, high) = (group(0..16), group(16..32));
        sum += d[b] * (w.scale[2 * b] * low as f32 + w.scale[2 * b + 1] * high as f32)
            + w.offset[b] * s[b];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::super::activation::Q8Activations;
    use super::*;
    use crate::gguf::dequantize;

    fn blocks(ggml_type: GgmlType, cols: usize, seed: u32) -> Vec<u8> {
        crate::model::synthetic::random_blocks(ggml_type, cols, seed)
    }

    const TYPES: [GgmlType; 7] = super::super::self_test::FORMATS;

    #[test]
    fn unpacked_rows_equal_the_reference_dequantizer() {
        for ggml_type in TYPES {
            let cols = 512;
            let bytes = blocks(ggml_type, cols, 7);
            let expected = dequantize(ggml_type, &bytes, cols).unwrap();
            let mut row = UnpackedRow::default();
            row.unpack(ggml_type, &bytes, cols);
            for (i, want) in expected.iter().enumerate() {
                let got = row.scale[i / 16] * f32::from(row.q[i]) + row.offset[i / 32];
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{ggml_type:?}[{i}]: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn the_portable_loop_gives_the_f32_product_within_activation_rounding() {
        for ggml_type in TYPES {
            let cols = 1024;
            let bytes = blocks(ggml_type, cols, 11);
            let weights = dequantize(ggml_type, &bytes, cols).unwrap();
            let x: Vec<f32> = (0..cols)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0)
                .collect();
            let exact: f32 = weights.iter().zip(&x).map(|(w, v)| w * v).sum();
            let mut acts = Q8Activations::default();
            acts.quantize(&x, cols);
            let mut row = UnpackedRow::default();
            row.unpack(ggml_type, &bytes, cols);
            let reference = portable(&row, acts.row(0));
            // Activation rounding: at most half a step per value, times |w|.
            let bound: f32 = weights
                .iter()
                .enumerate()
                .map(|(i, w)| w.abs() * acts.d[i / BLOCK] * 0.5)
                .sum::<f32>()
                + 1e-3;
            assert!(
                (reference - exact).abs() <= bound,
                "{ggml_type:?}: {reference} vs {exact} (bound {bound})"
            );
        }
    }
}
