//! Why a GGUF file was refused.

/// A clear reason a model file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    BadMagic,
    /// A GGUF version this reader does not know.
    UnsupportedVersion(u32),
    /// The file ends before the named part.
    Truncated(String),
    /// A count or length larger than the file could hold.
    TooLarge {
        /// What was being read.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// A metadata value type this reader does not know.
    UnknownValueType(u32),
    /// A tensor element type this reader does not know.
    UnknownTensorType {
        /// The tensor.
        name: String,
        /// Its type id.
        id: u32,
    },
    /// Anything else that is structurally wrong.
    Invalid(String),
}

impl std::fmt::Display for GgufError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GgufError::BadMagic => f.write_str("not a GGUF file (wrong magic bytes)"),
            GgufError::UnsupportedVersion(v) => {
                write!(f, "GGUF version {v} is not supported (2 and 3 are)")
            }
            GgufError::Truncated(what) => write!(f, "the file is truncated: {what} is missing"),
            GgufError::TooLarge { what, value } => {
                write!(f, "{what} of {value} is larger than the file can hold")
            }
            GgufError::UnknownValueType(t) => write!(f, "unknown metadata value type {t}"),
            GgufError::UnknownTensorType { name, id } => {
                write!(f, "tensor {name:?} has unsupported type id {id}")
            }
            GgufError::Invalid(why) => write!(f, "invalid GGUF file: {why}"),
        }
    }
}

impl std::error::Error for GgufError {}
