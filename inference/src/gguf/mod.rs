//! GGUF v2/v3 files: header, metadata and tensor directory, parsed with every length and
//! offset checked against the bytes actually present, so a truncated, corrupt or hostile file
//! yields a [`GgufError`] — never a panic or an absurd allocation.

mod dequant;
mod error;
mod f16;
mod reader;
mod types;

pub(crate) use dequant::scale_min_k4;
pub use dequant::{dequantize, dequantize_into};
pub use error::GgufError;
pub use f16::f16_to_f32;
pub use types::GgmlType;

use std::collections::BTreeMap;

use reader::Reader;

/// The file magic, `GGUF` in ASCII.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// Most tensors or metadata entries a file may declare.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// Most dimensions a tensor may have (ggml's limit).
pub const MAX_DIMS: u32 = 4;
/// Alignment of tensor data when the file does not say.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Unsigned integer (u8/u16/u32/u64).
    U64(u64),
    /// Signed integer (i8/i16/i32/i64).
    I64(i64),
    /// Floating point (f32/f64).
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string.
    Str(String),
    /// Array of values.
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            MetaValue::U64(v) => Some(*v),
            MetaValue::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One tensor's directory entry.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, fastest-varying first (ggml's `ne`).
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Byte offset of the data from the start of the file.
    pub file_offset: u64,
    /// Number of bytes of data.
    pub byte_len: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file (header and directory; tensor data stays in the caller's bytes).
#[derive(Clone, Debug)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata, by key.
    pub metadata: BTreeMap<String, MetaValue>,
    /// Tensor directory, in file order.
    pub tensors: Vec<TensorInfo>,
    /// Where tensor data starts.
    pub data_offset: u64,
}

impl GgufFile {
    /// Parses the whole file image `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, GgufError> {
        Self::parse_header(bytes, bytes.len() as u64)
    }

    /// Parses the header from the first bytes of a file of `file_len` bytes, for streaming:
    /// tensor data only has to fit in `file_len`. `Truncated` while `prefix` is shorter than the
    /// file means "read more and try again".
    pub fn parse_header(prefix: &[u8], file_len: u64) -> Result<Self, GgufError> {
        let mut r = Reader::new(prefix, file_len);
        if r.bytes(4, "magic")? != MAGIC {
            return Err(GgufError::BadMagic);
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let tensor_count = r.count("tensor count")?;
        let kv_count = r.count("metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let key = r.string("metadata key")?;
            let kind = r.u32("metadata value type")?;
            let value = r.value(kind, 0)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => {
                    return Err(GgufError::Invalid(
                        "general.alignment must be a power of two".into(),
                    ));
                }
            },
        };
        let mut directory = Vec::new();
        for _ in 0..tensor_count {
            let name = r.string("tensor name")?;
            let n_dims = r.u32("tensor dimension count")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::Invalid(format!(
                    "tensor {name:?} has {n_dims} dimensions"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64("tensor dimension")?);
            }
            let raw_type = r.u32("tensor type")?;
            let ggml_type = GgmlType::from_id(raw_type).ok_or(GgufError::UnknownTensorType {
                name: name.clone(),
                id: raw_type,
            })?;
            let offset = r.u64("tensor offset")?;
            directory.push((name, dims, ggml_type, offset));
        }
        let data_offset = align_up(r.position() as u64, alignment)?;
        let mut tensors = Vec::with_capacity(directory.len());
        for (name, dims, ggml_type, offset) in directory {
            let elements = dims
                .iter()
                .try_fold(1u64, |acc, d| acc.checked_mul(*d))
                .ok_or_else(|| {
                    GgufError::Invalid(format!("tensor {name:?} dimensions overflow"))
                })?;
            let byte_len = ggml_type.byte_len(elements).ok_or_else(|| {
                GgufError::Invalid(format!(
                    "tensor {name:?}: {elements} elements do not fill whole {ggml_type:?} blocks"
                ))
            })?;
            if !offset.is_multiple_of(alignment) {
                return Err(GgufError::Invalid(format!(
                    "tensor {name:?} data is not {alignment}-byte aligned"
                )));
            }
            let file_offset = data_offset
                .checked_add(offset)
                .ok_or_else(|| GgufError::Invalid(format!("tensor {name:?} offset overflows")))?;
            let end = file_offset.checked_add(byte_len);
            if end.is_none_or(|end| end > file_len) {
                return Err(GgufError::Truncated(format!("data of tensor {name:?}")));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                file_offset,
                byte_len,
            });
        }
        Ok(Self {
            version,
            metadata,
            tensors,
            data_offset,
        })
    }

    /// The directory entry of tensor `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of `tensor` inside the file image it was parsed from.
    pub fn tensor_bytes<'a>(
        &self,
        bytes: &'a [u8],
        tensor: &TensorInfo,
    ) -> Result<&'a [u8], GgufError> {
        let start = usize::try_from(tensor.file_offset)
            .map_err(|_| GgufError::Truncated(tensor.name.clone()))?;
        let len = usize::try_from(tensor.byte_len)
            .map_err(|_| GgufError::Truncated(tensor.name.clone()))?;
        bytes
            .get(start..start.saturating_add(len))
            .ok_or_else(|| GgufError::Truncated(format!("data of tensor {:?}", tensor.name)))
    }
}

fn align_up(position: u64, alignment: u64) -> Result<u64, GgufError> {
    position
        .checked_add(alignment - 1)
        .map(|p| p / alignment * alignment)
        .ok_or_else(|| GgufError::Invalid("data offset overflows".into()))
}
