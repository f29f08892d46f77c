//! Puts a weight matrix on the GPU in its own format (never expanded to f32), split into row
//! shards when it is larger than the device's largest storage binding.

use super::GpuError;
use super::burn::{BurnDevice, SharedTensor};
use super::kernels::Format;
use crate::gguf::GgmlType;
use crate::model::matrix::{Matrix, Storage};
use crate::quant::Bits;

/// Rows `first_row..first_row + rows` of a matrix in one buffer.
pub struct Shard {
    /// The rows' bytes (padded to whole words), in burn's memory.
    pub buffer: SharedTensor,
    /// First row held.
    pub first_row: usize,
    /// Rows held.
    pub rows: usize,
}

/// A matrix on the GPU.
pub struct GpuMatrix {
    /// How the bytes encode values.
    pub format: Format,
    /// Output dimension.
    pub rows: usize,
    /// Input dimension.
    pub cols: usize,
    /// Bytes of one row.
    pub row_bytes: usize,
    /// The shards, in row order.
    pub shards: Vec<Shard>,
}

impl GpuMatrix {
    /// The shard holding `row` and the row's index inside it.
    pub fn locate(&self, row: usize) -> (&Shard, usize) {
        let shard = self
            .shards
            .iter()
            .find(|s| row < s.first_row + s.rows)
            .unwrap_or(&self.shards[self.shards.len() - 1]);
        (shard, row - shard.first_row)
    }
}

fn ggml_format(ggml_type: GgmlType) -> Format {
    match ggml_type {
        GgmlType::F32 => Format::F32,
        GgmlType::F16 => Format::F16,
        GgmlType::Q8_0 => Format::Q8_0,
        GgmlType::Q4_0 => Format::Q4_0,
        GgmlType::Q4_1 => Format::Q4_1,
        GgmlType::Q5_0 => Format::Q5_0,
        GgmlType::Q5_1 => Format::Q5_1,
        GgmlType::Q4K => Format::Q4K,
        GgmlType::Q6K => Format::Q6K,
    }
}

/// The format and row size `matrix` will have on the GPU.
pub fn layout_of(matrix: &Matrix) -> (Format, usize) {
    match &matrix.storage {
        Storage::F32(_) => (Format::F32, matrix.cols * 4),
        Storage::Ggml {
            ggml_type,
            row_bytes,
            ..
        } => (ggml_format(*ggml_type), *row_bytes),
        Storage::Block(block) => match block.bits {
            Bits::Eight => (Format::Airlock8, matrix.cols / 32 * 36),
            Bits::Four => (Format::Airlock4, matrix.cols / 32 * 20),
        },
        Storage::Pending {
            ggml_type,
            row_bytes,
        } => (ggml_format(*ggml_type), *row_bytes),
    }
}

