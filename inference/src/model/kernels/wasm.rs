//! The product kernels in WebAssembly SIMD128 (every browser with WebGPU runs it; only these
//! functions are compiled for it, so the rest of the module and its dependencies build as
//! before): int8 pairs widened to 16 bits, `i32x4.dot_i16x8_s` into four lanes
//! per group of 8, accumulated in f32 with their group's scale; one horizontal sum per row.
// Reviewed unsafe site (`cargo xtask lint` counts them): unaligned `v128_load`s from slices
// whose bounds are checked before the loop.
#![allow(unsafe_code)]

use core::arch::wasm32::*;

use super::activation::BLOCK;
use super::dot::{Activation, TOKENS};
use super::unpack::{UnpackedRow, half};
use crate::gguf::GgmlType;

/// `w · a`.
#[target_feature(enable = "simd128")]
pub fn dot(w: &UnpackedRow, (q, d, s): Activation<'_>) -> f32 {
    let blocks = w.q.len() / BLOCK;
    assert!(q.len() >= blocks * BLOCK && d.len() >= blocks && s.len() >= blocks);
    assert!(w.scale.len() >= 2 * blocks && w.offset.len() >= blocks);
    let mut acc = f32x4_splat(0.0);
    let mut offsets = 0f32;
    for b in 0..blocks {
        let at = b * BLOCK;
        // SAFETY: at + 32 <= blocks * 32, within both slices (asserted above).
        let (w0, w1, a0, a1) = unsafe {
            (
                v128_load(w.q.as_ptr().add(at).cast()),
                v128_load(w.q.as_ptr().add(at + 16).cast()),
                v128_load(q.as_ptr().add(at).cast()),
                v128_load(q.as_ptr().add(at + 16).cast()),
            )
        };
        let low = f32x4_convert_i32x4(signed_group(w0, a0));
        let high = f32x4_convert_i32x4(signed_group(w1, a1));
        acc = f32x4_add(acc, f32x4_mul(low, f32x4_splat(w.scale[2 * b] * d[b])));
        acc = f32x4_add(acc, f32x4_mul(high, f32x4_splat(w.scale[2 * b + 1] * d[b])));
        offsets += w.offset[b] * s[b];
    }
    lanes_sum(acc) + offsets
}

