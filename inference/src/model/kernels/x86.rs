//! The product kernel in AVX2 (+FMA), chosen at run time on x86-64 CPUs that have it: per
//! block of 32, `maddubs` multiplies int8 pairs into 16-bit sums, `madd` widens them to eight
//! 32-bit lanes (four per group of 16), and the lanes accumulate in f32 with their group's
//! scale, so a row needs one horizontal sum at its end (llama.cpp's scheme).
// The one reviewed site besides the file map and the sandbox child (`cargo xtask lint`
// counts them): unaligned SIMD loads from slices whose bounds are checked before the loop,
// and calls into `#[target_feature]` functions after the CPU said it has the feature.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::activation::BLOCK;
use super::dot::{Activation, TOKENS};
use super::unpack::{UnpackedRow, half};
use crate::gguf::GgmlType;

/// Whether this CPU runs the AVX2 kernel (checked once, then a cached flag).
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Asks the CPU to bring `bytes` into its cache (a hint: it never faults). The products
/// prefetch the rows they read next; on this project's machines that doubled decode speed,
/// the hardware prefetcher alone leaving the weight stream waiting on memory.
pub fn prefetch(bytes: &[u8]) {
    for line in bytes.chunks(64) {
        // SAFETY: SSE is part of x86-64; a prefetch of any address is defined.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
}

/// `w · a` (the caller checked [`available`]).
pub fn dot(w: &UnpackedRow, a: Activation<'_>) -> f32 {
    let (q, d, s) = a;
    let blocks = w.q.len() / BLOCK;
    assert!(q.len() >= blocks * BLOCK && d.len() >= blocks && s.len() >= blocks);
    assert!(w.scale.len() >= 2 * blocks && w.offset.len() >= blocks);
    // SAFETY: `available()` confirmed AVX2 and FMA; the asserts above bound every load.
    unsafe { dot_avx2(w, q, d, s, blocks) }
}

/// `row · a` read straight from the file's blocks, for the formats whose blocks the kernel
/// takes as they are (Q4_0, Q4_1, Q8_0): decode reads each weight once, so skipping the
/// unpacked copy halves its memory traffic. `None` for the other formats.
pub fn dot_blocks(ggml_type: GgmlType, row: &[u8], a: Activation<'_>) -> Option<f32> {
    let (q, d, s) = a;
    let (_, block_bytes) = ggml_type.block();
    let blocks = row.len() / block_bytes as usize;
    assert!(q.len() >= blocks * BLOCK && d.len() >= blocks && s.len() >= blocks);
    // SAFETY: `available()` confirmed AVX2 and FMA (the caller checked it); the assert bounds
    // the activation loads, and every block load lies inside its `chunks_exact` block.
    unsafe {
        match ggml_type {
            GgmlType::Q4_0 => Some(dot_q4_avx2::<false>(row, q, d, s)),
            GgmlType::Q4_1 => Some(dot_q4_avx2::<true>(row, q, d, s)),
            GgmlType::Q5_0 => Some(dot_q5_avx2::<false>(row, q, d, s)),
            GgmlType::Q5_1 => Some(dot_q5_avx2::<true>(row, q, d, s)),
            GgmlType::Q8_0 => Some(dot_q8_0_avx2(row, q, d)),
            _ => None,
        }
    }
}

/// Whether [`dot_blocks`] reads `ggml_type`.
pub fn reads_blocks(ggml_type: GgmlType) -> bool {
    matches!(
        ggml_type,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0
    )
}

/// Q4_0 (`d·(q−8)`) or Q4_1 (`d·q + m`) blocks: the sixteen bytes split into low nibbles
/// (weights 0–15) and high nibbles (16–31), unsigned, as `maddubs` takes them; Q4_0's −8
/// and Q4_1's minimum go through the activation block's sum.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_q4_avx2<const WITH_MIN: bool>(row: &[u8], q: &[i8], d: &[f32], s: &[f32]) -> f32 {
    let (block_bytes, at) = if WITH_MIN { (20, 4) } else { (18, 2) };
    let ones = _mm256_set1_epi16(1);
    let nibble = _mm_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    let mut offsets = 0f32;
    for (b, block) in row.chunks_exact(block_bytes).enumerate() {
        let dw = half(block, 0);
        // SAFETY: at + 16 <= block_bytes; b * 32 + 32 <= q.len() (asserted by the caller).
        let (packed, av) = unsafe {
            (
                _mm_loadu_si128(block.as_ptr().add(at).cast()),
                _mm256_loadu_si256(q.as_ptr().add(b * BLOCK).cast()),
            )
        };
        let low = _mm_and_si128(packed, nibble);
        let high = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
        let pairs = _mm256_maddubs_epi16(_mm256_set_m128i(high, low), av);
        let lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
        acc = _mm256_fmadd_ps(lanes, _mm256_set1_ps(dw * d[b]), acc);
        offsets += if WITH_MIN {
            half(block, 2) * s[b]
        } else {
            -8.0 * dw * s[b]
        };
    }
    horizontal_sum(acc) + offsets
}

