//! Bench: the inference engine on SmolLM2-135M Q4_1 — prefill and decode tok/s on the CPU
//! engine (int8 kernels, on all cores and on one), the f32 reference and the GPU engine, per-token overhead (a decode step of a 1-layer model),
//! the quantized matrix-vector kernel's GB/s next to a plain copy's on the same adapter, and
//! each kind of kernel of a decode step against the same work done with burn's generic ops, and
//! the device memory burn holds for the loaded model. Prints one JSON object. `cargo xtask
//! bench` fetches the model and runs it; directly:
//! `cargo run --release -p airlock-benches --bin bench-engine -- --model FILE.gguf`
//! (add `--memory-only` for the memory report alone, e.g. on a model too slow to time here;
//! `--cpu-only` for the CPU engine's lines alone, e.g. for Qwen2.5-Coder next to its peers;
//! `--synthetic NAME [--layers N]` for a real model's shape with made-up weights, where no model
//! file is at hand — a lent GPU machine).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use airlock_inference::file_image::FileImage;
use airlock_inference::generate::{Forward, Request, generate};
use airlock_inference::gguf::GgufFile;
use airlock_inference::gpu::burn::SharedTensor;
use airlock_inference::gpu::kernels::MatvecShape;
use airlock_inference::gpu::kernels::{KvPrecision, PREFILL_LANES};
use airlock_inference::gpu::upload::{encode_rows, layout_of};
use airlock_inference::gpu::{GpuContext, GpuModel, GpuOptions, bench, burn_ops, cube_ops};
use airlock_inference::model::cpu::Products;
use airlock_inference::model::{CpuModel, Weights, load_gguf};
use airlock_inference::sampling::SamplingParams;
use serde_json::{Value, json};

/// Prompt length for the prefill measurement.
const PROMPT: usize = 64;
/// Tokens generated for the decode measurement.
const DECODE: usize = 32;

/// KV-cache positions every engine here allocates.
const CONTEXT: usize = 512;

/// `kind` is "cpu" (int8 kernels), "cpu-reference" (f32), "gpu" (the adapter's default KV
/// cache) or "gpu-f32" / "gpu-f16".
fn engine(kind: &str, weights: &Weights) -> Box<dyn Forward> {
    let kv_cache = match kind {
        "cpu" => {
            let model = CpuModel::with_products(weights.clone(), CONTEXT, Products::Int8);
            return Box::new(model);
        }
        "cpu-reference" => return Box::new(CpuModel::new(weights.clone(), CONTEXT)),
        "gpu-f32" => Some(KvPrecision::F32),
        "gpu-f16" => Some(KvPrecision::F16),
        _ => None,
    };
    let options = GpuOptions {
        kv_cache,
        ..GpuOptions::default()
    };
    Box::new(pollster::block_on(GpuModel::new(weights, CONTEXT, options)).expect("GPU engine"))
}

