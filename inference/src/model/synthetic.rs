//! Models of a real shape with made-up weights, built in memory: decode speed depends on the
//! shapes and block types, not on the values, so the browser's engine probe (CPU or GPU?) and
//! the benches on a lent machine (no model files there) run these instead of a download.

use super::matrix::{Matrix, Storage};
use super::weights::{LayerWeights, Weights};
use crate::file_image::FileImage;
use crate::gguf::GgmlType;

/// Deterministic bytes forming valid `ggml_type` blocks for `elements` values: random levels,
/// every f16 scale a small value of either sign (so products stay finite).
pub fn random_blocks(ggml_type: GgmlType, elements: usize, seed: u32) -> Vec<u8> {
    let len = ggml_type.byte_len(elements as u64).expect("whole blocks") as usize;
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let small = |i: usize| {
        let sign = if i.is_multiple_of(3) { 0x8000u16 } else { 0 };
        (sign | (0x2c00 + (i * 7 % 64) as u16)).to_le_bytes()
    };
    let (_, block_bytes) = ggml_type.block();
    let halves: &[usize] = match ggml_type {
        GgmlType::F32 => {
            for (i, value) in bytes.chunks_exact_mut(4).enumerate() {
                let v = ((i * 37 % 101) as f32 - 50.0) / 500.0;
                value.copy_from_slice(&v.to_le_bytes());
            }
            return bytes;
        }
        GgmlType::F16 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K => &[0, 2],
        GgmlType::Q6K => &[208],
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
    };
    for (b, block) in bytes.chunks_exact_mut(block_bytes as usize).enumerate() {
        for (k, at) in halves.iter().enumerate() {
            block[*at..*at + 2].copy_from_slice(&small(b + k));
        }
    }
    bytes
}

/// A `rows × cols` matrix of `ggml_type` blocks with made-up weights.
fn random_matrix(rows: usize, cols: usize, ggml_type: GgmlType, seed: u32) -> Matrix {
    let row_bytes = ggml_type.byte_len(cols as u64).expect("whole blocks") as usize;
    Matrix {
        rows,
        cols,
        storage: Storage::Ggml {
            ggml_type,
            bytes: FileImage::from_vec(random_blocks(ggml_type, rows * cols, seed)),
            offset: 0,
            row_bytes,
        },
    }
}

/// A matrix shaped like `like` (same columns and block type, `rows` rows), made-up weights.
fn matrix_like(like: &Matrix, rows: usize, seed: u32) -> Matrix {
    let ggml_type = match &like.storage {
        Storage::Ggml { ggml_type, .. } | Storage::Pending { ggml_type, .. } => *ggml_type,
        Storage::F32(_) | Storage::Block(_) => GgmlType::F32,
    };
    random_matrix(rows, like.cols, ggml_type, seed)
}

/// Real models' shapes and block types, by name, for benches on machines that hold no model
/// file (a lent GPU machine), with made-up values. One block type per role: the real Q4_K_M
/// files mix Q4_K and Q6_K in half the layers' `ffn_down` (and Q5_0/Q8_0 in the 0.5B's
/// `attn_v`); the presets take the first.
pub const PRESETS: [&str; 4] = [
    "smollm2-135m-q4_1",
    "qwen2.5-coder-0.5b-q4_k_m",
    "qwen2.5-coder-1.5b-q4_k_m",
    "qwen2.5-coder-7b-q4_k_m",
];

/// The model named in [`PRESETS`] with made-up weights (`None` for another name).
pub fn preset(name: &str) -> Option<Weights> {
    use crate::config::{Family, ModelConfig};
    use GgmlType::{Q4_1, Q4K, Q5_0, Q6K, Q8_0};
    // (family, hidden, layers, heads, kv heads, head dim, intermediate, vocab, tied,
    //  attention/gate/up type, down type, embedding type, output type)
    let (
        family,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        vocab,
        tied,
        main,
        down,
        embed,
        out,
    ) = match name {
        "smollm2-135m-q4_1" => (
            Family::Llama,
            576,
            30,
            9,
            3,
            64,
            1536,
            49152,
            true,
            Q4_1,
            Q4_1,
            Q8_0,
            Q8_0,
        ),
        // 896-wide rows are not whole 256-blocks: llama.cpp's Q4_K_M keeps them Q5_0/Q8_0.
        "qwen2.5-coder-0.5b-q4_k_m" => (
            Family::Qwen2,
            896,
            24,
            14,
            2,
            64,
            4864,
            151_936,
            true,
            Q5_0,
            Q4K,
            Q8_0,
            Q8_0,
        ),
        "qwen2.5-coder-1.5b-q4_k_m" => (
            Family::Qwen2,
            1536,
            28,
            12,
            2,
            128,
            8960,
            151_936,
            true,
            Q4K,
            Q6K,
            Q6K,
            Q6K,
        ),
        "qwen2.5-coder-7b-q4_k_m" => (
            Family::Qwen2,
            3584,
            28,
            28,
            4,
            128,
            18944,
            152_064,
            false,
            Q4K,
            Q6K,
            Q4K,
            Q6K,
        ),
        _ => return None,
    };
    let qkv_bias = family == Family::Qwen2;
    let config = ModelConfig {
        family,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        vocab,
        context: 32_768,
        rms_eps: 1e-6,
        rope_theta: 1_000_000.0,
        rope_scaling: None,
        tied_embeddings: tied,
        qkv_bias,
        qk_norm: false,
    };
    let (q_dim, kv_dim) = (heads * head_dim, kv_heads * head_dim);
    let blocks = (0..layers)
        .map(|i| {
            let seed = 16 * i as u32;
            LayerWeights {
                attn_norm: vec![1.0; hidden],
                q: random_matrix(q_dim, hidden, main, seed + 1),
                k: random_matrix(kv_dim, hidden, main, seed + 2),
                v: random_matrix(kv_dim, hidden, main, seed + 3),
                o: random_matrix(hidden, q_dim, main, seed + 4),
                qkv_bias: qkv_bias
                    .then(|| [vec![0.0; q_dim], vec![0.0; kv_dim], vec![0.0; kv_dim]]),
                qk_norm: None,
                ffn_norm: vec![1.0; hidden],
                gate: random_matrix(intermediate, hidden, main, seed + 5),
                up: random_matrix(intermediate, hidden, main, seed + 6),
                down: random_matrix(hidden, intermediate, down, seed + 7),
            }
        })
        .collect();
    Some(Weights {
        embedding: random_matrix(vocab, hidden, embed, 9001),
        output: (!tied).then(|| random_matrix(vocab, hidden, out, 9002)),
        output_norm: vec![1.0; hidden],
        layers: blocks,
        rope_style: match family {
            Family::Llama => super::RopeStyle::Interleaved,
            Family::Qwen2 | Family::Qwen3 => super::RopeStyle::Halves,
        },
        rope_freq_factors: None,
        config,
    })
}

