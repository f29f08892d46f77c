//! Any byte string: the safetensors header parser must return Ok or Err, never panic.
#![no_main]

use airlock_inference::safetensors::{SafeTensors, to_f32};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = SafeTensors::parse(data) {
        for tensor in &file.tensors {
            let _ = to_f32(tensor.dtype, &data[tensor.start..tensor.end]);
        }
    }
});
