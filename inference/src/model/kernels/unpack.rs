//! One row of a GGUF block type rewritten into the single form every product kernel reads:
//! weight `i` = `scale[i / 16] · q[i] + offset[i / 32]`, with `q` in int8. Each ggml format
//! (Q4_0 … Q6_K) only needs its unpacker here; the SIMD work lives in one kernel (`dot`).

use crate::gguf::{GgmlType, scale_min_k4};

/// Weights per scale.
pub const GROUP: usize = 16;

/// An unpacked row, reused between rows (no allocation once sized).
#[derive(Debug, Default, Clone)]
pub struct UnpackedRow {
    /// The int8 levels.
    pub q: Vec<i8>,
    /// One scale per [`GROUP`] weights.
    pub scale: Vec<f32>,
    /// One offset per 32 weights (the formats with a minimum: Q4_1, Q5_1, Q4_K).
    pub offset: Vec<f32>,
    /// Every level is 0 or more (Q4_1, Q5_1, Q4_K): kernels may skip making them unsigned.
    pub unsigned: bool,
}

/// Whether the int8 kernels read `ggml_type` (the float types keep the f32 path).
pub fn supported(ggml_type: GgmlType) -> bool {
    !matches!(ggml_type, GgmlType::F32 | GgmlType::F16)
}

/// The f16 at `block[at..at + 2]` as f32, branch-free (exact for every value: normals and
/// subnormals by a power-of-two rescale, infinities and NaN by widening the exponent).
#[inline(always)]
pub(super) fn half(block: &[u8], at: usize) -> f32 {
    let bits = u32::from(u16::from_le_bytes([block[at], block[at + 1]]));
    let magnitude = (bits & 0x7fff) << 13;
    let rescaled = f32::from_bits(magnitude) * f32::from_bits(0x7780_0000); // 2^112
    let special = if magnitude >= 0x0f80_0000 {
        0x7f80_0000 | magnitude
    } else {
        rescaled.to_bits()
    };
    f32::from_bits(special | ((bits & 0x8000) << 16))
}

impl UnpackedRow {
    /// Unpacks one row of `cols` weights stored as `ggml_type` blocks in `bytes`.
    pub fn unpack(&mut self, ggml_type: GgmlType, bytes: &[u8], cols: usize) {
        #[cfg(target_arch = "x86_64")]
        if super::x86::available() {
            return super::x86::unpack(self, ggml_type, bytes, cols);
        }
        #[cfg(target_arch = "wasm32")]
        return super::wasm::unpack(self, ggml_type, bytes, cols);
        #[allow(unreachable_code)]
        self.unpack_inline(ggml_type, bytes, cols);
    }

    /// [`UnpackedRow::unpack`] inlined into its caller, so that a caller compiled for a
    /// wider instruction set (`x86.rs`, `wasm.rs`) vectorises these loops with it.
    #[inline(always)]
    pub(super) fn unpack_inline(&mut self, ggml_type: GgmlType, bytes: &[u8], cols: usize) {
        self.q.resize(cols, 0);
        self.scale.resize(cols / GROUP, 0.0);
        self.offset.resize(cols / 32, 0.0);
        self.unsigned = matches!(ggml_type, GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K);
        let (per_block, block_bytes) = ggml_type.block();
        let (per_block, block_bytes) = (per_block as usize, block_bytes as usize);
        let blocks = bytes
            .chunks_exact(block_bytes)
            .zip(self.q.chunks_exact_mut(per_block))
            .zip(self.scale.chunks_exact_mut(per_block / GROUP))
            .zip(self.offset.chunks_exact_mut(per_block / 32))
            .map(|(((block, q), scale), offset)| (block, q, scale, offset));
        match ggml_type {
            GgmlType::Q8_0 => blocks.for_each(|(b, q, s, o)| q8_0(b, q, s, o)),
            GgmlType::Q4_0 => blocks.for_each(|(b, q, s, o)| q4(b, q, s, o, false)),
            GgmlType::Q4_1 => blocks.for_each(|(b, q, s, o)| q4(b, q, s, o, true)),
            GgmlType::Q5_0 => blocks.for_each(|(b, q, s, o)| q5(b, q, s, o, false)),
            GgmlType::Q5_1 => blocks.for_each(|(b, q, s, o)| q5(b, q, s, o, true)),
            GgmlType::Q4K => blocks.for_each(|(b, q, s, o)| q4_k(b, q, s, o)),
            GgmlType::Q6K => blocks.for_each(|(b, q, s, o)| q6_k(b, q, s, o)),
            GgmlType::F32 | GgmlType::F16 => unreachable!("float rows take the f32 path"),
        }
    }
}

