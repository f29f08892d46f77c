//! safetensors files: an 8-byte header length, a JSON header, then one contiguous data
//! buffer. The header is validated completely (sizes, dtypes, shapes, offsets that tile the
//! buffer with no hole or overlap) before any tensor is touched, so damaged files get a
//! [`SafetensorsError`] rather than a panic or a huge allocation.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::gguf::f16_to_f32;

/// Largest JSON header accepted (the reference implementation's limit).
pub const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;
/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 8;

/// Element types this engine loads (quantized at load time to its own block format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SafeDtype {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
}

impl SafeDtype {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "F32" => Some(SafeDtype::F32),
            "F16" => Some(SafeDtype::F16),
            "BF16" => Some(SafeDtype::BF16),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            SafeDtype::F32 => 4,
            SafeDtype::F16 | SafeDtype::BF16 => 2,
        }
    }
}

/// Why a safetensors file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafetensorsError {
    /// Shorter than its own header says.
    Truncated(String),
    /// The header length is absurd.
    HeaderTooLarge(u64),
    /// The header is not the expected JSON.
    InvalidHeader(String),
    /// A tensor of a dtype this engine does not load.
    UnsupportedDtype {
        /// Tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
}

impl std::fmt::Display for SafetensorsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SafetensorsError::Truncated(what) => {
                write!(f, "the safetensors file is truncated: {what}")
            }
            SafetensorsError::HeaderTooLarge(n) => {
                write!(f, "safetensors header of {n} bytes is larger than allowed")
            }
            SafetensorsError::InvalidHeader(why) => write!(f, "invalid safetensors header: {why}"),
            SafetensorsError::UnsupportedDtype { name, dtype } => {
                write!(
                    f,
                    "tensor {name:?} has dtype {dtype}; only F32, F16 and BF16 are supported"
                )
            }
        }
    }
}

impl std::error::Error for SafetensorsError {}

/// One tensor's entry; offsets are absolute in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeTensorInfo {
    /// Name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// Element type.
    pub dtype: SafeDtype,
    /// Shape, slowest-varying first.
    pub shape: Vec<usize>,
    /// First byte in the file.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A parsed file's header.
#[derive(Clone, Debug)]
pub struct SafeTensors {
    /// `__metadata__` strings.
    pub metadata: BTreeMap<String, String>,
    /// Tensors, ordered by their position in the data buffer.
    pub tensors: Vec<SafeTensorInfo>,
}

impl SafeTensors {
    /// Parses and validates the header of the file image `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, SafetensorsError> {
        let len_bytes: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SafetensorsError::Truncated("header length".into()))?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > MAX_HEADER_BYTES {
            return Err(SafetensorsError::HeaderTooLarge(header_len));
        }
        let data_start = 8 + header_len as usize;
        let header = bytes
            .get(8..data_start)
            .ok_or_else(|| SafetensorsError::Truncated("header".into()))?;
        let json: Value = serde_json::from_slice(header)
            .map_err(|e| SafetensorsError::InvalidHeader(e.to_string()))?;
        let Value::Object(entries) = json else {
            return Err(SafetensorsError::InvalidHeader("not a JSON object".into()));
        };
        let data_len = bytes.len() - data_start;
        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::new();
        for (name, entry) in entries {
            if name == "__metadata__" {
                let Value::Object(map) = entry else {
                    return Err(SafetensorsError::InvalidHeader(
                        "__metadata__ must be an object".into(),
                    ));
                };
                for (key, value) in map {
                    let Value::String(text) = value else {
                        return Err(SafetensorsError::InvalidHeader(format!(
                            "metadata {key:?} is not a string"
                        )));
                    };
                    metadata.insert(key, text);
                }
                continue;
            }
            tensors.push(tensor_entry(name, &entry, data_start)?);
        }
        tensors.sort_by_key(|t| t.start);
        let mut expected_start = data_start;
        for tensor in &tensors {
            if tensor.start != expected_start {
                return Err(SafetensorsError::InvalidHeader(format!(
                    "tensor {:?} does not start where the previous one ends (holes or overlaps)",
                    tensor.name
                )));
            }
            expected_start = tensor.end;
        }
        if expected_start - data_start != data_len {
            return Err(if expected_start - data_start > data_len {
                SafetensorsError::Truncated("tensor data".into())
            } else {
                SafetensorsError::InvalidHeader("bytes after the last tensor".into())
            });
        }
        Ok(Self { metadata, tensors })
    }

    /// The entry of tensor `name`.
    pub fn tensor(&self, name: &str) -> Option<&SafeTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

fn tensor_entry(
    name: String,
    entry: &Value,
    data_start: usize,
) -> Result<SafeTensorInfo, SafetensorsError> {
    let invalid = |why: &str| SafetensorsError::InvalidHeader(format!("tensor {name:?}: {why}"));
    let dtype_name = entry["dtype"].as_str().ok_or_else(|| invalid("no dtype"))?;
    let dtype = SafeDtype::parse(dtype_name).ok_or_else(|| SafetensorsError::UnsupportedDtype {
        name: name.clone(),
        dtype: dtype_name.to_owned(),
    })?;
    let shape_values = entry["shape"]
        .as_array()
        .ok_or_else(|| invalid("no shape"))?;
    if shape_values.len() > MAX_DIMS {
        return Err(invalid("too many dimensions"));
    }
    let shape: Vec<usize> = shape_values
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid("shape must be non-negative integers"))?;
    let offsets = entry["data_offsets"]
        .as_array()
        .filter(|o| o.len() == 2)
        .ok_or_else(|| invalid("data_offsets must be [begin, end]"))?;
    let begin = offsets[0]
        .as_u64()
        .ok_or_else(|| invalid("bad begin offset"))?;
    let end = offsets[1]
        .as_u64()
        .ok_or_else(|| invalid("bad end offset"))?;
    let bytes = shape
        .iter()
        .try_fold(dtype.size(), |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| invalid("shape overflows"))?;
    if end < begin || (end - begin) as u128 != bytes as u128 {
        return Err(invalid(&format!(
            "{} bytes of data for shape {shape:?} of {dtype_name}",
            end.saturating_sub(begin)
        )));
    }
    let start = data_start
        .checked_add(usize::try_from(begin).map_err(|_| invalid("offset too large"))?)
        .ok_or_else(|| invalid("offset overflows"))?;
    Ok(SafeTensorInfo {
        name,
        dtype,
        shape,
        start,
        end: start + bytes,
    })
}

/// Converts raw tensor bytes to f32 exactly (f16 and bf16 widen without rounding).
pub fn to_f32(dtype: SafeDtype, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        SafeDtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        SafeDtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        SafeDtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
    }
}
