//! The CPU engine's fast products: GGUF weight rows times int8-quantized activations, several
//! tokens per pass over the weights (prefill reads each row once for the whole batch), rows
//! split across cores natively. `matrix.rs`'s f32 dequantize-then-dot stays the reference.

pub mod activation;
pub mod dot;
pub mod self_test;
pub mod team;
pub mod unpack;
#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use activation::Q8Activations;
pub use unpack::{UnpackedRow, supported};

use crate::gguf::GgmlType;

/// Rows one thread claims at a time in a decode product (small enough that two threads end
/// together on a 576-row matrix, large enough that the prefetch runs ahead inside a chunk).
const ROWS_PER_TASK: usize = 32;
/// Products smaller than this (rows × columns) run on one thread.
const PARALLEL_WORK: usize = 1 << 16;
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
/// one job split across the pass's threads (decode's q/k/v and gate/up: one hand-off to the
/// other cores instead of one per matrix).
pub fn matvec_group(ws: &[QuantRows<'_>], acts: &Q8Activations, outs: &mut [&mut [f32]]) {
    debug_assert_eq!(acts.rows(), 1);
    // Part `c` is rows `first_row[c]..` of matrix `matrix[c]`.
    let mut matrix = Vec::new();
    let mut first_row = Vec::new();
    let mut parts: Vec<&mut [f32]> = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        debug_assert_eq!(out.len(), ws[i].rows);
        for (chunk, slots) in out.chunks_mut(ROWS_PER_TASK).enumerate() {
            matrix.push(i);
            first_row.push(chunk * ROWS_PER_TASK);
            parts.push(slots);
        }
    }
    let task = |c: usize, slots: &mut [f32]| {
        let w = ws[matrix[c]];
        with_unpacked(|unpacked| {
            for (slot, row) in slots.iter_mut().zip(first_row[c]..) {
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
        });
    };
    let work: usize = ws.iter().map(|w| w.rows * w.cols).sum();
    if work >= PARALLEL_WORK {
        team::split_parts(&mut parts, task);
    } else {
        parts
            .iter_mut()
            .enumerate()
            .for_each(|(c, slots)| task(c, slots));
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
/// `per_row` outputs in `out`, the rows spread over the pass's threads.
fn for_row_chunks<F>(w: QuantRows<'_>, out: &mut [f32], per_row: usize, each: F)
where
    F: Fn(&UnpackedRow, &mut [f32]) + Sync,
{
    let rows_per_part = BATCH_ROWS_PER_TASK * per_row;
    let mut parts: Vec<&mut [f32]> = out[..w.rows * per_row].chunks_mut(rows_per_part).collect();
    let task = |c: usize, slots: &mut [f32]| {
        with_unpacked(|unpacked| {
            for (row_slots, row) in slots
                .chunks_exact_mut(per_row)
                .zip(c * BATCH_ROWS_PER_TASK..)
            {
                prefetch_ahead(w, row);
                let bytes = &w.bytes[row * w.row_bytes..(row + 1) * w.row_bytes];
                unpacked.unpack(w.ggml_type, bytes, w.cols);
                each(unpacked, row_slots);
            }
        });
    };
    if w.rows * w.cols >= PARALLEL_WORK {
        team::split_parts(&mut parts, task);
    } else {
        parts
            .iter_mut()
            .enumerate()
            .for_each(|(c, slots)| task(c, slots));
    }
}

thread_local! {
    /// Each thread's buffer for rows whose format is unpacked before the product.
    static UNPACKED: std::cell::RefCell<UnpackedRow> = std::cell::RefCell::default();
}

fn with_unpacked<T>(f: impl FnOnce(&mut UnpackedRow) -> T) -> T {
    UNPACKED.with_borrow_mut(f)
}
