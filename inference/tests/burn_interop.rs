//! burn on the engine's device: our WGSL kernels write burn tensors in place, burn's argmax
//! and reads see those writes on the shared queue, and a greedy step picked on the device is
//! the argmax of the logits the engine reads back.

mod common;

use airlock_inference::generate::Forward;
use airlock_inference::gpu::burn::SharedTensor;
use airlock_inference::gpu::{GpuContext, GpuModel, GpuOptions};
use airlock_inference::sampling::argmax;
use common::{gguf_weights, ids, reference};

/// Writes `v[i] = 1` where `i % period == first`, else `-(i % 97)`, through a binding of
/// the burn tensor's memory.
const FILL: &str = r#"
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@group(0) @binding(1) var<uniform> p: vec4<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x + id.y * 65535u * 64u;
    if (i >= arrayLength(&v)) { return; }
    if (i % p.x == p.y) { v[i] = 1.0; } else { v[i] = -f32(i % 97u); }
}
"#;

fn fill(ctx: &GpuContext, vector: &SharedTensor, len: usize, period: u32, first: u32) {
    use wgpu::util::DeviceExt;
    let device = &ctx.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("fill"),
        source: wgpu::ShaderSource::Wgsl(FILL.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("fill"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("fill params"),
        contents: &[period, first, 0, 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>(),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("fill"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: vector.binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: params.as_entire_binding(),
            },
        ],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups((len as u32).div_ceil(64), 1, 1);
    }
    ctx.queue.submit([encoder.finish()]);
}

#[test]
fn our_kernels_write_burn_tensors_in_place_and_burn_sees_it_in_queue_order() {
    let ctx = pollster::block_on(GpuContext::new()).unwrap();
    // A Qwen-sized vocabulary, so burn's reduction spans many workgroups; a second vector
    // allocated after the first must not alias it.
    let len = 151_936;
    let first = SharedTensor::floats(&ctx.burn, len).unwrap();
    let second = SharedTensor::floats(&ctx.burn, 1000).unwrap();
    assert_eq!(
        pollster::block_on(first.argmax()).unwrap(),
        0,
        "zeros: first index"
    );
    for (period, start) in [
        (50_000u32, 12_345u32),
        (1000, 7),
        (len as u32, len as u32 - 1),
    ] {
        fill(&ctx, &first, len, period, start);
        let values = pollster::block_on(first.read()).unwrap();
        let expected: Vec<f32> = (0..len as u32)
            .map(|i| {
                if i % period == start {
                    1.0
                } else {
                    -((i % 97) as f32)
                }
            })
            .collect();
        assert!(
            values == expected,
            "the read sees every value the kernel wrote"
        );
        // Equal maxima recur every `period`: burn picks the first, as the CPU sampler does.
        assert_eq!(pollster::block_on(first.argmax()).unwrap(), start);
    }
    let untouched = pollster::block_on(second.read()).unwrap();
    assert!(
        untouched.iter().all(|v| *v == 0.0),
        "the writes stayed in their tensor"
    );
}

#[test]
fn a_greedy_step_on_the_device_is_the_argmax_of_the_read_logits() {
    let reference = reference("qwen2");
    let prompt = ids(&reference["prompt_ids"]);
    let weights = gguf_weights("qwen2", "q8_0");
    let mut gpu = pollster::block_on(GpuModel::new(&weights, 64, GpuOptions::default())).unwrap();
    for end in 1..=prompt.len() {
        let logits = gpu.forward(&prompt[..end], 0).unwrap();
        let token = gpu.forward_greedy(&prompt[..end], 0).unwrap();
        assert_eq!(token, argmax(&logits), "prompt of {end} tokens");
    }
}

/// Bytes every weight matrix of `weights` takes in its GPU format.
fn matrix_bytes(weights: &airlock_inference::model::weights::Weights) -> u64 {
    use airlock_inference::gpu::upload::layout_of;
    let mut matrices = vec![&weights.embedding];
    matrices.extend(&weights.output);
    for l in &weights.layers {
        matrices.extend([&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]);
    }
    matrices
        .iter()
        .map(|m| (layout_of(m).1 * m.rows) as u64)
        .sum()
}

#[test]
fn the_models_weights_and_kv_cache_are_burn_tensors() {
    let reference = reference("qwen2");
    let prompt = ids(&reference["prompt_ids"]);
    let weights = gguf_weights("qwen2", "q8_0");
    let ctx = pollster::block_on(GpuContext::new()).unwrap();
    let burn = ctx.burn.clone();
    let before = burn.memory();
    let capacity = 64;
    let mut gpu = GpuModel::with_context(ctx, &weights, capacity, GpuOptions::default()).unwrap();
    let c = gpu.config().clone();
    let position_bytes = (c.kv_heads * c.head_dim * gpu.kv_precision().bytes()) as u64;
    let cache_bytes = 2 * c.layers as u64 * capacity as u64 * position_bytes;
    let loaded = burn.memory();
    let held = loaded.bytes_in_use - before.bytes_in_use;
    assert!(
        held >= matrix_bytes(&weights) + cache_bytes,
        "burn holds {held} bytes, below the weights' {} and the cache's {cache_bytes}",
        matrix_bytes(&weights)
    );

    // Norm weights and biases read through burn are the file's values.
    for (i, layer) in weights.layers.iter().enumerate() {
        let (tensor, range) = gpu
            .float_weight(&format!("blk.{i}.attn_norm.weight"))
            .unwrap();
        let values = pollster::block_on(tensor.read()).unwrap();
        assert_eq!(values[range], layer.attn_norm[..], "layer {i} attn_norm");
        let [_, k_bias, _] = layer.qkv_bias.as_ref().unwrap();
        let (tensor, range) = gpu.float_weight(&format!("blk.{i}.attn_k.bias")).unwrap();
        let values = pollster::block_on(tensor.read()).unwrap();
        assert_eq!(values[range], k_bias[..], "layer {i} k bias");
    }

    // The kernels write each layer's keys and values into its own burn tensor, at the
    // positions run so far and nowhere else.
    let run = prompt.len();
    gpu.forward(&prompt, 0).unwrap();
    let words_per_position = (position_bytes / 4) as usize;
    let mut seen = Vec::new();
    for layer in 0..c.layers {
        let (keys, values) = gpu.kv_cache(layer).unwrap();
        for (what, tensor) in [("keys", keys), ("values", values)] {
            let words = pollster::block_on(tensor.read_words()).unwrap();
            assert_eq!(words.len(), capacity * words_per_position);
            for (position, slot) in words.chunks(words_per_position).enumerate() {
                let written = slot.iter().any(|w| *w != 0);
                assert_eq!(
                    written,
                    position < run,
                    "layer {layer} {what} at position {position}"
                );
            }
            assert!(
                !seen.contains(&words),
                "layer {layer} {what} repeats another"
            );
            seen.push(words);
        }
    }

    drop(gpu);
    let unloaded = burn.memory();
    assert!(
        unloaded.bytes_in_use <= before.bytes_in_use,
        "an unloaded model leaves {} bytes in burn's memory",
        unloaded.bytes_in_use - before.bytes_in_use
    );
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst < 1e-5, "{what}: off by {worst}");
}