/// Prefill and decode speed of one engine.
fn speed(kind: &str, weights: &Weights) -> Value {
    let mut model = engine(kind, weights);
    let prompt: Vec<u32> = (0..PROMPT as u32).map(|i| 100 + i * 37 % 4000).collect();
    model.forward(&prompt[..4], 0).expect("warm-up");
    let request = Request {
        prompt,
        max_tokens: DECODE,
        sampling: SamplingParams::default(),
        stop_tokens: vec![],
        stop_strings: vec![],
        tools: None,
    };
    let generation = generate(
        model.as_mut(),
        &|_| vec![],
        &request,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("generation");
    json!({
        "prefill_tokens_per_s": round(generation.prefill_rate(PROMPT)),
        "decode_tokens_per_s": round(generation.decode_rate()),
        "prompt_tokens": PROMPT,
        "generated_tokens": generation.tokens.len(),
    })
}

/// Runs `f` on a pool of one thread (the CPU engine's products split rows over the pool they
/// run in), to compare with peers measured on one thread.
fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// Median milliseconds of a decode step on the first layer only, at positions 1..=32.
fn step_overhead(kind: &str, weights: &Weights) -> f64 {
    step_time(kind, weights, 1)
}

/// Median milliseconds of a first-layer decode step at positions `from..from + 32` (late
/// positions weigh the attention over the KV cache).
fn step_time(kind: &str, weights: &Weights, from: usize) -> f64 {
    let mut one = weights.clone();
    one.layers.truncate(1);
    one.config.layers = 1;
    let mut model = engine(kind, &one);
    model.forward(&[1], 0).expect("warm-up");
    let mut times: Vec<f64> = (from..from + 32)
        .map(|pos| {
            let started = Instant::now();
            model.forward(&[1], pos).expect("step");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    round(times[times.len() / 2])
}

/// Median milliseconds (of 3 runs, alternating) to prefill the 64-token prompt on the GPU
/// engine, in batches of `PREFILL_LANES` and one token at a time.
fn prefill_comparison(weights: &Weights) -> Value {
    let prompt: Vec<u32> = (0..PROMPT as u32).map(|i| 100 + i * 37 % 4000).collect();
    let mut model = engine("gpu", weights);
    model.forward(&prompt[..4], 0).expect("warm-up");
    let (mut batched, mut single) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let started = Instant::now();
        model.forward(&prompt, 0).expect("batched prefill");
        batched.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        for (pos, token) in prompt.iter().enumerate() {
            model
                .forward(&[*token], pos)
                .expect("token-by-token prefill");
        }
        single.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        round(v[v.len() / 2])
    };
    json!({
        "prompt_tokens": PROMPT,
        "lanes": PREFILL_LANES,
        "batched_ms": median(batched),
        "token_by_token_ms": median(single),
    })
}

/// Late-position step time with each KV-cache precision the adapter has.
fn kv_cache_steps(ctx: &GpuContext, weights: &Weights) -> Value {
    let mut report = json!({ "gpu_kv_f32": step_time("gpu-f32", weights, CONTEXT - 64) });
    if ctx.has_f16 {
        report["gpu_kv_f16"] = json!(step_time("gpu-f16", weights, CONTEXT - 64));
    }
    report
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Milliseconds a SmolLM2 decode step at position 255 spends in each kind of kernel: ours
/// (quantized weights, default KV cache) against burn's generic ops on f32 tensors of the same
/// shapes, on the same device.
fn ours_vs_burn(weights: &Weights) -> (Value, Vec<(&'static str, f64)>) {
    const POSITION: usize = 255;
    let model = pollster::block_on(GpuModel::new(weights, CONTEXT, GpuOptions::default()))
        .expect("GPU engine");
    let ours = model.kernel_seconds(POSITION, 2).expect("our kernels");
    let kinds: Vec<&'static str> = ours.iter().map(|(kind, _)| *kind).collect();
    let theirs = burn_ops::kernel_seconds(model.burn_device(), &weights.config, POSITION, &kinds)
        .expect("burn's ops");
    let mut report = serde_json::Map::new();
    for ((kind, ours), (_, burn)) in ours.iter().zip(&theirs) {
        report.insert(
            (*kind).to_owned(),
            json!({
                "ours": round(ours * 1e3),
                "burn": round(burn * 1e3),
                "burn_over_ours": round(burn / ours),
            }),
        );
    }
    (Value::Object(report), ours)
}

/// Our WGSL kernels against the same kernels written in CubeCL (`gpu/cube_ops.rs`), on the
/// same device and the same burn tensors: the thread-per-row Q4_1 product's GB/s on
/// `ffn_gate`, and milliseconds per SmolLM2 decode step of RMSNorm and SwiGLU.
fn ours_vs_cubecl(ctx: &GpuContext, weights: &Weights, ours: &[(&'static str, f64)]) -> Value {
    let c = &weights.config;
    let tensor = |len: usize| SharedTensor::floats(&ctx.burn, len).expect("burn tensor");
    let gate = &weights.layers[0].gate;
    let mut bytes = Vec::new();
    encode_rows(gate, 0..gate.rows, &mut bytes);
    let w = SharedTensor::bytes(&ctx.burn, bytes.len()).expect("burn tensor");
    w.write(&ctx.queue, 0, &bytes).expect("weights");
    let (x, y) = (tensor(gate.cols), tensor(gate.rows));
    // Alternating rounds, best of each: this VM's speed drifts by up to 2x between minutes.
    let (mut cube_matvec, mut ours_matvec) = (f64::MAX, 0f64);
    for _ in 0..3 {
        let seconds = cube_ops::seconds_per_call(ctx, 20, || {
            cube_ops::matvec_q4_1(&w, &x, &y, gate.rows, gate.cols)
        })
        .expect("CubeCL matvec");
        cube_matvec = cube_matvec.min(seconds);
        let gb_per_s =
            bench::matvec_bandwidth(ctx, gate, MatvecShape::Thread, 20, 3).expect("matvec bench");
        ours_matvec = ours_matvec.max(gb_per_s);
    }
    let (src, weight, dst) = (tensor(c.hidden), tensor(c.hidden), tensor(c.hidden));
    let cube_norm = cube_ops::seconds_per_call(ctx, 2, || {
        for _ in 0..2 * c.layers + 1 {
            cube_ops::rms_norm(&src, &weight, &dst, c.hidden, 1, c.rms_eps)?;
        }
        Ok(())
    })
    .expect("CubeCL norm");
    let (act, gu) = (tensor(c.intermediate), tensor(2 * c.intermediate));
    let cube_swiglu = cube_ops::seconds_per_call(ctx, 2, || {
        for _ in 0..c.layers {
            cube_ops::swiglu(&act, &gu, c.intermediate)?;
        }
        Ok(())
    })
    .expect("CubeCL swiglu");
    let ours_of = |kind: &str| {
        ours.iter()
            .find(|(k, _)| *k == kind)
            .map_or(f64::NAN, |(_, s)| *s)
    };
    let pair = |wgsl: f64, cubecl: f64| json!({ "wgsl": round(wgsl * 1e3), "cubecl": round(cubecl * 1e3) });
    json!({
        "matvec_q4_1_ffn_gate_gb_per_s_thread_per_row": {
            "wgsl": round(ours_matvec),
            "cubecl": round(bytes.len() as f64 / cube_matvec / 1e9),
        },
        "norm_ms_per_step": pair(ours_of("norm"), cube_norm),
        "swiglu_ms_per_step": pair(ours_of("swiglu"), cube_swiglu),
    })
}

/// MiB, to two decimals.
fn mib(bytes: u64) -> f64 {
    round(bytes as f64 / f64::from(1 << 20))
}

/// Device memory burn holds for the model (weights, KV cache, activations, logits: every
/// tensor is burn's), next to what the weights and cache take by the engine's own count.
fn gpu_memory(weights: &Weights) -> Value {
    let ctx = pollster::block_on(GpuContext::new()).expect("GPU adapter");
    let burn = ctx.burn.clone();
    let before = burn.memory();
    let model =
        GpuModel::with_context(ctx, weights, CONTEXT, GpuOptions::default()).expect("GPU engine");
    let after = burn.memory();
    let c = model.config();
    let mut matrices = vec![&weights.embedding];
    matrices.extend(&weights.output);
    for l in &weights.layers {
        matrices.extend([&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]);
    }
    let matrix_bytes: u64 = matrices
        .iter()
        .map(|m| (layout_of(m).1 * m.rows) as u64)
        .sum();
    let cache_bytes =
        (2 * c.layers * CONTEXT * c.kv_heads * c.head_dim * model.kv_precision().bytes()) as u64;
    let (in_use, reserved) = (
        after.bytes_in_use - before.bytes_in_use,
        after.bytes_reserved - before.bytes_reserved,
    );
    json!({
        "context": CONTEXT,
        "kv_cache": format!("{:?}", model.kv_precision()),
        "weight_matrices_mib": mib(matrix_bytes),
        "kv_cache_mib": mib(cache_bytes),
        "burn_tensors": after.allocations - before.allocations,
        "burn_in_use_mib": mib(in_use),
        "burn_reserved_mib": mib(reserved),
        "reserved_over_in_use": round(reserved as f64 / in_use as f64),
    })
}

/// `--synthetic NAME`: a real model's shapes and block types with made-up weights (no model
/// file: for a lent GPU machine), timed on the GPU engine, with the quantized product's GB/s
/// next to a copy's; `--layers N` keeps the first N blocks (a quicker run).
fn synthetic(args: &[String], name: &str) {
    let mut weights = airlock_inference::model::synthetic::preset(name).unwrap_or_else(|| {
        panic!(
            "--synthetic {name:?}: one of {:?}",
            airlock_inference::model::synthetic::PRESETS
        )
    });
    if let Some(layers) = args
        .iter()
        .position(|a| a == "--layers")
        .and_then(|i| args.get(i + 1)?.parse().ok())
    {
        let vocab = weights.config.vocab;
        weights = airlock_inference::model::synthetic::shaped_like(&weights, layers, vocab);
    }
    let ctx = pollster::block_on(GpuContext::new()).expect("GPU adapter");
    let shape = if ctx.is_cpu {
        MatvecShape::Thread
    } else {
        MatvecShape::Workgroup
    };
    let gate = &weights.layers[0].gate;
    // The gate matrix fits one binding on every adapter (7B: 38 MB); the output matrix of the
    // larger presets does not, so its product is measured only through the engine's speed.
    let matvec = bench::matvec_bandwidth(&ctx, gate, shape, 20, 3).expect("matvec bench");
    let copy = bench::copy_bandwidth(&ctx, 64 << 20, 5, 3).expect("copy bench");
    let report = json!({
        "bench": "engine",
        "synthetic": name,
        "layers": weights.layers.len(),
        "machine": {
            "cpu": cpu_name(),
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "gpu_adapter": ctx.adapter.clone(),
            "gpu_shader_f16": ctx.has_f16,
        },
        "native_gpu_engine": speed("gpu", &weights),
        "native_cpu_engine": speed("cpu", &weights),
        "kernels": {
            "matvec_shape": format!("{shape:?}"),
            "matvec_gate_gb_per_s": round(matvec),
            "gate_shape": [gate.rows, gate.cols],
            "copy_gb_per_s": round(copy),
            "matvec_over_copy": round(matvec / copy),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(name) = args
        .iter()
        .position(|a| a == "--synthetic")
        .and_then(|i| args.get(i + 1))
    {
        return synthetic(&args, name);
    }
    let path = args
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("AIRLOCK_SMOLLM2_GGUF").ok())
        .expect("--model FILE.gguf (or AIRLOCK_SMOLLM2_GGUF)");
    let bytes = FileImage::map(std::path::Path::new(&path)).expect("model file");
    let file = GgufFile::parse(bytes.bytes()).expect("GGUF");
    let weights = load_gguf(&bytes, &file).expect("weights");
    if args.iter().any(|a| a == "--cpu-only") {
        let report = json!({
            "bench": "engine",
            "model": std::path::Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()),
            "machine": { "cpu": cpu_name(), "cores": std::thread::available_parallelism().map_or(1, |n| n.get()) },
            "native_cpu_engine": speed("cpu", &weights),
            "native_cpu_engine_1_thread": one_thread(|| speed("cpu", &weights)),
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
        return;
    }
    if args.iter().any(|a| a == "--memory-only") {
        let report = json!({ "bench": "engine", "gpu_memory": gpu_memory(&weights) });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
        return;
    }
    let ctx = pollster::block_on(GpuContext::new()).expect("GPU adapter");
    let adapter = ctx.adapter.clone();
    let gate = &weights.layers[0].gate;
    let shape = if ctx.is_cpu {
        MatvecShape::Thread
    } else {
        MatvecShape::Workgroup
    };
    let matvec = bench::matvec_bandwidth(&ctx, gate, shape, 20, 3).expect("matvec bench");
    let other_shape = match shape {
        MatvecShape::Thread => MatvecShape::Workgroup,
        MatvecShape::Workgroup => MatvecShape::Thread,
    };
    let other = bench::matvec_bandwidth(&ctx, gate, other_shape, 20, 3).expect("matvec bench");
    let output =
        bench::matvec_bandwidth(&ctx, weights.output_matrix(), shape, 3, 3).expect("matvec bench");
    let copy = bench::copy_bandwidth(&ctx, 64 << 20, 5, 3).expect("copy bench");
    let (by_kernel, ours) = ours_vs_burn(&weights);
    let report = json!({
        "bench": "engine",
        "model": std::path::Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()),
        "machine": {
            "cpu": cpu_name(),
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "gpu_adapter": adapter,
            "gpu_shader_f16": ctx.has_f16,
        },
        "native_cpu_engine": speed("cpu", &weights),
        "native_cpu_engine_1_thread": one_thread(|| speed("cpu", &weights)),
        "native_cpu_reference_engine": speed("cpu-reference", &weights),
        "native_gpu_engine": speed("gpu", &weights),
        "decode_step_ms_one_layer": {
            "cpu": step_overhead("cpu", &weights),
            "gpu": step_overhead("gpu", &weights),
        },
        "decode_step_ms_one_layer_at_position_448": kv_cache_steps(&ctx, &weights),
        "gpu_prefill": prefill_comparison(&weights),
        "decode_step_ms_by_kernel_ours_vs_burn": by_kernel,
        "ours_vs_cubecl": ours_vs_cubecl(&ctx, &weights, &ours),
        "gpu_memory": gpu_memory(&weights),
        "kernels": {
            "matvec_shape": format!("{shape:?}"),
            "matvec_q4_1_1536x576_gb_per_s": round(matvec),
            "matvec_output_gb_per_s": round(output),
            "other_shape": format!("{other_shape:?}"),
            "other_shape_matvec_q4_1_1536x576_gb_per_s": round(other),
            "copy_gb_per_s": round(copy),
            "matvec_over_copy": round(matvec / copy),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
