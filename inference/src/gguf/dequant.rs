//! Reference dequantizers: the exact arithmetic of ggml (and of gguf-py's numpy code), one
//! block at a time. GPU kernels are checked against these.

use super::f16::f16_to_f32;
use super::{GgmlType, GgufError};

/// Expands `bytes` of `ggml_type` into `elements` f32 values.
pub fn dequantize(
    ggml_type: GgmlType,
    bytes: &[u8],
    elements: usize,
) -> Result<Vec<f32>, GgufError> {
    let expected = ggml_type.byte_len(elements as u64).ok_or_else(|| {
        GgufError::Invalid(format!(
            "{elements} elements do not fill whole {ggml_type:?} blocks"
        ))
    })?;
    if bytes.len() as u64 != expected {
        return Err(GgufError::Invalid(format!(
            "{ggml_type:?}: {} bytes for {elements} elements, expected {expected}",
            bytes.len()
        )));
    }
    let mut out = Vec::with_capacity(elements);
    expand(ggml_type, bytes, &mut out);
    Ok(out)
}

/// Replaces `out` with the values of `bytes`, which must hold whole blocks of `ggml_type`
/// (the caller has validated the tensor's size); a partial trailing block is ignored.
/// Matrix kernels call this once per row with a reused buffer.
pub fn dequantize_into(ggml_type: GgmlType, bytes: &[u8], out: &mut Vec<f32>) {
    out.clear();
    expand(ggml_type, bytes, out);
}

fn expand(ggml_type: GgmlType, bytes: &[u8], out: &mut Vec<f32>) {
    let (_, block_bytes) = ggml_type.block();
    match ggml_type {
        GgmlType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        GgmlType::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))),
        ),
        _ => {
            for block in bytes.chunks_exact(block_bytes as usize) {
                match ggml_type {
                    GgmlType::Q8_0 => q8_0(block, out),
                    GgmlType::Q4_0 => q4_0(block, out),
                    GgmlType::Q4_1 => q4_1(block, out),
                    GgmlType::Q5_0 => q5(block, out, false),
                    GgmlType::Q5_1 => q5(block, out, true),
                    GgmlType::Q4K => q4_k(block, out),
                    GgmlType::Q6K => q6_k(block, out),
                    GgmlType::F32 | GgmlType::F16 => unreachable!("handled above"),
                }
            }
        }
    }
}

fn half(block: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([block[at], block[at + 1]]))
}

fn q8_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half(block, 0);
    out.extend(block[2..34].iter().map(|q| d * f32::from(*q as i8)));
}

fn q4_0(block: &[u8], out: &mut Vec<f32>) {
    let d = half(block, 0);
    let qs = &block[2..18];
    out.extend(qs.iter().map(|q| d * f32::from((q & 0x0f) as i8 - 8)));
    out.extend(qs.iter().map(|q| d * f32::from((q >> 4) as i8 - 8)));
}

fn q4_1(block: &[u8], out: &mut Vec<f32>) {
    let (d, m) = (half(block, 0), half(block, 2));
    let qs = &block[4..20];
    out.extend(qs.iter().map(|q| d * f32::from(q & 0x0f) + m));
    out.extend(qs.iter().map(|q| d * f32::from(q >> 4) + m));
}

/// Q5_0 (`d·(q−16)`) and Q5_1 (`d·q + m`): four low bits in `qs`, the fifth bit of weight i
/// in bit i of the little-endian u32 `qh`.
fn q5(block: &[u8], out: &mut Vec<f32>, with_min: bool) {
    let d = half(block, 0);
    let (m, at) = if with_min {
        (half(block, 2), 4)
    } else {
        (0.0, 2)
    };
    let qh = u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
    let qs = &block[at + 4..at + 20];
    for i in 0..32 {
        let low = if i < 16 {
            qs[i] & 0x0f
        } else {
            qs[i - 16] >> 4
        };
        let q = low | ((((qh >> i) & 1) as u8) << 4);
        out.push(if with_min {
            d * f32::from(q) + m
        } else {
            d * f32::from(q as i8 - 16)
        });
    }
}

/// The 6-bit scale and min of sub-block `j` (ggml's `get_scale_min_k4`); the CPU engine's
/// unpacker reads Q4_K through it too.
pub(crate) fn scale_min_k4(j: usize, scales: &[u8]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}

fn q4_k(block: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (half(block, 0), half(block, 2));
    let scales = &block[4..16];
    let qs = &block[16..144];
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, min1) = (d * f32::from(sc1), dmin * f32::from(m1));
        let (d2, min2) = (d * f32::from(sc2), dmin * f32::from(m2));
        out.extend(q.iter().map(|b| d1 * f32::from(b & 0x0f) - min1));
        out.extend(q.iter().map(|b| d2 * f32::from(b >> 4) - min2));
    }
}

fn q6_k(block: &[u8], out: &mut Vec<f32>) {
    let ql = &block[0..128];
    let qh = &block[128..192];
    let scales = &block[192..208];
    let d = half(block, 208);
    for half_block in 0..2 {
        let ql = &ql[64 * half_block..64 * half_block + 64];
        let qh = &qh[32 * half_block..32 * half_block + 32];
        let sc = &scales[8 * half_block..8 * half_block + 8];
        let mut values = [0f32; 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i8 - 32;
            let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            let scale = |k: usize| d * f32::from(sc[is + k] as i8);
            values[l] = scale(0) * f32::from(q1);
            values[l + 32] = scale(2) * f32::from(q2);
            values[l + 64] = scale(4) * f32::from(q3);
            values[l + 96] = scale(6) * f32::from(q4);
        }
        out.extend_from_slice(&values);
    }
}
