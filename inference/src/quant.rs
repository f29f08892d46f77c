//! Airlock's own block formats for weights loaded from safetensors: 8-bit and 4-bit,
//! symmetric, 32 weights per block with one f32 scale. Laid out for the GPU: scales in one
//! array, quantized weights packed into `u32` words in another (4 × i8, or 8 × 4-bit).

/// Weights per block.
pub const BLOCK: usize = 32;

/// Bits per quantized weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bits {
    /// int8 in [-127, 127].
    Eight,
    /// int4 in [-8, 7], stored with an offset of 8.
    Four,
}

impl Bits {
    fn max_level(self) -> f32 {
        match self {
            Bits::Eight => 127.0,
            Bits::Four => 7.0,
        }
    }

    /// Weights packed per `u32`.
    pub fn per_word(self) -> usize {
        match self {
            Bits::Eight => 4,
            Bits::Four => 8,
        }
    }
}

/// A quantized matrix (row-major), ready to upload.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQuantized {
    /// Bits per weight.
    pub bits: Bits,
    /// Rows.
    pub rows: usize,
    /// Columns (a multiple of [`BLOCK`]).
    pub cols: usize,
    /// One scale per block, row-major.
    pub scales: Vec<f32>,
    /// Packed weights, row-major, little end first.
    pub words: Vec<u32>,
}

/// Why a matrix cannot be quantized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantError {
    /// Columns are not a multiple of the block size.
    RaggedRows {
        /// The column count.
        cols: usize,
    },
    /// The data does not have rows × cols values.
    WrongLength {
        /// Values expected.
        expected: usize,
        /// Values given.
        actual: usize,
    },
    /// A weight is NaN or infinite.
    NonFinite {
        /// Flat index of the weight.
        index: usize,
    },
}

impl std::fmt::Display for QuantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuantError::RaggedRows { cols } => write!(
                f,
                "{cols} columns is not a multiple of the block size {BLOCK}"
            ),
            QuantError::WrongLength { expected, actual } => {
                write!(f, "expected {expected} values, got {actual}")
            }
            QuantError::NonFinite { index } => write!(f, "weight {index} is not finite"),
        }
    }
}

impl std::error::Error for QuantError {}

/// Quantizes a row-major `rows × cols` matrix.
pub fn quantize(
    values: &[f32],
    rows: usize,
    cols: usize,
    bits: Bits,
) -> Result<BlockQuantized, QuantError> {
    if !cols.is_multiple_of(BLOCK) {
        return Err(QuantError::RaggedRows { cols });
    }
    let expected = rows.saturating_mul(cols);
    if values.len() != expected {
        return Err(QuantError::WrongLength {
            expected,
            actual: values.len(),
        });
    }
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite { index });
    }
    let max_level = bits.max_level();
    let mut scales = Vec::with_capacity(values.len() / BLOCK);
    let mut words = Vec::with_capacity(values.len() / bits.per_word());
    for block in values.chunks_exact(BLOCK) {
        let absmax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = absmax / max_level;
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        scales.push(scale);
        for group in block.chunks_exact(bits.per_word()) {
            let mut word = 0u32;
            for (i, value) in group.iter().enumerate() {
                let level = (value * inverse).round().clamp(-max_level, max_level) as i32;
                let field = match bits {
                    Bits::Eight => (level as i8 as u8) as u32,
                    Bits::Four => (level + 8) as u32,
                };
                let width = 32 / bits.per_word();
                word |= field << (i * width);
            }
            words.push(word);
        }
    }
    Ok(BlockQuantized {
        bits,
        rows,
        cols,
        scales,
        words,
    })
}

impl BlockQuantized {
    /// Replaces `out` with row `row` expanded to f32 (the CPU engine's matrix-vector product
    /// reads one row at a time).
    pub fn dequantize_row_into(&self, row: usize, out: &mut Vec<f32>) {
        let per_word = self.bits.per_word();
        let width = 32 / per_word;
        let mask = (1u32 << width) - 1;
        let blocks_per_row = self.cols / BLOCK;
        out.clear();
        for block in row * blocks_per_row..(row + 1) * blocks_per_row {
            let scale = self.scales[block];
            for word in &self.words[block * BLOCK / per_word..(block + 1) * BLOCK / per_word] {
                for i in 0..per_word {
                    let field = (word >> (i * width)) & mask;
                    let level = match self.bits {
                        Bits::Eight => field as u8 as i8 as f32,
                        Bits::Four => field as f32 - 8.0,
                    };
                    out.push(level * scale);
                }
            }
        }
    }

    /// Expands back to f32 (the reference the GPU kernels are checked against).
    pub fn dequantize(&self) -> Vec<f32> {
        let per_word = self.bits.per_word();
        let width = 32 / per_word;
        let mask = (1u32 << width) - 1;
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for (block, scale) in self.scales.iter().enumerate() {
            let words = &self.words[block * BLOCK / per_word..(block + 1) * BLOCK / per_word];
            for word in words {
                for i in 0..per_word {
                    let field = (word >> (i * width)) & mask;
                    let level = match self.bits {
                        Bits::Eight => field as u8 as i8 as f32,
                        Bits::Four => field as f32 - 8.0,
                    };
                    out.push(level * scale);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<f32> {
        let mut state = 0x1234_5678u32;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32 - 0.5) * 4.0
            })
            .collect()
    }

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        let values = sample(4 * 96);
        for bits in [Bits::Eight, Bits::Four] {
            let q = quantize(&values, 4, 96, bits).unwrap();
            assert_eq!(q.scales.len(), 12);
            assert_eq!(q.words.len(), 4 * 96 / bits.per_word());
            let back = q.dequantize();
            for (i, (a, b)) in values.iter().zip(&back).enumerate() {
                let scale = q.scales[i / BLOCK];
                assert!(
                    (a - b).abs() <= scale * 0.5 + 1e-6,
                    "{bits:?} #{i}: {a} vs {b} (scale {scale})"
                );
            }
        }
    }

    #[test]
    fn extremes_and_bad_input() {
        let mut values = vec![0.0f32; 64];
        values[33] = -3.0;
        let q = quantize(&values, 1, 64, Bits::Four).unwrap();
        assert_eq!(q.scales[0], 0.0, "an all-zero block has scale 0, not NaN");
        let back = q.dequantize();
        assert_eq!(back[33], -3.0, "the block's extreme is exact");
        assert!(back.iter().all(|v| v.is_finite()));
        assert_eq!(
            quantize(&values, 1, 60, Bits::Eight).unwrap_err(),
            QuantError::RaggedRows { cols: 60 }
        );
        assert_eq!(
            quantize(&values, 2, 64, Bits::Eight).unwrap_err(),
            QuantError::WrongLength {
                expected: 128,
                actual: 64
            }
        );
        values[5] = f32::NAN;
        assert_eq!(
            quantize(&values, 1, 64, Bits::Eight).unwrap_err(),
            QuantError::NonFinite { index: 5 }
        );
    }
}