#[inline(always)]
fn q8_0(block: &[u8], q: &mut [i8], scale: &mut [f32], offset: &mut [f32]) {
    let d = half(block, 0);
    for (slot, byte) in q.iter_mut().zip(&block[2..34]) {
        *slot = *byte as i8;
    }
    scale.fill(d);
    offset[0] = 0.0;
}

/// Q4_0 (`d·(q−8)`) and Q4_1 (`d·q + m`): element i < 16 in the low nibble of byte i, the
/// rest in the high nibbles.
#[inline(always)]
fn q4(block: &[u8], q: &mut [i8], scale: &mut [f32], offset: &mut [f32], with_min: bool) {
    let d = half(block, 0);
    let (bias, m, at) = if with_min {
        (0u8, half(block, 2), 4)
    } else {
        (8u8, 0.0, 2)
    };
    let qs = &block[at..at + 16];
    let (low, high) = q.split_at_mut(16);
    for ((l, h), byte) in low.iter_mut().zip(high.iter_mut()).zip(qs) {
        *l = (byte & 0x0f).wrapping_sub(bias) as i8;
        *h = (byte >> 4).wrapping_sub(bias) as i8;
    }
    scale.fill(d);
    offset[0] = m;
}

/// Q5_0 (`d·(q−16)`) and Q5_1 (`d·q + m`): four low bits as in Q4, the fifth bit of weight i
/// in bit i of the little-endian u32 `qh`.
#[inline(always)]
fn q5(block: &[u8], q: &mut [i8], scale: &mut [f32], offset: &mut [f32], with_min: bool) {
    let d = half(block, 0);
    let (bias, m, at) = if with_min {
        (0u8, half(block, 2), 4)
    } else {
        (16u8, 0.0, 2)
    };
    let qh = u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
    let qs = &block[at + 4..at + 20];
    let (low, high) = q.split_at_mut(16);
    for (i, ((l, h), byte)) in low.iter_mut().zip(high.iter_mut()).zip(qs).enumerate() {
        let (bit_low, bit_high) = (((qh >> i) & 1) as u8, ((qh >> (i + 16)) & 1) as u8);
        *l = ((byte & 0x0f) | (bit_low << 4)).wrapping_sub(bias) as i8;
        *h = ((byte >> 4) | (bit_high << 4)).wrapping_sub(bias) as i8;
    }
    scale.fill(d);
    offset[0] = m;
}

/// Q4_K: 8 sub-blocks of 32, weight = `d·sc·q − dmin·m`.
#[inline(always)]
fn q4_k(block: &[u8], q: &mut [i8], scale: &mut [f32], offset: &mut [f32]) {
    let (d, dmin) = (half(block, 0), half(block, 2));
    let scales = &block[4..16];
    let qs = &block[16..144];
    for (chunk, bytes) in qs.chunks_exact(32).enumerate() {
        let out = &mut q[64 * chunk..64 * chunk + 64];
        let (low, high) = out.split_at_mut(32);
        for ((l, h), byte) in low.iter_mut().zip(high.iter_mut()).zip(bytes) {
            *l = (byte & 0x0f) as i8;
            *h = (byte >> 4) as i8;
        }
        for sub in [2 * chunk, 2 * chunk + 1] {
            let (sc, m) = scale_min_k4(sub, scales);
            scale[2 * sub] = d * f32::from(sc);
            scale[2 * sub + 1] = d * f32::from(sc);
            offset[sub] = -dmin * f32::from(m);
        }
    }
}

/// Q6_K: 16 groups of 16 with int8 scales, weight = `d·sc·(q − 32)`.
#[inline(always)]
fn q6_k(block: &[u8], q: &mut [i8], scale: &mut [f32], offset: &mut [f32]) {
    let d = half(block, 208);
    for half_block in 0..2 {
        let ql = &block[64 * half_block..64 * half_block + 64];
        let qh = &block[128 + 32 * half_block..128 + 32 * half_block + 32];
        let out = &mut q[128 * half_block..128 * half_block + 128];
        for l in 0..32 {
            out[l] = (((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i8) - 32;
            out[l + 32] = (((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i8) - 32;
            out[l + 64] = (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8) - 32;
            out[l + 96] = (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8) - 32;
        }
    }
    for (slot, sc) in scale.iter_mut().zip(&block[192..208]) {
        *slot = d * f32::from(*sc as i8);
    }
    offset.fill(0.0);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_branch_free_half_equals_the_exact_conversion_for_every_bit_pattern() {
        for bits in 0..=u16::MAX {
            let want = crate::gguf::f16_to_f32(bits);
            let got = super::half(&bits.to_le_bytes(), 0);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{bits:#06x}: {got} vs {want}"
            );
        }
    }
}
