//! A weight matrix in whichever form it was loaded (f32, a GGUF block type kept quantized, or
//! Airlock's block-32 format), with the row-at-a-time products the CPU engine needs.

use super::kernels::{self, Q8Activations, QuantRows};
use crate::file_image::FileImage;
use crate::gguf::{GgmlType, dequantize_into};
use crate::quant::BlockQuantized;

/// Buffers the int8 products reuse between calls (one per model).
#[derive(Debug, Default)]
pub struct Int8Scratch {
    acts: Q8Activations,
    spare: Vec<f32>,
}

/// How a matrix's values are stored.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Plain f32, row-major.
    F32(Vec<f32>),
    /// GGUF blocks, never expanded as a whole: `bytes[offset..]` holds `rows` rows of `row_bytes`.
    Ggml {
        /// Block type.
        ggml_type: GgmlType,
        /// The model file image the blocks live in.
        bytes: FileImage,
        /// Where the first row starts.
        offset: usize,
        /// Bytes of one row.
        row_bytes: usize,
    },
    /// Airlock's block-32 int8/int4 format (safetensors weights quantized at load).
    Block(BlockQuantized),
    /// Shape and block type only: the bytes stream to the GPU later (browser loading).
    Pending {
        /// Block type the bytes will have.
        ggml_type: GgmlType,
        /// Bytes of one row.
        row_bytes: usize,
    },
}

/// A `rows × cols` matrix; `y = W x` has `rows` outputs.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Output dimension.
    pub rows: usize,
    /// Input dimension.
    pub cols: usize,
    /// The values.
    pub storage: Storage,
}

impl Matrix {
    /// Replaces `out` with row `row` as f32 (also the embedding lookup).
    pub fn row_into(&self, row: usize, out: &mut Vec<f32>) {
        match &self.storage {
            Storage::F32(values) => {
                out.clear();
                out.extend_from_slice(&values[row * self.cols..(row + 1) * self.cols]);
            }
            Storage::Ggml {
                ggml_type,
                bytes,
                offset,
                row_bytes,
            } => {
                let start = offset + row * row_bytes;
                dequantize_into(*ggml_type, &bytes.bytes()[start..start + row_bytes], out);
            }
            Storage::Block(block) => block.dequantize_row_into(row, out),
            Storage::Pending { .. } => {
                out.clear();
                out.resize(self.cols, 0.0);
            }
        }
    }

    /// `out[r] = W[r] · x` for the rows in `range` (out is indexed from the range start).
    fn matvec_rows(&self, x: &[f32], range: std::ops::Range<usize>, out: &mut [f32]) {
        if let Storage::F32(values) = &self.storage {
            for (slot, row) in out.iter_mut().zip(range) {
                *slot = dot(&values[row * self.cols..(row + 1) * self.cols], x);
            }
            return;
        }
        let mut scratch = Vec::with_capacity(self.cols);
        for (slot, row) in out.iter_mut().zip(range) {
            self.row_into(row, &mut scratch);
            *slot = dot(&scratch, x);
        }
    }

    /// `out[t] = W x[t]` for every vector `x[t]` in `x` (`tokens × cols` in, `tokens × rows`
    /// out). With `int8`, GGUF block types take the int8 kernels (one pass over the weights for
    /// all tokens); f32 and safetensors storage, or no `int8`, take the reference `matvec`.
    pub fn matmul(&self, x: &[f32], out: &mut [f32], int8: Option<&mut Int8Scratch>) {
        Self::matmul_group(&[self], x, &mut [out], int8);
    }

    /// [`Matrix::matmul`] for several matrices of the same input (q/k/v, gate/up): with
    /// `int8`, the input is quantized once and, for one token, every row of every matrix is
    /// one parallel pass.
    pub fn matmul_group(
        matrices: &[&Matrix],
        x: &[f32],
        outs: &mut [&mut [f32]],
        int8: Option<&mut Int8Scratch>,
    ) {
        let cols = matrices[0].cols;
        let quantized: Option<Vec<QuantRows<'_>>> =
            matrices.iter().map(|m| m.quant_rows()).collect();
        if let (Some(scratch), Some(rows)) = (int8, quantized)
            && matrices.iter().all(|m| m.cols == cols)
        {
            scratch.acts.quantize(x, cols);
            if scratch.acts.rows() == 1 {
                kernels::matvec_group(&rows, &scratch.acts, outs);
            } else {
                for (w, out) in rows.into_iter().zip(outs.iter_mut()) {
                    kernels::matmul(w, &scratch.acts, out, &mut scratch.spare);
                }
            }
            return;
        }
        for (m, out) in matrices.iter().zip(outs.iter_mut()) {
            debug_assert_eq!(x.len() / m.cols * m.rows, out.len());
            for (xt, ot) in x.chunks_exact(m.cols).zip(out.chunks_exact_mut(m.rows)) {
                m.matvec(xt, ot);
            }
        }
    }

    /// The rows as the int8 kernels read them, for GGUF block types they support.
    fn quant_rows(&self) -> Option<QuantRows<'_>> {
        match &self.storage {
            Storage::Ggml {
                ggml_type,
                bytes,
                offset,
                row_bytes,
            } if kernels::supported(*ggml_type) => Some(QuantRows {
                ggml_type: *ggml_type,
                bytes: &bytes.bytes()[*offset..*offset + self.rows * row_bytes],
                row_bytes: *row_bytes,
                rows: self.rows,
                cols: self.cols,
            }),
            _ => None,
        }
    }

    /// `W x`, split across the machine's cores for large matrices.
    pub fn matvec(&self, x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(x.len(), self.cols);
        debug_assert_eq!(out.len(), self.rows);
        let threads = worker_count();
        if threads < 2 || self.rows * self.cols < 1 << 18 {
            self.matvec_rows(x, 0..self.rows, out);
            return;
        }
        let chunk = self.rows.div_ceil(threads);
        std::thread::scope(|scope| {
            for (i, part) in out.chunks_mut(chunk).enumerate() {
                let start = i * chunk;
                let end = start + part.len();
                scope.spawn(move || self.matvec_rows(x, start..end, part));
            }
        });
    }
}

/// Threads for large products: the available cores (1 in the browser).
fn worker_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        if cfg!(target_arch = "wasm32") {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        }
    })
}

/// Dot product with four independent accumulators (the compiler vectorises this).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (ca, cb) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_gives_the_same_product() {
        let rows = 96;
        let cols = 64;
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 - 30.0) / 17.0).collect();
        let plain = Matrix {
            rows,
            cols,
            storage: Storage::F32(values.clone()),
        };
        let mut expected = vec![0.0; rows];
        plain.matvec(&x, &mut expected);
        for r in 0..rows {
            let direct: f32 = (0..cols).map(|c| values[r * cols + c] * x[c]).sum();
            assert!((direct - expected[r]).abs() < 1e-4);
        }
        let block = crate::quant::quantize(&values, rows, cols, crate::quant::Bits::Eight).unwrap();
        let reference = block.dequantize();
        let quantized = Matrix {
            rows,
            cols,
            storage: Storage::Block(block),
        };
        let mut got = vec![0.0; rows];
        quantized.matvec(&x, &mut got);
        for r in 0..rows {
            let direct: f32 = (0..cols).map(|c| reference[r * cols + c] * x[c]).sum();
            assert!((direct - got[r]).abs() < 1e-4, "row {r}");
        }
    }
}