/// The 32 bits of `bits` as 32 bytes, 0xff where the bit is set (ggml's `bytes_from_bits_32`).
#[target_feature(enable = "avx2,fma")]
fn bytes_from_bits(bits: u32) -> __m256i {
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(bits as i32),
        _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        ),
    );
    let others = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
    _mm256_cmpeq_epi8(others, _mm256_set1_epi64x(-1))
}

/// Q5_0 (`d·(q−16)`) or Q5_1 (`d·q + m`) blocks: the nibbles as in Q4, the fifth bits from
/// the block's `qh` word. Q5_0's levels are made signed in place (a clear fifth bit means
/// q − 16 < 0: the byte's high nibble set), Q5_1's stay unsigned.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_q5_avx2<const WITH_MIN: bool>(row: &[u8], q: &[i8], d: &[f32], s: &[f32]) -> f32 {
    let (block_bytes, at) = if WITH_MIN { (24, 4) } else { (22, 2) };
    let ones = _mm256_set1_epi16(1);
    let nibble = _mm_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    let mut offsets = 0f32;
    for (b, block) in row.chunks_exact(block_bytes).enumerate() {
        let qh = u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
        // SAFETY: at + 4 + 16 <= block_bytes; b * 32 + 32 <= q.len() (asserted by the caller).
        let (packed, av) = unsafe {
            (
                _mm_loadu_si128(block.as_ptr().add(at + 4).cast()),
                _mm256_loadu_si256(q.as_ptr().add(b * BLOCK).cast()),
            )
        };
        let low = _mm_and_si128(packed, nibble);
        let high = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
        let levels = _mm256_set_m128i(high, low);
        let set = bytes_from_bits(qh);
        let lanes = if WITH_MIN {
            let wv = _mm256_or_si256(levels, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
            _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av), ones)
        } else {
            let wv = _mm256_or_si256(levels, _mm256_andnot_si256(set, _mm256_set1_epi8(-16)));
            let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
            _mm256_madd_epi16(pairs, ones)
        };
        let dw = half(block, 0);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(dw * d[b]), acc);
        if WITH_MIN {
            offsets += half(block, 2) * s[b];
        }
    }
    horizontal_sum(acc) + offsets
}

/// Q8_0 blocks (`d·q`): signed × signed through the sign trick of [`dot_avx2`].
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_q8_0_avx2(row: &[u8], q: &[i8], d: &[f32]) -> f32 {
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    for (b, block) in row.chunks_exact(34).enumerate() {
        // SAFETY: 2 + 32 = 34 bytes per block; b * 32 + 32 <= q.len() (asserted by the caller).
        let (wv, av) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().add(2).cast()),
                _mm256_loadu_si256(q.as_ptr().add(b * BLOCK).cast()),
            )
        };
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
        let lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
        acc = _mm256_fmadd_ps(lanes, _mm256_set1_ps(half(block, 0) * d[b]), acc);
    }
    horizontal_sum(acc)
}

/// The sum of the eight lanes.
#[target_feature(enable = "avx2,fma")]
fn horizontal_sum(acc: __m256) -> f32 {
    let sum4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    let sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    let sum1 = _mm_add_ss(sum2, _mm_shuffle_ps(sum2, sum2, 1));
    _mm_cvtss_f32(sum1)
}