/// `like`'s architecture with its first `layers` blocks and a `vocab`-token vocabulary, every
/// matrix in its block type, made-up values (norms 1, biases 0). `like` may be a header-only
/// layout (`load_gguf_layout`): nothing is read from its matrices but their shapes.
pub fn shaped_like(like: &Weights, layers: usize, vocab: usize) -> Weights {
    let mut config = like.config.clone();
    config.layers = layers.min(like.layers.len());
    config.vocab = vocab.min(like.config.vocab);
    let ones = |n: usize| vec![1.0; n];
    let blocks = like.layers[..config.layers]
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let seed = 16 * i as u32;
            LayerWeights {
                attn_norm: ones(l.attn_norm.len()),
                q: matrix_like(&l.q, l.q.rows, seed + 1),
                k: matrix_like(&l.k, l.k.rows, seed + 2),
                v: matrix_like(&l.v, l.v.rows, seed + 3),
                o: matrix_like(&l.o, l.o.rows, seed + 4),
                qkv_bias: l
                    .qkv_bias
                    .as_ref()
                    .map(|b| b.clone().map(|v| vec![0.0; v.len()])),
                qk_norm: l.qk_norm.as_ref().map(|n| n.clone().map(|v| ones(v.len()))),
                ffn_norm: ones(l.ffn_norm.len()),
                gate: matrix_like(&l.gate, l.gate.rows, seed + 5),
                up: matrix_like(&l.up, l.up.rows, seed + 6),
                down: matrix_like(&l.down, l.down.rows, seed + 7),
            }
        })
        .collect();
    Weights {
        embedding: matrix_like(&like.embedding, config.vocab, 9001),
        output: like
            .output
            .as_ref()
            .map(|o| matrix_like(o, config.vocab, 9002)),
        output_norm: ones(like.output_norm.len()),
        layers: blocks,
        rope_style: like.rope_style,
        rope_freq_factors: like.rope_freq_factors.clone(),
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::dequantize;

    #[test]
    fn random_blocks_dequantize_to_small_finite_values_for_every_type() {
        let float = [GgmlType::F32, GgmlType::F16];
        for ggml_type in float
            .into_iter()
            .chain(crate::model::kernels::self_test::FORMATS)
        {
            let values = dequantize(ggml_type, &random_blocks(ggml_type, 512, 3), 512).unwrap();
            assert!(
                values.iter().all(|v| v.is_finite() && v.abs() < 1000.0),
                "{ggml_type:?}"
            );
            assert!(values.iter().any(|v| *v != 0.0), "{ggml_type:?}");
        }
    }

    #[test]
    fn the_smollm2_preset_has_the_real_files_shapes_and_runs() {
        let weights = preset("smollm2-135m-q4_1").unwrap();
        assert_eq!(weights.layers.len(), 30);
        assert_eq!(
            (weights.layers[0].gate.rows, weights.layers[0].gate.cols),
            (1536, 576)
        );
        assert!(preset("gpt-5").is_none());
        let one_layer = shaped_like(&weights, 1, 64);
        let mut model =
            crate::model::CpuModel::with_products(one_layer, 4, crate::model::cpu::Products::Int8);
        assert!(
            model
                .forward(&[1], 0)
                .unwrap()
                .iter()
                .all(|v| v.is_finite())
        );
    }

    #[test]
    fn a_one_layer_copy_of_a_model_runs_on_the_int8_engine() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/models/qwen2/model-q6_k.gguf"
        );
        let bytes = std::fs::read(path).unwrap();
        let file = crate::gguf::GgufFile::parse(&bytes).unwrap();
        let layout = crate::model::load_gguf_layout(&file).unwrap();
        let weights = shaped_like(&layout, 1, 64);
        assert_eq!((weights.layers.len(), weights.config.vocab), (1, 64));
        let mut model =
            crate::model::CpuModel::with_products(weights, 8, crate::model::cpu::Products::Int8);
        let logits = model.forward(&[1, 2, 3], 0).unwrap();
        assert_eq!(logits.len(), 64);
        assert!(logits.iter().all(|v| v.is_finite()));
        assert!(
            logits.iter().any(|v| *v != logits[0]),
            "made-up weights give varied logits"
        );
    }
}
