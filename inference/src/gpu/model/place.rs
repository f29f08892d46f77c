//! Where each GGUF tensor's bytes go on the device, and writing them there: at load from a
//! whole file, or tensor by tensor as a streamed model arrives.

use std::collections::{BTreeSet, HashMap};

use super::super::GpuError;
use super::super::burn::SharedTensor;
use super::super::context::GpuContext;
use super::super::upload::{GpuMatrix, allocate, encode_rows, stackable, write_rows};
use super::GpuModel;
use crate::gguf::{GgmlType, dequantize};
use crate::model::matrix::Matrix;
use crate::model::rope;

/// Where a tensor's bytes go on the device (by GGUF tensor name).
pub(super) enum Target {
    /// Rows `first_row..first_row + rows` of `matrices[matrix]`, bytes in GPU layout.
    Rows {
        matrix: usize,
        first_row: usize,
        rows: usize,
    },
    /// `len` f32 values at byte `offset` of a tensor (norm weights, biases).
    Floats {
        buffer: SharedTensor,
        offset: u64,
        len: usize,
    },
    /// Llama 3 frequency divisors: the RoPE table is recomputed.
    RopeFreqs,
}

/// Little-endian bytes of `values`.
pub(super) fn float_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A burn tensor holding `values`.
pub(super) fn tensor_of(ctx: &GpuContext, values: &[f32]) -> Result<SharedTensor, GpuError> {
    let tensor = SharedTensor::floats(&ctx.burn, values.len())?;
    tensor.write(&ctx.queue, 0, &float_bytes(values))?;
    Ok(tensor)
}

/// Allocates weight matrices, records where each tensor goes, and writes the bytes of those
/// already loaded.
pub(super) struct Placer<'a> {
    pub(super) ctx: &'a GpuContext,
    pub(super) max_shard: u64,
    pub(super) matrices: Vec<GpuMatrix>,
    pub(super) targets: HashMap<String, Target>,
    pub(super) missing: BTreeSet<String>,
}

impl Placer<'_> {
    /// Places `parts` (GGUF name, matrix) stacked when their layouts allow (one dispatch), else
    /// one by one; returns each GPU matrix index with the output offset its rows go to.
    pub(super) fn matrices(
        &mut self,
        label: &str,
        parts: &[(String, &Matrix)],
    ) -> Result<Vec<(usize, usize)>, GpuError> {
        let matrices: Vec<&Matrix> = parts.iter().map(|(_, m)| *m).collect();
        let groups: Vec<Vec<usize>> = if stackable(&matrices) {
            vec![(0..parts.len()).collect()]
        } else {
            (0..parts.len()).map(|i| vec![i]).collect()
        };
        let mut placed = Vec::new();
        let mut out_offset = 0;
        for group in groups {
            let members: Vec<&Matrix> = group.iter().map(|i| matrices[*i]).collect();
            let gpu = allocate(&self.ctx.burn, label, &members, self.max_shard)?;
            let index = self.matrices.len();
            let mut first_row = 0;
            for i in &group {
                let (name, matrix) = &parts[*i];
                let mut bytes = Vec::new();
                encode_rows(matrix, 0..matrix.rows, &mut bytes);
                if bytes.is_empty() {
                    self.missing.insert(name.clone());
                } else {
                    write_rows(&self.ctx.queue, &gpu, first_row, &bytes)?;
                }
                self.targets.insert(
                    name.clone(),
                    Target::Rows {
                        matrix: index,
                        first_row,
                        rows: matrix.rows,
                    },
                );
                first_row += matrix.rows;
            }
            placed.push((index, out_offset));
            out_offset += gpu.rows;
            self.matrices.push(gpu);
        }
        Ok(placed)
    }

    /// A buffer of the concatenated `parts` (GGUF name, values); a layout-only load (all
    /// values zero in a `Pending` model) marks them missing.
    pub(super) fn floats(
        &mut self,
        parts: &[(String, &[f32])],
        pending: bool,
    ) -> Result<SharedTensor, GpuError> {
        let values: Vec<f32> = parts.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        let buffer = tensor_of(self.ctx, &values)?;
        let mut offset = 0;
        for (name, part) in parts {
            self.targets.insert(
                name.clone(),
                Target::Floats {
                    buffer: buffer.clone(),
                    offset,
                    len: part.len(),
                },
            );
            if pending {
                self.missing.insert(name.clone());
            }
            offset += (part.len() * 4) as u64;
        }
        Ok(buffer)
    }
}

impl GpuModel {
    /// Writes one tensor's bytes (GGUF name, type and raw data) into its place on the device —
    /// how a model allocated from a GGUF header receives its data tensor by tensor. Tensors the
    /// engine does not use are ignored.
    pub fn write_tensor(
        &mut self,
        name: &str,
        ggml_type: GgmlType,
        bytes: &[u8],
    ) -> Result<(), GpuError> {
        let Some(target) = self.targets.get(name) else {
            return Ok(());
        };
        match target {
            Target::Rows {
                matrix,
                first_row,
                rows,
            } => {
                let gpu = &self.matrices[*matrix];
                if bytes.len() != rows * gpu.row_bytes {
                    return Err(GpuError(format!(
                        "tensor {name}: {} bytes, expected {rows} rows of {}",
                        bytes.len(),
                        gpu.row_bytes
                    )));
                }
                write_rows(&self.ctx.queue, gpu, *first_row, bytes)?;
            }
            Target::Floats {
                buffer,
                offset,
                len,
            } => {
                let values = dequantize(ggml_type, bytes, *len)
                    .map_err(|e| GpuError(format!("tensor {name}: {e}")))?;
                buffer.write(&self.ctx.queue, *offset, &float_bytes(&values))?;
            }
            Target::RopeFreqs => {
                let factors = dequantize(ggml_type, bytes, self.config.head_dim / 2)
                    .map_err(|e| GpuError(format!("tensor {name}: {e}")))?;
                let inverse = rope::inverse_frequencies(&self.config, Some(&factors));
                let table = float_bytes(&rope::table(&inverse, self.capacity));
                self.rope_table.write(&self.ctx.queue, 0, &table)?;
            }
        }
        self.missing.remove(name);
        Ok(())
    }

    /// A float weight (norm or bias, by GGUF name) as the burn tensor holding it and the range
    /// of its values there (q/k/v biases and q/k norms share one tensor per layer).
    pub fn float_weight(&self, name: &str) -> Option<(&SharedTensor, std::ops::Range<usize>)> {
        match self.targets.get(name)? {
            Target::Floats {
                buffer,
                offset,
                len,
            } => {
                let first = (*offset / 4) as usize;
                Some((buffer, first..first + len))
            }
            _ => None,
        }
    }
}
