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
use crate::gguf::{GgmlType, scale_min_k4};

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
        GgmlType::Q4_0
            | GgmlType::Q4_1
            | GgmlType::Q5_0
            | GgmlType::Q5_1
            | GgmlType::Q8_0
            | GgmlType::Q4K
            | GgmlType::Q6K
    )
}

/// `row · a` straight from the file's blocks, every format the kernels read (as `x86.rs`'s:
/// no unpacked copy for one token).
#[target_feature(enable = "simd128")]
pub fn dot_blocks(ggml_type: GgmlType, row: &[u8], (q, d, s): Activation<'_>) -> Option<f32> {
    let (per_block, block_bytes) = ggml_type.block();
    let values = row.len() / block_bytes as usize * per_block as usize;
    assert!(q.len() >= values && d.len() >= values / BLOCK && s.len() >= values / BLOCK);
    let activation = |b: usize| {
        // SAFETY: b < values / 32, so b * 32 + 32 <= q.len() (asserted above).
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
        GgmlType::Q4K => {
            // Per 64 weights: 32 bytes whose low nibbles are sub-block 2j, high 2j + 1.
            for (k, block) in row.chunks_exact(144).enumerate() {
                let (dw, dmin) = (half(block, 0), half(block, 2));
                let scales = &block[4..16];
                for j in 0..4 {
                    let b = 8 * k + 2 * j;
                    // SAFETY: 16 + 32·4 = 144 bytes per block.
                    let (p0, p1) = unsafe {
                        (
                            v128_load(block.as_ptr().add(16 + 32 * j).cast()),
                            v128_load(block.as_ptr().add(32 + 32 * j).cast()),
                        )
                    };
                    let nibble = u8x16_splat(0x0f);
                    let ((a0, a1), (a2, a3)) = (activation(b), activation(b + 1));
                    let low = i32x4_add(
                        unsigned_group(v128_and(p0, nibble), a0),
                        unsigned_group(v128_and(p1, nibble), a1),
                    );
                    let high = i32x4_add(
                        unsigned_group(u8x16_shr(p0, 4), a2),
                        unsigned_group(u8x16_shr(p1, 4), a3),
                    );
                    let (sc0, m0) = scale_min_k4(2 * j, scales);
                    let (sc1, m1) = scale_min_k4(2 * j + 1, scales);
                    let scale0 = f32x4_splat(dw * f32::from(sc0) * d[b]);
                    let scale1 = f32x4_splat(dw * f32::from(sc1) * d[b + 1]);
                    acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(low), scale0));
                    acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(high), scale1));
                    offsets -= dmin * (f32::from(m0) * s[b] + f32::from(m1) * s[b + 1]);
                }
            }
        }
        GgmlType::Q6K => {
            // Per half super-block, 128 six-bit levels: low nibbles in `ql`, two high bits in
            // `qh`, rebuilt 16 at a time and made signed (q − 32); a scale per 16.
            for (k, block) in row.chunks_exact(210).enumerate() {
                let dw = half(block, 208);
                let scales = &block[192..208];
                let (nibble, bits) = (u8x16_splat(0x0f), u8x16_splat(0x30));
                for h in 0..2 {
                    for part in 0..2 {
                        let at = 16 * part;
                        // SAFETY: ql at 64·h (+32) + 16·part, qh at 128 + 32·h + 16·part, 16
                        // bytes each, inside the 210.
                        let (ql0, ql1, qh) = unsafe {
                            (
                                v128_load(block.as_ptr().add(64 * h + at).cast()),
                                v128_load(block.as_ptr().add(64 * h + 32 + at).cast()),
                                v128_load(block.as_ptr().add(128 + 32 * h + at).cast()),
                            )
                        };
                        let levels = [
                            v128_or(v128_and(ql0, nibble), v128_and(i8x16_shl(qh, 4), bits)),
                            v128_or(v128_and(ql1, nibble), v128_and(i8x16_shl(qh, 2), bits)),
                            v128_or(u8x16_shr(ql0, 4), v128_and(qh, bits)),
                            v128_or(u8x16_shr(ql1, 4), v128_and(u8x16_shr(qh, 2), bits)),
                        ];
                        for (i, level) in levels.into_iter().enumerate() {
                            let b = 8 * k + 4 * h + i;
                            let (a0, a1) = activation(b);
                            let a = if part == 0 { a0 } else { a1 };
                            let sum = signed_group(i8x16_sub(level, u8x16_splat(32)), a);
                            let sc = scales[8 * h + 2 * i + part] as i8;
                            let scale = f32x4_splat(dw * f32::from(sc) * d[b]);
                            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(sum), scale));
                        }
                    }
                }
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
