//! ggml element types this engine reads, with their block geometry.

/// A tensor element type (ggml's `ggml_type` ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half float.
    F16,
    /// 32 weights: f16 scale, 32 × 4-bit (offset 8).
    Q4_0,
    /// 32 weights: f16 scale and min, 32 × 4-bit.
    Q4_1,
    /// 32 weights: f16 scale, 32 × 5-bit (offset 16), high bits packed in a u32.
    Q5_0,
    /// 32 weights: f16 scale and min, 32 × 5-bit.
    Q5_1,
    /// 32 weights: f16 scale, 32 × int8.
    Q8_0,
    /// 256 weights: super-block scale/min, 8 sub-blocks with 6-bit scales/mins, 4-bit weights.
    Q4K,
    /// 256 weights: 16 sub-blocks with int8 scales, 6-bit weights.
    Q6K,
}

impl GgmlType {
    /// The type for a ggml id, if this engine supports it.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            14 => GgmlType::Q6K,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block).
    pub fn block(self) -> (u64, u64) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q6K => (256, 210),
        }
    }

    /// Bytes taken by `elements` values, if they fill whole blocks.
    pub fn byte_len(self, elements: u64) -> Option<u64> {
        let (per_block, bytes) = self.block();
        elements
            .is_multiple_of(per_block)
            .then(|| elements / per_block)
            .and_then(|blocks| blocks.checked_mul(bytes))
    }
}
