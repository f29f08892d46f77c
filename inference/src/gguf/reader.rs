//! A bounds-checked little-endian cursor over the file image.

use super::{GgufError, MAX_ENTRIES, MetaValue};

/// Deepest nesting of metadata arrays accepted.
const MAX_ARRAY_DEPTH: u32 = 2;

pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    /// Length of the whole file: `bytes` may be only its first part (streamed loading).
    file_len: u64,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, the first part of a file of `file_len` bytes: lengths are judged
    /// against the file (absurd → `TooLarge`), reads past `bytes` are `Truncated`.
    pub(super) fn new(bytes: &'a [u8], file_len: u64) -> Self {
        Self {
            bytes,
            position: 0,
            file_len: file_len.max(bytes.len() as u64),
        }
    }

    pub(super) fn position(&self) -> usize {
        self.position
    }

    /// Bytes of the file after the cursor.
    fn remaining(&self) -> u64 {
        self.file_len - self.position as u64
    }

    pub(super) fn bytes(&mut self, len: usize, what: &str) -> Result<&'a [u8], GgufError> {
        let end = self
            .position
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| GgufError::Truncated(what.to_owned()))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(super) fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(super) fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of entries that each take at least one byte of the file.
    pub(super) fn count(&mut self, what: &'static str) -> Result<u64, GgufError> {
        let value = self.u64(what)?;
        if value > MAX_ENTRIES || value > self.remaining() {
            return Err(GgufError::TooLarge { what, value });
        }
        Ok(value)
    }

    pub(super) fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        if len > self.remaining() {
            return Err(GgufError::TooLarge { what, value: len });
        }
        let bytes = self.bytes(len as usize, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| GgufError::Invalid(format!("{what} is not UTF-8")))
    }

    pub(super) fn value(&mut self, kind: u32, depth: u32) -> Result<MetaValue, GgufError> {
        let what = "metadata value";
        Ok(match kind {
            0 => MetaValue::U64(u64::from(self.array::<1>(what)?[0])),
            1 => MetaValue::I64(i64::from(i8::from_le_bytes(self.array(what)?))),
            2 => MetaValue::U64(u64::from(u16::from_le_bytes(self.array(what)?))),
            3 => MetaValue::I64(i64::from(i16::from_le_bytes(self.array(what)?))),
            4 => MetaValue::U64(u64::from(self.u32(what)?)),
            5 => MetaValue::I64(i64::from(i32::from_le_bytes(self.array(what)?))),
            6 => MetaValue::F64(f64::from(f32::from_le_bytes(self.array(what)?))),
            7 => match self.array::<1>(what)?[0] {
                0 => MetaValue::Bool(false),
                1 => MetaValue::Bool(true),
                other => {
                    return Err(GgufError::Invalid(format!(
                        "boolean metadata value {other}"
                    )));
                }
            },
            8 => MetaValue::Str(self.string("metadata string")?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::Invalid(
                        "metadata arrays nested too deeply".into(),
                    ));
                }
                let element_kind = self.u32("array element type")?;
                let len = self.u64("array length")?;
                if len > self.remaining() {
                    return Err(GgufError::TooLarge {
                        what: "metadata array length",
                        value: len,
                    });
                }
                let mut items = Vec::with_capacity((len as usize).min(1 << 16));
                for _ in 0..len {
                    items.push(self.value(element_kind, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::U64(self.u64(what)?),
            11 => MetaValue::I64(i64::from_le_bytes(self.array(what)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array(what)?)),
            other => return Err(GgufError::UnknownValueType(other)),
        })
    }
}