/// RMSNorm (eps 1e-5) of each group of `weight.len()` values of `x`, on the CPU.
fn rms_norm_reference(x: &[f32], weight: &[f32]) -> Vec<f32> {
    let n = weight.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(n) {
        let scale = 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / n as f32 + 1e-5).sqrt();
        out.extend(row.iter().zip(weight).map(|(v, w)| v * scale * w));
    }
    out
}

#[test]
fn burns_compositions_of_the_hot_path_compute_what_the_engine_computes() {
    use airlock_inference::gpu::burn_ops::{attention, read, rms_norm, rope, swiglu, tensor};
    let ctx = pollster::block_on(GpuContext::new()).unwrap();
    let device = &ctx.burn;

    let (rows, n) = (3, 40);
    let (x, w) = (values(rows * n, 1), values(n, 2));
    let expected = rms_norm_reference(&x, &w);
    let got = rms_norm(
        tensor(device, x, &[rows, n]),
        tensor(device, w, &[1, n]),
        1e-5,
    );
    close(&read(got).unwrap(), &expected, "rms_norm");

    let (heads, d) = (4, 16);
    let (x, cos, sin) = (values(heads * d, 3), values(d / 2, 4), values(d / 2, 5));
    let mut expected = vec![0f32; heads * d];
    for h in 0..heads {
        for i in 0..d / 2 {
            let (a, b) = (x[h * d + i], x[h * d + i + d / 2]);
            expected[h * d + i] = a * cos[i] - b * sin[i];
            expected[h * d + i + d / 2] = b * cos[i] + a * sin[i];
        }
    }
    let got = rope(
        tensor(device, x, &[heads, d]),
        tensor(device, cos, &[1, d / 2]),
        tensor(device, sin, &[1, d / 2]),
    );
    close(&read(got).unwrap(), &expected, "rope");

    let (kv_heads, group, len) = (2, 3, 5);
    let q = values(kv_heads * group * d, 6);
    let (keys, vals) = (values(kv_heads * len * d, 7), values(kv_heads * len * d, 8));
    let mut expected = Vec::new();
    for h in 0..kv_heads {
        for g in 0..group {
            let q = &q[(h * group + g) * d..][..d];
            let scores: Vec<f32> = (0..len)
                .map(|t| {
                    let k = &keys[(h * len + t) * d..][..d];
                    q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (d as f32).sqrt()
                })
                .collect();
            let max = scores.iter().cloned().fold(f32::MIN, f32::max);
            let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f32 = weights.iter().sum();
            for i in 0..d {
                let v = (0..len).map(|t| weights[t] * vals[(h * len + t) * d + i]);
                expected.push(v.sum::<f32>() / total);
            }
        }
    }
    let got = attention(
        tensor(device, q, &[kv_heads, group, d]),
        tensor(device, keys, &[kv_heads, len, d]),
        tensor(device, vals, &[kv_heads, len, d]),
    );
    close(&read(got).unwrap(), &expected, "attention");

    let (gate, up) = (values(30, 9), values(30, 10));
    let expected: Vec<f32> = gate
        .iter()
        .zip(&up)
        .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
        .collect();
    let got = swiglu(tensor(device, gate, &[1, 30]), tensor(device, up, &[1, 30]));
    close(&read(got).unwrap(), &expected, "swiglu");
}

