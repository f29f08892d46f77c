//! The GPU engine (wgpu + the WGSL kernels of shaders/) against the CPU reference engine and
//! transformers' greedy continuations, on the tiny fixture models. Runs on whatever adapter
//! wgpu finds: Mesa lavapipe in CI.

mod common;

use airlock_inference::generate::Forward;
use airlock_inference::gguf::GgufFile;
use airlock_inference::gpu::{GpuModel, GpuOptions};
use airlock_inference::model::{CpuModel, LoadFormat, Weights};
use common::{dir, gguf_weights, greedy, ids, reference, safetensors_weights};

/// Largest |gpu − cpu| over the prompt's last-token logits, relative to the CPU logit range.
fn gpu_vs_cpu(weights: &Weights, prompt: &[u32], options: GpuOptions) -> (f32, GpuModel, CpuModel) {
    let mut gpu = pollster::block_on(GpuModel::new(weights, 256, options)).unwrap();
    let mut cpu = CpuModel::new(weights.clone(), 256);
    let a = gpu.forward(prompt, 0).unwrap();
    let b = cpu.forward(prompt, 0).unwrap();
    let (lo, hi) = b
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    (diff / (hi - lo), gpu, cpu)
}

#[test]
fn gpu_matches_cpu_and_transformers_for_every_family_and_format() {
    let cases: [(&str, &str); 8] = [
        ("llama", "gguf-q8_0"),
        ("llama", "gguf-q4_1"),
        ("llama", "gguf-q4_k"),
        ("qwen2", "gguf-f16"),
        ("qwen2", "gguf-q4_0"),
        ("qwen2", "gguf-q6_k"),
        ("qwen3", "gguf-q8_0"),
        ("qwen3", "f32"),
    ];
    for (family, case) in cases {
        let reference = reference(family);
        let prompt = ids(&reference["prompt_ids"]);
        let weights = match case.strip_prefix("gguf-") {
            Some(label) => gguf_weights(family, label),
            None => safetensors_weights(family, "model.safetensors", LoadFormat::F32),
        };
        let (error, mut gpu, _) = gpu_vs_cpu(&weights, &prompt, GpuOptions::default());
        eprintln!(
            "{family} {case} on {}: logits within {error} of the range",
            gpu.adapter()
        );
        assert!(error < 1e-3, "{family} {case}: GPU logits off by {error}");
        let expected = ids(&reference["cases"][case]["greedy"]);
        assert_eq!(greedy(&mut gpu, &prompt, 32), expected, "{family} {case}");
    }
}

#[test]
fn both_matvec_shapes_give_the_same_tokens() {
    use airlock_inference::gpu::kernels::MatvecShape;
    let weights = gguf_weights("qwen3", "q6_k");
    let reference = reference("qwen3");
    let prompt = ids(&reference["prompt_ids"]);
    for shape in [MatvecShape::Workgroup, MatvecShape::Thread] {
        let options = GpuOptions {
            matvec_shape: Some(shape),
            ..GpuOptions::default()
        };
        let (error, mut gpu, _) = gpu_vs_cpu(&weights, &prompt, options);
        assert_eq!(gpu.matvec_shape(), shape);
        assert!(error < 1e-3, "{shape:?}: GPU logits off by {error}");
        assert_eq!(
            greedy(&mut gpu, &prompt, 32),
            ids(&reference["cases"]["gguf-q6_k"]["greedy"]),
            "{shape:?}"
        );
    }
}

#[test]
fn airlock_block_formats_run_on_the_gpu_like_on_the_cpu() {
    for format in [LoadFormat::Int8, LoadFormat::Int4] {
        let weights = safetensors_weights("qwen2", "model.safetensors", format);
        let prompt = ids(&reference("qwen2")["prompt_ids"]);
        let (error, mut gpu, mut cpu) = gpu_vs_cpu(&weights, &prompt, GpuOptions::default());
        assert!(error < 1e-3, "{format:?}: GPU logits off by {error}");
        assert_eq!(greedy(&mut gpu, &prompt, 16), greedy(&mut cpu, &prompt, 16));
    }
}

#[test]
fn weights_split_into_many_shards_give_the_same_tokens() {
    let weights = gguf_weights("llama", "q4_k");
    let prompt = ids(&reference("llama")["prompt_ids"]);
    let options = GpuOptions {
        max_shard_bytes: Some(2048),
        ..GpuOptions::default()
    };
    let (error, mut gpu, _) = gpu_vs_cpu(&weights, &prompt, options);
    assert!(error < 1e-3, "sharded GPU logits off by {error}");
    assert_eq!(
        greedy(&mut gpu, &prompt, 32),
        ids(&reference("llama")["cases"]["gguf-q4_k"]["greedy"])
    );
}

#[test]
fn context_overflow_is_an_error() {
    let weights = gguf_weights("llama", "q8_0");
    let mut gpu = pollster::block_on(GpuModel::new(&weights, 8, GpuOptions::default())).unwrap();
    let error = gpu.forward(&[1; 9], 0).unwrap_err();
    assert!(
        error.to_string().contains("context length exceeded"),
        "{error}"
    );
}

#[test]
fn a_model_streamed_tensor_by_tensor_from_its_header_gives_the_same_tokens() {
    use airlock_inference::model::load_gguf_layout;
    for (family, label) in [("llama", "q4_k"), ("qwen2", "q4_1"), ("qwen3", "q8_0")] {
        let bytes = std::fs::read(dir(family).join(format!("model-{label}.gguf"))).unwrap();
        let header_len = GgufFile::parse(&bytes).unwrap().data_offset as usize;
        let file = GgufFile::parse_header(&bytes[..header_len], bytes.len() as u64).unwrap();
        assert!(
            GgufFile::parse_header(&bytes[..header_len / 2], bytes.len() as u64).is_err(),
            "half a header asks for more bytes"
        );
        let layout = load_gguf_layout(&file).unwrap();
        let options = GpuOptions {
            max_shard_bytes: Some(4096),
            ..GpuOptions::default()
        };
        let mut gpu = pollster::block_on(GpuModel::new(&layout, 256, options)).unwrap();
        assert!(!gpu.missing_tensors().is_empty());
        for tensor in &file.tensors {
            let data = &bytes[tensor.file_offset as usize..][..tensor.byte_len as usize];
            gpu.write_tensor(&tensor.name, tensor.ggml_type, data)
                .unwrap();
        }
        assert_eq!(gpu.missing_tensors(), Vec::<String>::new());
        let reference = reference(family);
        let prompt = ids(&reference["prompt_ids"]);
        assert_eq!(
            greedy(&mut gpu, &prompt, 32),
            ids(&reference["cases"][format!("gguf-{label}").as_str()]["greedy"]),
            "{family} {label} streamed"
        );
        let error = gpu
            .write_tensor("blk.0.attn_q.weight", file.tensors[1].ggml_type, &[0; 3])
            .unwrap_err();
        assert!(error.to_string().contains("expected"), "{error}");
    }
}
