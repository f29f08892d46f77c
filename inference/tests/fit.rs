//! The fit calculator against what the GPU engine really allocates: for each tiny model,
//! burn's books after loading equal the calculator's total within 5%.

mod common;

use airlock_inference::file_image::FileImage;
use airlock_inference::fit::{Limits, ModelInfo, Verdict, fit};
use airlock_inference::gguf::GgufFile;
use airlock_inference::gpu::kernels::KvPrecision;
use airlock_inference::gpu::{GpuContext, GpuModel, GpuOptions};
use airlock_inference::model::load_gguf;

#[test]
fn the_calculator_matches_the_engines_allocations() {
    for (family, label) in [("qwen2", "q8_0"), ("llama", "q4_1"), ("qwen3", "q4_k")] {
        let image =
            FileImage::map(&common::dir(family).join(format!("model-{label}.gguf"))).unwrap();
        let file = GgufFile::parse(image.bytes()).unwrap();
        let info = ModelInfo::from_header(&file).unwrap();
        let weights = load_gguf(&image, &file).unwrap();
        let ctx = pollster::block_on(GpuContext::new()).unwrap();
        let burn = ctx.burn.clone();
        let before = burn.memory().bytes_in_use;
        let context = 128;
        let gpu = GpuModel::with_context(ctx, &weights, context, GpuOptions::default()).unwrap();
        let held = burn.memory().bytes_in_use - before;
        let limits = Limits {
            max_binding: 128 << 20,
            max_buffer: 256 << 20,
            shader_f16: gpu.kv_precision() == KvPrecision::F16,
            memory: None,
        };
        let answer = fit(&info, context as u64, &limits);
        assert_eq!(answer.verdict, Verdict::Fits);
        let error = (answer.total as f64 - held as f64).abs() / held as f64;
        assert!(
            error < 0.05,
            "{family} {label}: the calculator says {} bytes, the engine holds {held} ({:.1}% off)",
            answer.total,
            error * 100.0
        );
        drop(gpu);
    }
}
