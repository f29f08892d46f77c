//! The GPU engine (wgpu + the WGSL kernels of shaders/) against the CPU reference engine and
//! transformers' greedy continuations, on the tiny fixture models. Runs on whatever adapter
//! wgpu finds: Mesa lavapipe in CI.

mod common;

use airlock_inference::generate::Forward;
use airlock_inference::gguf::GgufFile;
use airlock_inference::gpu::{GpuModel, GpuOptions};
use airlock_inference::model::{CpuModel, LoadFormat, Weights};
use airlock_inference::sampling::argmax;
use common::{dir, gguf_weights, greedy, ids, reference, safetensors_weights};

/// Options for token-exact comparisons: an f32 KV cache (the default f16 cache, where the
/// adapter has `shader-f16`, is checked against it in
/// `an_f16_kv_cache_tracks_the_f32_one_at_every_position`).
fn exact() -> GpuOptions {
    GpuOptions {
        kv_cache: Some(airlock_inference::gpu::kernels::KvPrecision::F32),
        ..GpuOptions::default()
    }
}

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
        let (error, mut gpu, _) = gpu_vs_cpu(&weights, &prompt, exact());
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
fn the_kv_cache_is_f16_where_the_adapter_has_shader_f16_and_f32_otherwise() {
    use airlock_inference::gpu::GpuContext;
    use airlock_inference::gpu::kernels::KvPrecision;
    let has_f16 = pollster::block_on(GpuContext::new()).unwrap().has_f16;
    let weights = gguf_weights("llama", "q8_0");
    let gpu = pollster::block_on(GpuModel::new(&weights, 16, GpuOptions::default())).unwrap();
    let expected = if has_f16 {
        KvPrecision::F16
    } else {
        KvPrecision::F32
    };
    assert_eq!(gpu.kv_precision(), expected, "on {}", gpu.adapter());
    if !has_f16 {
        let options = GpuOptions {
            kv_cache: Some(KvPrecision::F16),
            ..GpuOptions::default()
        };
        let refused = pollster::block_on(GpuModel::new(&weights, 16, options));
        assert!(refused.is_err_and(|e| e.to_string().contains("shader-f16")));
    }
}

/// Logits after each token of `tokens`, fed one at a time (teacher forcing).
fn logits_per_position(gpu: &mut GpuModel, tokens: &[u32]) -> Vec<Vec<f32>> {
    (0..tokens.len())
        .map(|pos| gpu.forward(&tokens[pos..=pos], pos).unwrap())
        .collect()
}

/// Largest |a − b| relative to b's range.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    let (lo, hi) = b
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / (hi - lo)
}

#[test]
fn batched_prefill_gives_the_logits_of_token_by_token_steps() {
    use airlock_inference::gpu::kernels::{MatvecShape, PREFILL_LANES};
    assert_eq!(
        PREFILL_LANES, 8,
        "the lengths below straddle one and two batches"
    );
    for (family, case, shape) in [
        ("llama", "q4_k", MatvecShape::Thread),
        ("qwen2", "q8_0", MatvecShape::Workgroup),
        ("qwen3", "q6_k", MatvecShape::Thread),
        ("qwen3", "q4_0", MatvecShape::Workgroup),
    ] {
        let weights = gguf_weights(family, case);
        let reference = reference(family);
        let mut tokens = ids(&reference["prompt_ids"]);
        tokens.extend(ids(&reference["cases"][&format!("gguf-{case}")]["greedy"]));
        tokens.truncate(21);
        let options = || GpuOptions {
            matvec_shape: Some(shape),
            ..exact()
        };
        let new = || pollster::block_on(GpuModel::new(&weights, 64, options())).unwrap();
        let stepwise = logits_per_position(&mut new(), &tokens);
        let mut worst = 0f32;
        for n in [2, 7, 8, 9, 16, 17, 21] {
            let batched = new().forward(&tokens[..n], 0).unwrap();
            worst = worst.max(relative_error(&batched, &stepwise[n - 1]));
            // A batch that continues a cache filled by an earlier call.
            let mut model = new();
            model.forward(&tokens[..5], 0).unwrap();
            let continued = model.forward(&tokens[5..n.max(6)], 5).unwrap();
            worst = worst.max(relative_error(&continued, &stepwise[n.max(6) - 1]));
        }
        eprintln!("{family} {case} {shape:?}: batched prefill within {worst} of token-by-token");
        assert!(
            worst < 1e-5,
            "{family} {case} {shape:?}: batched prefill off by {worst}"
        );
    }
}

#[test]
fn an_f16_kv_cache_tracks_the_f32_one_at_every_position() {
    use airlock_inference::gpu::GpuContext;
    use airlock_inference::gpu::kernels::KvPrecision;
    if !pollster::block_on(GpuContext::new()).unwrap().has_f16 {
        eprintln!("this adapter lacks shader-f16: only the f32 KV cache runs here");
        return;
    }
    for (family, case) in [("llama", "q8_0"), ("qwen2", "q6_k"), ("qwen3", "q4_k")] {
        let weights = gguf_weights(family, case);
        let reference = reference(family);
        let mut tokens = ids(&reference["prompt_ids"]);
        tokens.extend(ids(&reference["cases"][&format!("gguf-{case}")]["greedy"]));
        let run = |precision| {
            let options = GpuOptions {
                kv_cache: Some(precision),
                ..exact()
            };
            let mut gpu = pollster::block_on(GpuModel::new(&weights, 256, options)).unwrap();
            assert_eq!(gpu.kv_precision(), precision);
            logits_per_position(&mut gpu, &tokens)
        };
        let (full, half) = (run(KvPrecision::F32), run(KvPrecision::F16));
        let (mut worst, mut decided, mut ties) = (0f32, 0, 0);
        for (a, b) in full.iter().zip(&half) {
            let (lo, hi) = a
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            worst = worst.max(diff / (hi - lo));
            // The f16 cache may only change the top token where the f32 top two are closer
            // than the two runs differ.
            let mut sorted = a.clone();
            sorted.sort_by(|x, y| y.total_cmp(x));
            if sorted[0] - sorted[1] > 2.0 * diff {
                decided += 1;
                assert_eq!(argmax(a), argmax(b), "{family}: a clear top token changed");
            } else {
                ties += 1;
            }
        }
        eprintln!(
            "{family} {case}: f16 vs f32 KV cache over {} positions: logits within {worst} of the \
             range; top token equal at all {decided} clear positions ({ties} near-ties)",
            tokens.len()
        );
        assert!(worst < 2e-3, "{family}: f16 KV logits off by {worst}");
        assert!(
            decided > tokens.len() * 3 / 4,
            "{family}: too few clear positions to judge"
        );
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
            ..exact()
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
        let (error, mut gpu, mut cpu) = gpu_vs_cpu(&weights, &prompt, exact());
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
        ..exact()
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
    let mut gpu = pollster::block_on(GpuModel::new(&weights, 8, exact())).unwrap();
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
            ..exact()
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