/// `values` written into a new burn tensor.
fn shared(ctx: &GpuContext, values: &[f32]) -> SharedTensor {
    let tensor = SharedTensor::floats(&ctx.burn, values.len()).unwrap();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor.write(&ctx.queue, 0, &bytes).unwrap();
    tensor
}

#[test]
fn cubecl_kernels_compute_what_the_engine_computes() {
    use airlock_inference::gguf::{GgmlType, dequantize};
    use airlock_inference::gpu::cube_ops;
    use airlock_inference::gpu::upload::encode_rows;
    use airlock_inference::model::matrix::Storage;
    let ctx = pollster::block_on(GpuContext::new()).unwrap();

    let weights = gguf_weights("llama", "q4_1");
    let matrix = &weights.layers[0].gate;
    assert!(matches!(
        matrix.storage,
        Storage::Ggml {
            ggml_type: GgmlType::Q4_1,
            ..
        }
    ));
    let (rows, cols) = (matrix.rows, matrix.cols);
    let mut bytes = Vec::new();
    encode_rows(matrix, 0..rows, &mut bytes);
    let w = SharedTensor::bytes(&ctx.burn, bytes.len()).unwrap();
    w.write(&ctx.queue, 0, &bytes).unwrap();
    let x = values(cols, 11);
    let y = SharedTensor::floats(&ctx.burn, rows).unwrap();
    cube_ops::matvec_q4_1(&w, &shared(&ctx, &x), &y, rows, cols).unwrap();
    let dense = dequantize(GgmlType::Q4_1, &bytes, rows * cols).unwrap();
    let expected: Vec<f32> = dense
        .chunks(cols)
        .map(|row| row.iter().zip(&x).map(|(a, b)| a * b).sum())
        .collect();
    close(
        &pollster::block_on(y.read()).unwrap(),
        &expected,
        "Q4_1 matvec",
    );
    assert!(
        expected.iter().any(|v| v.abs() > 0.1),
        "a product that says something"
    );
    let too_small = SharedTensor::floats(&ctx.burn, rows - 1).unwrap();
    assert!(cube_ops::matvec_q4_1(&w, &shared(&ctx, &x), &too_small, rows, cols).is_err());

    let (groups, n) = (3, 40);
    let (src, weight) = (values(groups * n, 1), values(n, 2));
    let expected = rms_norm_reference(&src, &weight);
    let dst = SharedTensor::floats(&ctx.burn, groups * n).unwrap();
    let (src, weight) = (shared(&ctx, &src), shared(&ctx, &weight));
    cube_ops::rms_norm(&src, &weight, &dst, n, groups, 1e-5).unwrap();
    close(
        &pollster::block_on(dst.read()).unwrap(),
        &expected,
        "rms_norm",
    );
    assert!(cube_ops::rms_norm(&src, &weight, &dst, n, groups + 1, 1e-5).is_err());

    let gu = values(60, 9);
    let expected: Vec<f32> = (0..30)
        .map(|i| gu[i] / (1.0 + (-gu[i]).exp()) * gu[30 + i])
        .collect();
    let act = SharedTensor::floats(&ctx.burn, 30).unwrap();
    cube_ops::swiglu(&act, &shared(&ctx, &gu), 30).unwrap();
    close(
        &pollster::block_on(act.read()).unwrap(),
        &expected,
        "swiglu",
    );
    assert!(cube_ops::swiglu(&act, &shared(&ctx, &gu), 31).is_err());
}
