//! Every SIMD kernel this build has against the portable loop, on made-up blocks of every
//! format: run natively by the unit tests and in the page by the browser suite
//! (`airlockEngine.kernelSelfTest()`), since the WebAssembly kernels only run there.

use super::activation::Q8Activations;
use super::dot::{self, TOKENS};
use super::unpack::UnpackedRow;
use crate::gguf::GgmlType;
use crate::model::synthetic::random_blocks;

/// The block formats the kernels read.
pub const FORMATS: [GgmlType; 7] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q6K,
];

/// Checks every kernel against the portable loop; `Ok` says how many products agreed, `Err`
/// names the first that did not.
pub fn run() -> Result<String, String> {
    let cols = 1024;
    let mut checked = 0;
    for (seed, ggml_type) in FORMATS.into_iter().enumerate() {
        let bytes = random_blocks(ggml_type, cols, 11 + seed as u32);
        let x: Vec<f32> = (0..cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0)
            .collect();
        let mut acts = Q8Activations::default();
        acts.quantize(&x, cols);
        let mut row = UnpackedRow::default();
        row.unpack(ggml_type, &bytes, cols);
        let reference = dot::portable(&row, acts.row(0));
        let close = |value: f32, what: &str| {
            if (value - reference).abs() <= 1e-4 * reference.abs().max(1.0) {
                Ok(())
            } else {
                Err(format!(
                    "{ggml_type:?}: {what} gives {value}, the portable loop {reference}"
                ))
            }
        };
        close(dot::dot(&row, acts.row(0)), "the unpacked-row kernel")?;
        checked += 1;
        if let Some(value) = dot::dot_blocks(ggml_type, &bytes, acts.row(0)) {
            close(value, "the block kernel")?;
            checked += 1;
        }
        if let Some(values) = dot::dot_tokens(&row, [acts.row(0); TOKENS]) {
            for value in values {
                close(value, "the several-token kernel")?;
            }
            checked += 1;
        }
    }
    Ok(format!(
        "{checked} kernel products over {} formats agree with the portable loop",
        FORMATS.len()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machines_kernels_agree_with_the_portable_loop() {
        let summary = super::run().unwrap();
        assert!(summary.starts_with(char::is_numeric), "{summary}");
    }
}