/// `w · a` for [`TOKENS`] activation vectors at once: each weight block is loaded and
/// widened once for all of them.
#[target_feature(enable = "simd128")]
pub fn dot_tokens(w: &UnpackedRow, a: [Activation<'_>; TOKENS]) -> [f32; TOKENS] {
    let blocks = w.q.len() / BLOCK;
    for (q, d, s) in a {
        assert!(q.len() >= blocks * BLOCK && d.len() >= blocks && s.len() >= blocks);
    }
    assert!(w.scale.len() >= 2 * blocks && w.offset.len() >= blocks);
    let mut acc = [f32x4_splat(0.0); TOKENS];
    let mut offsets = [0f32; TOKENS];
    for b in 0..blocks {
        let at = b * BLOCK;
        // SAFETY: at + 32 <= blocks * 32, within the row (asserted above).
        let (w0, w1) = unsafe {
            (
                v128_load(w.q.as_ptr().add(at).cast()),
                v128_load(w.q.as_ptr().add(at + 16).cast()),
            )
        };
        let wide = [
            i16x8_extend_low_i8x16(w0),
            i16x8_extend_high_i8x16(w0),
            i16x8_extend_low_i8x16(w1),
            i16x8_extend_high_i8x16(w1),
        ];
        let (low_scale, high_scale) = (w.scale[2 * b], w.scale[2 * b + 1]);
        for (t, (q, d, s)) in a.iter().enumerate() {
            // SAFETY: as above, for each activation vector.
            let (a0, a1) = unsafe {
                (
                    v128_load(q.as_ptr().add(at).cast()),
                    v128_load(q.as_ptr().add(at + 16).cast()),
                )
            };
            let low = i32x4_add(
                i32x4_dot_i16x8(wide[0], i16x8_extend_low_i8x16(a0)),
                i32x4_dot_i16x8(wide[1], i16x8_extend_high_i8x16(a0)),
            );
            let high = i32x4_add(
                i32x4_dot_i16x8(wide[2], i16x8_extend_low_i8x16(a1)),
                i32x4_dot_i16x8(wide[3], i16x8_extend_high_i8x16(a1)),
            );
            let sum = f32x4_add(
                f32x4_mul(f32x4_convert_i32x4(low), f32x4_splat(low_scale * d[b])),
                f32x4_mul(f32x4_convert_i32x4(high), f32x4_splat(high_scale * d[b])),
            );
            acc[t] = f32x4_add(acc[t], sum);
            offsets[t] += w.offset[b] * s[b];
        }
    }
    let mut out = [0f32; TOKENS];
    for t in 0..TOKENS {
        out[t] = lanes_sum(acc[t]) + offsets[t];
    }
    out
}

/// [`UnpackedRow::unpack`] compiled with SIMD128, so its loops vectorise.
#[target_feature(enable = "simd128")]
pub fn unpack(row: &mut UnpackedRow, ggml_type: GgmlType, bytes: &[u8], cols: usize) {
    row.unpack_inline(ggml_type, bytes, cols);
}

/// Whether [`dot_blocks`] reads `ggml_type`.
pub fn reads_blocks(ggml_type: GgmlType) -> bool {
    matches!(
        ggml_type,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0
    )
}

/// `row · a` straight from Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0 blocks (as `x86.rs`'s: no unpacked
/// copy for one token); `None` for the K-quants.
#[target_feature(enable = "simd128")]
pub fn dot_blocks(ggml_type: GgmlType, row: &[u8], (q, d, s): Activation<'_>) -> Option<f32> {
    let (_, block_bytes) = ggml_type.block();
    let blocks = row.len() / block_bytes as usize;
    assert!(q.len() >= blocks * BLOCK && d.len() >= blocks && s.len() >= blocks);
    let activation = |b: usize| {
        // SAFETY: b < blocks, so b * 32 + 32 <= q.len() (asserted above).
        unsafe {
            (
                v128_load(q.as_ptr().add(b * BLOCK).cast()),
                v128_load(q.as_ptr().add(b * BLOCK + 16).cast()),
            )
        }
    };
    let mut acc = f32x4_splat(0.0);
    let mut offsets = 0f32;
    match ggml_type {
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let with_min = ggml_type == GgmlType::Q4_1;
            let at = if with_min { 4 } else { 2 };
            for (b, block) in row.chunks_exact(block_bytes as usize).enumerate() {
                // SAFETY: at + 16 <= the block's 18 or 20 bytes.
                let packed = unsafe { v128_load(block.as_ptr().add(at).cast()) };
                let low = v128_and(packed, u8x16_splat(0x0f));
                let high = u8x16_shr(packed, 4);
                let (a0, a1) = activation(b);
                let sum = i32x4_add(unsigned_group(low, a0), unsigned_group(high, a1));
                let dw = half(block, 0);
                acc = f32x4_add(
                    acc,
                    f32x4_mul(f32x4_convert_i32x4(sum), f32x4_splat(dw * d[b])),
                );
                offsets += if with_min {
                    half(block, 2) * s[b]
                } else {
                    -8.0 * dw * s[b]
                };
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let with_min = ggml_type == GgmlType::Q5_1;
            let at = if with_min { 4 } else { 2 };
            for (b, block) in row.chunks_exact(block_bytes as usize).enumerate() {
                let qh =
                    u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
                // SAFETY: at + 4 + 16 <= the block's 22 or 24 bytes.
                let packed = unsafe { v128_load(block.as_ptr().add(at + 4).cast()) };
                let low = v128_and(packed, u8x16_splat(0x0f));
                let high = u8x16_shr(packed, 4);
                let (low_set, high_set) = (spread_bits(qh as u16), spread_bits((qh >> 16) as u16));
                let (a0, a1) = activation(b);
                let sum = if with_min {
                    // Unsigned levels 0–31: the fifth bit adds 16.
                    let fifth = u8x16_splat(0x10);
                    i32x4_add(
                        unsigned_group(v128_or(low, v128_and(low_set, fifth)), a0),
                        unsigned_group(v128_or(high, v128_and(high_set, fifth)), a1),
                    )
                } else {
                    // q − 16 as a signed byte: a clear fifth bit sets the high nibble.
                    let negative = u8x16_splat(0xf0);
                    i32x4_add(
                        signed_group(v128_or(low, v128_andnot(negative, low_set)), a0),
                        signed_group(v128_or(high, v128_andnot(negative, high_set)), a1),
                    )
                };
                let scale = f32x4_splat(half(block, 0) * d[b]);
                acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(sum), scale));
                if with_min {
                    offsets += half(block, 2) * s[b];
                }
            }
        }
        GgmlType::Q8_0 => {
            for (b, block) in row.chunks_exact(34).enumerate() {
                // SAFETY: 2 + 32 = 34 bytes per block.
                let (w0, w1) = unsafe {
                    (
                        v128_load(block.as_ptr().add(2).cast()),
                        v128_load(block.as_ptr().add(18).cast()),
                    )
                };
                let (a0, a1) = activation(b);
                let sum = i32x4_add(signed_group(w0, a0), signed_group(w1, a1));
                let scale = f32x4_splat(half(block, 0) * d[b]);
                acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(sum), scale));
            }
        }
        _ => return None,
    }
    Some(lanes_sum(acc) + offsets)
}

/// The 16 bits of `bits` as 16 bytes, 0xff where the bit is set (bit i → byte i).
#[target_feature(enable = "simd128")]
fn spread_bits(bits: u16) -> v128 {
    let bytes = i8x16_swizzle(
        u16x8_splat(bits),
        i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
    );
    let masks = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    u8x16_eq(v128_and(bytes, masks), masks)
}

/// Sixteen unsigned weights (0–31) times sixteen signed activations, in four i32 lanes.
#[target_feature(enable = "simd128")]
fn unsigned_group(w: v128, a: v128) -> v128 {
    i32x4_add(
        i32x4_dot_i16x8(u16x8_extend_low_u8x16(w), i16x8_extend_low_i8x16(a)),
        i32x4_dot_i16x8(u16x8_extend_high_u8x16(w), i16x8_extend_high_i8x16(a)),
    )
}

/// Sixteen signed weights times sixteen signed activations, in four i32 lanes.
#[target_feature(enable = "simd128")]
fn signed_group(w: v128, a: v128) -> v128 {
    i32x4_add(
        i32x4_dot_i16x8(i16x8_extend_low_i8x16(w), i16x8_extend_low_i8x16(a)),
        i32x4_dot_i16x8(i16x8_extend_high_i8x16(w), i16x8_extend_high_i8x16(a)),
    )
}

/// The sum of the four lanes.
#[target_feature(enable = "simd128")]
fn lanes_sum(acc: v128) -> f32 {
    f32x4_extract_lane::<0>(acc)
        + f32x4_extract_lane::<1>(acc)
        + f32x4_extract_lane::<2>(acc)
        + f32x4_extract_lane::<3>(acc)
}
