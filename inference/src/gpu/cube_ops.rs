//! The hot path's heaviest kernels written in CubeCL (burn's kernel language) instead of WGSL,
//! launched through burn's runtime on the model's own burn tensors, so that `docs/ENGINE.md`
//! can record which of the two measures faster on the same device: the Q4_1 matrix-vector
//! product (SmolLM2's format, thread per row as on CPU adapters), RMSNorm and SwiGLU.

use std::time::Instant;

use burn_wgpu::CubeTensor;
use cubecl::prelude::*;

use super::burn::SharedTensor;
use super::{GpuContext, GpuError};

/// An IEEE half (low 16 bits of `h`) widened to f32 with integer ops, as WGSL's
/// `unpack2x16float` does (no `shader-f16` needed).
#[cube]
fn half_to_f32(h: u32) -> f32 {
    let sign = (h >> 15u32) & 1u32;
    let exponent = (h >> 10u32) & 31u32;
    let mantissa = h & 1023u32;
    let mut value = f32::reinterpret((exponent + 112u32) << 23u32 | mantissa << 13u32);
    if exponent == 0u32 {
        value = f32::cast_from(mantissa) * 5.960_464_5e-8f32;
    }
    if exponent == 31u32 {
        value = f32::reinterpret(255u32 << 23u32 | mantissa << 13u32);
    }
    if sign == 1u32 {
        value = -value;
    }
    value
}

/// `y[row] = W[row] · x` for Q4_1 rows (20-byte blocks: f16 scale, f16 min, 16 nibble bytes),
/// one thread per row.
#[cube(launch)]
fn matvec_q4_1_per_row(
    weights: &[u32],
    x: &[f32],
    y: &mut [f32],
    rows: u32,
    cols: u32,
    row_words: u32,
) {
    let row = ABSOLUTE_POS as u32;
    if row < rows {
        let items = cols / 32u32;
        let mut sum = 0.0f32;
        for item in 0..items {
            let block = (row * row_words + item * 5u32) as usize;
            let scales = weights[block];
            let xo = (item * 32u32) as usize;
            let mut acc = 0.0f32;
            let mut xsum = 0.0f32;
            #[unroll]
            for k in 0..4u32 {
                let word = weights[block + 1 + k as usize];
                #[unroll]
                for b in 0..4u32 {
                    let q = (word >> (8u32 * b)) & 255u32;
                    let j = xo + (4u32 * k + b) as usize;
                    let (x0, x1) = (x[j], x[j + 16]);
                    acc += f32::cast_from(q & 15u32) * x0 + f32::cast_from(q >> 4u32) * x1;
                    xsum += x0 + x1;
                }
            }
            sum += half_to_f32(scales & 65535u32) * acc + half_to_f32(scales >> 16u32) * xsum;
        }
        y[row as usize] = sum;
    }
}

/// RMSNorm of consecutive groups of `n` values, one cube of 64 units per group.
#[cube(launch)]
fn rms_norm_groups(src: &[f32], weight: &[f32], dst: &mut [f32], n: u32, eps: f32) {
    let t = UNIT_POS;
    let base = CUBE_POS as u32 * n;
    let mut partial = Shared::new_slice(64usize);
    let mut sum = 0.0f32;
    let mut i = t;
    while i < n {
        let v = src[(base + i) as usize];
        sum += v * v;
        i += 64u32;
    }
    partial[t as usize] = sum;
    sync_cube();
    let mut stride = 32u32;
    while stride > 0u32 {
        if t < stride {
            partial[t as usize] += partial[(t + stride) as usize];
        }
        sync_cube();
        stride /= 2u32;
    }
    let scale = 1.0f32 / (partial[0] / f32::cast_from(n) + eps).sqrt();
    let mut i = t;
    while i < n {
        let at = (base + i) as usize;
        dst[at] = src[at] * scale * weight[i as usize];
        i += 64u32;
    }
}

/// `act[i] = silu(gu[i]) · gu[n + i]` over the stacked gate/up output.
#[cube(launch)]
fn swiglu_stacked(act: &mut [f32], gu: &[f32], n: u32) {
    let i = ABSOLUTE_POS as u32;
    if i < n {
        let g = gu[i as usize];
        act[i as usize] = g / (1.0f32 + (-g).exp()) * gu[(n + i) as usize];
    }
}