/// `w · a` for [`TOKENS`] activation vectors at once (the caller checked [`available`]):
/// each weight block is loaded and made unsigned once for all of them.
pub fn dot_tokens(w: &UnpackedRow, a: [Activation<'_>; TOKENS]) -> [f32; TOKENS] {
    let blocks = w.q.len() / BLOCK;
    for (q, d, s) in a {
        assert!(q.len() >= blocks * BLOCK && d.len() >= blocks && s.len() >= blocks);
    }
    assert!(w.scale.len() >= 2 * blocks && w.offset.len() >= blocks);
    // SAFETY: `available()` confirmed AVX2 and FMA; the asserts above bound every load.
    unsafe {
        if w.unsigned {
            dot_tokens_avx2::<true>(w, a, blocks)
        } else {
            dot_tokens_avx2::<false>(w, a, blocks)
        }
    }
}

/// `UNSIGNED`: every level is 0 or more, so `maddubs` takes the weights as they are (no sign
/// trick: two instructions fewer per token and block).
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_tokens_avx2<const UNSIGNED: bool>(
    w: &UnpackedRow,
    a: [Activation<'_>; TOKENS],
    blocks: usize,
) -> [f32; TOKENS] {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); TOKENS];
    let mut offsets = [0f32; TOKENS];
    for b in 0..blocks {
        // SAFETY: b < blocks and the row holds `blocks * 32` bytes (asserted by the caller).
        let wv = unsafe { _mm256_loadu_si256(w.q.as_ptr().add(b * BLOCK).cast()) };
        let magnitude = _mm256_sign_epi8(wv, wv);
        let scales = _mm256_set_m128(_mm_set1_ps(w.scale[2 * b + 1]), _mm_set1_ps(w.scale[2 * b]));
        for (t, (q, d, s)) in a.iter().enumerate() {
            // SAFETY: as above, for each activation vector.
            let av = unsafe { _mm256_loadu_si256(q.as_ptr().add(b * BLOCK).cast()) };
            let pairs = if UNSIGNED {
                _mm256_maddubs_epi16(wv, av)
            } else {
                _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(av, wv))
            };
            let lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            let scaled = _mm256_mul_ps(lanes, _mm256_set1_ps(d[b]));
            acc[t] = _mm256_fmadd_ps(scaled, scales, acc[t]);
            offsets[t] += w.offset[b] * s[b];
        }
    }
    let mut out = [0f32; TOKENS];
    for t in 0..TOKENS {
        out[t] = horizontal_sum(acc[t]) + offsets[t];
    }
    out
}

/// [`UnpackedRow::unpack`] compiled for AVX2 (the caller checked [`available`]).
pub fn unpack(row: &mut UnpackedRow, ggml_type: GgmlType, bytes: &[u8], cols: usize) {
    // SAFETY: `available()` confirmed AVX2 and FMA; the body is safe code.
    unsafe { unpack_avx2(row, ggml_type, bytes, cols) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn unpack_avx2(row: &mut UnpackedRow, ggml_type: GgmlType, bytes: &[u8], cols: usize) {
    row.unpack_inline(ggml_type, bytes, cols);
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(w: &UnpackedRow, q: &[i8], d: &[f32], s: &[f32], blocks: usize) -> f32 {
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    let mut offsets = 0f32;
    for b in 0..blocks {
        // SAFETY: b < blocks and both slices hold `blocks * 32` bytes (asserted by `dot`).
        let (wv, av) = unsafe {
            (
                _mm256_loadu_si256(w.q.as_ptr().add(b * BLOCK).cast()),
                _mm256_loadu_si256(q.as_ptr().add(b * BLOCK).cast()),
            )
        };
        // |w| · (a with w's sign) = w · a, in the unsigned × signed form maddubs takes.
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
        let lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
        let scales = _mm256_set_m128(
            _mm_set1_ps(w.scale[2 * b + 1] * d[b]),
            _mm_set1_ps(w.scale[2 * b] * d[b]),
        );
        acc = _mm256_fmadd_ps(lanes, scales, acc);
        offsets += w.offset[b] * s[b];
    }
    horizontal_sum(acc) + offsets
}