/// Appends rows `rows` of `matrix` in GPU layout to `out` (nothing for `Pending`).
pub fn encode_rows(matrix: &Matrix, rows: std::ops::Range<usize>, out: &mut Vec<u8>) {
    match &matrix.storage {
        Storage::F32(values) => {
            for v in &values[rows.start * matrix.cols..rows.end * matrix.cols] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Storage::Ggml {
            bytes,
            offset,
            row_bytes,
            ..
        } => out.extend_from_slice(
            &bytes.bytes()[offset + rows.start * row_bytes..offset + rows.end * row_bytes],
        ),
        Storage::Block(block) => {
            let words_per_block = 32 / block.bits.per_word();
            let blocks_per_row = matrix.cols / 32;
            for b in rows.start * blocks_per_row..rows.end * blocks_per_row {
                out.extend_from_slice(&block.scales[b].to_le_bytes());
                for w in &block.words[b * words_per_block..(b + 1) * words_per_block] {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
        Storage::Pending { .. } => {}
    }
}

/// Uploads `matrix`, in shards of at most `max_shard` bytes.
pub fn upload(
    device: &BurnDevice,
    queue: &wgpu::Queue,
    name: &str,
    matrix: &Matrix,
    max_shard: u64,
) -> Result<GpuMatrix, GpuError> {
    let gpu = allocate(device, name, &[matrix], max_shard)?;
    let mut bytes = Vec::with_capacity(matrix.rows * gpu.row_bytes);
    encode_rows(matrix, 0..matrix.rows, &mut bytes);
    write_rows(queue, &gpu, 0, &bytes)?;
    Ok(gpu)
}

/// Whether `parts` can be stacked into one GPU matrix: same layout and width, and each part a
/// whole number of words (so every part starts word-aligned for streamed writes).
pub fn stackable(parts: &[&Matrix]) -> bool {
    parts
        .windows(2)
        .all(|w| layout_of(w[0]) == layout_of(w[1]) && w[0].cols == w[1].cols)
        && parts
            .iter()
            .all(|m| (m.rows * layout_of(m).1).is_multiple_of(4))
}

/// Creates the (empty) shards of a matrix whose rows are those of `parts` in order, so one
/// dispatch computes all their products (q/k/v, gate/up). Shards hold a multiple of four rows,
/// so each starts word-aligned.
pub fn allocate(
    device: &BurnDevice,
    name: &str,
    parts: &[&Matrix],
    max_shard: u64,
) -> Result<GpuMatrix, GpuError> {
    let first = parts[0];
    if !first.cols.is_multiple_of(32) {
        return Err(GpuError(format!(
            "{name}: rows of {} values are not whole 32-value items",
            first.cols
        )));
    }
    if parts.len() > 1 && !stackable(parts) {
        return Err(GpuError(format!(
            "{name}: stacked matrices differ in layout"
        )));
    }
    let (format, row_bytes) = layout_of(first);
    let total_rows: usize = parts.iter().map(|m| m.rows).sum();
    // Leave a word of slack: unaligned reads may touch the next word.
    let fit = (max_shard.saturating_sub(8) / row_bytes as u64) as usize;
    let rows_per_shard = if fit >= total_rows {
        total_rows
    } else {
        fit / 4 * 4
    };
    if rows_per_shard == 0 {
        return Err(GpuError(format!(
            "{name}: rows of {row_bytes} bytes do not fit the GPU's largest buffer binding ({max_shard} bytes)"
        )));
    }
    let mut shards = Vec::new();
    let mut first_row = 0;
    while first_row < total_rows {
        let rows = rows_per_shard.min(total_rows - first_row);
        let buffer = SharedTensor::bytes(device, (rows * row_bytes).div_ceil(4) * 4 + 4)?;
        shards.push(Shard {
            buffer,
            first_row,
            rows,
        });
        first_row += rows;
    }
    Ok(GpuMatrix {
        format,
        rows: total_rows,
        cols: first.cols,
        row_bytes,
        shards,
    })
}

/// Writes whole rows in GPU layout (`bytes` = some rows × `row_bytes`) starting at `first_row`.
pub fn write_rows(
    queue: &wgpu::Queue,
    matrix: &GpuMatrix,
    first_row: usize,
    bytes: &[u8],
) -> Result<(), GpuError> {
    if !bytes.len().is_multiple_of(matrix.row_bytes) {
        return Err(GpuError(format!(
            "{} bytes are not whole rows of {} bytes",
            bytes.len(),
            matrix.row_bytes
        )));
    }
    let end_row = first_row + bytes.len() / matrix.row_bytes;
    if end_row > matrix.rows {
        return Err(GpuError(format!(
            "rows {first_row}..{end_row} exceed the matrix's {}",
            matrix.rows
        )));
    }
    for shard in &matrix.shards {
        let (lo, hi) = (
            first_row.max(shard.first_row),
            end_row.min(shard.first_row + shard.rows),
        );
        if lo >= hi {
            continue;
        }
        let offset = ((lo - shard.first_row) * matrix.row_bytes) as u64;
        let data = &bytes[(lo - first_row) * matrix.row_bytes..(hi - first_row) * matrix.row_bytes];
        if !offset.is_multiple_of(4) {
            return Err(GpuError(format!(
                "rows from {lo} start at byte {offset}, not on a word"
            )));
        }
        if data.len().is_multiple_of(4) {
            shard.buffer.write(queue, offset, data)?;
        } else {
            // Only a shard's last rows can end mid-word; the pad lands in its slack word.
            let mut padded = data.to_vec();
            padded.resize(data.len().div_ceil(4) * 4, 0);
            shard.buffer.write(queue, offset, &padded)?;
        }
    }
    Ok(())
}