/// A tensor as a kernel argument.
fn arg(tensor: &CubeTensor) -> BufferArg {
    tensor.clone().into_buffer_arg()
}

fn groups(units: u32) -> CubeCount {
    CubeCount::Static(units.div_ceil(64), 1, 1)
}

/// Refuses a launch whose tensors hold fewer bytes than it reads or writes (the kernels do not
/// check bounds themselves).
fn check_sizes(what: &str, needs: &[(&SharedTensor, usize)]) -> Result<(), GpuError> {
    for (tensor, bytes) in needs {
        if *bytes as u64 > tensor.size() {
            return Err(GpuError(format!(
                "{what} needs {bytes} bytes of a {}-byte tensor",
                tensor.size()
            )));
        }
    }
    Ok(())
}

/// Launches the Q4_1 product of `weights` (`rows` × `cols`) with `x` into `y`.
pub fn matvec_q4_1(
    weights: &SharedTensor,
    x: &SharedTensor,
    y: &SharedTensor,
    rows: usize,
    cols: usize,
) -> Result<(), GpuError> {
    if !cols.is_multiple_of(32) {
        return Err(GpuError(format!(
            "Q4_1 rows of {cols} values are not whole 32-value blocks"
        )));
    }
    let row_bytes = cols / 32 * 20;
    check_sizes(
        &format!("a {rows}×{cols} Q4_1 product"),
        &[(weights, rows * row_bytes), (x, cols * 4), (y, rows * 4)],
    )?;
    let client = weights.tensor().client.clone();
    matvec_q4_1_per_row::launch(
        &client,
        groups(rows as u32),
        CubeDim::new_1d(64),
        arg(weights.tensor()),
        arg(x.tensor()),
        arg(y.tensor()),
        rows as u32,
        cols as u32,
        (row_bytes / 4) as u32,
    );
    Ok(())
}

/// Launches RMSNorm over `groups` groups of `n` values of `src` into `dst`.
pub fn rms_norm(
    src: &SharedTensor,
    weight: &SharedTensor,
    dst: &SharedTensor,
    n: usize,
    groups: usize,
    eps: f32,
) -> Result<(), GpuError> {
    let values = groups * n * 4;
    check_sizes(
        &format!("RMSNorm of {groups}×{n} values"),
        &[(src, values), (weight, n * 4), (dst, values)],
    )?;
    let client = src.tensor().client.clone();
    rms_norm_groups::launch(
        &client,
        CubeCount::Static(groups as u32, 1, 1),
        CubeDim::new_1d(64),
        arg(src.tensor()),
        arg(weight.tensor()),
        arg(dst.tensor()),
        n as u32,
        eps,
    );
    Ok(())
}

/// Launches SwiGLU of the stacked gate/up values `gu` (`2n`) into `act` (`n`).
pub fn swiglu(act: &SharedTensor, gu: &SharedTensor, n: usize) -> Result<(), GpuError> {
    check_sizes(
        &format!("SwiGLU of {n} values"),
        &[(act, n * 4), (gu, 2 * n * 4)],
    )?;
    let client = act.tensor().client.clone();
    swiglu_stacked::launch(
        &client,
        groups(n as u32),
        CubeDim::new_1d(64),
        arg(act.tensor()),
        arg(gu.tensor()),
        n as u32,
    );
    Ok(())
}

/// Seconds `launch` takes per call (best of three runs of `repeat` calls, each run ending
/// when burn's runtime has finished them and the device is idle).
pub fn seconds_per_call(
    ctx: &GpuContext,
    repeat: u32,
    mut launch: impl FnMut() -> Result<(), GpuError>,
) -> Result<f64, GpuError> {
    let mut best = f64::MAX;
    for run in 0..4 {
        let started = Instant::now();
        for _ in 0..repeat {
            launch()?;
        }
        pollster::block_on(ctx.burn.cube().client().sync())
            .map_err(|e| GpuError(format!("waiting for the kernels failed: {e:?}")))?;
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError(format!("GPU wait failed: {e}")))?;
        if run > 0 {
            best = best.min(started.elapsed().as_secs_f64());
        }
    }
    Ok(best / f64::from(repeat.max(1)))
}
