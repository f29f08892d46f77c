//! The CPU engine's fast products: GGUF weight rows times int8-quantized activations, several
//! tokens per pass over the weights (prefill reads each row once for the whole batch), rows
//! split across cores natively. `matrix.rs`'s f32 dequantize-then-dot stays the reference.

pub mod activation;
pub mod dot;
pub mod self_test;
pub mod unpack;
#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use activation::Q8Activations;
pub use unpack::{UnpackedRow, supported};

use crate::gguf::GgmlType;

/// Rows one worker takes at a time (large enough to amortise the hand-off).
const ROWS_PER_TASK: usize = 64;
/// Rows one worker takes at a time in a prompt batch (each row is worth a batch of tokens, so
/// smaller tasks keep the cores evenly busy on narrow matrices such as k and v).
const BATCH_ROWS_PER_TASK: usize = 16;

/// How far ahead of the row being read the weight stream is prefetched (measured: decode
/// speed rises up to about 1 KiB ahead and is flat beyond).
const PREFETCH_BYTES: usize = 2048;

/// A quantized matrix's rows as they lie in the model file.
#[derive(Clone, Copy)]
pub struct QuantRows<'a> {
    /// Block type.
    pub ggml_type: GgmlType,
    /// The rows, back to back.
    pub bytes: &'a [u8],
    /// Bytes per row.
    pub row_bytes: usize,
    /// Rows (outputs).
    pub rows: usize,
    /// Columns (inputs).
    pub cols: usize,
}

/// `out[t][r] = W[r] · x[t]` for every activation vector `t` in `acts` (token-major `out`,
/// `tokens × rows`); `spare` is reused between calls.
pub fn matmul(w: QuantRows<'_>, acts: &Q8Activations, out: &mut [f32], spare: &mut Vec<f32>) {
    let tokens = acts.rows();
    debug_assert_eq!(out.len(), tokens * w.rows);
    if tokens == 1 {
        return matvec_group(&[w], acts, &mut [out]);
    }
    // Row-major by weight row while computing (each task owns whole rows), then transposed.
    spare.resize(tokens * w.rows, 0.0);
    for_row_chunks(w, spare, tokens, |unpacked, slots| {
        let mut done = 0;
        for (group, out) in slots.chunks_exact_mut(dot::TOKENS).enumerate() {
            let first = group * dot::TOKENS;
            let vectors = std::array::from_fn(|i| acts.row(first + i));
            let Some(values) = dot::dot_tokens(unpacked, vectors) else {
                break;
            };
            out.copy_from_slice(&values);
            done = first + dot::TOKENS;
        }
        for (t, slot) in slots.iter_mut().enumerate().skip(done) {
            *slot = dot::dot(unpacked, acts.row(t));
        }
    });
    for (r, values) in spare.chunks_exact(tokens).enumerate() {
        for (t, v) in values.iter().enumerate() {
            out[t * w.rows + r] = *v;
        }
    }
}

/// `outs[i] = ws[i] · a` for one activation vector and several matrices of its width, in
/// one pass split across the cores (decode's q/k/v and gate/up: one hand-off to the other
/// cores instead of one per matrix).
pub fn matvec_group(ws: &[QuantRows<'_>], acts: &Q8Activations, outs: &mut [&mut [f32]]) {
    debug_assert_eq!(acts.rows(), 1);
    let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        debug_assert_eq!(out.len(), ws[i].rows);
        for (chunk, slots) in out.chunks_mut(ROWS_PER_TASK).enumerate() {
            tasks.push((i, chunk, slots));
        }
    }
    let task = |(i, chunk, slots): (usize, usize, &mut [f32]), unpacked: &mut UnpackedRow| {
        let w = ws[i];
        for (k, slot) in slots.iter_mut().enumerate() {
            let row = chunk * ROWS_PER_TASK + k;
            prefetch_ahead(w, row);
            let bytes = &w.bytes[row * w.row_bytes..(row + 1) * w.row_bytes];
            *slot = match dot::dot_blocks(w.ggml_type, bytes, acts.row(0)) {
                Some(value) => value,
                None => {
                    unpacked.unpack(w.ggml_type, bytes, w.cols);
                    dot::dot(unpacked, acts.row(0))
                }
            };
        }
    };
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    {
        use rayon::prelude::*;
        let work: usize = ws.iter().map(|w| w.rows * w.cols).sum();
        if work >= 1 << 16 {
            tasks
                .into_par_iter()
                .for_each_init(UnpackedRow::default, |unpacked, t| task(t, unpacked));
            return;
        }
    }
    let mut unpacked = UnpackedRow::default();
    for t in tasks {
        task(t, &mut unpacked);
    }
}

/// Brings the row about [`PREFETCH_BYTES`] after `row` towards the cache: a prefetch hint on
/// x86-64; in WebAssembly, which has no hint, one plain load per cache line (measured natively
/// the same way: 23 → 44 tokens per CPU-second of decode, against 64 with the hint).
fn prefetch_ahead(w: QuantRows<'_>, row: usize) {
    let next = row + PREFETCH_BYTES.div_ceil(w.row_bytes.max(1));
    if next >= w.rows {
        return;
    }
    let bytes = &w.bytes[next * w.row_bytes..(next + 1) * w.row_bytes];
    #[cfg(target_arch = "x86_64")]
    x86::prefetch(bytes);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let touched = bytes.chunks(64).fold(0u8, |t, line| t ^ line[0]);
        std::hint::black_box(touched);
    }
}

/// Calls `each(unpacked_row, slots)` for every row, unpacked, `slots` being that row's
/// `per_row` outputs in `out`; natively the rows are spread over the cores.
fn for_row_chunks<F>(w: QuantRows<'_>, out: &mut [f32], per_row: usize, each: F)
where
    F: Fn(&UnpackedRow, &mut [f32]) + Sync + Send,
{
    let task = |(index, slots): (usize, &mut [f32]), unpacked: &mut UnpackedRow| {
        let first = index * BATCH_ROWS_PER_TASK;
        for (i, row_slots) in slots.chunks_exact_mut(per_row).enumerate() {
            let row = first + i;
            prefetch_ahead(w, row);
            let bytes = &w.bytes[row * w.row_bytes..(row + 1) * w.row_bytes];
            unpacked.unpack(w.ggml_type, bytes, w.cols);
            each(unpacked, row_slots);
        }
    };
    let chunks = out[..w.rows * per_row].chunks_mut(BATCH_ROWS_PER_TASK * per_row);
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    {
        use rayon::prelude::*;
        if w.rows * w.cols >= 1 << 16 {
            out[..w.rows * per_row]
                .par_chunks_mut(BATCH_ROWS_PER_TASK * per_row)
                .enumerate()
                .for_each_init(UnpackedRow::default, |unpacked, item| task(item, unpacked));
            return;
        }
    }
    let mut unpacked = UnpackedRow::default();
    for item in chunks.enumerate() {
        task(item, &mut unpacked);
    }
}
