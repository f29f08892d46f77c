//! Any byte string: parsing must return Ok or Err, and dequantizing what parsed must not panic.
#![no_main]

use airlock_inference::gguf::{GgufFile, dequantize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = GgufFile::parse(data) {
        for tensor in &file.tensors {
            if let Ok(bytes) = file.tensor_bytes(data, tensor)
                && tensor.elements() <= 1 << 20
            {
                let _ = dequantize(tensor.ggml_type, bytes, tensor.elements() as usize);
            }
        }
    }
});
